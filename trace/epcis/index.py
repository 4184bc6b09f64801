"""The EPCIS query index: one row per stored event, in its EPCIS 2.0 form, plus the identifiers it names.

Queries (query.py) must see every event once, whatever way it came in: an event recorded natively
is indexed in the EPCIS form the profile gives it (``to_epcis``), whose CBV 2.0 hash becomes its eventID
as export writes it, computed by the first query that meets it (``complete``: hashing costs more CPU
than the rest of recording); an event captured from an EPCIS document by the original it came in as, which
replaces the profile's form in the same transaction (``use_captured``). Rows are written where the
event is stored: recording's ``_store`` calls ``add_recorded``, capture calls ``use_captured``; the
0011 revision fills the index of a store made before it (``backfill``).

Values are normalised so a query finds an event however either side spelled an identifier: EPCs,
EPC classes and locations as canonical GS1 Digital Link URIs when they have one (an EPC URN or any
Digital Link host), CBV business steps and dispositions as their bare words.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from cradletrace.core.epcisids import to_digital_link
from cradletrace.core.events import GENERIC_KIND, OPERATOR_KINDS
from cradletrace.epcis.profile import CONTEXT, to_epcis
from cradletrace.epcis.wake import wake_on_commit
from cradletrace.store.db import chunks
from cradletrace.store.models import EpcisIndex, EpcisIndexValue, EventRow

CBV = "https://ref.gs1.org/cbv/"
_VOCAB_PREFIXES = {
    "bizStep": (CBV + "BizStep-", "cbv:BizStep-", "urn:epcglobal:cbv:bizstep:"),
    "disposition": (CBV + "Disp-", "cbv:Disp-", "urn:epcglobal:cbv:disp:"),
    "errorReason": (CBV + "ER-", "cbv:ER-", "urn:epcglobal:cbv:er:"),
}
# field of an event -> role of its values in epcis_index_value
_EPC_FIELDS = {
    "epcList": "epc",
    "childEPCs": "epc",
    "parentID": "parent",
    "inputEPCList": "input",
    "outputEPCList": "output",
    "quantityList": "class",
    "childQuantityList": "class",
    "inputQuantityList": "input_class",
    "outputQuantityList": "output_class",
}
MAX_VALUE = 400
PENDING = ""  # the hash (and eventID) of a native event not computed yet: see ``native``


def vocab(field: str, value: str) -> str:
    """A CBV business step, disposition or error reason as its bare word; any other value unchanged."""
    for prefix in _VOCAB_PREFIXES[field]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def identifier(value: str) -> str:
    """An EPC, EPC class or location as its canonical Digital Link URI when it has one, else as written."""
    return to_digital_link(value) or value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _place(value: Any) -> str | None:
    return identifier(value["id"]) if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def _same(value: str) -> str:
    return value


def values(event: Mapping[str, Any], ours: bool = False) -> set[tuple[str, str]]:
    """(role, value) of every identifier an EPCIS event names (see EpcisIndexValue). ``ours``: the
    profile wrote the event, whose identifiers are canonical Digital Link already (no parsing)."""
    out: set[tuple[str, str]] = set()
    identifier_ = _same if ours else identifier
    for field, role in _EPC_FIELDS.items():
        got = event.get(field)
        items = [got] if isinstance(got, str) else got if isinstance(got, list) else []
        for item in items:
            v = item.get("epcClass") if isinstance(item, dict) else item
            if isinstance(v, str):
                out.add((role, identifier_(v)[:MAX_VALUE]))
    if isinstance(event.get("epcClass"), str):  # a 1.x QuantityEvent
        out.add(("class", identifier_(event["epcClass"])[:MAX_VALUE]))
    err = event.get("errorDeclaration")
    if isinstance(err, dict) and isinstance(err.get("correctiveEventIDs"), list):
        out.update(("corrective", v[:MAX_VALUE]) for v in err["correctiveEventIDs"] if isinstance(v, str))
    return out


def entry(
    event_id: int,
    event: Mapping[str, Any],
    hash_: str,
    supplier: str,
    recorded_at: datetime,
    context: str | None = None,
    ours: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The epcis_index row and epcis_index_value rows of one EPCIS event (pure)."""
    err = event.get("errorDeclaration") if isinstance(event.get("errorDeclaration"), dict) else None
    reason = err.get("reason") if err else None
    row = dict(
        event_id=event_id,
        eid=event["eventID"] if isinstance(event.get("eventID"), str) else hash_,
        hash=hash_,
        type=str(event.get("type")),
        event_time=_time(event.get("eventTime")) or recorded_at,
        record_time=recorded_at,
        biz_step=vocab("bizStep", event["bizStep"]) if isinstance(event.get("bizStep"), str) else None,
        disposition=vocab("disposition", event["disposition"]) if isinstance(event.get("disposition"), str) else None,
        read_point=_place(event.get("readPoint")),
        biz_location=_place(event.get("bizLocation")),
        supplier_id=supplier,
        error_time=_time(err.get("declarationTime")) if err else None,
        error_reason=vocab("errorReason", reason) if isinstance(reason, str) else None,
        body=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
        context=context,
    )
    return row, [dict(event_id=event_id, role=r, value=v) for r, v in sorted(values(event, ours))]


def native(event_id: int, body: str, outcome: str | None, supplier: str, recorded_at: datetime) -> Any:
    """The index entry of a natively recorded cradletrace event: its EPCIS form, hash still to come
    (``complete``); None for the operator's own records (the key log's key events, filed recall
    reports: core.events.OPERATOR_KINDS), which have no EPCIS form.

    The CBV 2.0 hash costs about as much CPU as seven Ed25519 verifications, more than the rest
    of recording an event, so recording leaves it out and the first query that needs it computes it."""
    parsed = json.loads(body)
    if parsed.get("kind") in OPERATOR_KINDS or parsed.get("kind") == "correction":
        return None  # a correction is the errorDeclaration of the event it corrects (``declare``)
    if parsed.get("kind") == GENERIC_KIND:  # a captured EPCIS event kept whole: indexed as it came
        d = parsed["data"]
        return captured(event_id, d["event"], d["hash"], supplier, recorded_at, json.dumps(d["context"]))
    return entry(event_id, to_epcis(parsed, outcome), PENDING, supplier, recorded_at, ours=True)


def complete(session: Session, event_ids: Sequence[int] | None = None) -> dict[int, str]:
    """Give indexed native events (these, or all) their CBV 2.0 hash as eventID; returns the new bodies."""
    from cradletrace.core.epcishash import event_hash

    q = select(EpcisIndex.event_id, EpcisIndex.body).where(EpcisIndex.hash == PENDING)
    if event_ids is not None:
        q = q.where(col(EpcisIndex.event_id).in_(list(event_ids)))
    out: dict[int, str] = {}
    for event_id, body in session.exec(q).all():
        ev = json.loads(body)
        h = event_hash(ev, CONTEXT)
        out[event_id] = json.dumps({"type": ev["type"], "eventID": h, **ev}, ensure_ascii=False, separators=(",", ":"))
        session.execute(
            update(EpcisIndex).where(col(EpcisIndex.event_id) == event_id).values(eid=h, hash=h, body=out[event_id])
        )
    return out


def captured(
    event_id: int, original: Mapping[str, Any], hash_: str, supplier: str, recorded_at: datetime, context: str
) -> Any:
    """The index entry of a captured event: the original as sent, with the eventID and ``ct:eventHash``
    export gives it (its hash is the eventID unless the sender chose another)."""
    ev = dict(original)
    if "eventID" not in ev:
        ev = {"type": ev.get("type"), "eventID": hash_, **ev}
    elif ev["eventID"] != hash_:
        ev["ct:eventHash"] = hash_
    return entry(event_id, ev, hash_, supplier, recorded_at, context)


def _write(target: Session | Connection, entries: Iterable[tuple[dict[str, Any], list[dict[str, Any]]] | None]) -> None:
    rows, vals = [], []
    for got in entries:
        if got is None:
            continue
        row, vs = got
        rows.append(row)
        vals.extend(vs)
    # Core inserts (the tables, not the models): the ORM's bulk path costs more than the rows
    if rows:
        target.execute(insert(EpcisIndex.__table__), rows)  # type: ignore[attr-defined]
    if vals:
        target.execute(insert(EpcisIndexValue.__table__), vals)  # type: ignore[attr-defined]


def add_recorded(session: Session, events: Sequence[tuple[int, str, str | None, str, datetime]]) -> None:
    """Index events just recorded: (event id, canonical body, outcome, supplier, recorded at) each;
    a correction among them becomes the errorDeclaration of the event it corrects (``declare``)."""
    _write(session, (native(*e) for e in events))
    wake_on_commit(session)  # subscriptions hear of them once they are committed (subscriptions.py)
    fixes = [e for e in events if e[2] is not None and '"kind":"correction"' in e[1]]
    if fixes:
        declare(session, [(e[0], e[1]) for e in fixes])


def declare(session: Session, fixes: Sequence[tuple[int, str]]) -> None:
    """Give each corrected event's index row its EPCIS ``errorDeclaration`` (declarationTime,
    reason, correctiveEventIDs), so EXISTS_errorDeclaration, EQ_errorReason,
    GE_/LT_errorDeclarationTime and EQ_correctiveEventID find it: ``fixes`` are the corrections'
    (event id, canonical body). The corrective events get their eventIDs now (``complete``), so the
    declaration names them as a query or export names them; the corrected event's eventID does not
    change (the CBV 2.0 hash leaves errorDeclaration out). Idempotent: capture calls it again once
    the events captured with the declaration are indexed by their originals' eventIDs."""
    from cradletrace.corrections import declaration_of, epcis_declaration

    found = [
        d for eid, body in fixes if (d := declaration_of(eid, hashlib.sha256(body.encode()).hexdigest(), "", body))
    ]
    digests = {d.corrects for d in found} | {x for d in found for x in d.corrective}
    ids = dict(session.execute(select(EventRow.digest, EventRow.id).where(col(EventRow.digest).in_(digests))).all())
    complete(session, [ids[x] for d in found for x in d.corrective if x in ids])
    rows = {
        r.event_id: r for r in session.exec(select(EpcisIndex).where(col(EpcisIndex.event_id).in_(list(ids.values()))))
    }
    eids = {x: rows[i].eid for x, i in ids.items() if i in rows}
    vals: list[dict[str, Any]] = []
    for d in found:
        row = rows.get(ids.get(d.corrects, -1))
        if row is None:
            continue  # an operator record has no EPCIS form (and cannot be corrected)
        session.execute(
            delete(EpcisIndexValue).where(
                col(EpcisIndexValue.event_id) == row.event_id, col(EpcisIndexValue.role) == "corrective"
            )
        )
        err = epcis_declaration(d, eids)
        ev = {**json.loads(row.body), "errorDeclaration": err}
        session.execute(
            update(EpcisIndex)
            .where(col(EpcisIndex.event_id) == row.event_id)
            .values(
                error_time=_time(err["declarationTime"]),
                error_reason=vocab("errorReason", err["reason"]),
                body=json.dumps(ev, ensure_ascii=False, separators=(",", ":")),
            )
        )
        vals.extend(dict(event_id=row.event_id, role=r, value=v) for r, v in sorted(values({"errorDeclaration": err})))
    if vals:
        session.execute(insert(EpcisIndexValue), vals)


def use_captured(
    session: Session, events: Sequence[tuple[int, Mapping[str, Any], str, str, datetime]], context: str
) -> None:
    """Index captured events by their originals: (event id, original, CBV hash, supplier, recorded at)
    each, in place of any entry add_recorded gave them in the same transaction (capture records with
    ``index=False``, so there is none: the profile's form would only be computed to be replaced).
    Rows are keyed by event id, so replacing is delete and insert, in one executemany per table."""
    ids = [e[0] for e in events]
    for chunk in chunks(ids):
        session.execute(delete(EpcisIndexValue).where(col(EpcisIndexValue.event_id).in_(chunk)))
        session.execute(delete(EpcisIndex).where(col(EpcisIndex.event_id).in_(chunk)))
    _write(session, (captured(*e, context) for e in events))
    wake_on_commit(session)  # subscriptions hear of them once they are committed


def backfill(connection: Connection, chunk: int = 2000) -> int:
    """Index every stored event not indexed yet (a store made before revision 0011); returns how many."""
    from sqlalchemy import text

    done = 0
    last = 0
    while True:
        rows = connection.execute(
            text(
                "SELECT e.id, e.body, e.outcome, e.supplier_id, e.recorded_at, c.body, c.hash, c.context "
                "FROM event e LEFT JOIN epcis_event c ON c.event_id = e.id "
                "WHERE e.id > :last AND e.kind NOT IN ('key', 'report') AND NOT EXISTS (SELECT 1 FROM epcis_index i WHERE i.event_id = e.id) "
                "ORDER BY e.id LIMIT :n"
            ),
            {"last": last, "n": chunk},
        ).all()
        if not rows:
            return done
        out = []
        for eid, body, outcome, supplier, at, original, h, ctx in rows:
            when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            out.append(
                captured(eid, json.loads(original), h, supplier, when, ctx)
                if original is not None
                else native(eid, body, outcome, supplier, when)
            )
        _write(connection, out)
        done += len(rows)
        last = rows[-1][0]

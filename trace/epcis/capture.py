"""EPCIS 2.0 capture: a whole document becomes cradletrace events, all of them or none.

Steps: validate against GS1's schema and the CBV lists (validation.py) -> map each event to one
cradletrace event (profile.py) -> CBV 2.0 hash of each EPCIS event; refuse one captured
before (``DuplicateEpcisError``) -> each mapped event signed by the supplier (the CLI signs
with the workspace key file; over HTTP the supplier sends one signature per event) -> recorded
by ``recording.record_submissions`` in one transaction -> the original EPCIS event, its hash and the
document's ``@context`` stored beside its cradletrace event (``epcis_event``).

Fields cradletrace has no model for (extensions, readPoint, bizTransactions, other sensor
reports, ...) are not refused and not interpreted: they stay in the stored original, which
export sends back unchanged. An event re-sent with an ``errorDeclaration`` (EPCIS 2.0 §7.4.1.4:
same eventID, or same CBV hash, which leaves the declaration out) becomes a correction of the
stored event (corrections.py), signed like any other mapped event. A ``ct:eventHash`` an
exported event carries is checked against the recomputed hash and left out of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, or_, select

from cradletrace import recording
from cradletrace.core import canonical, signing
from cradletrace.core.canonical import parse_json
from cradletrace.core.events import GENERIC_KIND, MAX_READINGS
from cradletrace.core.testreport import Limit
from cradletrace.epcis import index
from cradletrace.epcis.profile import CT
from cradletrace.epcis.read import correction_from_epcis, from_epcis
from cradletrace.epcis.validation import events_of, expand, prefixes, validate
from cradletrace.errors import (
    DuplicateEpcisError,
    InvalidEpcisError,
    InvalidEventError,
    MappingError,
    NotAllowedError,
    Problem,
    StateConflictError,
)
from cradletrace.store.db import chunks
from cradletrace.store.models import EpcisEvent, EpcisIndex, EventRow

MAX_EVENTS = recording.MAX_EVENTS


@dataclass(frozen=True)
class Mapped:
    """One EPCIS event of a document and the cradletrace event it maps to (unsigned)."""

    where: str  # JSON pointer of the EPCIS event in its document
    original: dict[str, Any]
    hash: str
    event: dict[str, Any]


def _own_hash_key(
    event: Mapping[str, Any], known: Mapping[str, str], seen: dict[str, bool] | None = None
) -> str | None:
    """The key of ``event`` that is ``ct:eventHash`` under the prefixes ``known``; ``seen`` remembers
    the verdict per key for further events under the same prefixes (a document repeats its keys)."""
    for k in event:
        hit = seen.get(k) if seen is not None else None
        if hit is None:
            hit = expand(k, known) == CT + "eventHash"
            if seen is not None:
                seen[k] = hit
        if hit:
            return k
    return None


def hashes(document: Mapping[str, Any], seen: dict[str, bool] | None = None) -> list[str]:
    """CBV 2.0 hash of each event, in document order; a ``ct:eventHash`` we wrote is left out.
    ``seen``: _own_hash_key's verdicts under the document's own prefixes, to share."""
    from cradletrace.core.epcishash import document_hashes

    known = prefixes(document)
    seen = {} if seen is None else seen
    events = []
    for _, e in events_of(document):
        own = _own_hash_key(e, known, seen)
        events.append(e if own is None else {k: v for k, v in e.items() if k != own})
    # Only the events and the document's context matter; an EPCISQueryDocument keeps them deeper.
    body = {**document, "epcisBody": {"eventList": events}}
    return list(document_hashes(body))


def check_size(document: Any) -> None:
    """Refuse a document over the capture limits (events, sensor reports per event) before
    spending seconds validating, mapping and hashing it."""
    events = events_of(document) if isinstance(document, dict) else []
    if len(events) > MAX_EVENTS:
        raise InvalidEpcisError(
            Problem("/epcisBody/eventList", f"expected at most {MAX_EVENTS} events, got {len(events)}")
        )
    problems = []
    for where, event in events:
        elements = event.get("sensorElementList") if isinstance(event, dict) else None
        n = (
            sum(
                len(el["sensorReport"])
                for el in elements
                if isinstance(el, dict) and isinstance(el.get("sensorReport"), list)
            )
            if isinstance(elements, list)
            else 0
        )
        if n > MAX_READINGS:
            problems.append(
                Problem(
                    f"{where}/sensorElementList",
                    f"expected at most {MAX_READINGS} sensor reports (sensorReport) per event, got {n}",
                )
            )
    if problems:
        raise InvalidEpcisError(problems)


_NOT_PROFILE = (CT + "eventHash", CT + "unsigned")  # what the binding writes on any event it serves


def _uses_profile(value: Any, known: Mapping[str, str]) -> bool:
    """Whether an event names a field of cradletrace's profile (``ct:`` anywhere): meant to map to a
    cradletrace event, so a mapping problem is the sender's mistake, not an event to keep as it is."""
    if isinstance(value, dict):
        return any(
            (expand(k, known).startswith(CT) and expand(k, known) not in _NOT_PROFILE) or _uses_profile(v, known)
            for k, v in value.items()
        )
    return isinstance(value, list) and any(_uses_profile(v, known) for v in value)


def generic_event(original: Mapping[str, Any], hash_: str, context: Any, supplier: str, key: str) -> dict[str, Any]:
    """The generic ``epcis`` record of an EPCIS event the profile gives no cradletrace meaning:
    the event whole, its CBV 2.0 hash and the document's ``@context`` (core.events.EpcisRecordData)."""
    return {
        "kind": GENERIC_KIND,
        "supplier": supplier,
        "key": key,
        "data": {"hash": hash_, "event": dict(original), "context": context},
    }


def stored_ids(session: Session, document: Any, supplier: str) -> dict[str, str]:
    """The eventIDs and CBV hashes this repository holds that a document's error declarations may
    name (the erroneous events re-sent, their correctiveEventIDs), each -> its event's digest: what
    ``map_document`` needs to map a declaration to a correction (corrections.py). The declaring
    ``supplier``'s native events get their CBV hashes first (index.complete): only its own events
    may be corrected, and an exported event is named by that hash."""
    events = events_of(document) if isinstance(document, dict) else []
    if not any(isinstance(e, dict) and isinstance(e.get("errorDeclaration"), dict) for _, e in events):
        return {}
    pending = select(EpcisIndex.event_id).where(EpcisIndex.hash == index.PENDING, EpcisIndex.supplier_id == supplier)
    index.complete(session, list(session.exec(pending)))
    wanted: set[str] = set(hashes(document))
    for _, e in events:
        err = e.get("errorDeclaration")
        if isinstance(err, dict):
            wanted.update(x for x in [e.get("eventID"), *(err.get("correctiveEventIDs") or [])] if isinstance(x, str))
    out: dict[str, str] = {}
    for chunk in chunks(sorted(wanted)):
        for eid, h, digest in session.execute(
            select(EpcisIndex.eid, EpcisIndex.hash, EventRow.digest)
            .join(EventRow, col(EventRow.id) == col(EpcisIndex.event_id))
            .where(or_(col(EpcisIndex.eid).in_(chunk), col(EpcisIndex.hash).in_(chunk)))
        ).all():
            out[eid] = out[h] = digest
    return out


def map_document(
    document: Any,
    supplier: str,
    key: str,
    limits: Mapping[str, Limit],
    stored: Mapping[str, str] | None = None,
    *,
    generic: bool = False,
) -> list[Mapped]:
    """Map every event of a valid EPCIS document; raise InvalidEpcisError with every problem.

    An event with an ``errorDeclaration`` whose eventID or CBV 2.0 hash is that of a stored event
    (``stored``: ``stored_ids``) maps to a correction of it; its correctiveEventIDs may name events
    ``stored`` knows or events of this document.

    ``generic`` (the REST binding): an event the profile cannot map, and that names none of the
    profile's ``ct:`` fields, becomes a generic ``epcis`` record instead of a problem, so any valid
    EPCIS event can be captured; one that names them and does not map is still refused."""
    if not isinstance(document, dict) or document.get("type") != "EPCISDocument":
        raise InvalidEpcisError(Problem("/type", "expected an EPCISDocument to capture"))
    events = events_of(document)
    if not events:
        raise InvalidEpcisError(Problem("/epcisBody/eventList", "expected at least one event, got none"))
    check_size(document)
    known = prefixes(document)
    problems: list[Problem] = []
    out: list[Mapped] = []
    first: dict[str, str] = {}
    seen: dict[str, bool] = {}
    for (where, event), h in zip(events, hashes(document, seen)):
        local = {**known, **prefixes(event)} if "@context" in event else known
        stated_key = _own_hash_key(event, local, seen if local is known else None)
        if stated_key is not None and event[stated_key] != h:
            problems.append(
                Problem(f"{where}/{stated_key}", f"expected this event's CBV 2.0 hash {h}, got {event[stated_key]!r}")
            )
        if h in first:
            problems.append(Problem(where, f"expected each event once, got the same event as {first[h]} (hash {h})"))
        first.setdefault(h, where)
        target = _declared(event, h, stored or {})
        try:
            ev = {} if target else from_epcis(event, local, where, supplier, key, limits)
            out.append(Mapped(where, event, h, ev))
        except MappingError as exc:
            if generic and not _uses_profile(event, local):
                out.append(Mapped(where, event, h, generic_event(event, h, document.get("@context"), supplier, key)))
                continue
            problems.extend(exc.problems)
    ids = {**(stored or {})}
    for m in out:  # the events of this document, by the eventIDs (and hashes) they are captured as
        if m.event:
            ids[m.original.get("eventID", m.hash)] = ids[m.hash] = canonical.sha256(
                canonical.canonical_bytes(m.event)
            ).hex()
    for i, m in enumerate(out):
        if not m.event:
            try:
                fix = correction_from_epcis(
                    m.original, m.where, supplier, key, _declared(m.original, m.hash, stored or {}) or "", ids
                )
                out[i] = Mapped(m.where, m.original, m.hash, fix)
            except MappingError as exc:
                problems.extend(exc.problems)
    if problems:
        raise InvalidEpcisError(problems)
    return out


def _declared(event: Mapping[str, Any], h: str, stored: Mapping[str, str]) -> str | None:
    """The digest of the stored event an event with an errorDeclaration re-sends (by eventID, else
    by CBV hash, which leaves errorDeclaration out), or None."""
    if not isinstance(event.get("errorDeclaration"), dict):
        return None
    eid = event.get("eventID")
    return stored.get(eid) if isinstance(eid, str) and eid in stored else stored.get(h)


def refuse_captured(session: Session, mapped: Sequence[Mapped]) -> None:
    """Raise DuplicateEpcisError naming every event captured before (same CBV hash) or recorded
    before (an export of a recorded event, sent back by the same supplier: same cradletrace digest)."""
    seen = dict(
        session.execute(
            select(EpcisEvent.hash, EpcisEvent.event_id).where(col(EpcisEvent.hash).in_([m.hash for m in mapped]))
        ).all()
    )
    digests = {m.hash: canonical.sha256(canonical.canonical_bytes(m.event)).hex() for m in mapped}
    recorded = dict(
        session.execute(
            select(EventRow.digest, EventRow.id).where(col(EventRow.digest).in_(list(digests.values())))
        ).all()
    )
    problems = [
        Problem(
            m.where,
            f"expected a new event, got one captured before as cradletrace event {seen[m.hash]} (hash {m.hash})",
        )
        if m.hash in seen
        else Problem(
            m.where,
            f"expected a new event, got one recorded before as cradletrace event {recorded[digests[m.hash]]} "
            f"(hash {m.hash})",
        )
        for m in mapped
        if m.hash in seen or digests[m.hash] in recorded
    ]
    if problems:
        raise DuplicateEpcisError(problems)


def sign_mapped(mapped: Sequence[Mapped], pem: bytes) -> list[str]:
    """The supplier's Ed25519 signature of each mapped event's canonical bytes (RFC 8785)."""
    private = signing.load_private_key(pem)
    return [signing.sign(private, canonical.canonical_bytes(m.event)) for m in mapped]


def _pointed(problems: Sequence[Problem], mapped: Sequence[Mapped]) -> list[Problem]:
    """Recording names ``events[i].data.x``; the sender knows only its document: point there."""
    out = []
    for p in problems:
        if p.where.startswith("events[") and "]" in p.where:
            i = int(p.where[7 : p.where.index("]")])
            rest = p.where[p.where.index("]") + 1 :].lstrip(".")
            out.append(
                Problem(
                    mapped[i].where,
                    f"as cradletrace {mapped[i].event['kind']} event{': ' + rest if rest else ''}: {p.message}",
                )
            )
        else:
            out.append(p)
    return out


def capture(
    session: Session,
    document: Mapping[str, Any],
    mapped: Sequence[Mapped],
    signatures: Sequence[str],
    now: datetime,
    limits: Mapping[str, Limit] | None = None,
    *,
    captured: bool = False,
    unsigned: bool = False,
) -> list[recording.RecordedEvent]:
    """Record the mapped events with their signatures and keep each original; the caller commits.

    ``captured``: the signatures are the REST binding's capture references (binding.py; see
    ``recording.record_submissions``); ``unsigned``: that capture was taken without a request
    signature, and each event shows ``ct:unsigned: true`` in query results."""
    if len(signatures) != len(mapped):
        raise InvalidEpcisError(
            Problem("/signatures", f"expected one signature per event ({len(mapped)}), got {len(signatures)}")
        )
    refuse_captured(session, [m for m in mapped if m.event["kind"] != "correction"])
    items = [recording.Submission(m.event, s) for m, s in zip(mapped, signatures)]
    try:
        rows = recording.record_submissions(
            session, items, now, limits, captured=captured, index=False
        )  # indexed below
    except InvalidEventError as exc:
        raise InvalidEpcisError(_pointed(exc.problems, mapped)) from None
    except StateConflictError as exc:  # an event corrected before
        raise StateConflictError(exc.kind, _pointed(exc.problems, mapped)) from None
    except NotAllowedError as exc:  # a revoked key, an expired certificate, another supplier's key, a role
        raise NotAllowedError(re.sub(r"events\[(\d+)\]", lambda m: mapped[int(m.group(1))].where, str(exc))) from None
    context = json.dumps(document.get("@context"), ensure_ascii=False)
    # A declaration is the correction's; the erroneous event it re-sends is stored already.
    kept = [(m, r) for m, r in zip(mapped, rows) if r.kind != "correction"]
    if kept:
        session.execute(
            insert(EpcisEvent.__table__),  # type: ignore[attr-defined]
            [
                dict(
                    hash=m.hash,
                    event_id=r.id,
                    epcis_id=m.original.get("eventID"),
                    context=context,
                    body=json.dumps(m.original, ensure_ascii=False),
                )
                for m, r in kept
            ],
        )
        index.use_captured(
            session,
            [
                (r.id, {**m.original, "ct:unsigned": True} if unsigned else m.original, m.hash, r.supplier_id, now)
                for m, r in kept
            ],
            context,
        )
    fixes = [(r.id, r.body, r.outcome, r.supplier_id, now) for r in rows if r.kind == "correction"]
    if fixes:  # indexed as recorded (their declarations), naming the corrective events by their eventIDs
        index.add_recorded(session, fixes)
    return rows


def read_document(text: str | bytes, media_type: str | None = None) -> Any:
    """The JSON-LD document of a JSON-LD or XML body (EPCIS 1.2/2.0 XML is converted: epcis/xml.py)."""
    from cradletrace.epcis import xml

    return xml.load(text) if xml.is_xml(media_type, text) else parse_json(text)


def _prepare(
    session: Session, keys_dir: Any, limits: Mapping[str, Limit], text: str | bytes, supplier: str
) -> tuple[dict[str, Any], list[Mapped], list[str], str]:
    document = read_document(text)
    check_size(document)
    problems = validate(document)
    if problems:
        raise InvalidEpcisError(problems)
    key_id, pem = recording.key_loader(session, keys_dir)(supplier)
    mapped = map_document(document, supplier, key_id, limits, stored_ids(session, document, supplier))
    return document, mapped, sign_mapped(mapped, pem), key_id


def import_document(
    session: Session, keys_dir: Any, limits: Mapping[str, Limit], text: str | bytes, supplier: str, now: datetime
) -> list[recording.RecordedEvent]:
    """Capture a document as ``supplier``, signing with its key file (``keys_dir``); the caller commits."""
    document, mapped, signatures, _ = _prepare(session, keys_dir, limits, text, supplier)
    return capture(session, document, mapped, signatures, now, limits)


def capture_body(
    session: Session, keys_dir: Any, limits: Mapping[str, Limit], text: str | bytes, supplier: str
) -> dict[str, Any]:
    """The body of ``POST /api/v1/epcis``: the document, the key id, one signature per event."""
    document, _mapped, signatures, key_id = _prepare(session, keys_dir, limits, text, supplier)
    return {"document": document, "key": key_id, "signatures": signatures}

"""EPCIS 2.0 export: a lot's history, or a recall's scope, as one EPCIS document.

A lot's history is every event about the lot (its batch, test reports, shipments, the cold
chain of the lot and of its shipments, commissioning, and the packing, unpacking, moves and sales
of its cans and of the cases and pallets they were in: ``unit_event``) in recording order, then one
``disposition: recalled`` event per recall that covers it. An event captured from EPCIS goes
out as it came in (every field, ours or not); any other is mapped by the EPCIS profile
(profile.py). An event a supplier corrected (corrections.py) carries its ``errorDeclaration``. Each event carries its ``eventID`` and CBV 2.0 hash: the eventID *is* the hash
unless the sender chose another eventID, in which case ``ct:eventHash`` carries the hash of the
event without that property. The document validates against the schema we validate input with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from cradletrace.corrections import declarations, epcis_declaration
from cradletrace.epcis.index import PENDING
from cradletrace.epcis.profile import CONTEXT, recall_event, to_epcis
from cradletrace.errors import NotFoundError
from cradletrace.store.models import EpcisEvent, EpcisIndex, EventRow, Lot, Recall, RecallLot, Shipment, Unit, UnitEvent

_GTIN_SLASH = re.compile(r"\d{14}/")


def find_lot(session: Session, value: str, gtin: str | None = None) -> Lot:
    """A lot by ``GTIN/LOT`` or by its lot code alone (when only one GTIN has it); with ``gtin``,
    ``value`` is the lot code. A lot code may hold ``/`` (GS1 AI 10): ``IF/2`` is a lot code,
    ``09421902960109/IF/2`` that code of that GTIN (a value starting with 14 digits and a slash)."""
    if gtin is None and _GTIN_SLASH.match(value):
        gtin, value = value[:14], value[15:]
    q = select(Lot).where(Lot.lot == value) if gtin is None else select(Lot).where(Lot.gtin == gtin, Lot.lot == value)
    lots = list(session.exec(q))
    if len(lots) != 1:
        shown = value if gtin is None else f"{gtin}/{value}"
        raise NotFoundError(f"lot {shown!r}: expected one recorded lot (GTIN/LOT or a lot code), found {len(lots)}")
    return lots[0]


def history(session: Session, lots: Sequence[Lot]) -> list[EventRow]:
    """Every event about these lots, in recording order."""
    keys = [(lo.gtin, lo.lot) for lo in lots]
    shipments = list(session.exec(select(Shipment.id).where(col(Shipment.lot_id).in_([lo.id for lo in lots]))))
    about_lot = or_(*[(col(EventRow.gtin) == g) & (col(EventRow.lot) == lc) for g, lc in keys])
    cold = (col(EventRow.kind) == "cold_chain") & col(EventRow.ref).in_(shipments)
    cans = select(UnitEvent.event_id).join(Unit, col(Unit.code) == UnitEvent.code)
    of_cans = col(EventRow.id).in_(cans.where(col(Unit.lot_id).in_([lo.id for lo in lots])))
    return list(session.exec(select(EventRow).where(or_(about_lot, cold, of_cans)).order_by(col(EventRow.id))))


def _merge_context(contexts: Iterable[Any]) -> tuple[list[Any], dict[str, str]]:
    """The export context: EPCIS + ct, plus the prefixes the captured documents defined."""
    urls: list[Any] = [CONTEXT[0]]
    terms: dict[str, str] = dict(CONTEXT[1])
    for ctx in contexts:
        for part in ctx if isinstance(ctx, list) else [ctx]:
            if isinstance(part, str) and part not in urls:
                urls.append(part)
            elif isinstance(part, dict):
                for k, v in part.items():
                    terms.setdefault(k, v)
    return [*urls, terms], terms


def _fits(ctx: Any, terms: dict[str, str]) -> bool:
    parts = ctx if isinstance(ctx, list) else [ctx]
    return all(terms.get(k) == v for p in parts if isinstance(p, dict) for k, v in p.items())


def _go_on() -> None:
    pass


def document(
    session: Session,
    rows: Sequence[EventRow],
    recalls: Sequence[tuple[Lot, Recall]],
    now: datetime,
    check: Callable[[], None] = _go_on,
) -> dict[str, Any]:
    """The EPCIS document of these event rows and recalls (one recalled event per lot and recall).

    ``check`` is called before each event is mapped and hashed; it raises to stop the work (a
    request whose client went away or whose time is up: see api/bounded.py)."""
    from cradletrace.core.epcishash import event_hash

    ids = [r.id for r in rows]
    captured = {c.event_id: c for c in session.exec(select(EpcisEvent).where(col(EpcisEvent.event_id).in_(ids)))}
    context, terms = _merge_context(json.loads(c.context) for c in captured.values())
    events: list[dict[str, Any]] = []
    known: list[str | None] = []
    for row in rows:
        check()
        c = captured.get(row.id)  # type: ignore[arg-type]
        if c is None:
            events.append(to_epcis(json.loads(row.body), row.outcome))
            known.append(None)
            continue
        ev = json.loads(c.body)
        original_ctx = json.loads(c.context)
        if "@context" not in ev and not _fits(original_ctx, terms):
            ev = {"@context": original_ctx, **ev}  # its prefixes clash with another document's: keep its own
        events.append(ev)
        known.append(c.hash)
    for lot, recall in recalls:
        events.append(
            recall_event(
                lot.gtin, lot.lot, recall.id or 0, recall.reason, recall.severity, recall.started_at.isoformat()
            )
        )
        known.append(None)
    doc: dict[str, Any] = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.isoformat(),
        "epcisBody": {"eventList": events},
    }
    for i, ev in enumerate(events):
        if known[i] is None:
            check()
        h = known[i] or event_hash(ev, context)
        if "eventID" not in ev:
            events[i] = ev = {"type": ev["type"], "eventID": h, **ev}
        elif ev["eventID"] != h:
            ev["ct:eventHash"] = h
    _declare(session, rows, events)
    return doc


def _declare(session: Session, rows: Sequence[EventRow], events: list[dict[str, Any]]) -> None:
    """Give each corrected event among the first ``len(rows)`` of ``events`` its errorDeclaration
    (corrections.py), naming the corrective events by the eventIDs this document or the query index
    gives them. The corrected event keeps its eventID: the CBV 2.0 hash leaves errorDeclaration out."""
    found = declarations(session, [r.digest for r in rows])
    if not found:
        return
    eids = {r.digest: ev["eventID"] for r, ev in zip(rows, events)}
    wanted = sorted({x for d in found.values() for x in d.corrective} - set(eids))
    if wanted:
        eids.update(
            session.execute(
                select(EventRow.digest, EpcisIndex.eid)
                .join(EpcisIndex, col(EpcisIndex.event_id) == col(EventRow.id))
                .where(col(EventRow.digest).in_(wanted), EpcisIndex.hash != PENDING)
            ).all()
        )
    for row, ev in zip(rows, events):
        if row.digest in found:
            ev["errorDeclaration"] = epcis_declaration(found[row.digest], eids)


def _recalls_of(session: Session, lots: Sequence[Lot]) -> list[tuple[Lot, Recall]]:
    by_id = {lo.id: lo for lo in lots}
    pairs = session.exec(
        select(RecallLot.lot_id, Recall)
        .join(Recall, col(Recall.id) == col(RecallLot.recall_id))
        .where(col(RecallLot.lot_id).in_(list(by_id)), col(Recall.drill).is_(False))  # a drill is no recall
        .order_by(col(Recall.id), col(RecallLot.lot_id))
    )
    return [(by_id[lot_id], recall) for lot_id, recall in pairs]


def export_lot(
    session: Session, lot: str, now: datetime, gtin: str | None = None, check: Callable[[], None] = _go_on
) -> dict[str, Any]:
    """One lot's history as an EPCIS 2.0 document (``lot`` as ``GTIN/LOT`` or a lot code; see find_lot)."""
    found = find_lot(session, lot, gtin)
    return document(session, history(session, [found]), _recalls_of(session, [found]), now, check)


def export_recall(
    session: Session, recall_id: int, now: datetime, check: Callable[[], None] = _go_on
) -> dict[str, Any]:
    """Every lot in a recall's scope: their histories and the recall, disposition ``recalled``."""
    recall = session.get(Recall, recall_id)
    if recall is None:
        raise NotFoundError(f"recall {recall_id}: not found")
    lots = list(
        session.exec(
            select(Lot)
            .join(RecallLot, col(RecallLot.lot_id) == col(Lot.id))
            .where(RecallLot.recall_id == recall_id)
            .order_by(col(Lot.id))
        )
    )
    return document(session, history(session, lots), [(lo, recall) for lo in lots], now, check)

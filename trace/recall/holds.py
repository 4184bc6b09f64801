"""Automatic holds: a failing test report or a cold-chain excursion holds its batch and every lot it fed.

``hold_failures`` runs when ``record_submissions`` stores such an event, in the same transaction, and
gives each lot of the forward trace a ``hold`` row. The hook is the last step of
``recording.record_submissions``, so every caller (CLI ``record``, the API events route, the demo) holds
the same way. A hold whose lot has no recall is a recall *proposal* (``proposals``); a hold is
lifted by ``release_hold`` (who, when and why are kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from cradletrace.errors import Conflict, InvalidInputError, NotFoundError, Problem, StateConflictError
from cradletrace.recall.clock import Clock, iso
from cradletrace.recall.recalls import active_recalls, who_and_why, write_lock
from cradletrace.store.models import EventRow, Hold, Lot
from cradletrace.store.states import HoldReason

TRIGGER_OUTCOMES = {("test_report", "fail"): HoldReason.FAILED_TEST, ("cold_chain", "excursion"): HoldReason.EXCURSION}


def hold_reason(kind: str, outcome: str | None) -> HoldReason | None:
    """Why an event puts its batch on hold, or None if it does not."""
    return TRIGGER_OUTCOMES.get((kind, outcome or ""))


def hold_failures(session: Session, recorded: Sequence[Any], now: datetime) -> list[Hold]:
    """Hold the batch of every failing report / excursion in ``recorded`` and all it fed.

    Runs in the caller's transaction (after the events are inserted). Lots already held are
    held again under the new trigger: each hold names one trigger.
    """
    from cradletrace.recall.genealogy import trace_forward

    holds: list[dict[str, Any]] = []
    for row in recorded:
        reason = hold_reason(row.kind, row.outcome)
        if reason is None:
            continue
        trace = trace_forward(session, event=row.id, units=False)  # only its lots are held
        holds.extend(dict(lot_id=lot.id, reason=reason, trigger_event_id=row.id, created_at=now) for lot in trace.lots)
    if holds:
        session.execute(insert(Hold.__table__), holds)  # type: ignore[attr-defined]
    return [Hold(**h) for h in holds]


@dataclass(frozen=True)
class HoldView:
    id: int
    gtin: str
    lot: str
    reason: str
    trigger_event_id: int
    created_at: datetime
    trigger_at: datetime | None
    recall_id: int | None

    @property
    def clock(self) -> Clock:
        return Clock(self.trigger_at, self.created_at, None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gtin": self.gtin,
            "lot": self.lot,
            "reason": self.reason,
            "trigger_event_id": self.trigger_event_id,
            "created_at": iso(self.created_at),
            "recall_id": self.recall_id,
            "clock": self.clock.to_json(),
        }


def list_holds(session: Session, *, only_proposals: bool = False) -> list[HoldView]:
    """Active holds (oldest first); ``only_proposals``: those whose lot is under no active recall."""
    rows = session.exec(
        select(Hold, Lot.gtin, Lot.lot, EventRow.recorded_at)
        .join(Lot, col(Lot.id) == col(Hold.lot_id))
        .outerjoin(EventRow, col(EventRow.id) == col(Hold.trigger_event_id))
        .where(col(Hold.released_at).is_(None))
        .order_by(col(Hold.id))
    ).all()
    recalled = active_recalls(session, [h.lot_id for h, *_ in rows])
    out = [
        HoldView(int(h.id or 0), g, lo, h.reason, h.trigger_event_id, h.created_at, at, recalled.get(h.lot_id))
        for h, g, lo, at in rows
    ]
    return [h for h in out if h.recall_id is None] if only_proposals else out


def proposals(session: Session) -> list[HoldView]:
    """Recall proposals: holds on lots that no active recall covers yet."""
    return list_holds(session, only_proposals=True)


def release_hold(session: Session, hold_id: int, *, reason: str, released_by: str, now: datetime) -> dict[str, Any]:
    """Lift one hold (e.g. a re-test passed): the scan banner goes; who, when and why are kept."""
    write_lock(session)
    problems = who_and_why(released_by, reason, "hold is released")
    hold = session.exec(select(Hold).where(Hold.id == hold_id).with_for_update()).first()
    if hold is None:
        raise NotFoundError(f"hold: expected an existing hold, got {hold_id} which does not exist")
    if problems:
        raise InvalidInputError(problems)
    if hold.released_at is not None:
        raise StateConflictError(
            Conflict.RELEASED,
            Problem("hold", f"hold {hold_id} was already released at {iso(hold.released_at)} by {hold.released_by}"),
        )
    hold.released_at, hold.released_by, hold.release_reason = now, released_by.strip()[:100], reason.strip()[:500]
    session.add(hold)
    session.flush()
    g, lo = session.exec(select(Lot.gtin, Lot.lot).where(Lot.id == hold.lot_id)).one()
    return {
        "id": hold.id,
        "gtin": g,
        "lot": lo,
        "reason": hold.reason,
        "trigger_event_id": hold.trigger_event_id,
        "created_at": iso(hold.created_at),
        "released_at": iso(hold.released_at),
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
    }

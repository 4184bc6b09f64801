"""What a scan shows of a lot: its active recall and hold, read from the store only.

``active_rows`` is built once and run by every scan of a held or recalled lot; ``lot_flags`` lets
the scan path ask "is anything active?" in the same round trip as its item lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, cast, literal, null, union_all
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from cradletrace.recall.clock import iso
from cradletrace.store.models import Hold, Recall, RecallLot


@dataclass(frozen=True)
class LotStatus:
    recall: dict[str, Any] | None
    hold: dict[str, Any] | None


# Built once: every scan of a held or recalled lot runs it. One round trip for both: the lot's
# active recalls and holds, oldest first (the first of each kind is shown). ``lot_flags`` lets
# the scan path ask "is anything active?" in the same round trip as its item lookup.
def _active_recall(lot_id: Any) -> Any:
    # A drill (a mock recall) never shows on the scan page: consumers must not be told of it.
    return (RecallLot.lot_id == lot_id) & col(Recall.closed_at).is_(None) & col(Recall.drill).is_(False)


def _active_hold(lot_id: Any) -> Any:
    return (Hold.lot_id == lot_id) & col(Hold.released_at).is_(None)


def active_rows(lot_id: Any) -> Any:
    """The active recalls and holds of ``lot_id`` (a value or a column), one row each, by kind and id."""
    return union_all(
        select_columns(
            literal("recall").label("kind"),
            col(Recall.id),
            col(Recall.reason),
            col(Recall.severity),
            col(Recall.started_at).label("since"),
            col(Recall.notice_digest),
            col(Recall.notice_status),
            col(Recall.tx_hash),
            cast(null(), Integer).label("trigger_event_id"),
        )
        .join(RecallLot, col(RecallLot.recall_id) == col(Recall.id))
        .where(_active_recall(lot_id)),
        select_columns(
            literal("hold"),
            col(Hold.id),
            col(Hold.reason),
            null(),
            col(Hold.created_at),
            null(),
            null(),
            null(),
            col(Hold.trigger_event_id),
        ).where(_active_hold(lot_id)),
    ).order_by("kind", "id")


STATUS_COLUMNS = (
    "kind",
    "id",
    "reason",
    "severity",
    "since",
    "notice_digest",
    "notice_status",
    "tx_hash",
    "trigger_event_id",
)
_ACTIVE = active_rows(bindparam("lot_id", type_=Integer))


def lot_flags(lot_id: Any) -> tuple[Any, Any]:
    """SQL booleans: ``lot_id`` (a column or value) has an active recall; has an active hold."""
    recall = (
        select(RecallLot.lot_id).join(Recall, col(RecallLot.recall_id) == col(Recall.id)).where(_active_recall(lot_id))
    )
    return recall.exists(), select(Hold.id).where(_active_hold(lot_id)).exists()


def lot_status(conn: Session | Connection, lot_id: int) -> LotStatus:
    """The active recall and hold of one lot, as the scan page shows them (read from the store only)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    return status_of(conn.execute(_ACTIVE, {"lot_id": lot_id}))


def status_of(rows: Iterable[Any]) -> LotStatus:
    """The status shown from ``active_rows``' rows (attributes named as STATUS_COLUMNS): the first of each kind."""
    first: dict[str, Any] = {}
    for row in rows:
        first.setdefault(row.kind, row)
    recall, hold = first.get("recall"), first.get("hold")
    return LotStatus(
        {
            "id": recall.id,
            "reason": recall.reason,
            "severity": recall.severity,
            "started_at": iso(recall.since),
            "notice_digest": recall.notice_digest,
            "notice_status": recall.notice_status,
            "tx_hash": recall.tx_hash,
            "do_not_use": True,
        }
        if recall
        else None,
        {"reason": hold.reason, "since": iso(hold.since), "trigger_event_id": hold.trigger_event_id} if hold else None,
    )


NO_STATUS = LotStatus(None, None)

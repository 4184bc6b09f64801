"""Supplier events: record one or up to 10 000 at once (all or nothing), read them back.

The body is parsed strictly (StrictJsonMiddleware: no duplicate keys, bounded depth, exact numbers), so
the bytes a supplier signed are the bytes that get hashed. A supplier key records only events
naming its own supplier, and each must carry a valid signature by one of that supplier's keys.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from cradletrace import recording
from cradletrace.api.deps import JsonBody, ReaderDep, SessionDep, SupplierDep, WorkspaceDep, check_own
from cradletrace.api.errors import ApiError, responses
from cradletrace.api.models import (
    Anchoring,
    EventKind,
    EventPage,
    EventPublic,
    EventSummary,
    Recorded,
    RecordedEvent,
)
from cradletrace.apikeys import Caller
from cradletrace.errors import Problem
from cradletrace.events import find_event
from cradletrace.store.models import AnchorBatch, EventRow
from cradletrace.store.states import BatchStatus, EventAnchoring

router = APIRouter(prefix="/events", tags=["events"])

_signed = {"$ref": "#/components/schemas/SignedEvent"}
_BODY: dict[str, Any] = {
    "required": True,
    "description": f"One signed event, or a list of 1-{recording.MAX_EVENTS} recorded all together or not at all.",
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [_signed, {"type": "array", "items": _signed, "minItems": 1, "maxItems": recording.MAX_EVENTS}]
            }
        }
    },
}


def anchoring_of(batch: AnchorBatch | None) -> Anchoring:
    if batch is None:
        return Anchoring(status=EventAnchoring.PENDING)
    return Anchoring(
        status=EventAnchoring.ANCHORED if batch.status == BatchStatus.CONFIRMED else EventAnchoring.PREPARED,
        batch_id=batch.id,
        root="0x" + batch.root,
        leaf_count=batch.leaf_count,
        chain_id=batch.chain_id,
        contract=batch.contract,
        block_number=batch.block_number,
        block_time=batch.block_time,
        tx_hash=batch.tx_hash,
    )


def _refuse_others(caller: Caller, items: list[recording.Submission]) -> None:
    """A supplier key writes only as its own supplier, whatever signature the event carries."""
    problems = [
        Problem(f"events[{i}].supplier", f"expected {caller.supplier_id!r} (the key's supplier), got {sid!r}")
        for i, item in enumerate(items)
        if isinstance(item.event, dict)
        and "supplier" in item.event
        and (sid := item.event["supplier"]) != caller.supplier_id
    ]
    if problems:
        raise ApiError(
            403,
            f"not allowed: a supplier key records only events of its own supplier; {problems[0].where} names another",
            problems,
        )


@router.post(
    "",
    status_code=201,
    response_model=Recorded,
    openapi_extra={"requestBody": _BODY},
    responses=responses(401, 403, 409, 422),
)
def record_events(body: JsonBody, session: SessionDep, caller: SupplierDep, workspace: WorkspaceDep) -> Recorded:
    """Record signed events (supplier key): every one is checked, then all are stored, or none."""
    items = recording.read_submissions(body)
    _refuse_others(caller, items)
    rows = recording.record_submissions(session, items, datetime.now(UTC), workspace.limits)
    session.commit()
    return Recorded(
        count=len(rows),
        events=[RecordedEvent.of(r) for r in rows],
    )


def _batches(session: Session, ids: set[int]) -> dict[int, AnchorBatch]:
    if not ids:
        return {}
    return {b.id: b for b in session.exec(select(AnchorBatch).where(col(AnchorBatch.id).in_(ids))) if b.id is not None}


@router.get("", response_model=EventPage, responses=responses(401, 403, 422))
def list_events(
    session: SessionDep,
    caller: ReaderDep,
    supplier: Annotated[
        str | None, Query(max_length=63, description="Supplier id (a supplier key sees only its own)")
    ] = None,
    kind: EventKind | None = None,
    gtin: Annotated[str | None, Query(max_length=14)] = None,
    lot: Annotated[str | None, Query(max_length=20)] = None,
    pending: Annotated[bool | None, Query(description="true: not yet anchored; false: in a root")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Return events with an id above this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events in id order, filtered (operator and quality: all; a supplier key: its own)."""
    if caller.role == "supplier":
        check_own(caller, supplier or str(caller.supplier_id))
        supplier = caller.supplier_id
    q = select_columns(
        *(
            col(c)
            for c in (
                EventRow.id,
                EventRow.digest,
                EventRow.kind,
                EventRow.supplier_id,
                EventRow.key_id,
                EventRow.gtin,
                EventRow.lot,
                EventRow.ref,
                EventRow.outcome,
                EventRow.recorded_at,
                EventRow.anchor_id,
            )
        )
    )
    if supplier is not None:
        q = q.where(col(EventRow.supplier_id) == supplier)
    if kind is not None:
        q = q.where(col(EventRow.kind) == kind)
    if gtin is not None:
        q = q.where(col(EventRow.gtin) == gtin)
    if lot is not None:
        q = q.where(col(EventRow.lot) == lot)
    if pending is not None:
        q = q.where(col(EventRow.anchor_id).is_(None) if pending else col(EventRow.anchor_id).is_not(None))
    if after is not None:
        q = q.where(col(EventRow.id) > after)
    rows = session.execute(q.order_by(col(EventRow.id)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    batches = _batches(session, {r.anchor_id for r in rows if r.anchor_id is not None})
    items = [
        EventSummary.of(
            r,
            recorded_at=r.recorded_at,
            anchoring=anchoring_of(batches.get(r.anchor_id) if r.anchor_id is not None else None),
        )
        for r in rows
    ]
    return EventPage(items=items, next_after=items[-1].id if more else None)


@router.get("/{ref}", response_model=EventPublic, responses=responses(401, 403, 404, 422))
def get_event(ref: str, session: SessionDep, caller: ReaderDep) -> EventPublic:
    """One event by id or digest (8+ hex digits), with where it stands on the way to the chain."""
    row = find_event(session, ref)
    check_own(caller, row.supplier_id)
    batch = session.get(AnchorBatch, row.anchor_id) if row.anchor_id is not None else None
    assert row.id is not None
    return EventPublic.of(
        row,
        recorded_at=row.recorded_at,
        anchoring=anchoring_of(batch),
        event=json.loads(row.body),
        signature=row.signature,
    )

"""Traces (quality staff and operators): forward from a problem to everything it reached, backward
from a pack or lot to everything behind it. Answers carry the path that explains each lot.

The body is ``genealogy.trace_json``, the same JSON ``cradletrace trace ... --json`` prints; the
models below describe it for the OpenAPI document (and check it on the way out). Where the JSON
is a genealogy dataclass field for field (shipment legs, suppliers, evidence), the dataclass is the model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cradletrace.api.deps import SessionDep, require
from cradletrace.api.errors import responses
from cradletrace.apikeys import Caller
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.recall import genealogy, unittrace

router = APIRouter(prefix="/trace", tags=["trace"])
TracerDep = Annotated[Caller, Depends(require("quality", "operator"))]
LotQuery = Annotated[str | None, Query(description="A lot as GTIN/LOT, e.g. 09421902960001/RM-A1")]


class LotOut(BaseModel):
    gtin: str
    lot: str


class TraceStart(BaseModel):
    kind: Literal["lot", "supplier", "event", "site_window", "serial", "case", "pallet"]
    value: str = Field(
        description="What was asked for: GTIN/LOT, supplier id, event id, serial, or a unit's code "
        "(01/<GTIN>/21/<serial> for a case, 00/<SSCC> for a pallet)"
    )
    lots: list[LotOut] = Field(description="The lots the trace started from")
    event_kind: str | None = Field(default=None, description="Only for an event start: test_report or cold_chain")
    outcome: str | None = Field(default=None, description="Only for an event start: its computed outcome")


class TracedLotOut(LotOut):
    product: str
    supplier: str
    depth: int = Field(description="Steps from the nearest start lot")
    path: list[LotOut] = Field(description="Why this lot is reached: start lot first, this lot last")
    items: int = Field(description="Serialized items of this lot (forward; 0 backward)")
    scanned_items: int = Field(description="Of those, items scanned by consumers at least once (forward)")
    shipments: int = Field(description="Shipments of this lot (forward)")
    now_at: str | None = Field(description="Destination of this lot's latest shipment (forward)")


class AffectedItem(LotOut):
    serial: str


class ForwardCounts(BaseModel):
    lots: int
    items: int
    shipments: int
    sites: int
    scanned_items: int = Field(description="Distinct affected codes scanned by consumers")
    scans: int
    packed_items: int = Field(description="Affected cans named by a pack, move or sale record")
    cases: int = Field(description="Cases holding affected cans now")
    pallets: int = Field(description="Pallets holding affected cases or cans now")
    sold_cases: int = Field(description="Of those cases, sold ones")
    orders: int = Field(description="Orders (seller, order reference) that sold affected cans")
    sold_items: int = Field(description="Affected cans sold, each once (alone or in its case)")


class ReceivedOut(BaseModel):
    gln: str = Field(description="GLN (AI 414) of the place of the unit's last receiving")
    extension: str | None = Field(description="Its sub-location (AI 254)")
    name: str | None = Field(description="Name of the supplier that received it there")
    supplier: str | None
    at: str | None
    event_id: int | None


class HoldingUnitOut(BaseModel):
    code: str = Field(description="01/<GTIN>/21/<serial> (case) or 00/<SSCC> (pallet)")
    kind: Literal["case", "pallet"]
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None
    parent: str | None = Field(description="The pallet a case is on now")
    cans: int = Field(description="Affected cans inside it now, at any depth")
    cases: int | None = Field(default=None, description="Pallets: the cases holding affected cans on it")
    last_received: ReceivedOut | None = Field(description="Its last receiving: place, time, receiver")
    sold: bool
    sold_event_id: int | None


class OrderOut(BaseModel):
    order: str = Field(description="The seller's order reference")
    seller: str
    seller_name: str
    sold_at: str = Field(description="Its first sale event's time")
    items: int = Field(description="Affected cans it sold")
    units: list[str] = Field(description="The units its sale events named (cans or cases)")
    buyers: list[str] = Field(description="Buyer pseudonyms (keyed HMAC); never a contact")
    event_ids: list[int]


class NotFollowedOut(LotOut):
    reason: Literal["did_not_occur"]
    correction: str = Field(description="Digest of the signed correction that declared its batch event void")


NOT_FOLLOWED = "Lots whose batch event its maker declared did_not_occur: the inputs it named were not followed"


class ForwardTraceOut(BaseModel):
    direction: Literal["forward"]
    start: TraceStart
    lots: list[TracedLotOut]
    shipments: list[genealogy.ShipmentLeg]
    sites: list[str] = Field(description="Where affected goods are now (each lot's latest destination)")
    cases: list[HoldingUnitOut] = Field(description="Cases holding affected cans now")
    pallets: list[HoldingUnitOut] = Field(description="Pallets holding affected cases or cans now")
    counts: ForwardCounts
    not_followed: list[NotFollowedOut] = Field(description=NOT_FOLLOWED)
    orders: list[OrderOut] | None = Field(
        default=None, description="Quality staff only: the orders that sold affected cans (counts: everyone)"
    )
    items: list[AffectedItem] | None = Field(
        default=None, description="Only with ?items=N: the first N affected serials"
    )


class BackwardCounts(BaseModel):
    lots: int
    suppliers: int
    test_reports: int
    cold_chain: int


class BackwardTraceOut(BaseModel):
    direction: Literal["backward"]
    start: TraceStart
    lots: list[TracedLotOut]
    suppliers: list[genealogy.SupplierRef]
    test_reports: list[genealogy.EvidenceRecord]
    cold_chain: list[genealogy.EvidenceRecord]
    counts: BackwardCounts
    not_followed: list[NotFollowedOut] = Field(description=NOT_FOLLOWED)


# exclude_unset: keys the trace JSON leaves out (an event start's kind, ``items`` not asked for) stay out.
@router.get(
    "/forward",
    response_model=ForwardTraceOut,
    response_model_exclude_unset=True,
    responses=responses(401, 403, 404, 422),
)
def forward(
    session: SessionDep,
    caller: TracerDep,
    lot: LotQuery = None,
    supplier: Annotated[str | None, Query(description="Every lot this supplier produced")] = None,
    event: Annotated[
        str | None,
        Query(description="A failed test report or cold-chain excursion (id, digest or its first 8+ hex digits)"),
    ] = None,
    items: Annotated[int, Query(ge=0, le=100_000, description="Also list the first N affected item serials")] = 0,
) -> dict[str, Any]:
    """Every affected lot (with its path), item counts, shipments, sites where goods are now, scans,
    the cases and pallets holding affected cans (last received where, sold or not) and the orders
    that sold them: counts for everyone, the list of orders (buyer pseudonyms) for quality staff."""
    given = [k for k, v in (("lot", lot), ("supplier", supplier), ("event", event)) if v]
    if len(given) != 1:
        raise InvalidInputError(Problem("lot/supplier/event", f"expected exactly one start, got {len(given)}"))
    t = genealogy.trace_forward(
        session, lot=genealogy.parse_gtin_lot(lot) if lot else None, supplier=supplier, event=event
    )
    return genealogy.trace_json(
        t,
        genealogy.affected_items(session, t.lot_ids, limit=items) if items else None,
        orders=caller.role == "quality",
    )


@router.get(
    "/backward",
    response_model=BackwardTraceOut,
    response_model_exclude_unset=True,
    responses=responses(401, 403, 404, 422),
)
def backward(
    session: SessionDep,
    caller: TracerDep,
    lot: LotQuery = None,
    serial: Annotated[str | None, Query(description="An item's serial (AI 21)")] = None,
    case: Annotated[
        str | None, Query(description="A case: GTIN/SERIAL or its Digital Link (…/01/<GTIN>/21/<serial>)")
    ] = None,
    sscc: Annotated[
        str | None, Query(description="A pallet: its SSCC (18 digits) or Digital Link (…/00/<SSCC>)")
    ] = None,
) -> dict[str, Any]:
    """Every input lot (with its path), their suppliers, test reports and cold-chain records; from a
    case or pallet, of the lots of the cans in it (now, or packed into it by a recorded pack)."""
    given = [k for k, v in (("lot", lot), ("serial", serial), ("case", case), ("sscc", sscc)) if v]
    if len(given) != 1:
        raise InvalidInputError(
            Problem("lot/serial/case/sscc", f"expected exactly one of lot, serial, case and sscc, got {len(given)}")
        )
    unit = None
    if case or sscc:
        unit = unittrace.unit_code(case or sscc or "", given[0], given[0])
    return genealogy.trace_json(
        genealogy.trace_backward(
            session,
            serial=serial,
            lot=genealogy.parse_gtin_lot(lot) if lot else None,
            unit=unit,
            unit_field=given[0],
        )
    )

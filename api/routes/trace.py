"""Traces (quality staff and operators): forward from a problem to everything it reached, backward
from a pack or lot to everything behind it. Answers carry the path that explains each lot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cradletrace import genealogy
from cradletrace.api.deps import SessionDep, require
from cradletrace.api.errors import responses
from cradletrace.apikeys import Caller
from cradletrace.errors import InvalidInputError, Problem

router = APIRouter(prefix="/trace", tags=["trace"])
TracerDep = Annotated[Caller, Depends(require("quality", "operator"))]
LotQuery = Annotated[str | None, Query(description="A lot as GTIN/LOT, e.g. 09421902960001/RM-A1")]


@router.get("/forward", response_model=genealogy.ForwardTrace, responses=responses(401, 403, 404, 422))
def forward(session: SessionDep, caller: TracerDep, lot: LotQuery = None,
            supplier: Annotated[str | None, Query(description="Every lot this supplier produced")] = None,
            event: Annotated[str | None, Query(description="A failed test report or cold-chain excursion (id or digest)")] = None,
            ) -> genealogy.ForwardTrace:
    """Every affected lot (with its path), item counts, shipments, sites where goods are now, scans."""
    given = [k for k, v in (("lot", lot), ("supplier", supplier), ("event", event)) if v]
    if len(given) != 1:
        raise InvalidInputError(Problem("lot/supplier/event", f"expected exactly one start, got {len(given)}"))
    return genealogy.trace_forward(session, lot=genealogy.parse_lot(lot) if lot else None, supplier=supplier, event=event)


@router.get("/backward", response_model=genealogy.BackwardTrace, responses=responses(401, 403, 404, 422))
def backward(session: SessionDep, caller: TracerDep, lot: LotQuery = None,
             serial: Annotated[str | None, Query(description="An item's serial (AI 21)")] = None,
             ) -> genealogy.BackwardTrace:
    """Every input lot (with its path), their suppliers, test reports and cold-chain records."""
    if bool(lot) == bool(serial):
        raise InvalidInputError(Problem("lot/serial", "expected exactly one of lot and serial"))
    return genealogy.trace_backward(session, serial=serial, lot=genealogy.parse_lot(lot) if lot else None)

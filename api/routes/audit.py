"""Audit (quality staff): re-verify every event (pending ones too, without a proof) and every root the contract holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cradletrace import verification
from cradletrace.api.deps import ChainDep, QualityDep, SessionDep
from cradletrace.api.errors import responses
from cradletrace.api.models import AuditPublic, BadEvent

router = APIRouter(prefix="/audit", tags=["audit"])


@router.post("", response_model=AuditPublic, responses=responses(401, 403, 422, 502))
def run_audit(
    session: SessionDep,
    chain: ChainDep,
    caller: QualityDep,
    skip_signatures: Annotated[bool, Query(description="Check hashes, proofs and roots only")] = False,
) -> AuditPublic:
    """A full audit; ``ok`` is false when any event or root disagrees with the chain."""
    report = verification.audit(session, chain, check_signatures=not skip_signatures)
    return AuditPublic(
        ok=report.ok,
        events_checked=report.events_checked,
        events_pending=report.events_pending,
        roots_checked=report.roots_checked,
        bad_events=[BadEvent(id=i, digest=d, reason=r) for i, d, r in report.bad_events],
        problems=report.problems,
    )

"""Anchoring on demand (operator): what the background thread does every few seconds, now."""

from __future__ import annotations

from fastapi import APIRouter

from cradletrace.api.deps import OperatorDep, RuntimeDep
from cradletrace.api.errors import responses
from cradletrace.api.models import AnchoredRoot, AnchorRun

router = APIRouter(prefix="/anchor", tags=["anchor"])


@router.post("", response_model=AnchorRun, responses=responses(401, 403, 409, 502))
def anchor_now(runtime: RuntimeDep, caller: OperatorDep) -> AnchorRun:
    """Finish interrupted roots, then put every pending event under a new root on chain."""
    results = runtime.anchor_now()
    return AnchorRun(
        events=sum(r.leaf_count for r in results),
        anchored=[
            AnchoredRoot(
                batch_id=r.batch_id,
                root="0x" + r.root,
                leaf_count=r.leaf_count,
                tx_hash=r.tx_hash,
                block_number=r.block_number,
                block_time=r.block_time,
                recovered=r.recovered,
            )
            for r in results
        ],
    )

"""Proof bundles and verification: one event against the chain, or a bundle someone holds.

Verification really recomputes: the stored bytes' hash, the signature, the Merkle proof, and
the root as the contract holds it. ``POST /verify-bundle`` is public: it needs nothing of ours
but the chain, and checks the bundle against the contract this server anchors to.
"""

from __future__ import annotations

from fastapi import APIRouter

from cradletrace import verification
from cradletrace.api.deps import ChainDep, RawBody, ReaderDep, SessionDep, check_own, rate_limited
from cradletrace.api.errors import ApiError, responses
from cradletrace.api.models import ProofBundle, VerdictPublic
from cradletrace.chain.base import Anchor
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.events import find_event
from cradletrace.store.models import AnchorBatch
from cradletrace.store.states import BatchStatus

router = APIRouter(tags=["proofs"])


def _public(v: verification.Verdict) -> VerdictPublic:
    return VerdictPublic(
        status=v.status,
        reasons=list(v.reasons),
        event_id=v.event_id,
        digest=v.digest,
        root=v.root,
        block_number=v.block_number,
        tx_hash=v.tx_hash,
        local_chain=v.local_chain,
        notes=list(v.notes),
    )


@router.get(
    "/events/{ref}/proof",
    response_model=ProofBundle,
    response_model_exclude_unset=True,  # no "key" member until the key's own proofs are given
    responses=responses(401, 403, 404, 409, 422),
)
def get_proof(ref: str, session: SessionDep, chain: ChainDep, caller: ReaderDep) -> ProofBundle:
    """The proof bundle of an anchored event: verifiable with the chain alone (``cradletrace verify-bundle``)."""
    row = find_event(session, ref)
    check_own(caller, row.supplier_id)
    batch = session.get(AnchorBatch, row.anchor_id) if row.anchor_id is not None else None
    if batch is None or batch.status != BatchStatus.CONFIRMED:
        raise ApiError(409, f"event {row.id} is not anchored yet; its proof exists once its root is confirmed on chain")
    return ProofBundle.model_validate(verification.export_bundle(session, chain, str(row.id)))


@router.get("/events/{ref}/verify", response_model=VerdictPublic, responses=responses(401, 403, 404, 422, 502))
def verify_event(ref: str, session: SessionDep, chain: ChainDep, caller: ReaderDep) -> VerdictPublic:
    """VALID, INVALID (with reasons) or PENDING, computed now against the chain."""
    check_own(caller, find_event(session, ref).supplier_id)
    return _public(verification.verify_event(session, chain, ref))


VERIFY_LIMITED = "too many bundles from this address; retry after the seconds in Retry-After"


@router.post(
    "/verify-bundle",
    response_model=VerdictPublic,
    responses=responses(422, 429, 502),
    dependencies=[rate_limited(lambda runtime: runtime.verify_limiter, VERIFY_LIMITED)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProofBundle"}}},
        }
    },
)
def verify_bundle(body: RawBody, chain: ChainDep) -> VerdictPublic:
    """Public. Check a bundle: content, signature and proof, then its root on this server's chain.
    Limited per client address (Settings.verify_rate_per_minute): each check reads the chain."""
    bundle = verification.read_bundle(body)

    def chain_for(chain_id: int, contract: str) -> Anchor | str:
        if chain_id != chain.chain_id:
            raise InvalidInputError(
                Problem(
                    "bundle.chain.chain_id",
                    f"expected chain id {chain.chain_id} (the chain this server reads), got {chain_id}",
                )
            )
        if contract.lower() != chain.contract_address.lower():
            raise InvalidInputError(
                Problem(
                    "bundle.chain.contract",
                    f"expected {chain.contract_address} (the contract this server anchors to), got {contract}",
                )
            )
        return chain

    return _public(verification.verify_bundle(bundle, chain_for))

"""The anchoring worker: pending events -> one Merkle tree -> one root on chain -> proofs stored.

Crash safety comes from ordering, not from luck:

1. *prepare*: in one database transaction, the pending events get their batch, leaf index
   and proof, and the batch row (root, leaf count) is stored as ``prepared``. Nothing is sent yet.
2. *send*: ``anchor(root, leafCount)``; the contract refuses a root it already holds.
3. *confirm*: one update marks the batch ``confirmed`` with tx hash, block and block time.

A process killed between 1 and 2 leaves a prepared batch whose root is not on chain: the next
run sends it. Killed between 2 and 3: the root is on chain, so the next run only asks the
contract and confirms. An unreachable chain leaves the batch prepared. An event belongs to one
batch forever, and a root is sent only while the contract does not hold it, so no event is
lost and none is anchored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from cradletrace.chain.base import Anchor, OnChainRoot, TxReceipt
from cradletrace.core.merkle import build_tree
from cradletrace.errors import ChainRevertedError
from cradletrace.store.models import AnchorBatch, EventRow, utcnow

MAX_LEAVES = 1_000_000
PREPARED, CONFIRMED = "prepared", "confirmed"


@dataclass(frozen=True)
class AnchorResult:
    """One root that reached the chain in this run."""

    batch_id: int
    root: str
    leaf_count: int
    tx_hash: str | None
    block_number: int
    block_time: datetime
    recovered: bool  # True when an earlier, interrupted run had prepared it


def prepare_batch(session: Session, chain: Anchor, max_leaves: int = MAX_LEAVES) -> AnchorBatch | None:
    """Give every pending event (up to ``max_leaves``) its proof under one new root."""
    pending = session.exec(
        select(EventRow.id, EventRow.digest).where(col(EventRow.anchor_id).is_(None))
        .order_by(col(EventRow.id)).limit(max_leaves)
    ).all()
    if not pending:
        return None
    digests = [bytes.fromhex(d) for _, d in pending]
    tree = build_tree(digests)
    batch = AnchorBatch(root=tree.root.hex(), leaf_count=len(pending), status=PREPARED,
                        contract=chain.contract_address, chain_id=chain.chain_id, created_at=utcnow())
    session.add(batch)
    session.flush()
    rows = [{"id": eid, "anchor_id": batch.id, "proof": ",".join(p.hex() for p in tree.proof(d))}
            for (eid, _), d in zip(pending, digests)]
    # Only still-pending rows are claimed; a concurrent worker's claim makes the counts differ.
    session.execute(update(EventRow).where(col(EventRow.anchor_id).is_(None)), rows,
                    execution_options={"synchronize_session": False})
    claimed = session.exec(select(EventRow.id).where(EventRow.anchor_id == batch.id)).all()
    if len(claimed) != len(pending):
        raise RuntimeError(f"anchoring: claimed {len(claimed)} of {len(pending)} events; another worker is anchoring")
    return batch


def _confirm(session: Session, batch: AnchorBatch, receipt: TxReceipt | OnChainRoot, tx_hash: str | None) -> None:
    batch.status = CONFIRMED
    batch.tx_hash = tx_hash
    batch.block_number = receipt.block_number
    batch.block_time = receipt.block_time
    session.add(batch)


def _send_or_find(chain: Anchor, batch: AnchorBatch) -> tuple[TxReceipt | OnChainRoot, str | None]:
    """Put the batch's root on chain unless it is there already."""
    root = bytes.fromhex(batch.root)
    found = chain.lookup(root)
    if found is None:
        try:
            receipt = chain.anchor(root, batch.leaf_count)
            return receipt, receipt.tx_hash
        except ChainRevertedError as exc:
            if exc.reason != "TraceAnchorRootAlreadyAnchored":
                raise
            found = chain.lookup(root)
            if found is None:
                raise
    if found.leaf_count != batch.leaf_count:
        raise ChainRevertedError(
            f"root {batch.root} is on chain with {found.leaf_count} leaves; the store expects {batch.leaf_count}")
    tx_of = getattr(chain, "tx_of", None)
    return found, tx_of(root) if tx_of else None


def anchor_pending(session_factory: Callable[[], Session], chain: Anchor, max_leaves: int = MAX_LEAVES) -> list[AnchorResult]:
    """Finish interrupted batches, then anchor everything pending. Returns the roots confirmed."""
    results: list[AnchorResult] = []
    with session_factory() as s:
        open_ids = s.exec(select(AnchorBatch.id).where(AnchorBatch.status == PREPARED,
                                                       AnchorBatch.contract == chain.contract_address)
                          .order_by(col(AnchorBatch.id))).all()
    for bid in open_ids:
        results.append(_finish(session_factory, chain, bid, recovered=True))
    while True:
        with session_factory() as s:
            batch = prepare_batch(s, chain, max_leaves)
            if batch is None:
                break
            s.commit()
            bid = batch.id
        assert bid is not None
        results.append(_finish(session_factory, chain, bid, recovered=False))
    return results


def _finish(session_factory: Callable[[], Session], chain: Anchor, batch_id: int, recovered: bool) -> AnchorResult:
    with session_factory() as s:
        batch = s.get(AnchorBatch, batch_id)
        assert batch is not None
        receipt, tx_hash = _send_or_find(chain, batch)
        _confirm(s, batch, receipt, tx_hash)
        s.commit()
        return AnchorResult(batch_id, batch.root, batch.leaf_count, tx_hash, receipt.block_number,
                            receipt.block_time, recovered)


def watch(
    session_factory: Callable[[], Session],
    chain: Anchor,
    interval: float,
    report: Callable[[list[AnchorResult] | Exception], None],
    stop: Callable[[], bool] = lambda: False,
    run: Callable[[], list[AnchorResult]] | None = None,
) -> None:
    """Anchor every ``interval`` seconds until ``stop()``; chain errors are reported and retried.

    ``run`` replaces the plain ``anchor_pending`` (the CLI also sends recall notices)."""
    from cradletrace.errors import ChainError

    while not stop():
        started = time.monotonic()
        try:
            report(run() if run is not None else anchor_pending(session_factory, chain))
        except ChainError as exc:
            report(exc)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))

"""The anchoring worker: pending events -> one Merkle tree -> one root on chain -> proofs stored.

Crash safety comes from ordering, not from luck:

1. *prepare*: in one database transaction, the pending events get their batch, leaf index
   and proof, and the batch row (root, leaf count) is stored as ``prepared``. Nothing is sent yet.
2. *send*: ``anchor(root, leafCount)`` is signed, its hash and nonce stored (``sent``; every
   hash signed for the batch is kept), then broadcast; the contract refuses a root it already holds.
3. *confirm*: once the transaction is mined and ``confirmations`` blocks follow it, one update
   marks the batch ``confirmed`` with tx hash, block and block time.

A process killed between 1 and 2 leaves a prepared batch whose root is not on chain: the next
run sends it. Killed after 2: the next run asks the contract first (``anchorOf``) and, if the root
is there, only confirms; if not, it looks every stored transaction of the batch up: one still in
the node's pool is waited on and, if it stays stuck past the receipt timeout, replaced (same
nonce, higher fees); when the node knows none of them (never broadcast, or dropped), the root is
sent anew at the batch's nonce while that nonce is unused, never at a new nonce beside an
attempt that may still be pending (issue 19: that put a root in two transactions). An
unreachable chain leaves the batch as it was. A chain reorganisation that drops a confirmed root within
``reorg_window`` blocks of the head is noticed on the next run, and the batch goes back to ``sent``
and is anchored again with the same root and proofs. An event belongs to one batch forever, and a
root is sent only while the contract does not hold it, so no event is lost and none is anchored twice.

``CRADLETRACE_FAULT_PAUSE`` (tests only), e.g. ``before_send=0.5,in_commit=0.5`` (points:
``in_prepare``, ``before_send``, ``in_commit``, ``before_broadcast``, ``after_send``): at each named
point the worker prints ``fault-pause <point>`` to stderr and sleeps that long, so a fault test can
kill it exactly there. It only waits; it never changes what the worker does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from cradletrace import recording
from cradletrace.chain.base import Anchor
from cradletrace.core.merkle import build_tree
from cradletrace.errors import AnchoringBusyError, ChainRevertedError
from cradletrace.store.models import AnchorBatch, EventRow, utcnow
from cradletrace.store.states import BatchStatus

MAX_LEAVES = 1_000_000
#: A worker's run (AnchorWorker) cuts its first new batch of at most this many events, each next one
#: four times as many (up to ``max_leaves``): a worker restarted every few seconds still commits and
#: sends something before it dies, instead of preparing one huge batch that every kill rolls back.
FIRST_LEAVES = 500
FAULT_PAUSE_ENV = "CRADLETRACE_FAULT_PAUSE"
ALREADY_ANCHORED = "TraceAnchorRootAlreadyAnchored"


def fault_pause(point: str) -> None:
    """Sleep at ``point`` when CRADLETRACE_FAULT_PAUSE names it (a window for kill -9 in tests)."""
    spec = os.environ.get(FAULT_PAUSE_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == point:
            print(f"fault-pause {point}", file=sys.stderr, flush=True)
            time.sleep(float(seconds or 0))


@dataclass(frozen=True)
class AnchorResult:
    """One root that became final in this run."""

    batch_id: int
    root: str
    leaf_count: int
    tx_hash: str | None
    block_number: int
    block_time: datetime
    recovered: bool  # True when an earlier, interrupted run had prepared it


@dataclass(frozen=True)
class _Included:
    """Where the chain holds a batch's root."""

    leaf_count: int
    block_number: int
    block_time: datetime
    tx_hash: str | None


@dataclass(frozen=True)
class Target:
    """The contract a batch is for: all ``prepare_batch`` needs, known before the chain is opened."""

    contract_address: str
    chain_id: int


def prepare_ahead(session: Session, contract: str, chain_id: int, max_leaves: int = FIRST_LEAVES) -> AnchorBatch | None:
    """Prepare (and commit) one bounded batch before the chain is opened, when nothing is open.

    Opening a JSON-RPC chain costs a fresh worker most of its first second (web3's import); a
    worker killed in that time has then still stored proofs for ``max_leaves`` events, and the
    next one only sends them. Only for the contract the last batch went to (same address as the
    store's ``meta`` records it, same chain id), so no batch is cut for a contract not yet used."""
    last = session.exec(select(AnchorBatch).order_by(col(AnchorBatch.id).desc()).limit(1)).first()
    if last is None or last.contract.lower() != contract.lower() or last.chain_id != chain_id:
        return None
    is_open = col(AnchorBatch.status).in_((BatchStatus.PREPARED, BatchStatus.SENT))
    if session.exec(select(AnchorBatch.id).where(is_open, AnchorBatch.contract == last.contract).limit(1)).first():
        return None  # the run finishes it first; cutting another now gains nothing
    batch = prepare_batch(session, Target(last.contract, chain_id), max_leaves)
    if batch is not None:
        session.commit()
    return batch


def prepare_batch(session: Session, chain: Anchor | Target, max_leaves: int = MAX_LEAVES) -> AnchorBatch | None:
    """Give every pending event (up to ``max_leaves``) its proof under one new root."""
    pending = session.exec(
        select(EventRow.id, EventRow.digest)
        .where(col(EventRow.anchor_id).is_(None))
        .order_by(col(EventRow.id))
        .limit(max_leaves)
    ).all()
    if not pending:
        return None
    digests = [bytes.fromhex(d) for _, d in pending]
    tree = build_tree(digests)
    batch = AnchorBatch(
        root=tree.root.hex(),
        leaf_count=len(pending),
        status=BatchStatus.PREPARED,
        contract=chain.contract_address,
        chain_id=chain.chain_id,
        created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    rows = [
        {"id": eid, "anchor_id": batch.id, "proof": ",".join(p.hex() for p in tree.proof(d))}
        for (eid, _), d in zip(pending, digests)
    ]
    # Only still-pending rows are claimed; a concurrent worker's claim makes the counts differ.
    recording.attach_proofs(session, rows)
    claimed = session.exec(select(EventRow.id).where(EventRow.anchor_id == batch.id)).all()
    if len(claimed) != len(pending):
        raise AnchoringBusyError(
            f"anchoring: claimed {len(claimed)} of {len(pending)} pending events; another worker claimed the rest first"
        )
    return batch


def oldest_pending(session: Session) -> datetime | None:
    """When the oldest event not yet under a confirmed root was recorded; None when none waits.

    Events in a batch that is prepared or sent count as pending too: a transaction stuck in the
    pool (or a chain that refuses it) holds them up as surely as a stopped worker."""
    unbatched = session.exec(select(func.min(EventRow.recorded_at)).where(col(EventRow.anchor_id).is_(None))).one()
    open_ids = select(AnchorBatch.id).where(AnchorBatch.status != BatchStatus.CONFIRMED)
    batched = session.exec(select(func.min(EventRow.recorded_at)).where(col(EventRow.anchor_id).in_(open_ids))).one()
    times = [t for t in (unbatched, batched) if t is not None]
    return min(times) if times else None


def pending_age(session: Session, now: datetime | None = None) -> float:
    """Seconds the oldest pending event has waited (``oldest_pending``); 0.0 when none waits."""
    oldest = oldest_pending(session)
    if oldest is None:
        return 0.0
    return max(0.0, ((now or utcnow()) - oldest).total_seconds())


def _no_fence() -> None:
    pass


def anchor_pending(
    session_factory: Callable[[], Session],
    chain: Anchor,
    max_leaves: int = MAX_LEAVES,
    *,
    first_leaves: int | None = None,
    confirmations: int = 0,
    reorg_window: int = 0,
    fence: Callable[[], None] = _no_fence,
) -> list[AnchorResult]:
    """Re-check recent roots, finish interrupted batches, then anchor everything pending.

    Returns the batches that became final (``confirmations`` blocks deep) in this run; a batch
    mined but not yet deep enough stays ``sent`` for a later run. With ``first_leaves`` new
    batches grow from that many events by a factor of four up to ``max_leaves`` (the worker
    passes FIRST_LEAVES); without, each takes up to ``max_leaves``. ``fence()`` runs before every
    transaction and raises when this worker may no longer send (it lost the leader lock)."""
    if reorg_window and not chain.local:
        _recheck_confirmed(session_factory, chain, confirmations, reorg_window)
    results: list[AnchorResult] = []
    with session_factory() as s:
        open_ids = s.exec(
            select(AnchorBatch.id)
            .where(
                col(AnchorBatch.status).in_((BatchStatus.PREPARED, BatchStatus.SENT)),
                AnchorBatch.contract == chain.contract_address,
            )
            .order_by(col(AnchorBatch.id))
        ).all()
    for bid in open_ids:
        assert bid is not None
        done, _ = _finish(session_factory, chain, bid, True, confirmations, fence)
        if done is not None:
            results.append(done)
    limit = max(1, min(first_leaves or max_leaves, max_leaves))
    while True:
        with session_factory() as s:
            batch = prepare_batch(s, chain, limit)
            if batch is None:
                break
            fault_pause("in_prepare")
            s.commit()
            bid = batch.id
        assert bid is not None
        leaves = batch.leaf_count
        done, mined = _finish(session_factory, chain, bid, False, confirmations, fence)
        if done is not None:
            results.append(done)
        if not mined:
            break  # the chain is not mining ours now: no more transactions behind this one
        if leaves < limit:
            # Everything pending when this batch was cut is in it. What arrived since waits for the
            # next run: chasing it sent one small root after another under steady arrivals (5 328
            # roots in a 10-minute soak, ~1 400 gas per event) for no gain in anchoring lag.
            break
        limit = min(limit * 4, max_leaves)
    return results


def _recheck_confirmed(session_factory: Callable[[], Session], chain: Anchor, confirmations: int, window: int) -> None:
    """Reopen confirmed batches whose root a reorganisation took off the chain (or moved)."""
    head = chain.block_number()
    with session_factory() as s:
        recent = s.exec(
            select(AnchorBatch)
            .where(
                AnchorBatch.status == BatchStatus.CONFIRMED,
                AnchorBatch.contract == chain.contract_address,
                col(AnchorBatch.block_number) >= head - window,
            )
            .order_by(col(AnchorBatch.id))
        ).all()
        for batch in recent:
            found = chain.lookup(bytes.fromhex(batch.root))
            if found is not None and found.block_number == batch.block_number:
                continue
            if found is None:  # dropped: the next step re-sends it (or waits if the node re-pooled it)
                batch.status, batch.block_number, batch.block_time = BatchStatus.SENT, None, None
            else:  # re-mined in another block (perhaps by another of our transactions): final once deep enough
                batch.block_number, batch.block_time = found.block_number, found.block_time
                batch.tx_hash = chain.tx_of(found.root, found.block_number) or batch.tx_hash
                if head - found.block_number < confirmations:
                    batch.status = BatchStatus.SENT
            s.add(batch)
        s.commit()


def _finish(
    session_factory: Callable[[], Session],
    chain: Anchor,
    batch_id: int,
    recovered: bool,
    confirmations: int,
    fence: Callable[[], None],
) -> tuple[AnchorResult | None, bool]:
    """Put one batch on chain and confirm it once final; returns (result if final, mined)."""
    with session_factory() as s:
        batch = s.get(AnchorBatch, batch_id)
        assert batch is not None
        if batch.status == BatchStatus.CONFIRMED:  # another worker finished it meanwhile
            return None, True
        inc = _put_on_chain(s, chain, batch, fence)
        if inc is None:
            return None, False  # sent, not mined yet: the next run waits for it or replaces it
        if inc.leaf_count != batch.leaf_count:
            raise ChainRevertedError(
                f"root {batch.root} is on chain with {inc.leaf_count} leaves; the store expects {batch.leaf_count}"
            )
        final = confirmations == 0 or chain.block_number() - inc.block_number >= confirmations
        batch.status = BatchStatus.CONFIRMED if final else BatchStatus.SENT
        batch.tx_hash = inc.tx_hash or batch.tx_hash
        batch.block_number = inc.block_number
        batch.block_time = inc.block_time
        s.add(batch)
        s.flush()
        fault_pause("in_commit")
        s.commit()
        if not final:
            return None, True
        return AnchorResult(
            batch_id, batch.root, batch.leaf_count, batch.tx_hash, inc.block_number, inc.block_time, recovered
        ), True


def _found(chain: Anchor, root: bytes) -> _Included | None:
    found = chain.lookup(root)
    if found is None:
        return None
    return _Included(found.leaf_count, found.block_number, found.block_time, chain.tx_of(root, found.block_number))


def _put_on_chain(s: Session, chain: Anchor, batch: AnchorBatch, fence: Callable[[], None]) -> _Included | None:
    """Get the batch's root on chain unless it is there already; None while it is not mined."""
    root = bytes.fromhex(batch.root)
    found = _found(chain, root)
    if found is not None:
        return found
    try:
        return _send_and_wait(s, chain, batch, root, fence)
    except ChainRevertedError as exc:
        if exc.reason != ALREADY_ANCHORED:
            raise
        return _found(chain, root)  # another transaction of ours (or a rival worker's) got there first


def attempts(batch: AnchorBatch) -> list[str]:
    """Every transaction hash signed for ``batch``, oldest first (stores before 0005 kept only the last)."""
    hashes = [h for h in (batch.tx_hashes or "").split(",") if h]
    if batch.tx_hash and batch.tx_hash not in hashes:
        hashes.append(batch.tx_hash)
    return hashes


def _send_and_wait(
    s: Session, chain: Anchor, batch: AnchorBatch, root: bytes, fence: Callable[[], None]
) -> _Included | None:
    replacing, nonce = None, None
    if batch.status == BatchStatus.SENT:
        # Any attempt the node knows is waited on (it may be mined any moment), the newest first.
        # One that stays stuck past the timeout is replaced (same nonce, higher fees). When the node
        # knows none (never broadcast: the worker died in between; or dropped), the root goes out
        # again at the batch's nonce while that nonce is still free: a new nonce beside a pooled
        # attempt would put the root in two transactions, and the second would revert.
        known = [h for h in reversed(attempts(batch)) if chain.tx_state(h) != "unknown"]
        if known:
            try:
                receipt = chain.wait(known[0])
            except ChainRevertedError as exc:
                if exc.reason == ALREADY_ANCHORED:
                    raise
                receipt = None  # it failed (say the account lacked the role then): its nonce is spent
            else:
                if receipt is None:
                    replacing = known[0]
            if receipt is not None:
                return _found(chain, root) or _Included(
                    batch.leaf_count, receipt.block_number, receipt.block_time, receipt.tx_hash
                )
        elif batch.nonce is not None:
            mined, pending = chain.nonces()
            if mined <= batch.nonce:  # still free: nothing of ours at it was mined
                nonce = min(batch.nonce, pending)

    def mark_sent(tx_hash: str, used: int) -> None:
        batch.status, batch.tx_hash, batch.block_number, batch.block_time = BatchStatus.SENT, tx_hash, None, None
        batch.tx_hashes = ",".join([*(h for h in attempts(batch) if h != tx_hash), tx_hash])
        batch.nonce = used
        s.add(batch)
        s.flush()
        fault_pause("in_commit")
        s.commit()
        fault_pause("before_broadcast")  # stored, not yet broadcast (when we sign)

    fence()
    fault_pause("before_send")
    tx_hash = chain.send_anchor(root, batch.leaf_count, replacing=replacing, nonce=nonce, on_signed=mark_sent)
    fault_pause("after_send")
    receipt = chain.wait(tx_hash)
    if receipt is None:
        return None
    return _Included(batch.leaf_count, receipt.block_number, receipt.block_time, receipt.tx_hash)

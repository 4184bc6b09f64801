"""Fault tests for issue 19: a worker killed while a transaction is stuck, and a worker killed so
often that a run rarely finishes.

Real parts only: ``cradletrace anchor --watch`` as a subprocess signing with a key, anvil over
JSON-RPC (its own node per test: automine is switched off), the store on SQLite or PostgreSQL.
The worker's only help is ``CRADLETRACE_FAULT_PAUSE`` (it prints ``fault-pause <point>`` and sleeps
there so the test can SIGKILL it inside that window).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.devstack import nodes
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchor_chain import ANVIL_KEY_0, anvil  # noqa: F401  (fixture)
from tests.anchoring.test_anchoring import add_suppliers, raw_lots, record_into, stored_batches
from tests.anchoring.test_faults_anchoring import (
    Worker,
    assert_store_and_chain_agree,
    counts,
    wait_until_all_anchored,
    workers,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.node]


def open_site(tmp_path: Path, url: str, database_url: str | None) -> Workspace:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, rpc_url=url, anchor_key=ANVIL_KEY_0, rpc_timeout=5
    )
    ws, _ = init_workspace(settings)
    add_suppliers(ws)
    return ws


def sender_receipts(w3: Any, sender: str, first_block: int) -> list[Any]:
    """Every receipt of a transaction ``sender`` sent in blocks ``first_block``.. (the head)."""
    out = []
    for n in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                out.append(w3.eth.get_transaction_receipt(tx["hash"]))
    return out


def test_a_replacement_killed_before_its_broadcast_is_resent_at_the_same_nonce_one_tx_per_root(
    anvil, tmp_path, database_url, events, workers
) -> None:
    """Issue 19, edge 1: the stuck transaction's replacement was stored, then the worker died before
    broadcasting it. The next worker must wait on or replace the pooled original (same nonce),
    never send the root at a new nonce beside it."""
    with open_site(tmp_path, anvil.url, database_url) as ws:
        record_into(ws, events)
        chain = ws.chain()
        w3, sender = chain.w3, chain.sender  # type: ignore[attr-defined]
        nonce0, block0 = w3.eth.get_transaction_count(sender), w3.eth.block_number + 1
        nodes.rpc(anvil.url, "evm_setAutomine", [False])
        timeout = {"CRADLETRACE_ANCHOR_RECEIPT_TIMEOUT": "1"}

        first = Worker(ws.settings, tmp_path / "first.log", 0.2, pause="before_broadcast=3", **timeout)
        workers.append(first)
        first.wait_for("fault-pause before_broadcast", 2)  # #1 the original, #2 its replacement
        first.kill()
        [batch] = stored_batches(ws)
        assert batch.status == "sent" and chain.tx_state(batch.tx_hash) == "unknown"  # stored, never broadcast
        assert nodes.rpc(anvil.url, "txpool_status")["pending"] == "0x1"  # type: ignore[index]  # the original waits

        second = Worker(ws.settings, tmp_path / "second.log", 0.2, **timeout)
        workers.append(second)
        second.wait_for("roots sent but not final yet")  # one run over the stuck batch
        nodes.rpc(anvil.url, "evm_setAutomine", [True])
        nodes.rpc(anvil.url, "evm_mine")
        wait_until_all_anchored(ws, timeout=30)
        nodes.rpc(anvil.url, "evm_mine")  # anything still pooled is mined now, to be counted
        second.kill()

        receipts = sender_receipts(w3, sender, block0)
        print(
            f"{(database_url and 'postgresql') or 'sqlite'}: receipts {[(r['status'], r['gasUsed']) for r in receipts]}"
        )
        assert [r["status"] for r in receipts] == [1], "a second transaction for the root (or a revert)"
        assert w3.eth.get_transaction_count(sender) == nonce0 + 1
        assert nodes.rpc(anvil.url, "txpool_status")["pending"] == "0x0"  # type: ignore[index]
        assert counts(ws) == (0, 0)
        assert_store_and_chain_agree(ws, len(events))


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_killed_1_5_s_after_it_leads_still_drains_a_backlog_of_2000_events(
    tmp_path, postgres_url, anvil_node, events, workers
) -> None:
    """Issue 19, edge 2: each life of the worker ends with SIGKILL 1.5 s after it starts leading,
    ~2.1 s after it was started on an idle development machine (the interpreter and imports take
    ~0.6 s before it can lead). Of those 1.5 s, opening the chain (web3's import, the node's
    checks) takes ~0.8 s idle and more on a loaded machine. The worker commits a bounded batch
    (500 events) before it opens the chain and cuts its run's batches from 500 up, so each life
    that gets to the chain sends something, and what one life committed the next goes on from.

    The kill is timed from leading, not from the start, because on a loaded 2-core machine the
    interpreter's start alone can take seconds, before any code of ours runs: counting it made
    the test measure the machine's load."""
    backlog, life, budget = 2000, 1.5, 60.0
    with open_site(tmp_path, anvil_node, postgres_url) as ws:
        record_into(ws, events[:1])  # a site that has anchored before: its contract is in use
        anchoring.anchor_pending(lambda: Session(ws.engine, expire_on_commit=False), ws.chain())
        for i in range(0, backlog, 500):
            record_into(ws, raw_lots(events, 500, f"BK{i}-"))
        assert counts(ws) == (backlog, 0)
        started, lives, left = time.monotonic(), 0, [backlog]  # unbatched events after each life
        while counts(ws) != (0, 0):
            assert time.monotonic() - started < budget, f"not drained in {budget:g} s: unbatched per life {left}"
            w = Worker(ws.settings, tmp_path / f"life-{lives}.log", 0.5)
            workers.append(w)
            w.wait_for("leading:", timeout=budget)
            time.sleep(life)
            w.kill()
            lives += 1
            left.append(counts(ws)[0])
        took = time.monotonic() - started
        print(
            f"{backlog} events drained in {took:.1f} s over {lives} lives of {life:g} s leading; "
            f"unbatched events after each life: {left}"
        )
        assert all(b <= a for a, b in itertools.pairwise(left))  # what a life committed, the next one kept
        assert_store_and_chain_agree(ws, backlog + 1)

"""Which nonce a batch's transaction uses after an interrupted run (issue 19), against anvil.

The "crash" is the worker's own fault point ``before_broadcast`` raising: the signed transaction's
hash and nonce are stored, the broadcast never happens. (tests/anchoring/test_faults_anchor_restarts.py does
the same with a real process and SIGKILL.)
"""

from __future__ import annotations

from typing import Any

import pytest

from cradletrace.anchoring import run as anchoring
from cradletrace.devstack import nodes
from tests.anchoring.test_anchor_chain import ANVIL_KEY_0, anvil, assert_all_anchored_once, mine, open_site, run  # noqa: F401
from tests.anchoring.test_anchoring import record_into, stored_batches

pytestmark = pytest.mark.node


class Crash(BaseException):
    """The process dies here."""


def crash_before_broadcast(monkeypatch: pytest.MonkeyPatch) -> None:
    def pause(point: str) -> None:
        if point == "before_broadcast":
            raise Crash(point)

    monkeypatch.setattr(anchoring, "fault_pause", pause)


def sent_by(w3: Any, sender: str, first_block: int) -> list[tuple[int, int]]:
    """(nonce, receipt status) of every transaction ``sender`` had mined from ``first_block`` on."""
    out = []
    for n in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"] == sender:
                out.append((tx["nonce"], w3.eth.get_transaction_receipt(tx["hash"])["status"]))
    return out


def test_a_replacement_that_was_never_broadcast_leaves_the_original_waited_on_and_replaced_at_its_nonce(
    anvil, tmp_path, events, monkeypatch
) -> None:
    with open_site(tmp_path, anvil.url, anchor_receipt_timeout=0.5) as ws:
        record_into(ws, events)
        chain = ws.chain()
        w3, sender = chain.w3, chain.sender  # type: ignore[attr-defined]
        nonce0, block0 = w3.eth.get_transaction_count(sender), w3.eth.block_number + 1
        nodes.rpc(anvil.url, "evm_setAutomine", [False])
        assert run(ws) == []  # the original: pooled, not mined within the timeout
        [batch] = stored_batches(ws)
        original = batch.tx_hash
        crash_before_broadcast(monkeypatch)
        with pytest.raises(Crash):
            run(ws)  # still stuck: its replacement is signed and stored, then the process dies
        monkeypatch.undo()
        [batch] = stored_batches(ws)
        assert batch.tx_hash != original and chain.tx_state(batch.tx_hash) == "unknown"
        assert anchoring.attempts(batch) == [original, batch.tx_hash] and batch.nonce == nonce0

        assert run(ws) == []  # waits on the original, then replaces it: same nonce
        [batch] = stored_batches(ws)
        assert w3.eth.get_transaction(batch.tx_hash)["nonce"] == nonce0 and chain.tx_state(batch.tx_hash) == "pending"
        nodes.rpc(anvil.url, "evm_setAutomine", [True])
        mine(anvil.url)
        [r] = run(ws)
        assert r.batch_id == batch.id
        assert sent_by(w3, sender, block0) == [(nonce0, 1)]  # one transaction for the root, none reverted
        assert_all_anchored_once(ws)


def crashed_first_send(
    ws: Any, events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, str, int, int]:
    """Events recorded, then a run that dies between storing its first transaction and broadcasting it."""
    record_into(ws, events)
    chain = ws.chain()
    w3, sender = chain.w3, chain.sender
    nonce0, block0 = w3.eth.get_transaction_count(sender), w3.eth.block_number + 1
    crash_before_broadcast(monkeypatch)
    with pytest.raises(Crash):
        run(ws)
    monkeypatch.undo()
    return chain, w3, sender, nonce0, block0


def test_a_first_send_that_was_never_broadcast_is_sent_at_its_stored_nonce(
    anvil, tmp_path, events, monkeypatch
) -> None:
    with open_site(tmp_path, anvil.url) as ws:
        chain, w3, sender, nonce0, block0 = crashed_first_send(ws, events, monkeypatch)
        [batch] = stored_batches(ws)
        assert (batch.status, batch.nonce, chain.tx_state(batch.tx_hash)) == ("sent", nonce0, "unknown")

        [r] = run(ws)

        assert r.batch_id == batch.id
        assert sent_by(w3, sender, block0) == [(nonce0, 1)]
        assert_all_anchored_once(ws)


def test_when_another_transaction_took_the_stored_nonce_the_root_goes_out_at_the_next_one(
    anvil, tmp_path, events, monkeypatch
) -> None:
    from cradletrace.chain.roles import change_role

    with open_site(tmp_path, anvil.url) as ws:
        chain, w3, sender, nonce0, block0 = crashed_first_send(ws, events, monkeypatch)
        change_role(chain, True, "recaller", sender)  # type: ignore[arg-type]  # by hand, same account: takes nonce0

        [r] = run(ws)

        assert r.batch_id == stored_batches(ws)[0].id
        assert sent_by(w3, sender, block0) == [(nonce0, 1), (nonce0 + 1, 1)]
        assert stored_batches(ws)[0].nonce == nonce0 + 1
        assert_all_anchored_once(ws)

"""Chain robustness of the anchoring worker against a real anvil node over JSON-RPC.

Each test runs its own anvil (reorganisations, manual mining and stops would disturb others)
and signs with anvil's first development key, so the worker's own signing path runs: nonce,
gas estimate, write-ahead of the hash, raw broadcast. Reorganisations are made with anvil's
``evm_snapshot`` / ``evm_revert``; a stuck transaction with ``evm_setAutomine(false)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.devstack import nodes
from cradletrace.errors import ChainRevertedError
from cradletrace.verification import audit
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchoring import add_suppliers, on_chain_logs, record_into, stored_batches, verdicts
from tests.conftest import KEY_RECORDS

pytestmark = pytest.mark.node

#: anvil's first development account (publicly known; never use it anywhere else).
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture
def anvil() -> Iterator[nodes.EvmNode]:
    node = nodes.start_anvil(nodes.free_port())
    try:
        yield node
    finally:
        node.stop()


def open_site(tmp_path: Path, url: str, **overrides: object) -> Workspace:
    settings = Settings(data_dir=tmp_path / "data", rpc_url=url, anchor_key=ANVIL_KEY_0, rpc_timeout=5, **overrides)  # type: ignore[arg-type]
    ws, _ = init_workspace(settings)
    add_suppliers(ws)
    return ws


def run(ws: Workspace) -> list[anchoring.AnchorResult]:
    st = ws.settings
    return anchoring.anchor_pending(
        lambda: Session(ws.engine, expire_on_commit=False),
        ws.chain(),
        confirmations=st.anchor_confirmations,
        reorg_window=st.anchor_reorg_window,
    )


def mine(url: str, blocks: int = 1) -> None:
    for _ in range(blocks):
        nodes.rpc(url, "evm_mine")


def assert_all_anchored_once(ws: Workspace) -> None:
    batches = stored_batches(ws)
    assert {b.status for b in batches} == {"confirmed"}
    chain = ws.chain()
    roots = [r.root.hex() for r in chain.roots()]
    assert sorted(roots) == sorted(b.root for b in batches)  # every root on chain exactly once
    assert set(verdicts(ws).values()) == {"VALID"}
    with ws.session() as s:
        assert audit(s, chain).ok


def test_a_reorganisation_that_drops_a_confirmed_root_is_noticed_and_the_batch_anchored_again(
    anvil, tmp_path, events
) -> None:
    with open_site(tmp_path, anvil.url) as ws:
        record_into(ws, events[:3])
        [first] = run(ws)
        snapshot = nodes.rpc(anvil.url, "evm_snapshot")
        record_into(ws, events[3:])
        [second] = run(ws)
        assert second.block_number == first.block_number + 1

        nodes.rpc(anvil.url, "evm_revert", [snapshot])  # the block holding the second root is gone
        mine(anvil.url, 3)  # ... and the chain grows past it without that root
        chain = ws.chain()
        assert chain.lookup(bytes.fromhex(second.root)) is None
        with ws.session() as s:
            assert not audit(s, chain).ok  # confirmed in the store, not on chain

        [again] = run(ws)

        assert (again.batch_id, again.root, again.recovered) == (second.batch_id, second.root, True)
        assert again.block_number > first.block_number + 3
        assert len(on_chain_logs(chain, second.root)) == 1
        assert_all_anchored_once(ws)
        assert run(ws) == []


def test_with_confirmations_a_batch_is_final_only_that_many_blocks_deep_and_a_dropped_one_is_resent(
    anvil, tmp_path, events
) -> None:
    with open_site(tmp_path, anvil.url, anchor_confirmations=2) as ws:
        record_into(ws, events)
        snapshot = nodes.rpc(anvil.url, "evm_snapshot")
        assert run(ws) == []  # mined, 0 blocks deep
        [batch] = stored_batches(ws)
        assert batch.status == "sent" and batch.tx_hash and batch.block_number is not None
        assert set(verdicts(ws).values()) == {"PENDING"}
        first_tx = batch.tx_hash

        nodes.rpc(anvil.url, "evm_revert", [snapshot])  # dropped before it was final
        mine(anvil.url, 2)
        assert run(ws) == []  # sent again, mined, not deep enough yet
        [batch] = stored_batches(ws)
        assert batch.status == "sent" and batch.block_number is not None
        assert len(on_chain_logs(ws.chain(), batch.root)) == 1

        mine(anvil.url, 1)
        assert run(ws) == []  # one block deep
        mine(anvil.url, 1)
        [r] = run(ws)  # two blocks deep: final
        assert (r.batch_id, r.recovered) == (batch.id, True) and r.tx_hash == batch.tx_hash
        print(f"first tx {first_tx}, final tx {r.tx_hash}")
        assert_all_anchored_once(ws)


def test_a_stuck_transaction_is_waited_on_then_replaced_with_the_same_nonce_and_higher_fees(
    anvil, tmp_path, events
) -> None:
    with open_site(tmp_path, anvil.url, anchor_receipt_timeout=0.5) as ws:
        record_into(ws, events)
        nodes.rpc(anvil.url, "evm_setAutomine", [False])
        w3 = ws.chain().w3  # type: ignore[attr-defined]

        assert run(ws) == []  # sent, not mined within the timeout
        [batch] = stored_batches(ws)
        assert batch.status == "sent"
        stuck = w3.eth.get_transaction(batch.tx_hash)
        assert stuck["blockNumber"] is None

        assert run(ws) == []  # still stuck after waiting again: replaced
        [batch] = stored_batches(ws)
        replacement = w3.eth.get_transaction(batch.tx_hash)
        assert replacement["hash"] != stuck["hash"] and replacement["nonce"] == stuck["nonce"]
        assert replacement["maxFeePerGas"] >= stuck["maxFeePerGas"] * 1.125
        assert replacement["maxPriorityFeePerGas"] >= stuck["maxPriorityFeePerGas"] * 1.125

        nodes.rpc(anvil.url, "evm_setAutomine", [True])
        mine(anvil.url)
        [r] = run(ws)
        assert r.tx_hash == "0x" + bytes(replacement["hash"]).hex()
        assert w3.eth.get_transaction_count(w3.eth.account.from_key(ANVIL_KEY_0).address) == stuck["nonce"] + 1
        assert_all_anchored_once(ws)


def test_a_node_that_drops_out_briefly_is_retried_with_backoff_within_one_run(
    anvil_with_state, tmp_path, events
) -> None:
    node = anvil_with_state()
    with open_site(tmp_path, node.url, rpc_retries=7, rpc_backoff=0.1) as ws:
        record_into(ws, events)
        ws.chain()
        node.stop()
        back = threading.Timer(1.0, anvil_with_state)  # up again after ~1 s; the retries wait ~12 s in all
        back.start()
        try:
            [r] = run(ws)  # no ChainUnavailableError: the calls were retried until the node answered
        finally:
            back.join()
        assert r.leaf_count == len(events) + KEY_RECORDS
        assert_all_anchored_once(ws)


#: anvil's second development account.
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def test_anchor_key_rotation_grant_switch_revoke(anvil, tmp_path, events) -> None:
    """The documented rotation: grant the new address, anchor with the new key, revoke the old one."""
    from typer.testing import CliRunner

    from cradletrace.cli import app

    with open_site(tmp_path, anvil.url) as ws:
        record_into(ws, events[:3])
        [first] = run(ws)
    old = ws.chain().sender  # type: ignore[attr-defined]
    new = Account.from_key(ANVIL_KEY_1).address
    base = ["--data-dir", str(tmp_path / "data"), "--rpc-url", anvil.url]

    def cli(key: str, *args: str) -> str:
        result = CliRunner().invoke(app, [*args, *base], env={"CRADLETRACE_ANCHOR_KEY": key})
        assert result.exit_code == 0, result.output
        return result.output

    assert f"account {old}" in cli(ANVIL_KEY_0, "chain", "account") and "roles admin, anchorer, recaller" in cli(
        ANVIL_KEY_0, "chain", "account"
    )
    for role in ("anchorer", "recaller"):
        assert f"granted {role} to {new}" in cli(ANVIL_KEY_0, "chain", "grant", new, "--role", role)
    assert cli(ANVIL_KEY_1, "chain", "roles", new).strip() == f"{new}: anchorer, recaller"

    with Workspace(ws.settings.model_copy(update={"anchor_key": ANVIL_KEY_1})) as ws1:
        record_into(ws1, events[3:5])
        [second] = run(ws1)
        assert ws1.chain().lookup(bytes.fromhex(second.root)).submitter == new  # type: ignore[union-attr]
    for role in ("anchorer", "recaller"):
        cli(ANVIL_KEY_0, "chain", "revoke", old, "--role", role)
    assert cli(ANVIL_KEY_0, "chain", "roles", old).strip() == f"{old}: admin"

    with Workspace(ws.settings) as ws0:  # the old key may no longer anchor
        record_into(ws0, events[5:])
        with pytest.raises(ChainRevertedError, match="AccessControlUnauthorizedAccount"):
            run(ws0)
    result = CliRunner().invoke(
        app, ["chain", "grant", new, "--role", "boss", *base], env={"CRADLETRACE_ANCHOR_KEY": ANVIL_KEY_0}
    )
    assert result.exit_code == 2 and "expected one of admin, anchorer, recaller" in result.output
    assert first.leaf_count == 3 + KEY_RECORDS


def test_a_stored_transaction_that_reverted_is_not_retried_forever_the_batch_is_sent_anew(
    anvil, tmp_path, events
) -> None:
    """The anchorer lost its role while its transaction waited in the pool (the revocation paid a
    higher tip, so it was mined first): once the role is back, the next run sends a new one."""
    from cradletrace.chain.roles import CHAIN_ROLES, change_role

    with open_site(tmp_path, anvil.url) as admin:
        chain0 = admin.chain()
        new = Account.from_key(ANVIL_KEY_1).address
        change_role(chain0, True, "anchorer", new)  # type: ignore[arg-type]
        settings1 = admin.settings.model_copy(update={"anchor_key": ANVIL_KEY_1, "anchor_receipt_timeout": 0.5})
        with Workspace(settings1) as ws:
            record_into(ws, events)
            nodes.rpc(anvil.url, "evm_setAutomine", [False])
            assert run(ws) == []
            [batch] = stored_batches(ws)
            doomed = batch.tx_hash
            w3 = chain0.w3  # type: ignore[attr-defined]
            revoke = chain0.contract.functions.revokeRole(CHAIN_ROLES["anchorer"], new)  # type: ignore[attr-defined]
            tx = revoke.build_transaction(
                {
                    "from": chain0.sender,
                    "maxPriorityFeePerGas": 100 * 10**9,  # type: ignore[attr-defined]
                    "maxFeePerGas": 200 * 10**9,
                    "nonce": w3.eth.get_transaction_count(chain0.sender, "pending"),
                }
            )  # type: ignore[attr-defined]
            w3.eth.send_raw_transaction(w3.eth.account.sign_transaction(tx, ANVIL_KEY_0).raw_transaction)
            nodes.rpc(anvil.url, "evm_setAutomine", [True])
            mine(anvil.url)
            assert w3.eth.get_transaction_receipt(doomed)["status"] == 0

            with pytest.raises(ChainRevertedError, match="AccessControlUnauthorizedAccount"):
                run(ws)  # the new transaction's estimate is refused too: the role is gone
            change_role(chain0, True, "anchorer", new)  # type: ignore[arg-type]
            [r] = run(ws)
            assert r.batch_id == batch.id and r.tx_hash != doomed
            assert_all_anchored_once(ws)


def test_broadcasting_the_same_signed_transaction_again_is_not_an_error(anvil, tmp_path) -> None:
    """What a retried send looks like to the node: "already known" while pooled, "nonce too low"
    once mined. Both mean the transaction is there."""
    import os

    with open_site(tmp_path, anvil.url) as ws:
        chain = ws.chain()
        w3 = chain.w3  # type: ignore[attr-defined]
        fn = chain.contract.functions.anchor(os.urandom(32), 1)  # type: ignore[attr-defined]
        tx = fn.build_transaction(
            {
                "from": chain.sender,
                "gas": 200_000,  # type: ignore[attr-defined]
                "nonce": w3.eth.get_transaction_count(chain.sender, "pending"),
            }
        )  # type: ignore[attr-defined]
        signed = w3.eth.account.sign_transaction(tx, ANVIL_KEY_0)
        tx_hash = "0x" + bytes(signed.hash).hex()
        nodes.rpc(anvil.url, "evm_setAutomine", [False])
        chain._broadcast(signed.raw_transaction, tx_hash)  # type: ignore[attr-defined]
        chain._broadcast(signed.raw_transaction, tx_hash)  # type: ignore[attr-defined]  # already known
        assert chain.tx_state(tx_hash) == "pending"
        nodes.rpc(anvil.url, "evm_setAutomine", [True])
        mine(anvil.url)
        chain._broadcast(signed.raw_transaction, tx_hash)  # type: ignore[attr-defined]  # nonce too low, but mined
        assert chain.tx_state(tx_hash) == "mined" and chain.wait(tx_hash) is not None


def test_a_root_re_mined_in_another_block_by_a_reorganisation_gets_its_new_block(anvil, tmp_path, events) -> None:
    """``anvil_reorg`` replaces the last blocks and mines the anchoring transaction two blocks later."""
    with open_site(tmp_path, anvil.url) as ws:
        record_into(ws, events)
        [r] = run(ws)
        mine(anvil.url, 2)
        chain = ws.chain()
        raw = nodes.rpc(anvil.url, "eth_getRawTransactionByHash", [r.tx_hash])
        nodes.rpc(anvil.url, "anvil_reorg", [3, [[raw, 2]]])
        moved = chain.lookup(bytes.fromhex(r.root))
        assert moved is not None and moved.block_number == r.block_number + 2
        sent = chain.w3.eth.get_transaction_count(chain.sender)  # type: ignore[attr-defined]

        assert run(ws) == []  # nothing new became final: the batch was and stays confirmed

        [batch] = stored_batches(ws)
        assert (batch.status, batch.block_number, batch.tx_hash) == ("confirmed", moved.block_number, r.tx_hash)
        assert batch.block_time is not None and batch.block_time.timestamp() == moved.block_time.timestamp()
        assert chain.w3.eth.get_transaction_count(chain.sender) == sent  # type: ignore[attr-defined]  # nothing re-sent
        assert_all_anchored_once(ws)

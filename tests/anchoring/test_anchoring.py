"""Anchoring: pending events -> one Merkle root -> one transaction -> proofs stored per event.

Crash recovery is driven deterministically: the worker's steps (prepare, send, confirm) are
run by hand up to the point of the "crash", and the next ``anchor_pending`` must finish the
job without losing an event or sending a root twice. An unreachable chain is a real anvil
node stopped and started again with its state file.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cradletrace import recording
from cradletrace.anchoring import run as anchoring
from cradletrace.chain.base import Anchor
from cradletrace.config import Settings
from cradletrace.core.merkle import process_proof
from cradletrace.errors import ChainError, ChainUnavailableError, ConfigError
from cradletrace.store.models import AnchorBatch, EventRow
from cradletrace.verification import audit, verify_event
from cradletrace.workspace import Workspace, init_workspace
from tests.builders import oz_merkle
from tests.conftest import KEY_RECORDS, NOW, add_demo_suppliers

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("cradletrace")


# -- helpers shared with the other anchoring/verification test modules -------------------------


def session_factory(ws: Workspace) -> Callable[[], Session]:
    return lambda: Session(ws.engine, expire_on_commit=False)


def anchor(ws: Workspace, **kw: Any) -> list[anchoring.AnchorResult]:
    return anchoring.anchor_pending(session_factory(ws), ws.chain(), **kw)


def stored_events(ws: Workspace) -> list[EventRow]:
    with Session(ws.engine) as s:
        return list(s.exec(select(EventRow).order_by(col(EventRow.id))).all())


def stored_batches(ws: Workspace) -> list[AnchorBatch]:
    with Session(ws.engine) as s:
        return list(s.exec(select(AnchorBatch).order_by(col(AnchorBatch.id))).all())


def proof_of(row: EventRow) -> list[bytes]:
    return [bytes.fromhex(p) for p in row.proof.split(",")] if row.proof else []


def tx_count(chain: Anchor) -> int:
    return int(chain.w3.eth.get_transaction_count(chain.sender))  # type: ignore[attr-defined]


def on_chain_logs(chain: Anchor, root_hex: str) -> list[Any]:
    """Every RootAnchored log for ``root_hex``."""
    return [r for r in chain.roots() if r.root.hex() == root_hex]


def raw_lots(events: list[dict[str, Any]], n: int, prefix: str = "RM-X") -> list[dict[str, Any]]:
    """``n`` more raw-milk batch events (distinct lots), built from the demo's first one."""
    out = []
    for i in range(n):
        ev = copy.deepcopy(events[0])
        ev["data"]["lot"] = f"{prefix}{i}"
        out.append(ev)
    return out


def add_suppliers(ws: Workspace) -> None:
    with ws.session() as s:
        add_demo_suppliers(s, ws.settings.keys_dir)


def record_into(ws: Workspace, evs: list[dict[str, Any]]) -> list[EventRow]:
    """Sign with the key files and record (the conftest ``record`` fixture, for any workspace)."""
    with ws.session() as s:
        items = recording.sign_submissions(
            recording.read_submissions(evs), recording.key_loader(s, ws.settings.keys_dir), ws.limits
        )
    with ws.session() as s:
        return recording.record_submissions(s, items, NOW)


def verdicts(ws: Workspace) -> dict[int, str]:
    with ws.session() as s:
        return {r.id: verify_event(s, ws.chain(), str(r.id)).status for r in stored_events(ws)}  # type: ignore[misc]


# -- the normal run --------------------------------------------------------------------------


def test_anchor_pending_puts_all_pending_events_under_one_root_in_one_tx(workspace, record, events) -> None:
    rows = record(events)
    chain = workspace.chain()
    sent_before = tx_count(chain)

    results = anchor(workspace)

    assert len(results) == 1
    r = results[0]
    assert (r.leaf_count, r.recovered) == (len(rows) + KEY_RECORDS, False)  # and the key log's records
    assert tx_count(chain) == sent_before + 1
    receipt = chain.w3.eth.get_transaction_receipt(r.tx_hash)
    assert receipt["status"] == 1 and receipt["blockNumber"] == r.block_number
    block = chain.w3.eth.get_block(r.block_number)
    assert int(r.block_time.timestamp()) == block["timestamp"]

    [batch] = stored_batches(workspace)
    assert (batch.id, batch.root, batch.leaf_count, batch.status) == (r.batch_id, r.root, 7 + KEY_RECORDS, "confirmed")
    assert (batch.tx_hash, batch.block_number) == (r.tx_hash, r.block_number)
    assert batch.block_time is not None and batch.block_time.timestamp() == r.block_time.timestamp()
    assert (batch.contract, batch.chain_id) == (chain.contract_address, chain.chain_id)

    on_chain = chain.lookup(bytes.fromhex(r.root))
    assert on_chain is not None and (on_chain.leaf_count, on_chain.block_number) == (7 + KEY_RECORDS, r.block_number)
    assert on_chain.submitter == chain.sender
    for row in stored_events(workspace):
        assert row.anchor_id == batch.id and row.proof
        proof = proof_of(row)
        assert process_proof(bytes.fromhex(row.digest), proof).hex() == r.root
        assert chain.verify_leaf(bytes.fromhex(r.root), bytes.fromhex(row.digest), proof)

    # Nothing left: no transaction, no new batch.
    assert anchor(workspace) == []
    assert tx_count(chain) == sent_before + 1
    assert len(stored_batches(workspace)) == 1
    assert set(verdicts(workspace).values()) == {"VALID"}


def test_later_events_get_a_new_root_and_earlier_proofs_do_not_change(workspace, record, events) -> None:
    record(events)
    [first] = anchor(workspace)
    before = {r.id: (r.anchor_id, r.proof) for r in stored_events(workspace)}
    new = record(raw_lots(events, 2))

    [second] = anchor(workspace)

    assert second.root != first.root and second.leaf_count == 2 and second.block_number > first.block_number
    after = {r.id: (r.anchor_id, r.proof) for r in stored_events(workspace)}
    assert {i: after[i] for i in before} == before
    assert {after[r.id][0] for r in new} == {second.batch_id}
    assert len(workspace.chain().roots()) == 2


def test_max_leaves_splits_pending_events_into_several_roots(workspace, record, events) -> None:
    record(events)
    results = anchor(workspace, max_leaves=3)
    assert [r.leaf_count for r in results] == [3, 3, 3, 3]  # 7 events and the key log's 5 records
    assert len({r.root for r in results}) == 4 and len({r.tx_hash for r in results}) == 4
    assert set(verdicts(workspace).values()) == {"VALID"}
    assert audit(Session(workspace.engine), workspace.chain()).ok


def test_events_arriving_during_a_run_wait_for_the_next_run(workspace, record, events) -> None:
    """Under steady arrivals a run sends one root, not one small root after another."""
    record(events)
    arrivals = iter([raw_lots(events, 2, "RM-LATE")])

    def fence() -> None:  # runs before every transaction: new events arrive meanwhile
        for more in arrivals:
            record(more)

    [only] = anchor(workspace, fence=fence)
    assert only.leaf_count == len(events) + KEY_RECORDS
    pending = [r for r in stored_events(workspace) if r.anchor_id is None]
    assert len(pending) == 2  # they wait for the next interval's run
    [nxt] = anchor(workspace)
    assert nxt.leaf_count == 2 and set(verdicts(workspace).values()) == {"VALID"}


@pytest.mark.node
def test_roots_and_proofs_equal_openzeppelin_merkle_tree(workspace, record, events) -> None:
    record(events)
    anchor(workspace)
    record(raw_lots(events, 1, "RM-ONE"))
    anchor(workspace)
    record(raw_lots(events, 2, "RM-TWO"))
    anchor(workspace)
    batches = stored_batches(workspace)
    assert [b.leaf_count for b in batches] == [7 + KEY_RECORDS, 1, 2]
    rows = stored_events(workspace)
    for batch in batches:
        mine = [r for r in rows if r.anchor_id == batch.id]
        oz = oz_merkle([r.digest for r in mine])
        assert oz["root"] == "0x" + batch.root
        assert [["0x" + p.hex() for p in proof_of(r)] for r in mine] == oz["proofs"]


# -- crash recovery --------------------------------------------------------------------------


def _prepare_and_commit(ws: Workspace) -> AnchorBatch:
    """Steps 1 of the worker, then the process 'dies'."""
    with session_factory(ws)() as s:
        batch = anchoring.prepare_batch(s, ws.chain())
        assert batch is not None
        s.commit()
        return batch


def test_crash_after_prepare_before_send_is_sent_by_the_next_run(workspace, record, events) -> None:
    record(events)
    chain = workspace.chain()
    sent_before = tx_count(chain)
    prepared = _prepare_and_commit(workspace)
    assert tx_count(chain) == sent_before and chain.lookup(bytes.fromhex(prepared.root)) is None
    assert set(verdicts(workspace).values()) == {"PENDING"}
    late = record(raw_lots(events, 1))  # recorded after the crash: not part of the prepared root

    results = anchor(workspace)

    assert [(r.batch_id, r.root, r.leaf_count, r.recovered) for r in results[:1]] == [
        (prepared.id, prepared.root, 7 + KEY_RECORDS, True)
    ]
    assert [(r.leaf_count, r.recovered) for r in results[1:]] == [(1, False)]
    assert tx_count(chain) == sent_before + 2
    assert len(on_chain_logs(chain, prepared.root)) == 1
    assert {r.id: r.anchor_id for r in stored_events(workspace)}[late[0].id] == results[1].batch_id
    assert {b.status for b in stored_batches(workspace)} == {"confirmed"}
    assert set(verdicts(workspace).values()) == {"VALID"}
    assert anchor(workspace) == []


def test_crash_after_send_before_confirm_is_confirmed_without_sending_again(workspace, record, events) -> None:
    record(events)
    chain = workspace.chain()
    sent_before = tx_count(chain)
    prepared = _prepare_and_commit(workspace)
    receipt = chain.anchor(bytes.fromhex(prepared.root), prepared.leaf_count)  # sent; the confirm never ran
    assert tx_count(chain) == sent_before + 1
    assert {b.status for b in stored_batches(workspace)} == {"prepared"}

    [r] = anchor(workspace)

    assert tx_count(chain) == sent_before + 1  # nothing sent again
    assert len(on_chain_logs(chain, prepared.root)) == 1
    assert (r.batch_id, r.recovered, r.tx_hash, r.block_number) == (
        prepared.id,
        True,
        receipt.tx_hash,
        receipt.block_number,
    )
    assert r.block_time == receipt.block_time
    [batch] = stored_batches(workspace)
    assert (batch.status, batch.tx_hash, batch.block_number) == ("confirmed", receipt.tx_hash, receipt.block_number)
    assert set(verdicts(workspace).values()) == {"VALID"}
    assert audit(Session(workspace.engine), chain).ok


def test_a_root_on_chain_with_another_leaf_count_is_not_confirmed(workspace, record, events) -> None:
    record(events)
    chain = workspace.chain()
    prepared = _prepare_and_commit(workspace)
    chain.anchor(bytes.fromhex(prepared.root), prepared.leaf_count + 1)
    with pytest.raises(ChainError, match="leaves"):
        anchor(workspace)
    assert {b.status for b in stored_batches(workspace)} == {"prepared"}


# -- an unreachable chain (anvil stopped, then started again from its state file) -------------


@pytest.mark.node
def test_chain_unreachable_loses_nothing_and_the_next_run_anchors_everything(
    anvil_with_state, tmp_path, database_url, events
) -> None:
    node = anvil_with_state()
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, rpc_url=node.url, rpc_timeout=5)
    ws, chain = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events[:3])
        [first] = anchor(ws)
        node.stop()

        record_into(ws, events[3:5])  # the store does not need the chain
        with pytest.raises(ChainUnavailableError):
            anchor(ws)
        batches = stored_batches(ws)
        assert [b.status for b in batches] == ["confirmed"] + ["prepared"] * (len(batches) - 1)
        assert all(b.tx_hash is None and b.block_number is None for b in batches[1:])
        down = stored_events(ws)[3 + KEY_RECORDS :]
        with ws.session() as s:
            assert [verify_event(s, chain, str(r.id)).status for r in down] == ["PENDING"] * 2
            with pytest.raises(ChainUnavailableError):
                verify_event(s, chain, "1")  # an anchored event needs the chain: a clear error
        with Workspace(settings) as other, pytest.raises(ChainUnavailableError):
            other.chain()
        record_into(ws, events[5:])  # still down
        with pytest.raises(ChainUnavailableError):
            anchor(ws)

        anvil_with_state()  # back, with its state
        sent_before = tx_count(chain)
        results = anchor(ws)

        assert sum(r.leaf_count for r in results) == 4
        assert tx_count(chain) - sent_before == len(results)
        assert all(r.recovered for r in results if r.batch_id in {b.id for b in batches[1:]})
        roots = [r.root.hex() for r in chain.roots()]
        assert len(roots) == len(set(roots)) == 1 + len(results) and first.root in roots
        assert set(verdicts(ws).values()) == {"VALID"}
        with ws.session() as s:
            assert audit(s, chain).ok
        assert anchor(ws) == []


@pytest.mark.node
def test_chain_reset_under_a_prepared_batch_is_reported_not_anchored_into_the_void(
    anvil_with_state, tmp_path, events
) -> None:
    """anvil restarted WITHOUT its state: our contract is gone. Nothing may be 'confirmed' there."""
    node = anvil_with_state()
    settings = Settings(data_dir=tmp_path / "data", rpc_url=node.url, rpc_timeout=5)
    ws, chain = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events[:3])
        anchor(ws)
        record_into(ws, events[3:])
        prepared = _prepare_and_commit(ws)
        node.stop()
        (tmp_path / "anvil-state.json").unlink()
        anvil_with_state()  # a fresh chain with the same id on the same URL

        with pytest.raises(ChainError):
            anchor(ws)  # the cached connection: the contract has no code now
        assert {b.id: b.status for b in stored_batches(ws)}[prepared.id] == "prepared"
        with Workspace(settings) as other, pytest.raises(ConfigError, match="not on the chain"):
            other.chain()

        # 'cradletrace init' deploys anew (same address: same deployer, nonce 0); the prepared
        # batch then goes to the new contract, and audit reports the root the reset lost.
        ws2, chain2 = init_workspace(settings)
        with ws2:
            assert chain2.contract_address == chain.contract_address
            [r] = anchoring.anchor_pending(session_factory(ws2), chain2)
            assert (r.batch_id, r.recovered, r.leaf_count) == (prepared.id, True, 4)
            with ws2.session() as s:
                report = audit(s, chain2)
                assert [p for p in report.problems if "confirmed in the store but not on chain" in p]
                lost = set(range(1, 4 + KEY_RECORDS))  # the key log's records, then the three events
                assert {i for i, _, why in report.bad_events if why.startswith("root not on chain")} == lost
                assert [verify_event(s, chain2, str(i)).status for i in range(1, 8 + KEY_RECORDS)] == ["INVALID"] * len(
                    lost
                ) + ["VALID"] * 4


# -- the embedded chain outlives the process -------------------------------------------------


def test_embedded_chain_anchor_verifies_from_a_new_process(workspace, record, events, settings) -> None:
    rows = record(events)
    anchor(workspace)
    pending = record(raw_lots(events, 1))
    workspace.close()
    db = ["--database-url", settings.database_url] if settings.database_url else []

    # One fresh interpreter runs `cradletrace verify` three times (CliRunner keeps it one process).
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cradletrace.cli import app\n"
        "data_dir, db, refs = sys.argv[1], sys.argv[2:3] and sys.argv[2].split(' '), sys.argv[3:]\n"
        "for ref in refs:\n"
        "    r = CliRunner().invoke(app, ['verify', ref, '--data-dir', data_dir] + [a for a in db if a])\n"
        "    print(r.exit_code, r.output.split()[0] if r.output else repr(r.exception))\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(settings.data_dir),
            " ".join(db),
            str(rows[0].id),
            rows[-1].digest[:12],
            str(pending[0].id),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["0 VALID", "0 VALID", "3 PENDING"], proc.stdout


# -- a real worker killed with SIGKILL at arbitrary moments ------------------------------------

KILL_AT = {
    # SIGKILL itself at the worker's fault points: right before the anchor transaction is sent /
    # right after it was sent (and, on the embedded chain, mined).
    point: f"from cradletrace.anchoring import run as m; m.fault_pause = lambda p: p == {point!r} and die()"
    for point in ("before_send", "after_send")
}


@pytest.mark.parametrize("point", sorted(KILL_AT))
def test_anchor_process_killed_at_a_chosen_point_is_recovered_by_the_next_run(point, tmp_path, events) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ws, chain = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events)
        sent_before = tx_count(chain)
        ws.close()  # the worker needs the chain file lock
        script = (
            "import os, signal, sys\n"
            "def die(*a, **k):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
            f"{KILL_AT[point]}\n"
            "from cradletrace.cli import app\n"
            "sys.argv = ['cradletrace', 'anchor', '--data-dir', sys.argv[1]]\n"
            "app()\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script, str(settings.data_dir)], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        [batch] = stored_batches(ws)
        assert batch.status == ("sent" if point == "after_send" else "prepared")
        chain = ws.chain()
        sent = 1 if point == "after_send" else 0
        assert tx_count(chain) == sent_before + sent
        assert len(on_chain_logs(chain, batch.root)) == sent

        [r] = anchor(ws)

        assert (r.batch_id, r.recovered, r.leaf_count) == (batch.id, True, 7 + KEY_RECORDS)
        assert tx_count(chain) == sent_before + 1
        assert len(on_chain_logs(chain, batch.root)) == 1
        assert set(verdicts(ws).values()) == {"VALID"}


@pytest.mark.slow
def test_kill_9_of_a_running_anchor_worker_loses_nothing_and_anchors_nothing_twice(tmp_path, events) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ws, _ = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        ws.close()  # the worker needs the chain file lock
        recorded = 0
        for round_, delay in enumerate((1.7, 2.3)):
            evs = (events if round_ == 0 else []) + raw_lots(events, 5, f"RM-K{round_}-")
            recorded += len(record_into(ws, evs))
            worker = subprocess.Popen(
                [str(CLI), "anchor", "--watch", "--interval", "0.1", "--data-dir", str(settings.data_dir)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                time.sleep(delay)
                record_into(ws, raw_lots(events, 3, f"RM-L{round_}-"))  # while the worker runs
                recorded += 3
                time.sleep(0.05 * round_)
            finally:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
        interrupted = [b.status for b in stored_batches(ws)]
        print(f"before recovery: {len(stored_events(ws))} events, batches {interrupted}")
        anchor(ws)  # recovery run
        chain = ws.chain()
        rows = stored_events(ws)
        batches = stored_batches(ws)
        assert len(rows) == recorded + KEY_RECORDS
        assert all(r.anchor_id is not None for r in rows)
        assert {b.status for b in batches} == {"confirmed"}
        roots = [r.root.hex() for r in chain.roots()]
        assert sorted(roots) == sorted(b.root for b in batches)  # each root sent exactly once
        assert sum(b.leaf_count for b in batches) == recorded + KEY_RECORDS
        with ws.session() as s:
            assert audit(s, chain).ok

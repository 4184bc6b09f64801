"""Fault tests for anchoring: real ``cradletrace anchor --watch`` processes killed with SIGKILL,
an EVM node stopped mid-run, two workers racing for one PostgreSQL store, while events arrive.

Everything is real: PostgreSQL (cradletrace.devstack.pg), anvil over JSON-RPC (cradletrace.devstack.nodes), the
worker as a separate process signing with a key. The only help the worker gets is
``CRADLETRACE_FAULT_PAUSE``, which makes it print ``fault-pause <point>`` and sleep at a named
point so the test can kill it exactly there; it never changes what the worker does.

Afterwards the store and the chain must agree: every event is in exactly one confirmed batch,
every stored root is on chain exactly once and no other root is (count of RootAnchored logs),
and ``audit`` passes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.store.models import AnchorBatch, EventRow
from cradletrace.verification import audit
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchor_chain import ANVIL_KEY_0
from tests.anchoring.test_anchoring import add_suppliers, raw_lots, record_into, stored_batches, stored_events
from tests.conftest import KEY_RECORDS

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.node]

CLI = Path(sys.executable).with_name("cradletrace")
SEED = int(os.environ.get("CRADLETRACE_FAULT_SEED", "6"))


class Worker:
    """A real ``cradletrace anchor --watch`` process on any store (SQLite when the settings name no
    database URL), with extra ``env``; what it prints goes to a file we poll."""

    def __init__(self, settings: Settings, log: Path, interval: float, pause: str = "", **env: str) -> None:
        self.log = log
        env = {
            **os.environ,
            "CRADLETRACE_ANCHOR_KEY": ANVIL_KEY_0,
            anchoring.FAULT_PAUSE_ENV: pause,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        db = ["--database-url", str(settings.database_url)] if settings.database_url else []
        argv = [str(CLI), "anchor", "--watch", "--interval", str(interval), "--data-dir", str(settings.data_dir)]
        argv += [*db, "--rpc-url", str(settings.rpc_url)]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )

    def text(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def wait_for(self, needle: str, count: int = 1, timeout: float = 45.0) -> float:
        """Wait until ``needle`` was printed ``count`` times; returns the monotonic time seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(needle) >= count:
                return time.monotonic()
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}) before printing {needle!r}:\n{self.text()}"
                )
            time.sleep(0.02)
        raise AssertionError(f"worker did not print {needle!r} x{count} within {timeout:g} s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class Feeder(threading.Thread):
    """Records two new signed events every ~0.1 s until stopped, as suppliers would."""

    def __init__(self, ws: Workspace, events: list[dict[str, Any]], prefix: str, store_may_fail: bool = False) -> None:
        super().__init__(daemon=True)
        self.ws, self.events, self.prefix = ws, events, prefix
        self.recorded = 0
        self.refused = 0  # submissions the store refused (only with store_may_fail): nothing of them stored
        self.store_may_fail = store_may_fail
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        i = 0
        try:
            while not self.halt.is_set():
                try:
                    self.recorded += len(record_into(self.ws, raw_lots(self.events, 2, f"{self.prefix}{i}-")))
                except OperationalError:
                    if not self.store_may_fail:
                        raise
                    self.refused += 1
                i += 1
                self.halt.wait(0.1)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def stop(self) -> int:
        self.halt.set()
        self.join(timeout=30)
        assert self.error is None, f"recording failed: {self.error!r}"
        return self.recorded


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for w in started:
            w.kill()


def open_site(tmp_path: Path, database_url: str, rpc_url: str) -> Workspace:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, rpc_url=rpc_url, anchor_key=ANVIL_KEY_0, rpc_timeout=5
    )
    ws, _ = init_workspace(settings)
    add_suppliers(ws)
    return ws


def counts(ws: Workspace) -> tuple[int, int]:
    """(pending events, batches not yet confirmed)."""
    with Session(ws.engine) as s:
        pending = s.exec(select(func.count()).select_from(EventRow).where(col(EventRow.anchor_id).is_(None))).one()
        open_ = s.exec(select(func.count()).select_from(AnchorBatch).where(AnchorBatch.status != "confirmed")).one()
    return int(pending), int(open_)


def wait_until_all_anchored(ws: Workspace, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while counts(ws) != (0, 0):
        assert time.monotonic() < deadline, f"still pending/open after {timeout:g} s: {counts(ws)}"
        time.sleep(0.1)


def assert_store_and_chain_agree(ws: Workspace, recorded: int) -> None:
    """Every event anchored exactly once and verifying; every root on chain exactly once."""
    recorded += KEY_RECORDS  # the key log's records of the suppliers' keys are events too
    rows = stored_events(ws)
    batches = stored_batches(ws)
    assert len(rows) == recorded
    assert all(r.anchor_id is not None and r.proof is not None for r in rows)
    assert {b.status for b in batches} == {"confirmed"}
    assert sum(b.leaf_count for b in batches) == recorded
    by_batch: dict[int, int] = {}
    for r in rows:
        by_batch[r.anchor_id] = by_batch.get(r.anchor_id, 0) + 1  # type: ignore[index]
    assert by_batch == {b.id: b.leaf_count for b in batches}
    chain = ws.chain()
    on_chain = [r.root.hex() for r in chain.roots()]  # one RootAnchored log per root sent
    assert len(on_chain) == len(set(on_chain)), "a root was anchored twice"
    assert sorted(on_chain) == sorted(b.root for b in batches)
    with ws.session() as s:
        report = audit(s, chain, check_signatures=False)
    assert report.ok, (report.problems, report.bad_events[:5])
    assert report.events_checked == recorded


# Where each round kills the worker: (fault point, which occurrence of it). For a new batch
# ``in_commit`` #1 is the write-ahead of the signed transaction's hash and #2 the commit that
# confirms it; a batch left by the round before shifts them (its confirm comes first).
KILL_POINTS = (
    [("before_send", 1)] * 3
    + [("after_send", 1)] * 3
    + [("in_commit", 1)] * 2
    + [("in_commit", 2)] * 2
    + [("in_commit", 3), ("in_prepare", 1)]
)


def test_kill_9_at_chosen_points_over_many_rounds_while_events_arrive(
    tmp_path, postgres_url, anvil_node, events, workers
) -> None:
    rng = random.Random(SEED)
    rounds = KILL_POINTS[:]
    rng.shuffle(rounds)
    with open_site(tmp_path, postgres_url, anvil_node) as ws:
        feeder = Feeder(ws, events, "K")
        feeder.start()
        left_open = 0  # rounds whose kill left a batch prepared or sent (there is something to recover)
        try:
            for n, (point, occurrence) in enumerate(rounds):
                w = Worker(ws.settings, tmp_path / f"round-{n}.log", 0.2, pause=f"{point}=2")
                workers.append(w)
                w.wait_for(f"fault-pause {point}", occurrence)
                time.sleep(rng.uniform(0.0, 0.3))  # anywhere inside the pause
                w.kill()
                statuses = [b.status for b in stored_batches(ws)]
                left_open += statuses.count("confirmed") < len(statuses)
                print(f"round {n}: killed at {point} #{occurrence}; batches {statuses}")
        finally:
            recorded = feeder.stop()
        print(f"seed {SEED}: {recorded} events recorded over {len(rounds)} rounds")
        assert left_open >= len(rounds) // 2, left_open  # the kills did interrupt work in flight

        last = Worker(ws.settings, tmp_path / "recovery.log", 0.2)  # a worker nobody kills finishes the job
        workers.append(last)
        wait_until_all_anchored(ws)
        last.kill()
        assert_store_and_chain_agree(ws, recorded)


def test_node_stopped_during_ingest_and_anchoring_events_wait_and_are_all_anchored_when_it_returns(
    tmp_path, postgres_url, anvil_with_state, events, workers
) -> None:
    node = anvil_with_state()
    with open_site(tmp_path, postgres_url, node.url) as ws:
        w = Worker(ws.settings, tmp_path / "worker.log", 0.3)
        workers.append(w)
        feeder = Feeder(ws, events, "N")
        feeder.start()
        try:
            w.wait_for("anchored ")
            node.stop()
            before = feeder.recorded
            time.sleep(3.0)  # down: recording goes on, anchoring fails and is retried
            assert feeder.recorded > before, "recording stopped while the node was down"
            w.wait_for("ChainUnavailableError, will retry")
            pending, _ = counts(ws)
            assert pending > 0
            anvil_with_state()  # back, with its state
            time.sleep(1.0)
        finally:
            recorded = feeder.stop()
        wait_until_all_anchored(ws)
        w.kill()
        assert_store_and_chain_agree(ws, recorded)


def test_two_workers_one_leads_and_leadership_moves_within_one_interval_when_the_leader_is_killed(
    tmp_path, postgres_url, anvil_node, events, workers
) -> None:
    interval = 1.0
    with open_site(tmp_path, postgres_url, anvil_node) as ws:
        feeder = Feeder(ws, events, "T")
        feeder.start()
        takeovers: list[float] = []
        try:
            pair = [Worker(ws.settings, tmp_path / f"w{i}.log", interval) for i in range(2)]
            workers.extend(pair)
            for _ in range(2):  # kill the leader twice: leadership moves there and back
                deadline = time.monotonic() + 45
                while not [w for w in pair if "leading:" in w.text()]:
                    assert time.monotonic() < deadline, "no worker leads"
                    time.sleep(0.05)
                [leader] = [w for w in pair if "leading:" in w.text()]
                [follower] = [w for w in pair if w is not leader]
                follower.wait_for("waiting: another worker leads")
                leader.wait_for("anchored ")
                time.sleep(0.5)
                killed_at = time.monotonic()
                leader.kill()
                takeovers.append(follower.wait_for("leading:") - killed_at)
                assert follower.text().count("leading:") == 1
                pair = [follower, Worker(ws.settings, tmp_path / f"w{len(workers)}.log", interval)]
                workers.append(pair[1])
                pair[1].wait_for("waiting: another worker leads")
                follower.wait_for("anchored ", count=follower.text().count("anchored ") + 1)
        finally:
            recorded = feeder.stop()
        print(
            f"takeover after the leader's kill: {', '.join(f'{t:.2f} s' for t in takeovers)} (interval {interval:g} s)"
        )
        assert all(t <= interval + 1.0 for t in takeovers), takeovers  # one interval (+1 s for a loaded machine)
        wait_until_all_anchored(ws)
        assert_store_and_chain_agree(ws, recorded)


def test_postgresql_restarted_under_two_workers_the_lock_is_taken_again_and_nothing_is_lost(
    tmp_path, postgres_server, postgres_url, anvil_node, events, workers
) -> None:
    interval = 0.5
    with open_site(tmp_path, postgres_url, anvil_node) as ws:
        feeder = Feeder(ws, events, "P", store_may_fail=True)
        feeder.start()
        try:
            pair = [Worker(ws.settings, tmp_path / f"p{i}.log", interval) for i in range(2)]
            workers.extend(pair)
            deadline = time.monotonic() + 45
            while not (any("anchored " in w.text() for w in pair) and any("waiting:" in w.text() for w in pair)):
                assert time.monotonic() < deadline, [w.text() for w in pair]
                time.sleep(0.05)
            # Every session ends, the leader's lock with it. "fast", not "immediate": the test
            # cluster runs with synchronous_commit=off, so a crash would lose acknowledged commits.
            # Counted before the restart: a worker may lead again before restart() has returned.
            before = sum(w.text().count("leading:") for w in pair)
            postgres_server.restart(mode="fast")
            deadline = time.monotonic() + 45
            while sum(w.text().count("leading:") for w in pair) == before:  # someone leads again
                assert time.monotonic() < deadline, [w.text()[-2000:] for w in pair]
                time.sleep(0.05)
            time.sleep(1.0)
        finally:
            recorded = feeder.stop()
        print(f"{recorded} events recorded, {feeder.refused} submissions refused while PostgreSQL restarted")
        wait_until_all_anchored(ws)
        assert all(w.proc.poll() is None for w in pair), "a worker died with the database"
        assert_store_and_chain_agree(ws, recorded)

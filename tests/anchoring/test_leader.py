"""The leader lock: one anchoring worker at a time, on PostgreSQL (advisory lock) and SQLite (flock)."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cradletrace.anchoring.leader import LOCK_NAME, leader_lock
from cradletrace.anchoring.worker import AnchorWorker
from cradletrace.cli import app
from cradletrace.config import Settings
from cradletrace.errors import AnchoringBusyError
from cradletrace.store.lock import FileLeaderLock, PostgresLeaderLock, lock_key
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchoring import add_suppliers, raw_lots, record_into, stored_batches, stored_events
from tests.conftest import KEY_RECORDS


def test_lock_key_is_a_fixed_signed_64_bit_number() -> None:
    assert lock_key(LOCK_NAME) == lock_key("cradletrace.anchoring") and -(1 << 63) <= lock_key(LOCK_NAME) < (1 << 63)
    assert lock_key("other") != lock_key(LOCK_NAME)


def test_file_lock_is_held_by_one_holder_until_released(tmp_path) -> None:
    a, b = FileLeaderLock(tmp_path / "x.anchor.lock"), FileLeaderLock(tmp_path / "x.anchor.lock")
    assert a.acquire() and a.held and a.check()
    assert not b.acquire() and not b.held
    assert b.holder().startswith("pid ")
    a.release()
    assert b.holder() == "nobody"  # the file still names the old holder; the lock says otherwise
    assert not a.held and b.acquire()
    b.release()


@pytest.mark.postgres
def test_advisory_lock_moves_when_the_leaders_session_ends(postgres_url) -> None:
    a, b = PostgresLeaderLock(postgres_url, LOCK_NAME), PostgresLeaderLock(postgres_url, LOCK_NAME)
    try:
        assert a.acquire() and a.check()
        assert not b.acquire()
        assert "cradletrace anchoring leader" in b.holder()
        dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as admin:  # the query docs/operations.md gives
            [(name,)] = admin.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.classid = 2827587790 AND l.objid = 751585884"
            ).fetchall()
            assert name.startswith("cradletrace anchoring leader (pid ")
        with psycopg.connect(dsn, autocommit=True) as admin:  # the leader's session dies (as with kill -9)
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'cradletrace anchoring leader%'"
            )
        assert not a.check() and not a.held  # the old leader notices and steps down
        assert b.acquire() and b.check()
        assert not a.acquire()
    finally:
        a.release()
        b.release()


def test_leader_lock_follows_the_store(tmp_path) -> None:
    lock = leader_lock(f"sqlite:///{tmp_path / 'cradletrace.sqlite'}")
    assert isinstance(lock, FileLeaderLock) and lock.path == tmp_path / "cradletrace.sqlite.anchor.lock"
    assert isinstance(leader_lock("postgresql+psycopg://u@127.0.0.1:1/x"), PostgresLeaderLock)


def test_a_worker_does_not_anchor_while_another_leads(workspace: Workspace, record, events) -> None:
    record(events)
    rival = leader_lock(workspace.settings.store_url)
    assert rival.acquire()
    try:
        worker = AnchorWorker(workspace.settings, workspace.session, workspace.chain)  # type: ignore[arg-type]
        with pytest.raises(AnchoringBusyError, match="leader lock"):
            worker.run_once()
        workspace.close()  # the CLI opens the embedded chain itself
        db = ["--database-url", workspace.settings.database_url] if workspace.settings.database_url else []
        result = CliRunner().invoke(app, ["anchor", "--data-dir", str(workspace.settings.data_dir), *db])
        assert result.exit_code == 2 and "another anchoring worker holds the leader lock" in result.output
        status = CliRunner().invoke(app, ["status", "--data-dir", str(workspace.settings.data_dir), *db])
        assert status.exit_code == 0 and "anchoring leader: " in status.output and "nobody" not in status.output
    finally:
        rival.release()
    result = CliRunner().invoke(app, ["anchor", "--data-dir", str(workspace.settings.data_dir), *db])
    assert result.exit_code == 0 and result.output.startswith(f"anchored {7 + KEY_RECORDS} events"), result.output


@pytest.mark.postgres
@pytest.mark.node
def test_two_api_processes_on_one_store_anchor_from_one_leader(tmp_path, postgres_url, anvil_node, events) -> None:
    """Two API runtimes (as two `serve` processes would hold) share a store: one anchoring thread
    leads, POST /anchor in the other is refused, and when the leader stops the other takes over."""
    from cradletrace.api.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, rpc_url=anvil_node, anchor_interval=0.2)
    ws, _ = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events)
        a, b = Runtime(settings), Runtime(settings)
        a.open()
        b.open()
        try:
            _wait_for_no_pending(ws)
            [leader] = [r for r in (a, b) if r.anchor_worker.lock.held]
            [follower] = [r for r in (a, b) if r is not leader]
            with pytest.raises(AnchoringBusyError, match="leader lock"):
                follower.anchor_now()
            assert leader.anchor_now() == []
            leader.close()
            record_into(ws, raw_lots(events, 3))
            _wait_for_no_pending(ws)
            assert follower.anchor_worker.lock.held
        finally:
            a.close()
            b.close()
        assert len(stored_batches(ws)) == 2 and {x.status for x in stored_batches(ws)} == {"confirmed"}


def _wait_for_no_pending(ws: Workspace, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while [e for e in stored_events(ws) if e.anchor_id is None] or [
        x for x in stored_batches(ws) if x.status != "confirmed"
    ]:
        assert time.monotonic() < deadline, "events still pending"
        time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.node
def test_post_anchor_in_a_process_that_does_not_lead_is_409(tmp_path, postgres_url, anvil_node, events) -> None:
    import json

    from tests.api.conftest import B, open_site, raw_milk, signed

    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, rpc_url=anvil_node)
    with open_site(settings, anchor_interval=0) as site:
        body = json.dumps(signed(settings, raw_milk(5, B))).encode()
        assert site.client.post("/api/v1/events", headers=site.auth("supplier_b"), content=body).status_code == 201
        rival = leader_lock(settings.store_url)
        assert rival.acquire()
        try:
            r = site.client.post("/api/v1/anchor", headers=site.auth("operator"))
            assert r.status_code == 409 and r.json()["detail"].startswith("anchoring runs in another worker"), r.text
        finally:
            rival.release()
        r = site.client.post("/api/v1/anchor", headers=site.auth("operator"))
        assert r.status_code == 200 and r.json()["events"] == 5, r.text

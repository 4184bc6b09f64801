"""Self-tests for the throwaway PostgreSQL fixture in tests/pg.py."""

from __future__ import annotations

import subprocess
import time

import pytest
from sqlalchemy import create_engine, text

from cradletrace.devstack.pg import PostgresServer

pytestmark = pytest.mark.postgres


def _scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_select_version(postgres_server: PostgresServer) -> None:
    version = _scalar(postgres_server.url, "select version()")
    assert isinstance(version, str) and version.startswith("PostgreSQL 15")
    assert postgres_server.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_server.startup_seconds is not None
    print(f"\nstartup: {postgres_server.startup_seconds:.2f}s")


def test_per_test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    other = postgres_server.create_database()
    assert other != postgres_url
    e1, e2 = create_engine(postgres_url), create_engine(other)
    try:
        with e1.begin() as c:
            c.execute(text("create table t (x int)"))
            c.execute(text("insert into t values (1)"))
        with e2.connect() as c:
            assert c.execute(text("select to_regclass('t')")).scalar_one() is None
            assert c.execute(text("select current_database()")).scalar_one() == other.rsplit("/", 1)[1]
    finally:
        e1.dispose()
        e2.dispose()


def test_create_database_timing(postgres_server: PostgresServer) -> None:
    n = 10
    t0 = time.perf_counter()
    for _ in range(n):
        postgres_server.create_database()
    per_db = (time.perf_counter() - t0) / n
    print(f"\ncreate_database: {per_db * 1000:.1f} ms each")
    assert per_db < 5


def test_restart_keeps_data(postgres_server: PostgresServer, postgres_url: str) -> None:
    port = postgres_server.port
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as c:
            c.execute(text("create table kept (v text)"))
            c.execute(text("insert into kept values ('survives')"))
    finally:
        engine.dispose()
    postgres_server.restart()
    assert postgres_server.port == port
    assert _scalar(postgres_url, "select v from kept") == "survives"
    # a crash-style restart (immediate stop -> WAL recovery) keeps committed data too
    postgres_server.restart(mode="immediate")
    assert _scalar(postgres_url, "select count(*) from kept") == 1


def test_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    assert _scalar(postgres_server.url, "show listen_addresses") == "127.0.0.1"
    port = postgres_server.port
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    local = [line.split()[3] for line in out.stdout.splitlines() if line.strip()]
    assert local == [f"127.0.0.1:{port}"], out.stdout
    # the unix socket lives inside the server's temp dir
    assert _scalar(postgres_server.url, "show unix_socket_directories") == str(postgres_server.socket_dir)


def test_missing_binaries_fail_clearly(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from cradletrace.devstack import pg

    monkeypatch.setenv("PG_BIN", "/nonexistent")
    monkeypatch.setattr(pg, "DEFAULT_PG_BIN", "/nonexistent2")
    monkeypatch.setattr(pg.shutil, "which", lambda _name: None)
    with pytest.raises(pg.PostgresError, match="postgresql-15"):
        pg.find_pg_bin()

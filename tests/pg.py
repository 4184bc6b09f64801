"""The throwaway PostgreSQL server (cradletrace.devstack.pg) as pytest fixtures.

Registered in tests/conftest.py with ``pytest_plugins = ["tests.pg"]``:

* ``postgres_server`` (session): one running ``PostgresServer``.
* ``postgres_url`` (function): URL of a fresh, uniquely named database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cradletrace.devstack.pg import PostgresError, PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    if not postgres_server.running:  # a fault test left it down
        postgres_server.start_again()
    url = postgres_server.create_database()
    yield url
    # keep the (possibly tmpfs-backed) cluster small; FORCE ends leaked connections
    try:
        postgres_server.drop_database(url.rsplit("/", 1)[1])
    except Exception:
        pass  # server deliberately left down by a fault test, etc.

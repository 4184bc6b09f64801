"""The API under faults and scale-out: a PostgreSQL restart mid-load, and two workers on one store.

A restart must cost only refusals that say so (503 with the stable STORE_UNAVAILABLE detail, never a
500 or a traceback), the API must answer again once the store is back, and nothing may be stored in
part: a submission of several events is in the store whole or not at all. Two ``serve`` workers
writing at once must lose nothing and answer no 5xx.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from cradletrace.api.errors import STORE_UNAVAILABLE
from cradletrace.config import Settings
from cradletrace.devstack.pg import PostgresServer
from cradletrace.devstack.stack import prepare, serve_workers
from cradletrace.store.models import EventRow
from cradletrace.workspace import Workspace
from tests.api.conftest import B, open_site, raw_milk, signed

pytestmark = pytest.mark.postgres
PER_SUBMISSION = 3


def submissions(settings: Settings, n: int) -> list[list[dict[str, Any]]]:
    """``n`` bodies of PER_SUBMISSION signed raw-milk events of supplier B, each lot new."""
    items = signed(settings, raw_milk(n * PER_SUBMISSION, B))
    return [items[i : i + PER_SUBMISSION] for i in range(0, len(items), PER_SUBMISSION)]


def lots_of(body: list[dict[str, Any]]) -> list[str]:
    return [item["event"]["data"]["lot"] for item in body]


def stored(settings: Settings) -> dict[str, EventRow]:
    """Every stored event by lot."""
    with Workspace(settings) as ws, ws.session() as s:
        return {str(r.lot): r for r in s.exec(select(EventRow).where(col(EventRow.lot).is_not(None)))}


def assert_whole(settings: Settings, bodies: list[list[dict[str, Any]]], accepted: dict[int, list[str]]) -> None:
    """Each submission is stored whole or not at all; each accepted one with the digests it was given."""
    rows = stored(settings)
    for i, body in enumerate(bodies):
        present = [lot in rows for lot in lots_of(body)]
        assert all(present) or not any(present), f"submission {i} stored in part: {present}"
        if i in accepted:
            assert all(present), f"submission {i} was accepted but is not stored"
            assert [rows[lot].digest for lot in lots_of(body)] == accepted[i]
    for row in rows.values():
        assert hashlib.sha256(row.body.encode()).hexdigest() == row.digest, f"event {row.id} not stored as hashed"


def durable(server: PostgresServer, url: str) -> None:
    """Commits on ``url``'s database survive a server crash, as in production: the test cluster runs
    with ``synchronous_commit = off``, which would lose the last commits to a kill, not to a bug."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = on").format(sql.Identifier(url.rsplit("/", 1)[1]))
        )


def test_postgres_restart_under_load(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> None:
    durable(postgres_server, postgres_url)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    with open_site(settings) as site:
        bodies = submissions(settings, 60)
        key = site.auth("supplier_b")
        answers: list[tuple[str, int, Any, float]] = []  # (what, status, body, when)
        accepted: dict[int, list[str]] = {}
        down_at: list[float] = []

        def load() -> None:
            for i, body in enumerate(bodies):
                r = site.client.post("/api/v1/events", headers=key, content=json.dumps(body).encode())
                answers.append(("record", r.status_code, r.json(), time.monotonic()))
                if r.status_code == 201:
                    accepted[i] = [e["digest"] for e in r.json()["events"]]
                for what, url, headers in (
                    ("events", "/api/v1/events?limit=5", site.auth("operator")),
                    ("healthz", "/healthz", {}),
                ):
                    r = site.client.get(url, headers=headers)
                    answers.append((what, r.status_code, r.json(), time.monotonic()))
                time.sleep(0.1 if answers[-1][1] == 503 else 0.02)  # refusals are quick: keep some load for after

        loader = threading.Thread(target=load)
        loader.start()
        try:
            while len(accepted) < 5 and loader.is_alive():
                time.sleep(0.01)
            postgres_server.kill()  # -m immediate: a crash, recovery on start
            down_at.append(time.monotonic())
            time.sleep(1.5)
        finally:
            postgres_server.start_again()
            up_at = time.monotonic()
            loader.join(timeout=120)
        assert not loader.is_alive()

        refused = [a for a in answers if a[1] == 503]
        assert refused, "the restart was not noticed: no request was refused"
        for what, status, body, _ in answers:
            assert status in (200, 201, 503), (what, status, body)
            assert "Traceback" not in json.dumps(body)
            if status == 503:
                assert body == (
                    {"detail": STORE_UNAVAILABLE, "field": None, "problems": []}
                    if what != "healthz"
                    else {"status": "unavailable", "store": {"ok": False}, "chain": body["chain"]}
                ), body
        assert {a[0] for a in refused} >= {"record", "healthz"}
        after = [a for a in answers if a[3] > up_at + 0.5]
        assert after and all(a[1] in (200, 201) for a in after), [a[:2] for a in after]
        assert any(a[0] == "record" and a[1] == 201 for a in after)
        assert_whole(settings, bodies, accepted)
        # What was refused can simply be sent again now.
        retried = [
            i
            for i in range(len(bodies))
            if i not in accepted and not any(lot in stored(settings) for lot in lots_of(bodies[i]))
        ]
        for i in retried:
            r = site.client.post("/api/v1/events", headers=key, content=json.dumps(bodies[i]).encode())
            assert r.status_code == 201, r.text
            accepted[i] = [e["digest"] for e in r.json()["events"]]
        assert_whole(settings, bodies, accepted)


def post(url: str, key: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.node
def test_two_workers_on_one_store_lose_nothing(tmp_path: Path, postgres_url: str, anvil_node: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, rpc_url=anvil_node)
    keys = prepare(settings)
    bodies = submissions(settings, 48)
    results: dict[int, tuple[int, Any]] = {}
    with serve_workers(settings, 2, tmp_path) as served:

        def client(part: int) -> None:
            for i in range(part, len(bodies), 4):
                results[i] = post(f"{served.base}/api/v1/events", keys["supplier_b"], json.dumps(bodies[i]).encode())

        threads = [threading.Thread(target=client, args=(p,)) for p in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        with urllib.request.urlopen(f"{served.base}/metrics", timeout=30) as r:
            scraped = r.read().decode()
    out = served.output
    assert served.proc.returncode == 0, out
    assert out.count("Started server process") == 2, out
    assert "Traceback" not in out and " 500 " not in out, out
    # ct_<id>_<secret>: the secret part may itself hold "_", so split off only the prefix and the id
    assert not [who for who, secret in keys.items() if secret.split("_", 2)[2] in out]  # uvicorn's log too
    assert sorted(results) == list(range(len(bodies)))
    assert {status for status, _ in results.values()} == {201}, [r for r in results.values() if r[0] != 201][:3]
    assert_whole(settings, bodies, {i: [e["digest"] for e in body["events"]] for i, (_, body) in results.items()})
    with Workspace(settings) as ws, ws.session() as s:
        assert s.exec(select(func.count()).where(EventRow.kind != "key")).one() == len(bodies) * PER_SUBMISSION
        stored = s.exec(select(func.count()).select_from(EventRow)).one()  # and the key log's records
    # One scrape, answered by either worker, counts the requests both of them served.
    line = 'cradletrace_http_requests_total{method="POST",route="/api/v1/events",status="201"}'
    assert f"{line} {float(len(bodies))}" in scraped, scraped
    assert f"cradletrace_events_recorded_total {float(stored)}" in scraped

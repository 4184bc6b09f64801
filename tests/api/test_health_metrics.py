"""/healthz says whether this process reaches its store and chain; /metrics speaks Prometheus; and
``serve --workers N`` refuses the single-process store and chain with a message saying why."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.main import create_app
from cradletrace.config import Settings
from cradletrace.devstack.nodes import free_port, start_anvil
from cradletrace.devstack.processes import CLI, clean_env
from cradletrace.workspace import init_workspace
from tests.api.conftest import Site


def scrape(site: Site) -> dict[str, float]:
    r = site.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in r.text.splitlines() if line and not line.startswith("#"))
    }


def test_metrics_count_requests_by_route_template_and_read_the_store(site: Site) -> None:
    op = site.auth("operator")
    before = scrape(site)
    for _ in range(2):
        assert site.client.get(f"/api/v1/events/{site.ids['a_event']}", headers=op).status_code == 200
    assert site.client.get(
        "/01/09421902960018/10/NOPE/21/SECRETSERIAL01", headers={"Accept": "application/json"}
    ).status_code in (400, 404)
    assert site.client.get("/nowhere").status_code == 404
    after = scrape(site)
    text = site.client.get("/metrics").text
    key = 'cradletrace_http_requests_total{method="GET",route="/api/v1/events/{ref}",status="200"}'
    assert after[key] - before.get(key, 0) == 2
    assert 'route="/01/{rest}"' in text and 'route="unmatched",status="404"' in text
    assert "SECRETSERIAL01" not in text and "NOPE" not in text  # codes never become label values
    assert after["cradletrace_store_up"] == 1
    assert after["cradletrace_events_recorded_total"] == site.event_count()
    assert after["cradletrace_events_pending"] + after["cradletrace_events_anchored"] == site.event_count()
    assert after["cradletrace_anchor_latency_seconds"] >= 0
    assert 'cradletrace_anchor_batches{status="confirmed"}' in after


@pytest.mark.node
def test_healthz_is_503_while_the_chain_node_is_down(tmp_path: Path) -> None:
    node = start_anvil(free_port())
    try:
        settings = Settings(data_dir=tmp_path / "data", rpc_url=node.url, rpc_retries=1, rpc_timeout=5)
        ws, _ = init_workspace(settings)
        ws.close()
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            up = client.get("/healthz")
            assert up.status_code == 200 and up.json()["chain"]["ok"] and up.json()["chain"]["local"] is False
            node.stop()
            down = client.get("/healthz")
            assert down.status_code == 503, down.text
            assert down.json() == {
                "status": "unavailable",
                "store": {"ok": True},
                "chain": {"ok": False, "chain_id": None, "contract": None, "local": None},
            }
            assert client.get("/api/v1/health").status_code == 503
            assert client.get("/metrics").status_code == 200  # a scrape never waits on the chain
    finally:
        node.stop()


def test_serve_workers_refuses_a_single_process_store_and_chain(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CLI), "serve", "--workers", "2", "--data-dir", str(tmp_path / "data")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --workers 2 needs a PostgreSQL store (--database-url or DATABASE_URL)")
    assert "a JSON-RPC node (--rpc-url or CRADLETRACE_RPC_URL)" in done.stderr and "Traceback" not in done.stderr

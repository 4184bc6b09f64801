"""``cradletrace serve --demo`` as a user runs it: a real uvicorn on 127.0.0.1, spoken to over HTTP.

The server anchors in its own thread, so an event recorded over HTTP reaches the chain with no
second process; after SIGINT the chain file is released and what was anchored is still there.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cradletrace.api.errors import STOPPED
from cradletrace.config import Settings
from cradletrace.devstack.nodes import free_port
from cradletrace.devstack.processes import CLI, clean_env, running
from cradletrace.verification import verify_event
from cradletrace.workspace import Workspace
from tests.api.conftest import open_site, raw_milk, signed
from tests.servers import serve_demo


def call(method: str, url: str, key: str | None = None, body: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_demo_over_http(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with serve_demo(tmp_path, data, anchor_interval=0.3) as served:
        base, port = served.base, served.port
        status, health = call("GET", f"{base}/api/v1/health")
        assert status == 200 and health["status"] == "ok" and health["chain"]["local"] is True
        out = served.output
        keys = dict(re.findall(r"^  (operator|quality|supplier [a-z-]+) +(ct_\S+)$", out, re.M))
        assert {"operator", "quality", "supplier waikato-dairy"} <= set(keys), out
        assert f"{base}/docs" in out

        assert call("GET", f"{base}/api/v1/events")[0] == 401
        status, page = call("GET", f"{base}/api/v1/events?kind=test_report", keys["quality"])
        assert status == 200 and [e["outcome"] for e in page["items"]] == ["pass", "fail"]
        item = json.dumps(signed(Settings(data_dir=data), raw_milk(1, "waikato-dairy"))).encode()
        status, rec = call("POST", f"{base}/api/v1/events", keys["supplier waikato-dairy"], item)
        assert status == 201, rec
        eid = rec["events"][0]["id"]
        # The server's own anchoring thread puts it on chain.
        deadline = time.monotonic() + 30
        while (ev := call("GET", f"{base}/api/v1/events/{eid}", keys["operator"])[1])["anchoring"][
            "status"
        ] != "anchored":
            assert time.monotonic() < deadline, ev
            time.sleep(0.2)
        assert call("GET", f"{base}/api/v1/events/{eid}/verify", keys["operator"])[1]["status"] == "VALID"
    out = served.output
    assert served.proc.returncode == 0, out
    assert f"Uvicorn running on http://127.0.0.1:{port}" in out
    assert "Traceback" not in out
    # The chain file is free again, and the event anchored while serving verifies from it.
    with Workspace(Settings(data_dir=data)) as ws, ws.session() as s:
        assert verify_event(s, ws.chain(), str(eid)).status == "VALID"


def _heavy_lot(settings: Settings, rows: int, readings: int) -> None:
    """Give lot IF-0001 ``rows`` cold-chain records of ``readings`` readings each, written straight
    into the store (the export maps and hashes stored rows; it does not check their signatures)."""
    from cradletrace.core import canonical
    from cradletrace.store.models import EventRow
    from tests.api.conftest import FORMULA, A, key_file
    from tests.builders import if1_cold_chain

    kid, _ = key_file(settings, A)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    event = if1_cold_chain(
        kid, [{"at": (start + timedelta(minutes=i)).isoformat(), "c": 4 + i % 7 / 10} for i in range(readings)]
    )
    body = canonical.canonical_bytes(event).decode()
    with Workspace(settings) as ws, ws.session() as s:
        for i in range(rows):
            s.add(
                EventRow(
                    digest=f"{i:064x}",
                    kind="cold_chain",
                    supplier_id=A,
                    key_id=kid,
                    body=body,
                    signature="x",
                    recorded_at=start,
                    gtin=FORMULA,
                    lot="IF-0001",
                )
            )
        s.commit()


def _export_request(port: int, key: str) -> socket.socket:
    """An export of the heavy lot, sent over a raw connection the test closes itself."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(
        f"GET /api/v1/epcis/lots/IF-0001 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    )
    return conn


def test_an_expensive_export_stops_when_its_client_goes_and_never_holds_shutdown(tmp_path: Path) -> None:
    """Minutes of export work (60 records of 20 000 readings) against a real server: a client that
    hangs up stops it within seconds, and a server stopped while one runs exits within seconds."""
    settings = Settings(data_dir=tmp_path / "data")
    with open_site(settings) as site:
        quality = site.secrets["quality"]
    _heavy_lot(settings, rows=60, readings=20_000)
    port = free_port()
    argv = [str(CLI), "serve", "--data-dir", str(settings.data_dir), "--port", str(port), "--anchor-interval", "0"]
    with running(argv, tmp_path, port, env=clean_env(CRADLETRACE_API_SHUTDOWN_GRACE="1")) as served:
        stopped = 'route="/api/v1/epcis/lots/{lot}",status="503"'
        gone = _export_request(port, quality)
        time.sleep(1.5)  # the export is under way
        gone.close()
        deadline = time.monotonic() + 10
        while stopped not in urllib.request.urlopen(f"{served.base}/metrics", timeout=10).read().decode():
            assert time.monotonic() < deadline, "the export went on after its client had gone:\n" + served.output
            time.sleep(0.2)
        waiting = _export_request(port, quality)  # this client stays while the server stops
        time.sleep(1.5)
        began = time.monotonic()
        served.proc.send_signal(signal.SIGINT)
        try:
            served.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not stop within 20 s of SIGINT:\n" + served.output) from None
        took = time.monotonic() - began
        waiting.close()
    assert took < 10, f"stopping took {took:.1f} s\n{served.output}"
    assert served.proc.returncode == 0, served.output


def test_an_export_over_its_time_limit_is_503_naming_the_limit(tmp_path: Path) -> None:
    with open_site(Settings(data_dir=tmp_path / "data"), api_request_timeout=1e-6) as site:
        r = site.client.get("/api/v1/epcis/lots/IF-0001", headers=site.auth("quality"))
    assert r.status_code == 503 and r.json()["detail"] == STOPPED
    assert "api_request_timeout" in r.json()["problems"][0]["message"]

"""``cradletrace serve --demo`` as a user runs it: a real uvicorn on 127.0.0.1, spoken to over HTTP.

The server anchors in its own thread, so an event recorded over HTTP reaches the chain with no
second process; after SIGINT the chain file is released and what was anchored is still there.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cradletrace.config import Settings
from cradletrace.verification import verify_event
from cradletrace.workspace import Workspace
from tests.api.conftest import raw_milk, signed
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
        while (ev := call("GET", f"{base}/api/v1/events/{eid}", keys["operator"])[1])["anchoring"]["status"] != "anchored":
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

"""Requests run in FastAPI's thread pool and share one chain: reads, records and anchoring runs
(the request's and the background thread's) interleave without errors or double anchoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cradletrace.config import Settings
from tests.api.conftest import B, open_site, raw_milk, signed
from tests.conftest import KEY_RECORDS

P = "/api/v1"


def test_parallel_requests_share_the_chain(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with open_site(settings, anchor_interval=0.05) as site:
        c, op, b = site.client, site.auth("operator"), site.auth("supplier_b")
        bodies = [json.dumps(signed(settings, raw_milk(5, B))).encode() for _ in range(8)]
        a_event = site.ids["a_event"]
        calls: list[Callable[[], int]] = []
        for body in bodies:
            calls += [
                lambda body=body: c.post(f"{P}/events", headers=b, content=body).status_code,  # type: ignore[misc]
                lambda: c.post(f"{P}/anchor", headers=op).status_code,
                lambda: c.get(f"{P}/events/{a_event}/verify", headers=op).status_code,
                lambda: c.get(f"{P}/events/{a_event}/proof", headers=op).status_code,
                lambda: c.get(f"{P}/health").status_code,
            ]
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda f: f(), calls))
        assert statuses.count(201) == 8 and set(statuses) == {200, 201}
        c.post(f"{P}/anchor", headers=op)
        audit = c.post(f"{P}/audit", headers=site.auth("quality")).json()
        assert audit["ok"] is True and audit["events_checked"] == 7 + 40 + KEY_RECORDS
        pending = c.get(f"{P}/events", headers=op, params={"pending": True}).json()["items"]
        assert pending == []


def test_more_requests_than_connections_do_not_wait_for_each_other(tmp_path: Path) -> None:
    """A request's key lookup must not keep a store connection while it waits for a worker thread:
    with more requests in flight than connections, the ones holding connections waited for threads
    held by ones waiting for connections, until the pool's timeout turned them into 503s."""
    settings = Settings(data_dir=tmp_path / "data", db_pool_size=1, api_threads=1, db_wait_timeout=3)
    with open_site(settings, anchor_interval=0) as site:
        c, op = site.client, site.auth("operator")
        a_event = site.ids["a_event"]
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda _: c.get(f"{P}/events/{a_event}", headers=op).status_code, range(48)))
        assert statuses == [200] * 48

"""EPCIS streaming subscription latency (issue 18): a recorded event -> the partner's webhook has it.

The demo store behind the API app (the lifespan's delivery thread, as `cradletrace serve` runs it),
a named query with a streaming subscription to a real HTTP receiver on 127.0.0.1. ``--events``
raw-milk batch events are recorded one request at a time through ``POST /api/v1/events``; each
one's latency is from the request's start to the receiver reading the signed webhook carrying it
(the next is recorded once it arrived). Target: within 2 s.

Reference, measured in the same run: libsodium Ed25519 verifications per second.

    .venv/bin/python bench/bench_subscription.py [--events 200] [--postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))  # the tests' site and receiver; the query bench's reference

from bench_epcis_query import verification_rate

from cradletrace.config import Settings
from tests.api.conftest import B, open_site, raw_milk, signed
from tests.epcis.test_subscriptions import TOKEN, lot_of, receiver, verified


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, receiver() as hook:
        url = None
        server = None
        if args.postgres:
            from cradletrace.devstack.pg import PostgresServer

            server = PostgresServer(durable=True).start()  # fsync and synchronous commits on, as in production
            url = server.create_database()
        settings = Settings(data_dir=Path(tmp) / "data", database_url=url)
        try:
            with open_site(settings, scan_rate_per_minute=0) as site:
                q = site.auth("quality")
                assert (
                    site.client.post("/epcis/queries", headers=q, json={"name": "all", "query": {}}).status_code == 201
                )
                body = {"dest": hook.url("/bench"), "signatureToken": TOKEN, "stream": True}
                assert site.client.post("/epcis/queries/all/subscriptions", headers=q, json=body).status_code == 201
                bodies = [signed(settings, raw_milk(1, B)) for _ in range(args.events)]
                latencies: list[float] = []
                for item in bodies:
                    lot = str(item[0]["event"]["data"]["lot"])  # type: ignore[index]
                    seen = len(hook.got)
                    t = time.monotonic()
                    r = site.client.post("/api/v1/events", headers=site.auth("supplier_b"), json=item)
                    assert r.status_code == 201, r.text
                    while True:
                        with hook.lock:
                            new = hook.got[seen:]
                        hit = next((x for x in new if lot.encode() in x[2]), None)
                        if hit is not None:
                            break
                        if time.monotonic() - t > 30:
                            raise SystemExit(f"event {lot} not delivered in 30 s")
                        time.sleep(0.001)
                    latencies.append(hit[0] - t)
                    assert verified(hit[1], hit[2])
                delivered = {lot_of(e) for e in hook.events("/bench")}
                assert all(str(b[0]["event"]["data"]["lot"]) in delivered for b in bodies)  # type: ignore[index]
        finally:
            if server is not None:
                server.stop()
    rate = verification_rate()
    latencies.sort()
    median, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95)]
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{args.events} events recorded one by one through POST /api/v1/events ({store}), streaming subscription")
    print(
        f"record -> webhook received: median {median * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, "
        f"worst {latencies[-1] * 1e3:.1f} ms  (target <= 2000 ms)"
    )
    print(
        f"reference: libsodium Ed25519 verification {rate:,.0f}/s = {1e3 / rate:.3f} ms each; "
        f"median latency = {median * rate:.0f} verifications"
    )


if __name__ == "__main__":
    main()

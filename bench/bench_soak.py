"""Soak benchmark (issue 6): sustained mixed load on the production shape; prints figures, not pass/fail.

    .venv/bin/python bench/bench_soak.py                 # 10 minutes
    .venv/bin/python bench/bench_soak.py --minutes 2     # shorter

What runs (each a real process on 127.0.0.1, as ``scripts/stack`` starts them):

1. A throwaway PostgreSQL cluster (trace/devstack/pg.py), anvil (or the Hardhat node), ``cradletrace init``,
   the demo's suppliers, one API key per role; the demo story recorded and ``--items`` packs of its
   formula lot commissioned (so scans have real codes to open).
2. ``cradletrace serve --workers 2`` (scan rate limit off: the load comes from one address) and
   ``cradletrace anchor --watch --interval S``.
3. ``--clients`` threads in a closed loop for ``--minutes``, each request drawn at random:
   a JSON scan of a random pack (70 %), a submission of 5 new signed raw-milk events (25 %),
   a page of the event list as operator (5 %).

Figures: requests/s by kind, p50/p99 latency, errors (any 5xx, any unexpected status, any failed
connection; target 0), events lost (accepted but not stored; target 0), and anchoring lag: for
every event, its root's block time minus its recording time, in anchoring intervals (target: p99
at most 2). The load generator, both workers, the anchoring worker, PostgreSQL and the node all
share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.bench_core and tests.api.conftest

from sqlalchemy import text

from bench.bench_core import machine_info
from cradletrace import recording
from cradletrace.core import canonical, signing
from cradletrace.demo import story
from cradletrace.devstack.stack import whole_stack
from cradletrace.labels.commission import generate_codes
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, key_file, raw_milk

PER_SUBMISSION = 5
MIX = (("scan", 0.70), ("record", 0.25), ("list", 0.05))


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # digests of events the API accepted
    lock: threading.Lock = field(default_factory=threading.Lock)


def seed(settings: Any, items: int) -> list[str]:
    """Record the demo story and commission ``items`` packs of its formula lot: their scan paths."""
    now = datetime.now(UTC)
    with Workspace(settings) as ws, ws.session() as s:
        signed = recording.sign_submissions(
            recording.read_submissions(story(now)), recording.key_loader(s, settings.keys_dir), ws.limits
        )  # type: ignore[arg-type]
        recording.record_submissions(s, signed, now)
    batch = next(e for e in story(now) if e["kind"] == "batch" and e["supplier"] == A)
    gtin, lot = batch["data"]["product"]["gtin"], batch["data"]["lot"]  # type: ignore[index]
    paths: list[str] = []
    while len(paths) < items:
        with Workspace(settings) as ws, ws.session() as s:
            codes = generate_codes(
                s,
                settings.keys_dir,
                gtin=gtin,
                lot=lot,
                count=min(10_000, items - len(paths)),
                supplier=A,
                resolver=settings.resolver_host,
                limits=ws.limits,
            )
        paths += [link.path for link in codes.links]
    return paths


def call(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def client(
    base: str, keys: dict[str, str], paths: list[str], signer: Any, until: float, tally: Tally, seed_: int
) -> None:
    rnd = random.Random(seed_)
    kinds, weights = zip(*MIX)
    while time.monotonic() < until:
        kind = rnd.choices(kinds, weights)[0]
        if kind == "scan":
            method, url, headers, body, want = (
                "GET",
                base + rnd.choice(paths),
                {"Accept": "application/json"},
                None,
                200,
            )
        elif kind == "record":
            body = json.dumps(signer(raw_milk(PER_SUBMISSION, B))).encode()
            method, url, want = "POST", f"{base}/api/v1/events", 201
            headers = {"Authorization": f"Bearer {keys['supplier_b']}", "Content-Type": "application/json"}
        else:
            method, url, headers, body, want = (
                "GET",
                f"{base}/api/v1/events?limit=20",
                {"Authorization": f"Bearer {keys['operator']}"},
                None,
                200,
            )
        start = time.perf_counter()
        try:
            status, answer = call(method, url, headers, body)
        except OSError as exc:
            status, answer = 0, str(exc).encode()
        took = time.perf_counter() - start
        with tally.lock:
            tally.latencies[kind].append(took)
            if status != want:
                tally.errors[kind] += 1
                if len(tally.samples) < 5:
                    tally.samples.append(f"{kind} {status}: {answer[:200]!r}")
            elif kind == "record":
                tally.accepted += [e["digest"] for e in json.loads(answer)["events"]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between anchoring runs")
    parser.add_argument("--items", type=int, default=2000, help="packs commissioned for scans")
    args = parser.parse_args()
    print("\n".join(machine_info()))
    data_dir = Path(tempfile.mkdtemp(prefix="cradletrace-soak-")) / "data"
    with whole_stack(data_dir, args.workers, args.interval, durable=True, CRADLETRACE_SCAN_RATE_PER_MINUTE="0") as (
        settings,
        keys,
        api,
        anchorer,
    ):
        t0 = time.monotonic()
        paths = seed(settings, args.items)
        kid, pem = key_file(settings, B)
        private = signing.load_private_key(pem)

        def signer(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Sign as the farm's own tooling would (its key, canonical bytes)."""
            signed = [{**ev, "key": kid} for ev in events]
            return [{"event": ev, "signature": signing.sign(private, canonical.canonical_bytes(ev))} for ev in signed]

        print(
            f"setup: {time.monotonic() - t0:.1f} s ({len(paths)} packs); load: {args.clients} clients for "
            f"{args.minutes:g} min against {args.workers} API workers, anchoring every {args.interval:g} s"
        )
        tally = Tally()
        started = time.monotonic()
        until = started + args.minutes * 60
        threads = [
            threading.Thread(target=client, args=(api.base, keys, paths, signer, until, tally, i))
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        # Let the anchoring worker catch up (at most a few intervals), then read what happened.
        deadline = time.monotonic() + 6 * args.interval + 30
        with Workspace(settings) as ws:
            while time.monotonic() < deadline:
                with ws.engine.connect() as conn:
                    pending = conn.execute(
                        text(
                            "SELECT count(*) FROM event e LEFT JOIN anchor_batch b ON b.id = e.anchor_id "
                            "WHERE b.status IS DISTINCT FROM 'confirmed'"
                        )
                    ).scalar_one()
                if not pending:
                    break
                time.sleep(0.5)
            with ws.engine.connect() as conn:
                stored = {d for (d,) in conn.execute(text("SELECT digest FROM event"))}
                lags = [
                    float(x)
                    for (x,) in conn.execute(
                        text(
                            "SELECT EXTRACT(EPOCH FROM (b.block_time - e.recorded_at)) FROM event e "
                            "JOIN anchor_batch b ON b.id = e.anchor_id WHERE b.status = 'confirmed' AND e.lot LIKE 'RM-T%'"
                        )
                    )
                ]
                roots, distinct = conn.execute(text("SELECT count(*), count(DISTINCT root) FROM anchor_batch")).one()
        with urllib.request.urlopen(f"{api.base}/metrics", timeout=30) as r:
            scraped = [
                line
                for line in r.read().decode().splitlines()
                if line.startswith(("cradletrace_events", "cradletrace_oldest"))
            ]
        total = sum(len(v) for v in tally.latencies.values())
        all_latencies = [x for v in tally.latencies.values() for x in v]
        lost = len(set(tally.accepted) - stored)
        print(
            f"\nran {elapsed:.0f} s: {total} requests, {total / elapsed:.1f} req/s, p50 {pct(all_latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {pct(all_latencies, 0.99) * 1000:.0f} ms, errors {sum(tally.errors.values())}"
        )
        for kind, _ in MIX:
            lat = tally.latencies[kind]
            print(
                f"  {kind:<7} {len(lat):>7} ({len(lat) / elapsed:6.1f}/s)  p50 {pct(lat, 0.5) * 1000:6.0f} ms  "
                f"p99 {pct(lat, 0.99) * 1000:6.0f} ms  max {max(lat, default=0) * 1000:6.0f} ms  errors {tally.errors[kind]}"
            )
        for sample in tally.samples:
            print(f"  error sample: {sample}")
        print(
            f"events accepted {len(tally.accepted)} ({len(tally.accepted) / elapsed:.1f}/s), lost {lost}, "
            f"still pending after the drain {pending}; roots {roots}, distinct {distinct}"
        )
        if lags:
            print(
                f"anchoring lag (root's block time - recording), {len(lags)} events: median {statistics.median(lags):.1f} s, "
                f"p99 {pct(lags, 0.99):.1f} s, max {max(lags):.1f} s = {pct(lags, 0.99) / args.interval:.2f} / "
                f"{max(lags) / args.interval:.2f} intervals (target: at most 2)"
            )
        print("metrics at the end: " + "; ".join(scraped))
        print("anchoring worker, last lines:\n    " + "    ".join(anchorer.lines[-5:]), end="")


if __name__ == "__main__":
    main()

"""Benchmark of the consumer scan endpoint (issue 3, "Benchmarks"): prints figures, not pass/fail.

    .venv/bin/python bench/bench_scan.py               # 1 000 000 items, 20 s per load run
    .venv/bin/python bench/bench_scan.py --quick       # 10 000 items, 5 s runs (smoke, ~1 min)
    .venv/bin/python bench/bench_scan.py --profile     # also cProfile the scan path in-process

What happens:

1. A throwaway PostgreSQL cluster (trace/devstack/pg.py) and an anvil node (trace/devstack/nodes.py): the embedded
   chain file admits one process, and the server runs two.
2. The demo's suppliers; per lot (default 100) a formula batch made from two raw-milk lots, a
   passing and a failing test report, a shipment with customs and a cold-chain record.
3. ``--items`` items commissioned through the real path (``labels.generate_codes``: serials
   drawn, events of 10 000 serials signed, validated and recorded), one transaction per lot;
   then everything is anchored on anvil, so every record of a scan verifies VALID.
4. ``uvicorn --factory cradletrace.api.main:app_factory --workers 2`` with settings from the
   environment (``CRADLETRACE_SCAN_RATE_PER_MINUTE=0``: the load comes from one address).
5. ``wrk`` (Debian package) with 64 connections on random item codes: JSON scans
   (``Accept: application/json``), HTML scans, and for comparison a static file
   (``/static/scan.css``, the trivial endpoint) and ``/api/v1/health`` (a store query and a
   contract call). Every scan is a real one: verified against the chain, counted, committed.

Targets (issue 3): >= 1 500 JSON scans/s with p99 <= 50 ms, and >= half the trivial endpoint's rate.
Load generator, server, PostgreSQL and anvil share this machine's cores.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.bench_core

from sqlalchemy import text
from sqlmodel import Session

from bench.bench_core import machine_info
from cradletrace import products, recording, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.demo import story
from cradletrace.devstack.nodes import free_port, start_anvil
from cradletrace.devstack.pg import PostgresServer
from cradletrace.labels.commission import generate_codes
from cradletrace.workspace import Workspace, init_workspace
from tests.servers import asgi_get

PEOPLE = [
    ("waikato-dairy", "Waikato Dairy Farm", "farm", "GAP;NZGAP-77812;AsureQuality;2099-12-31"),
    ("alps-nutrition", "Southern Alps Nutrition", "plant", "ISO 22000;FSSC-C129;SGS;2099-12-31"),
    ("canterbury-lab", "Canterbury Food Lab", "lab", "ISO/IEC 17025;IANZ-1284;IANZ;2099-12-31"),
    ("pacific-cold", "Pacific Cold Chain", "logistics", "HACCP;HACCP-5521;Bureau Veritas;2099-12-31"),
]
SAMPLE = 200_000  # item paths handed to wrk (drawn at random from all items)
WRK_LUA = """\
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(os.time() * 1000 + tonumber(args[2]))
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# -- the store -----------------------------------------------------------------------------------


def lot_events(now: datetime, lots: int) -> tuple[list[dict[str, Any]], str]:
    """The demo story once for the raw milk, then batch, reports, shipment and cold chain per lot."""
    base = story(now)
    raw = [e for e in base if e["kind"] == "batch" and e["supplier"] == "waikato-dairy"]
    per_lot = [e for e in base if e not in raw]
    gtin = str(per_lot[0]["data"]["product"]["gtin"])  # type: ignore[index]
    out = list(raw)
    for i in range(lots):
        lot, shipment = f"IF-{i:05d}", f"PCC-2026-{i:05d}"
        for e in copy.deepcopy(per_lot):
            d = e["data"]
            if e["kind"] == "batch":
                d["lot"] = lot
            elif e["kind"] == "test_report":
                d["batch"]["lot"] = lot
            elif e["kind"] == "shipment":
                d["id"], d["lot"]["lot"] = shipment, lot
            elif e["kind"] == "cold_chain":
                d["shipment"] = shipment
            out.append(e)
    return out, gtin


@dataclass
class Store:
    settings: Settings
    paths: list[str]
    figures: list[str]


def build_store(settings: Settings, items: int, lots: int, out: Path) -> Store:
    figures: list[str] = []
    now = datetime.now(UTC)
    ws, chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            for sid, name, role, cert in PEOPLE:
                suppliers.add_supplier(s, settings.keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
        events, gtin = lot_events(now, lots)
        with ws.session() as s:
            products.register_story(s, events, now)  # type: ignore[arg-type]
        t = time.perf_counter()
        with ws.session() as s:
            signed = recording.sign_submissions(
                recording.read_submissions(events), recording.key_loader(s, settings.keys_dir), ws.limits
            )  # type: ignore[arg-type]
            recording.record_submissions(s, signed, now)
        figures.append(f"lot records    : {len(events)} events for {lots} lots in {time.perf_counter() - t:.1f} s")
        per_lot = [items // lots + (1 if i < items % lots else 0) for i in range(lots)]
        paths: list[str] = []
        t = time.perf_counter()
        for i, n in enumerate(per_lot):
            with ws.session() as s:
                codes = generate_codes(
                    s,
                    settings.keys_dir,
                    gtin=gtin,
                    lot=f"IF-{i:05d}",
                    count=n,
                    supplier="alps-nutrition",
                    resolver="id.example.com",
                    limits=ws.limits,
                    now=now,
                )
            paths.extend(link.path for link in codes.links)
            done = len(paths)
            if i % max(1, lots // 10) == 0 or i == lots - 1:
                el = time.perf_counter() - t
                log(f"commissioned {done:,} items in {el:.0f} s ({done / el:,.0f} items/s)")
        took = time.perf_counter() - t
        figures.append(
            f"commissioning  : {items:,} items (events of 10 000 serials, one transaction per lot) "
            f"in {took:.1f} s = {items / took:,.0f} items/s"
        )
        t = time.perf_counter()
        results = anchoring.anchor_pending(lambda: Session(ws.engine, expire_on_commit=False), chain)
        figures.append(
            f"anchoring      : {sum(r.leaf_count for r in results)} events under {len(results)} root(s) "
            f"in {time.perf_counter() - t:.1f} s"
        )
        with ws.engine.connect() as conn:
            # A store in service for months, not one just bulk-loaded: its tables vacuumed (so
            # autovacuum does not start on a million fresh rows during a load run) and checkpointed.
            t = time.perf_counter()
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE)")
            conn.exec_driver_sql("CHECKPOINT")
            figures.append(f"vacuum         : VACUUM (ANALYZE) and CHECKPOINT in {time.perf_counter() - t:.1f} s")
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
        figures.append(f"store          : PostgreSQL database {size}")
    random.shuffle(paths)
    (out / "paths.txt").write_text("\n".join(paths[:SAMPLE]) + "\n")
    return Store(settings, paths, figures)


# -- the server and the load -----------------------------------------------------------------------


@contextmanager
def serve(settings: Settings, workers: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CRADLETRACE_DATA_DIR": str(settings.data_dir),
        "CRADLETRACE_DATABASE_URL": str(settings.database_url),
        "CRADLETRACE_RPC_URL": str(settings.rpc_url),
        "CRADLETRACE_SCAN_RATE_PER_MINUTE": "0",
    }
    argv = [
        str(Path(sys.executable).parent / "uvicorn"),
        "--factory",
        "cradletrace.api.main:app_factory",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log("server: " + " ".join(shlex.quote(a) for a in argv))
    logf = tempfile.TemporaryFile()  # noqa: SIM115 (the server outlives this call)
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ok = 0
        while ok < 2 * workers:  # several answers, so every worker has started
            if proc.poll() is not None or time.monotonic() > deadline:
                logf.seek(0)
                raise RuntimeError(f"server did not start:\n{logf.read().decode(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/api/v1/health", timeout=5) as r:
                    ok += r.status == 200
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        logf.seek(0)
        tail = logf.read().decode(errors="replace")
        if "Traceback" in tail or " 500 " in tail:
            print("server log (tail):\n" + tail[-3000:])


@dataclass
class Load:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int
    command: str


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk(
    name: str,
    url: str,
    connections: int,
    seconds: int,
    threads: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    paths: Path | None = None,
) -> Load:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if paths is not None:
        argv += ["--", str(paths), str(random.randrange(1 << 20))]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(name, rate, _ms(lat["50"]), _ms(lat["99"]), requests, bad, " ".join(shlex.quote(a) for a in argv))


# -- where the time goes, in process ---------------------------------------------------------------


def profile_scan(settings: Settings, paths: list[str], n: int, top: int) -> None:
    """The server's own CPU per scan, in this process without HTTP (the ASGI app called directly,
    8 scans at a time, as a worker runs them), then the stages of one scan, then a cProfile."""
    import asyncio

    from cradletrace.api.main import create_app
    from cradletrace.core.digitallink import parse_path
    from cradletrace.scan.service import scan_json
    from cradletrace.scanner_web.pages import render_scan

    app = create_app(settings.model_copy(update={"scan_rate_per_minute": 0, "anchor_interval": 0}))
    sample = random.sample(paths, min(n, len(paths)))

    async def request(path: str) -> int:
        return (await asgi_get(app, path, {"host": "127.0.0.1", "accept": "application/json"}))[0]

    async def requests(at_once: int) -> float:
        gate = asyncio.Semaphore(at_once)

        async def one(p: str) -> int:
            async with gate:
                return await request(p)

        cpu = time.process_time()
        codes = await asyncio.gather(*(one(p) for p in sample))
        assert set(codes) == {200}, sorted(set(codes))
        return (time.process_time() - cpu) / len(sample)

    async def stages() -> dict[str, float]:
        runtime = app.state.runtime
        names = ("parse path", "runtime.scan (one statement, view kept)", "scan_json", "render_scan (HTML)")
        spent = dict.fromkeys(names, 0.0)
        for p in sample:
            marks = [time.perf_counter()]
            code = parse_path(p)
            marks.append(time.perf_counter())
            result = await runtime.scan(code.gtin, code.lot, code.serial, datetime.now(UTC))
            assert result is not None
            marks.append(time.perf_counter())
            scan_json(result)
            marks.append(time.perf_counter())
            render_scan(result.view, "zh", scans=result.scans, serial=result.serial, memo=result.memo)
            marks.append(time.perf_counter())
            for name, a, b in zip(names, marks, marks[1:]):
                spent[name] += b - a
        return spent

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await requests(8)  # every lot's view kept, every connection open, as in a running worker
            cpu = await requests(8)
            print(
                f"\nCPU of this process per JSON scan (ASGI app called directly, 8 at a time, {len(sample)} scans, no HTTP): "
                f"{cpu * 1000:.3f} ms"
            )
            spent = await stages()
            print(f"where the time of one scan goes (one at a time, wall clock, mean of {len(sample)}):")
            for k, v in spent.items():
                print(f"  {k:<42} {v / len(sample) * 1000:7.3f} ms")
            prof = cProfile.Profile()
            prof.enable()
            await requests(8)
            prof.disable()
            for key in ("tottime", "cumulative"):
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
                print(f"\ncProfile of JSON scans through the app, by {key}:")
                print("\n".join(line[:160] for line in buf.getvalue().splitlines()[4:]))

    asyncio.run(main())


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--lots", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20, help="length of each load run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10 000 items, 5 s runs")
    parser.add_argument(
        "--profile", action="store_true", help="also time the scan's stages and cProfile them in-process"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.lots, args.seconds = 10_000, 10, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    print("\n".join(machine_info()))
    print(f"command : {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-scan-"))
    pg, node = PostgresServer(durable=True), None  # fsync and synchronous commits on, as in production
    try:
        log("starting PostgreSQL and anvil")
        pg.start()
        node = start_anvil(free_port())
        settings = Settings(data_dir=tmp / "data", database_url=pg.url, rpc_url=node.url)
        store = build_store(settings, args.items, args.lots, tmp)
        print("\n".join(store.figures))
        (tmp / "scan.lua").write_text(WRK_LUA)
        loads: list[Load] = []
        with serve(settings, args.workers) as url:
            common = dict(connections=args.connections, seconds=args.seconds, threads=args.threads)
            log("warm-up (JSON and HTML scans, 5 s)")
            wrk(
                "warm-up",
                url,
                script=tmp / "scan.lua",
                paths=tmp / "paths.txt",
                headers={"Accept": "application/json"},
                connections=args.connections,
                seconds=5,
                threads=args.threads,
            )
            for name, kw in (
                (
                    "scan JSON",
                    dict(script=tmp / "scan.lua", paths=tmp / "paths.txt", headers={"Accept": "application/json"}),
                ),
                ("scan HTML", dict(script=tmp / "scan.lua", paths=tmp / "paths.txt", headers={"Accept": "text/html"})),
                ("static file", {}),
                ("health", {}),
            ):
                target = url + (
                    "/static/scan.css" if name == "static file" else "/api/v1/health" if name == "health" else ""
                )
                log(f"load: {name}")
                loads.append(wrk(name, target, **common, **kw))  # type: ignore[arg-type]
        with Workspace(settings) as ws, ws.engine.connect() as conn:
            scans = conn.execute(text("SELECT count(*) FROM scan")).scalar_one()
        trivial = next(x for x in loads if x.name == "static file").rate
        print(
            f"\nload: wrk, {args.connections} connections, {args.threads} threads, {args.seconds} s per run, random items "
            f"of {args.items:,}; server: uvicorn, {args.workers} workers; {os.cpu_count()} cores shared by all"
        )
        print(f"{'endpoint':<12} {'req/s':>8} {'p50':>9} {'p99':>9} {'requests':>9} {'errors':>7}  vs static")
        for x in loads:
            print(
                f"{x.name:<12} {x.rate:8,.0f} {x.p50_ms:7.1f}ms {x.p99_ms:7.1f}ms {x.requests:9,} {x.bad:7}  {x.rate / trivial:6.0%}"
            )
        j = next(x for x in loads if x.name == "scan JSON")
        print(
            f"targets: JSON >= 1 500/s: {'met' if j.rate >= 1500 else 'MISSED'} ({j.rate:,.0f}); p99 <= 50 ms: "
            f"{'met' if j.p99_ms <= 50 else 'MISSED'} ({j.p99_ms:.1f} ms); >= half of static: "
            f"{'met' if j.rate >= trivial / 2 else 'MISSED'} ({j.rate / trivial:.0%})"
        )
        print(f"scans recorded in the store: {scans:,}")
        print("commands:")
        for x in loads:
            print(f"  {x.command}")
        if args.profile:
            profile_scan(settings, store.paths, 1000 if not args.quick else 300, 30)
    finally:
        if node is not None:
            node.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

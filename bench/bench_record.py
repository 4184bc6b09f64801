"""Recording speed in Ed25519 verifications per event (issue 18): prints figures, not pass/fail.

    .venv/bin/python bench/bench_record.py                        # 100 000 events each way, SQLite + PostgreSQL
    .venv/bin/python bench/bench_record.py --events 20000         # smaller
    .venv/bin/python bench/bench_record.py --no-postgres --no-rest

Issue 18's target: the whole recording path (validate, map, check signature, hash, store) at most
2 libsodium Ed25519 verifications of CPU time per event on SQLite, 2.5 on PostgreSQL. So this run
measures the verification itself (PyNaCl ``crypto_sign_open``, as recording uses it, on the run's
own event bodies, before and after the recording stages) and divides:

a. ``record``: ``recording.record_submissions`` as ``cradletrace record`` calls it, on signed
   synthetic events (bench_core's story: batches, test reports, shipments, cold chain), one
   transaction per submission of ``--submission`` (1 000) events.
b. EPCIS capture, in-process: documents of ``--document`` (10 000) events (bench_epcis's farm
   profile events, every copy its own lots and eventID), each validated (``validation.validate``),
   mapped and hashed (``map_document``) and captured (``capture.capture``: signatures, record,
   originals, index) in one transaction. The supplier's per-event signatures are made beforehand.
c. REST: ``POST /api/v1/epcis`` (document, key, one signature per mapped event) to a real uvicorn
   (one worker) on 127.0.0.1; CPU is the server process's (from /proc), wall is the client's.
d. The EPCIS 2.0 REST binding: ``POST /epcis/capture`` of the same documents, each request signed
   with an HTTP Message Signature (RFC 9421) over its Content-Digest (one verification per document),
   answered 202 and stored by the server's capture worker; the client polls each job to its end.

CPU µs per event is this process's CPU time (the server's for c); on PostgreSQL the database
server's own CPU is not in it (it is in the "other processes busy" note). Signing is not timed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nacl.bindings import crypto_sign_open
from sqlmodel import select

from bench import bench_core as bc
from bench.bench_epcis import SUPPLIERS, _copy, profile
from cradletrace import apikeys, products, recording, suppliers
from cradletrace.config import Settings
from cradletrace.core import canonical
from cradletrace.demo import FORMULA, MILK
from cradletrace.devstack.nodes import free_port
from cradletrace.epcis.capture import capture, map_document, sign_mapped
from cradletrace.epcis.validation import validate
from cradletrace.store.models import SupplierKey
from cradletrace.workspace import Workspace, init_workspace

FARM = "waikato-dairy"


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def verify_us(bodies: list[bytes], sigs: list[bytes], keys: list[bytes], rounds: int = 3) -> float:
    """CPU µs of one libsodium verification (PyNaCl ``crypto_sign_open``), best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        for body, sig, key in zip(bodies, sigs, keys):
            crypto_sign_open(sig + body, key)
        best = min(best, time.process_time() - t)
    return 1e6 * best / len(bodies)


def verification_sample(ws: Workspace, items: list[recording.Submission], n: int = 2000) -> tuple[Any, ...]:
    with ws.session() as s:
        pubs = {k.key_id: base64.b64decode(k.public_key) for k in s.exec(select(SupplierKey))}
    picked = items[:: max(1, len(items) // n)][:n]
    bodies = [canonical.canonical_bytes(it.event) for it in picked]
    sigs = [base64.b64decode(str(it.signature)) for it in picked]
    keys = [pubs[str(it.event["key"])] for it in picked]  # type: ignore[index,call-overload]
    return bodies, sigs, keys


def farm_documents(count: int, size: int) -> list[dict[str, Any]]:
    """``count`` EPCIS documents of ``size`` farm events, no event twice across them."""
    base = profile("farm")
    events = base["epcisBody"]["eventList"]
    docs = []
    for d in range(count):
        first = d * size + len(events)  # copy 0 (the profile itself) is left out: k >= 1 everywhere
        docs.append(
            {
                **base,
                "epcisBody": {
                    "eventList": [
                        _copy(events[j % len(events)], j // len(events), j % len(events))
                        for j in range(first, first + size)
                    ]
                },
            }
        )
    return docs


def epcis_workspace(settings: Settings, now: datetime) -> Workspace:
    ws, _ = init_workspace(settings)
    with ws.session() as s:
        for sid, name, role, cert in SUPPLIERS:
            suppliers.add_supplier(s, settings.keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
        products.add_product(s, MILK, FARM, "Raw cow's milk, chilled", now)
        products.add_product(s, FORMULA, "alps-nutrition", "Stage 1 infant formula 800 g", now)
    return ws


def signed(ws: Workspace, docs: list[dict[str, Any]]) -> tuple[str, list[list[str]]]:
    """The farm's key id and its signatures of each document's mapped events (the supplier's work)."""
    with ws.session() as s:
        key_id, pem = recording.key_loader(s, ws.settings.keys_dir)(FARM)
    return key_id, [sign_mapped(map_document(doc, FARM, key_id, ws.limits), pem) for doc in docs]


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its waited-for children."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(settings: Settings) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "CRADLETRACE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["CRADLETRACE_DATABASE_URL"] = settings.database_url
    argv = [  # this interpreter (-m): a copied venv's bin/uvicorn may name another checkout's python
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "cradletrace.api.main:app_factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    logf = tempfile.TemporaryFile()  # noqa: SIM115 (the server outlives this call)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                logf.seek(0)
                raise RuntimeError(f"server did not start:\n{logf.read().decode(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/api/v1/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post(url: str, secret: str, body: bytes) -> dict[str, Any]:
    req = urllib.request.Request(
        url + "/api/v1/epcis",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def capture_signed(base: str, secret: str, body: bytes, key_id: str, pem: bytes) -> dict[str, Any]:
    """POST one document to the REST binding, signed as a partner signs it, and wait for its job."""
    from cradletrace.epcis import httpsig

    media = "application/ld+json"
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": media,
        **httpsig.sign("POST", base + "/epcis/capture", media, body, key_id, pem),
    }
    req = urllib.request.Request(base + "/epcis/capture", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=600) as r:
        assert r.status == 202, r.status
        where = base + r.headers["Location"]
    while True:
        poll = urllib.request.Request(where, headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(poll, timeout=60) as r:
            job: dict[str, Any] = json.loads(r.read())
        if not job["running"]:
            return job
        time.sleep(0.05)


class Results:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, float, float]] = []  # what, events, CPU s, wall s

    def add(self, what: str, n: int, cpu: float, wall: float) -> None:
        self.rows.append((what, n, cpu, wall))
        log(f"{what}: {1e6 * cpu / n:,.0f} CPU µs/event, {n / wall:,.0f} events/s")

    def print(self, verify: float) -> None:
        print(f"\nEd25519 verification (PyNaCl crypto_sign_open, this run): {verify:.1f} CPU µs")
        head = f"{'path':58} {'events':>8} {'CPU µs/event':>13} {'events/s':>9} {'verifications/event':>20}"
        print(head)
        print("-" * len(head))
        for what, n, cpu, wall in self.rows:
            per = 1e6 * cpu / n
            print(f"{what:58} {n:>8,} {per:>13.1f} {n / wall:>9,.0f} {per / verify:>20.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="events each way (default 100 000)")
    p.add_argument("--submission", type=int, default=1000, help="events per record_submissions call")
    p.add_argument("--document", type=int, default=10_000, help="events per EPCIS document (at most 10 000)")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument(
        "--stages",
        default="record,capture,rest,binding",
        help="comma-separated: record, capture, rest, binding (default: all four)",
    )
    p.add_argument(
        "--no-rest", action="store_true", help="leave out the uvicorn runs (same as --stages record,capture)"
    )
    p.add_argument("--profile", choices=["record", "capture"], help="cProfile this stage (SQLite), top 40 to stderr")
    a = p.parse_args(argv)
    stages = set(a.stages.split(",")) - ({"rest", "binding"} if a.no_rest else set())
    n, size = a.events, min(a.document, recording.MAX_EVENTS)
    ndocs = max(1, n // size)
    print("cradletrace recording benchmark (issue 18: Ed25519 verifications per recorded event)")
    print(f"command : .venv/bin/python {' '.join(shlex.quote(x) for x in [sys.argv[0], *(argv or sys.argv[1:])])}")
    print("\n".join(bc.machine_info()))
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-record-"))
    pg = None
    results = Results()
    try:
        backends: list[tuple[str, str | None]] = [("SQLite", None)]
        if not a.no_postgres:
            from cradletrace.devstack.pg import PostgresServer

            log("starting a throwaway PostgreSQL server")
            pg = PostgresServer(dbname="bench").start()
            backends.append(("PostgreSQL", pg.url))

        # a. record_submissions, as `cradletrace record` does
        log("signing synthetic events")
        ws0, _ = init_workspace(Settings(data_dir=tmp / "record-SQLite"))
        bc.add_suppliers(ws0, now)
        items = bc.sign_all(ws0, bc.synthetic_events(n if "record" in stages else 2000))  # 2000: the sample
        sample = verification_sample(ws0, items)
        verify = [verify_us(*sample)]
        for label, url in backends if "record" in stages else []:
            ws = ws0
            if url is not None:
                ws, _ = init_workspace(Settings(data_dir=tmp / f"record-{label}", database_url=pg.create_database()))  # type: ignore[union-attr]
                bc.copy_suppliers(ws0, ws)
            log(f"record: {n:,} events on {label}")
            sw, _ = bc.bench_record(ws, items, a.submission, now, label, a.profile == "record" and url is None, 40)
            assert bc.count_rows(ws) == n
            results.add(f"a. record_submissions ({a.submission:,}/call), {label}", n, sw.cpu, sw.wall)
            ws.close()
        del items

        # b. EPCIS capture in-process; c. the same over HTTP
        docs = farm_documents(ndocs, size)
        for label, url in backends:
            if "capture" not in stages:
                break
            db = pg.create_database() if pg is not None and url is not None else None
            ws = epcis_workspace(Settings(data_dir=tmp / f"capture-{label}", database_url=db), now)
            key_id, sigs = signed(ws, docs)
            log(f"capture: {ndocs} documents of {size:,} events on {label}")
            cpu = wall = 0.0
            for doc, doc_sigs in zip(docs, sigs):
                with (
                    bc.maybe_profile(a.profile == "capture" and url is None, f"capture on {label}", 40),
                    bc.Stopwatch() as sw,
                ):
                    with ws.session() as s:
                        problems = validate(doc)
                        assert not problems, problems[:3]
                        mapped = map_document(doc, FARM, key_id, ws.limits)
                        capture(s, doc, mapped, doc_sigs, now, ws.limits)
                        s.commit()
                cpu, wall = cpu + sw.cpu, wall + sw.wall
            results.add(f"b. EPCIS capture ({size:,}-event documents), {label}", ndocs * size, cpu, wall)
            ws.close()
        for label, url in backends if "rest" in stages else []:
            db = pg.create_database() if pg is not None and url is not None else None
            settings = Settings(data_dir=tmp / f"rest-{label}", database_url=db)
            ws = epcis_workspace(settings, now)
            key_id, sigs = signed(ws, docs)
            with ws.session() as s:
                _, secret = apikeys.create_key(s, "bench", "supplier", FARM)
                s.commit()
            ws.close()  # the embedded chain admits one process: the server's
            bodies = [
                json.dumps({"document": d, "key": key_id, "signatures": g}, ensure_ascii=False).encode()
                for d, g in zip(docs, sigs)
            ]
            log(f"REST: POST /api/v1/epcis, {ndocs} documents of {size:,} events on {label}")
            with serve(settings) as (base, pid):
                cpu0, t0 = _proc_cpu(pid), time.perf_counter()
                for body in bodies:
                    assert post(base, secret, body)["count"] == size
                results.add(
                    f"c. POST /api/v1/epcis over uvicorn, {label}",
                    ndocs * size,
                    _proc_cpu(pid) - cpu0,
                    time.perf_counter() - t0,
                )
        for label, url in backends if "binding" in stages else []:
            db = pg.create_database() if pg is not None and url is not None else None
            settings = Settings(data_dir=tmp / f"binding-{label}", database_url=db)
            ws = epcis_workspace(settings, now)
            with ws.session() as s:
                key_id, pem = recording.key_loader(s, settings.keys_dir)(FARM)
                _, secret = apikeys.create_key(s, "bench", "supplier", FARM)
                s.commit()
            ws.close()
            bodies = [json.dumps(d, ensure_ascii=False).encode() for d in docs]
            log(f"REST binding: POST /epcis/capture, {ndocs} signed documents of {size:,} events on {label}")
            with serve(settings) as (base, pid):
                cpu0, t0 = _proc_cpu(pid), time.perf_counter()
                for body in bodies:
                    job = capture_signed(base, secret, body, key_id, pem)
                    assert job["success"] and job.get("ct:eventCount") == size, job
                results.add(
                    f"d. POST /epcis/capture (RFC 9421, 202 + job) over uvicorn, {label}",
                    ndocs * size,
                    _proc_cpu(pid) - cpu0,
                    time.perf_counter() - t0,
                )
        verify.append(verify_us(*sample))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results.print(sum(verify) / len(verify))
    print(
        f"(verification measured before and after the stages: {', '.join(f'{v:.1f}' for v in verify)} µs; "
        "targets: <= 2 verifications/event on SQLite, <= 2.5 on PostgreSQL)"
    )


if __name__ == "__main__":
    main()

"""Benchmark of the EPCIS query interface (issue 18): one EPC's history on a store of 1 000 000 events.

    .venv/bin/python bench/bench_epcis_query.py                  # 1 000 000 events (built once, ~3 min; cached)
    .venv/bin/python bench/bench_epcis_query.py --events 100000  # any size; each size is cached on its own
    .venv/bin/python bench/bench_epcis_query.py --rebuild        # build the store again

The store is a SQLite file holding the two index tables the query reads (epcis_index,
epcis_index_value), built with ``cradletrace.epcis.index.entry`` (the function that writes every
index row when an event is recorded or captured), so the rows are exactly what the product stores.
It is cached in bench/.cache/ (ignored by git), keyed by the event count.

The synthetic history, per pallet of 10 cans (SGTINs, one GTIN per 1 000 cans; an SSCC per pallet):
10 commissionings (ObjectEvent ADD), the packing (AggregationEvent, childEPCs the 10 cans), the
pallet shipped and received (ObjectEvent), 10 sales (ObjectEvent, retail_selling): 23 events, each
can named by 3 of them; 1 000 000 events hold about 435 000 cans. Every event has its own recordTime. Timed: ``query.run`` for one can's EPC (``/epcis/epcs/{epc}/
events``: every role) as quality (sees all), half of them asked as EPC URNs and half as Digital Link,
then the answer document encoded as JSON, as the route does; the figures exclude HTTP.

Reference in the same run: libsodium Ed25519 verifications (``signing.verify_signature``), the unit
issue 18's recording targets are counted in. Target: median and p95 <= 10 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"

from sqlalchemy import create_engine, event, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cradletrace.core import canonical, signing
from cradletrace.epcis import query
from cradletrace.epcis.index import entry
from cradletrace.store.models import EpcisIndex, EpcisIndexValue

START = datetime(2026, 1, 1, tzinfo=UTC)
PER_PALLET = 10
EVENTS_PER_PALLET = 2 * PER_PALLET + 3  # each can commissioned and sold; the pallet packed, shipped, received


def gtin_of(can: int) -> str:
    from cradletrace.core.codes import gtin_check_digit

    body = f"09421902{can // 1000:05d}"  # indicator 0, company prefix 9421902, item reference
    return body + str(gtin_check_digit(body))


def can_urn(can: int) -> str:
    g = gtin_of(can)
    return f"urn:epc:id:sgtin:9421902.{g[0]}{g[8:13]}.S{can}"


def can_dl(can: int) -> str:
    return f"https://id.gs1.org/01/{gtin_of(can)}/21/S{can}"


def pallet(p: int) -> str:
    return f"urn:epc:id:sscc:9421902.{p:010d}"


def events(n: int):  # type: ignore[no-untyped-def]
    """(EPCIS event, when) for the first ``n`` events of the synthetic history, in recording order."""
    i = 0
    p = 0
    while True:
        cans = list(range(p * PER_PALLET, (p + 1) * PER_PALLET))
        where = {"id": f"urn:epc:id:sgln:9421902.{p % 500:05d}.0"}
        batch: list[dict[str, object]] = []
        for c in cans:
            batch.append(
                {"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning", "disposition": "active",
                 "epcList": [can_urn(c)], "bizLocation": where}
            )  # fmt: skip
        batch.append(
            {"type": "AggregationEvent", "action": "ADD", "bizStep": "packing", "parentID": pallet(p),
             "childEPCs": [can_urn(c) for c in cans], "bizLocation": where}
        )  # fmt: skip
        for step, disp in (("shipping", "in_transit"), ("receiving", "in_progress")):
            batch.append(
                {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "disposition": disp,
                 "epcList": [pallet(p)], "readPoint": where}
            )  # fmt: skip
        for c in cans:
            batch.append(
                {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "retail_selling",
                 "disposition": "retail_sold", "epcList": [can_urn(c)]}
            )  # fmt: skip
        for ev in batch:
            if i >= n:
                return
            when = START + timedelta(seconds=i)
            ev = {**ev, "eventTime": when.isoformat(), "eventTimeZoneOffset": "+00:00"}
            yield ev, when
            i += 1
        p += 1


def engine(path: Path) -> Engine:
    eng = create_engine(f"sqlite:///{path}")

    @event.listens_for(eng, "connect")
    def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")

    return eng


def build(path: Path, n: int) -> None:
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    eng = engine(tmp)
    EpcisIndex.metadata.create_all(eng, tables=[EpcisIndex.__table__, EpcisIndexValue.__table__])  # type: ignore[attr-defined]
    t = time.perf_counter()
    rows, vals = [], []
    with eng.begin() as conn:
        for i, (ev, when) in enumerate(events(n), 1):
            h = "ni:///sha-256;" + canonical.sha256(json.dumps(ev).encode()).hex() + "?ver=CBV2.0"
            row, vs = entry(i, {"type": ev["type"], "eventID": h, **ev}, h, f"s{i % 50}", when)
            rows.append(row)
            vals.extend(vs)
            if len(rows) == 20_000:
                conn.execute(insert(EpcisIndex), rows)
                conn.execute(insert(EpcisIndexValue), vals)
                rows, vals = [], []
                print(f"  {i:,} events ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
        if rows:
            conn.execute(insert(EpcisIndex), rows)
            conn.execute(insert(EpcisIndexValue), vals)
        conn.exec_driver_sql("ANALYZE")
    eng.dispose()
    tmp.rename(path)


def verification_rate(seconds: float = 1.0) -> float:
    """libsodium Ed25519 verifications per second, measured now."""
    private = signing.load_private_key(signing.generate_key_pair().private_pem)
    public = signing.public_key_of(private)
    msg = b'{"kind":"batch","data":{"lot":"RM-A1"}}'
    sig = signing.sign(private, msg)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        for _ in range(200):
            assert signing.verify_signature(public, msg, sig)
        n += 200
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"epcis-query-{args.events}.sqlite"
    if args.rebuild or not path.exists():
        print(f"building {path} ({args.events:,} events)", file=sys.stderr)
        t = time.perf_counter()
        build(path, args.events)
        print(f"built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    eng = engine(path)
    pallets = args.events // EVENTS_PER_PALLET
    rng = random.Random(18)
    cans = [rng.randrange(pallets * PER_PALLET) for _ in range(args.queries)]
    viewer = query.Viewer(None)
    times: list[float] = []
    counts: list[int] = []
    with Session(eng) as s:
        for c in cans[:20]:  # warm the page cache
            query.run(s, {}, viewer, can_urn(c))
        for k, c in enumerate(cans):
            epc = can_urn(c) if k % 2 else can_dl(c)
            t = time.perf_counter()
            page = query.run(s, {}, viewer, epc)
            json.dumps(query.document(page, START), ensure_ascii=False, separators=(",", ":"))
            times.append(time.perf_counter() - t)
            counts.append(len(page.events))
    rate = verification_rate()
    times.sort()
    median, p95 = statistics.median(times), times[int(len(times) * 0.95)]
    print(f"store: {args.events:,} EPCIS events (SQLite, {path.stat().st_size / 1e6:.0f} MB), {args.queries} EPCs, "
          f"{statistics.mean(counts):.1f} events each (all: {min(counts)}–{max(counts)})")  # fmt: skip
    print(f"one EPC's history (query.run + JSON): median {median * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms, "
          f"worst {times[-1] * 1e3:.2f} ms  (target <= 10 ms)")  # fmt: skip
    print(f"reference: libsodium Ed25519 verification {rate:,.0f}/s = {1e3 / rate:.3f} ms each; "
          f"median query = {median * rate:.0f} verifications, p95 = {p95 * rate:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()

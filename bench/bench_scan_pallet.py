"""Benchmark of scanning a pallet label (issue 16, "Scale": scan of a pallet label <= 20 ms server
time): prints figures, not pass/fail.

    .venv/bin/python bench/bench_scan_pallet.py            # 60 cases of 12 cans, tables grown (below)
    .venv/bin/python bench/bench_scan_pallet.py --quick    # 20 cases of 6 cans, no growth (smoke, ~20 s)

What happens (SQLite, embedded chain, in one process):

1. The test site (tests/api/conftest.open_site): the demo story recorded and anchored, keys made.
2. Through the real recording path (signed events, ``recording.record_submissions``): a lot
   shipment whose sites carry GLNs, ``--cases`` x ``--cans`` cans commissioned, packed into cases,
   the cases onto one pallet, shipped and received; everything anchored, so each record verifies.
3. The unit tables grown to the issue's graph (``--grow-cases`` cases on ``--grow-pallets``
   pallets, each with a receiving at one of 500 GLNs, and one ``unit_event`` row per case):
   rows bulk-inserted as ``units.write`` writes them, so the indexes the page uses are that big.
4. ``GET /00/<SSCC>`` with a quality key, straight through the ASGI app on the app's own loop
   (``tests.servers.asgi_get``, no HTTP client, no socket): the page (HTML) and the JSON, timed
   around the call; median and p95 of ``--runs`` each, after a warm-up, and the process's CPU time
   per scan (all its threads: what the scan costs the server, less sensitive to a busy machine). Each one reads the
   pallet, its contents level by level, its path and the lots' cold chain, verifies every record
   against the chain (signature, Merkle proof, anchored root) and renders.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select

from bench.bench_core import machine_info
from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.store.models import EventRow, Unit, UnitEvent
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, A, commission, open_site
from tests.api.test_scan import record
from tests.servers import asgi_get
from tests.test_logistics import CASE_GTIN, PLANT_GLN, SSCC, STORE_GLN

TARGET_MS = 20.0


def gln(n: int) -> str:
    body = f"{942190297000 + n:012d}"
    return body + str(gtin_check_digit(body))


def sscc(n: int) -> str:
    body = f"{20614141000000000 + n:017d}"
    return body + str(gtin_check_digit(body))


def build(settings: Settings, cases: int, cans: int) -> tuple[Any, dict[str, str]]:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    site = {"lat": 31.22222, "lon": 121.45806, "country": "CN"}
    shipment = {
        "id": "BENCH-SHIP-1",
        "lot": {"gtin": FORMULA, "lot": "IF-0001"},
        "quantity": cases * cans,
        "unit": "can",
        "from_site": {"name": "Plant dock 1", "address": "Christchurch", "lat": -43.53, "lon": 172.6, "gln": PLANT_GLN},
        "to_site": {"name": "Pudong store 12", "address": "Shanghai", **site, "gln": STORE_GLN},
        "shipped_at": at,
    }

    def ev(kind: str, **data: Any) -> dict[str, object]:
        return {"kind": kind, "supplier": A, "data": data}

    links = commission(settings, "IF-0001", cases * cans)
    events = [ev("shipment", **shipment)]
    for i in range(cases):
        children = [{"gtin": FORMULA, "serial": x.serial} for x in links[i * cans : (i + 1) * cans]]
        events.append(ev("pack", parent={"gtin": CASE_GTIN, "serial": f"C{i}"}, children=children, at=at))
    case_refs = [{"gtin": CASE_GTIN, "serial": f"C{i}"} for i in range(cases)]
    events += [
        ev("pack", parent={"sscc": SSCC}, children=case_refs, at=at, place={"gln": PLANT_GLN}),
        ev("move", action="ship", units=[{"sscc": SSCC}], at=at, from_place={"gln": PLANT_GLN}),
        ev("move", action="receive", units=[{"sscc": SSCC}], at=at, to_place={"gln": STORE_GLN, "extension": "D1"}),
    ]
    record(settings, events)
    return events, {}


def grow(settings: Settings, cases: int, pallets: int) -> None:
    """Rows as units.write stores them: cases on pallets, each pallet received at one of 500 places."""
    now = datetime.now(UTC)
    with Workspace(settings) as ws, ws.engine.begin() as conn:
        event_id = conn.execute(select(EventRow.id).where(EventRow.kind == "move")).scalars().first()
        units: list[dict[str, Any]] = []
        named: list[dict[str, Any]] = []
        for p in range(pallets):
            code = f"00/{sscc(p)}"
            where = dict(gln=gln(p % 500), gln_extension=None, received_at=now, received_event_id=event_id)
            units.append(
                dict(code=code, kind="pallet", lot_id=None, parent=None, packed_event_id=None, holder=A, **where)
            )
            named.append(dict(code=code, event_id=event_id))
        for c in range(cases):
            code = f"01/{CASE_GTIN}/21/G{c}"
            parent = f"00/{sscc(c % pallets)}"
            none = dict(gln=None, gln_extension=None, received_at=None, received_event_id=None)
            units.append(
                dict(code=code, kind="case", lot_id=None, parent=parent, packed_event_id=event_id, holder=A, **none)
            )
            named.append(dict(code=code, event_id=event_id))
        for chunk in range(0, len(units), 10_000):
            conn.execute(insert(Unit), units[chunk : chunk + 10_000])
        for chunk in range(0, len(named), 10_000):
            conn.execute(insert(UnitEvent), named[chunk : chunk + 10_000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--cans", type=int, default=12)
    ap.add_argument("--grow-cases", type=int, default=100_000)
    ap.add_argument("--grow-pallets", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    if args.quick:
        args.cases, args.cans, args.grow_cases, args.grow_pallets, args.runs = 20, 6, 0, 0, 50
    print("\n".join(machine_info()))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        with open_site(settings, scan_rate_per_minute=0) as site:
            t0 = time.perf_counter()
            build(settings, args.cases, args.cans)
            if args.grow_pallets:
                grow(settings, args.grow_cases, args.grow_pallets)
            assert site.client.post("/api/v1/anchor", headers=site.auth("operator")).status_code == 200
            print(
                f"built: {args.cases} cases x {args.cans} cans on the pallet, tables grown by {args.grow_cases} "
                f"cases on {args.grow_pallets} pallets, in {time.perf_counter() - t0:.1f} s"
            )
            client, app, key = site.client, site.client.app, site.auth("quality")
            for fmt, headers in (("HTML", {}), ("JSON", {"Accept": "application/json"})):
                times, cpu = [], 0.0
                for i in range(args.runs + 5):
                    t, c = time.perf_counter(), time.process_time()
                    status, _, body = client.portal.call(asgi_get, app, f"/00/{SSCC}", {**key, **headers})  # type: ignore[union-attr]
                    if i >= 5:
                        times.append((time.perf_counter() - t) * 1000)
                        cpu += (time.process_time() - c) * 1000
                    shown = b'id="contents"' in body or b'"all_verified":true' in body  # the staff page, verified
                    assert status == 200 and shown, body[:300]
                times.sort()
                median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
                print(
                    f"scan of a pallet label ({fmt}, {args.cases * args.cans} cans): median {median:.1f} ms, "
                    f"p95 {p95:.1f} ms; CPU {cpu / args.runs:.1f} ms per scan  (target <= {TARGET_MS:.0f} ms server time)"
                )


if __name__ == "__main__":
    main()

"""Benchmark of genealogy and recall (issue 4, "Benchmark"): prints figures, not pass/fail.

    .venv/bin/python bench/bench_trace.py                 # 1 000 000 items, SQLite and PostgreSQL (~2 min)
    .venv/bin/python bench/bench_trace.py --quick         # a tenth of everything (100 000 items), ~15 s
    .venv/bin/python bench/bench_trace.py --items 100000  # any part scaled on its own
    .venv/bin/python bench/bench_trace.py --no-postgres   # SQLite only

The synthetic graph (defaults; every count is a flag): 2 000 raw-milk lots from 20 farms,
10 000 formula batches each made from 3 raw lots drawn at random, 1 000 000 serialized items
(commissioning events of one batch each), 100 000 shipments of the batches to 500 sites, a
passing test report per lot, an ok cold-chain record per 10th shipment, 200 000 consumer scans
of random items (every 5th shares a sealed coarse location).

How it is built: the events are made as dicts and signed once through the real signing path
(``recording.sign_submissions``: analyte limits filled in, canonical JSON, Ed25519); the rows are then
derived exactly as ``recording.record_submissions`` derives them (event columns from the parsed event,
lots, lot inputs, shipments, items) and bulk-loaded (SQLite: ``executemany`` in one transaction;
PostgreSQL: ``COPY``, then sequences set and ``ANALYZE`` as autovacuum would). Scans are the rows
``scans.record_scan`` and ``scans.attach_location`` write. tests/test_bench_trace.py checks at a
tiny scale that these rows equal what the real recording path stores, so the bench cannot rot.
Every trace is also checked against the generated graph (the lots it must reach).

The scan locations are sealed with a fixed throwaway key; PostgreSQL gets the same rows as SQLite
(its suppliers and keys copied), so both stores hold the same graph.

What is measured, on SQLite and on a throwaway PostgreSQL (trace/devstack/pg.py):

1. forward trace (``genealogy.trace_forward``) from 20 random raw lots: median and worst;
2. backward trace (``genealogy.trace_backward``) from 20 random items: median and worst;
3. forward traces from a whole farm (a supplier: 1/20 of the raw lots), 3 random farms, for scale;
4. full recalls (default 3, each closed afterwards, untimed): a failing test report on a random
   raw lot recorded through the real path (automatic hold, itself a forward trace), the trace
   from it (located), ``recalls.start_recall`` (every affected lot marked: scan pages show the
   warning), the notice sent and confirmed on the embedded chain, ``recallreport.build_report``
   and its JSON, CSV and XLSX files; then one recall of a whole farm's lots (free-text trigger),
   the big one.

Targets (issue 4): forward <= 0.5 s median, backward <= 50 ms, full recall <= 10 s; every figure
is also printed as a fraction of the two-hour rule.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.bench_core

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cradletrace import products, recording, suppliers
from cradletrace.config import Settings
from cradletrace.core import canonical
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.events import (
    BatchData,
    ColdChainData,
    CommissionData,
    ShipmentData,
    lot_of,
    outcome_of,
    parse_event,
)
from cradletrace.core.labels import SERIAL_BYTES, serial_from_bytes
from cradletrace.recall import (
    notices,
    recalls,
)
from cradletrace.recall import report as recallreport
from cradletrace.recall.genealogy import trace_backward, trace_forward
from cradletrace.recall.status import lot_status
from cradletrace.scan.history import LOCATION_SIZE
from cradletrace.sealing import Sealer
from cradletrace.store.models import Certification, EventRow, Product, ProductParty, Supplier, SupplierKey
from cradletrace.workspace import Workspace, init_workspace

TWO_HOURS_S = 7200.0
LotKey = tuple[str, str]


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def _gtin(body13: str) -> str:
    return body13 + str(gtin_check_digit(body13))


MILK = _gtin("9421902960001")
FORMULAS = [
    (_gtin(f"94219029601{i:02d}"), name)
    for i, name in enumerate(
        [
            "Stage 1 infant formula 800 g",
            "Stage 2 follow-on formula 800 g",
            "Stage 3 growing-up milk 800 g",
            "Stage 1 infant formula 400 g",
            "Lactose-free infant formula 800 g",
        ],
        1,
    )
]
PLANT, LAB, CARRIER = "alps-nutrition", "canterbury-lab", "pacific-cold"
CERT = {
    "farm": "GAP;NZGAP-77812;AsureQuality;2099-12-31",
    "plant": "ISO 22000;FSSC-C129;SGS;2099-12-31",
    "lab": "ISO/IEC 17025;IANZ-1284;IANZ;2099-12-31",
    "logistics": "HACCP;HACCP-5521;Bureau Veritas;2099-12-31",
    "brand": "BRCGS;BRC-3310;SGS;2099-12-31",  # bench_unit_trace.py's seller
}
PLANT_SITE = {
    "name": "Southern Alps Nutrition, dryer 2",
    "address": "45 Kahu Rd, Christchurch 8042, New Zealand",
    "lat": -43.5336,
    "lon": 172.6033,
    "country": "NZ",
}
LAB_INFO = {"name": "Canterbury Food Lab", "accreditation": {"scheme": "ISO/IEC 17025 (IANZ)", "number": "IANZ-1284"}}
FORMULA_TESTS = [
    ("lead", "heavy_metal", 0.004, "mg/kg", "ICP-MS (GB 5009.12)"),
    ("melamine", "contaminant", 0.05, "mg/kg", "LC-MS/MS"),
    ("aflatoxin M1", "mycotoxin", 0.01, "µg/kg", "HPLC-FLD"),
    ("Salmonella", "microbiology", 0, "detections/25 g", "ISO 6579-1"),
    ("Cronobacter spp.", "microbiology", 0, "detections/10 g", "ISO 22964"),
]
MILK_TESTS = FORMULA_TESTS[1:3]


# -- the graph, as events ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    raw_lots: int = 2_000
    batches: int = 10_000
    inputs: int = 3  # raw lots per batch
    items: int = 1_000_000
    shipments: int = 100_000
    sites: int = 500
    scans: int = 200_000
    farms: int = 20
    cold_every: int = 10  # one cold-chain record per this many shipments
    consent_every: int = 5  # one scan in this many shares its (sealed) coarse location
    seed: int = 4


@dataclass
class Plan:
    """The events in recording order (unsigned), and what they mean, for checks and random starts."""

    scale: Scale
    now: datetime
    suppliers: list[tuple[str, str, str]]  # (id, name, role)
    events: list[dict[str, Any]]
    raw: list[LotKey]
    batches: list[LotKey]
    inputs: dict[LotKey, list[LotKey]]  # batch -> its raw lots
    serials: dict[LotKey, list[str]]  # batch -> its items
    shipments: dict[LotKey, int]  # batch -> how many shipments
    scans: list[tuple[str, str, datetime, bool]]  # (scan id, serial, when, consent)

    def consumers(self, raw: LotKey) -> set[LotKey]:
        """The batches made from ``raw``: what a forward trace from it must find."""
        return {b for b, ins in self.inputs.items() if raw in ins}


def _site(i: int) -> dict[str, Any]:
    lat, lon = round(-45 + (i * 7.31) % 90, 4), round(-170 + (i * 13.7) % 340, 4)
    return {
        "name": f"Distribution site {i:03d}",
        "address": f"{i} Harbour Rd, Port {i % 40}",
        "lat": lat,
        "lon": lon,
        "country": ("CN", "NZ", "AU", "SG", "VN")[i % 5],
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def make_plan(scale: Scale, now: datetime) -> Plan:
    """Deterministic in ``scale.seed``: the same scale makes the same events."""
    rng = random.Random(scale.seed)
    farms = [(f"farm-{i:02d}", f"Dairy farm {i:02d}", "farm") for i in range(1, scale.farms + 1)]
    people = [
        *farms,
        (PLANT, "Southern Alps Nutrition", "plant"),
        (LAB, "Canterbury Food Lab", "lab"),
        (CARRIER, "Pacific Cold Chain", "logistics"),
    ]
    day0 = (now - timedelta(days=400)).date()
    events: list[dict[str, Any]] = []

    def report(key: LotKey, tests: Sequence[tuple[str, str, float, str, str]], on: date, doc: int) -> dict[str, Any]:
        analytes = [{"name": n, "category": c, "value": v, "unit": u, "method": m} for n, c, v, u, m in tests]
        return lab_report(key, analytes, on, on + timedelta(days=2), doc, str(doc))

    raw: list[LotKey] = []
    for i in range(scale.raw_lots):
        key = (MILK, f"RM-{i + 1:05d}")
        on = day0 + timedelta(days=i * 300 // max(1, scale.raw_lots))
        farm = farms[i % len(farms)]
        raw.append(key)
        events.append(
            {
                "kind": "batch",
                "supplier": farm[0],
                "data": {
                    "product": {"gtin": MILK, "name": "Raw cow's milk, chilled"},
                    "lot": key[1],
                    "produced_on": on.isoformat(),
                    "expires_on": (on + timedelta(days=3)).isoformat(),
                    "quantity": 15_000 + rng.randrange(5_000),
                    "unit": "kg",
                    "site": {
                        "name": f"{farm[1]}, shed 1",
                        "address": f"{i % len(farms) + 1} Farm Rd, Waikato, New Zealand",
                        "lat": -37.7,
                        "lon": 175.2,
                        "country": "NZ",
                    },
                    "inputs": [],
                },
            }
        )
        events.append(report(key, MILK_TESTS, on, i + 1))

    batches: list[LotKey] = []
    inputs: dict[LotKey, list[LotKey]] = {}
    per_batch = _split(scale.items, scale.batches)
    for i in range(scale.batches):
        gtin, name = FORMULAS[i % len(FORMULAS)]
        key = (gtin, f"IF-{i + 1:06d}")
        on = day0 + timedelta(days=2 + i * 360 // max(1, scale.batches))
        ins = rng.sample(raw, min(scale.inputs, len(raw)))
        batches.append(key)
        inputs[key] = ins
        events.append(
            {
                "kind": "batch",
                "supplier": PLANT,
                "data": {
                    "product": {"gtin": gtin, "name": name},
                    "lot": key[1],
                    "produced_on": on.isoformat(),
                    "expires_on": (on + timedelta(days=540)).isoformat(),
                    "quantity": max(1, per_batch[i]),
                    "unit": "cans",
                    "site": PLANT_SITE,
                    "inputs": [{"gtin": g, "lot": lo, "quantity": 6_000, "unit": "kg"} for g, lo in ins],
                },
            }
        )
        events.append(report(key, FORMULA_TESTS, on, scale.raw_lots + i + 1))

    serials: dict[LotKey, list[str]] = {}
    seen: set[str] = set()
    for key, n in zip(batches, per_batch):
        drawn: list[str] = []
        while len(drawn) < n:
            s = serial_from_bytes(rng.randbytes(SERIAL_BYTES))
            if s not in seen:
                seen.add(s)
                drawn.append(s)
        serials[key] = drawn
        for j in range(0, n, 10_000):  # events.MAX_SERIALS
            events.append(
                {
                    "kind": "commission",
                    "supplier": PLANT,
                    "data": {
                        "lot": {"gtin": key[0], "lot": key[1]},
                        "serials": drawn[j : j + 10_000],
                        "commissioned_at": now.isoformat(),
                    },
                }
            )

    sites = [_site(i) for i in range(scale.sites)]
    shipments: dict[LotKey, int] = {}
    colds: list[dict[str, Any]] = []
    t0 = now - timedelta(days=360)
    for n, (i, count) in enumerate(
        (i, c) for i, c in enumerate(_split(scale.shipments, scale.batches)) for _ in range(c)
    ):
        key = batches[i]
        shipments[key] = count
        sid = f"SHP-{n + 1:07d}"
        at = t0 + timedelta(minutes=n * 5 + rng.randrange(5))
        data: dict[str, Any] = {
            "id": sid,
            "lot": {"gtin": key[0], "lot": key[1]},
            "quantity": max(1, per_batch[i] // max(1, count)),
            "unit": "cans",
            "from_site": PLANT_SITE,
            "to_site": sites[rng.randrange(len(sites))],
            "shipped_at": at.isoformat(timespec="seconds"),
            "received_at": (at + timedelta(days=2)).isoformat(timespec="seconds"),
        }
        if n % 5 == 0:
            data["customs"] = {
                "declaration_number": f"2233{n:014d}",
                "port": "Shanghai Yangshan (CNYSN)",
                "cleared_at": (at + timedelta(days=1)).isoformat(timespec="seconds"),
                "origin_country": "NZ",
            }
        events.append({"kind": "shipment", "supplier": CARRIER, "data": data})
        if n % scale.cold_every == 0:
            colds.append(
                {
                    "kind": "cold_chain",
                    "supplier": CARRIER,
                    "data": {
                        "shipment": sid,
                        "logger": {"id": f"TT4-{n:06d}", "model": "TempTale 4"},
                        "range": {"min_c": 2, "max_c": 8},
                        "readings": [
                            {"at": (at + timedelta(hours=h)).isoformat(timespec="seconds"), "c": 4 + (h % 5) / 2}
                            for h in range(24)
                        ],
                    },
                }
            )
    events.extend(colds)

    all_serials = [s for key in batches for s in serials[key]]
    scans = []
    for k in range(scale.scans if all_serials else 0):
        scans.append(
            (
                rng.randbytes(16).hex(),
                all_serials[rng.randrange(len(all_serials))],
                now - timedelta(minutes=rng.randrange(60 * 24 * 300)),
                k % scale.consent_every == 0,
            )
        )
    return Plan(scale, now, people, events, raw, batches, inputs, serials, shipments, scans)


# -- the rows the recording path would store -------------------------------------------------------


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def store_rows(items: Sequence[recording.Submission], plan: Plan, sealer: Sealer, first_event: int = 1) -> list[Table]:
    """Rows of event, lot, lot_input, shipment, item (as ``recording._store`` makes them, event ids
    from ``first_event`` in submission order: after the key log's records, ``next_event_id``) and
    scan (as ``scans.record_scan`` + ``attach_location`` make them)."""
    event = Table(
        "event",
        (
            "id",
            "digest",
            "kind",
            "supplier_id",
            "key_id",
            "body",
            "signature",
            "recorded_at",
            "gtin",
            "lot",
            "ref",
            "outcome",
        ),
    )
    lot = Table("lot", ("id", "gtin", "lot", "product", "supplier_id", "event_id"))
    lot_input = Table("lot_input", ("lot_id", "input_lot_id"))
    shipment = Table("shipment", ("id", "lot_id", "event_id"))
    item = Table("item", ("serial", "gtin", "lot_id", "event_id"))
    scan = Table("scan", ("id", "serial", "scanned_at", "consent", "location"))
    lots: dict[LotKey, int] = {}
    for eid, it in enumerate(items, first_event):
        body = canonical.canonical_bytes(it.event)
        ev = parse_event(body)
        d = ev.data
        ref = lot_of(ev)
        event.rows.append(
            (
                eid,
                canonical.sha256(body).hex(),
                ev.kind,
                ev.supplier,
                ev.key,
                body.decode("utf-8"),
                it.signature,
                plan.now,
                ref.gtin if ref else None,
                ref.lot if ref else None,
                d.id if isinstance(d, ShipmentData) else (d.shipment if isinstance(d, ColdChainData) else None),
                outcome_of(ev),
            )
        )
        if isinstance(d, BatchData):
            lid = lots[d.lot_ref.key] = len(lots) + 1
            lot.rows.append((lid, d.product.gtin, d.lot, d.product.name, ev.supplier, eid))
            lot_input.rows.extend((lid, lots[x.key]) for x in d.inputs)
        elif isinstance(d, ShipmentData):
            shipment.rows.append((d.id, lots[d.lot.key], eid))
        elif isinstance(d, CommissionData):
            lid = lots[d.lot.key]
            item.rows.extend((s, d.lot.gtin, lid, eid) for s in d.serials)
    for sid, serial, at, consent in plan.scans:
        place = None
        if consent:
            lat, lon = -30 + int(serial[-3:], 36) % 60, 100 + int(serial[-5:-3], 36) % 70
            place = sealer.seal(
                json.dumps([round(lat + 0.04, 1), round(lon + 0.04, 1)]).encode().ljust(LOCATION_SIZE), sid.encode()
            )
        scan.rows.append((sid, serial, at, consent, place))
    return [event, lot, lot_input, shipment, item, scan]


def sign(ws: Workspace, plan: Plan) -> list[recording.Submission]:
    """Every event signed by its supplier's key file, in submissions of at most ``MAX_EVENTS``."""
    out: list[recording.Submission] = []
    with ws.session() as s:
        load = recording.key_loader(s, ws.settings.keys_dir)
        for i in range(0, len(plan.events), recording.MAX_EVENTS):
            out += recording.sign_submissions(
                recording.read_submissions(plan.events[i : i + recording.MAX_EVENTS]), load, ws.limits
            )  # type: ignore[arg-type]
    return out


def add_suppliers(ws: Workspace, plan: Plan) -> None:
    with ws.session() as s:
        for sid, name, role in plan.suppliers:
            suppliers.add_supplier(
                s, ws.settings.keys_dir, name, role, [suppliers.CertificationIn.parse(CERT[role])], sid
            )
        products.register_story(s, plan.events, plan.now)  # type: ignore[arg-type]


def copy_suppliers(src: Workspace, dst: Workspace) -> None:
    """The same suppliers and keys in a second store, so the same signed events load there too."""
    with src.session() as a, dst.session() as b:
        for model in (Supplier, SupplierKey, Certification, Product, ProductParty):
            for row in a.exec(select(model)).all():
                b.add(model(**row.model_dump()))
            b.flush()
        for event in a.exec(select(EventRow).where(EventRow.kind == "key")).all():  # the key log's records
            b.add(EventRow(**event.model_dump()))
    shutil.copytree(src.settings.keys_dir, dst.settings.keys_dir, dirs_exist_ok=True)


def next_event_id(ws: Workspace) -> int:
    """The id the first bulk-loaded event gets: the key log's records of the suppliers' keys come first."""
    with ws.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM event")).scalar_one()) + 1


def bulk_load(engine: Engine, tables: Sequence[Table], chunk: int = 50_000) -> None:
    """Insert the rows into an empty store: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM event WHERE kind <> 'key'")).scalar_one():
            raise SystemExit("bulk_load: expected a store with no events but the key log's (ids follow them)")
    if engine.dialect.name == "sqlite":
        from sqlmodel import SQLModel

        with engine.begin() as conn:
            for t in tables:
                cols = SQLModel.metadata.tables[t.name].c
                # The column types' own conversions (SQLite keeps datetimes as text in SQLAlchemy's format).
                procs = {
                    j: p
                    for j, c in enumerate(t.columns)
                    if (p := cols[c].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)) is not None
                }
                sql = f"INSERT INTO {t.name} ({', '.join(t.columns)}) VALUES ({', '.join('?' * len(t.columns))})"
                for i in range(0, len(t.rows), chunk):
                    rows = t.rows[i : i + chunk]
                    if procs:
                        rows = [
                            tuple(procs[j](v) if j in procs and v is not None else v for j, v in enumerate(r))
                            for r in rows
                        ]
                    conn.exec_driver_sql(sql, rows)
        return
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        with pg.cursor() as cur:
            for t in tables:
                with cur.copy(f"COPY {t.name} ({', '.join(t.columns)}) FROM STDIN") as copy:
                    for r in t.rows:
                        copy.write_row(r)
            for name in ("event", "lot"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
        pg.commit()
        pg.autocommit = True
        pg.execute("ANALYZE")  # what autovacuum does after a load (trace/devstack/pg.py switches it off)
        pg.autocommit = False
    finally:
        raw.close()


# -- measuring -----------------------------------------------------------------------------------


def of_rule(seconds: float) -> str:
    """``0.000069 of 2 h``: two significant digits, written out (no exponent)."""
    r = seconds / TWO_HOURS_S
    return f"{r:.{max(1, 1 - math.floor(math.log10(r)))}f} of 2 h" if r > 0 else "0 of 2 h"


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms" if seconds < 10 else f"{seconds:8.1f} s "


@dataclass
class Figure:
    db: str
    what: str
    median: float
    worst: float
    n: int
    target: float | None = None
    note: str = ""

    def line(self) -> str:
        verdict = (
            ""
            if self.target is None
            else (
                f"  target {self.target * 1000:g} ms: median {'met' if self.median <= self.target else 'MISSED'}, "
                f"worst {'within' if self.worst <= self.target else 'over'}"
            )
        )
        spread = (
            f"median {fmt(self.median)} ({of_rule(self.median)}), worst {fmt(self.worst)} ({of_rule(self.worst)})"
            if self.n > 1
            else f"{fmt(self.median)} ({of_rule(self.median)})"
        )
        return f"{self.db:<10} {self.what:<44} {spread}  n={self.n}{verdict}{'  ' + self.note if self.note else ''}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(name: str, ws: Workspace, plan: Plan, starts: int, rng: random.Random) -> list[Figure]:
    figs: list[Figure] = []
    fwd: list[float] = []
    sizes: list[int] = []
    for key in rng.sample(plan.raw, min(starts, len(plan.raw))):
        with ws.session() as s:
            t, tr = timed(lambda key=key: trace_forward(s, lot=key))
        fwd.append(t)
        sizes.append(tr.items)
        if {lot.key for lot in tr.lots} != plan.consumers(key) | {key}:
            raise SystemExit(f"forward trace from {key} disagrees with the generated graph")
    figs.append(
        Figure(
            name,
            "forward trace from a raw lot",
            statistics.median(fwd),
            max(fwd),
            len(fwd),
            0.5,
            f"(median {statistics.median(sizes):,.0f} items reached)",
        )
    )
    back: list[float] = []
    all_items = [(b, s) for b in plan.batches for s in plan.serials[b]]
    for batch, serial in rng.sample(all_items, min(starts, len(all_items))):
        with ws.session() as s:
            t, tr = timed(lambda serial=serial: trace_backward(s, serial=serial))
        back.append(t)
        if {lot.key for lot in tr.lots} != {batch, *plan.inputs[batch]}:
            raise SystemExit(f"backward trace from {serial} disagrees with the generated graph")
    figs.append(Figure(name, "backward trace from an item", statistics.median(back), max(back), len(back), 0.05))
    farm_times, farm_items, farm_lots = [], 0, 0
    for farm in rng.sample([p[0] for p in plan.suppliers if p[2] == "farm"], min(3, plan.scale.farms)):
        with ws.session() as s:
            t, tr = timed(lambda farm=farm: trace_forward(s, supplier=farm))
        farm_times.append(t)
        farm_items, farm_lots = max(farm_items, tr.items), max(farm_lots, len(tr.lots))
    figs.append(
        Figure(
            name,
            "forward trace from a farm (supplier)",
            statistics.median(farm_times),
            max(farm_times),
            len(farm_times),
            note=f"(up to {farm_items:,} items, {farm_lots:,} lots)",
        )
    )
    return figs


@contextmanager
def _step(steps: dict[str, float], name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    steps[name] = time.perf_counter() - t


def lab_report(
    key: LotKey, analytes: list[dict[str, Any]], sampled_on: date, reported_on: date, doc: int, pdf: str
) -> dict[str, Any]:
    """The lab's test report on lot ``key``; its document ``pdf``.pdf, with digest ``doc`` written out."""
    return {
        "kind": "test_report",
        "supplier": LAB,
        "data": {
            "batch": {"gtin": key[0], "lot": key[1]},
            "lab": LAB_INFO,
            "sampled_on": sampled_on.isoformat(),
            "reported_on": reported_on.isoformat(),
            "analytes": analytes,
            "document": {"sha256": f"{doc:064x}", "uri": f"https://lab.example/reports/{pdf}.pdf"},
        },
    }


def failing_report(key: LotKey, doc: int) -> dict[str, Any]:
    cronobacter = {
        "name": "Cronobacter spp.",
        "category": "microbiology",
        "value": 1,
        "unit": "detections/10 g",
        "method": "ISO 22964",
    }
    return lab_report(key, [cronobacter], date.today(), date.today(), doc, f"fail-{doc}")


def full_recall(ws: Workspace, chain: Any, start: LotKey | str, out_dir: Path, n: int) -> tuple[dict[str, float], int]:
    """One recall, timed step by step: from a failed test report on a raw lot (``start`` a lot key:
    recorded through the real path, so the automatic hold runs) or from a whole farm (``start`` a
    supplier id, free-text trigger), to the notice on chain and the three report files."""
    steps: dict[str, float] = {}
    trigger: str | None = None
    if isinstance(start, tuple):
        with _step(steps, "record failed report (automatic hold)"), ws.session() as s:
            items = recording.sign_submissions(
                recording.read_submissions([failing_report(start, 10**9 + n)]),
                recording.key_loader(s, ws.settings.keys_dir),
                ws.limits,
            )
            trigger = str(recording.record_submissions(s, items, datetime.now(UTC))[0].id)
    with _step(steps, "forward trace (affected lots located)"), ws.session() as s:
        tr = trace_forward(s, event=trigger) if trigger else trace_forward(s, supplier=str(start))
    with _step(steps, "start recall (lots marked, notice prepared)"), ws.session() as s:
        recall = recalls.start_recall(
            s,
            lots=[lot.key for lot in tr.lots],
            reason="Cronobacter detected (bench)",
            severity="I",
            trigger=trigger or f"supplier audit of {start} (bench)",
            started_by="bench",
            now=datetime.now(UTC),
        )
    with _step(steps, "notice sent and confirmed on chain"):
        sent = notices.send_pending_notices(lambda: Session(ws.engine, expire_on_commit=False), chain)
        assert any(r.recall_id == recall.id for r in sent)
    assert recall.id is not None
    with _step(steps, "report read (recallreport.build_report)"), ws.session() as s:
        report = recallreport.build_report(s, recall.id, datetime.now(UTC))
    for fmt in recallreport.FORMATS:
        with _step(steps, f"report file {fmt.upper()}"):
            (out_dir / report.filename(fmt)).write_bytes(report.render(fmt))
    with ws.session() as s:  # what a scan of an affected pack now shows
        status = lot_status(s, tr.lots[-1].id)
        assert status.recall is not None and status.recall["id"] == recall.id
        recalls.close_recall(s, recall.id, reason="bench: measured", closed_by="bench", now=datetime.now(UTC))
    return steps, tr.items  # closed (untimed), so the next recall may cover the same lots


def recall_figures(
    name: str, ws: Workspace, chain: Any, plan: Plan, rng: random.Random, n: int, out: Path
) -> list[Figure]:
    """``n`` recalls from failed reports on raw lots, then one of a whole farm's lots (the big one)."""
    out.mkdir(parents=True, exist_ok=True)
    farm = rng.choice([p[0] for p in plan.suppliers if p[2] == "farm"])
    figs: list[Figure] = []
    runs: list[tuple[str, list[LotKey | str]]] = [
        ("full recall, failed report on a raw lot", list(rng.sample(plan.raw, n))),
        ("full recall of a whole farm's lots", [farm] if n else []),
    ]
    for what, starts in runs:
        per = [full_recall(ws, chain, start, out, i) for i, start in enumerate(starts)]
        if not per:
            continue
        totals = [sum(p.values()) for p, _ in per]
        items = statistics.median(i for _, i in per)
        figs.append(
            Figure(
                name, what, statistics.median(totals), max(totals), len(totals), 10.0, f"(median {items:,.0f} items)"
            )
        )
        for step in per[0][0]:
            vals = [p[step] for p, _ in per]
            figs.append(Figure(name, "  " + step, statistics.median(vals), max(vals), len(vals)))
    return figs


# -- main ------------------------------------------------------------------------------------------


def run_store(
    name: str,
    settings: Settings,
    plan: Plan,
    tables: list[Table] | None,
    src: Workspace | None,
    args: argparse.Namespace,
    out: Path,
) -> tuple[list[Figure], list[str], list[Table]]:
    """Build the store (signing and deriving rows unless ``tables`` come from an earlier store whose
    suppliers ``src`` holds), then measure traces and recalls on it."""
    notes: list[str] = []
    ws, chain = init_workspace(settings)
    with ws:
        if src is None:
            add_suppliers(ws, plan)
        else:
            copy_suppliers(src, ws)
        if tables is None:
            t, items = timed(lambda: sign(ws, plan))
            notes.append(f"signed {len(items):,} events through recording.sign_submissions in {t:.1f} s")
            first = next_event_id(ws)
            t, tables = timed(lambda: store_rows(items, plan, Sealer(bytes(range(32))), first))
            notes.append(f"derived their rows (parse_event, lot_of, outcome_of) in {t:.1f} s")
        assert tables is not None
        t, _ = timed(lambda: bulk_load(ws.engine, tables))
        notes.append(f"{name}: bulk load of {', '.join(f'{len(x.rows):,} {x.name}' for x in tables)} in {t:.1f} s")
        rng = random.Random(plan.scale.seed + 1)
        log(f"{name}: traces")
        figs = measure(name, ws, plan, args.starts, rng)
        log(f"{name}: recalls")
        figs += recall_figures(name, ws, chain, plan, rng, args.recalls, out / name)
        return figs, notes, tables


def main(argv: list[str] | None = None) -> list[Figure]:
    d = Scale()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in ("raw_lots", "batches", "inputs", "items", "shipments", "sites", "scans", "farms", "seed"):
        parser.add_argument("--" + f.replace("_", "-"), type=int, default=getattr(d, f), dest=f)
    parser.add_argument("--quick", action="store_true", help="a tenth of every count (100 000 items)")
    parser.add_argument("--starts", type=int, default=20, help="random starts per trace direction")
    parser.add_argument("--recalls", type=int, default=3, help="full recalls per store")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args(argv)
    scale = Scale(
        **{
            f: getattr(args, f)
            for f in ("raw_lots", "batches", "inputs", "items", "shipments", "sites", "scans", "farms", "seed")
        }
    )
    if args.quick:
        scale = replace(
            scale,
            **{f: max(1, getattr(scale, f) // 10) for f in ("raw_lots", "batches", "items", "shipments", "scans")},
        )
    from bench.bench_core import machine_info

    print("\n".join(machine_info()))
    print(f"command : {' '.join(shlex.quote(a) for a in [sys.executable, *(argv if argv is not None else sys.argv)])}")
    print(
        f"graph   : {scale.raw_lots:,} raw lots ({scale.farms} farms) -> {scale.batches:,} batches x {scale.inputs} inputs "
        f"-> {scale.items:,} items; {scale.shipments:,} shipments to {scale.sites} sites; {scale.scans:,} scans"
    )
    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-trace-"))
    figs: list[Figure] = []
    notes: list[str] = []
    try:
        t, plan = timed(lambda: make_plan(scale, datetime.now(UTC)))
        notes.append(f"generated {len(plan.events):,} events in {t:.1f} s")
        tables: list[Table] | None = None
        if not args.no_sqlite:
            log("SQLite: sign, derive rows, load, measure")
            got, said, tables = run_store("SQLite", Settings(data_dir=tmp / "sqlite"), plan, None, None, args, tmp)
            figs += got
            notes += said
        if not args.no_postgres:
            from cradletrace.devstack.pg import PostgresServer

            log("PostgreSQL: start, load, measure")
            with PostgresServer() as pg:
                src = Workspace(Settings(data_dir=tmp / "sqlite")) if tables is not None else None
                try:
                    got, said, _ = run_store(
                        "PostgreSQL",
                        Settings(data_dir=tmp / "postgres", database_url=pg.url),
                        plan,
                        tables,
                        src,
                        args,
                        tmp,
                    )
                finally:
                    if src is not None:
                        src.close()
                figs += got
                notes += said
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(notes))
    print()
    for fig in figs:
        print(fig.line())
    return figs


if __name__ == "__main__":
    main()

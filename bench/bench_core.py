"""Benchmark of the traceability core (issue 2, "Benchmark"): prints figures, not pass/fail.

    .venv/bin/python bench/bench_core.py                 # 100 000 events, 1M-leaf tree (several minutes)
    .venv/bin/python bench/bench_core.py --quick         # 5 000 events, 100k-leaf tree (smoke run, < 60 s)
    .venv/bin/python bench/bench_core.py --no-postgres   # SQLite only
    .venv/bin/python bench/bench_core.py --profile record-sqlite   # cProfile of one stage

What is measured, on synthetic but realistic supplier events (raw-milk batches, formula
batches that consume them, test reports with several analytes, shipments with customs,
cold-chain records with 24 readings; valid GTINs, unique lots), signed beforehand:

1. recording: ``recording.record_submissions`` on already-signed items, one transaction per
   submission (default 1 000 events): canonical form, validation, signature check, digest,
   duplicate and reference checks, insert. On SQLite and on a throwaway PostgreSQL server.
2. gas per event: ``gasUsed`` of the ``anchor()`` transaction on the embedded chain divided by
   the leaf count, for roots over 1, 100, 1 000 and 10 000 leaves (and the real 100k root).
3. ``merkle.build_tree`` over 1 000 000 random digests; one proof (median of many leaves).
4. ``verification.audit`` over the anchored events, with and without signature checks.
5. anchoring the pending events: prepare (tree + proofs stored), send + confirm.

Importable: ``main(["--quick"])`` runs the smoke version and returns the result rows.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout, as in the other benchmarks

from sqlmodel import Session, func, select

from cradletrace import products, recording, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.merkle import build_tree
from cradletrace.store.models import Certification, EventRow, Product, ProductParty, Supplier, SupplierKey
from cradletrace.verification import audit
from cradletrace.workspace import Workspace, init_workspace

STAGES = (
    "sign",
    "record-sqlite",
    "record-postgres",
    "anchor-sqlite",
    "anchor-postgres",
    "audit-sqlite",
    "audit-postgres",
    "tree",
)


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# -- results ----------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    metric: str
    value: str
    target: str = ""
    note: str = ""
    raw: float | None = None  # the figure as a number, for callers that import this module

    @classmethod
    def rate(cls, section: str, metric: str, count: float, seconds: float, target: str = "", note: str = "") -> Row:
        """A throughput row: ``count`` things in ``seconds``, shown per second and kept as that number."""
        return cls(section, metric, fmt_rate(count / seconds), target, note, count / seconds)

    @classmethod
    def took(cls, section: str, metric: str, seconds: float, target: str = "", note: str = "") -> Row:
        """A duration row: shown in s or ms and kept as seconds."""
        return cls(section, metric, fmt_s(seconds), target, note, seconds)


def print_table(rows: list[Row]) -> None:
    heads = ("metric", "measured", "target", "note")
    w = [max(len(h), *(len(getattr(r, a)) for r in rows)) for h, a in zip(heads, ("metric", "value", "target", "note"))]
    line = "  ".join("-" * x for x in w[:3]) + "  " + "-" * 4
    print("  ".join(h.ljust(x) for h, x in zip(heads[:3], w[:3])) + "  " + heads[3])
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            print(line)
            print(f"[{section}]")
        print(f"{r.metric.ljust(w[0])}  {r.value.rjust(w[1])}  {r.target.ljust(w[2])}  {r.note}".rstrip())
    print(line)


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}/s"


def fmt_s(x: float) -> str:
    return f"{x:,.2f} s" if x >= 0.1 else f"{x * 1000:,.1f} ms"


# -- machine ----------------------------------------------------------------------------


def machine_info() -> list[str]:
    import sqlite3

    import cryptography
    import pydantic
    import sqlalchemy

    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(
            int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
        mem_s = f"{mem / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        mem_s = "?"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        import subprocess

        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "trace", "api"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        rev = f"{rev}{' + uncommitted changes in trace/ or api/' if dirty else ''}" if rev else "?"
    except (OSError, subprocess.SubprocessError):
        rev = "?"
    return [
        f"code    : git {rev}",
        f"machine : {os.cpu_count()} cores ({usable} usable), {model}, {mem_s} RAM, {platform.system()} {platform.release()}",
        f"python  : {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"libs    : SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, pydantic {pydantic.__version__}, "
        f"cryptography {cryptography.__version__}",
        f"load    : {load} (1/5/15 min, at start)",
    ]


# -- synthetic events -------------------------------------------------------------------


def _gtin(body13: str) -> str:
    return body13 + str(gtin_check_digit(body13))


FARMS = [
    ("bench-farm-waikato", "Waikato Dairy Co-op", "farm", "GAP;NZGAP-77812;AsureQuality"),
    ("bench-farm-taranaki", "Taranaki Milk Producers", "farm", "GAP;NZGAP-80114;AsureQuality"),
    ("bench-farm-southland", "Southland Pastures", "farm", "GAP;NZGAP-81377;AsureQuality"),
]
PLANTS = [
    ("bench-plant-alps", "Southern Alps Nutrition", "plant", "ISO 22000;FSSC-C129;SGS"),
    ("bench-plant-canterbury", "Canterbury Infant Foods", "plant", "FSSC 22000;FSSC-C311;Bureau Veritas"),
]
LABS = [
    ("bench-lab-canterbury", "Canterbury Food Lab", "lab", "ISO/IEC 17025;IANZ-1284;IANZ"),
    ("bench-lab-auckland", "Auckland Analytical Services", "lab", "ISO/IEC 17025;IANZ-2291;IANZ"),
]
CARRIERS = [
    ("bench-cold-pacific", "Pacific Cold Chain", "logistics", "HACCP;HACCP-5521;Bureau Veritas"),
    ("bench-cold-tasman", "Tasman Reefer Logistics", "logistics", "HACCP;HACCP-6102;SGS"),
]
SUPPLIER_SPECS = FARMS + PLANTS + LABS + CARRIERS

MILK = [_gtin("9421902960001"), _gtin("9421902960002")]
FORMULA = [
    (_gtin("9421902960101"), "Stage 1 infant formula 800 g"),
    (_gtin("9421902960102"), "Stage 2 follow-on formula 800 g"),
    (_gtin("9421902960103"), "Stage 3 growing-up milk 900 g"),
    (_gtin("9421902960201"), "Goat milk infant formula 400 g"),
]

FARM_SITES = [
    {
        "name": "Waikato Dairy, shed 3",
        "address": "1208 Te Rapa Rd, Hamilton 3200, New Zealand",
        "lat": -37.7394,
        "lon": 175.2215,
        "country": "NZ",
    },
    {
        "name": "Taranaki Milk, rotary shed 1",
        "address": "77 Mountain Rd, Stratford 4332, New Zealand",
        "lat": -39.3389,
        "lon": 174.2836,
        "country": "NZ",
    },
    {
        "name": "Southland Pastures, shed 12",
        "address": "400 Bluff Hwy, Invercargill 9812, New Zealand",
        "lat": -46.4132,
        "lon": 168.3538,
        "country": "NZ",
    },
]
PLANT_SITES = [
    {
        "name": "Southern Alps Nutrition, dryer 2",
        "address": "45 Kahu Rd, Christchurch 8042, New Zealand",
        "lat": -43.5336,
        "lon": 172.6033,
        "country": "NZ",
    },
    {
        "name": "Canterbury Infant Foods, spray dryer 1",
        "address": "9 Dunns Crossing Rd, Rolleston 7615, New Zealand",
        "lat": -43.5961,
        "lon": 172.3814,
        "country": "NZ",
    },
]
DEST_SITES = [
    {
        "name": "Shanghai bonded warehouse 7",
        "address": "88 Fute North Rd, Pudong, Shanghai, China",
        "lat": 31.3402,
        "lon": 121.6030,
        "country": "CN",
    },
    {
        "name": "Guangzhou Nansha cold store 3",
        "address": "1 Gangqian Ave, Nansha, Guangzhou, China",
        "lat": 22.7561,
        "lon": 113.6122,
        "country": "CN",
    },
    {
        "name": "Sydney DC, Eastern Creek",
        "address": "2 Archbold Rd, Eastern Creek NSW 2766, Australia",
        "lat": -33.8011,
        "lon": 150.8550,
        "country": "AU",
    },
]
PORTS = {"CN": ["Shanghai Yangshan (CNYSN)", "Guangzhou Nansha (CNNSA)"], "AU": ["Port Botany (AUBTB)"]}
CHEM = [
    ("lead", "heavy_metal", "mg/kg", 0.002, 0.012, "ICP-MS (GB 5009.12-2017)"),
    ("cadmium", "heavy_metal", "mg/kg", 0.001, 0.006, "ICP-MS (GB 5009.15-2014)"),
    ("aflatoxin M1", "mycotoxin", "µg/kg", 0.002, 0.015, "HPLC-FLD (ISO 14501)"),
    ("melamine", "contaminant", "mg/kg", 0.01, 0.2, "LC-MS/MS (GB/T 22388-2008)"),
    ("chlorate", "contaminant", "mg/kg", 0.001, 0.008, "LC-MS/MS (QuPPe-PO)"),
    ("perchlorate", "contaminant", "mg/kg", 0.001, 0.008, "LC-MS/MS (QuPPe-PO)"),
    ("3-MCPD fatty acid esters", "contaminant", "µg/kg", 20.0, 110.0, "GC-MS (AOCS Cd 29c-13)"),
    ("glycidyl fatty acid esters", "contaminant", "µg/kg", 5.0, 45.0, "GC-MS (AOCS Cd 29c-13)"),
]
MICRO = [
    ("Cronobacter spp.", "microbiology", "detections/10 g", "ISO 22964:2017"),
    ("Salmonella", "microbiology", "detections/25 g", "ISO 6579-1:2017"),
    ("Enterobacteriaceae", "microbiology", "detections/10 g", "ISO 21528-1:2017"),
]
INGREDIENTS = [
    (_gtin("9421902961001"), "Lactose, edible grade, 25 kg bag", "LAC", 25_000.0),
    (_gtin("9421902961002"), "Whey protein concentrate 80, 20 kg bag", "WPC", 20_000.0),
    (_gtin("9421902961003"), "Vegetable oil blend (HOSO, coconut, rapeseed)", "OIL", 18_000.0),
    (_gtin("9421902961004"), "Vitamin and mineral premix IF-7", "PMX", 800.0),
]
MICRO_EXTRA = [
    ("Bacillus cereus", "microbiology", "cfu/g", 500, "ISO 7932:2004"),
    ("Staphylococci, coagulase-positive", "microbiology", "cfu/g", 10, "ISO 6888-1:2021"),
]
INGREDIENT_EVERY = 10  # one set of ingredient lots supplies this many formula batches


def synthetic_events(n: int, seed: int = 2026) -> list[dict[str, Any]]:
    """``n`` unsigned events; every reference points to a lot or shipment recorded earlier in the list.

    Per formula batch u: one raw-milk lot (farm), every 10th u four ingredient lots (plant),
    the formula batch consuming this and the previous raw-milk lot and the current ingredient
    lots (6 inputs), a chemistry report (8 analytes) and a microbiology report (5 analytes),
    a shipment (customs for export) and its cold-chain record (24 readings).
    """
    rnd = random.Random(seed)
    base = date(2026, 1, 5)
    t_base = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    ingredient_lots: list[tuple[str, str]] = []
    prev_raw: tuple[str, str] | None = None
    u = 0
    while len(out) < n:
        day0 = base + timedelta(days=u // 60)

        def iso(k: int, day0: date = day0) -> str:
            return (day0 + timedelta(days=k)).isoformat()

        farm_i = u % len(FARMS)
        plant_i = u % len(PLANTS)
        milk = MILK[farm_i % len(MILK)]
        raw = (milk, f"RM{u:08d}")
        out.append(
            {
                "kind": "batch",
                "supplier": FARMS[farm_i][0],
                "data": {
                    "product": {"gtin": milk, "name": "Raw cow's milk, chilled, 4 °C"},
                    "lot": raw[1],
                    "produced_on": iso(0),
                    "expires_on": iso(3),
                    "quantity": float(rnd.randint(12_000, 24_000)),
                    "unit": "kg",
                    "site": FARM_SITES[farm_i],
                    "inputs": [],
                },
            }
        )
        if u % INGREDIENT_EVERY == 0:
            ingredient_lots = []
            maker = PLANTS[(u // INGREDIENT_EVERY + 1) % len(PLANTS)]
            for gtin_i, name, code, qty in INGREDIENTS:
                lot_i = f"{code}{u // INGREDIENT_EVERY:07d}"
                ingredient_lots.append((gtin_i, lot_i))
                out.append(
                    {
                        "kind": "batch",
                        "supplier": maker[0],
                        "data": {
                            "product": {"gtin": gtin_i, "name": name},
                            "lot": lot_i,
                            "produced_on": iso(-20),
                            "expires_on": iso(700),
                            "quantity": qty,
                            "unit": "kg",
                            "site": PLANT_SITES[(u // INGREDIENT_EVERY + 1) % len(PLANT_SITES)],
                            "inputs": [],
                        },
                    }
                )
        gtin, product = FORMULA[u % len(FORMULA)]
        lot = f"IF{u:08d}"
        cans = rnd.randint(3000, 6000)
        inputs = [
            {"gtin": g, "lot": x, "quantity": float(rnd.randint(6_000, 12_000)), "unit": "kg"}
            for g, x in ([raw] + ([prev_raw] if prev_raw else []))
        ]
        inputs += [
            {"gtin": g, "lot": x, "quantity": round(rnd.uniform(40, 2400), 1), "unit": "kg"} for g, x in ingredient_lots
        ]
        out.append(
            {
                "kind": "batch",
                "supplier": PLANTS[plant_i][0],
                "data": {
                    "product": {"gtin": gtin, "name": product},
                    "lot": lot,
                    "produced_on": iso(1),
                    "expires_on": iso(541),
                    "quantity": float(cans),
                    "unit": "cans",
                    "site": PLANT_SITES[plant_i],
                    "inputs": inputs,
                },
            }
        )
        prev_raw = raw
        lab = LABS[u % len(LABS)]
        lab_info = {"name": lab[1], "accreditation": {"scheme": "ISO/IEC 17025", "number": lab[3].split(";")[1]}}
        fail = rnd.random() < 0.01
        chem = [
            {"name": nm, "category": cat, "value": round(rnd.uniform(lo, hi), 4), "unit": unit, "method": meth}
            for nm, cat, unit, lo, hi, meth in CHEM
        ]
        if fail:
            chem[0]["value"] = 0.031
        micro: list[dict[str, Any]] = [
            {
                "name": nm,
                "category": cat,
                "value": 1 if (fail and nm.startswith("Cron")) else 0,
                "unit": unit,
                "method": meth,
            }
            for nm, cat, unit, meth in MICRO
        ]
        micro += [
            {"name": nm, "category": cat, "value": rnd.randint(0, lim // 2), "unit": unit, "limit": lim, "method": meth}
            for nm, cat, unit, lim, meth in MICRO_EXTRA
        ]
        for k, analytes in ((2, chem), (3, micro)):
            out.append(
                {
                    "kind": "test_report",
                    "supplier": lab[0],
                    "data": {
                        "batch": {"gtin": gtin, "lot": lot},
                        "lab": lab_info,
                        "sampled_on": iso(k),
                        "reported_on": iso(k + 2),
                        "analytes": analytes,
                        "document": {
                            "sha256": rnd.randbytes(32).hex(),
                            "uri": f"https://reports.example/{lab[0]}/{lot}-{k}.pdf",
                        },
                    },
                }
            )
        carrier = CARRIERS[u % len(CARRIERS)]
        dest = DEST_SITES[u % len(DEST_SITES)]
        t0 = t_base + timedelta(days=u // 60 + 5, minutes=rnd.randint(0, 600))

        def at(m: int, t0: datetime = t0) -> str:
            return (t0 + timedelta(minutes=m)).isoformat(timespec="seconds")

        ship_id = f"{carrier[0].split('-')[-1].upper()}-2026-{u:08d}"
        hours = rnd.randint(72, 400)
        shipment: dict[str, Any] = {
            "id": ship_id,
            "lot": {"gtin": gtin, "lot": lot},
            "quantity": float(cans),
            "unit": "cans",
            "from_site": PLANT_SITES[plant_i],
            "to_site": dest,
            "shipped_at": at(0),
            "received_at": at(hours * 60),
        }
        if dest["country"] != "NZ":
            shipment["customs"] = {
                "declaration_number": f"2233{rnd.randint(10**13, 10**14 - 1)}",
                "port": rnd.choice(PORTS[str(dest["country"])]),
                "cleared_at": at(hours * 60 - 180),
                "origin_country": "NZ",
            }
        out.append({"kind": "shipment", "supplier": carrier[0], "data": shipment})
        excursion = rnd.random() < 0.05
        temps = [round(rnd.uniform(3.2, 5.8), 1) for _ in range(24)]
        if excursion:
            temps[9:12] = [8.6, 10.2, 9.1]
        step = max(1, hours * 60 // 24)
        out.append(
            {
                "kind": "cold_chain",
                "supplier": carrier[0],
                "data": {
                    "shipment": ship_id,
                    "logger": {"id": f"TT4-{rnd.randint(10000, 99999)}", "model": "TempTale 4"},
                    "range": {"min_c": 2.0, "max_c": 8.0},
                    "readings": [{"at": at(step * i), "c": c} for i, c in enumerate(temps)],
                },
            }
        )
        u += 1
    return out[:n]


# -- setup ------------------------------------------------------------------------------


def add_suppliers(ws: Workspace, now: datetime) -> None:
    until = (now + timedelta(days=365)).date().isoformat()
    with ws.session() as s:
        for sid, name, role, cert in SUPPLIER_SPECS:
            suppliers.add_supplier(
                s, ws.settings.keys_dir, name, role, [suppliers.CertificationIn.parse(f"{cert};{until}")], sid
            )
        products.register_story(s, synthetic_events(400), now)  # every GTIN, owner and party of the story


def copy_suppliers(src: Workspace, dst: Workspace) -> None:
    """The same suppliers and public keys in another store, so the same signed items record there."""
    with src.session() as s:
        rows = [
            *s.exec(select(Supplier)),
            *s.exec(select(SupplierKey)),
            *s.exec(select(Certification)),
            *s.exec(select(Product)),
        ]
        parties = [ProductParty.model_validate(r.model_dump()) for r in s.exec(select(ProductParty))]
        copies = [type(r).model_validate(r.model_dump()) for r in rows]
    with dst.session() as d:  # the suppliers first (every one, the operator's too): the rest refer to them
        d.add_all([c for c in copies if isinstance(c, Supplier)])
        d.flush()
        d.add_all([c for c in copies if not isinstance(c, Supplier)])
        d.flush()
        d.add_all(parties)


def sign_all(ws: Workspace, events: list[dict[str, Any]]) -> list[recording.Submission]:
    with ws.session() as s:
        loader = recording.key_loader(s, ws.settings.keys_dir)
        out: list[recording.Submission] = []
        for part in chunks(events, recording.MAX_EVENTS):  # read_submissions takes at most MAX_EVENTS at a time
            out += recording.sign_submissions(recording.read_submissions(part), loader, ws.limits)
        return out


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def session_factory(ws: Workspace) -> Callable[[], Session]:
    return lambda: Session(ws.engine, expire_on_commit=False)


@contextmanager
def maybe_profile(enabled: bool, title: str, top: int) -> Iterator[None]:
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).strip_dirs()
        buf.write(f"\n===== cProfile: {title} — by cumulative time =====\n")
        st.sort_stats("cumulative").print_stats(top)
        buf.write(f"===== cProfile: {title} — by own time =====\n")
        st.sort_stats("tottime").print_stats(top)
        print(buf.getvalue(), file=sys.stderr, flush=True)


def _busy_seconds() -> float | None:
    """CPU seconds all processes on this machine have spent (from /proc/stat), or None."""
    try:
        f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


class Stopwatch:
    """Wall time, this process's CPU time, and CPU time everyone else took meanwhile.

    The machine may be shared (other sessions running tests): ``others`` says how many cores
    other processes kept busy on average during the measurement (for PostgreSQL stages that
    includes the server, which works for us)."""

    def __enter__(self) -> Stopwatch:
        self.wall0, self.cpu0, self.busy0 = time.perf_counter(), time.process_time(), _busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        busy1 = _busy_seconds()
        self.others = (
            max(0.0, (busy1 - self.busy0 - self.cpu) / self.wall)
            if busy1 is not None and self.busy0 is not None and self.wall > 0
            else float("nan")
        )

    def note(self) -> str:
        return f"wall {fmt_s(self.wall)}, our CPU {fmt_s(self.cpu)}, other processes busy {self.others:.1f} cores"


def count_rows(ws: Workspace) -> int:
    """The suppliers' events (not the key log's records of their keys)."""
    with ws.session() as s:
        return int(s.exec(select(func.count()).where(EventRow.kind != "key")).one())


# -- stages -----------------------------------------------------------------------------


def bench_record(
    ws: Workspace, items: list[recording.Submission], size: int, now: datetime, label: str, profile: bool, top: int
) -> tuple[Stopwatch, list[float]]:
    per: list[float] = []
    t0 = time.perf_counter()
    with Stopwatch() as sw, maybe_profile(profile, f"record_submissions on {label}", top):
        for i, chunk in enumerate(chunks(items, size)):
            t = time.perf_counter()
            with ws.session() as s:
                recording.record_submissions(s, chunk, now)
            per.append(time.perf_counter() - t)
            if (i + 1) % max(1, 10_000 // size) == 0:
                done = min(len(items), (i + 1) * size)
                log(f"{label}: recorded {done:,} events, {done / (time.perf_counter() - t0):,.0f}/s")
    return sw, per


def bench_anchor(ws: Workspace, label: str, profile: bool, top: int) -> dict[str, Any]:
    chain = ws.chain()
    factory = session_factory(ws)
    with Stopwatch() as sw, maybe_profile(profile, f"anchor on {label}", top):
        t0 = time.perf_counter()
        with factory() as s:
            batch = anchoring.prepare_batch(s, chain)
            assert batch is not None, "nothing pending"
            s.commit()
            leaves = batch.leaf_count
        t1 = time.perf_counter()
        results = anchoring.anchor_pending(factory, chain)  # finishes the prepared batch: send + confirm
        t2 = time.perf_counter()
    assert len(results) == 1 and results[0].leaf_count == leaves, results
    gas = int(chain.w3.eth.get_transaction_receipt(results[0].tx_hash)["gasUsed"])
    return {"prepare": t1 - t0, "send_confirm": t2 - t1, "total": t2 - t0, "leaves": leaves, "gas": gas, "sw": sw}


def bench_audit(
    ws: Workspace, check_signatures: bool, label: str, profile: bool, top: int
) -> tuple[Stopwatch, int, bool]:
    chain = ws.chain()
    with (
        Stopwatch() as sw,
        maybe_profile(profile, f"audit on {label} (signatures {'on' if check_signatures else 'off'})", top),
    ):
        with ws.session() as s:
            rep = audit(s, chain, check_signatures=check_signatures)
    if not rep.ok:
        log(f"audit on {label} found problems (unexpected): {rep.bad_events[:3]} {rep.problems[:3]}")
    return sw, rep.events_checked, rep.ok


def bench_gas(data_dir: Path, sizes: list[int]) -> list[tuple[int, int]]:
    """Gas of anchor() for roots over ``sizes`` leaves, on a fresh embedded chain."""
    ws, chain = init_workspace(Settings(data_dir=data_dir))
    out = []
    with ws:
        for n in sizes:
            tree = build_tree([os.urandom(32) for _ in range(n)])
            receipt = chain.anchor(tree.root, n)
            out.append((n, int(chain.w3.eth.get_transaction_receipt(receipt.tx_hash)["gasUsed"])))
    return out


def bench_tree(n: int, proofs: int) -> dict[str, Any]:
    blob = os.urandom(32 * n)
    digests = [blob[i : i + 32] for i in range(0, 32 * n, 32)]
    del blob
    gc.collect()
    with Stopwatch() as sw:
        tree = build_tree(digests)
    build = sw.wall
    mib = (sys.getsizeof(tree.nodes) + sum(map(sys.getsizeof, tree.nodes)) + sys.getsizeof(tree.index_of)) / 2**20
    rnd = random.Random(7)
    sample = [digests[rnd.randrange(n)] for _ in range(proofs)]
    times = []
    pc = time.perf_counter_ns
    for d in sample:
        t = pc()
        tree.proof(d)
        times.append(pc() - t)
    times.sort()
    return {
        "build": build,
        "median_us": statistics.median(times) / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        "max_us": times[-1] / 1000,
        "mib": mib,
        "sw": sw,
        "depth": len(tree.proof(sample[0])),
    }


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=None, help="synthetic events (default 100000; 5000 with --quick)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 000 events, 100 000-leaf tree (< 60 s)")
    p.add_argument(
        "--submission", type=int, default=1000, help="events per record_submissions transaction (default 1000)"
    )
    p.add_argument(
        "--tree-leaves", type=int, default=None, help="leaves of the big tree (default 1000000; 100000 with --quick)"
    )
    p.add_argument("--proofs", type=int, default=10_000, help="random proofs timed on the big tree (default 10000)")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=STAGES,
        help="cProfile this stage and print the top functions to stderr (repeatable)",
    )
    p.add_argument("--profile-top", type=int, default=30)
    p.add_argument("--keep", action="store_true", help="keep the temp directory (its path is printed)")
    a = p.parse_args(argv)
    a.events = a.events or (5_000 if a.quick else 100_000)
    a.tree_leaves = a.tree_leaves or (100_000 if a.quick else 1_000_000)
    return a


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    cmd = " ".join(
        shlex.quote(x)
        for x in [sys.executable if argv is not None else sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    )
    print("cradletrace core benchmark (issue 2)")
    print(f"command : {'.venv/bin/python ' + cmd if argv is None else 'main(' + repr(argv) + ')'}")
    for line in machine_info():
        print(line)
    print(
        f"started : {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; events {args.events:,}, "
        f"submissions of {args.submission:,}, tree {args.tree_leaves:,} leaves",
        flush=True,
    )

    rows: list[Row] = []
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-"))
    pg = None
    workspaces: list[Workspace] = []
    now = datetime.now(UTC)
    n = args.events
    prof = set(args.profile)
    top = args.profile_top
    try:
        # ---- events and signing (the suppliers' cost) ----
        t = time.perf_counter()
        events = synthetic_events(n)
        gen_s = time.perf_counter() - t
        ws_sql, _ = init_workspace(Settings(data_dir=tmp / "sqlite"))
        workspaces.append(ws_sql)
        add_suppliers(ws_sql, now)
        log(f"generated {n:,} events in {gen_s:.1f} s; signing")
        with Stopwatch() as sw, maybe_profile("sign" in prof, "sign_submissions", top):
            items = sign_all(ws_sql, events)
        sign_s = sw.wall
        del events
        # The signed items are the clients' data, not the recorder's: keep the cyclic GC from
        # walking their millions of dicts during every full collection inside record_submissions
        # (holding 100 000 submitted events in one process is an artefact of this harness;
        # without this, recording measures ~30% slower).
        gc.collect()
        gc.freeze()
        from cradletrace.core.canonical import canonical_bytes

        sizes = [len(canonical_bytes(it.event)) for it in items]
        kinds: dict[str, int] = {}
        for it in items:
            kinds[it.event["kind"]] = kinds.get(it.event["kind"], 0) + 1
        mix = ", ".join(f"{v:,} {k}" for k, v in kinds.items())
        rows.append(
            Row(
                "events",
                "synthetic events",
                f"{n:,}",
                "100 000",
                f"{mix}; canonical size mean {statistics.mean(sizes):,.0f} B (min {min(sizes):,}, max {max(sizes):,})",
                n,
            )
        )
        rows.append(
            Row.rate(
                "events",
                "sign rate (supplier side, not ours)",
                n,
                sign_s,
                "",
                f"sign_submissions: JCS + Ed25519 sign + limits fill; {sw.note()}",
            )
        )

        # ---- 1. recording ----
        log(f"recording {n:,} events on SQLite")
        sw, per = bench_record(ws_sql, items, args.submission, now, "SQLite", "record-sqlite" in prof, top)
        assert count_rows(ws_sql) == n
        rows.append(
            Row.rate(
                "1. record (validate, verify signature, hash, store)",
                "events recorded/s, SQLite",
                n,
                sw.wall,
                ">= 3 000/s",
                f"{1e6 * sw.wall / n:,.0f} µs/event ({n / sw.cpu:,.0f} events per CPU-second); "
                f"per {args.submission:,}-event transaction median {_first_last(per)}; {sw.note()}",
            )
        )

        ws_pg: Workspace | None = None
        if not args.no_postgres:
            from cradletrace.devstack.pg import PostgresServer

            log("starting a throwaway PostgreSQL server")
            pg = PostgresServer(dbname="bench").start()
            ver = _pg_version(pg)
            ws_pg, _ = init_workspace(Settings(data_dir=tmp / "postgres", database_url=pg.url))
            workspaces.append(ws_pg)
            copy_suppliers(ws_sql, ws_pg)
            log(f"recording {n:,} events on PostgreSQL {ver}")
            sw, per = bench_record(ws_pg, items, args.submission, now, "PostgreSQL", "record-postgres" in prof, top)
            assert count_rows(ws_pg) == n
            rows.append(
                Row.rate(
                    "1. record (validate, verify signature, hash, store)",
                    "events recorded/s, PostgreSQL",
                    n,
                    sw.wall,
                    "",
                    f"PostgreSQL {ver} on tmpfs, fsync off; {1e6 * sw.wall / n:,.0f} µs/event; "
                    f"per transaction median {_first_last(per)}; {sw.note()} (incl. the server)",
                )
            )
        gc.unfreeze()
        del items
        gc.collect()

        # ---- 5. anchoring the pending events ----
        anchored: list[tuple[str, Workspace, dict[str, Any]]] = []
        for label, ws in (("SQLite", ws_sql), ("PostgreSQL", ws_pg)):
            if ws is None:
                continue
            log(f"anchoring {n:,} pending events on {label}")
            a = bench_anchor(ws, label, f"anchor-{'sqlite' if ws is ws_sql else 'postgres'}" in prof, top)
            anchored.append((label, ws, a))
            rows.append(
                Row.took(
                    "5. anchor all pending events (one root)",
                    f"anchor {int(a['leaves']):,} events, {label}",
                    a["total"],
                    "",
                    f"prepare (tree + proofs stored) {fmt_s(a['prepare'])}, send + confirm {fmt_s(a['send_confirm'])}; "
                    f"{a['leaves'] / a['total']:,.0f} events/s; {a['sw'].note()}",
                )
            )

        # ---- 4. audit ----
        for label, ws, _a in anchored:
            for sig in (True, False):
                log(f"audit on {label}, signatures {'on' if sig else 'off'}")
                stage = f"audit-{'sqlite' if ws is ws_sql else 'postgres'}"
                sw, checked, ok = bench_audit(ws, sig, label, stage in prof, top)
                rows.append(
                    Row.rate(
                        "4. audit (re-verify every anchored event)",
                        f"audit rate, {label}, {'with' if sig else 'without'} signatures",
                        checked,
                        sw.wall,
                        ">= 20 000/s",
                        f"{checked:,} events, {'all consistent' if ok else 'PROBLEMS FOUND'}; "
                        f"{checked / sw.cpu:,.0f} per CPU-second; {sw.note()}",
                    )
                )

        # ---- 2. gas ----
        log("gas per event on a fresh embedded chain")
        targets = {1000: "<= 100", 10_000: "<= 10"}
        for leaves, gas in bench_gas(tmp / "gas", [1, 100, 1000, 10_000]):
            rows.append(
                Row(
                    "2. gas per event (anchor() gasUsed / leaves, embedded chain)",
                    f"{leaves:,} event{'s' if leaves > 1 else ''} per root",
                    f"{gas / leaves:,.2f}",
                    targets.get(leaves, ""),
                    f"anchor() gasUsed {gas:,}",
                    gas / leaves,
                )
            )
        for _label, _ws, a in anchored[:1]:
            rows.append(
                Row(
                    "2. gas per event (anchor() gasUsed / leaves, embedded chain)",
                    f"{int(a['leaves']):,} events per root (the real anchor above)",
                    f"{a['gas'] / a['leaves']:,.3f}",
                    "",
                    f"anchor() gasUsed {int(a['gas']):,}",
                    a["gas"] / a["leaves"],
                )
            )

        # the stores and the chain are no longer needed: free memory before the big tree
        for ws in workspaces:
            ws.close()
        workspaces.clear()
        if pg is not None:
            pg.stop()
            pg = None

        # ---- 3. tree ----
        log(f"building a {args.tree_leaves:,}-leaf tree")
        with maybe_profile("tree" in prof, "build_tree", top):
            tr = bench_tree(args.tree_leaves, args.proofs)
        rows.append(
            Row.took(
                "3. Merkle tree",
                f"build a {args.tree_leaves:,}-leaf tree",
                tr["build"],
                "<= 10 s" if args.tree_leaves >= 1_000_000 else "(<= 10 s at 1M)",
                f"merkle.build_tree over random digests; tree holds {tr['mib']:,.0f} MiB (nodes + index); {tr['sw'].note()}",
            )
        )
        rows.append(
            Row(
                "3. Merkle tree",
                f"one proof from it (median of {args.proofs:,})",
                f"{tr['median_us']:,.1f} µs",
                "<= 1 ms",
                f"{tr['depth']:.0f} siblings; p99 {tr['p99_us']:,.1f} µs, max {tr['max_us']:,.1f} µs "
                "(a max in the tens of ms is a cyclic-GC pass or preemption, not the proof)",
                tr["median_us"] / 1e6,
            )
        )
    finally:
        for ws in workspaces:
            try:
                ws.close()
            except Exception as exc:
                log(f"closing a workspace: {exc}")
        if pg is not None:
            pg.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    if prof:
        print(f"NOTE: stages {', '.join(sorted(prof))} ran under cProfile; their figures are slowed by it.")
    print_table(rows)
    print(
        f"wall time {time.perf_counter() - started:,.0f} s; figures, not pass/fail; "
        f"load at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return rows


def _first_last(per: list[float]) -> str:
    k = max(1, min(10, len(per) // 3))
    return (
        f"{fmt_s(statistics.median(per))} (first {k}: {fmt_s(statistics.median(per[:k]))}, "
        f"last {k}: {fmt_s(statistics.median(per[-k:]))})"
    )


def _pg_version(pg: Any) -> str:
    import psycopg

    with psycopg.connect(pg.dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()

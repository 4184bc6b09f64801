"""Benchmark of traces through cases, pallets, places and sales (issue 16, "Scale"): prints figures.

    .venv/bin/python bench/bench_unit_trace.py                # the full grown graph, SQLite and PostgreSQL
    .venv/bin/python bench/bench_unit_trace.py --quick        # a tenth of everything
    .venv/bin/python bench/bench_unit_trace.py --no-postgres  # SQLite only

The graph is bench_trace.py's synthetic one (2 000 raw lots, 10 000 batches, 1 000 000 cans, 100 000
shipments, 200 000 scans; its flags apply) grown by the logistics records of issue 16 (defaults;
every count is a flag): 100 000 cases of 10 cans of one batch each, packed by the plant; 5 000
pallets of 20 cases, each received at the plant's warehouse, shipped to the brand and received at
its distribution centre (GLNs with a dock extension); half of the pallets are then unpacked and
their cases received, one by one, at 400 stores until 200 000 receiving events are recorded; then
500 000 sales by the brand (one in a hundred a whole case, the others single cans, from loose
cases and from cases still on pallets; 1 to 3 sales per order, buyers as keyed pseudonyms).

How it is built: the events are signed through ``recording.sign_submissions`` like the base graph's;
their rows (``event``, and ``unit``, ``unit_event``, ``sale`` as custody.py and units.py write them:
a receiving sets the place of everything inside, a can sold out of its case leaves it, a sold case
and its cans each get a sale row) are derived by replaying the events over the units' state, and
bulk-loaded with the base rows (bench_trace.bulk_load). tests/test_bench_unit_trace.py checks at a
tiny scale that they equal what ``recording.record_submissions`` stores.

Measured, on SQLite and on a throwaway PostgreSQL, each next to a reference measured in the same
run on the same store (the ratio is printed):

1. forward trace from a random raw lot including cases, pallets, last places and the order list
   (``trace_forward`` + ``trace_json(orders=True)``); reference: the same trace without them
   (``units=False``, the trace bench_trace.py measures); target 50 ms median;
2. backward trace from a random SSCC (half of them unpacked: found through their pack events);
   reference: backward from a random can's serial; target 10 ms median;
3. backward trace from a random case, for information.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_trace as bt
from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.core import canonical
from cradletrace.core.codes import gtin_check_digit
from cradletrace.recall.genealogy import trace_backward, trace_forward, trace_json
from cradletrace.sealing import Sealer
from cradletrace.store.states import UnitKind
from cradletrace.workspace import Workspace, init_workspace

BRAND = "mama-brand"
CASE_GTIN = bt._gtin("1942190296010")
DC_GLN = {bt.PLANT: "942190296100", BRAND: "942190296200"}
DC_GLN = {k: v + str(gtin_check_digit(v)) for k, v in DC_GLN.items()}
MEMBER_KEY = bytes(range(32))


def store_gln(i: int) -> str:
    body = f"9421903{i:05d}"
    return body + str(gtin_check_digit(body))


def sscc(j: int) -> str:
    body = f"39421902{j:09d}"
    return body + str(gtin_check_digit(body))


@dataclass(frozen=True)
class Growth:
    cases: int = 100_000
    pallets: int = 5_000
    sales: int = 500_000
    receipts: int = 200_000
    stores: int = 400
    case_sale_every: int = 100  # one sale in this many is of a whole case


@dataclass
class Grown:
    """The growth events (unsigned, in recording order) and what they mean, for random starts and checks."""

    events: list[dict[str, Any]]
    cases: list[tuple[str, bt.LotKey]]  # (case code, its batch)
    pallets: list[tuple[str, set[bt.LotKey]]]  # (SSCC, the batches of its cans)


def _unit(code: str) -> dict[str, str]:
    return {"sscc": code[3:]} if code.startswith("00/") else {"gtin": code[3:17], "serial": code[21:]}


def grow(plan: bt.Plan, g: Growth) -> Grown:
    """Deterministic in the plan's seed."""
    rng = random.Random(plan.scale.seed + 16)
    per_case = max(1, plan.scale.items // max(1, g.cases))
    cases: list[tuple[str, bt.LotKey, list[str]]] = []
    for batch in plan.batches:
        serials = plan.serials[batch]
        for k in range(0, len(serials) - per_case + 1, per_case):
            if len(cases) == g.cases:
                break
            cases.append((f"01/{CASE_GTIN}/21/C{len(cases) + 1:07d}", batch, serials[k : k + per_case]))
    events: list[dict[str, Any]] = []
    for code, batch, serials in cases:
        events.append(
            bt_event(
                "pack",
                bt.PLANT,
                parent=_unit(code),
                children=[{"gtin": batch[0], "serial": s} for s in serials],
                at="",
            )
        )
    per_pallet = max(1, len(cases) // max(1, g.pallets))
    pallets: list[tuple[str, list[int]]] = [
        (f"00/{sscc(j + 1)}", list(range(j * per_pallet, (j + 1) * per_pallet)))
        for j in range(min(g.pallets, len(cases) // per_pallet))
    ]
    plant_dc, brand_dc = {"gln": DC_GLN[bt.PLANT]}, {"gln": DC_GLN[BRAND], "extension": "DOCK-1"}
    for code, members in pallets:
        u = [_unit(code)]
        events.append(bt_event("pack", bt.PLANT, parent=u[0], children=[_unit(cases[i][0]) for i in members], at=""))
        events.append(bt_event("move", bt.PLANT, action="receive", units=u, at="", to_place=plant_dc))
        events.append(
            bt_event(
                "move",
                bt.PLANT,
                action="ship",
                units=u,
                at="",
                from_place=plant_dc,
                consignee=BRAND,
                to_place=brand_dc,
            )
        )
        events.append(bt_event("move", BRAND, action="receive", units=u, at="", to_place=brand_dc))
    loose = pallets[len(pallets) // 2 :]
    for code, members in loose:
        events.append(
            bt_event("unpack", BRAND, parent=_unit(code), children=[_unit(cases[i][0]) for i in members], at="")
        )
    loose_cases = [i for _, members in loose for i in members]
    left = max(0, g.receipts - 2 * len(pallets))
    for r in range(left if loose_cases else 0):
        i = loose_cases[r % len(loose_cases)]
        store = (i * 7 + r // len(loose_cases)) % g.stores
        place = {"gln": store_gln(store), "extension": f"ROOM-{r // len(loose_cases) % 3 + 1}"}
        events.append(bt_event("move", BRAND, action="receive", units=[_unit(cases[i][0])], at="", to_place=place))
    sold_cases = set(
        loose_cases[:: max(1, len(loose_cases) // max(1, g.sales // g.case_sale_every))][: g.sales // g.case_sale_every]
    )
    singles = [
        (batch, s)
        for i, (_, batch, serials) in enumerate(cases[: len(pallets) * per_pallet])
        if i not in sold_cases
        for s in serials
    ]
    picks = rng.sample(singles, min(len(singles), g.sales - len(sold_cases)))
    sales: list[dict[str, str]] = [_unit(cases[i][0]) for i in sorted(sold_cases)]
    sales += [{"gtin": b[0], "serial": s} for b, s in picks]
    rng.shuffle(sales)
    order, buyer, left_in_order = 0, "", 0
    members = max(1, len(sales) // 3)
    for unit in sales:
        if left_in_order == 0:
            order += 1
            left_in_order = rng.choice((1, 1, 2, 3))
            member = f"m-{rng.randrange(members):07d}"
            buyer = hmac.new(MEMBER_KEY, f"{BRAND}\x00{member}".encode(), hashlib.sha256).hexdigest()
        left_in_order -= 1
        events.append(bt_event("sale", BRAND, unit=unit, order=f"WEB-{order:08d}", buyer=buyer, sold_at=""))
    # Times in recording order, evenly over the 30 days before the plan's now (an hour short of it).
    t0, span = plan.now - timedelta(days=30), timedelta(days=30) - timedelta(hours=1)
    for i, ev in enumerate(events):
        ev["data"]["sold_at" if ev["kind"] == "sale" else "at"] = (t0 + span * i / len(events)).isoformat(
            timespec="seconds"
        )
    return Grown(
        events,
        [(code, batch) for code, batch, _ in cases],
        [(code, {cases[i][1] for i in members}) for code, members in pallets],
    )


def bt_event(kind: str, supplier: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "supplier": supplier, "data": data}


# -- the rows custody.py and units.py would write ----------------------------------------------------


@dataclass
class _State:
    kind: str
    holder: str
    lot_id: int | None = None
    parent: str | None = None
    packed: int | None = None
    consignee: str | None = None
    gln: str | None = None
    ext: str | None = None
    received_at: datetime | None = None
    received: int | None = None
    sold: int | None = None


@dataclass
class _Units:
    state: dict[str, _State] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def inside(self, code: str) -> list[str]:
        out: list[str] = []
        stack = list(self.children.get(code, ()))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(self.children.get(c, ()))
        return out

    def put_in(self, child: str, parent: str | None, event: int) -> None:
        u = self.state[child]
        if u.parent is not None:
            self.children[u.parent].discard(child)
        if parent is not None:
            self.children[parent].add(child)
        u.parent, u.packed = parent, (event if parent is not None else None)


def _code(ref: dict[str, str]) -> str:
    return f"00/{ref['sscc']}" if "sscc" in ref else f"01/{ref['gtin']}/21/{ref['serial']}"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def growth_rows(
    items: Sequence[recording.Submission], plan: bt.Plan, first_event: int, lot_ids: dict[bt.LotKey, int]
) -> list[bt.Table]:
    """Rows of event, unit, unit_event and sale for the signed growth ``items`` (event ids from
    ``first_event``), as recording would store them; ``lot_ids`` the base graph's lots."""
    event = bt.Table(
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
    unit_event = bt.Table("unit_event", ("code", "event_id"))
    sale = bt.Table("sale", ("event_id", "code", "lot_id", "order_ref", "buyer", "sold_at"))
    can_lot = {f"01/{b[0]}/21/{s}": lot_ids[b] for b in plan.batches for s in plan.serials[b]}
    units = _Units()

    def get(code: str, who: str, new: str | None = None) -> _State:
        if code not in units.state:
            if code in can_lot:
                units.state[code] = _State(UnitKind.ITEM, bt.PLANT, can_lot[code])
            else:
                assert new is not None, code
                units.state[code] = _State(new, who)
        return units.state[code]

    for eid, it in enumerate(items, first_event):
        ev = it.event
        body = canonical.canonical_bytes(ev)
        kind, who, d = ev["kind"], ev["supplier"], ev["data"]
        ref = _code(d["parent"]) if kind in ("pack", "unpack") else (_code(d["unit"]) if kind == "sale" else None)
        event.rows.append(
            (
                eid,
                canonical.sha256(body).hex(),
                kind,
                who,
                ev["key"],
                body.decode("utf-8"),
                it.signature,
                plan.now,
                None,
                None,
                ref,
                d["action"] if kind == "move" else None,
            )
        )
        if kind in ("pack", "unpack"):
            assert ref is not None
            get(ref, who, UnitKind.PALLET if "sscc" in d["parent"] else UnitKind.CASE)
            touched = {ref}
            for c in map(_code, d["children"]):
                get(c, who)
                units.put_in(c, ref if kind == "pack" else None, eid)
                units.state[c].holder = who
                touched.update((c, *units.inside(c)))
        elif kind == "move":
            touched = set()
            for u in map(_code, d["units"]):
                codes = [u, *units.inside(u)]
                touched.update(codes)
                for c in codes:
                    s = units.state[c]
                    if d["action"] == "ship":
                        s.holder, s.consignee = who, d.get("consignee")
                    else:
                        place = d["to_place"]
                        s.holder, s.consignee, s.gln, s.ext = who, None, place["gln"], place.get("extension")
                        s.received_at, s.received = _when(d["at"]), eid
        else:
            assert ref is not None
            u = get(ref, who)
            codes = [ref, *units.inside(ref)]
            touched = set(codes)
            if u.parent is not None:
                units.put_in(ref, None, eid)
            for c in codes:
                units.state[c].sold = eid
                sale.rows.append((eid, c, units.state[c].lot_id, d["order"], d["buyer"], _when(d["sold_at"])))
        unit_event.rows.extend((c, eid) for c in sorted(touched))
    unit = bt.Table(
        "unit",
        (
            "code",
            "kind",
            "lot_id",
            "parent",
            "packed_event_id",
            "holder",
            "consignee",
            "gln",
            "gln_extension",
            "received_at",
            "received_event_id",
            "sold_event_id",
        ),
        [
            (
                c,
                str(s.kind),
                s.lot_id,
                s.parent,
                s.packed,
                s.holder,
                s.consignee,
                s.gln,
                s.ext,
                s.received_at,
                s.received,
                s.sold,
            )
            for c, s in units.state.items()
        ],
    )
    # In recording order, as a store that recorded these events one by one lays them out (a lot's
    # cans and an event's unit_event rows side by side); sorting by key would load faster but scatter them.
    return [event, unit, unit_event, sale]


def lot_ids_of(plan: bt.Plan) -> dict[bt.LotKey, int]:
    """The lot ids bench_trace.store_rows gives (batch events in order, from 1)."""
    return {key: i for i, key in enumerate([*plan.raw, *plan.batches], 1)}


def sign_growth(ws: Workspace, grown: Grown) -> list[recording.Submission]:
    """Every growth event signed by its supplier's key file, in submissions of at most ``MAX_EVENTS``."""
    out: list[recording.Submission] = []
    with ws.session() as s:
        load = recording.key_loader(s, ws.settings.keys_dir)
        for i in range(0, len(grown.events), recording.MAX_EVENTS):
            out += recording.sign_submissions(
                recording.read_submissions(grown.events[i : i + recording.MAX_EVENTS]), load, ws.limits
            )  # type: ignore[arg-type]
    return out


# -- measuring -----------------------------------------------------------------------------------


def p95(values: Sequence[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


@dataclass
class Row:
    db: str
    what: str
    times: list[float]
    ref_what: str
    ref: list[float]
    target: float | None
    note: str = ""

    def line(self) -> str:
        m, rm = statistics.median(self.times), statistics.median(self.ref)
        verdict = (
            ""
            if self.target is None
            else f"  target {self.target * 1000:g} ms: {'met' if m <= self.target else 'MISSED'}"
        )
        return (
            f"{self.db:<10} {self.what:<44} median {m * 1000:6.1f} ms, p95 {p95(self.times) * 1000:6.1f} ms | "
            f"reference ({self.ref_what}) median {rm * 1000:6.1f} ms, p95 {p95(self.ref) * 1000:6.1f} ms | "
            f"ratio {m / rm:4.1f}x  n={len(self.times)}{verdict}{'  ' + self.note if self.note else ''}"
        )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(name: str, ws: Workspace, plan: bt.Plan, grown: Grown, starts: int, rng: random.Random) -> list[Row]:
    fwd, ref, sizes = [], [], []
    for key in rng.sample(plan.raw, min(starts, len(plan.raw))):
        with ws.session() as s:
            t0, base = timed(lambda key=key: trace_forward(s, lot=key, units=False))
        with ws.session() as s:
            t1, full = timed(lambda key=key: trace_json(trace_forward(s, lot=key), orders=True))
        ref.append(t0)
        fwd.append(t1)
        sizes.append(
            (full["counts"]["cases"], full["counts"]["pallets"], full["counts"]["orders"], full["counts"]["items"])
        )
        want = plan.consumers(key) | {key}
        if {(x["gtin"], x["lot"]) for x in full["lots"]} != want or {x.key for x in base.lots} != want:
            raise SystemExit(f"forward trace from {key} disagrees with the generated graph")
        cans = {c for c, b in grown.cases if b in want}
        if {c["code"] for c in full["cases"]} - cans:
            raise SystemExit(f"forward trace from {key} lists a case of another lot")
    med = [statistics.median(x[i] for x in sizes) for i in range(4)]
    rows = [
        Row(
            name,
            "forward from a raw lot, with units and orders",
            fwd,
            "the same without units",
            ref,
            0.05,
            f"(median {med[3]:,.0f} cans, {med[0]:,.0f} cases, {med[1]:,.0f} pallets, {med[2]:,.0f} orders)",
        )
    ]
    back, item_ref = [], []
    all_items = [(b, s) for b in plan.batches for s in plan.serials[b]]
    for (code, batches), (_batch, serial) in zip(
        rng.sample(grown.pallets, min(starts, len(grown.pallets))), rng.sample(all_items, starts), strict=False
    ):
        with ws.session() as s:
            t0, tr = timed(lambda code=code: trace_backward(s, unit=code[3:]))
        back.append(t0)
        want = set().union(*({b, *plan.inputs[b]} for b in batches))
        if {x.key for x in tr.lots} != want:
            raise SystemExit(f"backward trace from {code} disagrees with the generated graph")
        with ws.session() as s:
            t1, _ = timed(lambda serial=serial: trace_backward(s, serial=serial))
        item_ref.append(t1)
    rows.append(Row(name, "backward from an SSCC", back, "backward from a can", item_ref, 0.01, "(half unpacked)"))
    case_t = []
    for code, batch in rng.sample(grown.cases, min(starts, len(grown.cases))):
        with ws.session() as s:
            t0, tr = timed(lambda code=code: trace_backward(s, unit=code))
        case_t.append(t0)
        if {x.key for x in tr.lots} != {batch, *plan.inputs[batch]}:
            raise SystemExit(f"backward trace from {code} disagrees with the generated graph")
    rows.append(Row(name, "backward from a case", case_t, "backward from a can", item_ref, None))
    return rows


def build(
    name: str, settings: Settings, plan: bt.Plan, grown: Grown, tables: list[bt.Table] | None, src: Workspace | None
) -> tuple[list[str], list[bt.Table]]:
    """A new store holding the grown graph: signed and derived here unless ``tables`` come from an
    earlier store whose suppliers ``src`` holds."""
    notes: list[str] = []
    ws, _chain = init_workspace(settings)
    with ws:
        if src is None:
            bt.add_suppliers(ws, plan)
        else:
            bt.copy_suppliers(src, ws)
        if tables is None:
            bt.log(f"{name}: sign")
            t, items = timed(lambda: bt.sign(ws, plan))
            t2, more = timed(lambda: sign_growth(ws, grown))
            notes.append(f"signed {len(items):,} + {len(more):,} events in {t:.1f} + {t2:.1f} s")
            bt.log(f"{name}: derive rows")
            first = bt.next_event_id(ws)
            t, tables = timed(lambda: bt.store_rows(items, plan, Sealer(bytes(range(32))), first))
            t2, extra = timed(lambda: growth_rows(more, plan, first + len(items), lot_ids_of(plan)))
            tables = tables + extra
            notes.append(f"derived their rows in {t:.1f} + {t2:.1f} s")
        assert tables is not None
        bt.log(f"{name}: bulk load")
        t, _ = timed(lambda: bt.bulk_load(ws.engine, tables))
        counts: dict[str, int] = defaultdict(int)
        for x in tables:
            counts[x.name] += len(x.rows)
        notes.append(f"{name}: bulk load of {', '.join(f'{n:,} {k}' for k, n in counts.items())} in {t:.1f} s")
        return notes, tables


LOADED = ("event", "lot", "lot_input", "shipment", "item", "scan", "unit", "unit_event", "sale")


def tables_from_store(ws: Workspace) -> list[bt.Table]:
    """The bulk-loaded rows of a built store (every event but the key log's), to load another store."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    out: list[bt.Table] = []
    with ws.engine.connect() as conn:
        for name in LOADED:
            t = SQLModel.metadata.tables[name]
            q = select(t).where(t.c.kind != "key") if name == "event" else select(t)
            out.append(bt.Table(name, tuple(c.name for c in t.columns), [tuple(r) for r in conn.execute(q)]))
    return out


def cache_key(scale: bt.Scale, growth: Growth) -> str:
    """What the cached store's rows depend on: the counts and the code that generates and derives them
    (a newer schema revision is applied to the cached store when it is opened)."""
    import inspect

    h = hashlib.sha256(repr((scale, growth)).encode())
    for fn in (bt.make_plan, bt.store_rows, bt.lab_report, bt._site, grow, growth_rows, _unit, lot_ids_of):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def open_cached(path: Path) -> Workspace:
    """The cached SQLite store, upgraded to this code's schema revision if it is behind."""
    from cradletrace.store import db, schema

    engine = db.open_engine(Settings(data_dir=path).store_url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return Workspace(Settings(data_dir=path))


def main(argv: list[str] | None = None) -> list[Row]:
    d, gd = bt.Scale(), Growth()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base = ("raw_lots", "batches", "inputs", "items", "shipments", "sites", "scans", "farms", "seed")
    for f in base:
        parser.add_argument("--" + f.replace("_", "-"), type=int, default=getattr(d, f), dest=f)
    for f in ("cases", "pallets", "sales", "receipts", "stores"):
        parser.add_argument("--" + f, type=int, default=getattr(gd, f), dest=f)
    parser.add_argument("--quick", action="store_true", help="a tenth of every count")
    parser.add_argument("--starts", type=int, default=40, help="random starts per measurement")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="measure PostgreSQL only (built from the SQLite store)"
    )
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "cradletrace-bench-unit-trace"),
        help="keep the built SQLite store here for the next run with the same counts and code ('' for none)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build anew even if the cache holds the store")
    args = parser.parse_args(argv)
    scale = bt.Scale(**{f: getattr(args, f) for f in base})
    growth = Growth(**{f: getattr(args, f) for f in ("cases", "pallets", "sales", "receipts", "stores")})
    if args.quick:
        scale = replace(
            scale,
            **{f: max(1, getattr(scale, f) // 10) for f in ("raw_lots", "batches", "items", "shipments", "scans")},
        )
        growth = replace(
            growth, **{f: max(1, getattr(growth, f) // 10) for f in ("cases", "pallets", "sales", "receipts")}
        )
    from bench.bench_core import machine_info

    print("\n".join(machine_info()))
    print(f"command : {' '.join(shlex.quote(a) for a in [sys.executable, *(argv if argv is not None else sys.argv)])}")
    print(
        f"graph   : {scale.raw_lots:,} raw lots -> {scale.batches:,} batches -> {scale.items:,} cans; "
        f"{scale.shipments:,} shipments; {scale.scans:,} scans; grown by {growth.cases:,} cases, "
        f"{growth.pallets:,} pallets, {growth.receipts:,} receipts, {growth.sales:,} sales"
    )
    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-units-"))
    cached = Path(args.cache) / cache_key(scale, growth) if args.cache else None
    rows: list[Row] = []
    notes: list[str] = []
    try:
        stamp = cached / "built.json" if cached else None
        hit = stamp is not None and stamp.exists() and not args.rebuild
        now = datetime.fromisoformat(json.loads(stamp.read_text())["now"]) if hit and stamp else datetime.now(UTC)
        t, plan = timed(lambda: bt.make_plan(scale, now))
        plan.suppliers.append((BRAND, "Mama Brand", "brand"))
        t2, grown = timed(lambda: grow(plan, growth))
        notes.append(f"generated {len(plan.events):,} + {len(grown.events):,} events in {t:.1f} + {t2:.1f} s")
        tables: list[bt.Table] | None = None
        if hit and cached and stamp:
            sqlite_dir = cached / "sqlite"
            notes.append(f"SQLite store from the cache {sqlite_dir}; when it was built:")
            notes += ["  " + n for n in json.loads(stamp.read_text())["notes"]]
        else:
            sqlite_dir = tmp / "sqlite"
            t, (said, tables) = timed(lambda: build("SQLite", Settings(data_dir=sqlite_dir), plan, grown, None, None))
            notes += [*said, f"SQLite store built in {t:.0f} s"]
            if cached and stamp:
                shutil.rmtree(cached, ignore_errors=True)
                shutil.copytree(sqlite_dir, cached / "sqlite")
                stamp.write_text(json.dumps({"now": now.isoformat(), "notes": [*said, f"built in {t:.0f} s"]}))
        sqlite = open_cached(sqlite_dir) if hit else Workspace(Settings(data_dir=sqlite_dir))
        try:
            if not args.no_sqlite:
                bt.log("SQLite: traces")
                rows += measure("SQLite", sqlite, plan, grown, args.starts, random.Random(plan.scale.seed + 2))
            if not args.no_postgres:
                from cradletrace.devstack.pg import PostgresServer

                if tables is None:
                    bt.log("PostgreSQL: read the rows of the SQLite store")
                    t, tables = timed(lambda: tables_from_store(sqlite))
                    notes.append(f"read the SQLite store's rows in {t:.1f} s")
                bt.log("PostgreSQL: start, load, measure")
                with PostgresServer() as pg:
                    pg_settings = Settings(data_dir=tmp / "postgres", database_url=pg.url)
                    said, _ = build("PostgreSQL", pg_settings, plan, grown, tables, sqlite)
                    notes += said
                    tables = None  # let the rows go before measuring
                    with Workspace(pg_settings) as ws:
                        bt.log("PostgreSQL: traces")
                        rows += measure("PostgreSQL", ws, plan, grown, args.starts, random.Random(plan.scale.seed + 2))
        finally:
            sqlite.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(notes))
    print()
    for r in rows:
        print(r.line())
    return rows


if __name__ == "__main__":
    main()

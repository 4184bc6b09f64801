"""bench/bench_unit_trace.py at a tiny scale: the rows it derives for cases, pallets, receipts and
sales are exactly what the real recording path (custody.py, units.py) stores, and the traces find in
them what the generator meant (so the bench cannot rot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from bench import bench_trace as bt
from bench import bench_unit_trace as bu
from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.recall.genealogy import trace_backward, trace_forward
from cradletrace.sealing import Sealer
from cradletrace.workspace import Workspace, init_workspace
from tests.conftest import NOW

SCALE = bt.Scale(raw_lots=6, batches=10, inputs=3, items=120, shipments=12, sites=4, scans=10, farms=2)
GROWTH = bu.Growth(cases=10, pallets=4, sales=30, receipts=14, stores=3, case_sale_every=10)
TABLES = {"unit": ["code"], "unit_event": ["code", "event_id"], "sale": ["event_id", "code"], "event": ["id"]}


def rows(ws: Workspace, table: str) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v

    t = SQLModel.metadata.tables[table]
    with ws.engine.connect() as conn:
        return [tuple(norm(v) for v in r) for r in conn.execute(select(t).order_by(*(t.c[k] for k in TABLES[table])))]


@pytest.fixture
def plan() -> bt.Plan:
    p = bt.make_plan(SCALE, NOW)
    p.suppliers.append((bu.BRAND, "Mama Brand", "brand"))
    return p


@pytest.fixture
def grown(plan: bt.Plan) -> bu.Grown:
    return bu.grow(plan, GROWTH)


@pytest.fixture
def real(tmp_path: Path, plan: bt.Plan, grown: bu.Grown) -> Iterator[tuple[Workspace, list[recording.Submission]]]:
    """Base graph and growth recorded through ``recording.record_submissions`` (SQLite)."""
    ws, _ = init_workspace(Settings(data_dir=tmp_path / "real"))
    with ws:
        bt.add_suppliers(ws, plan)
        base, more = bt.sign(ws, plan), bu.sign_growth(ws, grown)
        with ws.session() as s:
            recording.record_submissions(s, base, plan.now)
        for i in range(0, len(more), 50):  # several submissions, as a warehouse sends them
            with ws.session() as s:
                recording.record_submissions(s, more[i : i + 50], plan.now)
        yield ws, base + more


@pytest.fixture
def bulk(settings: Settings, plan: bt.Plan, real: tuple[Workspace, list[recording.Submission]]) -> Iterator[Workspace]:
    ws, _ = init_workspace(settings)
    with ws:
        bt.copy_suppliers(real[0], ws)
        first = bt.next_event_id(ws)
        n = len(plan.events)
        tables = bt.store_rows(real[1][:n], plan, Sealer(bytes(range(32))), first)
        tables += bu.growth_rows(real[1][n:], plan, first + n, bu.lot_ids_of(plan))
        bt.bulk_load(ws.engine, tables)
        yield ws


def test_grown_rows_equal_the_recording_path(
    grown: bu.Grown, real: tuple[Workspace, list[recording.Submission]], bulk: Workspace
) -> None:
    kinds = {e["kind"] for e in grown.events}
    assert kinds == {"pack", "unpack", "move", "sale"}
    for table in TABLES:
        want = rows(real[0], table)
        assert want, table
        assert rows(bulk, table) == want, table


def test_traces_find_the_grown_graph(plan: bt.Plan, grown: bu.Grown, bulk: Workspace) -> None:
    with bulk.session() as s:
        cases_seen = 0
        for raw in plan.raw:
            t = trace_forward(s, lot=raw)
            want = plan.consumers(raw) | {raw}
            assert {c.code for c in t.units.cases} <= {c for c, b in grown.cases if b in want}
            cases_seen += len(t.units.cases)
            assert t.units.sold_items == sum(o.items for o in t.units.orders)
        assert cases_seen
        for code, batches in grown.pallets:
            got = {x.key for x in trace_backward(s, unit=code).lots}
            assert got == set().union(*({b, *plan.inputs[b]} for b in batches)), code
        code, batch = grown.cases[0]
        assert {x.key for x in trace_backward(s, unit=code).lots} == {batch, *plan.inputs[batch]}


def test_bench_runs_end_to_end() -> None:
    rows = bu.main(
        [
            *("--raw-lots", "6", "--batches", "10", "--items", "120", "--shipments", "12", "--sites", "4"),
            *("--scans", "10", "--farms", "2", "--cases", "10", "--pallets", "4", "--sales", "30"),
            *("--receipts", "14", "--stores", "3", "--starts", "3", "--no-postgres", "--cache", ""),
        ]
    )
    assert [r.what for r in rows] == [
        "forward from a raw lot, with units and orders",
        "backward from an SSCC",
        "backward from a case",
    ]
    assert "ratio" in rows[0].line() and "p95" in rows[0].line()

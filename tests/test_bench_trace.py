"""bench/bench_trace.py at a tiny scale: its bulk-loaded rows are exactly what the real recording
path stores, and genealogy finds in them the graph the generator meant (so the bench cannot rot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session, SQLModel

from bench import bench_trace as bt
from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.recall.genealogy import id_set, trace_backward, trace_forward
from cradletrace.sealing import Sealer
from cradletrace.store import db
from cradletrace.workspace import Workspace, init_workspace
from tests.conftest import NOW

SCALE = bt.Scale(raw_lots=6, batches=10, inputs=3, items=80, shipments=25, sites=4, scans=40, farms=2, cold_every=3)
TABLES = {
    "event": ["id"],
    "lot": ["id"],
    "lot_input": ["lot_id", "input_lot_id"],
    "shipment": ["id"],
    "item": ["serial"],
}


@pytest.fixture
def plan() -> bt.Plan:
    return bt.make_plan(SCALE, NOW)


@pytest.fixture
def real(tmp_path: Path, plan: bt.Plan) -> Iterator[tuple[Workspace, list[recording.Submission]]]:
    """The plan recorded through ``recording.record_submissions`` (SQLite), and its signed items."""
    ws, _ = init_workspace(Settings(data_dir=tmp_path / "real"))
    with ws:
        bt.add_suppliers(ws, plan)
        items = bt.sign(ws, plan)
        with ws.session() as s:
            recording.record_submissions(s, items, plan.now)
        yield ws, items


@pytest.fixture
def bulk(
    settings: Settings, plan: bt.Plan, real: tuple[Workspace, list[recording.Submission]]
) -> Iterator[tuple[Workspace, Sealer]]:
    """The same signed items bulk-loaded the bench's way (SQLite and PostgreSQL)."""
    ws, _ = init_workspace(settings)
    sealer = Sealer(bytes(range(32)))
    with ws:
        bt.copy_suppliers(real[0], ws)
        bt.bulk_load(ws.engine, bt.store_rows(real[1], plan, sealer, bt.next_event_id(ws)))
        yield ws, sealer


def _rows(ws: Workspace, table: str) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v

    t = SQLModel.metadata.tables[table]
    with ws.engine.connect() as conn:  # through the column types, so both stores answer in Python values
        return [tuple(norm(v) for v in r) for r in conn.execute(select(t).order_by(*(t.c[k] for k in TABLES[table])))]


def test_bulk_rows_equal_the_recording_path(
    plan: bt.Plan, real: tuple[Workspace, list[recording.Submission]], bulk: tuple[Workspace, Sealer]
) -> None:
    for table in TABLES:
        want = _rows(real[0], table)
        assert want, table
        assert _rows(bulk[0], table) == want, table
    assert len(_rows(real[0], "item")) == SCALE.items


def test_genealogy_sees_the_generated_graph(plan: bt.Plan, bulk: tuple[Workspace, Sealer]) -> None:
    ws, sealer = bulk
    scanned = [serial for _, serial, _, _ in plan.scans]
    with ws.session() as s:
        for raw in plan.raw:
            batches = plan.consumers(raw)
            tr = trace_forward(s, lot=raw)
            assert {lot.key for lot in tr.lots} == batches | {raw}
            assert all(lot.path == (raw, lot.key) for lot in tr.lots if lot.key != raw)
            serials = {x for b in batches for x in plan.serials[b]}
            assert tr.items == len(serials)
            assert len(tr.shipments) == sum(plan.shipments.get(b, 0) for b in batches)
            assert tr.scans == sum(1 for x in scanned if x in serials)
            assert tr.scanned_items == len(serials & set(scanned))
        batch = plan.batches[3]
        back = trace_backward(s, serial=plan.serials[batch][0])
        assert {lot.key for lot in back.lots} == {batch, *plan.inputs[batch]}
        assert len(back.test_reports) == 1 + SCALE.inputs and all(r.verdict == "pass" for r in back.test_reports)
        ids = {leg.id for leg in trace_forward(s, lot=batch).shipments}
        assert {r.shipment for r in back.cold_chain} == {i for i in ids if (int(i[4:]) - 1) % SCALE.cold_every == 0}
        assert {r.verdict for r in back.cold_chain} <= {"ok"}
    with ws.engine.connect() as conn:
        stored = conn.execute(text("SELECT id, consent, location FROM scan")).all()
    assert len(stored) == SCALE.scans
    consented = [(i, loc) for i, c, loc in stored if c]
    assert consented and all(sealer.open(bytes(loc), i.encode()).startswith(b"[") for i, loc in consented)
    assert all(loc is None for _, c, loc in stored if not c)


def test_bench_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    figs = bt.main(
        [
            "--raw-lots",
            "8",
            "--batches",
            "12",
            "--items",
            "120",
            "--shipments",
            "30",
            "--sites",
            "5",
            "--scans",
            "50",
            "--farms",
            "2",
            "--starts",
            "3",
            "--recalls",
            "2",
            "--no-postgres",
        ]
    )
    out = capsys.readouterr().out
    assert {f.what.strip() for f in figs} >= {
        "forward trace from a raw lot",
        "backward trace from an item",
        "full recall, failed report on a raw lot",
        "full recall of a whole farm's lots",
        "notice sent and confirmed on chain",
        "report file XLSX",
    }
    assert "of 2 h" in out and "target 500 ms: median met" in out


def test_id_set_binds_a_whole_supplier_as_one_parameter(settings: Settings) -> None:
    """What a whole farm's trace passes (tens of thousands of ids) in one statement, on both stores:
    more than SQLite's old 999-variable limit, with repeats folded."""
    settings.data_dir.mkdir(parents=True)
    engine = db.open_engine(settings.store_url)
    try:
        with Session(engine) as s:
            sub = id_set(s, [*range(1, 40_001), 7, 40_000]).subquery()
            count, total = s.execute(select(func.count(), func.sum(sub.c[0]))).one()
        assert (count, total) == (40_000, 40_000 * 40_001 // 2)
    finally:
        engine.dispose()

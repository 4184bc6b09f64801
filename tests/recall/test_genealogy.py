"""Forward and backward traces over a small multi-level graph recorded through the real path
(SQLite and PostgreSQL), and the ``cradletrace trace`` commands.

The graph::

    RM-A1 (milk) ──> PM-01 (premix) ──┬──> IF-0001 (formula) <── RM-B2 (milk)
                                      └──> IF-0002 (formula)
    RM-C3 (milk) ──> IF-0003 (formula)                 not downstream of RM-A1

A failing test report sits on PM-01, a passing one on IF-0001, an ok cold-chain record on
RM-A1's lot and an excursion on IF-0002's shipment.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from cradletrace import products
from cradletrace.demo import _gtin
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.labels.commission import generate_codes
from cradletrace.recall.genealogy import affected_items, parse_gtin_lot, trace_backward, trace_forward
from cradletrace.scan.history import record_scan
from cradletrace.sealing import Sealer
from cradletrace.workspace import Workspace
from tests.cli.test_cli import CLI, run
from tests.conftest import NOW

MILK, PREMIX, FORMULA = _gtin("9421902960001"), _gtin("9421902960201"), _gtin("9421902960101")
PLANT = "Southern Alps Nutrition, dryer 2"


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    """conftest's, with the plant's premix registered to it and tested by its lab."""
    with workspace.session() as s:
        products.add_product(s, PREMIX, "alps-nutrition", "Milk premix", NOW)
        products.name_party(s, PREMIX, "canterbury-lab", "lab", None, "alps-nutrition", NOW)
    return workspace


@dataclass(frozen=True)
class Graph:
    ids: dict[str, int]  # event ids: "fail", "pass", "excursion", "cold_ok", "batch:<lot>"
    serials: dict[str, list[str]]  # lot -> serials


def _site(name: str, lat: float, lon: float) -> dict[str, object]:
    return {"name": name, "address": f"{name}, somewhere", "lat": lat, "lon": lon, "country": "NZ"}


def _events(story: list[dict[str, Any]]) -> list[dict[str, Any]]:
    raw_a, raw_b, batch, passing, failing, shipment, cold = copy.deepcopy(story)
    raw_c = copy.deepcopy(raw_a)
    raw_c["data"]["lot"] = "RM-C3"

    def batch_of(gtin: str, lot: str, name: str, inputs: list[tuple[str, str]]) -> dict[str, Any]:
        b = copy.deepcopy(batch)
        b["data"].update(
            product={"gtin": gtin, "name": name},
            lot=lot,
            inputs=[{"gtin": g, "lot": lo, "quantity": 100, "unit": "kg"} for g, lo in inputs],
        )
        return b

    premix = batch_of(PREMIX, "PM-01", "Milk premix", [(MILK, "RM-A1")])
    if1 = batch_of(FORMULA, "IF-0001", "Stage 1 infant formula 800 g", [(PREMIX, "PM-01"), (MILK, "RM-B2")])
    if2 = batch_of(FORMULA, "IF-0002", "Stage 1 infant formula 800 g", [(PREMIX, "PM-01")])
    if3 = batch_of(FORMULA, "IF-0003", "Stage 1 infant formula 800 g", [(MILK, "RM-C3")])
    failing["data"]["batch"] = {"gtin": PREMIX, "lot": "PM-01"}
    shipped = shipment["data"]["shipped_at"]

    def ship(sid: str, lot: str, frm: dict[str, object], to: dict[str, object], days: int) -> dict[str, Any]:
        s = copy.deepcopy(shipment)
        at = (date.fromisoformat(shipped[:10]) + timedelta(days=days)).isoformat() + shipped[10:]
        s["data"].update(id=sid, lot={"gtin": FORMULA, "lot": lot}, from_site=frm, to_site=to, shipped_at=at)
        for k in ("received_at", "customs"):
            s["data"].pop(k)
        return s

    plant = batch["data"]["site"]
    auckland, shanghai, sydney = (
        _site("Auckland DC", -36.8, 174.7),
        shipment["data"]["to_site"],
        _site("Sydney DC", -33.9, 151.2),
    )
    cold_ok = copy.deepcopy(cold)
    cold_ok["supplier"] = "waikato-dairy"
    cold_ok["data"].pop("shipment")
    cold_ok["data"]["lot"] = {"gtin": MILK, "lot": "RM-A1"}
    cold_ok["data"]["readings"] = [{"at": r["at"], "c": 4.0} for r in cold["data"]["readings"]]
    cold["data"]["shipment"] = "S-3"
    # Shipment S-2 (Auckland -> Shanghai) is recorded before S-1 but left later: "now" follows time.
    return [
        raw_a,
        raw_b,
        raw_c,
        premix,
        if1,
        if2,
        if3,
        passing,
        failing,
        ship("S-2", "IF-0001", auckland, shanghai, 5),
        ship("S-1", "IF-0001", plant, auckland, 0),
        ship("S-3", "IF-0002", plant, sydney, 1),
        ship("S-4", "IF-0003", plant, shanghai, 1),
        cold,
        cold_ok,
    ]


@pytest.fixture
def graph(workspace: Workspace, record: Callable[..., list[Any]], events: list[dict[str, Any]]) -> Graph:
    rows = record(_events(events))
    ids: dict[str, int] = {}
    for r in rows:
        if r.kind == "batch":
            ids[f"batch:{r.lot}"] = r.id
        elif r.kind == "test_report":
            ids[str(r.outcome)] = r.id
        elif r.kind == "cold_chain":
            ids["excursion" if r.outcome == "excursion" else "cold_ok"] = r.id
    serials: dict[str, list[str]] = {}
    sealer = Sealer(b"\x01" * 32)
    with workspace.session() as s:
        for lot, n in (("IF-0001", 3), ("IF-0002", 2), ("IF-0003", 1)):
            links = generate_codes(
                s,
                workspace.settings.keys_dir,
                gtin=FORMULA,
                lot=lot,
                count=n,
                supplier="alps-nutrition",
                resolver="id.example.com",
                limits=workspace.limits,
                now=NOW,
            ).links
            serials[lot] = [link.code.serial for link in links]
        for serial in (serials["IF-0001"][0], serials["IF-0001"][0], serials["IF-0001"][1], serials["IF-0003"][0]):
            record_scan(s, sealer, serial, NOW)
    assert set(ids) >= {"fail", "pass", "excursion", "cold_ok"}
    return Graph(ids, serials)


def _paths(t: Any) -> dict[str, list[str]]:
    return {lot.lot: [k[1] for k in lot.path] for lot in t.lots}


def test_forward_from_a_raw_lot(workspace: Workspace, graph: Graph) -> None:
    with workspace.session() as s:
        t = trace_forward(s, lot=(MILK, "RM-A1"))
        page1 = affected_items(s, t.lot_ids, limit=3)
        page2 = affected_items(s, t.lot_ids, after=page1[-1][0], limit=3)
    assert _paths(t) == {
        "RM-A1": ["RM-A1"],
        "PM-01": ["RM-A1", "PM-01"],
        "IF-0001": ["RM-A1", "PM-01", "IF-0001"],
        "IF-0002": ["RM-A1", "PM-01", "IF-0002"],
    }
    assert [x.depth for x in t.lots] == [0, 1, 2, 2]
    by = {x.lot: x for x in t.lots}
    assert (by["IF-0001"].items, by["IF-0001"].scanned_items, by["IF-0001"].shipments, by["IF-0001"].now_at) == (
        3,
        2,
        2,
        "Shanghai bonded warehouse 7",
    )
    assert (by["IF-0002"].items, by["IF-0002"].scanned_items, by["IF-0002"].now_at) == (2, 0, "Sydney DC")
    assert (t.items, t.scanned_items, t.scans) == (5, 2, 3)
    assert sorted(s.id for s in t.shipments) == ["S-1", "S-2", "S-3"]
    legs = {s.id: (s.from_site, s.to_site) for s in t.shipments}
    assert legs["S-1"] == (PLANT, "Auckland DC") and legs["S-2"] == ("Auckland DC", "Shanghai bonded warehouse 7")
    assert t.sites == ("Shanghai bonded warehouse 7", "Sydney DC")
    assert sorted(a for a, _, _ in page1 + page2) == sorted(graph.serials["IF-0001"] + graph.serials["IF-0002"])
    assert len(page1) == 3 and len(page2) == 2
    j = json.loads(json.dumps(t.to_json()))
    counts = {"lots": 4, "items": 5, "shipments": 3, "sites": 2, "scanned_items": 2, "scans": 3}
    assert j["counts"].items() >= counts.items()  # and, with no logistics records, zero cases, pallets, orders
    assert j["cases"] == j["pallets"] == [] and j["counts"]["orders"] == j["counts"]["cases"] == 0
    assert j["lots"][1]["path"] == [{"gtin": MILK, "lot": "RM-A1"}, {"gtin": PREMIX, "lot": "PM-01"}]


def test_forward_from_a_failed_report_an_excursion_a_supplier_and_a_site_window(
    workspace: Workspace, graph: Graph
) -> None:
    with workspace.session() as s:
        failed = trace_forward(s, event=graph.ids["fail"])
        excursion = trace_forward(s, event=graph.ids["excursion"])
        farm = trace_forward(s, supplier="waikato-dairy")
        unrelated = trace_forward(s, lot=(MILK, "RM-C3"))
        window = trace_forward(s, site_window=(PLANT, NOW.date() - timedelta(days=30), NOW.date()))
    assert (failed.start.event_kind, failed.start.outcome, failed.start.lots) == (
        "test_report",
        "fail",
        ((PREMIX, "PM-01"),),
    )
    assert _paths(failed) == {"PM-01": ["PM-01"], "IF-0001": ["PM-01", "IF-0001"], "IF-0002": ["PM-01", "IF-0002"]}
    assert failed.items == 5
    assert _paths(excursion) == {"IF-0002": ["IF-0002"]}  # the excursion's shipment carried IF-0002
    assert excursion.start.outcome == "excursion"
    assert _paths(farm)["IF-0001"] in (["RM-A1", "PM-01", "IF-0001"], ["RM-B2", "IF-0001"])
    assert len(farm.lots) == 7 and farm.items == 6 and farm.scans == 4 and len(farm.start.lots) == 3
    assert _paths(unrelated) == {"RM-C3": ["RM-C3"], "IF-0003": ["RM-C3", "IF-0003"]}
    assert {x.lot for x in window.lots} == {"PM-01", "IF-0001", "IF-0002", "IF-0003"}


def test_backward_from_an_item(workspace: Workspace, graph: Graph) -> None:
    with workspace.session() as s:
        t = trace_backward(s, serial=graph.serials["IF-0001"][2])
        lot = trace_backward(s, lot=(FORMULA, "IF-0002"))
    assert _paths(t) == {
        "IF-0001": ["IF-0001"],
        "PM-01": ["IF-0001", "PM-01"],
        "RM-B2": ["IF-0001", "RM-B2"],
        "RM-A1": ["IF-0001", "PM-01", "RM-A1"],
    }
    assert [x.id for x in t.suppliers] == ["alps-nutrition", "waikato-dairy"]
    assert {(r.lot, r.verdict, r.lab) for r in t.test_reports} == {
        ("PM-01", "fail", "Canterbury Food Lab"),
        ("IF-0001", "pass", "Canterbury Food Lab"),
    }
    assert [(r.event_id, r.lot, r.verdict) for r in t.cold_chain] == [(graph.ids["cold_ok"], "RM-A1", "ok")]
    assert [(r.event_id, r.shipment, r.lot, r.verdict) for r in lot.cold_chain] == [
        (graph.ids["excursion"], "S-3", None, "excursion"),
        (graph.ids["cold_ok"], None, "RM-A1", "ok"),
    ]
    assert [r.verdict for r in lot.test_reports] == ["fail"]
    assert json.loads(json.dumps(t.to_json()))["counts"] == {
        "lots": 4,
        "suppliers": 2,
        "test_reports": 2,
        "cold_chain": 1,
    }


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda s: trace_forward(s, lot=(MILK, "NOPE")), NotFoundError, "lot:"),
        (lambda s: trace_forward(s, supplier="nobody"), NotFoundError, "supplier:"),
        (lambda s: trace_forward(s, event=999_999), NotFoundError, "event:"),
        (lambda s: trace_forward(s, event="batch?"), InvalidInputError, "event:"),
        (lambda s: trace_forward(s), InvalidInputError, "lot/supplier/event/site_window:"),
        (
            lambda s: trace_forward(s, lot=(MILK, "RM-A1"), supplier="waikato-dairy"),
            InvalidInputError,
            "lot/supplier/event/site_window:",
        ),
        (lambda s: trace_backward(s, serial="NOPE"), NotFoundError, "serial:"),
        (lambda s: trace_backward(s, lot=(FORMULA, "NOPE")), NotFoundError, "lot:"),
        (lambda s: trace_backward(s), InvalidInputError, "serial/lot/unit:"),
        (lambda s: parse_gtin_lot("IF-0001"), InvalidInputError, "lot:"),
    ],
)
def test_unknown_or_bad_starts_name_the_field(
    workspace: Workspace, graph: Graph, call: Callable[[Any], Any], error: type[Exception], field: str
) -> None:
    with workspace.session() as s, pytest.raises(error) as info:
        call(s)
    assert str(info.value).startswith(field) and "expected" in str(info.value)


def test_a_batch_event_is_no_trigger(workspace: Workspace, graph: Graph) -> None:
    with (
        workspace.session() as s,
        pytest.raises(InvalidInputError, match="expected a test report or a cold-chain record"),
    ):
        trace_forward(s, event=graph.ids["batch:IF-0001"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_trace_forward_and_backward(workspace: Workspace, graph: Graph) -> None:
    assert CLI.exists(), CLI
    data = str(workspace.settings.data_dir)
    cwd = workspace.settings.data_dir.parent
    fwd = run(cwd, "trace", "forward", "--lot", f"{MILK}/RM-A1", "--data-dir", data)
    assert fwd.returncode == 0, fwd.stderr
    assert (
        fwd.stdout.startswith("forward from lot ")
        and "4 lots, 5 items, 3 shipments, 2 sites now, 2 items scanned" in fwd.stdout
    )
    assert f"path: {MILK}/RM-A1 -> {PREMIX}/PM-01 -> {FORMULA}/IF-0001" in fwd.stdout
    out = run(cwd, "trace", "forward", "--event", str(graph.ids["fail"]), "--json", "--data-dir", data)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"]["lots"] == 3
    back = run(cwd, "trace", "backward", "--serial", graph.serials["IF-0001"][0], "--json", "--data-dir", data)
    assert back.returncode == 0 and json.loads(back.stdout)["counts"]["test_reports"] == 2
    bad = run(cwd, "trace", "forward", "--supplier", "nobody", "--data-dir", data)
    assert bad.returncode == 2 and bad.stderr.startswith("error: supplier: expected a registered supplier")
    bad = run(cwd, "trace", "backward", "--lot", "not-a-lot", "--data-dir", data)
    assert bad.returncode == 2 and bad.stderr.startswith("error: lot: expected GTIN/LOT")

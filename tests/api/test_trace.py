"""Traces over HTTP: the quality manager's first two questions, answered with the why."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cradletrace.api.main import API_PREFIX
from cradletrace.cli import app as cli_app
from cradletrace.core.codes import gtin_check_digit
from tests.api.conftest import MILK, Site

P = API_PREFIX
FORMULA = "9421902960101" + str(gtin_check_digit("9421902960101"))


def test_forward_from_a_raw_milk_lot_reaches_the_formula_batch_with_its_path(site: Site) -> None:
    r = site.client.get(f"{P}/trace/forward", params={"lot": f"{MILK}/RM-A1"}, headers=site.auth("quality"))
    assert r.status_code == 200, r.text
    body = r.json()
    lots = {(lot["gtin"], lot["lot"]): lot for lot in body["lots"]}
    formula = lots[(FORMULA, "IF-0001")]
    assert formula["path"] == [{"gtin": MILK, "lot": "RM-A1"}, {"gtin": FORMULA, "lot": "IF-0001"}]
    assert (MILK, "RM-B2") not in lots  # the other raw lot is not downstream of RM-A1
    assert any(s["id"] == "PCC-2026-0042" for s in body["shipments"])


def test_backward_from_the_batch_finds_both_raw_lots_and_the_lab_results(site: Site) -> None:
    r = site.client.get(f"{P}/trace/backward", params={"lot": f"{FORMULA}/IF-0001"}, headers=site.auth("operator"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert {lot["lot"] for lot in body["lots"]} >= {"RM-A1", "RM-B2"}
    assert sorted(t["verdict"] for t in body["test_reports"]) == ["fail", "pass"]
    assert [c["verdict"] for c in body["cold_chain"]] == ["excursion"]


def test_trace_input_errors_name_the_field(site: Site) -> None:
    q = site.auth("quality")
    both = site.client.get(
        f"{P}/trace/forward", params={"lot": f"{MILK}/RM-A1", "supplier": "waikato-dairy"}, headers=q
    )
    assert both.status_code == 422 and both.json()["field"] == "lot/supplier/event"
    unknown = site.client.get(f"{P}/trace/backward", params={"lot": f"{MILK}/NOPE"}, headers=q)
    assert unknown.status_code == 404 and "NOPE" in unknown.json()["detail"]
    neither = site.client.get(f"{P}/trace/backward", headers=q)
    assert neither.status_code == 422 and neither.json()["field"] == "lot/serial/case/sscc"


def test_http_answers_the_json_the_cli_prints(site: Site) -> None:
    """One shape (genealogy.trace_json) for both: counts, paths as {gtin, lot}, the asked-for serials."""
    q = site.auth("quality")
    cli = ["--json", "--data-dir", str(site.settings.data_dir)]
    for path, params, args in (
        # quality staff see the list of orders: the CLI prints it with --orders
        ("forward", {"lot": f"{MILK}/RM-A1", "items": 2}, ["--lot", f"{MILK}/RM-A1", "--items", "2", "--orders"]),
        ("forward", {"lot": f"{MILK}/RM-A1"}, ["--lot", f"{MILK}/RM-A1", "--orders"]),
        ("backward", {"lot": f"{FORMULA}/IF-0001"}, ["--lot", f"{FORMULA}/IF-0001"]),
    ):
        r = site.client.get(f"{P}/trace/{path}", params=params, headers=q)
        assert r.status_code == 200, r.text
        out = CliRunner().invoke(cli_app, ["trace", path, *args, *cli])
        assert out.exit_code == 0, out.output
        assert r.json() == json.loads(out.output), (path, params)
    forward = site.client.get(f"{P}/trace/forward", params={"lot": f"{MILK}/RM-A1", "items": 2}, headers=q).json()
    assert forward["items"] == [] and forward["counts"]["items"] == 0  # this site's story commissions no items
    assert "items" not in site.client.get(f"{P}/trace/forward", params={"lot": f"{MILK}/RM-A1"}, headers=q).json()
    assert "event_kind" not in forward["start"]

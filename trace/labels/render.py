"""Label outputs: an SVG file per label, an A4 PDF sheet, a ZIP of PNGs.

Each label is the QR code with its quiet zone and, under it, the human-readable GTIN, lot
and serial. Modules are never drawn one by one: each horizontal run of dark modules is one
rectangle, all of a code's rectangles are one path (SVG path data; in the PDF, ``re``
operators in module units under a single ``cm``, filled once), which is what makes ten
thousand labels a matter of seconds. Every output is written beside its destination and
moved into place only when complete (commission.StagedFile / StagedDir).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from cradletrace.core.labels import DigitalLink
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.labels.commission import QUIET, StagedDir, StagedFile, Symbol, codes_csv, file_name, hri_lines

MODULE_MM = 0.5  # X-dimension: GS1's target for QR codes on retail packs is about 0.5 mm
_MM = 72 / 25.4  # points per millimetre
# An SVG or PNG label is this much wider than the code so that 25 characters of text
# ("(10) " and a 20-character lot) fit under it; text size is relative to the code's width.
_WIDTH, _FONT, _LEAD = 1.25, 0.075, 1.3


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def label_svg(link: DigitalLink, symbol: Symbol, module_mm: float = MODULE_MM) -> str:
    """One label as a standalone SVG document, sized for print (``module_mm`` per module)."""
    w = symbol.size + 2 * QUIET
    width, font = w * _WIDTH, w * _FONT
    lead = font * _LEAD
    height = w + font + 2 * lead + font * 0.6
    d = "".join(f"M{c + QUIET} {r + QUIET}h{n}v1h-{n}z" for r, c, n in symbol.runs())
    lines = "".join(
        f'<text x="{_num(width / 2)}" y="{_num(w + font + i * lead)}">{escape(t)}</text>'
        for i, t in enumerate(hri_lines(link))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_num(width * module_mm)}mm" '
        f'height="{_num(height * module_mm)}mm" viewBox="0 0 {_num(width)} {_num(height)}">'
        f"<title>{escape(link.uri)}</title>"
        f'<rect width="{_num(width)}" height="{_num(height)}" fill="#fff"/>'
        f'<path transform="translate({_num((width - w) / 2)} 0)" shape-rendering="crispEdges" fill="#000" d="{d}"/>'
        f'<g font-family="DejaVu Sans Mono,Consolas,Menlo,monospace" font-size="{_num(font)}" '
        f'text-anchor="middle" fill="#000">{lines}</g></svg>\n'
    )


class SvgDir:
    """``<serial>.svg`` per label and ``codes.csv`` in a new (or empty) directory."""

    def __init__(self, path: Path, module_mm: float = MODULE_MM) -> None:
        self._dir = StagedDir(path, "svg-dir")
        self.module_mm = module_mm
        self.links: list[DigitalLink] = []

    def add(self, link: DigitalLink, symbol: Symbol) -> None:
        (self._dir.staging / file_name(link, ".svg")).write_text(label_svg(link, symbol, self.module_mm), "utf-8")
        self.links.append(link)

    def close(self) -> None:
        (self._dir.staging / "codes.csv").write_text(codes_csv(self.links), "utf-8")
        self._dir.publish()

    def abort(self) -> None:
        self._dir.discard()


class PngZip:
    """``<serial>.png`` per label (with its print resolution set) and ``codes.csv`` in a ZIP."""

    def __init__(self, path: Path, scale: int = 8, module_mm: float = MODULE_MM) -> None:
        self._file = StagedFile(path, "zip")
        self._zip = zipfile.ZipFile(self._file.staging, "w", zipfile.ZIP_STORED)  # PNGs are compressed already
        self.scale = scale
        self.dpi = scale * 25.4 / module_mm
        self.links: list[DigitalLink] = []
        self._blank: dict[tuple[int, str, str], Image.Image] = {}
        self._fonts: dict[int, Any] = {}

    def _font(self, px: int) -> Any:
        if px not in self._fonts:
            self._fonts[px] = ImageFont.load_default(size=px)
        return self._fonts[px]

    def _text(self, draw: ImageDraw.ImageDraw, width: int, y: float, text: str, size: float) -> None:
        px = round(size)
        while px > 6 and self._font(px).getlength(text) > width - 2 * self.scale:
            px -= 1
        draw.text((width / 2, y), text, fill=0, font=self._font(px), anchor="ms")

    def _draw(self, link: DigitalLink, symbol: Symbol) -> bytes:
        s, w = self.scale, symbol.size + 2 * QUIET
        width, font = round(w * _WIDTH * s), w * _FONT * s
        lead = font * _LEAD
        gtin_lot = hri_lines(link)[:2]
        key = (w, *gtin_lot)
        if key not in self._blank:  # GTIN and lot are the same on every label of a run: draw them once
            if len(self._blank) > 8:
                self._blank.clear()
            blank = Image.new("L", (width, round(w * s + font + 2 * lead + font * 0.6)), 255)
            draw = ImageDraw.Draw(blank)
            for i, text in enumerate(gtin_lot):
                self._text(draw, width, w * s + font + i * lead, text, font)
            self._blank[key] = blank
        img = self._blank[key].copy()
        code = Image.frombytes("L", (symbol.size, symbol.size), symbol.pixels)
        img.paste(
            code.resize((symbol.size * s, symbol.size * s), Image.Resampling.NEAREST),
            ((width - symbol.size * s) // 2, QUIET * s),
        )
        self._text(ImageDraw.Draw(img), width, w * s + font + 2 * lead, hri_lines(link)[2], font)
        buf = io.BytesIO()
        # One bit per pixel: a quarter of the encoding time of greyscale, and print wants no grey.
        img.convert("1", dither=Image.Dither.NONE).save(buf, "PNG", dpi=(self.dpi, self.dpi))
        return buf.getvalue()

    def add(self, link: DigitalLink, symbol: Symbol) -> None:
        self._zip.writestr(file_name(link, ".png"), self._draw(link, symbol))
        self.links.append(link)

    def close(self) -> None:
        self._zip.writestr("codes.csv", codes_csv(self.links))
        self._zip.close()
        self._file.publish()

    def abort(self) -> None:
        self._zip.close()
        self._file.discard()


class PdfSheet:
    """Labels in a grid on A4 pages, text under each code, for printing on plain or label stock.

    The grid is laid out for the first code's size (one run's codes all have the same size);
    a larger code later is drawn at the same size with smaller modules, and text that would
    not fit its cell is set smaller.
    """

    FONT, FONT_SIZE, LEADING = "Helvetica", 6.5, 7.8

    def __init__(
        self,
        path: Path,
        module_mm: float = MODULE_MM,
        margin_mm: float = 10,
        gutter_mm: float = 4,
        title: str = "cradletrace labels",
    ) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen.canvas import Canvas

        self._file = StagedFile(path, "pdf")
        self._canvas = Canvas(str(self._file.staging), pagesize=A4, pageCompression=1)
        self._canvas.setTitle(title)
        self._canvas.setCreator("cradletrace")
        self.page_w, self.page_h = A4
        self.module = module_mm * _MM
        self.margin, self.gutter = margin_mm * _MM, gutter_mm * _MM
        self.count = 0
        self.page_first = 1
        self._grid: tuple[int, int, float, float, float, float, float] | None = None

    def _layout(self, link: DigitalLink, symbol: Symbol) -> tuple[int, int, float, float, float, float, float]:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        qr = (symbol.size + 2 * QUIET) * self.module
        text = max(stringWidth(t, self.FONT, self.FONT_SIZE) for t in hri_lines(link)) + 1
        cell_w = max(qr, text) + self.gutter
        cell_h = qr + 3 * self.LEADING + self.gutter * 0.75
        usable_w = self.page_w - 2 * self.margin
        usable_h = self.page_h - 2 * self.margin - self.LEADING  # a footer line
        cols, rows = int(usable_w // cell_w), int(usable_h // cell_h)
        if cols < 1 or rows < 1:
            raise InvalidInputError(
                Problem(
                    "pdf",
                    f"expected a code that fits an A4 page with {self.margin / _MM:.0f} mm "
                    f"margins, got one of {qr / _MM:.0f} mm",
                )
            )
        left = self.margin + (usable_w - cols * cell_w) / 2
        return cols, rows, cell_w, cell_h, qr, left, max(text, qr)

    def add(self, link: DigitalLink, symbol: Symbol) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        if self._grid is None:
            self._grid = self._layout(link, symbol)
        cols, rows, cell_w, cell_h, qr, left, text_w = self._grid
        c = self._canvas
        k = self.count % (cols * rows)
        if k == 0:
            c.setFont(self.FONT, self.FONT_SIZE)
        x0 = left + (k % cols) * cell_w
        top = self.page_h - self.margin - (k // cols) * cell_h
        m = qr / (symbol.size + 2 * QUIET)
        rects = " ".join(f"{col + QUIET} {row + QUIET} {n} 1 re" for row, col, n in symbol.runs())
        c.addLiteral(f"q 0 g {m:.4f} 0 0 {-m:.4f} {x0 + (cell_w - qr) / 2:.3f} {top:.3f} cm {rects} f Q")
        cx = x0 + cell_w / 2
        for i, t in enumerate(hri_lines(link)):
            width = stringWidth(t, self.FONT, self.FONT_SIZE)
            y = top - qr - (i + 1) * self.LEADING
            if width > text_w:
                c.setFont(self.FONT, self.FONT_SIZE * text_w / width)
                c.drawCentredString(cx, y, t)
                c.setFont(self.FONT, self.FONT_SIZE)
            else:
                c.drawCentredString(cx, y, t)
        self.count += 1
        if k == cols * rows - 1:
            self._end_page()

    def _end_page(self) -> None:
        c = self._canvas
        c.setFont(self.FONT, 6)
        c.setFillGray(0.45)
        c.drawString(self.margin, self.margin, f"labels {self.page_first}-{self.count}, page {c.getPageNumber()}")
        c.setFillGray(0)
        c.showPage()
        self.page_first = self.count + 1

    def close(self) -> None:
        if self.count == 0 or self.count >= self.page_first:
            self._end_page()
        self._canvas.save()
        self._file.publish()

    def abort(self) -> None:
        self._file.discard()

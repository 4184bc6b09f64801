"""What a pallet (SSCC) or case label says, laid out as the GS1 Logistic Label: pure, from plain data.

A GS1 logistic label (GS1 General Specifications section 6, GS1 Logistic Label Guideline) has
three blocks, top to bottom: free-form text (who ships it, to whom), the same information as the
barcodes in human-readable form under GS1 data titles, and the barcodes, with the SSCC alone in the
lowest one. This module decides every word and every element string from a ``PalletContents`` or
``CaseContents`` (what the store knows, gathered by ``labels/logistics.py``), so the rules can be
tested without a database, an encoder or a PDF; the renderer only measures and draws.

The pallet's content (AI 02 GTIN of the trade items on it, 37 their count, 10 lot, 17 expiry) is
given only when it holds one GTIN (02/37) and one lot (10/17): a GS1 label describes a homogeneous
logistic unit that way and says nothing false about a mixed one, which reads ``MIXED`` instead.
Element strings go predefined-length AIs first (02, 17, then 37 and 10), GS1's advice for
concatenation: a variable-length AI needs an FNC1 after it unless it ends the symbol, so this
order spends the fewest symbol characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cradletrace.core import digitallink
from cradletrace.core.gs1syntax import dictionary

Element = tuple[str, str]  # (AI, value)

# GS1 data titles for the human-readable block (GS1 General Specifications, AI table "data title").
TITLES = {
    "00": "SSCC",
    "01": "GTIN",
    "02": "CONTENT",
    "10": "BATCH/LOT",
    "17": "EXPIRY",
    "21": "SERIAL",
    "37": "COUNT",
}
MIXED = "MIXED"


@dataclass(frozen=True)
class LotInfo:
    """One lot of cans on a pallet or in a case: the can's GTIN, the lot, its batch's expiry."""

    gtin: str
    lot: str
    expires_on: date | None


@dataclass(frozen=True)
class PalletContents:
    """A pallet as the store knows it. ``items`` counts the trade items directly on it by GTIN (cases
    by the case GTIN, loose cans by theirs); ``lots`` every lot of the cans on it at any depth."""

    sscc: str
    shipper: str
    consignee: str | None = None
    ship_to: str | None = None  # the GLN (and extension) of the place it was shipped to
    items: tuple[tuple[str, int], ...] = ()
    lots: tuple[LotInfo, ...] = ()
    cans: int = 0


@dataclass(frozen=True)
class CaseContents:
    """A case as the store knows it: its GTIN and serial, who packed it, its cans and their lots."""

    gtin: str
    serial: str
    shipper: str
    cans: int = 0
    lots: tuple[LotInfo, ...] = ()


@dataclass(frozen=True)
class Line:
    """One line of the text blocks: a title (a GS1 data title in the middle block) and its value."""

    title: str
    value: str


@dataclass(frozen=True)
class LabelSpec:
    """Everything a label shows. ``symbols`` are the GS1-128 barcodes top to bottom, each a list of
    element strings the renderer may split further where one symbol would be too wide; the last is
    the key (the SSCC alone on a pallet label). ``link`` is the Digital Link URI of the QR code."""

    title: str
    top: tuple[Line, ...]
    middle: tuple[Line, ...]
    symbols: tuple[tuple[Element, ...], ...]
    link: str


def element_string(elements: tuple[Element, ...] | list[Element]) -> str:
    """``(02)10614141000415(17)271231``: the bracketed form encoders and decoders use."""
    return "".join(f"({ai}){value}" for ai, value in elements)


def hri(elements: tuple[Element, ...] | list[Element]) -> str:
    """The human-readable interpretation printed under a barcode: ``(00) 106141411234567897``."""
    return " ".join(f"({ai}) {value}" for ai, value in elements)


def data_characters(elements: tuple[Element, ...] | list[Element]) -> int:
    """Data characters a GS1-128 symbol of these element strings holds, as GS1 counts them against
    its limit of 48: AIs, values and each FNC1 separator after a variable-length value."""
    count = 0
    for i, (ai, value) in enumerate(elements):
        count += len(ai) + len(value)
        if i < len(elements) - 1 and not dictionary()[ai].fixed:
            count += 1
    return count


def yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def _one_lot(lots: tuple[LotInfo, ...]) -> LotInfo | None:
    return lots[0] if len(lots) == 1 else None


def _lot_lines(lots: tuple[LotInfo, ...]) -> list[Line]:
    lot = _one_lot(lots)
    if lot is None:
        return [Line(TITLES["10"], f"{MIXED} ({len(lots)} lots)" if lots else "-")]
    lines = [Line(TITLES["10"], lot.lot)]
    if lot.expires_on is not None:
        lines.append(Line(TITLES["17"], lot.expires_on.isoformat()))
    return lines


def _lot_elements(lots: tuple[LotInfo, ...]) -> tuple[list[Element], list[Element]]:
    """(fixed-length, variable-length) element strings of a single lot: 17, and 10."""
    lot = _one_lot(lots)
    if lot is None:
        return [], []
    fixed = [("17", yymmdd(lot.expires_on))] if lot.expires_on is not None else []
    return fixed, [("10", lot.lot)]


def pallet_label(pallet: PalletContents, resolver: str) -> LabelSpec:
    """The SSCC label of a pallet: from and to, the data titles, (02)(17)(37)(10) when it is
    homogeneous above (00) alone, and the Digital Link ``<resolver>/00/<SSCC>``."""
    link = digitallink.compose(pallet.sscc, key="00")
    top = [Line("FROM", pallet.shipper)]
    to = " ".join(x for x in (pallet.consignee, f"GLN {pallet.ship_to}" if pallet.ship_to else None) if x)
    top.append(Line("TO", to or "-"))
    middle = [Line(TITLES["00"], link.value)]
    content: list[Element] = []
    if len(pallet.items) == 1:
        gtin, count = pallet.items[0]
        middle += [Line(TITLES["02"], gtin), Line(TITLES["37"], str(count))]
        fixed, variable = _lot_elements(pallet.lots)
        content = [("02", gtin), *fixed, ("37", str(count)), *variable]
        middle += _lot_lines(pallet.lots)
    else:
        kinds = ", ".join(f"{n} x {gtin}" for gtin, n in pallet.items)
        middle.append(Line(TITLES["02"], f"{MIXED}: {kinds}" if kinds else "-"))
        middle += _lot_lines(pallet.lots) if pallet.lots else []
    middle.append(Line("CANS", str(pallet.cans)))
    for ai, value in content:
        digitallink.check_value(ai, value)
    symbols = (tuple(content),) if content else ()
    return LabelSpec(
        "SSCC PALLET LABEL", tuple(top), tuple(middle), (*symbols, (("00", link.value),)), link.uri(resolver)
    )


def case_label(case: CaseContents, resolver: str) -> LabelSpec:
    """A case's label: (01) case GTIN, (17) expiry, (21) serial and (10) lot of its cans when they
    are of one lot, the can count, and the Digital Link ``<resolver>/01/<GTIN>/21/<serial>``."""
    link = digitallink.compose(case.gtin, serial=case.serial)
    middle = [Line(TITLES["01"], link.value), Line(TITLES["21"], case.serial)]
    cans = {lot.gtin for lot in case.lots}
    middle.append(Line("CONTENT", f"{case.cans} cans" + (f" of GTIN {next(iter(cans))}" if len(cans) == 1 else "")))
    middle += _lot_lines(case.lots)
    fixed, variable = _lot_elements(case.lots)
    elements = (("01", link.value), *fixed, ("21", case.serial), *variable)
    return LabelSpec("CASE LABEL", (Line("FROM", case.shipper),), tuple(middle), (elements,), link.uri(resolver))

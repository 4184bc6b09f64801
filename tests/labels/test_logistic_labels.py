"""Pallet (SSCC) and case labels: built from a story recorded through the real recording path,
drawn as PDF, rasterised with pdfium and read back with zxing-cpp: the GS1-128 symbols as GS1
(``]C1``) with their exact element strings, the QR code as a Digital Link the parser accepts, the
text layer with the GS1 data titles. Screenshots go to test-artifacts/ for a reviewer."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from PIL import Image

from cradletrace.core import digitallink
from cradletrace.core.logisticlabel import CaseContents, LotInfo, PalletContents, case_label, pallet_label
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.labels.logistics import (
    BAR_MM,
    MAX_SYMBOL_MM,
    X_MM,
    case_contents,
    gs1_128,
    pallet_contents,
    split_symbols,
    write_pdf,
)
from cradletrace.workspace import Workspace
from tests.browser import ARTIFACTS
from tests.cli.test_cli import run
from tests.test_logistics import (
    CARRIER,
    CASE_GTIN,
    FORMULA,
    PALLET,
    PLANT,
    SSCC,
    STORE_GLN,
    Record,
    can,
    case,
    commission_cans,
    pack,
    ship,
)

RESOLVER = "https://id.cradletrace.example"
MIXED_SSCC = "10614141" + "000000017"
MIXED_SSCC += str(digitallink.gtin_check_digit(MIXED_SSCC))
DPI = 300
TITLES = {"FROM", "TO", "SSCC", "GTIN", "SERIAL", "CONTENT", "COUNT", "BATCH/LOT", "EXPIRY", "CANS"}


def fields(page: pdfium.PdfPage) -> dict[str, str]:
    """Each title's value: the text object just below it, starting at the same x."""
    textpage = page.get_textpage()
    boxes = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]):
        left, bottom, right, top = obj.get_bounds()
        boxes.append((left, bottom, textpage.get_text_bounded(left, bottom, right, top).strip()))
    out = {}
    for left, bottom, text in boxes:
        if text not in TITLES:
            continue
        below = [(b, t) for x, b, t in boxes if abs(x - left) < 1 and bottom - 30 < b < bottom]
        if below:
            out[text] = max(below)[1]
    return out


def rendered(path: Path, name: str) -> tuple[Image.Image, str, tuple[float, float], dict[str, str]]:
    """The page as an image (saved to test-artifacts/<name>.png), its text, its size in mm, its
    title -> value pairs."""
    pdf = pdfium.PdfDocument(path)
    page = pdf[0]
    size = (page.get_width() * 25.4 / 72, page.get_height() * 25.4 / 72)
    image = page.render(scale=DPI / 72).to_pil().convert("L")
    text = page.get_textpage().get_text_range()
    pairs = fields(page)
    pdf.close()
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / f"{name}.png", dpi=(DPI, DPI))
    return image, text, size, pairs


def decoded(image: Image.Image) -> tuple[dict[str, str], list[str]]:
    """GS1-128 symbols as element string -> symbology identifier, and the QR codes' texts."""
    linear = {
        r.text: r.symbology_identifier for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    }
    qr = [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    return linear, qr


@pytest.fixture
def pallets(workspace: Workspace, record: Record, events: list[dict[str, Any]]) -> list[str]:
    """Two cases of two cans of lot IF-0001 on the pallet SSCC, shipped to the carrier at the store's
    GLN; a case and a loose can on the mixed pallet MIXED_SSCC."""
    cans = commission_cans(workspace, record, events)
    record(
        [
            pack(PLANT, case("C1"), [can(s) for s in cans[:2]]),
            pack(PLANT, case("C2"), [can(s) for s in cans[2:4]]),
            pack(PLANT, PALLET, [case("C1"), case("C2")]),
            ship(PLANT, [PALLET], consignee=CARRIER),
            pack(PLANT, case("C3"), [can(cans[4])]),
            pack(PLANT, {"sscc": MIXED_SSCC}, [case("C3"), can(cans[5])]),
        ]
    )
    return cans


def batch_expiry(events: list[dict[str, Any]]) -> date:
    batch = next(e for e in events if e["kind"] == "batch" and e["data"]["lot"] == "IF-0001")
    return date.fromisoformat(batch["data"]["expires_on"])


def test_pallet_label_decodes_as_gs1_with_its_content_and_digital_link(
    workspace: Workspace, pallets: list[str], events: list[dict[str, Any]], tmp_path: Path
) -> None:
    expiry = batch_expiry(events)
    with workspace.session() as s:
        contents = pallet_contents(s, SSCC)
    assert contents.items == ((CASE_GTIN, 2),) and contents.cans == 4
    assert contents.lots == (LotInfo(FORMULA, "IF-0001", expiry),)
    assert contents.shipper == "Southern Alps Nutrition" and contents.consignee == "Pacific Cold Chain"
    assert contents.ship_to == STORE_GLN

    write_pdf(pallet_label(contents, RESOLVER), tmp_path / "pallet.pdf")
    image, text, size, pairs = rendered(tmp_path / "pallet.pdf", "sscc-pallet-label")
    assert [round(x) for x in size] == [148, 210]
    linear, qr = decoded(image)
    yymmdd = expiry.strftime("%y%m%d")
    assert linear == {
        f"(00){SSCC}": "]C1",
        f"(02){CASE_GTIN}(17){yymmdd}(37)2": "]C1",  # 163 mm with the lot: too wide for 148 mm at X 0.495
        "(10)IF-0001": "]C1",
    }
    assert qr == [f"{RESOLVER}/00/{SSCC}"]
    link = digitallink.parse(qr[0])
    assert (link.key, link.value) == ("00", SSCC)
    assert pairs == {
        "FROM": "Southern Alps Nutrition",
        "TO": f"Pacific Cold Chain GLN {STORE_GLN}",
        "SSCC": SSCC,
        "CONTENT": CASE_GTIN,
        "COUNT": "2",
        "BATCH/LOT": "IF-0001",
        "EXPIRY": expiry.isoformat(),
        "CANS": "4",
    }
    lines = text.replace("\r\n", "\n").split("\n")
    assert f"(00) {SSCC}" in lines and f"(02) {CASE_GTIN} (17) {yymmdd} (37) 2" in lines


def test_mixed_pallet_says_mixed_and_has_no_content_symbol(
    workspace: Workspace, pallets: list[str], tmp_path: Path
) -> None:
    with workspace.session() as s:
        contents = pallet_contents(s, MIXED_SSCC)
    assert contents.items == tuple(sorted(((CASE_GTIN, 1), (FORMULA, 1)))) and contents.cans == 2
    write_pdf(pallet_label(contents, RESOLVER), tmp_path / "mixed.pdf")
    image, text, _, pairs = rendered(tmp_path / "mixed.pdf", "sscc-pallet-label-mixed")
    linear, qr = decoded(image)
    assert linear == {f"(00){MIXED_SSCC}": "]C1"}
    assert qr == [f"{RESOLVER}/00/{MIXED_SSCC}"]
    assert pairs["CONTENT"] == f"MIXED: 1 x {CASE_GTIN}, 1 x {FORMULA}"
    assert "(02)" not in text and "COUNT" not in pairs
    assert pairs["TO"] == "-"  # not shipped


def test_case_label_decodes_with_serial_lot_and_digital_link(
    workspace: Workspace, pallets: list[str], events: list[dict[str, Any]], tmp_path: Path
) -> None:
    expiry = batch_expiry(events)
    with workspace.session() as s:
        contents = case_contents(s, CASE_GTIN, "C1")
    assert contents.cans == 2 and [lot.lot for lot in contents.lots] == ["IF-0001"]
    write_pdf(case_label(contents, RESOLVER), tmp_path / "case.pdf")
    image, _, _, pairs = rendered(tmp_path / "case.pdf", "case-label")
    linear, qr = decoded(image)
    assert linear == {f"(01){CASE_GTIN}(17){expiry.strftime('%y%m%d')}(21)C1": "]C1", "(10)IF-0001": "]C1"}
    assert qr == [f"{RESOLVER}/01/{CASE_GTIN}/21/C1"]
    link = digitallink.parse(qr[0])
    assert (link.gtin, link.serial) == (CASE_GTIN, "C1")
    assert pairs["CONTENT"] == f"2 cans of GTIN {FORMULA}" and pairs["SERIAL"] == "C1"
    assert pairs["GTIN"] == CASE_GTIN and pairs["BATCH/LOT"] == "IF-0001"


def test_unknown_or_malformed_codes_are_refused_naming_the_field(workspace: Workspace, pallets: list[str]) -> None:
    unknown = "10614141" + "999999999"
    unknown += str(digitallink.gtin_check_digit(unknown))
    with workspace.session() as s:
        with pytest.raises(NotFoundError, match=rf"^sscc: expected a pallet .* got {unknown} which"):
            pallet_contents(s, unknown)
        with pytest.raises(InvalidInputError) as caught:
            pallet_contents(s, SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10))
        assert caught.value.problems[0].where == "sscc" and "check digit" in caught.value.problems[0].message
        with pytest.raises(NotFoundError, match=r"^serial: expected a case"):
            case_contents(s, CASE_GTIN, "NO-SUCH")
        with pytest.raises(NotFoundError, match=r"^serial: expected a case"):  # a can is not a case
            case_contents(s, FORMULA, pallets[0])


def test_symbols_keep_gs1_sizes_and_long_content_goes_into_another_symbol(tmp_path: Path) -> None:
    """X 0.495 mm, 32 mm bars; 48 data characters and 165.10 mm at most per symbol; a 20-character
    lot does not fit one 148 mm label line with the rest, so it is split, and widens the label."""
    lot = "LOT-ABCDEFGHIJKLMNOP"
    pallet = PalletContents(
        SSCC, "Plant", items=((CASE_GTIN, 40),), lots=(LotInfo(FORMULA, lot, date(2027, 6, 30)),), cans=960
    )
    spec = pallet_label(pallet, RESOLVER)
    symbols = split_symbols(spec.symbols, 136)
    assert [tuple(ai for ai, _ in s.elements) for s in symbols] == [("02", "17", "37"), ("10",), ("00",)]
    assert all(s.length_mm <= MAX_SYMBOL_MM for s in symbols)
    assert gs1_128((("00", SSCC),)).modules * X_MM < 80 and BAR_MM >= 31.75
    write_pdf(spec, tmp_path / "long.pdf")
    image, _, size, _ = rendered(tmp_path / "long.pdf", "sscc-pallet-label-long-lot")
    assert size[0] > 148  # the 20-character lot's symbol is 152 mm with its quiet zones
    linear, _ = decoded(image)
    assert set(linear) == {f"(02){CASE_GTIN}(17)270630(37)40", f"(10){lot}", f"(00){SSCC}"}
    case = CaseContents(CASE_GTIN, "C-9", "Plant", cans=24, lots=())
    assert case_label(case, RESOLVER).symbols == ((("01", CASE_GTIN), ("21", "C-9")),)


def test_cli_writes_the_labels_and_refuses_an_unknown_sscc(
    workspace: Workspace, pallets: list[str], tmp_path: Path
) -> None:
    url = workspace.settings.database_url
    data = str(workspace.settings.data_dir)
    store = ("--database-url", url) if url else ()
    ok = run(tmp_path, "label", "pallet", SSCC, "--out", "p.pdf", "--data-dir", data, *store)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"pallet label {SSCC} (4 cans): p.pdf"
    assert decoded(rendered(tmp_path / "p.pdf", "cli-pallet")[0])[0][f"(00){SSCC}"] == "]C1"
    ok = run(
        tmp_path,
        "label",
        "case",
        CASE_GTIN,
        "C2",
        "--out",
        "c.pdf",
        "--data-dir",
        data,
        *store,
        "--resolver",
        "id.x.org",
    )
    assert ok.returncode == 0, ok.stderr
    assert decoded(rendered(tmp_path / "c.pdf", "cli-case")[0])[1] == [f"https://id.x.org/01/{CASE_GTIN}/21/C2"]
    unknown = MIXED_SSCC[:-2] + "99"
    unknown = unknown[:-1] + str(digitallink.gtin_check_digit(unknown[:-1]))
    bad = run(tmp_path, "label", "pallet", unknown, "--out", "x.pdf", "--data-dir", data, *store)
    assert bad.returncode != 0 and f"sscc: expected a pallet a pack event named, got {unknown}" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != "") == ["c.pdf", "p.pdf"]  # nothing staged left


def test_chinese_names_are_written_in_the_pdf_standard_chinese_font(tmp_path: Path) -> None:
    pallet = PalletContents(SSCC, "南阿尔卑斯营养品", consignee="太平洋冷链", items=((CASE_GTIN, 1),), cans=6)
    write_pdf(pallet_label(pallet, RESOLVER), tmp_path / "zh.pdf")
    image, _, _, pairs = rendered(tmp_path / "zh.pdf", "sscc-pallet-label-zh")
    assert pairs["FROM"] == "南阿尔卑斯营养品" and pairs["TO"] == "太平洋冷链"
    assert decoded(image)[0] == {f"(02){CASE_GTIN}(37)1": "]C1", f"(00){SSCC}": "]C1"}


def test_one_gtin_of_several_lots_gives_content_and_count_but_no_lot() -> None:
    lots = (LotInfo(FORMULA, "IF-0001", date(2027, 1, 31)), LotInfo(FORMULA, "IF-0002", date(2027, 2, 28)))
    spec = pallet_label(PalletContents(SSCC, "Plant", items=((CASE_GTIN, 3),), lots=lots, cans=72), RESOLVER)
    assert spec.symbols == ((("02", CASE_GTIN), ("37", "3")), (("00", SSCC),))
    shown = {line.title: line.value for line in spec.middle}
    assert shown["BATCH/LOT"] == "MIXED (2 lots)" and "EXPIRY" not in shown and shown["COUNT"] == "3"
    assert spec.link == f"{RESOLVER}/00/{SSCC}"
    assert [(line.title, line.value) for line in spec.top] == [("FROM", "Plant"), ("TO", "-")]

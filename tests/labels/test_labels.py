"""One code per retail unit: commissioning items on the store and chain, and the printed labels.

Every printed QR code is read back by an independent decoder (zxing-cpp) from a raster of
the real output (SVG rasterised by resvg, PDF pages by PDFium, the PNGs as written) and must
give exactly the URI; the human-readable text must be in the SVG and in the PDF's text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
import resvg_py
import segno
import zxingcpp
from PIL import Image
from sqlmodel import Session, func, select

from cradletrace import products, recording, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.labels import DigitalLink, parse_uri, serial_from_bytes
from cradletrace.errors import InvalidEventError, InvalidInputError, NotAllowedError
from cradletrace.labels.commission import Codes, Symbol, generate_codes, hri_lines, qr_symbol, render
from cradletrace.labels.render import PdfSheet, PngZip, SvgDir, label_svg
from cradletrace.store.models import EventRow, Item, Lot
from cradletrace.verification import verify_event
from cradletrace.workspace import Workspace
from tests.conftest import KEY_RECORDS, NOW

FORMULA = "9421902960101" + str(gtin_check_digit("9421902960101"))  # the demo's formula GTIN
LOT = "IF-0001"
HOST = "https://id.cradletrace.example"
PLANT = "alps-nutrition"

Record = Callable[..., list[recording.RecordedEvent]]


def decode_all(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def counting(start: int = 1) -> Callable[[int], bytes]:
    """A stand-in for secrets.token_bytes whose draws are known in advance: the i-th is SHA-256(i),
    from i = ``start`` on, so ``counting(3)`` draws again what ``counting(1)`` drew third.
    (Counting bytes themselves would make sequential serials, which commissioning refuses.)"""
    numbers = itertools.count(start)
    return lambda n: hashlib.sha256(str(next(numbers)).encode()).digest()[:n]


def item_count(ws: Workspace) -> int:
    with ws.session() as s:
        return int(s.exec(select(func.count()).select_from(Item)).one())


def event_count(ws: Workspace) -> int:
    with ws.session() as s:
        return int(s.exec(select(func.count()).select_from(EventRow)).one())


@pytest.fixture
def story(workspace: Workspace, record: Record, events: list[dict[str, object]]) -> Workspace:
    """The demo story recorded (formula lot IF-0001 exists), nothing anchored yet."""
    record(events)
    return workspace


def generate(ws: Workspace, count: int, **kw: Any) -> Codes:
    args: dict[str, Any] = dict(
        gtin=FORMULA, lot=LOT, count=count, supplier=PLANT, resolver="id.cradletrace.example", now=NOW
    )
    with ws.session() as s:
        return generate_codes(s, ws.settings.keys_dir, **{**args, **kw})


# -- commissioning ------------------------------------------------------------------------------


def test_generated_codes_are_recorded_anchored_and_verify(story: Workspace) -> None:
    codes = generate(story, 25)

    assert len(codes.links) == 25 and len(set(codes.uris)) == 25
    for link in codes.links:
        assert link.uri.startswith(f"{HOST}/01/{FORMULA}/10/{LOT}/21/")
        assert parse_uri(link.uri) == link
        assert len(link.serial) == 16  # 80 random bits
    [event] = codes.events
    assert (event.kind, event.supplier_id, event.gtin, event.lot) == ("commission", PLANT, FORMULA, LOT)
    with story.session() as s:
        lot_id = s.exec(select(Lot.id).where(Lot.gtin == FORMULA, Lot.lot == LOT)).one()
        items = {i.serial: i for i in s.exec(select(Item))}
    assert set(items) == {link.serial for link in codes.links}
    assert {(i.gtin, i.lot_id, i.event_id) for i in items.values()} == {(FORMULA, lot_id, event.id)}

    results = anchoring.anchor_pending(lambda: Session(story.engine, expire_on_commit=False), story.chain())
    # the story's seven events, the commissioning and the key log's records of the suppliers' keys
    assert sum(r.leaf_count for r in results) == 8 + KEY_RECORDS
    with story.session() as s:
        v = verify_event(s, story.chain(), str(event.id))
    assert v.status == "VALID", v.reasons


def test_a_brand_may_commission_and_the_lot_may_be_new_in_the_same_submission(
    story: Workspace, record: Record, events: list[dict[str, Any]]
) -> None:
    """The brand owns its GTIN and names the plant that makes it (custody.py): the plant makes the lot,
    the brand commissions its codes."""
    kiwi = "9421902960202" + str(gtin_check_digit("9421902960202"))
    with story.session() as s:
        suppliers.add_supplier(s, story.settings.keys_dir, "Kiwi Baby Brand", "brand", [], "kiwi-baby")
        products.add_product(s, kiwi, "kiwi-baby", "Kiwi Baby stage 1", NOW)
        products.name_party(s, kiwi, "alps-nutrition", "maker", None, "kiwi-baby", NOW)
    batch = {
        **events[2],
        "data": {
            **events[2]["data"],
            "product": {"gtin": kiwi, "name": "Kiwi Baby stage 1"},
            "lot": "IF-0002",
            "inputs": [],
        },
    }
    serials = [serial_from_bytes(os.urandom(10)) for _ in range(3)]
    commission = {
        "kind": "commission",
        "supplier": "kiwi-baby",
        "data": {"lot": {"gtin": kiwi, "lot": "IF-0002"}, "serials": serials, "commissioned_at": NOW.isoformat()},
    }
    rows = record([batch, commission])
    assert [r.kind for r in rows] == ["batch", "commission"]
    assert item_count(story) == 3


def test_more_than_10_000_codes_go_into_several_events_all_at_once(story: Workspace) -> None:
    codes = generate(story, 10_001)
    assert len(codes.links) == 10_001
    assert [len(parse(e.body)["data"]["serials"]) for e in codes.events] == [10_000, 1]
    assert item_count(story) == 10_001


def parse(body: str) -> Any:
    import json

    return json.loads(body)


def test_a_serial_already_commissioned_is_refused_naming_the_field_and_nothing_is_stored(story: Workspace) -> None:
    first = generate(story, 3, random=counting(1))
    before = (event_count(story), item_count(story))

    with pytest.raises(InvalidEventError) as info:
        generate(story, 5, random=counting(3))  # serials 3, 4, 5, 6, 7: the first was issued already
    problems = {p.where: p.message for p in info.value.problems}
    assert problems == {
        "events[0].data.serials[0]": f"expected a new serial, got {first.links[2].serial!r} which is already commissioned"
    }
    assert (event_count(story), item_count(story)) == before


@pytest.mark.parametrize(
    ("serials", "index", "words"),
    [
        (["0000000000000000", "0000000000000001"], 0, "16 characters in a row"),
        (["7K3MZ9QX1VWD4HPA", "7K3MZ9QX1VWD4HPB"], 1, "within 2^32 of serials[0]"),  # counted on from a random one
    ],
)
def test_sequential_serials_are_refused_when_recorded_naming_the_serial(
    story: Workspace, record: Record, serials: list[str], index: int, words: str
) -> None:
    before = item_count(story)
    with pytest.raises(InvalidEventError) as info:
        record(
            [
                {
                    "kind": "commission",
                    "supplier": PLANT,
                    "data": {
                        "lot": {"gtin": FORMULA, "lot": LOT},
                        "serials": serials,
                        "commissioned_at": NOW.isoformat(),
                    },
                }
            ]
        )
    assert info.value.field == f"events[0].data.serials[{index}]" and words in str(info.value)
    assert item_count(story) == before


def test_a_serial_twice_in_one_submission_is_refused_naming_both_places(story: Workspace, record: Record) -> None:
    a, b, c = (serial_from_bytes(os.urandom(10)) for _ in range(3))

    def commission(*serials: str) -> dict[str, Any]:
        return {
            "kind": "commission",
            "supplier": PLANT,
            "data": {
                "lot": {"gtin": FORMULA, "lot": LOT},
                "serials": list(serials),
                "commissioned_at": NOW.isoformat(),
            },
        }

    with pytest.raises(InvalidEventError) as info:
        record([commission(a, b), commission(c, b)])
    assert [str(p) for p in info.value.problems] == [
        f"events[1].data.serials[1]: expected a new serial, got {b!r} again (events[0].data.serials[1])"
    ]
    with pytest.raises(InvalidEventError) as info:
        record([commission(a, b, a)])
    assert info.value.field == "events[0].data.serials[2]"
    assert "expected each serial once" in str(info.value)
    assert item_count(story) == 0


def test_unknown_lot_is_refused(story: Workspace) -> None:
    with pytest.raises(InvalidEventError) as info:
        generate(story, 2, lot="IF-9999")
    assert [str(p) for p in info.value.problems] == [
        f"events[0].data.lot: expected a recorded lot, got {FORMULA}/IF-9999 which does not exist"
    ]
    assert item_count(story) == 0


@pytest.mark.parametrize("who", ["canterbury-lab", "waikato-dairy", "pacific-cold"])
def test_wrong_role_is_refused(story: Workspace, who: str) -> None:
    with pytest.raises(NotAllowedError, match="expected one of plant, brand to record commission events"):
        generate(story, 2, supplier=who)
    assert item_count(story) == 0


def test_one_bad_event_stores_nothing(story: Workspace, record: Record, events: list[dict[str, Any]]) -> None:
    good = {
        "kind": "commission",
        "supplier": PLANT,
        "data": {
            "lot": {"gtin": FORMULA, "lot": LOT},
            "serials": [serial_from_bytes(os.urandom(10))],
            "commissioned_at": NOW.isoformat(),
        },
    }
    bad = {
        **good,
        "data": {
            **good["data"],
            "serials": [serial_from_bytes(os.urandom(10))],
            "lot": {"gtin": FORMULA, "lot": "NOPE"},
        },
    }
    before = event_count(story)
    with pytest.raises(InvalidEventError) as info:
        record([good, bad])
    assert info.value.field == "events[1].data.lot"
    assert (event_count(story), item_count(story)) == (before, 0)


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"count": 0}, "count"),
        ({"gtin": "94219029601017"}, "gtin"),
        ({"lot": "IF 0001"}, "lot"),
        ({"resolver": "id.example/path"}, "resolver"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_drawn(story: Workspace, kw: dict[str, Any], field: str) -> None:
    def no_random(n: int) -> bytes:
        raise AssertionError("drew a serial")

    with pytest.raises(InvalidInputError) as info:
        generate(story, **{"count": 1, **kw, "random": no_random})
    assert info.value.field == field


# -- rendering: every output decodes to exactly its URI -------------------------------------------


def links(n: int, lot: str = LOT) -> list[DigitalLink]:
    return [DigitalLink(FORMULA, lot, serial_from_bytes(os.urandom(10)), HOST) for _ in range(n)]


def svg_image(svg: str) -> Image.Image:
    return Image.open(io.BytesIO(resvg_py.svg_to_bytes(svg_string=svg, dpi=300.0, background="#ffffff")))


SPECIAL = "A/B(1)&<x>'\"%"  # a GS1-valid lot full of characters that need escaping in URIs and in XML


@pytest.mark.parametrize("lot", [LOT, SPECIAL])
def test_svg_label_is_standalone_decodes_and_shows_the_text(lot: str) -> None:
    [link] = links(1, lot)
    svg = label_svg(link, qr_symbol(link.uri))

    root = ET.fromstring(svg.encode())
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("width", "").endswith("mm")
    assert [t.text for t in root.iter(f"{ns}text")] == list(hri_lines(link))
    assert decode_all(svg_image(svg)) == [link.uri]


def test_svg_drawing_does_not_depend_on_the_encoder() -> None:
    """A symbol from another encoder (segno) drawn by our code decodes too: the drawing is right."""
    [link] = links(1, SPECIAL)
    qr = segno.make(link.uri, error="m", mode="byte", boost_error=False)
    symbol = Symbol.from_rows(qr.matrix)
    assert decode_all(svg_image(label_svg(link, symbol))) == [link.uri]
    zx = qr_symbol(link.uri)
    rebuilt = bytearray(b"\xff" * zx.size * zx.size)
    for r, c, n in zx.runs():
        rebuilt[r * zx.size + c : r * zx.size + c + n] = bytes(n)
    assert bytes(rebuilt) == zx.pixels  # the runs cover exactly the dark modules


def test_svg_dir_has_a_file_per_label_and_the_list(tmp_path: Path) -> None:
    some = links(30)
    assert render(some, [SvgDir(tmp_path / "svg")]) == 30
    files = sorted((tmp_path / "svg").iterdir())
    assert {f.name for f in files} == {f"{x.serial}.svg" for x in some} | {"codes.csv"}
    rows = list(csv.DictReader((tmp_path / "svg" / "codes.csv").read_text().splitlines()))
    assert [r["uri"] for r in rows] == [x.uri for x in some]
    for link in some[:5]:
        assert decode_all(svg_image((tmp_path / "svg" / f"{link.serial}.svg").read_text())) == [link.uri]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left over


def test_pdf_sheet_pages_decode_and_carry_the_text(tmp_path: Path) -> None:
    some = links(95, SPECIAL)
    done: list[int] = []
    render(some, [PdfSheet(tmp_path / "labels.pdf")], done.append, every=10)
    assert sum(done) == 95

    pdf = pdfium.PdfDocument(tmp_path / "labels.pdf")
    seen: list[str] = []
    text = ""
    pages = len(pdf)
    for page in pdf:
        assert (round(page.get_width()), round(page.get_height())) == (595, 842)  # A4
        seen += decode_all(page.render(scale=200 / 72).to_pil())
        text += page.get_textpage().get_text_range()
    pdf.close()
    assert len(seen) == 95 and set(seen) == {x.uri for x in some}
    lines = text.replace("\r\n", "\n").split("\n")
    for link in some:
        for line in hri_lines(link):
            assert line in lines
    # How many labels fit a page depends on the QR version, which depends on the random serials.
    assert pages >= 2 and re.search(rf"labels \d+-95, page {pages}(\D|$)", text), text[-200:]


def test_png_zip_decodes_with_print_resolution(tmp_path: Path) -> None:
    some = links(12, SPECIAL)
    render(some, [PngZip(tmp_path / "labels.zip")])

    with zipfile.ZipFile(tmp_path / "labels.zip") as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == sorted([f"{x.serial}.png" for x in some] + ["codes.csv"])
        for link in some:
            image = Image.open(io.BytesIO(z.read(f"{link.serial}.png")))
            assert image.mode == "1" and round(image.info["dpi"][0]) == 406  # 0.5 mm modules when printed
            assert decode_all(image) == [link.uri]


def test_one_pass_feeds_every_output_and_a_failure_leaves_no_file(tmp_path: Path) -> None:
    class Broken:
        def add(self, link: DigitalLink, symbol: Symbol) -> None:
            raise OSError("disk full")

        def close(self) -> None: ...
        def abort(self) -> None: ...

    outputs = [SvgDir(tmp_path / "svg"), PdfSheet(tmp_path / "l.pdf"), PngZip(tmp_path / "l.zip"), Broken()]
    with pytest.raises(OSError, match="disk full"):
        render(links(3), outputs)  # type: ignore[list-item]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda p: SvgDir(p / "missing" / "svg"), "svg-dir"),
        (lambda p: PdfSheet(p / "missing" / "x.pdf"), "pdf"),
        (lambda p: PngZip(p), "zip"),
    ],
)
def test_output_paths_are_checked_up_front(tmp_path: Path, make: Callable[[Path], Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        make(tmp_path)
    assert info.value.field == field


def test_svg_dir_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "svg").mkdir()
    (tmp_path / "svg" / "old.svg").write_text("x")
    with pytest.raises(InvalidInputError, match="expected a new or empty directory"):
        SvgDir(tmp_path / "svg")


# -- the command ----------------------------------------------------------------------------------

CLI = Path(sys.executable).parent / "cradletrace"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("labels-cli")
    proc = cli(cwd, "demo", "--data-dir", "data")
    assert proc.returncode == 0, proc.stderr
    yield cwd


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLETRACE_") and k != "DATABASE_URL"}
    proc = subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def test_cli_labels_writes_all_outputs(demo_dir: Path) -> None:
    proc = cli(
        demo_dir,
        "labels",
        FORMULA,
        LOT,
        "--count",
        "45",
        "--supplier",
        PLANT,
        "--svg-dir",
        "svg",
        "--pdf",
        "labels.pdf",
        "--zip",
        "labels.zip",
        "--data-dir",
        "data",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"commissioned 45 items of {FORMULA}/{LOT} by {PLANT} in 1 event" in proc.stdout
    uris = [r["uri"] for r in csv.DictReader((demo_dir / "svg" / "codes.csv").read_text().splitlines())]
    assert len(uris) == 45 and all(u.startswith(f"{HOST}/01/{FORMULA}/10/{LOT}/21/") for u in uris)
    pdf = pdfium.PdfDocument(demo_dir / "labels.pdf")
    # How many fit a page depends on the widest text line, which varies with the random serials.
    printed = [u for page in pdf for u in decode_all(page.render(scale=200 / 72).to_pil())]
    pdf.close()
    assert sorted(printed) == sorted(uris)
    with zipfile.ZipFile(demo_dir / "labels.zip") as z:
        assert z.read("codes.csv").decode() == (demo_dir / "svg" / "codes.csv").read_text()


def test_cli_labels_prints_uris_and_refuses_readably(demo_dir: Path) -> None:
    proc = cli(
        demo_dir,
        "labels",
        FORMULA,
        LOT,
        "-n",
        "3",
        "--supplier",
        PLANT,
        "--resolver",
        "http://localhost:8000",
        "--data-dir",
        "data",
    )
    assert proc.returncode == 0, proc.stderr
    assert [parse_uri(u).resolver for u in proc.stdout.split()] == ["http://localhost:8000"] * 3

    proc = cli(
        demo_dir, "labels", FORMULA, "IF-0404", "-n", "3", "--supplier", PLANT, "--pdf", "x.pdf", "--data-dir", "data"
    )
    assert proc.returncode == 2
    assert f"events[0].data.lot: expected a recorded lot, got {FORMULA}/IF-0404" in proc.stderr
    assert not (demo_dir / "x.pdf").exists() and not list(demo_dir.glob(".x.pdf*"))

    proc = cli(demo_dir, "labels", FORMULA, LOT, "-n", "3", "--supplier", "canterbury-lab", "--data-dir", "data")
    assert proc.returncode == 2 and "expected one of plant, brand" in proc.stderr

"""What a parent sees, in headless Chromium sized like a cheap phone, from a real server.

One ``cradletrace serve --demo`` (a subprocess on a free loopback port) serves every test: the
demo's formula batch has a failing Cronobacter report and a cold-chain excursion, and three
commissioned cans whose scan paths the command prints. Each test checks what is on screen and
saves a screenshot to test-artifacts/. The camera test feeds Chromium a Y4M video of a QR code
drawn with the project's own encoder, so the vendored jsQR really decodes it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from cradletrace.labels.commission import qr_symbol
from tests.browser import CHROMIUM, FLAGS, screenshot, watched_page
from tests.servers import serve_demo

pytestmark = pytest.mark.browser

PRODUCT = "Stage 1 infant formula 800 g"
RECORDS = 7  # the batch, its two raw-milk lots, two test reports, the shipment, its cold chain
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2}


@dataclass(frozen=True)
class Demo:
    base: str
    data: Path
    paths: list[str]  # scan paths of the commissioned cans, as `serve --demo` prints them
    uri: str  # the first can's Digital Link, under the resolver host printed on labels


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("browser")
    with serve_demo(tmp, tmp / "demo", anchor_interval=0) as served:
        out = served.output
        paths = re.findall(rf"^ +{re.escape(served.base)}(/01/\S+)$", out, re.M)
        uri = re.search(r"^a parent scans: (https://\S+)$", out, re.M)
        assert len(paths) == 3 and uri, out
        yield Demo(served.base, tmp / "demo", paths, uri.group(1))


def fits_phone(page: Any) -> None:
    """Nothing sticks out sideways at 360 px (no horizontal scrolling to read a page)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def badges(page: Any) -> list[str]:
    return [b.get_attribute("data-status") for b in page.locator(".badge").all()]


def test_item_page_shows_the_verified_record_and_the_alerts(phone: Any, demo: Demo) -> None:
    page = phone
    assert page.goto(demo.base + demo.paths[0]).status == 200
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#product h2").inner_text() == PRODUCT
    banner = page.locator("#integrity-banner")
    assert "ok" in banner.get_attribute("class") and "全部记录已在区块链上核验" in banner.inner_text()
    assert badges(page) == ["VALID"] * RECORDS
    assert all("链上已核验" in t and "本地开发链" in t for t in page.locator(".badge").all_inner_texts())
    chart = page.locator("#cold-chain svg.temp-chart")
    assert chart.is_visible() and chart.locator("rect.band").count() == 1
    assert chart.locator("circle.excursion").count() == 3  # 9.4, 10.1 and 8.6 °C above the 8 °C limit
    failed = page.locator(".test-report[data-verdict=fail]")
    assert failed.locator("td.fail").inner_text() == "不合格" and "Cronobacter" in failed.inner_text()
    assert page.locator(".test-report[data-verdict=pass] td.fail").count() == 0
    alerts = page.locator(".banner.alert").all_inner_texts()
    assert any("检测项目不合格" in a for a in alerts) and any("温度超标" in a for a in alerts)
    fits_phone(page)
    screenshot(page, "scan-item-zh")

    count = int(page.locator("#scan-count").inner_text().split()[0])
    page.reload()
    assert int(page.locator("#scan-count").inner_text().split()[0]) == count + 1


def test_language_switch(phone: Any, demo: Demo) -> None:
    page = phone
    page.goto(demo.base + demo.paths[1])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#tests h2").inner_text() == "检测报告"
    page.locator("#lang-switch").click()
    page.wait_for_url(re.compile(r"\?lang=en$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#tests h2").inner_text() == "Test reports"
    assert page.locator(".test-report[data-verdict=fail] td.fail").inner_text() == "FAIL"
    assert "Every record verified" in page.locator("#integrity-banner").inner_text()
    fits_phone(page)
    screenshot(page, "scan-item-en")
    page.locator("#lang-switch").click()
    page.wait_for_url(re.compile(r"\?lang=zh$"))
    assert page.locator("#tests h2").inner_text() == "检测报告"


def test_unknown_and_malformed_codes(phone: Any, demo: Demo) -> None:
    page = phone
    known = demo.paths[0]
    unknown = known[: known.rindex("/") + 1] + "0000000000000000"  # valid GTIN and lot, a serial never issued
    assert page.goto(demo.base + unknown).status == 404
    assert page.locator("#unknown-banner").inner_text() == "此码未注册"
    assert "假冒" in page.locator("main").inner_text()
    screenshot(page, "scan-unknown-zh")
    assert page.goto(demo.base + unknown + "?lang=en").status == 404
    text = page.locator("main").inner_text()
    assert "not registered" in text and "counterfeit" in text
    fits_phone(page)
    screenshot(page, "scan-unknown-en")
    assert page.goto(demo.base + "/01/12345/10/IF-0001/21/X").status == 400
    assert page.locator("#unknown-banner").inner_text() == "无法识别的码"
    screenshot(page, "scan-malformed")


def test_tampered_record_is_caught_on_the_page(phone: Any, demo: Demo) -> None:
    """Edit a stored test report in the database: the page must say so, per record and on top."""
    page = phone
    db = sqlite3.connect(demo.data / "cradletrace.sqlite")
    try:
        ((eid, body),) = db.execute(
            "SELECT id, body FROM event WHERE kind = 'test_report' AND body LIKE '%\"value\":0.004%'"
        )
        with db:
            db.execute("UPDATE event SET body = ? WHERE id = ?", (body.replace('"value":0.004', '"value":0.001'), eid))
        page.goto(demo.base + demo.paths[2])
        banner = page.locator("#integrity-banner")
        assert "alert" in banner.get_attribute("class") and "可能已被篡改" in banner.inner_text()
        assert sorted(badges(page)) == ["INVALID"] + ["VALID"] * (RECORDS - 1)
        report = page.locator(".test-report[data-verdict=pass]")
        assert report.locator(".badge").get_attribute("data-status") == "INVALID"
        assert (
            "核验失败" in report.locator(".badge").inner_text()
            and "与链上存证不一致" in report.locator(".badge").inner_text()
        )
        assert "0.001 mg/kg" in report.inner_text()  # the edited value is shown, marked as untrustworthy
        fits_phone(page)
        screenshot(page, "scan-tampered")
    finally:
        with db:
            db.execute("UPDATE event SET body = ? WHERE id = ?", (body, eid))
        db.close()
    page.reload()
    assert badges(page) == ["VALID"] * RECORDS


def test_docs_render_offline(phone: Any, demo: Demo) -> None:
    page = phone
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    assert page.goto(demo.base + "/docs").status == 200
    page.get_by_text("/api/v1/events", exact=True).first.wait_for(state="visible", timeout=15_000)
    with urllib.request.urlopen(demo.base + "/openapi.json", timeout=10) as r:
        spec = json.loads(r.read())
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert page.locator(".opblock").count() == operations
    screenshot(page, "docs")
    assert requested and all(u.startswith(demo.base + "/") for u in requested), requested


def test_scanner_page_takes_a_typed_code(phone: Any, demo: Demo) -> None:
    """Without a camera (plain headless Chromium has none) the page says so; typing still works."""
    page = phone
    page.goto(demo.base + "/scan")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    status = page.locator("#status")
    status.filter(has_text="无法打开摄像头").wait_for(timeout=10_000)
    assert page.locator("#camera-start").is_visible() and not page.locator(".viewfinder").is_visible()
    fits_phone(page)
    screenshot(page, "scanner-no-camera")

    page.locator("#code").fill("https://example.com/promo/2026")
    page.locator("#manual-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/scan\?code="))
    assert page.locator("#not-ours").inner_text() == "这不是 cradletrace 溯源码"
    screenshot(page, "scanner-not-ours")

    gtin, lot, serial = demo.paths[0].split("/")[2::2]
    # The three lines under the QR, typed on a Chinese keyboard: full-width brackets, lower case.
    page.locator("#code").fill(f"（01）{gtin}\n（10）{lot}\n（21）{serial.lower()}")
    page.locator("#manual-form button[type=submit]").click()
    page.wait_for_url(demo.base + demo.paths[0])
    assert page.locator("#product h2").inner_text() == PRODUCT


def y4m_of_codes(
    path: Path, texts: list[tuple[str, int]], width: int = 480, height: int = 360, module: int = 6
) -> Path:
    """A Y4M (4:2:0) video for Chromium's fake camera: ``frames`` frames of each text's QR code."""
    light, dark = 235, 16  # video-range luma
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode())
        chroma = bytes([128]) * ((width // 2) * (height // 2) * 2)  # no colour
        for text, frames in texts:
            symbol = qr_symbol(text)
            side = symbol.size * module
            assert side + 8 * module <= height, "the QR code and its quiet zone must fit the frame"
            luma = bytearray([light]) * (width * height)
            x0, y0 = (width - side) // 2, (height - side) // 2
            for r in range(symbol.size):
                row = b"".join(
                    bytes([light if v else dark]) * module
                    for v in symbol.pixels[r * symbol.size : (r + 1) * symbol.size]
                )
                for k in range(module):
                    start = (y0 + r * module + k) * width + x0
                    luma[start : start + side] = row
            for _ in range(frames):
                f.write(b"FRAME\n" + luma + chroma)
    return path


def test_scanner_reads_a_qr_code_from_the_camera(browser: Any, demo: Demo, tmp_path: Path) -> None:
    """Chromium's fake camera plays a video: a foreign QR code first, then the can's own."""
    video = y4m_of_codes(tmp_path / "camera.y4m", [("https://example.com/promo/2026", 15), (demo.uri, 10)])
    camera = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *FLAGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        with watched_page(camera.new_context(**PHONE, permissions=["camera"])) as page:
            see_camera_open_the_pack(page, demo)
    finally:
        camera.close()


def see_camera_open_the_pack(page: Any, demo: Demo) -> None:
    # Record what the page asks the camera for, and every status line it shows.
    statuses: list[str] = []
    page.expose_function("reportStatus", lambda text: statuses.append(text))
    page.add_init_script("""
        const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = (c) => { window.reportStatus('constraints ' + JSON.stringify(c)); return ask(c); };
        document.addEventListener('DOMContentLoaded', () => {
          const s = document.getElementById('status');
          if (s) new MutationObserver(() => window.reportStatus(s.textContent)).observe(s, {childList: true});
        });""")
    page.goto(demo.base + "/scan")
    page.locator("#status").filter(has_text="这不是 cradletrace 溯源码").wait_for(timeout=15_000)
    screenshot(page, "scanner-camera")
    page.wait_for_url(demo.base + demo.paths[0], timeout=15_000)
    assert page.locator("#product h2").inner_text() == PRODUCT
    asked = json.loads(next(s for s in statuses if s.startswith("constraints "))[len("constraints ") :])
    assert asked["video"]["facingMode"] in ("environment", {"ideal": "environment"}, {"exact": "environment"})
    assert "这不是 cradletrace 溯源码: https://example.com/promo/2026" in statuses
    assert "已识别，正在打开…" in statuses
    screenshot(page, "scanner-opened-item")


def test_a_recalled_pack_shows_the_recall_at_once(phone: Any, demo: Demo) -> None:
    """Quality staff start a recall; the very next scan of a can shows it, before any chain call."""
    from datetime import datetime

    from cradletrace.config import Settings
    from cradletrace.recall import recalls
    from cradletrace.workspace import Workspace

    gtin = demo.paths[0].split("/")[2]
    with Workspace(Settings(data_dir=demo.data)) as ws, ws.session() as s:
        recalls.start_recall(
            s,
            lots=[(gtin, "IF-0001")],
            reason="Cronobacter detected in retained sample",
            severity="I",
            trigger=None,
            started_by="browser test",
            now=datetime.now(UTC),
        )
    page = phone
    assert page.goto(demo.base + demo.paths[1]).status == 200
    banner = page.locator(".banner.recall")
    assert banner.count() == 1 and banner.is_visible()
    assert "Cronobacter detected in retained sample" in banner.inner_text()
    assert page.locator(".banner").first.get_attribute("class") == "banner recall"  # above everything else
    fits_phone(page)
    screenshot(page, "scan-recalled-zh")
    page.locator("#lang-switch").click()
    assert "Cronobacter detected in retained sample" in page.locator(".banner.recall").inner_text()
    screenshot(page, "scan-recalled-en")

"""The recall console in headless Chromium, against a real ``cradletrace serve --demo``: quality staff
enter their key, trace the demo's raw-milk lot, start a recall, see its clock against the two-hour
rule and download the reports; download the regulatory reports (filed, their SHA-256 shown, PENDING then
VALID after an anchoring run); a wrong key is refused on the page. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from cradletrace.recall.report import COLUMNS
from tests.browser import screenshot, watched_page
from tests.servers import serve_demo

pytestmark = pytest.mark.browser

MILK = "94219029600019"  # the demo's raw milk (GTIN with its check digit)
DESK = {"viewport": {"width": 1280, "height": 900}, "accept_downloads": True}


@dataclass(frozen=True)
class Console:
    base: str
    key: str  # the demo's quality key, as `serve --demo` prints it
    operator: str
    scan_paths: list[str]
    data: Path  # the demo's data directory (its store and keys)

    def api(self, path: str, key: str | None = None) -> Any:
        req = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {key or self.key}", "Accept": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def anchor(self) -> Any:
        """One anchoring run now (``POST /api/v1/anchor``, operator key): the demo's thread is off."""
        req = urllib.request.Request(
            self.base + "/api/v1/anchor", method="POST", headers={"Authorization": f"Bearer {self.operator}"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    with serve_demo(tmp, tmp / "demo", anchor_interval=0) as served:
        out = served.output
        keys = dict(re.findall(r"^  (quality|operator) +(\S+)$", out, re.M))
        paths = re.findall(rf"^ +{re.escape(served.base)}(/01/\S+)$", out, re.M)
        assert set(keys) == {"quality", "operator"} and paths, out
        yield Console(served.base, keys["quality"], keys["operator"], paths, tmp / "demo")


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    with watched_page(browser.new_context(**DESK)) as page:
        yield page


def use_key(page: Any, key: str) -> None:
    page.fill("#key", key)
    page.click("#key-use")


def test_a_wrong_key_is_refused_and_nothing_is_shown(desk: Any, demo: Console) -> None:
    desk.goto(f"{demo.base}/console?lang=en")
    use_key(desk, "ct_000000000000_" + "A" * 43)
    status = desk.locator("#key-status.bad")
    status.wait_for()
    assert "API key not valid (unknown or revoked)" in status.inner_text() and "401" in status.inner_text()
    assert desk.locator("#work").is_hidden()
    assert desk.evaluate("sessionStorage.length + localStorage.length") == 0
    screenshot(desk, "console-wrong-key-en")
    use_key(desk, demo.operator)  # a real key without the quality role
    desk.locator("#key-status.bad", has_text="403").wait_for()
    assert "needs a key with role quality" in desk.locator("#key-status").inner_text()
    assert desk.locator("#work").is_hidden()


def test_trace_recall_clock_and_reports(desk: Any, demo: Console, tmp_path: Path) -> None:
    page = desk
    page.goto(f"{demo.base}/console?lang=en")
    use_key(page, demo.key)
    page.locator("#key-status.ok").wait_for()
    # The demo's failing report held IF-0001: a proposal with its clock running since the trigger.
    proposal = page.locator("#holds td.proposal").first
    proposal.wait_for()
    assert re.fullmatch(r"0:\d\d:\d\d / 2:00:00", page.locator("#holds td.running").first.inner_text())

    page.fill("#lot", f"{MILK}/RM-A1")
    page.click("#trace-go")
    page.locator("#trace-lots tbody tr").first.wait_for()
    trace = demo.api(f"/api/v1/trace/forward?lot={MILK}/RM-A1")
    counts = {
        li.get_attribute("data-count"): int(li.locator("strong").inner_text())
        for li in page.locator("#counts li").all()
    }
    n = trace["counts"]
    assert counts == {
        "lots": n["lots"],
        "items": n["items"],
        "shipments": n["shipments"],
        "sites": n["sites"],
        "scanned": n["scanned_items"],
        "cases": n["cases"],
        "pallets": n["pallets"],
        "sold": n["sold_items"],
        "orders": n["orders"],
    } and n["lots"] == len(trace["lots"])
    assert counts["lots"] == 2 and counts["items"] == 3
    paths = page.locator("#trace-lots td.path").all_inner_texts()
    assert "RM-A1 → IF-0001" in paths
    screenshot(page, "console-trace-en")

    page.locator("#trace-lots input[data-lot$='/RM-A1']").uncheck()  # narrow: the raw milk itself is used up
    page.fill("#reason", "Cronobacter detected in retained sample")
    page.select_option("#severity", "I")
    failing = next(h["trigger_event_id"] for h in demo.api("/api/v1/holds") if h["reason"] == "failed test report")
    page.fill("#trigger", str(failing))
    page.click("#recall-go")
    page.locator("#recall-status.ok").wait_for()
    [recall] = demo.api("/api/v1/recalls")
    assert page.locator("#recall-status").inner_text() == f"Recall {recall['id']} started: scan pages show it now."
    assert recall["lots"] == [f"{trace['lots'][1]['gtin']}/IF-0001"] and recall["trigger_event_id"] == failing
    page.locator("#clock").wait_for()
    started = page.locator("#clock-started strong").inner_text()
    assert re.fullmatch(r"0:\d\d:\d\d", started)
    to_started = int(recall["clock"]["to_started_s"] + 0.5)  # rounded half up, as the page's Math.round does
    assert started == f"0:{to_started // 60:02d}:{to_started % 60:02d}"
    assert page.locator("#clock-verdict").inner_text() == "Within the two-hour rule"
    assert page.locator("#holds td.proposal").count() == 0  # the proposals are covered by the recall now
    screenshot(page, "console-recall-clock-en")

    # The recall reaches a parent's scan at once.
    scan = demo.api(demo.scan_paths[0])
    assert scan["recall"]["id"] == recall["id"]

    with page.expect_download() as got:
        page.click("#download-xlsx")
    xlsx = got.value
    assert xlsx.suggested_filename == f"recall-{recall['id']}.xlsx"
    book = load_workbook(io.BytesIO(Path(xlsx.path()).read_bytes()))
    sheet = book["Traceability"]
    assert [c.value for c in sheet[1]] == [h for _, h, _ in COLUMNS]
    assert [(r[0].value, r[3].value) for r in sheet.iter_rows(min_row=2)] == [
        ("transformation", "IF-0001"),
        ("shipping", "IF-0001"),
    ]
    with page.expect_download() as got:
        page.click("#download-csv")
    assert got.value.suggested_filename == f"recall-{recall['id']}.csv"
    assert "PCC-2026-0042" in Path(got.value.path()).read_text("utf-8-sig")

    # Chinese, same tab: the key was in the page's memory only, so the reloaded console asks again.
    page.goto(f"{demo.base}/console")
    assert page.locator("#work").is_hidden() and page.evaluate("sessionStorage.length + localStorage.length") == 0
    use_key(page, demo.key)
    page.locator("#recalls button[data-recall]").first.click()
    page.locator("#clock").wait_for()
    assert page.locator("h1").inner_text() == "召回控制台"
    assert page.locator("#clock-verdict").inner_text() == "符合两小时规则"
    screenshot(page, "console-recall-clock-zh")
    page.click("#key-forget")
    assert page.locator("#work").is_hidden()
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0


def test_a_drill_its_result_deadlines_and_effectiveness_checks(desk: Any, demo: Console) -> None:
    from cradletrace.config import Settings
    from tests.recall.notify_kit import add_sites, record, shipments

    settings = Settings(data_dir=demo.data)
    add_sites(settings, ["north-dc", "south-dc", "east-dc"])  # consignees of IF-0001, so there is someone to check
    record(settings, shipments("IF-0001", {"north-dc": 600.0, "south-dc": 300.0, "east-dc": 100.0}, tag="D"))
    page = desk
    page.goto(f"{demo.base}/console?lang=en")
    use_key(page, demo.key)
    page.locator("#key-status.ok").wait_for()
    page.fill("#lot", f"{MILK}/RM-A1")
    page.click("#trace-go")
    page.locator("#trace-lots tbody tr").first.wait_for()
    page.fill("#reason", "Quarterly mock recall")
    page.click("#drill-go")
    page.locator("#recall-status.ok").wait_for()
    drill = next(r for r in demo.api("/api/v1/recalls") if r["drill"])
    assert page.locator("#recall-status").inner_text().startswith(f"Drill {drill['id']} started")
    assert drill["notice_status"] == "drill"
    assert "DRILL" in page.locator("#recall-drill").inner_text()
    page.locator("#drill-result").wait_for()
    assert re.fullmatch(r"\+0:\d\d:\d\d", page.locator("#drill-result li[data-timing=started] strong").inner_text())
    assert page.locator("#drill-verdict").inner_text() == "located and started within two hours"
    for path in demo.scan_paths:  # no scan page shows the drill
        shown = demo.api(path).get("recall")
        assert shown is None or shown["id"] != drill["id"]

    statuses = dict(
        zip(
            page.locator("#ledger-deadlines tbody tr").evaluate_all("rows => rows.map(r => r.dataset.deadline)"),
            page.locator("#ledger-deadlines .status-cell").all_inner_texts(),
            strict=True,
        )
    )
    assert statuses["cn_start"] == "met" and statuses["fda_telephone"] == "due" and len(statuses) == 6
    page.select_option("#milestone-name", "fda_telephoned")
    page.click("#milestone-go")
    page.locator("#ledger-deadlines tr[data-deadline=fda_telephone].dl-met").wait_for()

    page.select_option("#check-level", "A")
    page.click("#checks-draw")
    page.locator("#checks-summary").wait_for()
    assert page.locator("#checks-table tbody tr").count() == 3  # level A: every consignee
    row = page.locator("#checks-table tr[data-check=north-dc]")
    for field in ("reached", "notice_received", "handled"):
        row.locator(f"input[data-field={field}]").check()
    row.locator("button").click()
    page.locator("#checks-summary", has_text="3 drawn, 1 checked, 1 effective (100 %)").wait_for()
    ledger = demo.api(f"/api/v1/recalls/{drill['id']}/ledger")
    assert ledger["effectiveness"]["checks"][1]["site"] == "north-dc" and ledger["effectiveness"]["effective"] == 1
    screenshot(page, "console-drill-en")

    page.goto(f"{demo.base}/console")
    use_key(page, demo.key)
    page.locator(f"#recalls button[data-recall='{drill['id']}']").click()
    page.locator("#ledger-deadlines").wait_for()
    assert "演练" in page.locator("#recall-drill").inner_text()
    assert page.locator("#ledger-deadlines tr[data-deadline=fda_telephone] .status-cell").inner_text() == "按时"
    assert "有效 1" in page.locator("#checks-summary").inner_text()
    screenshot(page, "console-drill-zh")


def downloaded(page: Any, button: str) -> tuple[str, bytes, str]:
    """Click a report button; the file's name, its bytes and the SHA-256 the page then shows."""
    with page.expect_download() as got:
        page.click(button)
    body = Path(got.value.path()).read_bytes()
    page.locator("#report-status.ok").wait_for()
    return got.value.suggested_filename, body, page.locator("#report-sha").inner_text()


def test_regulatory_reports_are_downloaded_filed_and_anchored(desk: Any, demo: Console) -> None:
    page = desk
    page.goto(f"{demo.base}/console?lang=en")
    use_key(page, demo.key)
    page.locator("#key-status.ok").wait_for()
    if not [r for r in demo.api("/api/v1/recalls") if not r["drill"]]:  # this test alone: start one here
        page.fill("#lot", f"{MILK}/RM-A1")
        page.click("#trace-go")
        page.locator("#trace-lots input[data-lot$='/RM-A1']").uncheck()
        page.fill("#reason", "Cronobacter detected in retained sample")
        page.click("#recall-go")
        page.locator("#recall-status.ok").wait_for()
    recall = next(r for r in demo.api("/api/v1/recalls") if not r["drill"])
    page.locator(f"#recalls button[data-recall='{recall['id']}']").click()
    page.locator("#filed").wait_for()

    name, pdf, shown = downloaded(page, "#report-written-pdf")
    assert name == f"recall-{recall['id']}-written.pdf" and pdf.startswith(b"%PDF")
    assert shown == hashlib.sha256(pdf).hexdigest()
    doc = pdfium.PdfDocument(pdf)
    text = "".join("".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).split())
    assert "".join(recall["reason"].split()) in text and "IF-0001" in text
    name, xlsx, shown_xlsx = downloaded(page, "#report-status-xlsx")
    assert name == f"recall-{recall['id']}-status.xlsx" and shown_xlsx == hashlib.sha256(xlsx).hexdigest()
    assert load_workbook(io.BytesIO(xlsx)).sheetnames[0] == "Report"

    filed = {f["sha256"]: f for f in demo.api(f"/api/v1/recalls/{recall['id']}/reports")}
    assert {shown, shown_xlsx} <= set(filed) and filed[shown]["report"] == "written"
    for sha in (shown, shown_xlsx):
        row = page.locator(f"#filed-reports tr[data-sha='{sha}']")
        row.wait_for()
        assert row.get_attribute("data-status") == "PENDING" and "PENDING" in row.inner_text()
    screenshot(page, "console-reports-en")

    assert demo.anchor()["events"] >= 2
    page.click("#filed-refresh")
    for sha in (shown, shown_xlsx):
        page.locator(f"#filed-reports tr[data-sha='{sha}'][data-status=VALID]").wait_for()
    assert "anchored and verified" in page.locator(f"#filed-reports tr[data-sha='{shown}']").inner_text()

    page.goto(f"{demo.base}/console")
    use_key(page, demo.key)
    page.locator(f"#recalls button[data-recall='{recall['id']}']").click()
    page.locator(f"#filed-reports tr[data-sha='{shown}'][data-status=VALID]").wait_for()
    assert "书面报告" in page.locator("#reports").inner_text()
    assert "已上链" in page.locator(f"#filed-reports tr[data-sha='{shown}']").inner_text()
    screenshot(page, "console-reports-zh")

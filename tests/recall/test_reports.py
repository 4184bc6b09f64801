"""The recall's regulatory reports, end to end over real parts: a recall started through the API,
its notices delivered (a real SMTP server and webhook receiver), two sites answering through their
links; then every report generated from the ledger (21 CFR 107.240 written and status reports as
PDF and XLSX, 召回计划, 召回总结报告, the retail display notice), its text read back with
pypdfium2 and its cells with openpyxl, the figures matching the ledger; each report filed (kept byte
for byte, its digest signed and anchored), verified after anchoring, and a copy changed by one byte
not verified. Over HTTP and on the command line.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from tests.api.conftest import FORMULA, Site
from tests.recall.notify_kit import Hooks, notify_site
from tests.recall.test_notices import SITES, answer, contact, deliver, link

P = API_PREFIX
IF1 = f"{FORMULA}/IF-0001"


@pytest.fixture
def world(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Site, list[Any], Hooks]]:
    """The demo site (SQLite, and PostgreSQL) with four consignee sites IF-0001 was shipped to
    (2 000 cans in all)."""
    with notify_site(Settings(data_dir=tmp_path / "data", database_url=database_url), SITES) as world:
        yield world


def pdf_text(body: bytes) -> str:
    doc = pdfium.PdfDocument(body)
    return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))


def flat(text: str) -> str:
    return "".join(text.split())


def started(world: tuple[Site, list[Any], Hooks]) -> tuple[Site, int, dict[str, Any]]:
    """A recall of IF-0001: north (e-mail) and east (webhook) notified and answered; south and west
    have no contact (not notified, unanswered)."""
    site, mail, hooks = world
    q = site.auth("quality")
    contact(site, "north-dc", emails=["quality@north.example"])
    contact(site, "east-dc", webhook_url=hooks.url("/east"), webhook_secret="e" * 32)
    r = site.client.post(f"{P}/recalls", headers=q, json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert deliver(site).sent == 2
    [m] = mail
    assert answer(site, link(m.get_content()), [(IF1, 100, 800, 100)]).status_code == 200
    [east] = hooks.bodies("/east")
    assert answer(site, east["ack_url"].rsplit("/", 1)[1], [(IF1, 0, 250, 50)]).status_code == 200
    book = site.client.get(f"{P}/recalls/{rid}/ledger", headers=q).json()
    assert book["sites"]["notified"] == 2 and book["sites"]["answered"] == 2 and book["sites"]["total"] == 4
    assert book["totals"]["cans"] == {
        "shipped": 2000.0,
        "on_hand": 100.0,
        "returned": 1050.0,
        "destroyed": 150.0,
        "unaccounted": 700.0,
    }
    return site, rid, book


def get(site: Site, url: str, **params: Any) -> Any:
    r = site.client.get(url, headers=site.auth("quality"), params=params)
    assert r.status_code == 200, r.text
    assert r.headers["x-report-sha256"] == hashlib.sha256(r.content).hexdigest()
    return r


def test_every_report_shows_the_ledger_is_filed_and_anchored(world: tuple[Site, list[Any], Hooks]) -> None:
    site, rid, _ = started(world)
    q = site.auth("quality")
    base = f"{P}/recalls/{rid}/reports"

    written = get(site, f"{base}/written.pdf")
    assert written.headers["content-type"] == "application/pdf"
    assert f'filename="recall-{rid}-written.pdf"' in written.headers["content-disposition"]
    text = flat(pdf_text(written.content))
    for expected in (
        "21CFR107.240(b)",
        "Consigneesnotified2of4",  # north by e-mail, east by webhook
        "1bye-mail,1bysignedwebhook",
        "Consigneesresponding2of4",
        "Shareresponding50.0%",
        "2,000",  # shipped
        "1,050",  # returned
        "700",  # unaccounted (south 500, west 200: no answer)
        "1,300",  # accounted for
        "Effectivenesschecks:nonerecorded",
        "IF-0001",
    ):
        assert expected in text, expected

    x = get(site, f"{base}/written.xlsx")
    wb = load_workbook(io.BytesIO(x.content))
    summary = {r[0].value: r[1].value for r in wb["Report"].iter_rows()}
    assert (summary["Consignees notified"], summary["Consignees responding"], summary["Consignees"]) == (2, 2, 4)
    assert isinstance(summary["Generated at (UTC)"], datetime)
    sheet = wb["Consignees"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:K5"
    rows = [{h.value: c.value for h, c in zip(sheet[1], r, strict=True)} for r in list(sheet.iter_rows())[1:]]
    north = next(r for r in rows if r["Consignee (id)"] == "north-dc")
    assert (north["Shipped"], north["Returned"], north["Destroyed"], north["Unaccounted"]) == (1000, 800, 100, 0)
    assert isinstance(north["Answered At (UTC)"], datetime) and north["Answered"] == "yes"
    west = next(r for r in rows if r["Consignee (id)"] == "west-dc")
    assert west["Unaccounted"] == 200 and west["Answered At (UTC)"] is None
    [cans] = [
        {h.value: c.value for h, c in zip(wb["Quantities"][1], r, strict=True)}
        for r in list(wb["Quantities"].iter_rows())[1:]
    ]
    assert (cans["Shipped"], cans["Accounted For"], cans["Unaccounted"]) == (2000, 1300, 700)
    assert wb["Effectiveness checks"].max_row == 1  # the header only: none recorded

    status = flat(pdf_text(get(site, f"{base}/status.pdf").content))
    assert "21CFR107.240(c)" in status and "Noticesdelivered:2.Answersreceived:2." in status
    assert "(thestartoftherecall)" in status
    again = flat(pdf_text(get(site, f"{base}/status.pdf").content))
    assert "(thelaststatusreport)" in again and "Noticesdelivered:0.Answersreceived:0." in again
    status_x = load_workbook(io.BytesIO(get(site, f"{base}/status.xlsx").content))
    assert {r[0].value for r in status_x["Report"].iter_rows()} >= {
        "Period since (UTC)",
        "Next status report due (UTC)",
    }

    plan = flat(pdf_text(get(site, f"{base}/plan.pdf").content))
    for expected in (
        "食品召回计划",
        "第十六条",
        "一级",
        "24小时内启动召回",
        "10个工作日内完成召回",
        "Cronobacter",
        "待生产者填写",
    ):
        assert expected in plan, expected
    summary_zh = flat(pdf_text(get(site, f"{base}/summary.pdf").content))
    for expected in (
        "食品召回总结报告",
        "已答复",
        "50.0%",
        "已查清1,300/发货2,000，未查清700",
        "本次召回尚未记录有效性核查",
    ):
        assert expected in summary_zh, expected
    display = flat(pdf_text(get(site, f"{base}/display.pdf", contact="热线 400-800-1234").content))
    for expected in ("召回通知", "RECALLNOTICE", "请勿食用", "DONOTUSE", "IF-0001", "热线400-800-1234", "Whomtocall"):
        assert expected in display, expected

    bad = site.client.get(f"{base}/plan.xlsx", headers=q)
    assert bad.status_code == 422 and "expected pdf for the plan report" in bad.text
    assert site.client.get(f"{base}/nothing.pdf", headers=q).status_code == 422
    assert site.client.get(f"{P}/recalls/999/reports/written.pdf", headers=q).status_code == 404

    filed = site.client.get(base, headers=q).json()
    assert [(f["report"], f["format"]) for f in filed] == [
        ("written", "pdf"),
        ("written", "xlsx"),
        ("status", "pdf"),
        ("status", "pdf"),
        ("status", "xlsx"),
        ("plan", "pdf"),
        ("summary", "pdf"),
        ("display", "pdf"),
    ]
    assert filed[0]["sha256"] == written.headers["x-report-sha256"] and not filed[0]["in_anchor_batch"]

    kept = site.client.get(f"{P}/recall-reports/{filed[0]['sha256']}", headers=q)
    assert kept.status_code == 200 and kept.content == written.content  # byte-identical again

    pending = site.client.get(f"{P}/recall-reports/{filed[0]['sha256']}/proof", headers=q).json()
    assert pending["status"] == "PENDING" and pending["verified"] is False
    assert site.client.post(f"{P}/anchor", headers=site.auth("operator")).status_code == 200
    proof = site.client.get(f"{P}/recall-reports/{filed[0]['sha256']}/proof", headers=q).json()
    assert proof["verified"] is True and proof["status"] == "VALID" and proof["block_number"] is not None
    assert proof["filed"]["report"] == "written" and proof["bundle"]["proof"] is not None
    checked = site.client.post(
        f"{P}/verify-bundle",
        content=json.dumps(proof["bundle"]),
        headers={"content-type": "application/json"},
    )
    assert checked.status_code == 200 and checked.json()["status"] == "VALID", checked.text

    as_pdf = {**q, "content-type": "application/pdf"}  # the file as it is (no content type reads as JSON)
    same = site.client.post(f"{P}/recall-reports/verify", headers=as_pdf, content=written.content).json()
    assert same["verified"] is True and same["filed"]["event_id"] == filed[0]["event_id"]
    tampered = bytearray(written.content)
    tampered[len(tampered) // 2] ^= 0x01
    changed = site.client.post(f"{P}/recall-reports/verify", headers=as_pdf, content=bytes(tampered)).json()
    assert changed["verified"] is False and changed["status"] == "NOT FILED" and "changed" in changed["reasons"][0]


def test_the_command_line_files_and_verifies_reports(tmp_path: Path) -> None:
    """The recall made over HTTP as above; then, with the server stopped (the embedded chain has
    one opener), the reports filed, anchored and verified on the command line."""
    from typer.testing import CliRunner

    from cradletrace.cli import app

    settings = Settings(data_dir=tmp_path / "data")
    with notify_site(settings, SITES) as world:
        _, rid, _ = started(world)
    data = ["--data-dir", str(settings.data_dir)]
    cli = CliRunner()
    out = tmp_path / "out"
    made = cli.invoke(
        app, ["recall", "report", str(rid), "--kind", "written", "--kind", "summary", "--out", str(out), *data]
    )
    assert made.exit_code == 0, made.output
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"recall-{rid}-summary.pdf", f"recall-{rid}-written.pdf", f"recall-{rid}-written.xlsx"]
    summary = out / f"recall-{rid}-summary.pdf"
    assert "食品召回总结报告" in flat(pdf_text(summary.read_bytes()))

    pending = cli.invoke(app, ["recall", "report-verify", str(summary), *data])
    assert pending.exit_code == 1 and "NOT VERIFIED (PENDING)" in pending.output, pending.output
    assert cli.invoke(app, ["anchor", *data]).exit_code == 0
    good = cli.invoke(app, ["recall", "report-verify", str(summary), *data])
    assert good.exit_code == 0 and "VERIFIED (VALID)" in good.output, good.output
    assert f"recall {rid} summary.pdf" in good.output
    body = bytearray(summary.read_bytes())
    body[-20] ^= 0x01
    summary.write_bytes(bytes(body))
    bad = cli.invoke(app, ["recall", "report-verify", str(summary), *data])
    assert bad.exit_code == 1 and "NOT VERIFIED (NOT FILED)" in bad.output
    wrong = cli.invoke(
        app, ["recall", "report", str(rid), "--kind", "plan", "--format", "xlsx", "--out", str(out), *data]
    )
    assert wrong.exit_code != 0 and "expected pdf for the plan report" in wrong.output


def test_effectiveness_checks_and_a_drill_are_shown_as_the_ledger_has_them() -> None:
    """The ledger's shape of recall/effectiveness.py (checks drawn, some done) and of a drill."""
    from cradletrace.recall import documents
    from cradletrace.recall.recalls import RecallView
    from cradletrace.store.models import Recall

    t0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
    recall = Recall(id=7, reason="drill", severity="II", started_by="qa", started_at=t0, notice="{}",
                    notice_digest="0" * 64, lot_ref="0" * 64, notice_status="prepared")  # fmt: skip
    check = {"reached": True, "notice_received": True, "handled": True, "effective": True}
    ledger = {
        "drill": True,
        "sites": {"total": 2, "notified": 2, "answered": 1, "share_answered": 0.5, "without_contact": []},
        "site_list": [],
        "totals": {},
        "rows": [],
        "milestones": [],
        "without_consignee": {"shipments": 0, "quantity": {}},
        "effectiveness": {
            "checks": [
                {"site": "north-dc", "checked_at": t0.isoformat(), **check},
                {
                    "site": "east-dc",
                    "checked_at": t0.isoformat(),
                    **check,
                    "notice_received": False,
                    "effective": False,
                },
                {"site": "west-dc", "checked_at": None, "reached": None, "notice_received": None, "handled": None},
            ]
        },
    }
    facts = documents.Facts(RecallView(recall, ()), ledger, (), None, t0, "qa")
    written = flat(pdf_text(documents.render(facts, "written", "pdf")))
    assert "模拟召回（演练）MOCKRECALL(DRILL):Infantformularecall" in written
    assert "4.Effectivenesschecks(2)" in written and "north-dc2026-12-0108:00UTCeffective" in written
    assert "east-dc2026-12-0108:00UTCnoteffective:reachedyes,noticereceivedno,handledyes" in written
    sheet = load_workbook(io.BytesIO(documents.render(facts, "written", "xlsx")))["Effectiveness checks"]
    assert [c.value for c in sheet[2]][::2] == ["north-dc", "effective"] and sheet.max_row == 3
    assert "模拟召回" in flat(pdf_text(documents.render(facts, "display", "pdf")))

""" "Tell me if this can is recalled" in headless Chromium (zh and en), over a real SMTP server: a
parent subscribes on the can's scan page, gets the confirmation mail, follows its link and
confirms; the lot is recalled and the notice arrives with the RFC 8058 headers; unsubscribing
(the mail client's one-click POST in en, the page's button in zh) ends it, and the next recall
sends nothing. The pages keep the strict CSP. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from tests.api.conftest import FORMULA, Site, commission, open_site
from tests.browser import screenshot, watched_page
from tests.recall.notify_kit import smtp_server
from tests.recall.test_notices import runtime
from tests.test_recall_ack_browser import BASE, WAIT_MS, forward

pytestmark = pytest.mark.browser

WORDS = {
    "zh": ("此罐被召回时通知我", "请查收邮件", "订阅已确认", "已退订"),
    "en": ("Tell me if this can is recalled", "Check your inbox", "Subscription confirmed", "Unsubscribed"),
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Site, list[Any], str]]:
    with smtp_server() as (port, mail):
        settings = Settings(data_dir=tmp_path / "data")
        over = dict(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            notify_interval=0,
            ack_base_url=BASE,
            scan_rate_per_minute=0,
        )
        with open_site(settings, **over) as site:
            yield site, mail, commission(settings, "IF-0001", 1)[0].path


def recall(site: Site, reason: str) -> int:
    r = site.client.post(
        f"{API_PREFIX}/recalls",
        headers=site.auth("quality"),
        json={"reason": reason, "severity": "I", "lots": [f"{FORMULA}/IF-0001"]},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def url(msg: Any, route: str) -> str:
    m = re.search(rf"{re.escape(BASE)}/{route}/[0-9a-f]{{32}}(\?lang=en)?", msg.get_content())
    assert m, msg.get_content()
    return m.group(0)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_subscribe_confirm_be_told_and_unsubscribe(browser: Any, world: tuple[Site, list[Any], str], lang: str) -> None:
    site, mail, can = world
    title, check, confirmed, stopped = WORDS[lang]
    address = f"parent.{lang}@example.org"
    client = TestClient(site.client.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    pages = watched_page(browser.new_context(viewport={"width": 390, "height": 844}))
    page = pages.__enter__()
    try:
        page.route(re.compile(r"^https?://(?!localhost:8124/).*"), lambda r: r.abort())
        page.route(f"{BASE}/**", forward(client))
        assert page.goto(f"{BASE}{can}?lang={lang}").status == 200
        assert page.locator("#subscribe h2").inner_text() == title
        page.fill("#sub-email", address)
        screenshot(page, f"subscribe-form-{lang}")
        page.click("#sub-send")
        page.locator("#sub-result").wait_for(timeout=WAIT_MS)
        assert check in page.locator("#sub-result").inner_text()
        deliverer = runtime(site).deliverer
        assert deliverer.run_once().sent == 1
        (confirm,) = [m for m in mail if m["To"] == address]
        page.goto(url(confirm, "subscribe/confirm"))
        page.click("#sub-confirm")
        page.locator("#sub-result").wait_for(timeout=WAIT_MS)
        assert confirmed in page.locator("#sub-result").inner_text()
        screenshot(page, f"subscribe-confirmed-{lang}")

        rid = recall(site, "Cronobacter sakazakii")
        assert deliverer.run_once().sent == 1
        notice = [m for m in mail if m["To"] == address][-1]
        stop = url(notice, "unsubscribe")
        assert notice["List-Unsubscribe"] == f"<{stop}>"
        assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        page.goto(url(notice, "recall-notice"))
        assert "Cronobacter" in page.locator("#sub-reason").inner_text()
        if lang == "en":  # what a mail client's unsubscribe button sends (RFC 8058)
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            r = client.post(stop, content=b"List-Unsubscribe=One-Click", headers=form)
            assert r.status_code == 200 and stopped in r.text
        else:  # the link in the mail, then the page's button
            page.goto(stop)
            page.click("#sub-stop")
            page.locator("#sub-result").wait_for(timeout=WAIT_MS)
            assert stopped in page.locator("#sub-result").inner_text()
            screenshot(page, "unsubscribed-zh")
        ledger = site.client.get(f"{API_PREFIX}/recalls/{rid}/ledger", headers=site.auth("quality")).json()
        assert ledger["consumers"] == {"notified": 1, "reached": 1, "opened": 1, "failed": 0}
        if lang == "en":  # the console's recall detail shows the counts
            page.goto(f"{BASE}/console?lang=en")
            page.fill("#key", site.secrets["quality"])
            page.click("#key-use")
            page.locator("#recalls button[data-recall]").first.click()
            page.locator("#ledger-consumers").wait_for(timeout=WAIT_MS)
            assert page.locator("#ledger-consumers").inner_text() == "1/1 subscribers reached · 1 opened"
            screenshot(page, "console-ledger-subscribers-en")
        closed = site.client.post(
            f"{API_PREFIX}/recalls/{rid}/close", headers=site.auth("quality"), json={"reason": "done"}
        )
        assert closed.status_code == 200, closed.text
        before = len(mail)
        recall(site, "Salmonella")
        assert deliverer.run_once().tried == 0 and len(mail) == before  # unsubscribed: nothing
    finally:
        pages.__exit__(None, None, None)

"""Recall acknowledgements in headless Chromium: a consignee site opens its one-time link (zh and
en), is refused when it reports more than was shipped (the field and the shipped quantity named,
what it typed kept), answers, and is told a second answer is not taken; quality staff then see the
answers in the console's ledger. The page works with no script at all under the strict CSP.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from tests.api.conftest import FORMULA, Site, open_site
from tests.browser import screenshot, watched_page
from tests.recall.notify_kit import add_sites, record, shipments, smtp_server
from tests.recall.test_notices import deliver, link

pytestmark = pytest.mark.browser

BASE = "http://localhost:8124"
PASSED = ("content-type", "accept", "origin", "referer", "authorization")
IF1 = f"{FORMULA}/IF-0001"
WAIT_MS = 20_000


def forward(client: TestClient) -> Callable[[Any], None]:
    """A Playwright route handler answering from the app (as tests/test_portal_browser.py does)."""

    def handle(route: Any) -> None:
        request = route.request
        answer = client.request(
            request.method,
            request.url.removeprefix(BASE),
            content=request.post_data_buffer,
            headers={k: v for k, v in request.all_headers().items() if k.lower() in PASSED},
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        route.fulfill(status=answer.status_code, headers=headers, body=answer.content)

    return handle


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, dict[str, str]]]:
    with smtp_server() as (port, mail):
        settings = Settings(data_dir=Path(tmp_path_factory.mktemp("ack")) / "data")
        over = dict(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", notify_interval=0, ack_base_url=BASE)
        with open_site(settings, **over) as site:
            add_sites(settings, ["north-dc", "south-dc"])
            record(settings, shipments("IF-0001", {"north-dc": 1000.0, "south-dc": 400.0}))
            op = site.auth("operator")
            for sid in ("north-dc", "south-dc"):
                r = site.client.put(
                    f"{API_PREFIX}/suppliers/{sid}/contact", headers=op, json={"emails": [f"qa@{sid}.example"]}
                )
                assert r.status_code == 200, r.text
            r = site.client.post(
                f"{API_PREFIX}/recalls",
                headers=site.auth("quality"),
                json={"reason": "Cronobacter sakazakii", "severity": "I", "lots": [IF1]},
            )
            assert r.status_code == 201, r.text
            assert deliver(site).sent == 2
            tokens = {
                m["To"].split("@")[1].split(".")[0]: link(m.get_content().replace(BASE, "http://testserver"))
                for m in mail
            }
            yield site, tokens


def page_for(browser: Any, site: Site) -> tuple[Any, Any]:
    client = TestClient(site.client.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    pages = watched_page(browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False))
    page = pages.__enter__()
    page.route(re.compile(r"^https?://(?!localhost:8124/).*"), lambda r: r.abort())
    page.route(f"{BASE}/**", forward(client))
    return page, pages


@pytest.mark.parametrize(
    ("lang", "who", "heading", "thanks", "twice"),
    [
        ("zh", "north-dc", "召回通知确认", "已记录您的确认", "此链接已提交过确认"),
        ("en", "south-dc", "Recall notice acknowledgement", "Your acknowledgement is recorded", "already answered"),
    ],
)
def test_a_site_answers_once_in_its_language(
    browser: Any, world: tuple[Site, dict[str, str]], lang: str, who: str, heading: str, thanks: str, twice: str
) -> None:
    site, tokens = world
    shipped = {"north-dc": 1000, "south-dc": 400}[who]
    page, pages = page_for(browser, site)
    try:
        assert page.goto(f"{BASE}/ack/{tokens[who]}?lang={lang}").status == 200
        assert page.locator("h1").inner_text() == heading
        assert IF1 in page.locator("#ack-lines").inner_text()
        page.fill("#answered_by", "王芳 (质量经理)" if lang == "zh" else "Jane Roe, QA lead")
        page.fill("[name='lines[0].on_hand']", "10")
        page.fill("[name='lines[0].returned']", str(shipped))  # plus 10 on hand: more than was shipped
        page.click("#ack-send")
        problems = page.locator("#ack-problems")
        problems.wait_for(timeout=WAIT_MS)
        assert f"{shipped} cans shipped" in problems.inner_text()
        assert page.locator("[name='lines[0].returned']").input_value() == str(shipped)  # kept as typed
        screenshot(page, f"ack-refused-{lang}")
        page.fill("[name='lines[0].returned']", str(shipped - 30))
        page.fill("[name='lines[0].destroyed']", "20")
        page.click("#ack-send")
        page.locator("#ack-thanks").wait_for(timeout=WAIT_MS)
        assert thanks in page.locator("#ack-thanks").inner_text()
        screenshot(page, f"ack-recorded-{lang}")
        page.goto(f"{BASE}/ack/{tokens[who]}?lang={lang}")  # the link again: the answer, no form
        assert page.locator("#ack-form").count() == 0 and page.locator("#ack-done").is_visible()
        assert twice in page.locator("#ack-done").inner_text() or twice in page.content()
    finally:
        pages.__exit__(None, None, None)


def test_the_console_ledger_shows_the_answers(browser: Any, world: tuple[Site, dict[str, str]]) -> None:
    site, _ = world
    client = TestClient(site.client.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    pages = watched_page(browser.new_context(viewport={"width": 1280, "height": 900}))
    page = pages.__enter__()
    try:
        page.route(re.compile(r"^https?://(?!localhost:8124/).*"), lambda r: r.abort())
        page.route(f"{BASE}/**", forward(client))
        page.goto(f"{BASE}/console?lang=en")
        page.fill("#key", site.secrets["quality"])
        page.click("#key-use")
        page.locator("#recalls button[data-recall]").first.click()
        rows = page.locator("#ledger-rows tbody tr")
        rows.first.wait_for(timeout=WAIT_MS)
        assert rows.count() == 2
        answered = site.client.get(f"{API_PREFIX}/recalls/1/ledger", headers=site.auth("quality")).json()["sites"][
            "answered"
        ]
        assert page.locator("#ledger-answered strong").inner_text() == str(answered)
        north = page.locator("#ledger-rows tr[data-site='north-dc']").inner_text()
        assert "1000 cans" in north and "email: sent" in north
        assert page.locator("[data-milestone='all_notified'] strong").inner_text().startswith("+")
        screenshot(page, "console-ledger-en")
    finally:
        pages.__exit__(None, None, None)

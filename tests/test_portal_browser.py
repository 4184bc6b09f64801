"""The supplier portal in real headless Chromium (issue 15): signing in and out, a wrong key, an
idle session, CSRF, only one's own records, and keys made or imported in the browser (WebCrypto
Ed25519, non-extractable, kept in IndexedDB) whose public halves the server registers with their
key-log records. A signature the browser's stored key makes is checked here with the Python verifier.

The app runs in this process (tests/api's ``open_site``); the browser reaches it through a
Playwright route on http://localhost:8123 (a secure context, so WebCrypto is there) that forwards
each request with its cookie, Origin and CSRF header to a TestClient, and hands back Set-Cookie.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cradletrace import keylog
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.scanner_web.pages import strings
from cradletrace.store.models import EventRow, SupplierKey
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, MILK, A, B, Site, open_site
from tests.browser import screenshot, watched_page

pytestmark = pytest.mark.browser

BASE = "http://localhost:8123"
WAIT_MS = 20_000
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}
PASSED = ("content-type", "accept", "cookie", "origin", "referer", "x-csrf-token")
EN = {k.removeprefix("portal_"): v for k, v in strings()["en"].items() if k.startswith("portal_")}


def forward(client: TestClient) -> Callable[[Any], None]:
    """A Playwright route handler answering from the app; the browser keeps the cookies, not the client."""

    def handle(route: Any) -> None:
        request = route.request
        answer = client.request(
            request.method,
            request.url.removeprefix(BASE),
            content=request.post_data_buffer,
            headers={k: v for k, v in request.all_headers().items() if k.lower() in PASSED},
        )
        client.cookies.clear()
        headers = [
            {"name": k, "value": v}
            for k, v in answer.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding")
        ]
        route.fulfill(status=answer.status_code, headers={h["name"]: h["value"] for h in headers}, body=answer.content)
        cookies = answer.headers.get_list("set-cookie")
        assert len(cookies) <= 1

    return handle


def portal(browser: Any, site: Site, viewport: dict[str, int] = LAPTOP) -> tuple[Any, Iterator[Any]]:
    client = TestClient(site.client.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    pages = watched_page(browser.new_context(viewport=viewport))
    page = pages.__enter__()
    page.route(re.compile(r"^https?://(?!localhost:8123/).*"), lambda r: r.abort())
    page.route(f"{BASE}/**", forward(client))
    return page, pages


def sign_in(page: Any, site: Site, who: str, lang: str = "en") -> None:
    assert page.goto(f"{BASE}/supplier?lang={lang}").status == 200
    page.fill("#key", site.secrets[who])
    page.click("#signin")
    page.locator("#records-section").wait_for(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("portal")) / "data")) as s:
        yield s


def test_sign_in_history_and_sign_out(browser: Any, site: Site) -> None:
    page, pages = portal(browser, site)
    try:
        page.goto(f"{BASE}/supplier?lang=en")
        page.fill("#key", "ct_000000000000_" + "A" * 43)
        page.click("#signin")
        assert "API key not valid" in page.locator("#signin-error").inner_text()
        assert not page.context.cookies()
        screenshot(page, "portal-signin-refused-laptop")
        page.fill("#key", site.secrets["supplier_a"])
        page.click("#signin")
        page.locator("#records-section").wait_for(timeout=WAIT_MS)
        assert page.url == f"{BASE}/supplier/records?lang=en"
        [cookie] = page.context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/supplier"
        assert site.secrets["supplier_a"] not in cookie["value"]
        shown = {
            int(x) for x in page.locator("#records tr[data-event]").evaluate_all("rs => rs.map(r => r.dataset.event)")
        }
        with Workspace(site.settings) as ws, ws.session() as s:
            mine = {e.id for e in s.exec(select(EventRow).where(EventRow.supplier_id == A))}
        assert shown and shown <= mine
        assert page.locator("#records a.proof").count() == len(shown)  # the demo's records are anchored
        screenshot(page, "portal-records-laptop")
        with page.expect_download() as download:
            page.locator("#records a.proof").first.click()
        assert download.value.suggested_filename.startswith("cradletrace-proof-")
        page.click("#signout")
        page.locator("#signin-form").wait_for(timeout=WAIT_MS)
        assert not page.context.cookies()
        gone = page.evaluate("fetch('/supplier/records', {redirect: 'manual'}).then(r => r.type)")
        assert gone == "opaqueredirect"  # back to signing in
    finally:
        pages.__exit__(None, None, None)


def test_tablet_in_chinese_shows_only_own_records(browser: Any, site: Site) -> None:
    page, pages = portal(browser, site, TABLET)
    try:
        page.goto(f"{BASE}/supplier?lang=zh")
        screenshot(page, "portal-signin-tablet-zh")
        sign_in(page, site, "supplier_b", "zh")
        assert strings()["zh"]["portal_records_title"] in page.inner_text("#records-section h2")
        shown = {
            int(x) for x in page.locator("#records tr[data-event]").evaluate_all("rs => rs.map(r => r.dataset.event)")
        }
        with Workspace(site.settings) as ws, ws.session() as s:
            theirs = {e.id for e in s.exec(select(EventRow).where(EventRow.supplier_id != B))}
        assert shown and not shown & theirs
        screenshot(page, "portal-records-tablet-zh")
    finally:
        pages.__exit__(None, None, None)


def test_csrf_and_origin_are_refused(browser: Any, site: Site) -> None:
    page, pages = portal(browser, site)
    try:
        sign_in(page, site, "supplier_a")
        page.goto(f"{BASE}/supplier/keys?lang=en")
        raw = base64.b64encode(signing.generate_key_pair().public_key).decode()
        statuses = page.evaluate(
            """async (raw) => {
                const post = (headers) => fetch('/supplier/keys', {method: 'POST', headers: {
                    'Content-Type': 'application/json', ...headers}, body: JSON.stringify({public_key: raw})});
                const none = await post({});
                const wrong = await post({'X-CSRF-Token': '0'.repeat(64)});
                return [none.status, (await none.json()).detail, wrong.status];
            }""",
            raw,
        )
        assert statuses[0] == 403 and statuses[1].startswith("not allowed: csrf") and statuses[2] == 403
        with Workspace(site.settings) as ws, ws.session() as s:
            assert s.exec(select(SupplierKey).where(SupplierKey.public_key == raw)).first() is None
    finally:
        pages.__exit__(None, None, None)


def _stored_key(page: Any, key_id: str) -> dict[str, Any]:
    """What IndexedDB holds for ``key_id``: the private key's flags, and a signature it makes."""
    return page.evaluate(  # type: ignore[no-any-return]
        """async (keyId) => {
            const db = await new Promise((ok, no) => { const r = indexedDB.open('cradletrace-portal', 1);
                r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
            const entry = await new Promise((ok, no) => { const r = db.transaction('keys').objectStore('keys').get(keyId);
                r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
            db.close();
            const k = entry.private_key;
            let exported = 'refused';
            try { await crypto.subtle.exportKey('pkcs8', k); exported = 'exported'; } catch (e) {}
            const sig = await crypto.subtle.sign('Ed25519', k, new TextEncoder().encode('portal test'));
            return {extractable: k.extractable, algorithm: k.algorithm.name, exported,
                    signature: btoa(String.fromCharCode(...new Uint8Array(sig)))};
        }""",
        key_id,
    )


def _check_registered(site: Site, key_id: str, page: Any) -> None:
    with Workspace(site.settings) as ws, ws.session() as s:
        key = s.get(SupplierKey, key_id)
        assert key is not None and key.supplier_id == A and key.revoked_at is None
        history = keylog.key_records(s, [key_id])[key_id]
        assert history.registration is not None and history.revocation is None
        public = base64.b64decode(key.public_key)
    stored = _stored_key(page, key_id)
    assert stored["extractable"] is False and stored["algorithm"] == "Ed25519" and stored["exported"] == "refused"
    assert signing.verify_signature(public, b"portal test", stored["signature"])  # the browser holds this key


def test_make_a_key_on_this_device_and_revoke_it(browser: Any, site: Site) -> None:
    page, pages = portal(browser, site)
    try:
        sign_in(page, site, "supplier_a")
        page.goto(f"{BASE}/supplier/keys?lang=en")
        page.click("#make-key")
        status = page.locator("#key-status[data-key-id]")
        status.wait_for(timeout=WAIT_MS)
        key_id = status.get_attribute("data-key-id")
        assert status.inner_text() == EN["made"].format(key=key_id)
        _check_registered(site, key_id, page)
        page.locator(f'tr[data-key="{key_id}"].this-device').wait_for(timeout=WAIT_MS)  # after the reload
        screenshot(page, "portal-keys-made-laptop")
        page.locator(f'tr[data-key="{key_id}"] button.revoke').click()
        page.locator(f'tr[data-key="{key_id}"][data-revoked="true"]').wait_for(timeout=WAIT_MS)
        with Workspace(site.settings) as ws, ws.session() as s:
            assert keylog.key_records(s, [key_id])[key_id].revocation is not None
        page.wait_for_selector("body[data-keys-ready]")
        assert page.locator(f'tr[data-key="{key_id}"].this-device').count() == 0  # dropped from this browser
    finally:
        pages.__exit__(None, None, None)


@pytest.mark.parametrize("fresh", [True, False], ids=["new-pem", "supplier-add-pem"])
def test_import_a_pem(browser: Any, site: Site, fresh: bool) -> None:
    if fresh:
        pair = signing.generate_key_pair()
        pem, key_id = pair.private_pem.decode(), pair.key_id
    else:  # the key file 'cradletrace supplier add' wrote: registered already
        [path] = site.settings.keys_dir.glob(f"{A}.*.pem")
        pem, key_id = path.read_text(), path.name.split(".")[1]
    page, pages = portal(browser, site, TABLET)
    try:
        sign_in(page, site, "supplier_a")
        page.goto(f"{BASE}/supplier/keys?lang=en")
        page.fill("#pem", "not a key")
        page.click("#import-key")
        page.locator("#key-status.bad").wait_for(timeout=WAIT_MS)
        assert EN["bad_pem"] in page.inner_text("#key-status")
        page.fill("#pem", pem)
        page.click("#import-key")
        status = page.locator("#key-status[data-key-id]")
        status.wait_for(timeout=WAIT_MS)
        assert status.get_attribute("data-key-id") == key_id
        _check_registered(site, key_id, page)
        if fresh:
            screenshot(page, "portal-keys-imported-tablet")
    finally:
        pages.__exit__(None, None, None)


@pytest.fixture(scope="module")
def brief_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("brief")) / "data"), portal_idle_minutes=0.03) as s:
        yield s


def test_an_idle_session_expires(browser: Any, brief_site: Site) -> None:
    page, pages = portal(browser, brief_site)
    try:
        sign_in(page, brief_site, "supplier_a")
        page.wait_for_timeout(2_500)  # idle past 1.8 s
        page.click("#nav-keys")
        page.locator("#signin-form").wait_for(timeout=WAIT_MS)
        assert page.url == f"{BASE}/supplier?lang=en"
        screenshot(page, "portal-session-expired-laptop")
    finally:
        pages.__exit__(None, None, None)


def _fill_batch(page: Any, lot: str, produced: str, expires: str) -> None:
    page.select_option("#gtin", FORMULA)
    page.fill("#lot", lot)
    page.fill("#produced_on", produced)
    page.fill("#expires_on", expires)
    page.fill("#quantity", "4200.5")
    page.fill("#unit", "cans")
    page.fill("#site-name", "南阿尔卑斯营养 · Plant 2")
    page.fill("#site-address", "12 Dairy Rd, Timaru, New Zealand")
    page.fill("#site-lat", "-44.3967")
    page.fill("#site-lon", "171.2536")
    page.fill("#site-country", "nz")
    page.click("#add-input")
    page.locator("#inputs .in-lot").last.fill(f"{MILK}/RM-A1")
    page.locator("#inputs .in-quantity").last.fill("1.25e3")
    page.locator("#inputs .in-unit").last.fill("kg")


def test_batch_form_signs_in_the_browser_and_shows_refusals(browser: Any, site: Site) -> None:
    """The lot form: a refused submission shows the API's problem beside its field and stores nothing;
    then the previewed canonical JSON is canonical.py's bytes, the browser signs them, and the stored
    event carries exactly those bytes with a signature the Python verifier accepts."""
    [path] = site.settings.keys_dir.glob(f"{A}.*.pem")
    key_id = path.name.split(".")[1]
    page, pages = portal(browser, site)
    try:
        sign_in(page, site, "supplier_a")
        page.goto(f"{BASE}/supplier/keys?lang=en")
        page.fill("#pem", path.read_text())
        page.click("#import-key")
        page.locator("#key-status[data-key-id]").wait_for(timeout=WAIT_MS)
        page.goto(f"{BASE}/supplier/batch?lang=en")
        page.wait_for_selector("body[data-form-ready]")
        assert page.locator("#key-id option").all_inner_texts() == [key_id]  # only keys this browser holds
        before = site.event_count()
        _fill_batch(page, "IF-P1", "2026-03-02", "2026-03-01")  # expires before it is made
        page.click("#preview")
        page.click("#sign-submit")
        page.locator("#batch-status.bad").wait_for(timeout=WAIT_MS)
        problems = page.locator(".problem:not(:empty)").all_inner_texts()
        assert any("expected a date after produced_on" in p for p in problems), problems
        assert "nothing was stored" in page.inner_text("#batch-status")
        assert site.event_count() == before
        screenshot(page, "portal-batch-refused-laptop")
        page.fill("#expires_on", "2027-09-01")
        assert page.locator("#sign-submit").is_disabled()  # a change asks for a new preview
        page.click("#preview")
        shown = page.inner_text("#canonical")
        assert shown.encode() == canonical.canonical_bytes(json.loads(shown))
        event = json.loads(shown)
        assert (
            event["key"] == key_id and event["data"]["quantity"] == 4200.5 and event["data"]["site"]["country"] == "NZ"
        )
        assert event["data"]["inputs"] == [{"gtin": MILK, "lot": "RM-A1", "quantity": 1250, "unit": "kg"}]
        page.click("#sign-submit")
        status = page.locator("#batch-status[data-event-id]")
        status.wait_for(timeout=WAIT_MS)
        screenshot(page, "portal-batch-recorded-laptop")
        with Workspace(site.settings) as ws, ws.session() as s:
            row = s.get(EventRow, int(status.get_attribute("data-event-id")))
            assert row is not None and row.supplier_id == A and row.key_id == key_id
            assert row.body == shown  # the bytes the browser showed and signed are the bytes stored
            key = s.get(SupplierKey, key_id)
            assert key is not None
            assert signing.verify_signature(base64.b64decode(key.public_key), row.body.encode(), row.signature)
        page.click("#nav-records")
        page.locator(f'#records tr[data-event="{row.id}"][data-status="pending"]').wait_for(timeout=WAIT_MS)
    finally:
        pages.__exit__(None, None, None)


def test_batch_form_on_a_tablet_in_chinese(browser: Any, site: Site) -> None:
    page, pages = portal(browser, site, TABLET)
    try:
        sign_in(page, site, "supplier_a", "zh")
        page.goto(f"{BASE}/supplier/batch?lang=zh")
        page.wait_for_selector("body[data-form-ready]")
        assert strings()["zh"]["portal_no_device_key"] in page.inner_text("#batch-status")  # a new browser: no key yet
        _fill_batch(page, "IF-P2", "2026-03-02", "2027-03-01")
        page.click("#preview")
        assert "南阿尔卑斯营养" in page.inner_text("#canonical") and page.locator("#sign-submit").is_disabled()
        screenshot(page, "portal-batch-preview-tablet-zh")
    finally:
        pages.__exit__(None, None, None)

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
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cradletrace import keylog
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.scanner_web.pages import strings
from cradletrace.store.models import EventRow, SupplierKey
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, Site, open_site
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

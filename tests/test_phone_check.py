"""The scan page checks its records on the phone itself (issue 14, steps 1-4), in real headless
Chromium: SHA-256 of the signed bytes, the Ed25519 signature, the Merkle proof, and the root on
chain through the page's JSON-RPC URLs (here the embedded chain's own /rpc).

The app runs in this process (tests/api's ``packed_site``); the browser reaches it through a
Playwright route on http://localhost:8123 (a secure context, so WebCrypto is there), which
forwards each request to the app's TestClient. So the tests can tamper with the store and make
the server's own check say VALID regardless: what is caught is caught by the phone.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.merkle import leaf_hash
from cradletrace.demo import story
from cradletrace.scanner_web.pages import strings
from cradletrace.verification import EventVerifier
from tests.api.test_scan import Packs, packed_site, record, sql
from tests.browser import screenshot, watched_page

pytestmark = pytest.mark.browser

BASE = "http://localhost:8123"
RECORDS = 7  # the demo batch page: the batch, two raw-milk lots, two test reports, the shipment, its cold chain
WAIT_MS = 20_000


def forward(client: TestClient, seen: list[str]) -> Callable[[Any], None]:
    """A Playwright route handler answering from the app (and noting every URL asked for)."""

    def handle(route: Any) -> None:
        request = route.request
        seen.append(request.url)
        answer = client.request(
            request.method,
            request.url.removeprefix(BASE),
            content=request.post_data_buffer,
            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")},
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        route.fulfill(status=answer.status_code, headers=headers, body=answer.content)

    return handle


def open_scan(
    browser: Any,
    packs: Packs,
    block_rpc: bool = False,
    nodes: dict[str, Callable[[Any], None]] = {},  # noqa: B006
    lang: str = "en",
    path: str | None = None,
    init_script: str | None = None,
) -> tuple[Any, Iterator[Any], list[str]]:
    """The first can's page (or ``path``), its phone checks finished. ``nodes``: routes of public RPC URLs;
    ``init_script`` runs before the page's own scripts."""
    seen: list[str] = []
    pages = watched_page(
        browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, accept_downloads=True)
    )
    page = pages.__enter__()
    if init_script:
        page.add_init_script(init_script)
    page.route(re.compile(r"^https?://(?!localhost:8123/).*"), lambda r: (seen.append(r.request.url), r.abort()))
    page.route(f"{BASE}/**", forward(packs.client, seen))
    if block_rpc:
        page.route(f"{BASE}/rpc", lambda r: r.abort())
    for url, handler in nodes.items():
        page.route(url, handler)
    assert page.goto(BASE + (path or packs.cans[0].path) + f"?lang={lang}").status == 200
    page.locator("#phone-summary[data-phone-check]").wait_for(timeout=WAIT_MS)  # no eval: the CSP forbids it
    return page, pages, seen


def results(page: Any) -> list[tuple[str, str, str]]:
    """(server status, phone check, failed step) per record, in page order."""
    return [
        (b.get_attribute("data-status"), b.get_attribute("data-phone-check"), b.get_attribute("data-phone-step") or "")
        for b in page.locator(".badge[data-evidence]").all()
    ]


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("phone") / "data")
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        yield p


def test_every_record_is_verified_on_the_phone_through_rpc(browser: Any, packs: Packs) -> None:
    page, pages, seen = open_scan(browser, packs)
    try:
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        en = strings()["en"]
        lines = page.locator(".badge small.phone-check").all_inner_texts()
        assert len(lines) == RECORDS
        assert all(
            line.startswith(f"✓ {en['phone_verified']} ({en['block']} ") and en["phone_local"] in line for line in lines
        )
        assert all(t.startswith(en["phone_server"].strip()) for t in page.locator(".badge").all_inner_texts())
        summary = page.locator("#phone-summary")
        assert summary.get_attribute("data-phone-check") == "verified"
        assert summary.inner_text() == en["phone_summary"].format(
            verified=RECORDS, total=RECORDS, failed=0, unreachable=0
        )
        assert all(url.startswith(BASE + "/") for url in seen), seen  # nothing from anywhere else
        assert page.context.cookies() == [], "the scan page and its checks set no cookie"
        assert f"{BASE}/rpc" in seen
    finally:
        pages.__exit__(None, None, None)


def test_in_chinese_and_on_a_narrow_screen(browser: Any, packs: Packs) -> None:
    page, pages, _ = open_scan(browser, packs, lang="zh")
    try:
        zh = strings()["zh"]
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        assert page.locator("#phone-summary").inner_text() == zh["phone_summary"].format(
            verified=RECORDS, total=RECORDS, failed=0, unreachable=0
        )
        assert all(zh["phone_local"] in t for t in page.locator(".badge small.phone-check").all_inner_texts())
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "phone-check-zh")
    finally:
        pages.__exit__(None, None, None)


NO_WEBCRYPTO = "delete Crypto.prototype.subtle; delete globalThis.crypto.subtle;"


def test_without_webcrypto_the_vendored_libraries_check(browser: Any, packs: Packs) -> None:
    """A page over plain http has no crypto.subtle at all: SHA-256 and Ed25519 come from @noble."""
    page, pages, seen = open_scan(browser, packs, init_script=NO_WEBCRYPTO)
    try:
        assert page.evaluate("typeof crypto.subtle") == "undefined"
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        assert f"{BASE}/static/vendor/noble-hashes/sha2.js" in seen  # loaded only when needed
    finally:
        pages.__exit__(None, None, None)


def test_save_proof_downloads_the_bundle_the_phone_checked(browser: Any, packs: Packs) -> None:
    page, pages, _ = open_scan(browser, packs)
    try:
        badge = page.locator(".badge[data-evidence]").nth(1)
        link = badge.locator("a.save-proof")
        assert link.is_visible() and link.inner_text() == strings()["en"]["save_proof"]
        screenshot(page, "phone-check-save-proof")
        with page.expect_download() as got:
            link.click()
        saved = got.value.path().read_bytes()
        evidence = base64.b64decode(str(badge.get_attribute("data-evidence")))
        assert saved == evidence
        digest = json.loads(saved)["digest"]
        assert got.value.suggested_filename == f"cradletrace-proof-{digest[2:18]}.json"
    finally:
        pages.__exit__(None, None, None)


def test_rpc_out_of_reach_is_unreachable_never_failed(browser: Any, packs: Packs) -> None:
    page, pages, _ = open_scan(browser, packs, block_rpc=True)
    try:
        assert results(page) == [("VALID", "unreachable", "rpc")] * RECORDS
        assert page.locator("#phone-summary").get_attribute("data-phone-check") == "unreachable"
    finally:
        pages.__exit__(None, None, None)


def test_scripts_off_the_page_reads_as_before(browser: Any, packs: Packs) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.route(f"{BASE}/**", forward(packs.client, []))
        page.goto(BASE + packs.cans[0].path)
        assert [b.get_attribute("data-status") for b in page.locator(".badge").all()] == ["VALID"] * RECORDS
        assert page.locator("#phone-summary").is_hidden()
        assert page.locator("[data-phone-check]").count() == 0
    finally:
        context.close()


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    """A site whose server says VALID whatever its own check finds (the phone must not care)."""
    original = EventVerifier.verify

    def says_valid(self: EventVerifier, *args: Any) -> Any:
        verdict = original(self, *args)
        return dataclasses.replace(verdict, status="VALID", reasons=()) if verdict.status == "INVALID" else verdict

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EventVerifier, "verify", says_valid)
        settings = Settings(data_dir=tmp_path_factory.mktemp("tampered") / "data")
        with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
            yield p


def shown_events(page: Any) -> list[str]:
    """The digests of the page's records, in page order."""
    return [
        str(
            page.locator(".badge[data-evidence]")
            .nth(i)
            .evaluate("b => JSON.parse(atob(b.dataset.evidence)).digest.slice(2)")
        )
        for i in range(page.locator(".badge[data-evidence]").count())
    ]


def test_tampering_is_caught_on_the_phone_while_the_server_says_valid(browser: Any, tampered: Packs) -> None:
    page, pages, _ = open_scan(browser, tampered)
    try:
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        digests = shown_events(page)
    finally:
        pages.__exit__(None, None, None)
    s = tampered.settings
    # 1. changed bytes: one letter of the stored body (still JSON, still shown)
    assert sql(s, "UPDATE event SET body = replace(body, '\"data\"', '\"data\" ') WHERE digest = :d", d=digests[0]) == 1
    # 2. a signature by another key over the very bytes
    [(body,)] = sql(s, "SELECT body FROM event WHERE digest = :d", d=digests[1])
    other = signing.sign(Ed25519PrivateKey.generate(), body.encode("utf-8"))
    assert sql(s, "UPDATE event SET signature = :g WHERE digest = :d", g=other, d=digests[1]) == 1
    # 3. the proof of another leaf of the same tree
    [(proof,)] = sql(s, "SELECT proof FROM event WHERE digest = :d", d=digests[3])
    assert sql(s, "UPDATE event SET proof = :p WHERE digest = :d", p=proof, d=digests[2]) == 1
    page, pages, _ = open_scan(browser, tampered)
    try:
        got = results(page)
        assert got[:3] == [
            ("VALID", "failed", "digest"),
            ("VALID", "failed", "signature"),
            ("VALID", "failed", "proof"),
        ]
        assert got[3:] == [("VALID", "verified", "")] * (RECORDS - 3)
        assert page.locator("#phone-summary").get_attribute("data-phone-check") == "failed"
        en = strings()["en"]
        assert (
            page.locator(".badge small.phone-check").nth(0).inner_text()
            == f"✗ {en['phone_failed']}: {en['phone_step_digest']}"
        )
    finally:
        pages.__exit__(None, None, None)
    # 4. a root nobody anchored: a one-leaf tree of the record's own digest (the proof holds offline)
    fake = leaf_hash(bytes.fromhex(digests[4])).hex()
    sql(s, "UPDATE event SET proof = '' WHERE digest = :d", d=digests[4])
    assert (
        sql(
            s,
            "UPDATE anchor_batch SET root = :r WHERE id = (SELECT anchor_id FROM event WHERE digest = :d)",
            r=fake,
            d=digests[4],
        )
        == 1
    )
    page, pages, _ = open_scan(browser, tampered)
    try:
        assert results(page)[4] == ("VALID", "failed", "root")
    finally:
        pages.__exit__(None, None, None)


def test_evidence_is_the_proof_bundle_of_what_the_supplier_signed(packs: Packs) -> None:
    """Each record carries its proof bundle (/2, base64 of its JSON): the bytes are the stored body
    exactly, SHA-256 of them is the digest, and it is the bundle ``cradletrace proof`` exports."""
    page = packs.client.get(packs.cans[0].path).text
    shown = [json.loads(base64.b64decode(unescape(e))) for e in re.findall(r'data-evidence="([^"]*)"', page)]
    assert len(shown) == RECORDS
    for e in shown:
        assert set(e) == {
            "format",
            "bytes",
            "digest",
            "signature",
            "supplier",
            "proof",
            "root",
            "leaf_count",
            "chain",
            "key",
        }
        assert e["format"] == "cradletrace-proof-bundle/2" and e["root"] is not None
        registered = json.loads(base64.b64decode(e["key"]["registration"]["bytes"]))
        assert registered["kind"] == "key" and e["key"]["revocation"] is None
        assert registered["data"]["key_id"] == e["supplier"]["key_id"] and e["key"]["registration"]["root"]
        [(body,)] = sql(packs.settings, "SELECT body FROM event WHERE digest = :d", d=e["digest"][2:])
        assert base64.b64decode(e["bytes"]) == body.encode("utf-8")
        assert hashlib.sha256(base64.b64decode(e["bytes"])).hexdigest() == e["digest"][2:]
        exported = packs.client.get(f"/api/v1/events/{e['digest'][2:]}/proof", headers=packs.site.auth("operator"))
        assert exported.json() == e, "the page's bundle is the exported one"
    assert page.count('class="save-proof"') == RECORDS


# -- two public RPC URLs: both asked, a disagreement flagged -----------------------------------------

NODES = ("https://rpc-a.example.org/", "https://rpc-b.example.org/")


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("public") / "data", public_rpc_urls=",".join(NODES))  # type: ignore[arg-type]
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        yield p


def node(client: TestClient, asked: list[str], lie: bool = False) -> Callable[[Any], None]:
    """A JSON-RPC node answering from the embedded chain (through the app's /rpc); a lying one
    says no root is anchored (four zero words for every anchorOf)."""

    def handle(route: Any) -> None:
        cors = {"access-control-allow-origin": "*", "access-control-allow-headers": "content-type"}
        if route.request.method == "OPTIONS":  # the CORS preflight of a JSON POST
            route.fulfill(status=204, headers=cors)
            return
        body = json.loads(route.request.post_data_buffer)
        asked.append(body["method"])
        answer = client.post("/rpc", json=body).json()
        if lie and body["method"] == "eth_call":
            answer["result"] = "0x" + "0" * 256
        route.fulfill(status=200, headers=cors | {"content-type": "application/json"}, body=json.dumps(answer))

    return handle


def test_two_nodes_are_asked_and_a_lying_one_is_flagged(browser: Any, public: Packs) -> None:
    a: list[str] = []
    b: list[str] = []
    page, pages, _ = open_scan(
        browser, public, nodes={NODES[0] + "**": node(public.client, a), NODES[1] + "**": node(public.client, b)}
    )
    try:
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        assert "eth_call" in a and "eth_call" in b
    finally:
        pages.__exit__(None, None, None)
    page, pages, _ = open_scan(
        browser,
        public,
        nodes={NODES[0] + "**": node(public.client, a), NODES[1] + "**": node(public.client, b, lie=True)},
    )
    try:
        assert results(page) == [("VALID", "failed", "disagree")] * RECORDS
    finally:
        pages.__exit__(None, None, None)
    page, pages, _ = open_scan(
        browser, public, nodes={NODES[0] + "**": lambda r: r.abort(), NODES[1] + "**": lambda r: r.abort()}
    )
    try:
        assert results(page) == [("VALID", "unreachable", "rpc")] * RECORDS
    finally:
        pages.__exit__(None, None, None)


def test_a_record_not_yet_anchored_gets_the_offline_checks_only(browser: Any, packs: Packs) -> None:
    """Runs last on ``packs``: it adds a record (anchored again at the end)."""
    report = copy.deepcopy(next(e for e in story(datetime.now(UTC)) if e["kind"] == "test_report"))
    report["data"]["document"]["uri"] = "https://lab.example/reports/retest.pdf"  # type: ignore[index]
    record(packs.settings, [report])
    page, pages, _ = open_scan(browser, packs)
    try:
        got = results(page)
        assert got.count(("PENDING", "verified", "")) == 1 and got.count(("VALID", "verified", "")) == RECORDS
        line = page.locator(".badge[data-status=PENDING] small.phone-check").inner_text()
        assert line == f"✓ {strings()['en']['phone_unanchored']}"
    finally:
        pages.__exit__(None, None, None)
    assert packs.client.post("/api/v1/anchor", headers=packs.site.auth("operator")).json()["events"] == 1

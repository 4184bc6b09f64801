"""The self-contained verifier page (scanner_web/static/verify.html), in real headless Chromium.

One committed file, built by scripts/build-verify-page.mjs: it must be up to date, load nothing,
check the demo's bundles from file:// against anvil's JSON-RPC and, served at /verify, against the
embedded chain's /rpc under a CSP that allows exactly its inline script. Tampered bundles fail at
their step, malformed ones give a message naming the field, and without WebCrypto the vendored
@noble libraries check, as strictly as libsodium (small-order keys and R, S >= L refused).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.merkle import build_tree
from cradletrace.devstack.nodes import REPO_ROOT
from cradletrace.scanner_web.pages import strings
from tests.api.test_scan import Packs, packed_site
from tests.browser import screenshot, watched_page
from tests.builders import run_node
from tests.test_bundle_independent import anvil_bundles, offline_bundle  # noqa: F401  (a fixture)
from tests.test_phone_check import BASE, NO_WEBCRYPTO, forward
from tests.test_verification import signed_event, with_event

pytestmark = [pytest.mark.browser, pytest.mark.node]

PAGE = REPO_ROOT / "scanner_web" / "static" / "verify.html"
Bundle = dict[str, Any]
WAIT_MS = 20_000


def test_the_committed_page_is_built_from_its_sources() -> None:
    result = run_node(["node", "scripts/build-verify-page.mjs", "--check"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_page_is_one_file_that_loads_nothing() -> None:
    page = PAGE.read_text("utf-8")
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|url\(", page)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts == [' type="application/json" id="strings"', ""]  # one data block, one inline script
    assert "fetch(" in page and "import(" not in page  # the fallback library is bundled, not loaded


def open_page(browser: Any, url: str, init_script: str | None = None) -> tuple[Any, Iterator[Any]]:
    pages = watched_page(browser.new_context(viewport={"width": 360, "height": 740}))
    page = pages.__enter__()
    if init_script:
        page.add_init_script(init_script)
    page.goto(url)
    page.locator("html[data-ready=true]").wait_for(timeout=WAIT_MS)
    return page, pages


def verdict(page: Any, text: str) -> tuple[str, str, str]:
    """Paste ``text``, press Check: (data-verify, data-step, the detail line)."""
    page.fill("#paste", text)
    page.click("#check")
    page.locator("#result:not([data-verify=pending])").wait_for(timeout=WAIT_MS)
    box = page.locator("#result")
    return box.get_attribute("data-verify"), box.get_attribute("data-step"), page.locator("#detail").inner_text()


@pytest.fixture
def offline_page(browser: Any, anvil_node: str) -> Iterator[Any]:
    """The committed file opened from file://, in English, asking anvil."""
    page, pages = open_page(browser, PAGE.as_uri() + "?lang=en")
    page.fill("#rpc", anvil_node)
    try:
        yield page
    finally:
        pages.__exit__(None, None, None)


def test_demo_bundles_verify_from_file_against_anvil(
    offline_page: Any,
    anvil_bundles: tuple[Settings, list[Bundle]],
    tmp_path: Path,
) -> None:
    _, bundles = anvil_bundles
    page = offline_page
    for b in bundles:
        assert verdict(page, json.dumps(b))[:2] == ("verified", "")
    en = strings()["en"]
    shown = page.locator("#verdict").inner_text()
    assert shown.startswith("✓ " + en["verify_verified"].split("{")[0])
    assert f"block {bundles[-1]['chain']['block_number']}" in shown and "31337" in shown
    # by the file picker
    path = tmp_path / "cradletrace-proof.json"
    path.write_text(json.dumps(bundles[2]), "utf-8")
    page.fill("#paste", "")
    page.set_input_files("#file", str(path))
    expect(page.locator("#paste")).to_have_value(path.read_text("utf-8"), timeout=WAIT_MS)  # then checked at once
    page.locator("#result[data-verify=verified]").wait_for(timeout=WAIT_MS)
    # by a drop on the drop zone
    page.fill("#paste", "")
    page.evaluate(
        """text => { const t = new DataTransfer(); t.items.add(new File([text], "p.json"));
           document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: t, bubbles: true})); }""",
        json.dumps(bundles[3]),
    )
    expect(page.locator("#paste")).to_have_value(json.dumps(bundles[3]), timeout=WAIT_MS)
    page.locator("#result[data-verify=verified]").wait_for(timeout=WAIT_MS)
    # in Chinese, the same answer
    page.click("#lang")
    assert page.locator("#verdict").inner_text().startswith("✓ " + strings()["zh"]["verify_verified"].split("{")[0])


def _bytes_changed(b: Bundle) -> None:
    event = signed_event(b)
    event["data"]["edited"] = True
    with_event(b, event)


def _signature_of_another_key(b: Bundle) -> None:
    other = signing.load_private_key(signing.generate_key_pair().private_pem)
    b["signature"] = signing.sign(other, base64.b64decode(b["bytes"]))


def _another_supplier(b: Bundle) -> None:
    b["supplier"]["id"] = "another-supplier"


def _proof_of_another_leaf(b: Bundle) -> None:
    b["proof"][0] = "0x" + "11" * 32


def _root_not_on_chain(b: Bundle) -> None:
    digest = bytes.fromhex(b["digest"][2:])
    tree = build_tree([digest, hashlib.sha256(b"nobody's leaf").digest()])
    b.update(root="0x" + tree.root.hex(), proof=["0x" + p.hex() for p in tree.proof(digest)], leaf_count=2)


def _another_chain_id(b: Bundle) -> None:
    b["chain"]["chain_id"] = 1


def _no_contract_there(b: Bundle) -> None:
    b["chain"]["contract"] = "0x" + "12" * 20


def _another_leaf_count(b: Bundle) -> None:
    b["leaf_count"] += 1


def _not_anchored_yet(b: Bundle) -> None:
    b.update(root=None, leaf_count=None, proof=[])


@pytest.mark.parametrize(
    ("tamper", "state", "step"),
    [
        (_bytes_changed, "failed", "digest"),
        (_signature_of_another_key, "failed", "signature"),
        (_another_supplier, "failed", "supplier"),
        (_proof_of_another_leaf, "failed", "proof"),
        (_root_not_on_chain, "failed", "root"),
        (_another_chain_id, "failed", "chain"),
        (_no_contract_there, "failed", "contract"),
        (_another_leaf_count, "failed", "leaves"),
        (_not_anchored_yet, "unanchored", ""),
    ],
)
def test_a_tampered_bundle_fails_at_its_step(
    offline_page: Any,
    anvil_bundles: tuple[Settings, list[Bundle]],
    tamper: Callable[[Bundle], None],
    state: str,
    step: str,
) -> None:
    _, bundles = anvil_bundles
    b = copy.deepcopy(bundles[0])
    tamper(b)
    assert verdict(offline_page, json.dumps(b))[:2] == (state, step)
    if state == "failed":
        en = strings()["en"]
        assert offline_page.locator("#verdict").inner_text() == f"✗ {en['verify_failed']}: {en[f'phone_step_{step}']}"


def test_an_unreachable_node_is_could_not_check(
    offline_page: Any,
    anvil_bundles: tuple[Settings, list[Bundle]],
) -> None:
    offline_page.fill("#rpc", "http://127.0.0.1:9")
    assert verdict(offline_page, json.dumps(anvil_bundles[1][0]))[:2] == ("unreachable", "rpc")


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda b: "{not json", "bundle: expected JSON text"),
        (lambda b: "[1, 2]", "bundle: expected a JSON object"),
        (lambda b: json.dumps(b | {"format": "cradletrace-proof-bundle/1"}), "format: expected"),
        (
            lambda b: json.dumps({k: v for k, v in b.items() if k != "digest"}),
            "digest: expected 0x and 64 hex digits, got nothing",
        ),
        (lambda b: json.dumps(b | {"root": "0x12zz"}), "root: expected 0x and 64 hex digits"),
        (lambda b: json.dumps(b | {"proof": ["0x" + "1" * 63]}), "proof[0]: expected 0x and 64 hex digits"),
        (lambda b: json.dumps(b | {"bytes": "not base64!"}), "bytes: expected standard base64 text"),
        (
            lambda b: json.dumps(b | {"chain": {**b["chain"], "contract": "0x12"}}),
            "chain.contract: expected 0x and 40 hex",
        ),
        (lambda b: json.dumps(b | {"signature": "AAAA"}), "signature: expected 64 bytes once base64-decoded"),
        (lambda b: json.dumps(b | {"supplier": "x"}), "supplier: expected a JSON object"),
        (lambda b: "", "bundle: expected JSON text"),
    ],
)
def test_a_malformed_bundle_gets_a_message_naming_the_field(
    offline_page: Any,
    anvil_bundles: tuple[Settings, list[Bundle]],
    make: Callable[[Bundle], str],
    named: str,
) -> None:
    state, step, detail = verdict(offline_page, make(copy.deepcopy(anvil_bundles[1][0])))
    assert (state, step) == ("malformed", "format") and named in detail, detail
    assert offline_page.locator("#verdict").inner_text() == "✗ " + strings()["en"]["verify_malformed"]


# -- without WebCrypto: the vendored @noble libraries, as strict as libsodium ----------------------

L = 2**252 + 27742317777372353535851937790883648493


def _signed(event: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    pair = signing.generate_key_pair()
    event["key"] = pair.key_id
    signature = base64.b64decode(signing.sign(signing.load_private_key(pair.private_pem), canonical_bytes(event)))
    return pair.public_key, signature, canonical_bytes(event)


def _with_key_record(bundle: dict[str, Any], event: dict[str, Any], pub: bytes) -> dict[str, Any]:
    """``bundle`` with "key": the key log's (not yet anchored) record registering ``pub``."""
    registration: dict[str, Any] = {
        "kind": "key",
        "supplier": "cradletrace-key-log",
        "data": {
            "action": "register",
            "supplier": event["supplier"],
            "key_id": event["key"],
            "public_key": base64.b64encode(pub).decode(),
            "at": "2026-12-01T00:00:00+00:00",
            "backfilled": False,
        },
    }
    log_pub, log_sig, _ = _signed(registration)
    record = offline_bundle(registration, log_pub, log_sig) | {"root": None, "leaf_count": None}
    return bundle | {"key": {"registration": record, "revocation": None}}


def test_without_webcrypto_the_library_checks_as_strictly(browser: Any) -> None:
    page, pages = open_page(browser, PAGE.as_uri() + "?lang=en", init_script=NO_WEBCRYPTO)
    try:
        assert page.evaluate("typeof crypto.subtle") == "undefined"
        event: dict[str, Any] = {"kind": "batch", "supplier": "s", "data": {"lot": "L1"}}
        pub, sig, _ = _signed(event)
        good = _with_key_record(offline_bundle(event, pub, sig) | {"root": None, "leaf_count": None}, event, pub)
        assert verdict(page, json.dumps(good))[:2] == ("unanchored", "")
        assert verdict(page, json.dumps(good | {"key": None}))[:2] == ("failed", "key")
        # S + L: the same signature to a lax verifier, refused here as libsodium refuses it
        s = int.from_bytes(sig[32:], "little") + L
        assert s < 2**256
        high = good | {"signature": base64.b64encode(sig[:32] + s.to_bytes(32, "little")).decode()}
        assert verdict(page, json.dumps(high))[:2] == ("failed", "signature")
        flipped = bytearray(sig)
        flipped[40] ^= 1
        assert verdict(page, json.dumps(good | {"signature": base64.b64encode(bytes(flipped)).decode()}))[:2] == (
            "failed",
            "signature",
        )
        # the identity key: R = identity, S = 0 verifies for every message with OpenSSL alone
        identity = bytes([1]) + bytes(31)
        weak_event = {"key": signing.key_id(identity), "kind": "batch", "supplier": "s"}
        weak = offline_bundle(weak_event, identity, identity + bytes(32)) | {"root": None, "leaf_count": None}
        assert verdict(page, json.dumps(weak))[:2] == ("failed", "signature")
    finally:
        pages.__exit__(None, None, None)


# -- served at /verify ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("verify-page") / "data")
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        yield p


def test_served_at_verify_with_its_own_csp_and_the_servers_rpc(browser: Any, site: Packs) -> None:
    answer = site.client.get("/verify")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    [script] = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", answer.text, re.DOTALL)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert answer.headers["content-security-policy"] == (
        f"default-src 'none'; script-src {sha(script)}; style-src {sha(style)}; img-src 'self'; "
        "connect-src 'self' https:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert answer.text.replace('data-rpc-urls="[&quot;/rpc&quot;]"', 'data-rpc-urls="[]"') == PAGE.read_text("utf-8")
    evidence = re.findall(r'data-evidence="([^"]*)"', site.client.get(site.cans[0].path).text)
    bundle = json.loads(base64.b64decode(evidence[3]))  # what "Save proof" saves
    seen: list[str] = []
    pages = watched_page(browser.new_context(locale="zh-CN"))
    try:
        page = pages.__enter__()
        page.route(re.compile(r"^https?://(?!localhost:8123/).*"), lambda r: (seen.append(r.request.url), r.abort()))
        page.route(f"{BASE}/**", forward(site.client, seen))
        page.goto(f"{BASE}/verify")
        page.locator("html[data-ready=true]").wait_for(timeout=WAIT_MS)
        assert page.input_value("#rpc") == f"{BASE}/rpc"
        assert page.locator("#title").inner_text() == strings()["zh"]["verify_title"]  # no ?lang: the browser's
        assert verdict(page, json.dumps(bundle))[:2] == ("verified", "")
        assert page.locator("#local").is_visible()  # the embedded chain proves less: said so
        screenshot(page, "verify-page-zh")
        _bytes_changed(bundle)
        assert verdict(page, json.dumps(bundle))[:2] == ("failed", "digest")
        assert all(url.startswith(BASE + "/") for url in seen), seen
    finally:
        pages.__exit__(None, None, None)

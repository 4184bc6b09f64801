"""The scan page's own checks against a real chain: the records are anchored on anvil and the
browser asks anvil itself over JSON-RPC (issue 14: "tests in Chromium, against anvil over JSON-RPC").

The second public RPC URL is a real HTTP server on 127.0.0.1 in front of the same anvil. Told to
lie, it answers ``anchorOf`` with another root status (no anchor, or another leaf count) while
anvil tells the truth: the page must flag the disagreement. With only the liar configured, the
root is simply not on chain. A page that states another contract or another chain id than the
one its records were anchored on fails at the root or the chain step.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cradletrace import keylog, suppliers
from cradletrace.config import Settings
from cradletrace.demo import story
from cradletrace.devstack.nodes import free_port
from cradletrace.scan.cache import ViewCache
from cradletrace.scanner_web import pages
from cradletrace.scanner_web.pages import strings
from cradletrace.store.models import SupplierKey
from cradletrace.verification import read_bundle, verify_bundle_on
from cradletrace.workspace import Workspace, init_workspace
from tests.api.test_scan import Packs, packed_site, record
from tests.browser import watched_page
from tests.test_bundle_independent import node_verify
from tests.test_phone_check import BASE, RECORDS, WAIT_MS, forward, results

pytestmark = [pytest.mark.browser, pytest.mark.node]

ZERO_WORDS = "0x" + "0" * 256  # anchorOf of a root nobody anchored


class Node:
    """An HTTP JSON-RPC endpoint on 127.0.0.1 passing every call to anvil; ``lie`` rewrites answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lie: Callable[[dict[str, Any], str], str] | None = None
        self.asked: list[str] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _cors(self) -> None:
                self.send_header("access-control-allow-origin", "*")
                self.send_header("access-control-allow-headers", "content-type")

            def do_OPTIONS(self) -> None:  # the CORS preflight of a JSON POST
                self.send_response(204)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                call = json.loads(raw)
                node.asked.append(call["method"])
                request = urllib.request.Request(node.upstream, raw, {"content-type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as r:
                    answer = json.loads(r.read())
                if node.lie is not None and "result" in answer:
                    answer["result"] = node.lie(call, answer["result"])
                body = json.dumps(answer).encode()
                self.send_response(200)
                self._cors()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def liar(anvil_node: str) -> Iterator[Node]:
    node = Node(anvil_node)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def on_anvil(tmp_path_factory: pytest.TempPathFactory, anvil_node: str, liar: Node) -> Iterator[Packs]:
    """The demo lot recorded and anchored on anvil; the page's RPC URLs: anvil, then the proxy."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("phone-anvil") / "data",
        rpc_url=anvil_node,
        public_rpc_urls=f"{anvil_node},{liar.url}",  # type: ignore[arg-type]
    )
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        yield p


def open_page(browser: Any, packs: Packs) -> tuple[Any, Any]:
    """The first can's page with its phone checks done; the browser reaches 127.0.0.1 itself. The
    page comes from a Playwright route, which Chromium places in the public address space, so the
    context is granted what a phone's user would grant a public page asking a node on this machine."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.grant_permissions(["local-network-access"])
    pages_ = watched_page(context)
    page = pages_.__enter__()
    page.route(f"{BASE}/**", forward(packs.client, []))
    assert page.goto(BASE + packs.cans[0].path).status == 200
    page.locator("#phone-summary[data-phone-check]").wait_for(timeout=WAIT_MS)
    return page, pages_


def checked(browser: Any, packs: Packs) -> list[tuple[str, str, str]]:
    page, pages_ = open_page(browser, packs)
    try:
        return results(page)
    finally:
        pages_.__exit__(None, None, None)


def restate(monkeypatch: pytest.MonkeyPatch, change: dict[str, str]) -> None:
    """Make the page state ``change`` among its root's chain attributes (pages rendered before are
    not reused: the rendering is kept with the lot's view)."""
    stated = pages._chain_attrs

    def restated(chain: Any) -> dict[str, str] | None:
        attrs = stated(chain)
        assert attrs is not None
        return attrs | change

    monkeypatch.setattr(pages, "_chain_attrs", restated)
    monkeypatch.setattr(ViewCache, "kept", lambda self, gtin, lot: None)


def anchor_of(call: dict[str, Any], result: str, rewrite: Callable[[str], str]) -> str:
    """``result`` rewritten when ``call`` is an eth_call (anchorOf is the only one the page makes)."""
    return rewrite(result) if call["method"] == "eth_call" else result


def test_anvil_and_an_honest_second_node_verify_every_record(browser: Any, on_anvil: Packs, liar: Node) -> None:
    liar.lie, liar.asked[:] = None, []
    page, pages_ = open_page(browser, on_anvil)
    try:
        assert results(page) == [("VALID", "verified", "")] * RECORDS
        lines = page.locator(".badge small.phone-check").all_inner_texts()
        said = re.compile(r"\d{4}-\d{2}-\d{2}, Hardhat/anvil \(test\) \(\S+ 31337\)")
        assert all(said.search(line) for line in lines), lines
    finally:
        pages_.__exit__(None, None, None)
    assert {"eth_chainId", "eth_call"} <= set(liar.asked)  # both nodes were asked


@pytest.mark.parametrize(
    ("rewrite", "what"),
    [
        (lambda out: ZERO_WORDS, "no anchor at all"),
        (lambda out: out[: 2 + 64 * 2] + f"{RECORDS + 1:064x}" + out[2 + 64 * 3 :], "another leaf count"),
        (lambda out: out[:2] + f"{1:064x}" + out[66:], "another block"),
    ],
)
def test_a_node_that_lies_about_the_root_is_flagged_against_anvil(
    browser: Any, on_anvil: Packs, liar: Node, rewrite: Callable[[str], str], what: str
) -> None:
    liar.lie = lambda call, result: anchor_of(call, result, rewrite)
    try:
        assert checked(browser, on_anvil) == [("VALID", "failed", "disagree")] * RECORDS, what
    finally:
        liar.lie = None


def test_only_a_lying_node_configured_the_root_is_not_on_chain(
    browser: Any, on_anvil: Packs, liar: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    restate(monkeypatch, {"data-rpc-urls": json.dumps([liar.url])})
    liar.lie = lambda call, result: anchor_of(call, result, lambda out: ZERO_WORDS)
    try:
        assert checked(browser, on_anvil) == [("VALID", "failed", "root")] * RECORDS
    finally:
        liar.lie = None


def test_a_page_stating_another_contract_or_chain_fails_on_the_phone(
    browser: Any, on_anvil: Packs, anvil_node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records' roots are on the site's contract; the page names another (a second TraceAnchor
    deployed on the same anvil, where those roots were never anchored), or another chain id. Each
    record's bundle names the chain and contract it was anchored on, so the phone refuses at once
    (step "chain") to take the page's chain for the record's."""
    ws, chain = init_workspace(Settings(data_dir=tmp_path / "other", rpc_url=anvil_node))
    with ws:
        other = chain.contract_address
    for change, step in (({"data-contract": other}, "chain"), ({"data-chain-id": "8453"}, "chain")):
        with monkeypatch.context() as m:
            restate(m, change)
            assert checked(browser, on_anvil) == [("VALID", "failed", step)] * RECORDS, change


# -- the signing key's own records (step 5) ---------------------------------------------------------

LAB = "canterbury-lab"


def _lab_report(days: int) -> dict[str, object]:
    """Another lab report on the can's lot, sampled ``days`` after the demo's."""
    report = copy.deepcopy(
        next(e for e in story(datetime.now(UTC)) if e["kind"] == "test_report" and e["supplier"] == LAB)
    )
    data: Any = report["data"]
    for day in ("sampled_on", "reported_on"):
        data[day] = (date.fromisoformat(data[day]) + timedelta(days=days)).isoformat()
    return report


def _anchor(packs: Packs) -> None:
    assert packs.client.post("/api/v1/anchor", headers=packs.site.auth("operator")).status_code == 200


@pytest.fixture(scope="module")
def key_cases(tmp_path_factory: pytest.TempPathFactory, anvil_node: str) -> Iterator[tuple[Packs, str, str, str]]:
    """The demo on anvil, and two lab reports a dishonest server slipped in: one signed with a key
    the key log registered only after the report was anchored (a key made without its record, the
    worker's backfill kept from running, the record written later as if live), one signed with a
    key revoked (and the revocation anchored) before the report was; and an honest one signed with a
    key older than the key log, whose record the worker wrote (backfilled) after. Their digests."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("phone-keys") / "data",
        rpc_url=anvil_node,
        public_rpc_urls=anvil_node,  # type: ignore[arg-type]
    )
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as packs:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(suppliers, "_log", lambda *a: None)
            m.setattr(keylog, "log_unlogged_keys", lambda *a: 0)
            with Workspace(settings) as ws, ws.session() as s:
                late, _ = suppliers.rotate_key(s, settings.keys_dir, LAB)
                late_id = late.key_id
            [unlogged] = record(settings, [_lab_report(3)])
            _anchor(packs)
        with Workspace(settings) as ws, ws.session() as s:
            key = s.get(SupplierKey, late_id)
            assert key is not None
            keylog.log_key(s, settings.keys_dir, key, "register")  # written now, not marked backfilled
            revoked, _ = suppliers.rotate_key(s, settings.keys_dir, LAB)
            revoked_id = revoked.key_id
        with Workspace(settings) as ws, ws.session() as s:
            suppliers.revoke_key(s, settings.keys_dir, revoked_id)
        _anchor(packs)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(suppliers, "active_key", lambda s, sid: s.get(SupplierKey, revoked_id))
            m.setattr(suppliers, "refusal", lambda *a: None)
            [after_revocation] = record(settings, [_lab_report(4)])
        _anchor(packs)
        with pytest.MonkeyPatch.context() as m:  # a key from before the key log: no record when it signed
            m.setattr(suppliers, "_log", lambda *a: None)
            m.setattr(keylog, "log_unlogged_keys", lambda *a: 0)
            with Workspace(settings) as ws, ws.session() as s:
                suppliers.rotate_key(s, settings.keys_dir, LAB)
            [older] = record(settings, [_lab_report(5)])
            _anchor(packs)
        _anchor(packs)  # the worker's run logs the key now, marked backfilled, dated when it was made
        yield packs, unlogged.digest, after_revocation.digest, older.digest


def test_a_key_logged_after_the_record_or_revoked_before_it_fails_on_the_phone(
    browser: Any, key_cases: tuple[Packs, str, str, str]
) -> None:
    packs, unlogged, after_revocation, older = key_cases
    page, pages_ = open_page(browser, packs)
    try:
        by_digest = {
            json.loads(base64.b64decode(b.get_attribute("data-evidence")))["digest"][2:]: (
                b.get_attribute("data-phone-check"),
                b.get_attribute("data-phone-step") or "",
            )
            for b in page.locator(".badge[data-evidence]").all()
        }
        assert by_digest.pop(unlogged) == ("failed", "key")
        assert by_digest.pop(after_revocation) == ("failed", "revoked")
        assert set(by_digest.values()) == {("verified", "")} and len(by_digest) == RECORDS + 1
        lines = {
            json.loads(base64.b64decode(b.get_attribute("data-evidence")))["digest"][2:]: b.locator(
                "small.phone-check"
            ).inner_text()
            for b in page.locator(".badge[data-evidence]").all()
        }
        backfilled = strings()["zh"]["phone_key_backfilled"]
        assert backfilled in lines.pop(older)
        assert not any(backfilled in line for line in lines.values())
    finally:
        pages_.__exit__(None, None, None)


def test_the_same_bundles_fail_in_verify_bundle_and_the_node_verifier(
    key_cases: tuple[Packs, str, str, str], anvil_node: str
) -> None:
    packs, unlogged, after_revocation, older = key_cases
    bundle = packs.client.get(f"/api/v1/events/{older}/proof", headers=packs.site.auth("operator")).json()
    assert json.loads(base64.b64decode(bundle["key"]["registration"]["bytes"]))["data"]["backfilled"] is True
    verdict = verify_bundle_on(packs.settings, read_bundle(json.dumps(bundle)))
    assert verdict.status == "VALID" and any("predates the key log" in n for n in verdict.notes), verdict
    checked_by_node = node_verify(bundle, anvil_node)
    assert checked_by_node["ok"] is True and "predates the key log" in checked_by_node["reason"]
    for digest, step, reason in ((unlogged, "key", "key unproven"), (after_revocation, "revoked", "key revoked")):
        bundle = packs.client.get(f"/api/v1/events/{digest}/proof", headers=packs.site.auth("operator")).json()
        verdict = verify_bundle_on(packs.settings, read_bundle(json.dumps(bundle)))
        assert verdict.status == "INVALID" and verdict.reasons[0].startswith(reason), verdict
        assert node_verify(bundle, anvil_node)["failed"] == step

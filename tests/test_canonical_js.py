"""The browser's canonical bytes (scanner_web/static/canonical.js) are canonical.py's, byte for byte.

Over the shared corpus (tests/vectors/canonical-corpus.json, checked against canonical.py by
tests/core/test_canonical_corpus.py), in Node and in real Chromium loading the module as the app
serves it under its Content-Security-Policy; what canonical.py refuses, canonical.js refuses too,
naming the path. And in Chromium a supplier's signature works end to end: WebCrypto Ed25519 signs
canonical.js's bytes of an event and trace/core/signing.py verifies them as canonical.py's.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import random
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.main import create_app
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import parse_event
from cradletrace.devstack.nodes import REPO_ROOT
from cradletrace.workspace import init_workspace
from tests.browser import watched_page
from tests.builders import run_node
from tests.canonical_corpus import CORPUS, events
from tests.test_phone_check import BASE, forward

RUNNER = REPO_ROOT / "tests" / "js" / "canonical-corpus.mjs"
WAIT_MS = 20_000


def corpus() -> dict[str, Any]:
    return json.loads(CORPUS.read_text("utf-8"))  # type: ignore[no-any-return]


def assert_same_as_canonical_py(answers: dict[str, Any]) -> None:
    """``answers``: what tests/js/canonical-corpus.mjs's run() returned."""
    expected = corpus()
    docs = answers["documents"]
    assert [d["name"] for d in docs] == [d["name"] for d in expected["documents"]]
    for got, want in zip(docs, expected["documents"], strict=True):
        assert "error" not in got, f"{want['name']}: canonical.js refused it: {got['error']}"
        assert bytes.fromhex(got["hex"]) == want["canonical"].encode("utf-8"), want["name"]
    refused = answers["refused"]
    assert [d["name"] for d in refused] == [d["name"] for d in expected["refused"]]
    for got, want in zip(refused, expected["refused"], strict=True):
        assert got.get("kind") == "CanonicalError", f"{want['name']}: {got}"
        assert got["where"] == want["where"], want["name"]
        assert got["error"].startswith(f"{want['where']}: expected "), got["error"]
    assert answers["unrepresentable"], "the JavaScript-only cases ran"
    for got in answers["unrepresentable"]:
        assert got.get("kind") == "CanonicalError", f"{got['name']}: {got}"
        assert got["where"] == got["expected"], got["name"]
        assert re.match(rf"^{re.escape(got['where'] + ': ' if got['where'] else '')}expected ", got["error"]), got


@pytest.mark.node
def test_node_writes_canonical_py_bytes() -> None:
    result = run_node(["node", str(RUNNER.relative_to(REPO_ROOT))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_as_canonical_py(json.loads(result.stdout))


# Doubles given by their bits (so no parser stands between), written by canonical.js.
DOUBLES_IN_NODE = """
import { canonicalText } from "./scanner_web/static/canonical.js";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const view = new DataView(new ArrayBuffer(8));
const values = JSON.parse(input).map((bits) => (view.setBigUint64(0, BigInt("0x" + bits)), view.getFloat64(0)));
process.stdout.write(canonicalText(values));
"""


@pytest.mark.node
def test_node_writes_numbers_as_canonical_py_does() -> None:
    """20 000 finite doubles: random bit patterns (every exponent), random integers up to 2^64 and
    short decimals, where the shortest round-trip digits and the exponent switch at 1e21 and 1e-7 bite."""
    rng = random.Random(8785)
    values = [struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0] for _ in range(10_000)]
    values += [float(rng.getrandbits(rng.randint(1, 64))) * rng.choice((1, -1)) for _ in range(5_000)]
    values += [round(rng.uniform(-1e3, 1e3), rng.randint(0, 6)) * 10.0 ** rng.randint(-30, 30) for _ in range(5_000)]
    values = [v for v in values if math.isfinite(v)]
    bits = [struct.pack(">d", v).hex() for v in values]
    result = run_node(["node", "--input-type=module", "-e", DOUBLES_IN_NODE], stdin_text=json.dumps(bits))
    assert result.returncode == 0, result.stderr
    got = result.stdout.encode("utf-8")
    want = canonical_bytes(values)  # type: ignore[arg-type]
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        near = slice(max(at - 60, 0), at + 20)
        pytest.fail(f"canonical.js writes {got[near]!r} where canonical.py writes {want[near]!r}")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An empty app (also used by tests/test_coldchain_js.py): any of its pages carries its CSP."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("app")) / "data")
    ws, _ = init_workspace(settings)
    with ws:
        pass
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@contextmanager
def page_with_runner(browser: Any, client: TestClient, runner: Path, seen: list[str]) -> Iterator[Any]:
    """A watched page on one of the app's pages (so its CSP applies), the app answering every request
    to it but /test-only/<runner's name>, which is ``runner``; outside requests are noted and refused."""
    with watched_page(browser.new_context()) as page:
        page.route(re.compile(r"^https?://(?!localhost:8123/).*"), lambda r: (seen.append(r.request.url), r.abort()))
        page.route(f"{BASE}/**", forward(client, seen))
        page.route(
            f"{BASE}/test-only/{runner.name}",
            lambda r: r.fulfill(status=200, content_type="text/javascript", body=runner.read_bytes()),
        )
        assert page.goto(f"{BASE}/console?lang=en").status == 200
        yield page


# In the page: canonical.js as the app serves it, the corpus runner, then a supplier's signature.
IN_PAGE = """async ([corpus, event]) => {
  const canonical = await import("/static/canonical.js");
  const { run } = await import("/test-only/canonical-corpus.mjs");
  const answers = run(canonical, corpus);
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  event.key = hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16);  // the key id, as signing.key_id
  const bytes = canonical.canonicalBytes(event);
  const signature = await crypto.subtle.sign("Ed25519", pair.privateKey, bytes);
  return { answers, event, publicKey: b64(raw), bytes: b64(bytes), signature: b64(signature) };
}"""


@pytest.mark.browser
def test_chromium_writes_canonical_py_bytes_and_signs_them(browser: Any, client: TestClient) -> None:
    seen: list[str] = []
    with page_with_runner(browser, client, RUNNER, seen) as page:
        report = next(e for name, e in events() if e["kind"] == "test_report")  # µ, nested lists, floats
        out = page.evaluate(IN_PAGE, [corpus(), report])
    assert f"{BASE}/static/canonical.js" in seen and f"{BASE}/static/vendor/canonicalize/canonicalize.js" in seen
    assert all(url.startswith(BASE + "/") for url in seen), seen
    assert_same_as_canonical_py(out["answers"])

    # The Python verifier checks the browser's signature over canonical.py's bytes of the event.
    public_key, signature = base64.b64decode(out["publicKey"]), out["signature"]
    signed = copy.deepcopy(report) | {"key": signing.key_id(public_key)}
    assert out["event"] == signed
    message = canonical_bytes(signed)
    assert base64.b64decode(out["bytes"]) == message
    assert signing.public_key_problem(public_key) is None
    assert signing.verify_signature(public_key, message, signature)
    assert parse_event(message).key == signing.key_id(public_key)
    tampered = message.replace(b'"lead"', b'"Lead"')
    assert tampered != message and not signing.verify_signature(public_key, tampered, signature)

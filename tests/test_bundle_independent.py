"""Proof bundles (/2, and /1 still read) checked by a second, independent verifier (tests/js/verify-bundle.mjs, Node).

The Node verifier imports nothing of cradletrace: it follows docs/proof-bundle.md with node:crypto,
the npm ``canonicalize`` (RFC 8785) and ``@openzeppelin/merkle-tree`` packages and raw JSON-RPC. Bundles
of the demo's events, anchored on anvil, must pass it and ``verify_bundle`` alike, and every tampering
must be caught by it at the step the document names (and refused by ``verify_bundle`` too).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.merkle import build_tree, keccak256
from cradletrace.devstack.nodes import REPO_ROOT
from cradletrace.verification import read_bundle, verify_bundle_on
from cradletrace.workspace import init_workspace
from tests.builders import run_node
from tests.test_verification import as_v1, demo_bundles, signed_event, with_event

pytestmark = pytest.mark.node

VERIFIER = "tests/js/verify-bundle.mjs"
Bundle = dict[str, Any]
Bundles = tuple[Settings, list[Bundle]]


def node_verify(bundle: Bundle | str, rpc_url: str | None = None) -> dict[str, Any]:
    """The Node verifier's one JSON line for ``bundle`` (a dict, or raw text) given on stdin."""
    text = bundle if isinstance(bundle, str) else json.dumps(bundle)
    result = run_node(["node", VERIFIER, "-", *(["--rpc-url", rpc_url] if rpc_url else [])], stdin_text=text)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and result.stderr == "", result
    out: dict[str, Any] = json.loads(lines[0])
    assert set(out) == {"ok", "failed", "reason"} and result.returncode == (0 if out["ok"] else 1), result
    return out


def python_status(settings: Settings, bundle: Bundle) -> str:
    """``verify_bundle``'s verdict (a chain the bundle cannot be checked on is INVALID too, saying why)."""
    return str(verify_bundle_on(settings, read_bundle(json.dumps(bundle))).status)


@pytest.fixture(scope="module")
def anvil_bundles(tmp_path_factory: pytest.TempPathFactory, anvil_node: str) -> Bundles:
    """Bundles of the demo's events, recorded and anchored on anvil (a bundle check never reads the store)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("anvil-bundles") / "data", rpc_url=anvil_node)
    return settings, demo_bundles(settings)


def test_demo_bundles_verify_independently_and_with_verify_bundle(anvil_bundles: Bundles, anvil_node: str) -> None:
    settings, bundles = anvil_bundles
    assert len(bundles) >= 7 and len({b["root"] for b in bundles}) == 1
    for b in bundles:
        out = node_verify(b, anvil_node)
        assert out["ok"] is True and out["failed"] is None, out
        assert f"anchored in block {b['chain']['block_number']}" in out["reason"]
        assert python_status(settings, b) == "VALID"
    offline = node_verify(bundles[0])
    assert offline["ok"] is True and "chain was not asked" in offline["reason"]


def test_key_order_and_whitespace_do_not_matter(anvil_bundles: Bundles, anvil_node: str) -> None:
    """/2: the signed bytes are the bytes, whatever the bundle's own layout. /1: they are the
    event's canonical form, not the bundle's text."""
    settings, bundles = anvil_bundles
    b = copy.deepcopy(bundles[-1])
    assert node_verify(json.dumps(dict(reversed(list(b.items()))), indent=3), anvil_node)["ok"] is True
    old = as_v1(b)
    old["event"] = dict(reversed(list(old["event"].items())))
    assert node_verify(json.dumps(old, indent=3), anvil_node)["ok"] is True
    assert python_status(settings, old) == "VALID"


def test_the_key_proofs_are_checked_by_both_verifiers(anvil_bundles: Bundles, anvil_node: str) -> None:
    """Step 5: "key" holds the key log's record of the signing key; the demo's pass. Another
    event's bundle in its place, a missing "key", or the registration of another key fail at "key"."""
    settings, bundles = anvil_bundles
    assert all(json.loads(base64.b64decode(b["key"]["registration"]["bytes"]))["kind"] == "key" for b in bundles)
    other = next(b for b in bundles if b["supplier"]["key_id"] != bundles[0]["supplier"]["key_id"])
    swaps: list[Any] = [
        {"registration": copy.deepcopy(bundles[1]), "revocation": None},
        None,
        {"registration": None, "revocation": None},
        copy.deepcopy(other["key"]),
    ]
    for key in swaps:
        b = copy.deepcopy(bundles[0]) | {"key": key}
        out = node_verify(b, anvil_node)
        assert out["failed"] == "key", (key, out)
        assert python_status(settings, b) == "INVALID"


def test_a_bundle_not_anchored_yet_holds_offline_and_is_not_valid(anvil_bundles: Bundles, anvil_node: str) -> None:
    settings, bundles = anvil_bundles
    b = copy.deepcopy(bundles[0])
    b.update(root=None, leaf_count=None, proof=[])
    out = node_verify(b, anvil_node)
    assert (out["ok"], out["failed"]) == (False, "pending") and "not anchored yet" in out["reason"], out
    assert python_status(settings, b) == "PENDING"


# -- tampering: each caught at its step -----------------------------------------------------------


def _changed_bytes(b: Bundle, _: list[Bundle]) -> None:
    event = signed_event(b)
    event["data"]["quantity"] += 1
    with_event(b, event)


def _bytes_of_another_supplier(b: Bundle, _: list[Bundle]) -> None:
    """The supplier's own signed bytes, and a bundle claiming them for someone else."""
    b["supplier"]["id"] = "another-supplier"


def _changed_digest(b: Bundle, _: list[Bundle]) -> None:
    b["digest"] = "0x" + hashlib.sha256(b"another event").hexdigest()


def _signature_from_another_key(b: Bundle, _: list[Bundle]) -> None:
    other = signing.load_private_key(signing.generate_key_pair().private_pem)
    b["signature"] = signing.sign(other, base64.b64decode(b["bytes"]))


def _another_key_with_its_signature(b: Bundle, _: list[Bundle]) -> None:
    """The other key, its id and its signature: the event's own ``key`` still names the supplier's."""
    pair = signing.generate_key_pair()
    b["signature"] = signing.sign(signing.load_private_key(pair.private_pem), base64.b64decode(b["bytes"]))
    b["supplier"].update(public_key=base64.b64encode(pair.public_key).decode(), key_id=pair.key_id)


def _proof_of_another_leaf(b: Bundle, others: list[Bundle]) -> None:
    b["proof"] = next(o["proof"] for o in others if o["proof"] != b["proof"])


def _root_not_on_chain(b: Bundle, _: list[Bundle]) -> None:
    """A true proof, to a root nobody anchored: only the chain can tell."""
    digest = bytes.fromhex(b["digest"][2:])
    tree = build_tree([digest, hashlib.sha256(b"a leaf of nobody's batch").digest()])
    b["root"] = "0x" + tree.root.hex()
    b["proof"] = ["0x" + p.hex() for p in tree.proof(digest)]
    b["leaf_count"] = 2


def _wrong_leaf_count(b: Bundle, _: list[Bundle]) -> None:
    b["leaf_count"] += 1


def _wrong_chain_id(b: Bundle, _: list[Bundle]) -> None:
    b["chain"]["chain_id"] = 1


def _wrong_contract(b: Bundle, _: list[Bundle]) -> None:
    b["chain"]["contract"] = "0x" + "12" * 20


@pytest.mark.parametrize(
    ("tamper", "step", "words"),
    [
        (_changed_bytes, "digest", "content changed"),
        (_changed_digest, "digest", "content changed"),
        (_bytes_of_another_supplier, "supplier", "supplier.id: expected"),
        (_signature_from_another_key, "signature", "does not verify"),
        (_another_key_with_its_signature, "signature", "event.key"),
        (_proof_of_another_leaf, "proof", "does not lead"),
        (_root_not_on_chain, "root", "root not on chain"),
        (_wrong_leaf_count, "root", "leaves, the bundle says"),
        (_wrong_chain_id, "chain_id", "expected chain id 1"),
        (_wrong_contract, "contract", "found no code"),
    ],
)
def test_tampering_is_caught_at_its_step(
    anvil_bundles: Bundles, anvil_node: str, tamper: Callable[[Bundle, list[Bundle]], None], step: str, words: str
) -> None:
    settings, bundles = anvil_bundles
    b = copy.deepcopy(bundles[0])
    tamper(b, bundles)
    out = node_verify(b, anvil_node)
    assert (out["ok"], out["failed"]) == (False, step) and words in out["reason"], out
    assert python_status(settings, b) == "INVALID"


def test_another_trace_anchor_does_not_hold_the_root(anvil_bundles: Bundles, anvil_node: str, tmp_path: Path) -> None:
    """The contract is the bundle's own: a second TraceAnchor on the same chain knows nothing of its root."""
    settings, bundles = anvil_bundles
    ws, other = init_workspace(Settings(data_dir=tmp_path / "data", rpc_url=anvil_node))
    ws.close()
    b = copy.deepcopy(bundles[0])
    b["chain"]["contract"] = other.contract_address
    out = node_verify(b, anvil_node)
    assert (out["ok"], out["failed"]) == (False, "root") and "root not on chain" in out["reason"], out
    assert python_status(settings, b) == "INVALID"


def test_offline_steps_need_no_chain(anvil_bundles: Bundles) -> None:
    _, bundles = anvil_bundles
    b = copy.deepcopy(bundles[0])
    _proof_of_another_leaf(b, bundles)
    assert node_verify(b)["failed"] == "proof"
    b = copy.deepcopy(bundles[0])
    _root_not_on_chain(b, bundles)
    assert node_verify(b)["ok"] is True  # only the chain knows which roots were anchored


# -- malformed bundles: a message naming the field, no stack trace ---------------------------------


def _drop(field: str) -> Callable[[Bundle], object]:
    return lambda b: b.pop(field) and None  # None: the bundle itself is given, not what was dropped


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda b: "{not json", "expected valid JSON"),
        (lambda b: "[]", "bundle: expected a JSON object"),
        (lambda b: b.update(format="cradletrace-proof-bundle/3"), "format: expected"),
        (_drop("bytes"), "bytes: expected base64"),
        (
            lambda b: b.update(bytes="bm90IGpzb24=", digest="0x" + hashlib.sha256(b"not json").hexdigest()),
            "bytes: expected the UTF-8 JSON text",
        ),
        (lambda b: b.update(digest="0x1234"), "digest: expected 0x and 64 hex digits"),
        (lambda b: b["proof"].__setitem__(1, "zz"), "proof[1]: expected 0x and 64 hex digits"),
        (lambda b: b["chain"].pop("chain_id"), "chain.chain_id: expected an integer"),
        (lambda b: b["supplier"].update(public_key="not base64!"), "supplier.public_key: expected base64"),
        (lambda b: b.update(signature="AAAA"), "signature: expected 64 bytes"),
    ],
)
def test_malformed_bundle_gives_a_clear_message(
    anvil_bundles: Bundles, anvil_node: str, make: Callable[[Bundle], object], words: str
) -> None:
    _, bundles = anvil_bundles
    b = copy.deepcopy(bundles[0])
    made = make(b)
    out = node_verify(made if isinstance(made, str) else b, anvil_node)
    assert out["ok"] is False and words in out["reason"], out
    assert out["failed"] in {"format", "bytes", "signature"}


def test_unreachable_node_and_usage_are_reported_not_thrown(anvil_bundles: Bundles) -> None:
    _, bundles = anvil_bundles
    out = node_verify(bundles[0], "http://127.0.0.1:9")
    assert (out["ok"], out["failed"]) == (False, "rpc") and "eth_chainId" in out["reason"], out
    result = run_node(["node", VERIFIER])
    assert result.returncode == 1 and json.loads(result.stdout)["failed"] == "usage", result


def test_selectors_in_the_verifier_and_the_document_match_the_abi() -> None:
    """The verifier spells anchorOf/isAnchored/verifyLeaf selectors by hand; the ABI decides them."""
    abi = json.loads((REPO_ROOT / "trace/contracts/TraceAnchor.json").read_text())["abi"]
    wanted = {"anchorOf", "isAnchored", "verifyLeaf"}
    selectors = {
        f["name"]: keccak256(f"{f['name']}({','.join(i['type'] for i in f['inputs'])})".encode())[:4].hex()
        for f in abi
        if f.get("type") == "function" and f["name"] in wanted
    }
    source = (REPO_ROOT / VERIFIER).read_text()
    doc = (Path(REPO_ROOT) / "docs/proof-bundle.md").read_text()
    for name in wanted:
        assert re.search(rf"{name}: \"{selectors[name]}\"", source), name
        assert f"0x{selectors[name]}" in doc, name


# -- bundles made by hand: the two JCS implementations agree, the strict signature rule holds -------


def offline_bundle(event: dict[str, Any], public_key: bytes, signature: bytes) -> Bundle:
    """A one-leaf bundle for ``event`` (root = its leaf), good for the offline steps only."""
    digest = hashlib.sha256(canonical_bytes(event)).digest()
    return {
        "format": "cradletrace-proof-bundle/2",
        "bytes": base64.b64encode(canonical_bytes(event)).decode(),
        "digest": "0x" + digest.hex(),
        "signature": base64.b64encode(signature).decode(),
        "supplier": {
            "id": event.get("supplier", "s"),
            "key_id": signing.key_id(public_key),
            "public_key": base64.b64encode(public_key).decode(),
        },
        "proof": [],
        "root": "0x" + build_tree([digest]).root.hex(),
        "leaf_count": 1,
        "chain": {"chain_id": 31337, "contract": "0x" + "12" * 20},
    }


def test_canonical_bytes_agree_on_awkward_values() -> None:
    """Numbers in ECMAScript form, UTF-16 key order (astral keys), escapes: cradletrace's JCS and npm's agree."""
    pair = signing.generate_key_pair()
    event: dict[str, Any] = {
        "key": pair.key_id,
        "numbers": [1e21, 1e-7, 5e-324, 0.1 + 0.2, -0.0, 1.2345678901234568e20, 2**53 - 1, 1.5e300],
        "strings": ['\u2028\u0000\t"\\/', "é", "😀", "\u007f"],
        "\U0001f600": 1,
        "\uffff": 2,
        "a": {"b": [], "": None, "B": True},
    }
    message = canonical_bytes(event)
    signature = base64.b64decode(signing.sign(signing.load_private_key(pair.private_pem), message))
    out = node_verify(as_v1(offline_bundle(event, pair.public_key, signature)))  # /1: the bytes are made by JCS
    assert out["ok"] is True, (out, message)


def test_small_order_key_is_refused_as_libsodium_does() -> None:
    """Under the identity key, R = identity and S = 0 verify for every message in OpenSSL alone."""
    identity = bytes([1]) + bytes(31)
    event = {"key": signing.key_id(identity), "kind": "batch", "supplier": "s"}
    bundle = offline_bundle(event, identity, identity + bytes(32))
    assert not signing.verify_signature(identity, canonical_bytes(event), bundle["signature"])
    out = node_verify(bundle)
    assert (out["ok"], out["failed"]) == (False, "signature") and "large order" in out["reason"], out

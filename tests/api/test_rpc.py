"""The embedded chain's read-only JSON-RPC view (POST /rpc) and what the scan page tells a phone
about the chain (issue 14): web3 reads the same through /rpc as the anchor does itself; all
else is refused before the chain is touched; the body, batch and request rate are bounded."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from cradletrace.api.main import create_app
from cradletrace.api.middleware import CSP, DOCS_CSP, csp
from cradletrace.chain.rpcview import MAX_BATCH
from cradletrace.chain.web3anchor import Web3Anchor, artifact
from cradletrace.config import Settings
from cradletrace.devstack.nodes import free_port, start_anvil
from cradletrace.workspace import init_workspace
from tests.api.test_scan import JSON, Packs, client_at, packed_site

PUBLIC = ("https://rpc.example-network.org/v1/key", "https://RPC2.example.org:8443", "http://127.0.0.1:8545")
PUBLIC_ORIGINS = ("https://rpc.example-network.org", "https://rpc2.example.org:8443", "http://127.0.0.1:8545")
REPO = Path(__file__).resolve().parents[2]


class ViaApp(JSONBaseProvider):
    """web3 talking JSON-RPC to the app's /rpc, as a phone's library would."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        answer = self.client.post("/rpc", content=self.encode_rpc_request(method, params))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("rpc") / "data")
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        yield p


def anchor_of(packs: Packs) -> Web3Anchor:
    return packs.client.app.state.runtime.chain()  # type: ignore[attr-defined,no-any-return]


def rpc(client: TestClient, body: object) -> Any:
    r = client.post("/rpc", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    return r.json()


def req(method: str, params: object = None, rid: object = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, **({} if params is None else {"params": params})}


def call_data(anchor: Web3Anchor, fn: str, *args: object) -> str:
    return str(anchor.contract.encode_abi(fn, args=list(args)))


# -- what is served answers what web3 would -----------------------------------------------------------


def test_web3_reads_through_rpc_what_the_anchor_reads_itself(packs: Packs) -> None:
    anchor = anchor_of(packs)
    phone = Web3(ViaApp(packs.client))
    anchored = anchor.roots()[0]
    random_root = os.urandom(32)
    assert phone.eth.chain_id == anchor.chain_id
    assert phone.eth.block_number == anchor.block_number() > 0
    for n in ("latest", 0, anchored.block_number):
        assert phone.eth.get_block(n) == anchor.w3.eth.get_block(n)
    assert phone.eth.get_block(anchored.block_number)["transactions"]  # hashes, as asked
    contract = phone.eth.contract(address=anchor.contract_address, abi=artifact()["abi"])
    block, ts, count, submitter = contract.functions.anchorOf(anchored.root).call()
    assert (block, ts, count, submitter) == (
        anchored.block_number,
        int(anchored.block_time.timestamp()),
        anchored.leaf_count,
        anchored.submitter,
    )
    assert contract.functions.isAnchored(anchored.root).call() is True
    assert contract.functions.anchorOf(random_root).call()[0] == 0 and anchor.lookup(random_root) is None
    assert contract.functions.isAnchored(random_root).call() is False
    assert contract.functions.noticeOf(random_root).call() == anchor.contract.functions.noticeOf(random_root).call()
    assert contract.functions.verifyLeaf(random_root, random_root, []).call() is anchor.verify_leaf(
        random_root, random_root, []
    )
    # At a given block: before the root's block it was not there yet.
    before = contract.functions.isAnchored(anchored.root).call(block_identifier=anchored.block_number - 1)
    assert before is False


def test_raw_answers_are_in_the_nodes_wire_format(packs: Packs) -> None:
    anchor = anchor_of(packs)
    root = anchor.roots()[0].root
    data = call_data(anchor, "anchorOf", root)
    answers = rpc(
        packs.client,
        [
            req("eth_chainId", [], "a"),
            req("eth_blockNumber", None, 2),
            req("eth_getBlockByNumber", ["0x0", False], 3),
            req("eth_call", [{"to": anchor.contract_address.lower(), "data": data}, "latest"], 4),
            req("eth_call", [{"to": anchor.contract_address, "input": data}], 5),
            req("eth_getBlockByNumber", [hex(10**9), False], 6),
        ],
    )
    raw = "0x" + bytes(anchor.w3.eth.call({"to": anchor.contract_address, "data": data})).hex()  # type: ignore[typeddict-item]
    assert answers == [
        {"jsonrpc": "2.0", "id": "a", "result": hex(anchor.chain_id)},
        {"jsonrpc": "2.0", "id": 2, "result": hex(anchor.block_number())},
        {"jsonrpc": "2.0", "id": 3, "result": answers[2]["result"]},
        {"jsonrpc": "2.0", "id": 4, "result": raw},
        {"jsonrpc": "2.0", "id": 5, "result": raw},
        {"jsonrpc": "2.0", "id": 6, "result": None},  # a block the chain does not have, as a node answers
    ]
    header = answers[2]["result"]
    assert header["number"] == "0x0" and header["hash"] == anchor.w3.eth.get_block(0)["hash"].to_0x_hex()
    assert all(isinstance(v, (str, list)) for v in header.values())  # quantities and data as hex


# -- everything else is refused, and changes nothing -------------------------------------------------


def refusals(anchor: Web3Anchor) -> list[tuple[dict[str, object], int]]:
    us, other = anchor.contract_address, "0x" + "11" * 20
    root = "0x" + "ab" * 32
    view = call_data(anchor, "isAnchored", root)
    tx = {"from": str(anchor.sender), "to": us, "data": call_data(anchor, "anchor", root, 1)}
    return [
        (req("eth_sendTransaction", [tx]), -32601),
        (req("eth_sendRawTransaction", ["0x00"]), -32601),
        (req("eth_accounts", []), -32601),
        (req("eth_getLogs", [{}]), -32601),
        (req("eth_getBalance", [us, "latest"]), -32601),
        (req("evm_mine", []), -32601),
        (req("hardhat_setBalance", [us, "0x1"]), -32601),
        (req("eth_call", [{"to": other, "data": view}, "latest"]), -32602),
        (req("eth_call", [{"data": view}, "latest"]), -32602),
        (req("eth_call", [{"to": us, "data": call_data(anchor, "anchor", root, 1)}]), -32602),  # not a view
        (req("eth_call", [{"to": us, "data": call_data(anchor, "grantRole", root, us)}]), -32602),
        (req("eth_call", [{"to": us, "data": call_data(anchor, "hasRole", root, us)}]), -32602),  # a view, not served
        (req("eth_call", [{"to": us, "data": view[:-2]}]), -32602),  # cut short
        (req("eth_call", [{"to": us, "data": view + "00"}]), -32602),  # trailing bytes
        (req("eth_call", [{"to": us, "data": "0x" + view[2:].upper() + "z"}]), -32602),
        (req("eth_call", [{"to": us, "data": view, "value": "0x1"}]), -32602),
        (req("eth_call", [{"to": us, "data": view, "from": us, "gas": "0x1"}]), -32602),
        (req("eth_call", [{"to": us, "data": view, "input": "0x"}]), -32602),
        (req("eth_call", [{"to": us, "data": view}, "pending"]), -32602),
        (req("eth_call", [{"to": us, "data": view}, "0x01"]), -32602),  # not a quantity
        (req("eth_call", [{"to": us, "data": view}, "latest", {}]), -32602),  # state overrides
        (req("eth_call", [{"to": us, "data": call_data(anchor, "verifyLeaf", root, root, [root] * 65)}]), -32602),
        (req("eth_getBlockByNumber", ["latest", True]), -32602),  # full transactions
        (req("eth_getBlockByNumber", ["latest"]), -32602),
        (req("eth_getBlockByNumber", [1, False]), -32602),
        (req("eth_blockNumber", ["latest"]), -32602),
        (req("eth_chainId", {"a": 1}), -32602),
        ({"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "extra": 1}, -32600),
        ({"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}, -32600),
        ({"jsonrpc": "2.0", "id": 2**64, "method": "eth_chainId"}, -32600),
        ({"jsonrpc": "2.0", "id": "x" * 257, "method": "eth_chainId"}, -32600),
        (req("eth_call", [{"to": us, "data": view}, hex(anchor.block_number() + 1)]), -32000),  # as geth: no such block
    ]


def test_everything_else_is_refused_without_effect(packs: Packs) -> None:
    anchor = anchor_of(packs)
    cases = refusals(anchor)
    head, nonces, roots = anchor.block_number(), anchor.nonces(), anchor.roots()
    for body, code in cases:
        answer = rpc(packs.client, body)
        assert answer["error"]["code"] == code and "result" not in answer, (body, answer)
        assert answer["id"] == (body["id"] if code != -32600 or body["id"] == 1 else None)
    batch = rpc(packs.client, [body for body, _ in cases[:MAX_BATCH]])
    assert [a["error"]["code"] for a in batch] == [code for _, code in cases[:MAX_BATCH]]
    assert (anchor.block_number(), anchor.nonces(), anchor.roots()) == (head, nonces, roots)
    assert rpc(packs.client, 7)["error"]["code"] == -32600
    assert rpc(packs.client, [7])[0]["error"]["code"] == -32600
    assert rpc(packs.client, [])["error"]["code"] == -32600


def test_notifications_get_no_answer(packs: Packs) -> None:
    note = {"jsonrpc": "2.0", "method": "eth_blockNumber"}
    assert packs.client.post("/rpc", json=note).status_code == 204
    assert packs.client.post("/rpc", json=[note, note]).status_code == 204
    assert [a["id"] for a in rpc(packs.client, [note, req("eth_chainId", [], 9)])] == [9]


def test_the_batch_and_the_body_are_bounded(packs: Packs) -> None:
    full = [req("eth_chainId", [], i) for i in range(MAX_BATCH)]
    assert [a["id"] for a in rpc(packs.client, full)] == list(range(MAX_BATCH))
    over = rpc(packs.client, [*full, req("eth_chainId", [], MAX_BATCH)])
    assert over == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": f"expected a batch of 1 to {MAX_BATCH} requests, got {MAX_BATCH + 1}"},
    }
    limit = packs.settings.api_max_body
    big = json.dumps(req("eth_chainId", ["x" * limit])).encode()
    r = packs.client.post("/rpc", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"] == f"request body too large: expected at most {limit} bytes"
    bad = packs.client.post("/rpc", content=b'{"jsonrpc": "2.0", "id": 1, "id": 2}')
    assert bad.status_code == 422  # the strict JSON parser runs on JSON-RPC bodies too


# -- the scan page tells the phone where to check ---------------------------------------------------------


def root_tag(page: str) -> dict[str, str]:
    tag = re.search(r"<html[^>]*>", page)
    assert tag
    return {k: unescape(v) for k, v in re.findall(r'\s([a-z-]+)="([^"]*)"', tag.group(0))}


def test_scan_json_and_page_carry_the_chain(packs: Packs) -> None:
    anchor, can = anchor_of(packs), packs.cans[0]
    want = {"chain_id": anchor.chain_id, "contract": anchor.contract_address, "local": True, "rpc_urls": ["/rpc"]}
    r = packs.client.get(can.path, headers=JSON)
    assert r.status_code == 200 and r.json()["chain"] == want
    for lang in ("zh", "en"):
        page = packs.client.get(can.path, params={"lang": lang}).text
        attrs = root_tag(page)
        assert attrs == {
            "lang": "zh-CN" if lang == "zh" else "en",
            "data-chain-id": str(anchor.chain_id),
            "data-contract": anchor.contract_address,
            "data-chain-local": "true",
            "data-rpc-urls": '["/rpc"]',
        }
    assert packs.client.get("/scan").text.startswith('<!doctype html>\n<html lang="zh-CN">')  # other pages as before


def test_the_csp_and_its_documentation(packs: Packs) -> None:
    assert packs.client.get("/scan").headers["content-security-policy"] == CSP == csp()
    assert "connect-src 'self'; " in CSP and "connect-src 'self'; " in DOCS_CSP
    doc = (REPO / "docs" / "security.md").read_text("utf-8")
    assert f"| `Content-Security-Policy` | `{CSP}` |" in doc


# -- configured public endpoints, the rate limit, an external node ---------------------------------------------


def test_public_endpoints_rate_limit_and_csp(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_rpc_urls=",".join(PUBLIC))  # type: ignore[arg-type]
    assert settings.public_rpc_urls == PUBLIC
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=3) as packs:
        can = packs.cans[0]
        assert packs.client.get(can.path, headers=JSON).json()["chain"]["rpc_urls"] == list(PUBLIC)
        page = packs.client.get(can.path)
        assert json.loads(root_tag(page.text)["data-rpc-urls"]) == list(PUBLIC)
        want = csp(PUBLIC_ORIGINS)
        assert (
            "connect-src 'self' https://rpc.example-network.org https://rpc2.example.org:8443 http://127.0.0.1:8545;"
            in want
        )
        assert page.headers["content-security-policy"] == want
        assert packs.client.get("/docs").headers["content-security-policy"].count(" ".join(PUBLIC_ORIGINS)) == 1
        phone = client_at(packs, "192.0.2.30")
        answers = [phone.post("/rpc", json=[req("eth_chainId", [], i) for i in range(MAX_BATCH)]) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        refused = phone.post("/rpc", json=req("eth_chainId", []))
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 20
        assert refused.json()["detail"] == "too many JSON-RPC requests from this address; slow down"
        assert client_at(packs, "192.0.2.31").post("/rpc", json=req("eth_chainId", [])).status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://rpc.example.org", "expected https; http is allowed only for 127.0.0.1 or localhost"),
        ("ftp://rpc.example.org", "expected an https URL"),
        ("rpc.example.org", "expected an https URL"),
        ("https://user:secret@rpc.example.org", "without credentials"),
        ("https://rpc.example.org/a;b", "semicolons"),
        ("https://rpc.example.org:99999", "does not parse"),
    ],
)
def test_public_rpc_urls_are_checked(value: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRADLETRACE_PUBLIC_RPC_URLS", f"https://ok.example.org,{value}")
    with pytest.raises(ValueError, match="CRADLETRACE_PUBLIC_RPC_URLS") as exc:
        Settings()
    assert expected in str(exc.value)
    monkeypatch.setenv("CRADLETRACE_PUBLIC_RPC_URLS", "http://localhost:8545, https://ok.example.org ")
    assert Settings().public_rpc_urls == ("http://localhost:8545", "https://ok.example.org")


def test_with_an_external_node_rpc_is_404(tmp_path: Path) -> None:
    node = start_anvil(free_port())
    try:
        settings = Settings(data_dir=tmp_path / "data", rpc_url=node.url, rpc_retries=1, rpc_timeout=5)
        ws, _ = init_workspace(settings)
        ws.close()
        app = create_app(settings.model_copy(update={"public_rpc_urls": (node.url,)}))
        with TestClient(app, raise_server_exceptions=False) as client:
            for body in (req("eth_chainId", []), req("eth_sendTransaction", [{}])):
                r = client.post("/rpc", json=body)
                assert r.status_code == 404 and "public" in r.json()["detail"], r.text
            facts = client.app.state.runtime.chain_facts  # type: ignore[attr-defined]
            assert facts["local"] is False and facts["rpc_urls"] == [node.url]
    finally:
        node.stop()

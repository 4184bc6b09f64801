"""The same anchoring code against JSON-RPC nodes: Hardhat 3 and anvil on 127.0.0.1.

Each test deploys its own TraceAnchor on the shared session node, so tests cannot see each
other's roots. Reverts must surface as one project error with the contract's error name on
every backend, the embedded chain included.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradletrace.chain.base import Anchor
from cradletrace.chain.web3anchor import Web3Anchor
from cradletrace.cli import app
from cradletrace.config import Settings
from cradletrace.errors import ChainRevertedError
from cradletrace.verification import audit, export_bundle, read_bundle, verify_bundle_on, verify_event
from cradletrace.workspace import init_workspace
from tests.anchoring.test_anchoring import add_suppliers, anchor, record_into, stored_batches, tx_count
from tests.conftest import KEY_RECORDS


def node_url(request: pytest.FixtureRequest, name: str) -> str | None:
    return None if name == "embedded" else str(request.getfixturevalue(f"{name}_node"))


@pytest.mark.node
@pytest.mark.parametrize(
    ("node", "db"),
    [
        ("anvil", "sqlite"),
        ("hardhat", "sqlite"),
        pytest.param("hardhat", "postgres", marks=pytest.mark.postgres),
    ],
)
def test_whole_flow_against_a_node(request, tmp_path: Path, events, node: str, db: str) -> None:
    url = node_url(request, node)
    database_url = str(request.getfixturevalue("postgres_url")) if db == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, rpc_url=url, rpc_timeout=10)

    ws, chain = init_workspace(settings)
    with ws:
        assert chain.local is False and chain.chain_id == 31337
        assert ws.contract_info() == {
            "address": chain.contract_address,
            "chain_id": 31337,
            "deploy_block": chain.deploy_block,
            "local": False,
        }
        add_suppliers(ws)
        rows = record_into(ws, events)
        sent = tx_count(chain)

        again, chain_again = init_workspace(settings)  # reuses the contract: no deployment
        with again:
            assert chain_again.contract_address == chain.contract_address
        assert tx_count(chain) == sent

        [r] = anchor(ws)
        assert (r.leaf_count, r.recovered) == (7 + KEY_RECORDS, False) and tx_count(chain) == sent + 1
        [batch] = stored_batches(ws)
        assert (batch.status, batch.tx_hash, batch.chain_id) == ("confirmed", r.tx_hash, 31337)
        assert chain.w3.eth.get_transaction_receipt(r.tx_hash)["blockNumber"] == r.block_number
        assert anchor(ws) == []

        with ws.session() as s:
            assert {verify_event(s, chain, str(row.id)).status for row in rows} == {"VALID"}
            report = audit(s, chain)
            assert report.ok and (report.events_checked, report.roots_checked) == (7 + KEY_RECORDS, 1)
            bundle = export_bundle(s, chain, str(rows[2].id))

    assert bundle["chain"]["local_development_chain"] is False
    assert bundle["chain"]["contract"] == chain.contract_address
    v = verify_bundle_on(settings, read_bundle(json.dumps(bundle)))
    assert (v.status, v.local_chain, v.tx_hash) == ("VALID", False, r.tx_hash)
    bad = copy.deepcopy(bundle)
    bad["root"] = "0x" + "ee" * 32
    v = verify_bundle_on(settings, bad)
    assert v.status == "INVALID" and any(x.startswith("root not on chain") for x in v.reasons)

    db_args = ["--database-url", database_url] if database_url else []
    result = CliRunner().invoke(
        app, ["verify", str(rows[0].id), "--data-dir", str(settings.data_dir), "--rpc-url", str(url), *db_args]
    )
    assert result.exit_code == 0 and result.output.startswith("VALID"), result.output
    assert f"on chain, block {r.block_number}" in result.output


@pytest.fixture
def bare_chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Anchor]:
    """A freshly deployed TraceAnchor on the backend named by the test's ``backend`` parameter."""
    url = node_url(request, request.param)
    ws, chain = init_workspace(Settings(data_dir=tmp_path / "data", rpc_url=url, rpc_timeout=10))
    with ws:
        yield chain


BACKENDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("anvil", id="anvil", marks=pytest.mark.node),
    pytest.param("hardhat", id="hardhat", marks=pytest.mark.node),
]


@pytest.mark.parametrize("bare_chain", BACKENDS, indirect=True)
def test_duplicate_root_is_chain_reverted_root_already_anchored(bare_chain) -> None:
    root = os.urandom(32)
    first = bare_chain.anchor(root, 3)
    with pytest.raises(ChainRevertedError) as caught:
        bare_chain.anchor(root, 5)
    assert caught.value.reason == "TraceAnchorRootAlreadyAnchored", caught.value
    found = bare_chain.lookup(root)
    assert found is not None and (found.leaf_count, found.block_number) == (3, first.block_number)
    assert [r.root for r in bare_chain.roots()] == [root]


@pytest.mark.parametrize("bare_chain", BACKENDS, indirect=True)
def test_account_without_anchorer_role_is_chain_reverted_unauthorized(bare_chain) -> None:
    w3 = bare_chain.w3
    outsider = w3.eth.accounts[1]
    assert outsider != bare_chain.sender
    stranger = Web3Anchor(
        w3,
        bare_chain.contract_address,
        outsider,
        local=bare_chain.local,
        where=bare_chain.where,
        deploy_block=bare_chain.deploy_block,
    )
    root = os.urandom(32)
    with pytest.raises(ChainRevertedError) as caught:
        stranger.anchor(root, 1)
    assert caught.value.reason == "AccessControlUnauthorizedAccount", caught.value
    assert bare_chain.lookup(root) is None and bare_chain.roots() == []
    bare_chain.anchor(root, 1)  # the admin's account still can
    assert stranger.lookup(root) is not None

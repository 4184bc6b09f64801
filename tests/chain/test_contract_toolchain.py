"""The Node side of the contract: committed artifact is fresh, Solidity tests pass, nodes start."""

from __future__ import annotations

import pytest

from cradletrace.devstack.nodes import rpc
from tests.builders import run_node

pytestmark = pytest.mark.node

HARDHAT_CHAIN_ID = "0x7a69"  # 31337, the default of both Hardhat and anvil


def test_committed_artifact_matches_a_fresh_compile() -> None:
    result = run_node(["node", "scripts/compile-contracts.cjs", "--check"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_solidity_tests_pass() -> None:
    result = run_node(["npx", "hardhat", "test", "solidity"], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passing" in result.stdout, result.stdout


def test_hardhat_node_answers_chain_id(hardhat_node: str) -> None:
    assert hardhat_node.startswith("http://127.0.0.1:")
    assert rpc(hardhat_node, "eth_chainId") == HARDHAT_CHAIN_ID


def test_anvil_node_answers_chain_id(anvil_node: str) -> None:
    assert anvil_node.startswith("http://127.0.0.1:")
    assert rpc(anvil_node, "eth_chainId") == HARDHAT_CHAIN_ID

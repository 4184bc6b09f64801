"""The Node side of the contract: committed artifact is fresh, Solidity tests pass, nodes start."""

from __future__ import annotations

import subprocess

import pytest

from cradletrace.devstack.nodes import REPO_ROOT, node_env, rpc

pytestmark = pytest.mark.node

HARDHAT_CHAIN_ID = "0x7a69"  # 31337, the default of both Hardhat and anvil


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=node_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_committed_artifact_matches_a_fresh_compile() -> None:
    result = _run(["node", "scripts/compile-contracts.cjs", "--check"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_solidity_tests_pass() -> None:
    result = _run(["npx", "hardhat", "test", "solidity"], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passing" in result.stdout, result.stdout


def test_hardhat_node_answers_chain_id(hardhat_node: str) -> None:
    assert hardhat_node.startswith("http://127.0.0.1:")
    assert rpc(hardhat_node, "eth_chainId") == HARDHAT_CHAIN_ID


def test_anvil_node_answers_chain_id(anvil_node: str) -> None:
    assert anvil_node.startswith("http://127.0.0.1:")
    assert rpc(anvil_node, "eth_chainId") == HARDHAT_CHAIN_ID

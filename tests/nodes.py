"""The local EVM nodes (cradletrace.devstack.nodes) as pytest fixtures, registered in tests/conftest.py
with ``pytest_plugins = ["tests.nodes"]``; each fixture stops the nodes it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cradletrace.devstack.nodes import EvmNode, free_port, start_anvil, start_hardhat_node


@pytest.fixture(scope="session")
def hardhat_node() -> Iterator[str]:
    """URL of a Hardhat 3 node shared by the test session."""
    node = start_hardhat_node(free_port())
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[str]:
    """URL of an anvil node shared by the test session."""
    node = start_anvil(free_port())
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture
def anvil_with_state(tmp_path: Path) -> Iterator[Callable[[], EvmNode]]:
    """Start (and restart) anvil on one port with ``--state``, so the chain survives a stop."""
    port = free_port()
    state = tmp_path / "anvil-state.json"
    started: list[EvmNode] = []

    def start() -> EvmNode:
        started.append(start_anvil(port, state=state))
        return started[-1]

    try:
        yield start
    finally:
        for node in started:
            node.stop()

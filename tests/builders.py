"""Small helpers several test modules share: running the repository's Node scripts, and events to record."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from cradletrace.devstack.nodes import REPO_ROOT, node_env
from tests.api.conftest import FORMULA, A


def run_node(
    argv: list[str], *, stdin_text: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` from the repository root with Node 22 first on PATH, capturing text output.

    The exit code is left to the caller, which asserts on it with the output as the message.
    Without ``stdin_text`` stdin is closed, so a script that waits for input fails instead of hanging."""
    return subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=node_env(),
        input=stdin_text,
        stdin=subprocess.DEVNULL if stdin_text is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def oz_merkle(digests_hex: list[str]) -> dict[str, Any]:
    """Root and proofs (input order) from the npm @openzeppelin/merkle-tree package (scripts/oz-merkle.cjs)."""
    result = run_node(
        ["node", "scripts/oz-merkle.cjs"], stdin_text=json.dumps({"values": ["0x" + d for d in digests_hex]})
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def if1_cold_chain(key_id: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """An unsigned cold-chain event from supplier A for lot IF-0001 (logger L-1, 2-8 °C) with ``readings``."""
    return {
        "kind": "cold_chain",
        "supplier": A,
        "key": key_id,
        "data": {
            "lot": {"gtin": FORMULA, "lot": "IF-0001"},
            "logger": {"id": "L-1"},
            "range": {"min_c": 2, "max_c": 8},
            "readings": readings,
        },
    }

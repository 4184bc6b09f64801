"""The house rules hold over the whole project: ruff's lint and its formatter (rule set in pyproject's [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv", [["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]])
def test_ruff_is_clean(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *argv], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

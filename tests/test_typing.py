"""The pure core stays mypy --strict clean (STYLE.md: fully typed core)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_core_is_mypy_strict_clean(tmp_path: Path) -> None:
    # mypy cannot see through the editable install's trace/ -> cradletrace mapping, so lay it out.
    (tmp_path / "cradletrace").symlink_to(REPO / "trace", target_is_directory=True)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "cradletrace.core"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

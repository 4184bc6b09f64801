"""The whole library (trace/, api/, scanner_web/) stays mypy --strict clean, under pyproject's [tool.mypy]."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _layout(root: Path) -> None:
    """``root/cradletrace`` as the installed package looks: mypy cannot see through the editable
    install's package-dir mapping (trace/ -> cradletrace, api/ -> .api, scanner_web/ -> .scanner_web)."""
    package = root / "cradletrace"
    package.mkdir()
    for entry in (REPO / "trace").iterdir():
        (package / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (package / "api").symlink_to(REPO / "api", target_is_directory=True)
    (package / "scanner_web").symlink_to(REPO / "scanner_web", target_is_directory=True)


def test_library_is_mypy_strict_clean(tmp_path: Path) -> None:
    _layout(tmp_path)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "cradletrace"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""The browser files committed under scanner_web/static/vendor are exactly npm's copies.

The Python package serves them without Node; this checks nobody edited them by hand and that
package.json's pins, node_modules and the committed copies agree (scripts/vendor-web.cjs).
"""

from __future__ import annotations

import json

import pytest

from cradletrace.devstack.nodes import REPO_ROOT
from tests.builders import run_node

pytestmark = pytest.mark.node

VENDOR = REPO_ROOT / "scanner_web" / "static" / "vendor"


def _pairs() -> list[tuple[str, str]]:
    result = run_node(["node", "scripts/vendor-web.cjs", "--list"])
    assert result.returncode == 0, result.stdout + result.stderr
    return [(src, dest) for src, dest in json.loads(result.stdout)]


def test_vendored_files_are_byte_identical_to_node_modules() -> None:
    pairs = _pairs()
    assert {dest.split("/")[-1] for _, dest in pairs} >= {
        "jsQR.js",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "LICENSE",
        "swagger-ui-bundle.js.LICENSE.txt",
        "sha3.js",
        "sha2.js",
        "index.js",
        "canonicalize.js",
    }
    for src, dest in pairs:
        assert (REPO_ROOT / dest).read_bytes() == (REPO_ROOT / src).read_bytes(), f"{dest} differs from {src}"
    committed = {p.relative_to(REPO_ROOT).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert committed == {dest for _, dest in pairs} | {"scanner_web/static/vendor/README.md"}, "stray vendored files"


def test_readme_names_package_version_and_licence() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text("utf-8"))["devDependencies"]
    readme = (VENDOR / "README.md").read_text("utf-8")
    for name in ("jsqr", "swagger-ui-dist", "@noble/hashes", "@noble/ed25519", "canonicalize"):
        installed = json.loads((REPO_ROOT / "node_modules" / name / "package.json").read_text("utf-8"))
        assert pinned[name] == installed["version"], f"package.json pins {name} exactly, as installed"
        assert (
            f"| [{name}](https://www.npmjs.com/package/{name}) | {installed['version']} | {installed['license']} |"
            in readme
        )


def test_vendor_script_check_passes() -> None:
    result = run_node(["node", "scripts/vendor-web.cjs", "--check"])
    assert result.returncode == 0, result.stdout + result.stderr

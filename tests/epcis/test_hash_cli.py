"""``cradletrace epcis hash FILE``: one ni:/// hash per event on stdout, nothing else; errors on stderr, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradletrace.cli import app

VECTORS = Path(__file__).parent.parent / "vectors" / "cbv-event-hash"


@pytest.mark.parametrize("name", ["ReferenceEventHashAlgorithm", "epcisDocWithSingleEvent"])
def test_hash_prints_the_reference_hashes_and_nothing_else(name: str) -> None:
    result = CliRunner().invoke(app, ["epcis", "hash", str(VECTORS / f"{name}.jsonld")])
    assert result.exit_code == 0, result.output
    assert result.stdout == (VECTORS / f"{name}.hashes").read_text("utf-8")
    assert result.stderr == ""


def test_hash_keeps_document_order(tmp_path: Path) -> None:
    docs = [
        json.loads((VECTORS / f"{n}.jsonld").read_text("utf-8"))
        for n in ("epcisDocWithSingleEvent", "ReferenceEventHashAlgorithm")
    ]
    merged = docs[1]
    merged["epcisBody"]["eventList"] = [docs[0]["epcisBody"]["eventList"][0], *docs[1]["epcisBody"]["eventList"]]
    path = tmp_path / "two.jsonld"
    path.write_text(json.dumps(merged), "utf-8")
    result = CliRunner().invoke(app, ["epcis", "hash", str(path)])
    expected = [
        (VECTORS / f"{n}.hashes").read_text("utf-8").strip()
        for n in ("epcisDocWithSingleEvent", "ReferenceEventHashAlgorithm")
    ]
    assert result.exit_code == 0 and result.stdout.splitlines() == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a JSON document"),
        ('{"epcisBody": {"eventList": [{"action": "ADD"}]}}', "epcisBody.eventList[0].type: expected the event type"),
        ('{"type": "EPCISDocument"}', "epcisBody: expected an object"),
        (None, "No such file"),
    ],
)
def test_hash_errors_go_to_stderr_with_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "doc.jsonld"
    if content is not None:
        path.write_text(content, "utf-8")
    result = CliRunner().invoke(app, ["epcis", "hash", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_hash_console_script_reads_the_sample_file() -> None:
    exe = shutil.which("cradletrace", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run(
        [exe, "epcis", "hash", str(VECTORS / "ReferenceEventHashAlgorithm.jsonld")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (out.returncode, out.stdout, out.stderr) == (
        0,
        (VECTORS / "ReferenceEventHashAlgorithm.hashes").read_text("utf-8"),
        "",
    )

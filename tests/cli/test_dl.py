"""``cradletrace dl parse`` and ``dl compose``: stdout for scripts, the broken rule on stderr, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cradletrace.cli import app

GTIN = "09501101530003"
runner = CliRunner()


def test_parse_prints_the_element_string_then_the_ais() -> None:
    r = runner.invoke(
        app,
        ["dl", "parse", f"https://brand.example/01/{GTIN[1:]}/10/AB%2F1/21/S1?17=271231&3103=000800&linkType=gs1:pip"],
    )
    assert r.exit_code == 0, r.output
    element_string, ais, *rest = r.stdout.splitlines()
    assert element_string == f"(01){GTIN}(10)AB/1(21)S1(17)271231(3103)000800" and rest == []
    assert json.loads(ais) == {"01": GTIN, "10": "AB/1", "21": "S1", "17": "271231", "3103": "000800"}
    assert list(json.loads(ais)) == ["01", "10", "21", "17", "3103"]


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        (
            f"https://id.gs1.org/01/{GTIN}/21/S1/10/L",
            "path: 10 after 21: key qualifiers must be in the order 22, 10, 21",
        ),
        (f"https://id.gs1.org/01/{GTIN}/21/{'S' * 21}", "21: serial longer than 20 characters (got 21)"),
        ("https://id.gs1.org/01/09501101530004", "01: check digit is 4, expected 3"),
        (f"https://id.gs1.org/01/{GTIN}?17=270230", "17: expiry date 270230 is not a date"),
    ],
)
def test_parse_refuses_with_the_rule_on_stderr(uri: str, rule: str) -> None:
    r = runner.invoke(app, ["dl", "parse", uri])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"error: {rule}"), r.stderr


@pytest.mark.parametrize(
    ("args", "uri"),
    [
        (
            [
                "--gtin",
                GTIN[1:],
                "--lot",
                "A/B",
                "--serial",
                "S1",
                "--expiry",
                "2027-12-31",
                "--ai",
                "3103=000800",
                "--resolver",
                "id.example.com",
            ],
            f"https://id.example.com/01/{GTIN}/10/A%2FB/21/S1?17=271231&3103=000800",
        ),
        (
            ["--gtin", GTIN, "--serial", "S1", "--expiry", "271200", "--resolver", "http://localhost:8000"],
            f"http://localhost:8000/01/{GTIN}/21/S1?17=271200",
        ),
    ],
)
def test_compose_prints_the_uri(args: list[str], uri: str) -> None:
    r = runner.invoke(app, ["dl", "compose", *args])
    assert (r.exit_code, r.stdout) == (0, uri + "\n"), r.output
    again = runner.invoke(app, ["dl", "parse", uri])
    assert again.exit_code == 0 and json.loads(again.stdout.splitlines()[1])["01"] == GTIN


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["--gtin", GTIN, "--expiry", "2027-02-30"], "17: expiry date 270230 is not a date"),
        (["--gtin", GTIN, "--serial", "S" * 21], "21: serial longer than 20 characters"),
        (["--gtin", GTIN, "--ai", "3103"], "--ai: expected AI=VALUE"),
        (["--gtin", GTIN, "--ai", "10=L"], "10: a key or key qualifier, not a data attribute"),
    ],
)
def test_compose_refuses_with_the_rule(args: list[str], rule: str) -> None:
    r = runner.invoke(app, ["dl", "compose", *args])
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.startswith(f"error: {rule}"), r.output


def test_the_installed_command_exits_2_naming_the_rule() -> None:
    """What a shell script sees: a real process, its own stdout, stderr and exit status."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cradletrace"), "dl", "parse", f"https://x.example/01/{GTIN}/10/L/10/M"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        2,
        "",
    ) and proc.stderr == "error: path: 10 given twice: each key qualifier at most once\n"


SSCC, GLN = "106141411234567897", "9421902960000"


@pytest.mark.parametrize(
    ("uri", "element_string", "ais"),
    [
        (
            f"https://id.gs1.org/sscc/{SSCC}?3300=001250#label",
            f"(00){SSCC}(3300)001250",
            {"00": SSCC, "3300": "001250"},
        ),
        (f"https://x.example/414/{GLN}/254/DOCK%2F3", f"(414){GLN}(254)DOCK/3", {"414": GLN, "254": "DOCK/3"}),
        ("https://x.example/8010/ABC%231/8011/7", "(8010)ABC#1(8011)7", {"8010": "ABC#1", "8011": "7"}),
    ],
)
def test_parse_prints_any_primary_key(uri: str, element_string: str, ais: dict[str, str]) -> None:
    r = runner.invoke(app, ["dl", "parse", uri])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == element_string and json.loads(lines[-1]) == ais and list(json.loads(lines[-1])) == list(ais)


@pytest.mark.parametrize(
    ("args", "uri"),
    [
        (["--key", f"00={SSCC}", "--ai", "3300=001250"], f"https://id.example.com/00/{SSCC}?3300=001250"),
        (["--key", f"(414)={GLN}", "--qualifier", "254=DOCK/3"], f"https://id.example.com/414/{GLN}/254/DOCK%2F3"),
        (["--gtin", GTIN, "--serial", "S1", "--qualifier", "22=V"], f"https://id.example.com/01/{GTIN}/22/V/21/S1"),
    ],
)
def test_compose_any_primary_key(args: list[str], uri: str) -> None:
    r = runner.invoke(app, ["dl", "compose", *args, "--resolver", "id.example.com"])
    assert (r.exit_code, r.stdout) == (0, uri + "\n"), r.output


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ([], "--gtin or --key: give exactly one primary key"),
        (["--gtin", GTIN, "--key", f"00={SSCC}"], "--gtin or --key: give exactly one primary key"),
        (["--key", SSCC], "--key: expected AI=VALUE"),
        (["--key", f"00={SSCC[:-1]}0"], "00: check digit is 0, expected 7"),
        (["--key", f"414={GLN}", "--qualifier", "21=S"], "path: 21 is not a key qualifier of 414"),
    ],
)
def test_compose_any_key_refuses_with_the_rule(args: list[str], rule: str) -> None:
    r = runner.invoke(app, ["dl", "compose", *args])
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.startswith(f"error: {rule}"), r.output

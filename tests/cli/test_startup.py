"""``cradletrace --help`` and ``cradletrace dl parse`` answer at once: they load neither the store,
the chain, the settings nor the GS1 prefix tables, and start within a few interpreter start-ups.

Time is measured as a ratio to ``python -c pass`` run in the same rounds, so a loaded or slow
machine (CI on a bad day is 2-3x slower) moves both sides alike. The budget is 0.2 s on a machine
whose interpreter starts in 20 ms: 10 interpreter start-ups, plus a fifth as margin for noise
(before the Digital Link table stopped loading biip, `dl parse` took 12-13).
README "Command-line start-up" has the figures.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "cradletrace"
URI = "https://id.gs1.org/01/09421902960017/10/IF-0001?17=271231"
COMMANDS = {"--help": ["--help"], "dl parse": ["dl", "parse", URI]}
BUDGET = 12.0  # interpreter start-ups: 0.2 s over 20 ms is 10, plus a fifth for a noisy machine
ROUNDS = 7
HEAVY = ("sqlalchemy", "sqlmodel", "web3", "eth", "eth_tester", "biip", "pydantic_settings", "fastapi", "jsonschema")


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - start


def test_help_and_dl_parse_start_within_a_few_interpreter_startups() -> None:
    reference = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {"python -c pass": [], **{name: [] for name in COMMANDS}}
    for argv in [reference, *([str(CLI), *args] for args in COMMANDS.values())]:
        _wall(argv)  # warm the file cache
    for _ in range(ROUNDS):  # interleaved, so a burst of load hits every command alike
        times["python -c pass"].append(_wall(reference))
        for name, args in COMMANDS.items():
            times[name].append(_wall([str(CLI), *args]))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python -c pass"]
    shown = ", ".join(f"{name} {m * 1000:.0f} ms ({m / base:.1f}x)" for name, m in medians.items())
    for name in COMMANDS:
        assert medians[name] <= BUDGET * base, f"{name}: expected at most {BUDGET:g}x python -c pass; {shown}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_and_dl_parse_load_no_store_chain_or_settings(name: str) -> None:
    probe = (
        "import sys\nfrom cradletrace.cli import app\n"
        f"sys.argv = ['cradletrace', *{COMMANDS[name]!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr

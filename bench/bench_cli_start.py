"""How long the command line takes before it does anything (issue 13, "The command line answers at once").

Runs each command as a user does (the installed ``cradletrace`` script), interleaved with the reference
``python -c pass`` so both see the same machine, and prints the median wall and CPU time of each, and
its ratio to the reference. ``verify`` runs against a fresh ``cradletrace demo`` store on the embedded
chain, so its figure is the whole command (imports, opening the chain, the check).

    .venv/bin/python bench/bench_cli_start.py [--rounds 11]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("cradletrace"))
URI = "https://id.gs1.org/01/09421902960017/10/IF-0001"


def run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "demo")
        env = {**os.environ, "COLUMNS": "120"}
        subprocess.run([CLI, "demo", "--data-dir", data], stdout=subprocess.DEVNULL, check=True, env=env)
        commands = {
            "python -c pass (reference)": [sys.executable, "-c", "pass"],
            "cradletrace --help": [CLI, "--help"],
            "cradletrace dl parse URI": [CLI, "dl", "parse", URI],
            "cradletrace verify 5 (embedded chain, whole command)": [CLI, "verify", "5", "--data-dir", data],
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                times[name].append(run(argv))
    ref_wall = statistics.median(w for w, _ in times["python -c pass (reference)"])
    print(f"median of {rounds} interleaved runs; load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<55} {'wall':>9} {'x pass':>7} {'CPU':>9}")
    for name, got in times.items():
        wall, cpu = statistics.median(w for w, _ in got), statistics.median(c for _, c in got)
        print(f"{name:<55} {wall * 1000:>7.0f} ms {wall / ref_wall:>6.1f}x {cpu * 1000:>7.0f} ms")


if __name__ == "__main__":
    main()

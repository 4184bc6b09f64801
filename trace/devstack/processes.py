"""``cradletrace serve`` (and other long-running commands) as a user runs them, for ``scripts/stack``,
the tests and the benchmarks: a subprocess on a free loopback port, waited for until it answers, and
stopped with SIGINT (then killed) by whoever started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CLI = Path(sys.executable).parent / "cradletrace"


@dataclass
class Served:
    base: str
    port: int
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without cradletrace settings (so only the given ones apply), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLETRACE_") and k != "DATABASE_URL"}
    return {**env, **extra}


@contextmanager
def running(
    argv: list[str],
    cwd: Path,
    port: int | None,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    health: str = "/api/v1/health",
) -> Iterator[Served]:
    """Run ``argv`` until the block ends, stopped with SIGINT (then killed). With a ``port``, wait
    until ``health`` answers there; the process's output is collected in ``lines`` throughout."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    served = Served(f"http://127.0.0.1:{port}", port or 0, proc)
    reader = threading.Thread(target=lambda: served.lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while port is not None:
            assert proc.poll() is None, served.output
            assert time.monotonic() < deadline, "server did not come up:\n" + served.output
            try:
                with urllib.request.urlopen(f"{served.base}{health}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.lines.append("(did not stop within 30 s of SIGINT: killed)\n")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]

"""``cradletrace serve --demo`` as a user runs it, for tests: a subprocess on a free loopback port,
waited for until it answers, and stopped with SIGINT (then killed) by the test that started it."""

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

from tests.nodes import free_port

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


@contextmanager
def serve_demo(cwd: Path, data: Path, anchor_interval: float, timeout: float = 90) -> Iterator[Served]:
    """Run ``serve --demo`` until the block ends; ``output`` then holds everything it printed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLETRACE_") and k != "DATABASE_URL"}
    proc = subprocess.Popen([str(CLI), "serve", "--demo", "--data-dir", str(data), "--port", str(port),
                             "--anchor-interval", str(anchor_interval)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", port, proc)
    reader = threading.Thread(target=lambda: served.lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, served.output
            assert time.monotonic() < deadline, "server did not come up:\n" + served.output
            try:
                with urllib.request.urlopen(f"{served.base}/api/v1/health", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]

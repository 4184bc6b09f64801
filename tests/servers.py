"""``cradletrace serve --demo`` as a user runs it, for tests (the process helpers are
cradletrace.devstack.processes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cradletrace.devstack.nodes import free_port
from cradletrace.devstack.processes import CLI, Served, running


@contextmanager
def serve_demo(cwd: Path, data: Path, anchor_interval: float, timeout: float = 90) -> Iterator[Served]:
    """Run ``serve --demo`` until the block ends; ``output`` then holds everything it printed."""
    port = free_port()
    with running(
        [
            str(CLI),
            "serve",
            "--demo",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--anchor-interval",
            str(anchor_interval),
        ],
        cwd,
        port,
        timeout=timeout,
    ) as served:
        yield served

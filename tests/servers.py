"""``cradletrace serve --demo`` as a user runs it, for tests (the process helpers are
cradletrace.devstack.processes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


async def asgi_get(
    app: Any, path: str, headers: dict[str, str], client: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    """One GET straight through an ASGI app, no client library (thousands of them stay quick)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (client, 50000),
        "server": ("127.0.0.1", 80),
    }
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]

"""Long requests with a bound: stopped when their time is up, their client goes, or the server stops.

A sync route's work runs in a worker thread that nothing can interrupt, and uvicorn waits for
every running request before it stops: one export of a lot with 100 000-reading records once
ran for minutes after its client had gone and held the server's shutdown as long. So long work
runs through ``run_bounded``: in a worker thread, calling ``check`` between its steps (events);
``check`` raises ``StoppedError`` once

* the work has run ``Settings.api_request_timeout`` seconds (the client gets 503 STOPPED),
* the client has closed the connection (looked for every ``POLL_SECONDS``), or
* the request was cancelled: uvicorn cancels requests still running ``api_shutdown_grace``
  seconds after a stop (``cradletrace serve`` passes it as ``timeout_graceful_shutdown``).

The request then waits for its thread to stop at the next step, so no thread outlives it (the
process exits only when its worker threads have ended) and its store session is closed after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread
from starlette.requests import Request

from cradletrace.errors import StoppedError

T = TypeVar("T")
POLL_SECONDS = 0.2


class Stop:
    """When work must stop: a deadline, or a reason set from outside (client gone, shutdown)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        self.reason = self.reason or reason

    def check(self) -> None:
        """Called by the work between its steps, in its own thread."""
        if self.reason is None and time.monotonic() > self.deadline:
            self.reason = f"expected to finish within {self.seconds:g} s (api_request_timeout), still working"
        if self.reason is not None:
            raise StoppedError(self.reason)


async def run_bounded(request: Request, seconds: float, work: Callable[[Callable[[], None]], T]) -> T:
    """``work(check)`` in a worker thread, stopped at its next ``check`` when its time is up, the
    client has gone or this request is cancelled (the server is stopping)."""
    stop = Stop(seconds)
    task = asyncio.ensure_future(to_thread.run_sync(work, stop.check))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            if not task.done() and await request.is_disconnected():
                stop.stop("the client went away")
    except asyncio.CancelledError:
        stop.stop("the server is stopping")
        await asyncio.wait({task})  # the thread ends at its next check
        raise
    return task.result()

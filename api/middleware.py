"""ASGI middleware: request body limits before any parsing, and a last net for unexpected errors.

Both are plain ASGI (no ``BaseHTTPMiddleware``), so streaming and the thread pool are untouched.
FastAPI's own ``max_body_size`` is not used: when a refusal happens before the app reads the
body it answers in plain text ("Content Too Large"), outside the API's error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cradletrace.api.errors import INTERNAL, error_response

log = logging.getLogger("cradletrace.api")


class _TooLarge(Exception):
    pass


def too_large_detail(limit: int) -> str:
    return f"request body too large: expected at most {limit} bytes"


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413: at once from Content-Length, else while reading.

    ``limits`` maps ``(method, path)`` to a larger limit (the bulk upload); all else gets ``default``.
    """

    def __init__(self, app: ASGIApp, default: int, limits: Mapping[tuple[str, str], int]) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((scope["method"], scope["path"].rstrip("/")), self.default)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await error_response(413, too_large_detail(limit))(scope, receive, send)
                    return
        seen = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app answers to a cut-off body is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await error_response(413, too_large_detail(limit))(scope, receive, send)


class CatchAllMiddleware:
    """Turn any exception no handler took into a bare 500; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s -> 500: unexpected error", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500, INTERNAL)(scope, receive, send)

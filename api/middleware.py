"""ASGI middleware: request body limits before any parsing, a last net for unexpected errors,
and request counting for /metrics.

All are plain ASGI (no ``BaseHTTPMiddleware``), so streaming and the thread pool are untouched.
FastAPI's own ``max_body_size`` is not used: when a refusal happens before the app reads the
body it answers in plain text ("Content Too Large"), outside the API's error shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cradletrace.api.errors import INTERNAL, STORE_UNAVAILABLE, error_response, store_unreachable
from cradletrace.api.metrics import observe

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


class _TrackedSend:
    """``send`` that remembers the status once the response has started."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)


class _HttpOnly:
    """Middleware that acts on HTTP requests (``http``) and passes anything else (lifespan) through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class CatchAllMiddleware(_HttpOnly):
    """Turn any exception no handler took into a bare 500 (503 when the store is unreachable);
    the traceback goes to the log only."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.status is not None:
                log.exception("%s %s: error after the answer started", scope.get("method"), scope.get("path"))
                raise
            if store_unreachable(exc):  # e.g. raised while a dependency closed its session
                log.error("%s %s -> 503: store: %s", scope.get("method"), scope.get("path"), str(exc)[:300])
                await error_response(503, STORE_UNAVAILABLE)(scope, receive, send)
                return
            log.exception("%s %s -> 500: unexpected error", scope.get("method"), scope.get("path"))
            await error_response(500, INTERNAL)(scope, receive, send)


class MetricsMiddleware(_HttpOnly):
    """Count every answered request by method, route template and status (see ``api/metrics.py``).

    The route comes from the matched route's template (``/api/v1/events/{ref}``), so ids and scan
    codes never become label values; anything no route matched counts as ``unmatched``.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        finally:
            observe(scope["method"], route_template(scope), tracked.status or 500, time.perf_counter() - start)


def route_template(scope: Scope) -> str:
    """The full template of the route that answered, e.g. ``/api/v1/events/{ref}``, else ``unmatched``.

    A route included with a prefix knows only its own part of the path; the prefix is the part of
    the request path before the place where that route's pattern matches the rest.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if not isinstance(template, str) or regex is None:
        return "unmatched"
    path: str = scope["path"]
    for at in (i for i, ch in enumerate(path) if ch == "/"):
        if regex.match(path[at:]):
            return path[:at] + template
    return template

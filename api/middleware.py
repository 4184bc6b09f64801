"""ASGI middleware: request body limits before any parsing, one strict JSON parser for every
body, a last net for unexpected errors, and request counting for /metrics.

All are plain ASGI (no ``BaseHTTPMiddleware``), so streaming and the thread pool are untouched.
FastAPI's own ``max_body_size`` is not used: when a refusal happens before the app reads the
body it answers in plain text ("Content Too Large"), outside the API's error shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cradletrace.api.deps import JSON_BODY, parse_body
from cradletrace.api.errors import (
    INTERNAL,
    INVALID_INPUT,
    STORE_UNAVAILABLE,
    answer,
    error_response,
    in_binding,
    store_unreachable,
)
from cradletrace.api.logs import redact
from cradletrace.api.metrics import observe
from cradletrace.errors import InvalidInputError

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
                    await answer(scope["path"], 413, too_large_detail(limit))(scope, receive, send)
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
            await answer(scope["path"], 413, too_large_detail(limit))(scope, receive, send)


def _is_json(content_type: bytes | None) -> bool:
    """As FastAPI decides whether to parse a body as JSON: no content type, or application/json or */*+json."""
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media.startswith(b"application/") and (media == b"application/json" or media.endswith(b"+json"))


class StrictJsonMiddleware:
    """Parse every JSON request body with the core's strict parser (``deps.parse_body``: bounded
    depth, no duplicate keys, no NaN/Infinity, no lone surrogates, exact numbers) before any route
    sees it, on every route alike; a body it refuses is a 422 naming what was wrong.

    The parsed value is left in ``scope[JSON_BODY]`` (routes that read the body themselves take it
    from there, see ``deps.JsonBody``) and the bytes are passed on unchanged, so FastAPI's own
    parse for pydantic bodies only ever meets JSON this parser accepted. Runs inside the body
    limit: what it reads is already bounded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        has_body = headers.get(b"content-length", b"0").strip() not in (b"0", b"") or b"transfer-encoding" in headers
        if not has_body or not _is_json(headers.get(b"content-type")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                scope[JSON_BODY] = parse_body(body)
            except InvalidInputError as exc:
                await (
                    answer(scope["path"], 400, INVALID_INPUT, exc.problems)  # GS1: a ValidationException
                    if in_binding(scope["path"])
                    else error_response(422, INVALID_INPUT, exc.problems)
                )(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


# Every page's scripts, styles and fonts are files of this server (no inline script, style or
# event handler anywhere: the console's strings travel in a JSON data block, Swagger UI starts
# from /static/swagger-init.js); pages talk to this server and, so a phone can check a scan
# page's anchors itself, to the configured public JSON-RPC endpoints (Settings.public_rpc_urls)
# only. Swagger UI sets inline styles and data: images of its own, so /docs alone allows those
# (styles, never scripts).
def csp(connect: tuple[str, ...] = ()) -> str:
    """The policy, with ``connect`` (origins, scheme://host[:port]) allowed besides 'self' in connect-src."""
    sources = " ".join(["'self'", *dict.fromkeys(connect)])
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src {sources}; "
        "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def docs_csp(policy: str) -> str:
    return policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
        "img-src 'self'", "img-src 'self' data:"
    )


def verify_csp(connect: tuple[str, ...], scripts: tuple[str, ...], styles: tuple[str, ...]) -> str:
    """The verifier page's policy (/verify): one self-contained file, so its inline script and style
    are allowed by their hashes and nothing else runs; it talks to this server, the configured
    public RPC endpoints and any https: endpoint the user types (their own node or provider)."""
    sources = " ".join(["'self'", *dict.fromkeys(connect), "https:"])
    return (
        f"default-src 'none'; script-src {' '.join(scripts)}; style-src {' '.join(styles)}; img-src 'self'; "
        f"connect-src {sources}; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


CSP = csp()  # with no public RPC endpoint configured
DOCS_CSP = docs_csp(CSP)
HSTS = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeadersMiddleware:
    """Put the security headers on every HTTP answer, pages, JSON and errors alike: the CSP above
    with the ``connect_src`` origins (its /docs form on ``docs_path``, ``pages``' own on theirs), no framing, no MIME
    sniffing, no Referer, and HSTS when the request came over https (directly, or through a
    trusted proxy's X-Forwarded-Proto, which ``ProxyHeadersMiddleware`` has already turned into
    the scheme)."""

    def __init__(
        self, app: ASGIApp, docs_path: str, connect_src: tuple[str, ...] = (), pages: Mapping[str, str] = {}
    ) -> None:
        self.app = app
        self.csp = csp(connect_src).encode()
        # path -> its own policy: /docs (Swagger's inline styles), /verify (its inline script by hash)
        self.policies = {docs_path: docs_csp(csp(connect_src)).encode()} | {p: v.encode() for p, v in pages.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope["path"], self.csp)
        extra = [(b"content-security-policy", policy), *SECURITY_HEADERS]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode()))
        names = {name for name, _ in extra}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


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
                log.exception(
                    "%s %s: error after the answer started", scope.get("method"), redact(scope.get("path", ""))
                )
                raise
            if store_unreachable(exc):  # e.g. raised while a dependency closed its session
                log.error("%s %s -> 503: store: %s", scope.get("method"), redact(scope.get("path", "")), str(exc)[:300])
                await answer(scope["path"], 503, STORE_UNAVAILABLE)(scope, receive, send)
                return
            log.exception("%s %s -> 500: unexpected error", scope.get("method"), redact(scope.get("path", "")))
            await answer(scope["path"], 500, INTERNAL)(scope, receive, send)


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

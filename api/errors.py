"""Every error leaves the API as ``{"detail", "field", "problems"}`` with the status it deserves.

=====================================  ======  =======================================
error                                  status  detail
=====================================  ======  =======================================
InvalidEventError                      422     "invalid events: nothing was stored"
InvalidInputError, request validation  422     "invalid input"
missing / unknown / revoked API key    401     MISSING_KEY / BAD_KEY
too many wrong keys, scans, bundles    429     AUTH_THROTTLED / the route's text
NotAllowedError, wrong role            403     the core's message / "not allowed: ..."
NotFoundError, unknown route           404     the core's message / "not found"
body over the limit                    413     "request body too large: ..."
ChainUnavailableError                  503     CHAIN_UNAVAILABLE
StoppedError (time limit, shutdown)    503     STOPPED
other ChainError                       502     CHAIN_FAILED
SQLAlchemy IntegrityError (a race)     409     CONFLICT
AnchoringBusyError (another leads)     409     ANCHORING_BUSY
store_unreachable(): down, lost, pool  503     STORE_UNAVAILABLE (SQLAlchemy's or psycopg's)
ConfigError, anything unexpected       500     CONFIG / INTERNAL
=====================================  ======  =======================================

The 5xx details are fixed texts: the cause (URLs, SQL, paths, stack) is logged on the server
and never sent. Core messages that do reach clients name ids the caller gave, nothing internal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import Error as PgError
from psycopg import InterfaceError as PgInterfaceError
from psycopg import OperationalError as PgOperationalError
from pydantic import BaseModel
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cradletrace.api.logs import redact
from cradletrace.errors import (
    AnchoringBusyError,
    ChainError,
    ChainUnavailableError,
    InvalidEventError,
    InvalidInputError,
    NotAllowedError,
    NotFoundError,
    Problem,
    StoppedError,
    TraceError,
)

log = logging.getLogger("cradletrace.api")

INVALID_EVENTS = "invalid events: nothing was stored"
INVALID_INPUT = "invalid input"
MISSING_KEY = "missing API key: expected 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
BAD_KEY = "API key not valid (unknown or revoked)"
STOPPED = "request stopped before its end: over its time limit (api_request_timeout), or the server is stopping"
CHAIN_UNAVAILABLE = "chain unavailable: the chain node did not answer; try again later"
CHAIN_FAILED = "chain error: the chain did not do what was asked"
STORE_UNAVAILABLE = "store unavailable"
CONFLICT = "conflict: a concurrent request stored the same thing first; nothing was stored, check and retry"
ANCHORING_BUSY = (
    "anchoring runs in another worker (it holds the leader lock); it anchors pending events within its interval"
)
CONFIG = "server misconfigured; see the server log"
AUTH_THROTTLED = "too many wrong API keys from this address; retry after the seconds in Retry-After"
INTERNAL = "internal error"


class ProblemOut(BaseModel):
    """One field at fault: ``field`` is a path such as ``events[3].data.lot``."""

    field: str | None
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    detail: str
    field: str | None = None
    problems: list[ProblemOut] = []


class ApiError(Exception):
    """An HTTP-level refusal raised by the API itself (authentication, ownership, size)."""

    def __init__(
        self, status: int, detail: str, problems: Sequence[Problem] = (), headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = list(problems)
        self.headers = headers


def too_many(detail: str, wait: float) -> ApiError:
    """429 saying when to come back (whole seconds, at least 1)."""
    return ApiError(429, detail, headers={"Retry-After": str(max(1, math.ceil(wait)))})


def error_response(
    status: int, detail: str, problems: Sequence[Problem] = (), headers: dict[str, str] | None = None
) -> JSONResponse:
    out = ErrorOut(
        detail=detail,
        field=(problems[0].where or None) if problems else None,
        problems=[ProblemOut(field=p.where or None, message=p.message) for p in problems],
    )
    return JSONResponse(jsonable_encoder(out), status_code=status, headers=headers)


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No API key, or one that is unknown or revoked",
    403: "The key's role or supplier may not do this",
    404: "Not found",
    409: "Not in the state this needs (an event not anchored yet), or a concurrent request came first",
    413: "Request body larger than the limit",
    429: "Too many requests from this address; retry after the seconds in Retry-After",
    422: "Invalid input; `problems` names every field at fault",
    500: "Internal error (details only in the server log)",
    502: "The chain failed to do what was asked",
    503: "Store or chain unavailable",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these codes plus the ones any request can meet (413, 500, 503), and
    429 wherever a key is checked (401): too many wrong keys from the address."""
    throttled = {429} if 401 in codes else set()
    return {
        c: {"model": ErrorOut, "description": _DESCRIPTIONS[c]} for c in sorted({*codes, *throttled, 413, 500, 503})
    }


def _where(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def validation_problems(errors: Sequence[Any]) -> list[Problem]:
    """FastAPI's validation errors as problems: ``query.limit``, ``body.certifications[0].valid_until``."""
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "missing":
            msg = "expected a value, got nothing"
        out.append(Problem(_where(e.get("loc", ())), msg))
    return out


def _status_of(exc: TraceError) -> tuple[int, str, list[Problem]]:
    if isinstance(exc, InvalidEventError):
        return 422, INVALID_EVENTS, exc.problems
    if isinstance(exc, InvalidInputError):
        return 422, INVALID_INPUT, exc.problems
    if isinstance(exc, NotFoundError):
        return 404, str(exc), []
    if isinstance(exc, NotAllowedError):
        return 403, str(exc), []
    if isinstance(exc, ChainUnavailableError):
        return 503, CHAIN_UNAVAILABLE, []
    if isinstance(exc, StoppedError):
        return 503, STOPPED, [Problem("", str(exc))]
    if isinstance(exc, ChainError):
        return 502, CHAIN_FAILED, []
    if isinstance(exc, AnchoringBusyError):
        return 409, ANCHORING_BUSY, []
    return 500, CONFIG, []


def store_unreachable(exc: BaseException) -> bool:
    """The store did not answer (down, restarting, connection lost, pool exhausted): worth a retry."""
    return (
        isinstance(
            exc,
            (
                OperationalError,
                InterfaceError,
                DisconnectionError,
                PoolTimeoutError,
                PgOperationalError,
                PgInterfaceError,
            ),
        )  # the last two: the scan pool (scan.postgres.PgScanner)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    )


def install(app: FastAPI) -> None:
    """Register the handlers that give every error its status and shape."""

    async def on_trace_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TraceError)
        status, detail, problems = _status_of(exc)
        if status >= 500:
            log.error("%s %s -> %d: %s: %s", request.method, redact(request.url.path), status, type(exc).__name__, exc)
        return error_response(status, detail, problems)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.detail, exc.problems, exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, INVALID_INPUT, validation_problems(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else INVALID_INPUT
        if exc.status_code == 404 and detail == "Not Found":
            detail = "not found"
        elif exc.status_code == 405:
            detail = "method not allowed"
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, IntegrityError):
            # Two requests passed the same uniqueness check at once; the store kept one of them.
            log.warning("%s %s -> 409: store: %s", request.method, redact(request.url.path), str(exc.orig or exc)[:300])
            return error_response(409, CONFLICT)
        if store_unreachable(exc):
            log.error(
                "%s %s -> 503: store: %s",
                request.method,
                redact(request.url.path),
                str(getattr(exc, "orig", None) or exc)[:300],
            )
            return error_response(503, STORE_UNAVAILABLE)
        log.exception("%s %s -> 500: store error", request.method, redact(request.url.path))
        return error_response(500, INTERNAL)

    app.add_exception_handler(TraceError, on_trace_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(SQLAlchemyError, on_store_error)
    app.add_exception_handler(PgError, on_store_error)

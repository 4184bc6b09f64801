"""Every error leaves the API as ``{"detail", "field", "problems"}`` with the status it deserves.

The status and detail of each cradletrace error are decided here only, in ``ANSWERS`` (routes raise
the core's errors and never pick a status for them); the API's own refusals are ``ApiError``.

=====================================  ======  =======================================
error                                  status  detail
=====================================  ======  =======================================
DuplicateEpcisError                    409     DUPLICATE_EPCIS
InvalidEpcisError                      422     INVALID_EPCIS
EpcisQueryError                        400     EPCIS_QUERY (RFC 7807: type epcisException:QueryParameterException)
EpcisSubscriptionError                 400     EPCIS_SUBSCRIPTION (RFC 7807: epcisException:SubscriptionControlsException)
EpcisNameTakenError                    409     EPCIS_NAME_TAKEN (RFC 7807: epcisException:ResourceAlreadyExistsException)
InvalidEventError                      422     "invalid events: nothing was stored"
InvalidInputError, request validation  422     "invalid input"
StateConflictError                     409     CONFLICTS[kind]: ALREADY_RECALLED / _RELEASED / _CLOSED / _ANSWERED / _PLANNED / _CORRECTED
malformed Digital Link path (scan)     400     MALFORMED: the path, not a body, is bad (GS1 resolver)
missing / unknown / revoked API key    401     MISSING_KEY / BAD_KEY
SessionEndedError (supplier portal)    401     SESSION_ENDED
RequestSignatureError (EPCIS capture)  401     the header and what was expected (RFC 7807 problem)
CaptureLimitError (EPCIS capture)      413     the limit and its value (RFC 7807, CaptureLimitExceededException)
too many wrong keys, scans, bundles    429     AUTH_THROTTLED / the route's text
NotAllowedError, wrong role            403     the core's message / "not allowed: ..." (custody: problems name the field)
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    CaptureLimitError,
    ChainError,
    ChainUnavailableError,
    Conflict,
    DuplicateEpcisError,
    EpcisNameTakenError,
    EpcisQueryError,
    EpcisSubscriptionError,
    InvalidEpcisError,
    InvalidEventError,
    InvalidInputError,
    NotAllowedError,
    NotFoundError,
    Problem,
    RequestSignatureError,
    RpcRefusedError,
    SessionEndedError,
    StateConflictError,
    StoppedError,
    TraceError,
)

log = logging.getLogger("cradletrace.api")

INVALID_EVENTS = "invalid events: nothing was stored"
INVALID_INPUT = "invalid input"
MISSING_KEY = "missing API key: expected 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
BAD_KEY = "API key not valid (unknown or revoked)"
SESSION_ENDED = "not signed in: the portal session is missing, idle too long, too old or signed out; sign in again"
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
INVALID_EPCIS = "invalid EPCIS document: nothing was stored"
EPCIS_QUERY = "invalid EPCIS query: a query parameter is unknown or badly formed; see problems"
QUERY_PARAMETER_EXCEPTION = "epcisException:QueryParameterException"
EPCIS_SUBSCRIPTION = "invalid named query or subscription: see problems"
EPCIS_NAME_TAKEN = "a named query of that name exists; nothing was stored"
# GS1's exception type of each EPCIS refusal answered as an RFC 7807 problem
EPCIS_PROBLEMS: dict[type[TraceError], str] = {
    EpcisQueryError: QUERY_PARAMETER_EXCEPTION,
    EpcisSubscriptionError: "epcisException:SubscriptionControlsException",
    EpcisNameTakenError: "epcisException:ResourceAlreadyExistsException",
    # the REST binding's capture (api/routes/epcisbinding.py)
    RequestSignatureError: "epcisException:SecurityException",
    CaptureLimitError: "epcisException:CaptureLimitExceededException",
}
EPCIS_TITLES = {
    "epcisException:SecurityException": "Request signature refused",
    "epcisException:CaptureLimitExceededException": "Capture Payload too large",
}
DUPLICATE_EPCIS = "duplicate EPCIS event: already captured; nothing was stored"
ALREADY_RECALLED = "conflict: a lot in the scope is already under an active recall; no recall was started"
ALREADY_RELEASED = "conflict: this hold is already released; nothing was changed"
ALREADY_CLOSED = "conflict: this recall is already closed; nothing was changed"
ALREADY_PLANNED = "conflict: this recall's effectiveness checks were already drawn; nothing was changed"
ALREADY_ANSWERED = "conflict: this acknowledgement was already answered; nothing was changed"
ALREADY_CORRECTED = "conflict: this event is already corrected; nothing was stored (see problems)"
CONFLICTS = {
    Conflict.RECALLED: ALREADY_RECALLED,
    Conflict.RELEASED: ALREADY_RELEASED,
    Conflict.CLOSED: ALREADY_CLOSED,
    Conflict.ANSWERED: ALREADY_ANSWERED,
    Conflict.PLANNED: ALREADY_PLANNED,
    Conflict.CORRECTED: ALREADY_CORRECTED,
}


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
    return JSONResponse(error_body(detail, problems), status_code=status, headers=headers)


def error_body(detail: str, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    """``{"detail", "field", "problems"}``: the body of every error response."""
    out = ErrorOut(
        detail=detail,
        field=(problems[0].where or None) if problems else None,
        problems=[ProblemOut(field=p.where or None, message=p.message) for p in problems],
    )
    return dict(jsonable_encoder(out))


# GS1's exception type for a refusal under /epcis that no EPCIS-specific error names (the REST
# binding answers every error as an RFC 7807 problem of one of these types).
GS1_TYPES = {
    400: "epcisException:ValidationException",
    401: "epcisException:SecurityException",
    403: "epcisException:SecurityException",
    404: "epcisException:NoSuchNameException",
    406: "epcisException:NotAcceptableException",
    409: "epcisException:ResourceAlreadyExistsException",
    413: "epcisException:QueryTooLargeException",
    415: "epcisException:UnsupportedMediaTypeException",
}
GS1_PREFIX = "/epcis"


def in_binding(path: str) -> bool:
    """Whether a request path is GS1's REST binding's (mounted at /epcis, api/routes/epcisbinding.py)."""
    return path == GS1_PREFIX or path.startswith(GS1_PREFIX + "/")


def answer(
    path: str,
    status: int,
    detail: str,
    problems: Sequence[Problem] = (),
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> JSONResponse:
    """Every error's answer: ours (``{"detail", "field", "problems"}``), or under /epcis the same
    fields inside GS1's RFC 7807 problem (``type`` the EPCIS exception, ``title``, ``status``)."""
    if kind is None and not in_binding(path):
        return error_response(status, detail, problems, headers)
    if status == 422:  # GS1's binding has no 422: an invalid body or parameter is a 400 ValidationException
        status = 400
    if kind is None and status == 413 and path.rstrip("/") in (GS1_PREFIX + "/capture", GS1_PREFIX + "/events"):
        kind = "epcisException:CaptureLimitExceededException"  # a body too large: only captures have one
    out = problem_response(
        status, detail, problems, kind or GS1_TYPES.get(status, "epcisException:ImplementationException")
    )
    out.headers.update(headers or {})
    return out


def problem_response(
    status: int, detail: str, problems: Sequence[Problem], kind: str = QUERY_PARAMETER_EXCEPTION
) -> JSONResponse:
    """An EPCIS query refusal as GS1's REST binding shapes it (RFC 7807, ``type`` the EPCIS exception),
    keeping ``field`` and ``problems`` so it names the parameter as every other error names its field."""
    body = error_body(detail, problems)
    title = EPCIS_TITLES.get(kind) or (
        "EPCIS query exception" if kind == QUERY_PARAMETER_EXCEPTION else _DESCRIPTIONS.get(status, detail)
    )
    body.update(type=kind, title=title, status=status)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


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


def _own_problems(exc: TraceError) -> list[Problem]:
    """The fields at fault the error names (input errors and state conflicts), else none."""
    return list(getattr(exc, "problems", []))


@dataclass(frozen=True)
class Answer:
    """How the API answers one cradletrace error class: ``detail`` is a fixed text, or made from the
    error (its own message: it names only ids the caller gave); ``problems`` are the fields at fault."""

    error: type[TraceError]
    status: int
    detail: str | Callable[[Any], str]
    problems: Callable[[Any], list[Problem]] = _own_problems


# The one place that decides each error's status and detail. First match wins: subclasses first.
ANSWERS: tuple[Answer, ...] = (
    Answer(DuplicateEpcisError, 409, DUPLICATE_EPCIS),
    Answer(InvalidEpcisError, 422, INVALID_EPCIS),
    Answer(EpcisQueryError, 400, EPCIS_QUERY),
    Answer(EpcisSubscriptionError, 400, EPCIS_SUBSCRIPTION),
    Answer(EpcisNameTakenError, 409, EPCIS_NAME_TAKEN),
    Answer(InvalidEventError, 422, INVALID_EVENTS),
    Answer(InvalidInputError, 422, INVALID_INPUT),
    Answer(StateConflictError, 409, lambda e: CONFLICTS[e.kind]),
    Answer(NotFoundError, 404, str),
    Answer(NotAllowedError, 403, str),
    Answer(SessionEndedError, 401, SESSION_ENDED),
    Answer(RequestSignatureError, 401, str),
    Answer(CaptureLimitError, 413, str),
    Answer(ChainUnavailableError, 503, CHAIN_UNAVAILABLE),
    Answer(StoppedError, 503, STOPPED, lambda e: [Problem("", str(e))]),
    Answer(ChainError, 502, CHAIN_FAILED),
    Answer(AnchoringBusyError, 409, ANCHORING_BUSY),
    # POST /rpc answers these inside JSON-RPC (HTTP 200, with ``code``); here only if one escapes elsewhere.
    Answer(RpcRefusedError, 400, str),
    Answer(TraceError, 500, CONFIG),
)


def answer_for(exc: TraceError) -> tuple[int, str, list[Problem]]:
    """Status, detail and problems of the API's answer to ``exc`` (from ``ANSWERS``)."""
    rule = next(a for a in ANSWERS if isinstance(exc, a.error))
    detail = rule.detail if isinstance(rule.detail, str) else rule.detail(exc)
    return rule.status, detail, rule.problems(exc)


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
        status, detail, problems = answer_for(exc)
        if status >= 500:
            log.error("%s %s -> %d: %s: %s", request.method, redact(request.url.path), status, type(exc).__name__, exc)
        kind = next((k for e, k in EPCIS_PROBLEMS.items() if isinstance(exc, e)), None)
        return answer(request.url.path, status, detail, problems, kind=kind)  # an EPCIS error: GS1's problem anywhere

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return answer(request.url.path, exc.status, exc.detail, exc.problems, exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = validation_problems(exc.errors())
        if not in_binding(request.url.path):
            return error_response(422, INVALID_INPUT, problems)
        # GS1's binding has no 422: a malformed path names no resource (404), a malformed query
        # parameter is a QueryParameterException, a malformed body a ValidationException (400).
        where = {str(e.get("loc", ("",))[0]) for e in exc.errors()}
        if "path" in where:
            return answer(request.url.path, 404, "not found", problems)
        return answer(
            request.url.path,
            400,
            INVALID_INPUT,
            problems,
            kind=QUERY_PARAMETER_EXCEPTION if where == {"query"} else None,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else INVALID_INPUT
        if exc.status_code == 404 and detail == "Not Found":
            detail = "not found"
        elif exc.status_code == 405:
            detail = "method not allowed"
        return answer(request.url.path, exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, IntegrityError):
            # Two requests passed the same uniqueness check at once; the store kept one of them.
            log.warning("%s %s -> 409: store: %s", request.method, redact(request.url.path), str(exc.orig or exc)[:300])
            return answer(request.url.path, 409, CONFLICT)
        if store_unreachable(exc):
            log.error(
                "%s %s -> 503: store: %s",
                request.method,
                redact(request.url.path),
                str(getattr(exc, "orig", None) or exc)[:300],
            )
            return answer(request.url.path, 503, STORE_UNAVAILABLE)
        log.exception("%s %s -> 500: store error", request.method, redact(request.url.path))
        return answer(request.url.path, 500, INTERNAL)

    app.add_exception_handler(TraceError, on_trace_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(SQLAlchemyError, on_store_error)
    app.add_exception_handler(PgError, on_store_error)

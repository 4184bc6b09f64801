"""Typed dependencies: the runtime's workspace, session and chain, the caller, and role checks.

A key is read from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and looked up on
every request (see ``cradletrace.apikeys``), so a revoked key fails on its next request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from cradletrace import apikeys
from cradletrace.api.errors import AUTH_THROTTLED, BAD_KEY, MISSING_KEY, ApiError, too_many
from cradletrace.api.ratelimit import RateLimiter
from cradletrace.api.runtime import Runtime
from cradletrace.apikeys import Caller
from cradletrace.chain.base import Anchor
from cradletrace.core.canonical import JsonValue, parse_json
from cradletrace.errors import CanonicalizationError, InvalidInputError, Problem
from cradletrace.workspace import Workspace


async def get_runtime(request: Request) -> Runtime:
    """Async only so FastAPI calls it on the loop: a sync dependency costs a thread hand-off."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_workspace(runtime: RuntimeDep) -> Workspace:
    return runtime.workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """One session per request; handlers that write commit themselves, anything else rolls back.

    A request holds a store connection from its first query (the key lookup) to the end, across
    several hand-offs to worker threads (dependencies, handler, response validation). With more
    requests in flight than connections, finished handlers held connections while waiting for a
    thread, and the threads waited for a connection, until the pool's timeout answered 503
    (tests/api/test_concurrency.py). So a request first takes one of ``db_pool_size`` slots, on the
    loop, holding no thread; and its session closes on the loop, needing none."""
    async with runtime.store_slots:
        session = runtime.session()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_chain(runtime: RuntimeDep) -> Anchor:
    return runtime.chain()


ChainDep = Annotated[Anchor, Depends(get_chain)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ct_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: `X-API-Key: ct_...`")


def client_address(request: Request) -> str:
    """The client's address: the TCP peer's, or what a trusted proxy said (Settings.trusted_proxies)."""
    return request.client.host if request.client else "?"


def get_caller(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Caller:
    """The key's holder. Wrong keys are throttled per address: once it has spent its allowance
    (Settings.auth_failures_per_minute) every key it presents, the right one too, is 429 until the
    allowance grows back, so guessing costs time; other addresses are not affected."""
    presented = bearer.credentials if bearer else header
    if not presented:
        raise ApiError(401, MISSING_KEY, headers={"WWW-Authenticate": "Bearer"})
    return caller_of(request, runtime, session, presented)


def caller_of(request: Request, runtime: Runtime, session: Session, presented: str) -> Caller:
    """The holder of the key ``presented``, throttled per address as ``get_caller`` says; for pages
    that also answer without a key (the pallet page: api/routes/resolver.py)."""
    address = client_address(request)
    wait = runtime.auth_throttle.wait(address)
    if wait:
        raise too_many(AUTH_THROTTLED, wait)
    caller = apikeys.authenticate(session, presented.strip())
    if caller is None:
        runtime.auth_throttle.check(address)
        raise ApiError(401, BAD_KEY, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return caller


def rate_limited(limiter: Callable[[Runtime], RateLimiter], detail: str) -> Any:
    """A dependency that spends one of the address's tokens of ``limiter``, else answers 429."""

    async def dependency(request: Request, runtime: RuntimeDep) -> None:
        wait = limiter(runtime).check(client_address(request))
        if wait:
            raise too_many(detail, wait)

    return Depends(dependency)


def require(*roles: str) -> Callable[[Caller], Caller]:
    """A dependency that admits only keys with one of ``roles``."""
    needed = " or ".join(roles)

    def dependency(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if caller.role not in roles:
            raise ApiError(403, f"not allowed: this needs a key with role {needed}; this key has role {caller.role}")
        return caller

    return dependency


OperatorDep = Annotated[Caller, Depends(require("operator"))]
QualityDep = Annotated[Caller, Depends(require("quality"))]
SupplierDep = Annotated[Caller, Depends(require("supplier"))]
StaffDep = Annotated[Caller, Depends(require("operator", "quality"))]
# Reading events and suppliers: operator and quality staff see all, a supplier its own.
ReaderDep = Annotated[Caller, Depends(require("operator", "quality", "supplier"))]
KeyHolderDep = Annotated[Caller, Depends(require("operator", "supplier"))]  # supplier signing keys


def who(caller: Caller) -> str:
    """How a change records who made it: the API key's name and id."""
    return f"api:{caller.name} ({caller.key_id})"


def check_own(caller: Caller, supplier_id: str) -> None:
    """Refuse a supplier key that reaches for another supplier's records."""
    if caller.role == "supplier" and caller.supplier_id != supplier_id:
        raise ApiError(403, "not allowed: a supplier key reads only its own supplier's records")


async def read_body(request: Request) -> bytes:
    """The raw body, for endpoints that read it with the core's parsers themselves."""
    return await request.body()


RawBody = Annotated[bytes, Depends(read_body)]


JSON_BODY = "cradletrace.json_body"  # scope key: the body as api.middleware.StrictJsonMiddleware parsed it


def _body_problem(p: Problem) -> Problem:
    """A parser problem as a field of the body: ``body``, ``body.role`` (a key given twice)."""
    if not p.where:
        return Problem("body", p.message)
    if p.where.startswith("line "):
        return Problem("body", f"{p.message} ({p.where})")
    return Problem(f"body.{p.where}", p.message)


def parse_body(raw: bytes) -> JsonValue:
    """A request body parsed by ``canonical.parse_json`` (bounded depth, each key once, no NaN,
    exact numbers); refused as an InvalidInputError whose problems name ``body`` fields."""
    try:
        return parse_json(raw)
    except CanonicalizationError as exc:
        raise InvalidInputError([_body_problem(p) for p in exc.problems]) from None


async def json_body(request: Request) -> JsonValue:
    """The body as ``StrictJsonMiddleware`` parsed it; a body it did not parse (another content
    type, or none) is parsed here by the same rules."""
    if JSON_BODY in request.scope:
        value: JsonValue = request.scope[JSON_BODY]
        return value
    return parse_body(await request.body())


JsonBody = Annotated[JsonValue, Depends(json_body)]

"""EPCIS 2.0 named queries and webhook subscriptions: GS1's ``/queries`` resources, at ``/epcis/queries``.

Paths, bodies, status codes and ``Location`` headers follow GS1's OpenAPI document (vendored as
trace/data/epcis/epcis-rest-openapi.json). A bad body is refused with 400 as an RFC 7807 problem
of type ``epcisException:SubscriptionControlsException`` (or ``QueryParameterException`` for a
query parameter) naming the field; a name in use with 409 ``ResourceAlreadyExistsException``.
Every reader may use them; a supplier sees its own named queries, and what a query or a
subscription returns is what its caller may query (cradletrace.epcis.subscriptions).
WebSocket subscriptions are not offered: webhooks only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response

from cradletrace.api.deps import ReaderDep, RuntimeDep, SessionDep
from cradletrace.api.errors import responses
from cradletrace.apikeys import Caller
from cradletrace.epcis import query
from cradletrace.epcis import subscriptions as subs
from cradletrace.epcis.wake import WAKE
from cradletrace.errors import EpcisQueryError, Problem

router = APIRouter(prefix="/epcis", tags=["epcis subscriptions"])

HEADERS = {"GS1-EPCIS-Version": query.EPCIS_VERSION, "GS1-CBV-Version": query.CBV_VERSION}
QueryName = Annotated[str, Path(min_length=1, max_length=200, description="The named query's name")]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=64, description="The subscriptionID")]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"type": "object"}}}}


def _json(description: str, example: Any = None, *, many: bool = False) -> dict[str, Any]:
    """A JSON answer: one object, or a list of them (``many``)."""
    media: dict[str, Any] = {"schema": {"type": "array", "items": {"type": "object"}} if many else {"type": "object"}}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


_BAD: dict[int | str, dict[str, Any]] = {
    400: _problem("A field of the body is missing or badly formed (RFC 7807 problem; `field` names it)")
}
_QUERY_EXAMPLE = {"name": "shipped", "query": {"EQ_bizStep": ["shipping"], "eventType": ["ObjectEvent"]}}
_SUB_EXAMPLE = {
    "dest": "https://erp.example.com/epcis",
    "signatureToken": "a-secret-of-16-chars-or-more",
    "stream": True,
}


def owner(caller: Caller) -> subs.Owner:
    return subs.Owner(caller.role, caller.supplier_id if caller.role == "supplier" else None, caller.key_id)


def _send(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json", headers={**HEADERS, **(headers or {})})


@router.post(
    "/queries",
    status_code=201,
    responses={
        **responses(401, 403, 422),
        **_BAD,
        201: _json("The named query (GS1's QueryDefinition); `Location` is its URL"),
        409: _problem("A named query of that name exists (epcisException:ResourceAlreadyExistsException)"),
    },
)
def create_query(
    session: SessionDep,
    caller: ReaderDep,
    payload: Annotated[Any, Body(description="GS1's QueryDefinition: name and query", examples=[_QUERY_EXAMPLE])],
) -> Response:
    """Create a named query: a name and SimpleEventQuery parameters (as `GET /epcis/events` takes them,
    lists as JSON arrays). Its events are at `/epcis/queries/{name}/events`."""
    row = subs.create_query(session, owner(caller), payload, datetime.now(UTC))
    session.commit()
    return _send(subs.query_json(row), 201, {"Location": f"/epcis/queries/{row.name}"})


@router.get(
    "/queries", responses={**responses(401, 403), 200: _json("The named queries you see", [_QUERY_EXAMPLE], many=True)}
)
def list_queries(session: SessionDep, caller: ReaderDep) -> Response:
    """The named queries: a supplier's own, or all of them for quality and operator."""
    return _send([subs.query_json(q) for q in subs.list_queries(session, owner(caller))])


@router.get("/queries/{queryName}", responses={**responses(401, 403, 404, 422), 200: _json("The query definition")})
def get_query(session: SessionDep, caller: ReaderDep, queryName: QueryName) -> Response:
    """One named query's definition."""
    return _send(subs.query_json(subs.get_query(session, owner(caller), queryName)))


@router.delete(
    "/queries/{queryName}",
    status_code=204,
    responses={**responses(401, 403, 404, 422), 204: {"description": "Deleted, and its subscriptions with it"}},
)
def delete_query(session: SessionDep, caller: ReaderDep, queryName: QueryName) -> Response:
    """Delete a named query; its subscriptions end with it (documents not delivered yet are dropped)."""
    subs.delete_query(session, owner(caller), queryName)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/queries/{queryName}/events",
    responses={
        **responses(401, 403, 404, 422),
        200: {**_json('An EPCISQueryDocument; a `Link: <…>; rel="next"` header while more pages follow')},
        400: _problem("perPage or nextPageToken badly formed, or another parameter given (QueryParameterException)"),
    },
    openapi_extra={
        "parameters": [
            {"name": "perPage", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "nextPageToken", "in": "query", "required": False, "schema": {"type": "string"}},
        ]
    },
)
def query_events(
    request: Request,
    session: SessionDep,
    caller: ReaderDep,
    queryName: QueryName,
) -> Response:
    """Run a named query: its events you may see, oldest recordTime first, `perPage` a page (as `GET /epcis/events`)."""
    row = subs.get_query(session, owner(caller), queryName)
    paging: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        if k not in query.PAGING:
            raise EpcisQueryError(
                Problem(k, "expected only perPage and nextPageToken; the query's parameters are its own")
            )
        paging.setdefault(k, []).append(v)
    page = query.run(session, {**subs.params_of(row), **paging}, owner(caller).viewer)
    session.commit()  # the CBV hashes the query computed for native events
    doc = query.document(page, datetime.now(UTC))
    doc["epcisBody"]["queryResults"]["queryName"] = row.name
    headers = {}
    if page.next_token:
        url = request.url.remove_query_params("nextPageToken").include_query_params(nextPageToken=page.next_token)
        headers["Link"] = f'<{url}>; rel="next"'
    return _send(doc, 200, headers)


@router.post(
    "/queries/{queryName}/subscriptions",
    status_code=201,
    responses={
        **responses(401, 403, 404, 422),
        **_BAD,
        201: _json("The subscription (never its secret); `Location` is its URL"),
    },
)
def subscribe(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: ReaderDep,
    queryName: QueryName,
    payload: Annotated[
        Any,
        Body(
            description="dest, signatureToken (16 to 200 characters), and stream: true or a schedule "
            "(second, minute, hour, dayOfMonth, month, dayOfWeek; UTC); reportIfEmpty, initialRecordTime",
            examples=[_SUB_EXAMPLE],
        ),
    ],
) -> Response:
    """Subscribe a webhook to a named query: new matching events you may see are POSTed to `dest` as
    EPCISQueryDocuments signed in `GS1-Signature` (docs/epcis.md), as they are recorded or on a schedule."""
    q = subs.get_query(session, owner(caller), queryName)
    row = subs.create_subscription(session, runtime.sealer, owner(caller), q, payload, datetime.now(UTC))
    session.commit()
    WAKE.set()
    where = str(request.url_for("get_subscription", queryName=q.name, subscriptionID=row.uid))
    return _send(subs.subscription_json(row, q.name), 201, {"Location": where})


@router.get(
    "/queries/{queryName}/subscriptions",
    responses={**responses(401, 403, 404, 422), 200: _json("The query's subscriptions", many=True)},
)
def list_subscriptions(session: SessionDep, caller: ReaderDep, queryName: QueryName) -> Response:
    """The subscriptions of a named query."""
    q = subs.get_query(session, owner(caller), queryName)
    return _send([subs.subscription_json(s, q.name) for s in subs.list_subscriptions(session, q)])


@router.get(
    "/queries/{queryName}/subscriptions/{subscriptionID}",
    responses={**responses(401, 403, 404, 422), 200: _json("The subscription, with lastNotifiedAt")},
)
def get_subscription(
    session: SessionDep,
    caller: ReaderDep,
    queryName: QueryName,
    subscriptionID: SubscriptionId,
) -> Response:
    """One subscription: whether it is still there, and when its webhook last accepted a delivery."""
    q = subs.get_query(session, owner(caller), queryName)
    return _send(subs.subscription_json(subs.get_subscription(session, q, subscriptionID), q.name))


@router.delete(
    "/queries/{queryName}/subscriptions/{subscriptionID}",
    status_code=204,
    responses={**responses(401, 403, 404, 422), 204: {"description": "Unsubscribed"}},
)
def unsubscribe(
    session: SessionDep,
    caller: ReaderDep,
    queryName: QueryName,
    subscriptionID: SubscriptionId,
) -> Response:
    """Unsubscribe: nothing more is sent, documents not delivered yet included."""
    q = subs.get_query(session, owner(caller), queryName)
    subs.delete_subscription(session, q, subscriptionID)
    session.commit()
    return Response(status_code=204)

"""The EPCIS 2.0 query interface (GS1's REST binding, at ``/epcis``): ``GET /epcis/events`` and the resource lists.

Parameters, answers and refusals follow GS1's OpenAPI document (vendored as
trace/data/epcis/epcis-rest-openapi.json): an EPCISQueryDocument with the events in
``epcisBody.queryResults.resultsBody.eventList``, ``GS1-EPCIS-Version`` and ``GS1-CBV-Version``
headers, paging by ``perPage`` and ``nextPageToken`` with a ``Link: <…>; rel="next"`` header, and a
bad parameter refused with 400 as an RFC 7807 problem of type
``epcisException:QueryParameterException`` naming it. What each caller sees: cradletrace.epcis.query.
``Accept: application/xml`` gets the EPCISQueryDocument as EPCIS 2.0 XML (cradletrace.epcis.xml).
An event captured unsigned (docs/epcis.md "REST binding") carries ``ct:unsigned: true``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from cradletrace.api.deps import ReaderDep, SessionDep
from cradletrace.api.errors import responses
from cradletrace.apikeys import Caller
from cradletrace.epcis import query, xml
from cradletrace.epcis.profile import CONTEXT
from cradletrace.epcis.validation import vocabulary
from cradletrace.errors import NotFoundError

router = APIRouter(prefix="/epcis", tags=["epcis query"])

HEADERS = {"GS1-EPCIS-Version": query.EPCIS_VERSION, "GS1-CBV-Version": query.CBV_VERSION}
_DOC_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'An EPCISQueryDocument; a `Link: <…>; rel="next"` header while more pages follow',
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {}},
            "application/xml": {"schema": {"type": "string", "description": "EPCISQueryDocument, EPCIS 2.0 XML"}},
        },
        "headers": {
            "GS1-EPCIS-Version": {"schema": {"type": "string"}},
            "GS1-CBV-Version": {"schema": {"type": "string"}},
            "Link": {"schema": {"type": "string"}},
        },
    },
    400: {
        "description": "A query parameter unknown, unsupported or badly formed (RFC 7807 problem, "
        "type epcisException:QueryParameterException; `field` names the parameter)",
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    },
}
_COLLECTION_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A Collection (`member`: the values)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _parameter(name: str) -> dict[str, Any]:
    pipe = name.startswith(("EQ_", "MATCH_")) or name == "eventType"
    schema: dict[str, Any] = {"type": "string"}
    if name == "perPage":
        schema = {"type": "integer", "minimum": 1, "maximum": query.MAX_PER_PAGE, "default": query.PER_PAGE}
    elif name.startswith(("GE_", "LT_")):
        schema = {"type": "string", "format": "date-time"}
    elif pipe:
        schema = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        **({"style": "pipeDelimited", "explode": False} if pipe else {}),
    }


_PARAMETERS = {"parameters": [_parameter(n) for n in sorted(query.SUPPORTED)]}


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def viewer(caller: Caller) -> query.Viewer:
    return query.Viewer(caller.supplier_id if caller.role == "supplier" else None)


def _answer(
    request: Request, session: Any, params: Mapping[str, Sequence[str]], caller: Caller, epc: str | None = None
) -> Response:
    page = query.run(session, params, viewer(caller), epc)
    session.commit()  # the CBV hashes the query computed for native events, kept for the next one
    now = datetime.now(UTC)
    body = json.dumps(query.document(page, now), ensure_ascii=False, separators=(",", ":"))
    headers = dict(HEADERS)
    if page.next_token:
        url = request.url.remove_query_params("nextPageToken").include_query_params(nextPageToken=page.next_token)
        headers["Link"] = f'<{url}>; rel="next"'
    accept = request.headers.get("accept", "")
    if any(m in accept for m in xml.MEDIA_TYPES) and "json" not in accept:  # EPCIS 2.0 XML (GS1's XSD)
        return Response(xml.to_query_xml(query.document(page, now)), media_type="application/xml", headers=headers)
    media = "application/ld+json" if "application/ld+json" in accept else "application/json"
    return Response(body, media_type=media, headers=headers)


@router.get("/events", responses={**responses(401, 403), **_DOC_200}, openapi_extra=_PARAMETERS)
def query_events(request: Request, session: SessionDep, caller: ReaderDep) -> Response:
    """EPCIS events matching GS1's SimpleEventQuery parameters, oldest recordTime first, `perPage` a page.

    Quality and operator see every event; a supplier the events it recorded or captured and those
    about lots it made or that were shipped to it."""
    return _answer(request, session, _params(request), caller)


@router.get(
    "/epcs/{epc:path}/events", responses={**responses(401, 403, 404, 422), **_DOC_200}, openapi_extra=_PARAMETERS
)
def epc_events(
    request: Request,
    session: SessionDep,
    caller: ReaderDep,
    epc: Annotated[str, Path(min_length=1, max_length=400, description="An EPC URI or GS1 Digital Link URI")],
) -> Response:
    """The history of one EPC: every event naming it as an EPC, parent, input, output or class (a pattern
    or a GTIN's Digital Link: anything under it); other parameters narrow it. 404 when no visible event
    names it. Send a URI percent-encoded (`%2F` for `/`) or as it is."""
    if not query.known(session, epc, viewer(caller)):
        raise NotFoundError(f"epc {epc!r}: no event you may see names it")
    return _answer(request, session, _params(request), caller, epc)


@router.get(
    "/eventTypes/{eventType}/events",
    responses={**responses(401, 403, 422), **_DOC_200},
    openapi_extra=_PARAMETERS,
)
def event_type_events(
    request: Request,
    session: SessionDep,
    caller: ReaderDep,
    eventType: Annotated[str, Path(min_length=1, max_length=200, description="An EPCIS event type")],
) -> Response:
    """The events of one type (GS1's `eventTypes/{eventType}/events`); other parameters narrow it."""
    return _answer(request, session, {**_params(request), "eventType": [eventType]}, caller)


def _collection(members: Sequence[str]) -> Response:
    body = {"@context": CONTEXT[0], "type": "Collection", "member": list(members)}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json", headers=HEADERS)


@router.get("/eventTypes", responses={**responses(401, 403), **_COLLECTION_200})
def event_types(session: SessionDep, caller: ReaderDep) -> Response:
    """The EPCIS event types: the five of the standard and any extension type among visible events."""
    seen = query.members(session, "type", viewer(caller))
    return _collection([*query.EVENT_TYPES, *sorted(set(seen) - set(query.EVENT_TYPES))])


def _vocabulary(field: str, session: Any, column: str, caller: Caller) -> Response:
    standard = sorted(vocabulary()[field][1])
    seen = query.members(session, column, viewer(caller))
    return _collection([*standard, *sorted(set(seen) - set(standard))])


@router.get("/bizSteps", responses={**responses(401, 403), **_COLLECTION_200})
def biz_steps(session: SessionDep, caller: ReaderDep) -> Response:
    """The CBV 2.0 business steps, then the custom ones of visible events."""
    return _vocabulary("bizStep", session, "biz_step", caller)


@router.get("/dispositions", responses={**responses(401, 403), **_COLLECTION_200})
def dispositions(session: SessionDep, caller: ReaderDep) -> Response:
    """The CBV 2.0 dispositions, then the custom ones of visible events."""
    return _vocabulary("disposition", session, "disposition", caller)


@router.get("/bizLocations", responses={**responses(401, 403), **_COLLECTION_200})
def biz_locations(session: SessionDep, caller: ReaderDep) -> Response:
    """The business locations of visible events (GS1 Digital Link where they have one)."""
    return _collection(query.members(session, "biz_location", viewer(caller)))


@router.get("/readPoints", responses={**responses(401, 403), **_COLLECTION_200})
def read_points(session: SessionDep, caller: ReaderDep) -> Response:
    """The read points of visible events (GS1 Digital Link where they have one)."""
    return _collection(query.members(session, "read_point", viewer(caller)))

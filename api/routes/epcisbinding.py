"""The capture side of GS1's EPCIS 2.0 REST binding, at ``/epcis`` (the query side: epcisquery.py).

Paths, bodies, status codes and headers follow GS1's OpenAPI document (vendored as
trace/data/epcis/epcis-rest-openapi.json): ``POST /epcis/capture`` takes a document (JSON-LD, EPCIS
2.0 or 1.2 XML), checks what is cheap (media type, size, event count, the request signature) and
answers 202 with the job's URL; the capture worker (cradletrace.epcis.binding) stores it all or
nothing; ``GET /epcis/capture/{captureID}`` says how it went. ``POST /epcis/events`` captures one
event and waits for it (201). Every request is signed by the partner (HTTP Message Signatures,
RFC 9421, over its Content-Digest; epcis/httpsig.py) unless the operator allows unsigned capture.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cradletrace.api.deps import JSON_BODY, ReaderDep, RuntimeDep, SessionDep, SupplierDep
from cradletrace.api.errors import ApiError, ErrorOut, responses
from cradletrace.apikeys import Caller
from cradletrace.config import Settings
from cradletrace.epcis import binding, httpsig, query, xml
from cradletrace.epcis.capture import read_document
from cradletrace.epcis.profile import CT
from cradletrace.epcis.validation import events_of
from cradletrace.errors import CaptureLimitError, InvalidEpcisError, Problem
from cradletrace.store.models import CaptureState

router = APIRouter(prefix="/epcis", tags=["epcis binding"])

PREFIX = "/epcis"
CAPTURE_MEDIA = ("application/json", "application/ld+json", "application/xml", "text/xml")
PER_PAGE, MAX_PER_PAGE = 30, 100
# What every binding answer says (GS1's OpenAPI: components/headers): versions and the one extension.
VERSIONS = {
    "GS1-EPCIS-Version": query.EPCIS_VERSION,
    "GS1-CBV-Version": query.CBV_VERSION,
    "GS1-EPCIS-Min": "1.2.0",  # EPCIS 1.2 XML is captured (converted); answers are 2.0
    "GS1-EPCIS-Max": query.EPCIS_VERSION,
    "GS1-CBV-Min": "1.2.0",
    "GS1-CBV-Max": query.CBV_VERSION,
    "GS1-Extensions": f"ct={CT}",
}


def limits_headers(settings: Settings) -> dict[str, str]:
    return {
        "GS1-EPCIS-Capture-Limit": str(settings.epcis_capture_limit),
        "GS1-EPCIS-Capture-File-Size-Limit": str(settings.epcis_capture_max_bytes),
    }


class BindingHeaders:
    """Puts the version headers on every answer under /epcis (errors and 413s included), and the
    capture limits on the capture paths' answers; refuses with 406 a request whose GS1-EPCIS-Min /
    GS1-EPCIS-Max leave out the version served."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.capture = [(k.lower().encode(), v.encode()) for k, v in limits_headers(settings).items()]
        self.versions = [(k.lower().encode(), v.encode()) for k, v in VERSIONS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        extra = self.versions + (self.capture if path.startswith(PREFIX + "/capture") else [])
        wanted = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        low, high = wanted.get("gs1-epcis-min"), wanted.get("gs1-epcis-max")
        if (low and _version(low) > _version(query.EPCIS_VERSION)) or (
            high and _version(high) < _version(query.EPCIS_VERSION)
        ):
            body = json.dumps(
                {
                    "type": "epcisException:NotAcceptableException",
                    "title": "EPCIS version not supported",
                    "status": 406,
                    "detail": f"GS1-EPCIS-Min/Max: expected a range holding {query.EPCIS_VERSION}, got {low}..{high}",
                    "field": "GS1-EPCIS-Min" if low else "GS1-EPCIS-Max",
                    "problems": [],
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 406,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.strip().split("."))
    except ValueError:
        return (0,)


def _options(allow: str, settings: Settings | None = None) -> Response:
    return Response(status_code=204, headers={"Allow": allow, **(limits_headers(settings) if settings else {})})


_204: dict[int | str, dict[str, Any]] = {
    **responses(),
    204: {"description": "The methods allowed and the binding's settings, as headers"},
}
_JSON = {"application/json": {"schema": {"type": "object"}}}


@router.options("/capture", status_code=204, responses=_204)
def capture_options(runtime: RuntimeDep) -> Response:
    """The capture interface's settings: versions, the capture limits (GS1-EPCIS-Capture-Limit: events,
    GS1-EPCIS-Capture-File-Size-Limit: bytes), the methods allowed. Public, as GS1's discovery is."""
    return _options("OPTIONS, POST, GET", runtime.settings)


@router.options("/capture/{captureID}", status_code=204, responses={**_204, **responses(422)})
def capture_job_options(captureID: Annotated[int, Path(ge=1)]) -> Response:
    """The methods of a capture job's resource."""
    return _options("OPTIONS, GET")


@router.options("/events", status_code=204, responses=_204)
def events_options() -> Response:
    """The methods of the events resource: query (GET) and capture one event (POST)."""
    return _options("OPTIONS, GET, POST")


# The query side's resources (epcisquery.py) answer discovery here too, as GS1's document defines it for each.
QUERY_PATHS = ("/eventTypes", "/bizSteps", "/bizLocations", "/readPoints", "/dispositions")


def _query_options() -> Response:
    """The methods of a query resource (GET), and the binding's versions."""
    return _options("OPTIONS, GET")


for _path in QUERY_PATHS:
    router.add_api_route(
        _path,
        _query_options,
        methods=["OPTIONS"],
        status_code=204,
        responses=_204,
        summary=f"Discover {_path}",
        name=f"options_{_path.strip('/')}",
    )


@router.options("/eventTypes/{eventType}/events", status_code=204, responses={**_204, **responses(422)})
def event_type_options(eventType: Annotated[str, Path(min_length=1, max_length=200)]) -> Response:
    """The methods of one event type's events (GET)."""
    return _options("OPTIONS, GET")


@router.options("/epcs/{epc:path}/events", status_code=204, responses={**_204, **responses(422)})
def epc_options(epc: Annotated[str, Path(min_length=1, max_length=400)]) -> Response:
    """The methods of one EPC's history (GET)."""
    return _options("OPTIONS, GET")


# GS1's nine top-level resources (its schema wants all nine); of `epcs` one EPC's events are served, not the list.
TOP_LEVEL = (
    "capture",
    "events",
    "eventTypes",
    "epcs",
    "bizSteps",
    "bizLocations",
    "readPoints",
    "dispositions",
    "queries",
)

# The named queries' resources (epcissubs.py) answer discovery here too.
_NAMED = {
    "/queries": "OPTIONS, GET, POST",
    "/queries/{queryName}": "OPTIONS, GET, DELETE",
    "/queries/{queryName}/events": "OPTIONS, GET",
    "/queries/{queryName}/subscriptions": "OPTIONS, GET, POST",
    "/queries/{queryName}/subscriptions/{subscriptionID}": "OPTIONS, GET, DELETE",
}


def _named_options(allow: str) -> Any:
    def discover() -> Response:
        """The methods of a named query's resource, and the binding's versions."""
        return _options(allow)

    return discover


for _path, _allow in _NAMED.items():
    router.add_api_route(
        _path,
        _named_options(_allow),
        methods=["OPTIONS"],
        status_code=204,
        responses=_204,
        summary=f"Discover {_path}",
        name="options" + _path.replace("/", "_").replace("{", "").replace("}", ""),
    )


@router.get("", responses={**responses(401, 403), 200: {"description": "A Collection", "content": _JSON}})
def top_level(caller: ReaderDep) -> Response:
    """The binding's top-level resources (GS1's `GET /`), as a Collection."""
    body = {"@context": [binding.GS1_CONTEXT], "type": "Collection", "member": list(TOP_LEVEL)}
    return Response(json.dumps(body), media_type="application/json")


@router.options("", status_code=204, responses=_204)
def top_level_options() -> Response:
    """The binding's versions and the methods of its root."""
    return _options("OPTIONS, GET")


async def _body(request: Request, settings: Settings) -> tuple[bytes, str]:
    """The body as received (at most the file-size limit) and its media type; 415 for another type."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in CAPTURE_MEDIA:
        raise ApiError(
            415,
            f"unsupported media type: expected Content-Type one of {', '.join(CAPTURE_MEDIA)}, got {media or 'none'}",
            [Problem("Content-Type", f"expected one of {', '.join(CAPTURE_MEDIA)}")],
        )
    limit = settings.epcis_capture_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise CaptureLimitError("GS1-EPCIS-Capture-File-Size-Limit", limit, int(declared))
    chunks: list[bytes] = []
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise CaptureLimitError("GS1-EPCIS-Capture-File-Size-Limit", limit, seen)
        chunks.append(chunk)
    return b"".join(chunks), media


def _take(request: Request, session: Session, caller: Caller, settings: Settings, body: bytes, media: str) -> int:
    """Check the signature (or that unsigned capture is allowed) and the event count; keep the job."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    material: httpsig.Material | None = None
    if settings.epcis_unsigned_capture and "signature" not in headers and "signature-input" not in headers:
        material = None
    else:
        message = httpsig.Message(request.method, str(request.url), headers)
        lookup = binding.key_lookup(session, str(caller.supplier_id))
        material = httpsig.verify(message, body, lookup, window=settings.epcis_signature_window)
    try:  # the count is cheap to refuse now; any other problem of the document is the job's to report
        parsed = request.scope.get(JSON_BODY)  # a JSON body as the strict parser read it at the door
        n = len(events_of(binding.as_document(parsed if parsed is not None else read_document(body, media))))
    except Exception:
        n = 0
    if n > settings.epcis_capture_limit:
        raise CaptureLimitError("GS1-EPCIS-Capture-Limit", settings.epcis_capture_limit, n)
    capture_id = binding.submit(session, str(caller.supplier_id), media, body, material, datetime.now(UTC))
    session.commit()
    return capture_id


_CAPTURE_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "An EPCISDocument: JSON-LD (application/json, application/ld+json) or XML (application/xml, text/xml; "
        "EPCIS 2.0, or 1.2, converted). Signed by the supplier: `Content-Digest` (RFC 9530, sha-256 of the "
        "body), `Signature-Input` and `Signature` (RFC 9421, alg ed25519, keyid = a registered supplier key, "
        "covering @method, @target-uri (or @authority and @path), content-type, content-digest, with created)."
    ),
    "content": {m: {"schema": {"type": "object" if "json" in m else "string"}} for m in CAPTURE_MEDIA},
}
_SIGNED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "No or a bad API key; or the request signature missing, stale, by a key not the "
        "supplier's or revoked, or not verifying, or the body not matching its Content-Digest "
        "(RFC 7807 problem; `field` names the header)",
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    },
    413: {
        "description": "Over GS1-EPCIS-Capture-Limit (events) or GS1-EPCIS-Capture-File-Size-Limit (bytes) "
        "(RFC 7807 problem, type epcisException:CaptureLimitExceededException, naming the limit)",
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    },
    415: {"model": ErrorOut, "description": "A Content-Type other than JSON-LD or XML"},
}


@router.post(
    "/capture",
    status_code=202,
    openapi_extra={"requestBody": _CAPTURE_BODY},
    responses={
        **responses(401, 403, 422),
        **_SIGNED,
        202: {"description": "Taken: the capture job's URL in Location", "headers": {"Location": {"schema": {}}}},
    },
)
async def capture_document(request: Request, runtime: RuntimeDep, session: SessionDep, caller: SupplierDep) -> Response:
    """Capture an EPCIS document (supplier key, signed request): taken now, stored whole or not at all by
    the capture worker; poll the job at `Location`. Only `GS1-Capture-Error-Behaviour: rollback`."""
    settings = runtime.settings
    behaviour = request.headers.get("gs1-capture-error-behaviour", "rollback")
    if behaviour != "rollback":
        raise InvalidEpcisError(
            Problem("GS1-Capture-Error-Behaviour", f"expected rollback (all or nothing), got {behaviour!r}")
        )
    body, media = await _body(request, settings)
    capture_id = await to_thread.run_sync(lambda: _take(request, session, caller, settings, body, media))
    runtime.wake_captures()
    return Response(status_code=202, headers={"Location": f"{PREFIX}/capture/{capture_id}"})


def _viewer(caller: Caller) -> str | None:
    return caller.supplier_id if caller.role == "supplier" else None


@router.get(
    "/capture",
    responses={
        **responses(401, 403, 422),
        200: {
            "description": "Capture jobs (GS1's CaptureJob), newest first",
            "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
        },
    },
)
def capture_jobs(
    request: Request,
    session: SessionDep,
    caller: ReaderDep,
    perPage: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
    nextPageToken: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> Response:
    """Capture jobs (CaptureJob documents), newest first, `perPage` a page; a supplier sees its own."""
    rows = binding.page(session, _viewer(caller), int(nextPageToken or 0), perPage)
    headers = {}
    if len(rows) == perPage and rows[-1].id is not None:
        url = request.url.remove_query_params("nextPageToken").include_query_params(nextPageToken=rows[-1].id)
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(json.dumps([binding.job_document(r) for r in rows]), media_type="application/json", headers=headers)


CaptureID = Annotated[int, Path(ge=1, le=(1 << 62), description="The capture job's id (Location of its capture)")]


@router.get(
    "/capture/{captureID}",
    responses={
        **responses(401, 403, 404, 422),
        200: {
            "description": "A CaptureJob (GS1's)",
            "content": {**_JSON, "application/xml": {"schema": {"type": "string", "description": "EPCISCaptureJob"}}},
        },
    },
)
def capture_job(request: Request, session: SessionDep, caller: ReaderDep, captureID: CaptureID) -> Response:
    """A capture job: `running` until its one transaction ends, then `success`, or `errors` (RFC 7807
    problems whose `pointer` is the JSON pointer of the event or field at fault). A supplier sees its own.
    `Accept: application/xml`: GS1's `EPCISCaptureJob` XML."""
    row = binding.get(session, captureID, _viewer(caller))
    accept = request.headers.get("accept", "")
    if any(m in accept for m in xml.MEDIA_TYPES) and "json" not in accept:
        return Response(xml.capture_job_xml(binding.job_document(row)), media_type="application/xml")
    return Response(json.dumps(binding.job_document(row)), media_type="application/json")


@router.get(
    "/capture/{captureID}/document",
    responses={
        **responses(401, 403, 404, 422),
        200: {"description": "The request as received, and its signature", "content": _JSON},
    },
)
def capture_request(session: SessionDep, caller: ReaderDep, captureID: CaptureID) -> Response:
    """The capture request exactly as received (body base64, media type) with its signature material and the
    signing key's public key: check it offline with `cradletrace epcis verify-capture`."""
    row = binding.get(session, captureID, _viewer(caller), body=True)
    return Response(json.dumps(binding.document_of(session, row)), media_type="application/json")


@router.post(
    "/events",
    status_code=201,
    openapi_extra={"requestBody": {**_CAPTURE_BODY, "description": "One EPCIS event (JSON-LD), signed as a capture"}},
    responses={
        **responses(401, 403, 409, 422),
        **_SIGNED,
        201: {"description": "Captured: the event, its query URL in Location", "content": _JSON},
        400: {
            "description": "The event was refused (RFC 7807 problems with JSON pointers)",
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        },
        409: {
            "description": "The event was captured before (RFC 7807, epcisException:ResourceAlreadyExistsException)",
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        },
    },
)
async def capture_event(request: Request, runtime: RuntimeDep, session: SessionDep, caller: SupplierDep) -> Response:
    """Capture one EPCIS event and wait for it (GS1's synchronous single-event capture): 201 with the event
    and `Location` its query, 400 with the problems, 409 when it was captured before."""
    settings = runtime.settings
    body, media = await _body(request, settings)
    capture_id = await to_thread.run_sync(lambda: _take(request, session, caller, settings, body, media))
    # Run here and now (a worker that took it first is waited for): the client waits for its one event.
    limits = runtime.workspace.limits
    await to_thread.run_sync(lambda: binding.run_job(runtime.session, capture_id, limits, settings.epcis_capture_limit))
    deadline = asyncio.get_running_loop().time() + settings.api_request_timeout
    while True:
        row = await to_thread.run_sync(lambda: _finished(session, capture_id))
        if row is not None or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    if row is None:  # still running: the job carries on; its URL says how it ends
        return Response(status_code=202, headers={"Location": f"{PREFIX}/capture/{capture_id}"})
    job = binding.job_document(row)
    if row.state == CaptureState.FAILED:
        duplicate = any("captured before" in e["detail"] for e in job["errors"])
        status = 409 if duplicate else 400
        problem = {
            "type": "epcisException:ResourceAlreadyExistsException" if duplicate else binding.VALIDATION,
            "title": "Event refused",
            "status": status,
            "detail": "; ".join(e["detail"] for e in job["errors"]),
            "errors": job["errors"],
            "field": job["errors"][0]["pointer"] if job["errors"] else None,
            "problems": [{"field": e["pointer"], "message": e["detail"]} for e in job["errors"]],
        }
        return Response(json.dumps(problem), status_code=status, media_type="application/problem+json")
    event = await to_thread.run_sync(lambda: binding.stored_event(session, capture_id)) or {}
    eid = event.get("eventID", "")
    return Response(
        json.dumps(event),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"{PREFIX}/events?EQ_eventID={quote(str(eid), safe='')}"},
    )


def _finished(session: Session, capture_id: int) -> Any:
    session.rollback()  # a fresh read each time
    row = binding.get(session, capture_id)
    return row if row.state != CaptureState.PENDING else None

"""EPCIS 2.0: capture a supplier's document (all or nothing), export a lot's or a recall's events.

Signatures: a supplier key records only as its own supplier, and every cradletrace event must
carry that supplier's Ed25519 signature over its own canonical bytes, as ``POST /events``
requires. So the supplier signs each *mapped* event, not the EPCIS document bytes: the mapping
(``cradletrace.epcis.profile``) is deterministic, ``cradletrace epcis sign FILE --supplier ID``
prints the ready body, and what is anchored and verified later is exactly what was signed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cradletrace.api.bounded import run_bounded
from cradletrace.api.deps import SessionDep, SupplierDep, WorkspaceDep, json_body, require
from cradletrace.api.errors import responses
from cradletrace.api.models import RecordedEvent
from cradletrace.api.routes.recalls import RecallId
from cradletrace.apikeys import Caller
from cradletrace.core.canonical import JsonValue
from cradletrace.epcis import xml
from cradletrace.epcis.capture import capture, check_size, map_document, read_document, stored_ids
from cradletrace.epcis.export import export_lot, export_recall
from cradletrace.epcis.validation import validate
from cradletrace.errors import InvalidEpcisError, NotAllowedError, Problem
from cradletrace.workspace import Workspace

router = APIRouter(prefix="/epcis", tags=["epcis"])
ExporterDep = Annotated[Caller, Depends(require("quality", "operator"))]

MEDIA = "application/ld+json"
# The exports are JSON-LD; a client that asks for plain application/json (and not JSON-LD) gets the same
# bytes labelled so. Both are documented, so what is served is always what the OpenAPI document says.
_EXPORT_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The EPCIS 2.0 document",
        "content": {
            MEDIA: {"schema": {"$ref": "#/components/schemas/EpcisDocumentOut"}},
            "application/xml": {"schema": {"type": "string", "description": "EPCIS 2.0 XML (GS1's XSD)"}},
        },
    }
}

_XML_BODY = (
    "An EPCIS 2.0 (validated against GS1's XSD) or EPCIS 1.2 XML EPCISDocument, converted to the same JSON-LD "
    "events; the key id in the `CT-Key` header and one signature per event, comma-separated, in `CT-Signatures`."
)

_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "`document`: an EPCIS 2.0 JSON-LD `EPCISDocument`. `key`: the id of the supplier key that signed. "
        "`signatures`: one base64 Ed25519 signature per event, in document order, each over the RFC 8785 "
        "canonical bytes of the cradletrace event that EPCIS event maps to (see `cradletrace epcis sign`)."
    ),
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["document", "key", "signatures"],
                "additionalProperties": False,
                "properties": {
                    "document": {"type": "object"},
                    "key": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                    "signatures": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            }
        },
        "application/xml": {"schema": {"type": "string", "description": _XML_BODY}},
        "text/xml": {"schema": {"type": "string", "description": _XML_BODY}},
    },
}


class CapturedEvent(RecordedEvent):
    hash: str = Field(description="CBV 2.0 event hash of the EPCIS event (ni:///sha-256;…?ver=CBV2.0)")
    epcis_id: str | None = Field(description="The eventID the EPCIS event carried, if any")
    pointer: str = Field(description="JSON pointer of the EPCIS event in the document")


class Captured(BaseModel):
    count: int
    events: list[CapturedEvent]


class EpcisDocumentOut(BaseModel):
    """An EPCIS 2.0 JSON-LD document (served as application/ld+json); see GS1's EPCIS 2.0 JSON schema."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    context: list[Any] = Field(alias="@context")
    type: str
    schemaVersion: str
    creationDate: str
    epcisBody: dict[str, Any]


@dataclass(frozen=True)
class XmlCapture:
    """An XML capture request: the document bytes; key and signatures came as headers."""

    raw: bytes
    key: str | None
    signatures: list[str]


async def capture_input(request: Request) -> JsonValue | XmlCapture:
    """The JSON body as before, or (``Content-Type: application/xml`` or ``text/xml``) the XML document with
    the ``CT-Key`` and ``CT-Signatures`` headers; it is converted in the route's worker thread."""
    media = request.headers.get("content-type", "")
    if media and xml.is_xml(media):
        sigs = request.headers.get("ct-signatures", "")
        return XmlCapture(
            await request.body(), request.headers.get("ct-key"), [x.strip() for x in sigs.split(",") if x]
        )
    return await json_body(request)


CaptureBody = Annotated[JsonValue | XmlCapture, Depends(capture_input)]


def _xml_body(value: XmlCapture) -> tuple[Any, str, list[str]]:
    problems: list[Problem] = []
    if value.key is None:
        problems.append(Problem("CT-Key", "expected the header CT-Key: the id of the supplier key that signed"))
    if not value.signatures:
        problems.append(
            Problem("CT-Signatures", "expected the header CT-Signatures: one signature per event, comma-separated")
        )
    document = read_document(value.raw, "application/xml")
    if problems:
        raise InvalidEpcisError(problems)
    return document, str(value.key), value.signatures


def _body(value: JsonValue | XmlCapture) -> tuple[Any, str, list[str]]:
    if isinstance(value, XmlCapture):
        return _xml_body(value)
    problems: list[Problem] = []
    if not isinstance(value, dict):
        raise InvalidEpcisError(Problem("", "expected an object with document, key and signatures"))
    extra = sorted(set(value) - {"document", "key", "signatures"})
    if extra:
        problems.append(Problem("", f"expected only document, key and signatures, got {extra}"))
    key, sigs = value.get("key"), value.get("signatures")
    if not isinstance(value.get("document"), dict):
        problems.append(Problem("/document", "expected an EPCIS 2.0 document (object)"))
    if not isinstance(key, str):
        problems.append(Problem("/key", "expected the id of the supplier key that signed"))
    if not isinstance(sigs, list) or not all(isinstance(s, str) for s in sigs):
        problems.append(Problem("/signatures", "expected a list of base64 signatures, one per event"))
    if problems:
        raise InvalidEpcisError(problems)
    return value["document"], str(key), [str(s) for s in sigs]  # type: ignore[union-attr]


@router.post(
    "",
    status_code=201,
    response_model=Captured,
    openapi_extra={"requestBody": _BODY},
    responses=responses(401, 403, 409, 422),
)
def capture_document(body: CaptureBody, session: SessionDep, caller: SupplierDep, ws: WorkspaceDep) -> Captured:
    """Capture an EPCIS 2.0 document (supplier key): validated whole, every event recorded, or none.

    The document is checked against GS1's EPCIS 2.0 JSON schema and the CBV 2.0 vocabulary; each
    event is mapped to one cradletrace event as the supplier of the key, and must carry that
    supplier's signature of the mapped event (the supplier signs each mapped event, not the
    document bytes: what is anchored is exactly what was signed). Problems are JSON pointers into
    the document (`/epcisBody/eventList/3/bizStep`), or `/key`, `/signatures` of the body.
    An event whose CBV 2.0 hash was captured before is refused: 409, nothing stored.
    """
    try:
        document, key, signatures = _body(body)
        check_size(document)
        problems = validate(document)
        if problems:
            raise InvalidEpcisError(problems)
        mapped = map_document(
            document, str(caller.supplier_id), key, ws.limits, stored_ids(session, document, str(caller.supplier_id))
        )
        rows = capture(session, document, mapped, signatures, datetime.now(UTC), ws.limits)
    except NotAllowedError as exc:  # its message names pointers, not "not allowed": say it (403: api.errors)
        raise NotAllowedError(f"not allowed: {exc}") from None
    session.commit()
    return Captured(
        count=len(rows),
        events=[
            CapturedEvent.of(
                r,
                hash=m.hash,
                epcis_id=m.original.get("eventID"),
                pointer=m.where,
            )
            for m, r in zip(mapped, rows)
        ],
    )


# {lot:path}: a lot code may hold '/' (GS1 AI 10, e.g. IF/2), and servers decode %2F before routing.
@router.get(
    "/lots/{lot:path}",
    response_model=EpcisDocumentOut,
    responses={**responses(401, 403, 404, 422), **_EXPORT_200},
)
async def export_lot_history(
    request: Request,
    session: SessionDep,
    ws: WorkspaceDep,
    caller: ExporterDep,
    lot: Annotated[
        str,
        Path(
            min_length=1,
            max_length=35,
            description=(
                "The lot code (AI 10, up to 20 characters, '/' allowed as it is or as %2F), e.g. RM-A1 or IF/2; "
                "or GTIN/LOT (14 digits, a slash, the lot code)"
            ),
        ),
    ],
    gtin: Annotated[
        str | None, Query(pattern=r"^\d{14}$", description="The GTIN, when two products share the lot code")
    ] = None,
) -> Response:
    """A lot's history as an EPCIS 2.0 document (quality, operator); a recall shows as disposition `recalled`.

    Stopped with 503 after `api_request_timeout` seconds, and as soon as the client goes away."""
    return await _exported(request, ws, lambda check: export_lot(session, lot, datetime.now(UTC), gtin, check))


@router.get(
    "/recalls/{recall_id}",
    response_model=EpcisDocumentOut,
    responses={**responses(401, 403, 404, 422), **_EXPORT_200},
)
async def export_recall_scope(
    request: Request, session: SessionDep, ws: WorkspaceDep, caller: ExporterDep, recall_id: RecallId
) -> Response:
    """Every lot of a recall's scope, their histories and the recall (disposition `recalled`), as EPCIS 2.0.

    Stopped with 503 after `api_request_timeout` seconds, and as soon as the client goes away."""
    return await _exported(request, ws, lambda check: export_recall(session, recall_id, datetime.now(UTC), check))


async def _exported(
    request: Request, ws: Workspace, export: Callable[[Callable[[], None]], dict[str, Any]]
) -> Response:
    """An export run with a bound (api/bounded.py), encoded in its worker thread as JSONResponse would."""

    def work(check: Callable[[], None]) -> bytes:
        doc = export(check)
        check()
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

    accept = request.headers.get("accept", "")
    as_xml = any(m in accept for m in xml.MEDIA_TYPES) and MEDIA not in accept and "application/json" not in accept
    if as_xml:  # EPCIS 2.0 XML, valid against GS1's XSD (cradletrace.epcis.xml.to_xml)
        return Response(
            await run_bounded(request, ws.settings.api_request_timeout, lambda check: xml.to_xml(export(check))),
            media_type="application/xml",
        )
    media = "application/json" if "application/json" in accept and MEDIA not in accept else MEDIA
    return Response(await run_bounded(request, ws.settings.api_request_timeout, work), media_type=media)

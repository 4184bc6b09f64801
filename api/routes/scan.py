"""What a phone opens: the GS1 Digital Link path of a pack, as a page or as JSON.

``GET /01/{gtin}/10/{lot}/21/{serial}`` answers HTML (Chinese by default, ``?lang=en``) or JSON
(``Accept: application/json``). A malformed path is 400, a code we never issued is 404 with a
page saying the pack may be counterfeit. Every answer is rate-limited per client address, and
every successful scan is counted. ``POST /api/v1/scans/{scan_id}/location`` lets the page attach
a coarse location the scanner agreed to share.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, BeforeValidator, Field, StrictBool
from pydantic_core import PydanticCustomError

from cradletrace.api.deps import RuntimeDep, client_address
from cradletrace.api.errors import ApiError, error_response, responses, too_many
from cradletrace.core.digitallink import parse_path
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.recall.consumers import form_token
from cradletrace.scan.history import attach_location, client_id
from cradletrace.scan.logistics import Carrier, travelled_in
from cradletrace.scan.service import scan_json
from cradletrace.scanner_web.pages import pick_lang, render_scan, render_unknown, status_warnings

router = APIRouter(tags=["scan"])
RATE_LIMITED = "too many requests from this address; slow down"
MALFORMED = "malformed code: not a GS1 Digital Link path /01/<GTIN>/10/<lot>/21/<serial>"
UNKNOWN = "code not registered: this pack may be counterfeit"
LOCATION_TAKEN = "this scan has its location already: a scan takes one location, once"
_ERROR_SCHEMA = {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The scan page (HTML) or the same facts as JSON (Accept: application/json)",
        "content": {"text/html": {}, "application/json": {}},
    },
    **{
        code: {
            **spec,
            "content": {"application/json": _ERROR_SCHEMA, **({"text/html": {}} if code in (400, 404) else {})},
        }
        for code, spec in responses(400, 404, 422, 429).items()
    },
}
# Each answer depends on Accept and counts a scan: no shared cache may reuse it.
NO_CACHE = {"Vary": "Accept", "Cache-Control": "no-store"}


def _wants_json(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _client(runtime: Any, request: Request) -> str:
    """The scanning client's pseudonym (scan.history.client_id): its address and browser, keyed-hashed."""
    return client_id(runtime.sealer, client_address(request), request.headers.get("user-agent", ""))


def _limit(runtime: Any, request: Request) -> None:
    wait = runtime.scan_limiter.check(client_address(request))
    if wait:
        raise too_many(RATE_LIMITED, wait)


@router.get("/01/{rest:path}", responses=PAGE_RESPONSES, response_class=HTMLResponse, summary="Scan a pack")
async def scan(
    request: Request,
    rest: str,
    runtime: RuntimeDep,
    lang: Annotated[str | None, Query(description="zh (default) or en")] = None,
    fmt: Annotated[
        str | None, Query(alias="format", pattern="^(json|html)$", description="Override content negotiation")
    ] = None,
) -> Response:
    """The consumer page of one pack: origin, tests, cold chain, shipments, integrity per record, scans."""
    response = await _answer(request, runtime, lang, fmt)
    response.headers.update(NO_CACHE)
    return response


async def _answer(request: Request, runtime: Any, lang: str | None, fmt: str | None) -> Response:
    _limit(runtime, request)
    as_json, language = _wants_json(request, fmt), pick_lang(lang)
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    try:
        code = parse_path(raw, request.scope.get("query_string", b"").decode("latin-1"))  # any valid Digital Link form
    except InvalidInputError as exc:
        if as_json:
            return error_response(400, MALFORMED, exc.problems)
        what = "; ".join(f"{p.where}: {p.message}" for p in exc.problems)  # the part at fault, as in the JSON
        return HTMLResponse(render_unknown(language, f"{raw} — {what}", malformed=True), status_code=400)
    # Read before the scan is counted: a store that fails here fails the request uncounted.
    travelled = await to_thread.run_sync(_travelled, runtime, code.gtin, code.serial)
    try:
        result = await runtime.scan(code.gtin, code.lot, code.serial, datetime.now(UTC), _client(runtime, request))
    except NotFoundError:  # the lot's batch event no longer reads
        result = None
    if result is None:
        if as_json:
            return error_response(404, UNKNOWN)
        return HTMLResponse(render_unknown(language, f"{code.gtin} / {code.lot} / {code.serial}"), status_code=404)
    chain = runtime.chain_facts
    if as_json:
        return Response(scan_json(result, chain, travelled), media_type="application/json")
    status = result.status
    return HTMLResponse(
        render_scan(
            result.view,
            language,
            scans=result.scans,
            serial=result.serial,
            memo=result.memo,
            extra_warnings=status_warnings(status.recall, status.hold, language),
            chain=chain,
            travelled=travelled,
            subscribe=_subscribe_form(runtime, code.gtin, code.lot),
        )
    )


def _travelled(runtime: Any, gtin: str | None, serial: str | None) -> list[Carrier]:
    """The case and pallet the can travelled in, city-level (scan.logistics.travelled_in)."""
    if gtin is None or serial is None:
        return []
    with runtime.scan_engine.connect() as conn:
        return travelled_in(conn, gtin, serial)


def _subscribe_form(runtime: Any, gtin: str | None, lot: str | None) -> dict[str, str] | None:
    """The "tell me if this can is recalled" form's fields (recall/consumers.py), for a lot's can."""
    if gtin is None or lot is None:
        return None
    return {"gtin": gtin, "lot": lot, "token": form_token(runtime.sealer, gtin, lot, datetime.now(UTC))}


def _finite(name: str, limit: int) -> Any:
    """NaN and infinities (which Python's JSON reader lets through, though JSON has no such numbers)
    are refused with a message that says so, not as out of range."""

    def check(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError(
                "finite",
                f"expected a {name} in degrees, a number between -{limit} and {limit}; "
                f"got {value} (not a number: JSON has no NaN or Infinity)",
            )
        return value

    return BeforeValidator(check)


Latitude = Annotated[float, _finite("latitude", 90), Field(ge=-90, le=90, strict=True)]
Longitude = Annotated[float, _finite("longitude", 180), Field(ge=-180, le=180, strict=True)]


class LocationIn(BaseModel):
    """A coarse location (rounded to 0.1° before it is sealed), sent only with the scanner's consent."""

    lat: Latitude
    lon: Longitude
    consent: StrictBool = Field(
        description="Must be true (a JSON boolean): the scanner agreed to share an approximate location"
    )


@router.post(
    "/api/v1/scans/{scan_id}/location",
    status_code=204,
    responses=responses(404, 409, 422, 429),
    summary="Attach a coarse, consented location to one's own scan",
)
def post_location(scan_id: str, body: LocationIn, request: Request, runtime: RuntimeDep) -> Response:
    """The scan page calls this when the parent agrees; the scan id in the page is the capability."""
    _limit(runtime, request)
    if not body.consent:
        raise InvalidInputError(Problem("consent", "expected true; without consent no location is stored"))
    with runtime.session() as session:
        if not attach_location(session, runtime.sealer, scan_id, body.lat, body.lon):
            raise ApiError(409, LOCATION_TAKEN)
        session.commit()
    return Response(status_code=204)

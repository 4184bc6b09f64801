"""The camera scanner page: reads a pack's QR code in the browser and opens its scan page.

Public and outside the API prefix, like the scan page itself. Decoding happens on the phone
(jsQR, vendored from npm into /static/vendor), so no camera image ever reaches the server.
The typed fallback is a plain GET form, so it works without JavaScript too: ``?code=`` takes a
link, its path, or the (01)/(10)/(21) lines under the QR, and redirects to the item's page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cradletrace.api.deps import RuntimeDep
from cradletrace.api.errors import responses
from cradletrace.core.labels import ItemCode, parse_typed
from cradletrace.errors import InvalidInputError
from cradletrace.scanner_web.pages import pick_lang, render_scanner, render_verify

router = APIRouter(tags=["scan"])
MAX_TYPED = 500  # a Digital Link is under 100 characters; anything longer is not one
# The page is HTML, but errors from the middleware (413, 500, 503) and validation (422) are JSON
# as everywhere; written out because FastAPI would label a model-based error with text/html here.
JSON_ERRORS = {
    code: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for code, spec in responses(422).items()
}


@router.get(
    "/scan",
    response_class=HTMLResponse,
    summary="Camera scanner page",
    responses={
        **JSON_ERRORS,
        200: {"description": "An HTML page that reads a QR code with the phone camera", "content": {"text/html": {}}},
        303: {
            "description": "`code` was an item code: its scan page",
            "headers": {"Location": {"description": "/01/<GTIN>/10/<lot>/21/<serial>", "schema": {"type": "string"}}},
        },
        400: {"description": "`code` was not an item code: the page again, saying so", "content": {"text/html": {}}},
    },
)
def scanner(
    lang: Annotated[str | None, Query(description="zh (default) or en")] = None,
    code: Annotated[
        str | None, Query(description="A typed or pasted code: link, path or the (01)(10)(21) lines")
    ] = None,
) -> Response:
    """Asks for the rear camera, decodes QR codes on the phone, and opens a GS1 Digital Link item's
    scan page on this server; a code can also be pasted or typed."""
    language = pick_lang(lang)
    if code is None or not code.strip():
        return HTMLResponse(render_scanner(language))
    item = _read(code)
    if item is None:
        # A person reads this answer, not a program: the form again, saying what it was not.
        return HTMLResponse(render_scanner(language, typed=code[:MAX_TYPED], rejected=True), status_code=400)
    return RedirectResponse(item.path + ("?lang=en" if language == "en" else ""), status_code=303)


def _read(code: str) -> ItemCode | None:
    if len(code) > MAX_TYPED:
        return None
    try:
        return parse_typed(code)
    except InvalidInputError:
        return None


@router.get(
    "/verify",
    response_class=HTMLResponse,
    summary="Proof-bundle verifier page",
    responses={
        200: {"description": "One self-contained HTML page that checks a proof bundle", "content": {"text/html": {}}}
    },
)
def verify_page(runtime: RuntimeDep) -> HTMLResponse:
    """Checks a proof bundle ("Save proof" on a scan page, ``cradletrace proof``) in the browser,
    against a JSON-RPC endpoint the user gives (prefilled with this server's). The same file is
    scanner_web/static/verify.html in the repository, which works from file:// with no server."""
    return HTMLResponse(render_verify(runtime.rpc_urls))

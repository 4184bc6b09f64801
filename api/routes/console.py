"""The recall console (``/console``): the page quality staff open in a browser. Public like the scan
page, because it carries no data: it asks for the quality API key and calls the JSON API with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from cradletrace.api.routes.scanner import JSON_ERRORS
from cradletrace.scanner_web.console import render_console
from cradletrace.scanner_web.pages import pick_lang

router = APIRouter(tags=["recalls"])


@router.get(
    "/console",
    response_class=HTMLResponse,
    summary="Recall console page (quality staff)",
    responses={
        **JSON_ERRORS,
        200: {
            "description": "An HTML page; its data comes from the API with the quality key the user enters",
            "content": {"text/html": {}},
        },
    },
)
def console(lang: Annotated[str | None, Query(description="zh (default) or en")] = None) -> HTMLResponse:
    """Search a lot, see its forward trace, start a recall, watch its clock, download its reports."""
    return HTMLResponse(render_console(pick_lang(lang)), headers={"Cache-Control": "no-store"})

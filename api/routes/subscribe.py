"""The public pages of recall notices to people (trace/recall/consumers.py), none with a login:

* ``POST /subscribe``: the scan page's "tell me if this can is recalled" form (an e-mail address
  for the can's lot). The answer is the same whether or not a mail goes out, so the form does not
  tell who is subscribed. Refused without the page's form token or from another site's page.
* ``GET/POST /subscribe/confirm/{token}``: the double opt-in link. GET shows a button, POST
  confirms: a mail scanner that fetches links confirms nothing.
* ``GET/POST /unsubscribe/{token}``: one-click unsubscribe. POST is what RFC 8058 mail clients
  send (``List-Unsubscribe=One-Click``) and what the page's button sends; GET only shows the button.
* ``GET /recall-notice/{token}``: a notice's "read the recall" link; following it counts the
  notice as opened.

Every token is replaced by a marker in the access log (api/logs.py); answers are ``no-store``
and send no referrer; the pages have no script (strict CSP).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError

from cradletrace.api.deps import RuntimeDep, SessionDep, client_address
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.recall import consumers
from cradletrace.scanner_web.pages import pick_lang
from cradletrace.scanner_web.subscribe import render_person_page

page_router = APIRouter(include_in_schema=False)
Token = Annotated[str, Path(min_length=16, max_length=100, pattern=r"^[0-9a-f]+$")]
_NO_STORE = {"Cache-Control": "no-store"}
MAX_FORM = 4096


def _now() -> datetime:
    return datetime.now(UTC)


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    raw = (await request.body())[:MAX_FORM].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=20).items()}


def _cross_site(request: Request) -> bool:
    """A form posted from another site's page: the browser says so (Sec-Fetch-Site, Origin)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != "null" and urlsplit(origin).netloc != request.url.netloc


@page_router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    form = await _form(request)
    lang = pick_lang(form.get("lang"))
    wait = runtime.scan_limiter.check(client_address(request))
    if wait:
        return _page(render_person_page(lang, "busy"), 429)
    if _cross_site(request):
        return _page(render_person_page(lang, "expired"), 403)
    try:
        queued = consumers.subscribe(
            session,
            runtime.sealer,
            gtin=form.get("gtin", ""),
            lot=form.get("lot", ""),
            address=form.get("email", ""),
            lang=lang,
            form=form.get("form_token", ""),
            now=_now(),
        )
        session.commit()
    except InvalidInputError as exc:
        session.rollback()
        expired = any(p.where == "form_token" for p in exc.problems)
        return _page(render_person_page(lang, "expired" if expired else "bad_address", problems=exc.problems), 422)
    except NotFoundError:
        session.rollback()
        return _page(render_person_page(lang, "unknown"), 404)
    except IntegrityError:  # the same address and lot posted twice at once (PostgreSQL): one row won
        session.rollback()
        queued = False
    if queued:
        runtime.wake_notices()
    return _page(render_person_page(lang, "check_mail"), 202)


@page_router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: Token, session: SessionDep, lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    return _person(lambda: consumers.confirm(session, token, None), pick_lang(lang), "confirm", token)


@page_router.post("/subscribe/confirm/{token}", response_class=HTMLResponse)
async def confirm(token: Token, request: Request, session: SessionDep) -> HTMLResponse:
    lang = pick_lang((await _form(request)).get("lang") or request.query_params.get("lang"))
    out = _person(lambda: consumers.confirm(session, token, _now()), lang, "done_confirm", token)
    session.commit()
    return out


@page_router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: Token, session: SessionDep, lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    return _person(lambda: consumers.unsubscribe(session, token, None), pick_lang(lang), "unsubscribe", token)


@page_router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: Token, request: Request, session: SessionDep) -> HTMLResponse:
    """RFC 8058: a mail client POSTs ``List-Unsubscribe=One-Click`` (form-encoded or multipart); any
    POST to the link unsubscribes, as the token is the right."""
    lang = pick_lang(request.query_params.get("lang"))
    out = _person(lambda: consumers.unsubscribe(session, token, _now()), lang, "done_unsubscribe", token)
    session.commit()
    return out


@page_router.get("/recall-notice/{token}", response_class=HTMLResponse)
def recall_notice(token: Token, session: SessionDep, lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    lang = pick_lang(lang)
    try:
        notice = consumers.read(session, token, _now())
    except NotFoundError:
        return _page(render_person_page(lang, "unknown"), 404)
    session.commit()
    return _page(render_person_page(lang, "notice", notice=notice))


def _person(act: Callable[[], consumers.SubscriptionView], lang: str, state: str, token: str) -> HTMLResponse:
    """A confirm or unsubscribe page: ``act`` looks (GET) or acts (POST); an unknown link is 404."""
    try:
        view = act()
    except NotFoundError:
        return _page(render_person_page(lang, "unknown"), 404)
    return _page(render_person_page(lang, state, view=view, token=token))

"""The acknowledgement page (``/ack/{token}``): a consignee site answers a recall notice, with no
login, the one-time link being the right to answer for that site.

The page is a plain HTML form (no script, strict CSP as every page): received, and per lot the
quantities on hand, returned and destroyed, and who answers. The same answer can come as JSON
(``/api/v1/ack/{token}``) from a partner's own system. Refusals keep the form filled in and say
which field is wrong; a link used twice or after the recall closed gets a page that says so.
The token never reaches a log line (api/logs.py) or another site (no-referrer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from cradletrace.api.deps import SessionDep
from cradletrace.api.errors import CONFLICTS, responses
from cradletrace.errors import InvalidInputError, NotFoundError, Problem, StateConflictError
from cradletrace.recall import acks
from cradletrace.scanner_web.ack import render_ack
from cradletrace.scanner_web.pages import pick_lang

router = APIRouter(tags=["recalls"])
page_router = APIRouter(include_in_schema=False)

Token = Annotated[str, Path(min_length=16, max_length=100, pattern=r"^[0-9a-f]+$", description="From the notice")]
_NO_STORE = {"Cache-Control": "no-store"}  # (no-referrer is on every answer: api/middleware.py)
_FORM = "application/x-www-form-urlencoded"


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot: str = Field(description="GTIN/LOT, as the notice lists it")
    on_hand: float = Field(ge=0, description="Units still at the site, set aside")
    returned: float = Field(ge=0, description="Units sent back")
    destroyed: float = Field(ge=0, description="Units destroyed")


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    received: bool = Field(description="The notice was received and acted on")
    answered_by: str = Field(min_length=1, max_length=100, description="Who answers for the site")
    lines: list[LineIn] = Field(max_length=10_000, description="Every lot of the notice, once")


def _now() -> datetime:
    return datetime.now(UTC)


def _answer(session: SessionDep, token: str, body: AckIn) -> dict[str, Any]:
    lines = {x.lot: acks.LineAnswer(x.on_hand, x.returned, x.destroyed) for x in body.lines}
    out = acks.answer(
        session, token, received=body.received, lines=lines, answered_by=body.answered_by, now=_now()
    ).to_json()
    session.commit()
    return out


@router.get("/ack/{token}", responses=responses(404, 422))
def ack_json(token: Token, session: SessionDep) -> dict[str, Any]:
    """What a notice's link asks about: the recall, the site, each lot shipped there; the answer if given."""
    return acks.view(session, token).to_json()


@router.post("/ack/{token}", responses=responses(404, 409, 422))
def ack_answer_json(token: Token, body: AckIn, session: SessionDep) -> dict[str, Any]:
    """Answer for the site (once): received, and per lot on hand / returned / destroyed."""
    return _answer(session, token, body)


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


@page_router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(token: Token, session: SessionDep, lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    lang = pick_lang(lang)
    try:
        view = acks.view(session, token)
    except NotFoundError:
        return _page(render_ack(lang, None, token), 404)
    return _page(render_ack(lang, view, token))


def _float(fields: dict[str, str], name: str, problems: list[Problem]) -> float:
    raw = fields.get(name, "").strip()
    try:
        return float(raw)
    except ValueError:
        problems.append(Problem(name, f"expected a number, got {raw!r}"))
        return 0.0


@page_router.post("/ack/{token}", response_class=HTMLResponse)
async def ack_page_answer(token: Token, request: Request, session: SessionDep) -> HTMLResponse:
    raw = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=30_000).items()}
    lang = pick_lang(form.get("lang") or request.query_params.get("lang"))
    try:
        view = acks.view(session, token)
    except NotFoundError:
        return _page(render_ack(lang, None, token), 404)
    problems: list[Problem] = []
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        problems.append(Problem("body", f"expected a form ({_FORM})"))
    lines = {
        line.ref: acks.LineAnswer(
            _float(form, f"lines[{i}].on_hand", problems),
            _float(form, f"lines[{i}].returned", problems),
            _float(form, f"lines[{i}].destroyed", problems),
        )
        for i, line in enumerate(view.lines)
    }
    try:
        if problems:
            raise InvalidInputError(problems)
        done = acks.answer(
            session,
            token,
            received=form.get("received") == "yes",
            lines=lines,
            answered_by=form.get("answered_by", ""),
            now=_now(),
        )
        session.commit()
    except InvalidInputError as exc:
        session.rollback()
        return _page(render_ack(lang, view, token, form=form, problems=exc.problems), 422)
    except StateConflictError as exc:
        session.rollback()
        return _page(
            render_ack(lang, acks.view(session, token), token, conflict=(CONFLICTS[exc.kind], exc.problems)), 409
        )
    return _page(render_ack(lang, done, token, thanks=True))

"""The scan host as a GS1-Conformant resolver: its description, a linkset per pack, typed redirects.

``GET /.well-known/gs1resolver`` describes this resolver (GS1-Conformant Resolver 1.x). For a pack's
Digital Link, ``?linkType=linkset`` (or ``Accept: application/linkset+json``) answers an RFC 9264
linkset: the scan page (``gs1:pip``, also the ``gs1:defaultLink``), the same facts as JSON
(``gs1:traceability``), the lot's lab reports (``gs1:certificationInfo``) and, while the lot is
recalled or held, ``gs1:recallStatus``. ``?linkType=gs1:…`` answers 307 to that link, or to the
default link when the pack has none of that type, as the standard asks. HEAD answers the same
without a body, so a client can read a redirect's target without following it.

Links that name the pack without its lot (``/01/<GTIN>/21/<serial>``, GTIN+serial being unique on
its own, or written with convenience alphas, ``/gtin/…/ser/…``) are redirected to the pack's full
numeric path, so the scan page sees one form. Links to a product or a lot alone have no page here:
404. An SSCC (``/00/…``, a pallet) and a GLN (``/414/…[/254/…]``, a place) are looked up in
``logistics_answer``, as is ``/01/<GTIN>/21/<serial>`` of a case: the pallet's or case's page
(contents, path, cold chain for logistics staff with a key; what it is, for anyone else) or the
place's (its name for anyone; GLN, city and what was last received there for staff), or 404
saying nothing is held for that key. Any other GS1 primary key (GRAI, GIAI, GSRN, ...) is 404
naming the key: this resolver serves only 01, 00 and 414. Syntax errors are 400, naming the rule broken.

These requests share the scan page's path (``/01/...``). ``ResolverRoute`` takes a request only
when it is for the resolver (a ``linkType``, a linkset ``Accept``, any path but
``/01/<GTIN>/10/<lot>/21/<serial>``)
and otherwise lets it fall through to the scan page, whose handler stays as it is.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlmodel import Session, col, select
from starlette.routing import Match
from starlette.types import Scope

from cradletrace.api.deps import RuntimeDep, caller_of
from cradletrace.api.errors import error_response
from cradletrace.api.routes.scan import MALFORMED, PAGE_RESPONSES, UNKNOWN, _limit
from cradletrace.apikeys import Caller
from cradletrace.core.digitallink import GTIN, PRIMARY_ALPHAS, Link, parse_path, primary_keys
from cradletrace.core.labels import resolver_origin
from cradletrace.core.weblinks import document_host, document_uri_problem
from cradletrace.errors import InvalidInputError
from cradletrace.recall.status import lot_status
from cradletrace.scan import logistics
from cradletrace.scanner_web.pages import pick_lang, render_place, render_unit, render_unknown
from cradletrace.store.models import EventRow, Item, Lot
from cradletrace.store.states import UnitKind

router = APIRouter(tags=["resolver"])
GS1_VOC = "https://gs1.org/voc/"
VOC_FORMS = (
    "https://gs1.org/voc/",
    "http://gs1.org/voc/",
    "https://ref.gs1.org/voc/",
    "gs1:",
)  # one link type, four spellings
LINKSET = "application/linkset+json"
NOT_ONE_PACK = "not one pack: this Digital Link names a product or a lot; a pack's code ends in /21/<serial>"
MALFORMED_LINK = "malformed GS1 Digital Link URI"
SERVED = "this resolver serves only 01 (packs), 00 (pallets and cases) and 414 (places)"
# Every resolver answer may be read by a page on another origin (GS1: resolvers SHALL support CORS).
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Link, Location"}
NO_CACHE = {"Vary": "Accept", "Cache-Control": "no-store"}


class ResolverRoute(APIRoute):
    """A route over ``/01/...`` that takes only resolver requests; the rest fall through to the scan page.

    Deciding costs a byte search and a split, no parsing, so the scan page pays next to nothing for it.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.FULL and not for_resolver(scope):
            return Match.NONE, {}
        return match, child


def for_resolver(scope: Scope) -> bool:
    if b"linkType" in scope.get("query_string", b""):
        return True
    parts = (scope.get("raw_path") or scope["path"].encode()).split(b"/")
    if not (len(parts) == 7 and parts[3] == b"10" and parts[5] == b"21"):  # anything but /01/G/10/L/21/S
        return True
    return any(name == b"accept" and b"linkset" in value for name, value in scope.get("headers", ()))


@router.get("/.well-known/gs1resolver", summary="GS1 resolver description")
def description(runtime: RuntimeDep) -> JSONResponse:
    """What this resolver serves, as GS1-Conformant Resolver clients read it before asking for links."""
    return JSONResponse(
        {
            "name": "cradletrace",
            "resolverRoot": resolver_origin(runtime.settings.resolver_host),
            "supportedPrimaryKeys": ["01", "00", "414"],
            "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
            "linkTypeDefaultCanBeLinkset": False,
            "linkTypeDefaultCanBeAll": False,
            "supportsLanguageVariants": True,  # the page in zh or en, by ?lang= or Accept-Language
            "supportsSemanticInterpretation": False,
            "validatesAIcombinations": False,  # each AI's own rules only, not GS1's pairing rules
        },
        headers=CORS,
    )


router.add_api_route("/.well-known/gs1resolver", description, methods=["HEAD"], include_in_schema=False)


def resolve(request: Request, rest: str, runtime: RuntimeDep) -> Response:
    """Linkset, typed redirect, or the pack's full path for a shorter form of its Digital Link."""
    _limit(runtime, request)
    wants_linkset = LINKSET in request.headers.get("accept", "")
    as_json = wants_linkset or _wants_json(request)
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    try:
        link = parse_path(raw, request.scope.get("query_string", b"").decode("latin-1"))
    except InvalidInputError as exc:
        if as_json:
            detail = MALFORMED if request.url.path.startswith("/01/") else MALFORMED_LINK
            return error_response(400, detail, exc.problems, headers={**CORS, **NO_CACHE})
        what = "; ".join(str(p) for p in exc.problems)
        return _page(
            400, render_unknown(pick_lang(request.query_params.get("lang")), f"{raw} — {what}", malformed=True)
        )
    language = pick_lang(link.param("lang") or _accept_language(request))
    if link.key != GTIN:
        return _other_key(runtime, request, link, as_json, language)
    if link.serial is None:
        if as_json:
            return error_response(404, NOT_ONE_PACK, headers={**CORS, **NO_CACHE})
        return _page(404, render_unknown(language, f"{link.element_string} — {NOT_ONE_PACK}", malformed=True))
    with runtime.session() as session:
        pack = _pack(session, link)
        if pack is None:
            case = logistics_answer(runtime, request, link, as_json, language) if link.lot is None else None
            if case is not None:  # a case's code: /01/<case GTIN>/21/<serial>
                return case
            if as_json:
                return error_response(404, UNKNOWN, headers={**CORS, **NO_CACHE})
            return _page(404, render_unknown(language, link.element_string))
        item, lot = pack
        full = Link(GTIN, item.gtin, (("10", lot.lot), ("21", item.serial)))
        link_type = link.param("linkType") or ("linkset" if wants_linkset else None)
        if link_type is None:  # a shorter form of a pack's link: send the phone to the one the page reads
            return _redirect(_with_query(full.path, link))
        links = pack_links(session, full, lot, resolver_origin(runtime.settings.resolver_host), language)
    if link_type in ("linkset", "all"):
        body = json.dumps({"linkset": [links]}, ensure_ascii=False).encode()
        return Response(
            body, media_type=LINKSET, headers={**CORS, **NO_CACHE, "Link": _linkset_header(links["anchor"])}
        )
    name = next((link_type[len(form) :] for form in VOC_FORMS if link_type.startswith(form)), link_type)
    root = resolver_origin(runtime.settings.resolver_host)
    followed = [
        x["href"]
        for x in links.get(GS1_VOC + name, ())
        if _may_redirect(x["href"], root, runtime.settings.resolver_allowed_hosts)
    ]
    return _redirect(followed[0] if followed else links[GS1_VOC + "defaultLink"][0]["href"], links["anchor"])


def _may_redirect(href: str, root: str, allowed: tuple[str, ...]) -> bool:
    """Only to a link of our own (under ``root``) or an https link to a host the operator allows:
    a supplier's document link must not make this resolver an open redirect."""
    return href.startswith(root + "/") or document_host(href) in allowed


router.add_api_route(
    "/01/{rest:path}", resolve, methods=["GET", "HEAD"], route_class_override=ResolverRoute, include_in_schema=False
)
# Every other primary key, by its AI or its convenience alpha (/gtin/ too: it leads to a pack's
# numeric path). SSCC and GLN are documented: the pallet and place pages will live there.
DOCUMENTED = {"00": "Resolve an SSCC (a pallet or case)", "414": "Resolve a GLN (a place)"}
_KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The pallet's page (contents, path and cold chain with a logistics staff key) or the "
        "place's page (HTML, or JSON with Accept: application/json or ?format=json)",
        "content": {"text/html": {}, "application/json": {}},
    },
    **{code: spec for code, spec in PAGE_RESPONSES.items() if code != 200},
}
for _segment in sorted({*primary_keys(), *PRIMARY_ALPHAS} - {GTIN}):
    router.add_api_route(
        f"/{_segment}/{{rest:path}}",
        resolve,
        methods=["GET"],
        include_in_schema=_segment in DOCUMENTED,
        summary=DOCUMENTED.get(_segment),
        description="A GS1 Digital Link of this key: the pallet or place when this server holds it (contents "
        "and counts need a key: Authorization: Bearer or X-API-Key), else 404 saying it holds nothing for it; "
        "400 naming the rule a malformed link breaks.",
        responses=_KEY_RESPONSES,
        response_class=HTMLResponse,
    )
    router.add_api_route(f"/{_segment}/{{rest:path}}", resolve, methods=["HEAD"], include_in_schema=False)


def logistics_answer(runtime: Any, request: Request, link: Link, as_json: bool, language: str) -> Response | None:
    """The pallet or case (00, or 01 with a serial that is a case's) or the place (414 with an
    optional 254) a link names; None when nothing is held for it.

    A pallet's or case's contents, path and cold chain are for logistics staff: a key
    (``Authorization: Bearer`` or ``X-API-Key``) of an operator or quality staff member, or of a
    supplier that packed, moved, holds or may receive the unit (logistics.may_read). Without one
    the page says what the unit is and that the rest needs a key, nothing more. A place's name and
    that it is registered here are public; its GLN, city and what was last received there (counts
    only; a supplier's key counts the units it holds) are for staff."""
    with runtime.scan_engine.connect() as conn:
        if link.key == "414":
            return _place(runtime, request, conn, link, as_json, language)
        code = f"00/{link.value}" if link.key == "00" else f"01/{link.gtin}/21/{link.serial}"
        kind = logistics.unit_kind(conn, code)
        if kind is None or kind == UnitKind.ITEM:
            return None
        caller = _staff(runtime, request)
        page = logistics.unit_page(conn, runtime.verifier, code) if caller is not None else None
        if page is not None and not logistics.may_read(page.handlers, caller.role, caller.supplier_id):  # type: ignore[union-attr]
            page = None
    headers = {**CORS, **NO_CACHE, "Vary": STAFF_VARY}
    if as_json:
        body = logistics.unit_json(page) if page else {"code": code, "kind": kind, "contents": None, "note": STAFF_ONLY}
        return JSONResponse(body, headers=headers)
    return HTMLResponse(render_unit(language, kind, code, page), headers=headers)


STAFF_ONLY = "contents, path and cold chain are shown to logistics staff with a key"
STAFF_VARY = "Accept, Authorization, X-API-Key"


def _staff(runtime: Any, request: Request) -> Caller | None:
    """The caller of a key the request presents, None without one; a wrong key is 401 (throttled)."""
    auth = request.headers.get("authorization", "")
    presented = auth[7:] if auth[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
    if not presented.strip():
        return None
    with runtime.session() as session:
        return caller_of(request, runtime, session, presented)


def _place(runtime: Any, request: Request, conn: Any, link: Link, as_json: bool, language: str) -> Response | None:
    gln, extension = link.value, link.qualifier("254")
    page = logistics.place_page(conn, gln, extension)
    if page is None:
        return None
    caller = _staff(runtime, request)
    staff = caller is not None
    if caller is not None and caller.role == "supplier":
        page = logistics.place_page(conn, gln, extension, holder=caller.supplier_id) or page
    headers = {**CORS, **NO_CACHE, "Vary": STAFF_VARY}
    if as_json:
        site = page.place.site
        body: dict[str, Any] = {"registered": True, "name": site.name if site else None}
        if staff:
            body |= page.place.as_json() | {
                "received": page.received,
                "last_received_at": page.last_received_at.isoformat() if page.last_received_at else None,
            }
        return JSONResponse(body, headers=headers)
    return HTMLResponse(render_place(language, page, staff), headers=headers)


def _other_key(runtime: Any, request: Request, link: Link, as_json: bool, language: str) -> Response:
    """A valid link of another key than a GTIN: the logistics answer, or 404 saying what is not held."""
    found = logistics_answer(runtime, request, link, as_json, language) if link.key in ("00", "414") else None
    if found is not None:
        return found
    if link.key == "00":
        reason = f"this server holds no pallet with SSCC {link.value}"
    elif link.key == "414":
        extension = link.qualifier("254")
        reason = f"this server holds no place with GLN {link.value}" + (
            f" and extension {extension}" if extension else ""
        )
    else:
        reason = f"{link.key_name} ({link.key}): this server holds nothing for that GS1 key; {SERVED}"
    if as_json:
        return error_response(404, reason, headers={**CORS, **NO_CACHE})
    return _page(404, render_unknown(language, f"{link.element_string} — {reason}", malformed=True))


def _accept_language(request: Request) -> str | None:
    """The first of our languages (zh, en) in Accept-Language, so a redirect lands on a page the phone reads."""
    for tag in request.headers.get("accept-language", "").split(","):
        primary = tag.split(";")[0].strip().lower()[:2]
        if primary in ("zh", "en"):
            return primary
    return None


def _wants_json(request: Request) -> bool:
    if request.query_params.get("format") in ("json", "html"):
        return request.query_params.get("format") == "json"
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _page(status: int, html: str) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={**CORS, **NO_CACHE})


def _redirect(target: str, anchor: str | None = None) -> RedirectResponse:
    headers = {**CORS, **NO_CACHE}
    if anchor:
        headers["Link"] = _linkset_header(anchor)
    return RedirectResponse(target, status_code=307, headers=headers)


def _linkset_header(anchor: str) -> str:
    return f'<{anchor}?linkType=linkset>; rel="linkset"; type="{LINKSET}"'


def _with_query(path: str, link: Link) -> str:
    """``path`` with the link's data attributes and other parameters, as the phone sent them."""
    return path + (f"?{link.query}" if link.query else "")


def _pack(session: Session, link: Link) -> tuple[Item, Lot] | None:
    """The pack a link names, when we issued it: same GTIN, same lot if one is given, no CPV (we issue none)."""
    found = session.exec(
        select(Item, Lot).join(Lot, col(Lot.id) == col(Item.lot_id)).where(Item.serial == link.serial)
    ).first()
    if found is None:
        return None
    item, lot = found
    if item.gtin != link.gtin or (link.lot is not None and lot.lot != link.lot) or link.cpv is not None:
        return None
    return item, lot


def pack_links(session: Session, full: Link, lot: Lot, root: str, language: str) -> dict[str, Any]:
    """The link context object of one pack: its anchor and every link we have for it."""
    page = f"{root}{full.path}"
    pip = [
        {"href": page, "title": f"{lot.product} — 溯源信息", "type": "text/html", "hreflang": ["zh"]},
        {
            "href": f"{page}?lang=en",
            "title": f"{lot.product} — traceability page",
            "type": "text/html",
            "hreflang": ["en"],
        },
    ]
    if language == "en":
        pip.reverse()
    links: dict[str, Any] = {
        "anchor": page,
        "description": lot.product,
        "itemDescription": lot.product,
        GS1_VOC + "defaultLink": [pip[0]],
        GS1_VOC + "pip": pip,
        GS1_VOC + "traceability": [
            {
                "href": f"{page}?format=json",
                "title": "Origin, tests, cold chain, shipments, each record verified against the chain",
                "type": "application/json",
            }
        ],
    }
    reports = _reports(session, lot)
    if reports:
        links[GS1_VOC + "certificationInfo"] = reports
    status = lot_status(session, int(lot.id or 0))
    if status.recall is not None or status.hold is not None:
        title = f"Recall: {status.recall['reason']}" if status.recall else f"On hold: {status.hold['reason']}"  # type: ignore[index]
        links[GS1_VOC + "recallStatus"] = [
            {"href": f"{page}?format=json", "title": title, "type": "application/json"},
            {"href": page, "title": title, "type": "text/html"},
        ]
    return links


def _reports(session: Session, lot: Lot) -> list[dict[str, Any]]:
    """The lab reports recorded for the lot whose documents may be linked to (core/weblinks.py), newest first."""
    bodies = session.exec(
        select(EventRow.body)
        .where(EventRow.gtin == lot.gtin, EventRow.lot == lot.lot, EventRow.kind == "test_report")
        .order_by(col(EventRow.id).desc())
    ).all()
    out = []
    for body in bodies:
        data = _data(body)
        document, lab = data.get("document"), data.get("lab")
        lab = lab if isinstance(lab, dict) else {}
        if (
            isinstance(document, dict)
            and isinstance(document.get("uri"), str)
            and document_uri_problem(document["uri"]) is None
        ):
            out.append(
                {
                    "href": document["uri"],
                    "title": f"Test report, {lab.get('name', 'lab')}, {data.get('reported_on', '')}",
                }
            )
    return out


def _data(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return {}  # a tampered row: the scan page shows it as INVALID; here it simply has no link
    return data if isinstance(data, dict) else {}

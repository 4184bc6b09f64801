"""The supplier portal (``/supplier``): pages where a supplier signs in once with its supplier API
key, sees its own records and their proofs, and manages the signing keys its browsers hold.

The portal adds no new way in: each action calls the API route that does the same thing
(``suppliers.register_public_key``, ``suppliers.revoke_key``, ``proofs.get_proof``,
``events.record_events`` for events the browser signed), as the session's supplier key. The session is an opaque random id in a cookie (HttpOnly,
SameSite=Strict, Secure over https, Path=/supplier) kept hashed by ``cradletrace.portal``.
Every state-changing request must come from this origin (Origin, else Referer) and carry the
session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``). The key itself travels
only in the sign-in form's body: never in a URL, a cookie or a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlmodel import Session, col, select

from cradletrace import apikeys, bulk, documents, portal, products, recording
from cradletrace.api.deps import ChainDep, JsonBody, RuntimeDep, SessionDep, WorkspaceDep, client_address
from cradletrace.api.errors import AUTH_THROTTLED, BAD_KEY, ApiError, answer_for, too_many
from cradletrace.api.models import SupplierKeyPublic
from cradletrace.api.routes import events as event_routes
from cradletrace.api.routes import proofs
from cradletrace.api.routes import suppliers as supplier_routes
from cradletrace.api.routes.events import anchoring_of
from cradletrace.api.runtime import Runtime
from cradletrace.apikeys import Caller
from cradletrace.config import Settings
from cradletrace.core.events import REGISTRY_ROLE, ROLES_FOR_KIND
from cradletrace.errors import InvalidInputError, NotAllowedError, Problem, SessionEndedError, TraceError
from cradletrace.scanner_web import portal as pages
from cradletrace.scanner_web.pages import pick_lang
from cradletrace.store.db import chunks
from cradletrace.store.models import AnchorBatch, EventRow, Lot, ProductParty, Shipment, Supplier, SupplierKey

router = APIRouter(prefix="/supplier", include_in_schema=False)

COOKIE = "ct_portal"
PAGE_SIZE = 50
_NO_STORE = {"Cache-Control": "no-store"}
_FORM = "application/x-www-form-urlencoded"


def _times(settings: Settings) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=settings.portal_idle_minutes), timedelta(hours=settings.portal_lifetime_hours)


def _signed_in(request: Request, runtime: Runtime, session: Session) -> tuple[Caller, str]:
    """The session's supplier and the session id; SessionEndedError when there is no live session."""
    sid = request.cookies.get(COOKIE)
    caller = portal.current(session, sid, datetime.now(UTC), *_times(runtime.settings))
    session.commit()  # the idle clock restarted
    assert sid is not None
    return caller, sid


def _same_origin(request: Request) -> None:
    """Refuse a state-changing request that names no origin, or another one (a cross-site form)."""
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin != own:
        raise NotAllowedError(f"not allowed: origin: expected a request from {own}, got {origin or 'none'}")


def _guarded(request: Request, runtime: Runtime, session: Session, token: str | None) -> Caller:
    """The session's supplier, for a state-changing request: same origin, live session, CSRF token."""
    _same_origin(request)
    caller, sid = _signed_in(request, runtime, session)
    portal.check_csrf(sid, token)
    return caller


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (each taken once; the body is bounded by BodyLimitMiddleware)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        raise InvalidInputError(Problem("body", f"expected a form ({_FORM})"))
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=20).items()}


def _lang(request: Request, given: str | None = None) -> str:
    return pick_lang(given or request.query_params.get("lang"))


def _to(path: str, lang: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?lang={lang}", status_code=303, headers=_NO_STORE)


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


def _refused(exc: TraceError | ApiError) -> tuple[int, str, list[Problem]]:
    """Status, detail and problems of a refusal, as the API answers it (api/errors.ANSWERS)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.detail, exc.problems
    return answer_for(exc)


def _shown(
    request: Request, runtime: Runtime, session: Session, lang: str, render: Callable[[Caller, str], str]
) -> Response:
    """A signed-in page, or back to the sign-in page when the session has ended."""
    try:
        caller, sid = _signed_in(request, runtime, session)
    except SessionEndedError:
        response = _to("/supplier", lang)
        response.delete_cookie(COOKIE, path="/supplier")
        return response
    return _page(render(caller, portal.csrf_token(sid)))


@router.get("", response_class=HTMLResponse)
def start(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The sign-in page; a signed-in supplier goes on to its records."""
    lang = _lang(request, lang)
    try:
        _signed_in(request, runtime, session)
    except SessionEndedError:
        return _page(pages.render_signin(lang))
    return _to("/supplier/records", lang)


@router.post("/signin")
async def sign_in(request: Request, runtime: RuntimeDep) -> Response:
    """Open a session with a supplier API key (the form's ``key``), throttled like the API's door:
    once an address has spent its allowance of wrong keys, every key it presents waits."""
    fields = await form_fields(request)
    lang = _lang(request, fields.get("lang"))
    try:
        _same_origin(request)
        address = client_address(request)
        if wait := runtime.auth_throttle.wait(address):
            raise too_many(AUTH_THROTTLED, wait)
        sid = await _open_session(runtime, fields.get("key", ""), address)
    except (TraceError, ApiError) as exc:
        status, detail, _ = _refused(exc)
        headers = exc.headers if isinstance(exc, ApiError) else None
        refused = _page(pages.render_signin(lang, error=detail), status)
        refused.headers.update(headers or {})
        return refused
    response = _to("/supplier/records", lang)
    response.set_cookie(
        COOKIE, sid, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/supplier"
    )
    return response


async def _open_session(runtime: Runtime, key: str, address: str) -> str:
    from anyio import to_thread

    def work() -> str:
        with runtime.session() as session:
            caller = apikeys.authenticate(session, key.strip())
            if caller is None:
                runtime.auth_throttle.check(address)
                raise ApiError(401, BAD_KEY)
            sid = portal.sign_in(session, caller, datetime.now(UTC), *_times(runtime.settings))
            session.commit()
            return sid

    return await to_thread.run_sync(work)


@router.post("/signout")
async def sign_out(request: Request, runtime: RuntimeDep) -> Response:
    """End the session (its form carries the CSRF token) and forget the cookie."""
    fields = await form_fields(request)
    lang = _lang(request, fields.get("lang"))
    from anyio import to_thread

    def work() -> None:
        with runtime.session() as session:
            _guarded(request, runtime, session, fields.get("csrf"))
            portal.sign_out(session, request.cookies.get(COOKIE))
            session.commit()

    await to_thread.run_sync(work)
    response = _to("/supplier", lang)
    response.delete_cookie(COOKIE, path="/supplier")
    return response


@router.get("/records", response_class=HTMLResponse)
def records(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    lang: str | None = None,
) -> Response:
    """The signed-in supplier's own records, newest first, ``PAGE_SIZE`` a page."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str) -> str:
        q = select(EventRow).where(col(EventRow.supplier_id) == caller.supplier_id)
        if before is not None:
            q = q.where(col(EventRow.id) < before)
        rows = list(session.exec(q.order_by(col(EventRow.id).desc()).limit(PAGE_SIZE + 1)))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        ids = {r.anchor_id for r in rows if r.anchor_id is not None}
        batches = (
            {b.id: b for b in session.exec(select(AnchorBatch).where(col(AnchorBatch.id).in_(ids)))} if ids else {}
        )
        shown = [
            pages.RecordLine(
                id=int(r.id or 0),
                kind=r.kind,
                lot=f"{r.gtin}/{r.lot}" if r.gtin and r.lot else (r.lot or r.ref or ""),
                recorded_at=r.recorded_at,
                status=anchoring_of(batches.get(r.anchor_id) if r.anchor_id is not None else None).status,
            )
            for r in rows
        ]
        older = shown[-1].id if more and shown else None
        return pages.render_records(lang, caller, csrf, shown, older, _nav(_role(session, caller)))

    return _shown(request, runtime, session, lang, render)


@router.get("/records/{event_id}/proof")
def record_proof(
    event_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, chain: ChainDep
) -> Response:
    """The record's proof bundle (the API's GET /events/{ref}/proof, as the session's supplier key)."""
    caller, _ = _signed_in(request, runtime, session)
    bundle = proofs.get_proof(str(event_id), session, chain, caller)
    return JSONResponse(
        bundle.model_dump(mode="json", exclude_unset=True),
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="cradletrace-proof-{event_id}.json"'},
    )


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The supplier's signing keys, and making or importing one in this browser."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str) -> str:
        q = select(SupplierKey).where(col(SupplierKey.supplier_id) == caller.supplier_id)
        rows = list(session.exec(q.order_by(col(SupplierKey.created_at).desc())))
        return pages.render_keys(lang, caller, csrf, rows, _nav(_role(session, caller)))

    return _shown(request, runtime, session, lang, render)


@router.post("/keys", status_code=201)
def register_key(
    request: Request, body: JsonBody, runtime: RuntimeDep, session: SessionDep, workspace: WorkspaceDep
) -> Response:
    """Register the public half of a key this browser made or imported (POST /suppliers/{id}/public-keys,
    which writes its key-log record). A key already registered to this supplier is answered as it is
    (an imported 'cradletrace supplier add' key usually is)."""
    caller = _guarded(request, runtime, session, request.headers.get("x-csrf-token"))
    given = supplier_routes.PublicKeyIn.model_validate(body if isinstance(body, dict) else {})
    assert caller.supplier_id is not None
    known = session.exec(select(SupplierKey).where(col(SupplierKey.public_key) == given.public_key.strip())).first()
    if known is not None and known.supplier_id == caller.supplier_id and known.revoked_at is None:
        return JSONResponse(_key_json(SupplierKeyPublic.model_validate(known, from_attributes=True)))
    key = supplier_routes.register_public_key(caller.supplier_id, given, session, workspace, caller)
    return JSONResponse(_key_json(key), status_code=201)


def _key_json(key: Any) -> dict[str, Any]:
    out: dict[str, Any] = key.model_dump(mode="json")
    return out


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Revoke one of the supplier's own keys (POST /suppliers/{id}/keys/{key_id}/revoke): it signs
    nothing new from now on; records it signed before still verify."""
    fields = await form_fields(request)
    lang = _lang(request, fields.get("lang"))
    from anyio import to_thread

    def work() -> None:
        with runtime.session() as session:
            caller = _guarded(request, runtime, session, fields.get("csrf"))
            assert caller.supplier_id is not None
            supplier_routes.revoke_key(caller.supplier_id, key_id, session, runtime.workspace, caller)

    await to_thread.run_sync(work)
    return _to("/supplier/keys", lang)


@router.get("/batch", response_class=HTMLResponse)
def batch_form(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The production-lot form: the supplier's products, the lots it may name as inputs, its active
    keys. A role that may not record batches gets a 403 page saying so, without the form."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str, role: str) -> str:
        me, nav = str(caller.supplier_id), _nav(role)
        if not nav["may_batch"]:
            return pages.render_batch(lang, caller, csrf, role, nav)
        made = [
            v.product
            for v in products.list_products(session)
            if v.product.owner_id == me or any(p.supplier_id == me and p.role == "maker" for p in v.parties)
        ]
        return pages.render_batch(
            lang, caller, csrf, role, nav, made, _lots_held(session, me), _active_keys(session, me)
        )

    return _form_for("batch", request, runtime, session, lang, render)


def _lots_held(session: Session, me: str) -> list[Lot]:
    """The lots a supplier may name: those it received by shipment and those it made."""
    received = select(Lot).join(Shipment, col(Shipment.lot_id) == col(Lot.id)).where(col(Shipment.consignee) == me)
    own = select(Lot).where(col(Lot.supplier_id) == me)
    lots = {(lot.gtin, lot.lot): lot for q in (received, own) for lot in session.exec(q)}
    return sorted(lots.values(), key=lambda x: (x.gtin, x.lot))


def _active_keys(session: Session, me: str) -> list[str]:
    q = select(SupplierKey.key_id).where(col(SupplierKey.supplier_id) == me, col(SupplierKey.revoked_at).is_(None))
    return list(session.exec(q))


def _role(session: Session, caller: Caller) -> str:
    supplier = session.get(Supplier, str(caller.supplier_id))
    return supplier.role if supplier is not None else ""


def _nav(role: str) -> dict[str, bool]:
    """For each role-gated form (pages.NAV_FORMS), whether ``role`` may record its kind
    (core/events.ROLES_FOR_KIND): the portal offers only the forms the API would accept; the API
    still decides. Every signed-in page's navigation, and each form page's own gate."""
    return {flag: role in ROLES_FOR_KIND[kind] for flag, kind in pages.NAV_FORMS.items()}


def _form_for(
    kind: str,
    request: Request,
    runtime: Runtime,
    session: Session,
    lang: str,
    render: Callable[[Caller, str, str], str],
) -> Response:
    """A signed form's page, ``render(caller, csrf, role)``; when the role may not record ``kind``
    (core/events.ROLES_FOR_KIND) the page (render's word saying so, without the form) is a 403."""
    allowed = True

    def page(caller: Caller, csrf: str) -> str:
        nonlocal allowed
        role = _role(session, caller)
        allowed = role in ROLES_FOR_KIND[kind]
        return render(caller, csrf, role)

    shown = _shown(request, runtime, session, lang, page)
    if not allowed:
        shown.status_code = 403
    return shown


@router.get("/shipment", response_class=HTMLResponse)
def shipment_form(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The shipment and customs form: the lots the supplier may ship (its own or received), the
    registered suppliers it may name as consignee, its active keys. A role that may not record
    shipments gets a 403 page saying so, without the form."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str, role: str) -> str:
        me, nav = str(caller.supplier_id), _nav(role)
        if not nav["may_ship"]:
            return pages.render_shipment(lang, caller, csrf, role, nav)
        others = session.exec(select(Supplier).where(col(Supplier.id) != me).order_by(col(Supplier.id)))
        consignees = [s for s in others if s.role != REGISTRY_ROLE]
        return pages.render_shipment(
            lang, caller, csrf, role, nav, _lots_held(session, me), _active_keys(session, me), consignees
        )

    return _form_for("shipment", request, runtime, session, lang, render)


@router.get("/cold-chain", response_class=HTMLResponse)
def cold_chain_form(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The cold-chain form: the shipments whose cold chain the supplier may record (those it recorded
    or received, custody.py's rule), its active keys; the logger's file is read in the browser. A
    role that may not record cold-chain events gets a 403 page saying so, without the form."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str, role: str) -> str:
        me, nav = str(caller.supplier_id), _nav(role)
        if not nav["may_cold"]:
            return pages.render_cold_chain(lang, caller, csrf, role, nav)
        return pages.render_cold_chain(
            lang, caller, csrf, role, nav, _shipments_held(session, me), _active_keys(session, me)
        )

    return _form_for("cold_chain", request, runtime, session, lang, render)


def _shipments_held(session: Session, me: str) -> list[tuple[str, str]]:
    """(shipment id, "GTIN/lot") of the shipments a supplier recorded or received, by id."""
    q = (
        select(Shipment.id, Lot.gtin, Lot.lot)
        .join(Lot, col(Lot.id) == col(Shipment.lot_id))
        .join(EventRow, col(EventRow.id) == col(Shipment.event_id))
        .where((col(EventRow.supplier_id) == me) | (col(Shipment.consignee) == me))
        .order_by(col(Shipment.id))
    )
    return [(sid, f"{gtin}/{lot}") for sid, gtin, lot in session.exec(q)]


@router.post("/events", status_code=201)
def record_signed(
    request: Request, body: JsonBody, runtime: RuntimeDep, session: SessionDep, workspace: WorkspaceDep
) -> Response:
    """Record events the browser signed: exactly POST /api/v1/events, as the session's supplier key
    (every one is checked, then all are stored, or none; refusals name the fields)."""
    caller = _guarded(request, runtime, session, request.headers.get("x-csrf-token"))
    recorded = event_routes.record_events(body, session, caller, workspace)
    return JSONResponse(recorded.model_dump(mode="json"), status_code=201)


def _lots_to_test(session: Session, me: str, official: bool) -> list[Lot]:
    """The lots a lab may report on (custody.py's rule): those of products whose owner named it a lab
    (of every lot, or of one), or every lot for an official lab the operator designated."""
    if official:
        return list(session.exec(select(Lot).order_by(col(Lot.gtin), col(Lot.lot))))
    named = session.exec(
        select(ProductParty.gtin, ProductParty.lot).where(
            col(ProductParty.supplier_id) == me,
            col(ProductParty.role) == "lab",
            col(ProductParty.withdrawn_at).is_(None),
        )
    ).all()
    lots: dict[tuple[str, str], Lot] = {}
    for gtin, one in named:
        q = select(Lot).where(col(Lot.gtin) == gtin)
        for lot in session.exec(q.where(col(Lot.lot) == one) if one else q):
            lots[(lot.gtin, lot.lot)] = lot
    return sorted(lots.values(), key=lambda x: (x.gtin, x.lot))


@router.get("/test-report", response_class=HTMLResponse)
def test_report_form(
    request: Request, runtime: RuntimeDep, session: SessionDep, workspace: WorkspaceDep, lang: str | None = None
) -> Response:
    """The test-report form: the lots the lab was asked to test, the limits table recording uses, its
    active keys (the templates come from GET /api/v1/test-standards). A role that may not record test
    reports gets a 403 page saying so, without the form."""
    lang = _lang(request, lang)

    def render(caller: Caller, csrf: str, role: str) -> str:
        me, nav = str(caller.supplier_id), _nav(role)
        if not nav["may_test"]:
            return pages.render_test_report(lang, caller, csrf, role, nav)
        supplier = session.get(Supplier, me)
        official = bool(supplier and supplier.official_lab)
        limits = [vars(limit) for limit in workspace.limits.values()]
        return pages.render_test_report(
            lang, caller, csrf, role, nav, _lots_to_test(session, me, official), _active_keys(session, me), limits
        )

    return _form_for("test_report", request, runtime, session, lang, render)


# Who may put a PDF in the document store: the roles that record the kinds whose signed data names
# documents (a test report's certificate, a shipment's papers).
DOCUMENT_ROLES = frozenset(ROLES_FOR_KIND["test_report"] + ROLES_FOR_KIND["shipment"])


@router.post("/documents", status_code=201)
async def upload_document(request: Request, runtime: RuntimeDep, sha256: str = "") -> Response:
    """Keep a PDF (a lab's certificate, a shipment's customs declaration or health certificate: the
    body, ``?sha256=`` what the browser computed and will sign) in the content-addressed document
    store; answers the ``{sha256, uri}`` the signed record names. Any role that records a kind
    carrying documents may upload (DOCUMENT_ROLES)."""
    body = await request.body()
    from anyio import to_thread

    def work() -> str:
        with runtime.session() as session:
            caller = _guarded(request, runtime, session, request.headers.get("x-csrf-token"))
            if _role(session, caller) not in DOCUMENT_ROLES:
                raise NotAllowedError(
                    "not allowed: documents: expected a supplier whose role records test reports or shipments"
                )
        settings = runtime.settings
        return documents.store_pdf(settings.data_dir, body, sha256, settings.portal_max_document)

    digest = await to_thread.run_sync(work)
    # A document link is https only (core/weblinks.py); the portal is served over https in production.
    uri = f"https://{request.url.netloc}/supplier/documents/{digest}"
    return JSONResponse({"sha256": digest, "uri": uri}, status_code=201, headers=_NO_STORE)


@router.get("/documents/{sha256}")
def read_document(sha256: str, runtime: RuntimeDep) -> Response:
    """Public: the stored certificate whose SHA-256 is ``sha256`` (a signed record's document link)."""
    body = documents.read_pdf(runtime.settings.data_dir, sha256)
    return Response(
        body,
        media_type=documents.CONTENT_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="certificate-{sha256[:16]}.pdf"',
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- bulk upload (/supplier/bulk): an XLSX template filled, checked, then signed in the browser --


def _bulk_kinds(role: str) -> list[str]:
    """The kinds of bulk sheet a role may record (core/events.ROLES_FOR_KIND)."""
    return [k for k in bulk.KINDS if role in ROLES_FOR_KIND[k]]


def _bulk_kind_allowed(session: Session, caller: Caller, kind: str) -> Supplier:
    supplier = session.get(Supplier, str(caller.supplier_id))
    assert supplier is not None
    if kind not in _bulk_kinds(supplier.role):
        raise NotAllowedError(
            f"not allowed: kind: supplier {supplier.id!r} has role {supplier.role!r}; expected one of "
            f"{', '.join(ROLES_FOR_KIND[kind])} to record {kind} events"
        )
    return supplier


BulkKind = Annotated[Literal["shipment", "test_report"], Query()]


@router.get("/bulk", response_class=HTMLResponse)
def bulk_page(request: Request, runtime: RuntimeDep, session: SessionDep, lang: str | None = None) -> Response:
    """The bulk upload page: the sheet kinds the supplier's role may record, its active keys; the
    file is checked by the server (POST /supplier/bulk/check), signed and submitted by the browser.
    A role that may record none of them gets a 403 page saying so."""
    lang = _lang(request, lang)
    allowed = True

    def render(caller: Caller, csrf: str) -> str:
        nonlocal allowed
        role = _role(session, caller)
        kinds = _bulk_kinds(role)
        allowed = bool(kinds)
        keys = _active_keys(session, str(caller.supplier_id)) if kinds else []
        settings = runtime.settings
        per = (settings.portal_bulk_per_submission, settings.api_max_bulk_body)
        return pages.render_bulk(lang, caller, csrf, role, _nav(role), kinds, keys, *per)

    shown = _shown(request, runtime, session, lang, render)
    if not allowed:
        shown.status_code = 403
    return shown


@router.get("/bulk/template.xlsx")
def bulk_template(
    request: Request, runtime: RuntimeDep, session: SessionDep, kind: BulkKind, lang: str | None = None
) -> Response:
    """The XLSX template of ``kind`` (only a kind the supplier's role may record)."""
    caller, _ = _signed_in(request, runtime, session)
    _bulk_kind_allowed(session, caller, kind)
    body = bulk.template(kind, runtime.settings.portal_bulk_per_submission)
    return Response(
        body,
        media_type=bulk.XLSX_TYPE,
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="cradletrace-{kind}-template.xlsx"'},
    )


@router.post("/bulk/check")
async def bulk_check(
    request: Request,
    runtime: RuntimeDep,
    kind: BulkKind,
    zone: str = "",
    key: str = "",
    lang: str | None = None,
) -> Response:
    """Read a filled template (the body, at most ``portal_max_bulk_file`` bytes) and answer each row's
    problems (row, column, what was expected) or the event data it will become, by the recording
    path's own rules (recording.check_unsigned, as the key ``key`` would sign). Nothing is stored."""
    body = await request.body()
    lang = _lang(request, lang)
    from anyio import to_thread

    def work() -> dict[str, Any]:
        with runtime.session() as session:
            caller = _guarded(request, runtime, session, request.headers.get("x-csrf-token"))
            supplier = _bulk_kind_allowed(session, caller, kind)
            signer = session.get(SupplierKey, key) if key else None
            checked = bulk.check(
                session,
                supplier,
                signer if signer is not None and signer.supplier_id == supplier.id else None,
                kind,
                body,
                zone=bulk.parse_zone(zone),
                lang=lang,
                now=datetime.now(UTC),
                limits=runtime.workspace.limits,
                document_uri=f"https://{request.url.netloc}/supplier/documents/{'0' * 64}",
            )
            session.rollback()  # nothing is stored by a check
            return checked.as_json()

    return JSONResponse(await to_thread.run_sync(work), headers=_NO_STORE)


@router.post("/bulk/stored")
def bulk_stored(request: Request, body: JsonBody, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Which of ``{"digests": [...]}`` (SHA-256 of signed events' canonical bytes) the store holds for
    this supplier, with their ids: the page asks before a retry, so an event a lost answer left
    unknown is not sent twice (recording would refuse it as a duplicate, and its whole submission)."""
    caller = _guarded(request, runtime, session, request.headers.get("x-csrf-token"))
    digests = body.get("digests") if isinstance(body, dict) else None
    if (
        not isinstance(digests, list)
        or len(digests) > recording.MAX_EVENTS
        or not all(isinstance(d, str) and documents.SHA256_HEX.match(d) for d in digests)
    ):
        raise InvalidInputError(
            Problem("digests", f"expected a list of at most {recording.MAX_EVENTS} SHA-256 digests (64 hex digits)")
        )
    wanted = sorted({str(d) for d in digests})
    stored: dict[str, int] = {}
    for chunk in chunks(wanted):
        q = select(EventRow.digest, EventRow.id).where(
            col(EventRow.supplier_id) == caller.supplier_id, col(EventRow.digest).in_(chunk)
        )
        stored.update((d, int(i or 0)) for d, i in session.exec(q))
    return JSONResponse({"stored": stored}, headers=_NO_STORE)

"""The supplier portal's pages (``/supplier``), rendered with the scan pages' Jinja environment and
zh/en strings (the ``portal_*`` strings of i18n.json). Pages carry no inline script: the browser's
work (keys in WebCrypto and IndexedDB) is in static/portal-keys.js, and its words travel in a JSON
data block, as the recall console's do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cradletrace.apikeys import Caller
from cradletrace.core.events import SHIPMENT_DOCUMENT_KINDS
from cradletrace.scanner_web.pages import _env, strings
from cradletrace.store.models import Lot, Product, Supplier, SupplierKey


@dataclass(frozen=True)
class RecordLine:
    """One line of the history page."""

    id: int
    kind: str
    lot: str
    recorded_at: datetime
    status: str  # EventAnchoring: pending, prepared, anchored


# The navigation's role-gated forms: page variable -> the event kind its form records.
NAV_FORMS = {"may_batch": "batch", "may_ship": "shipment", "may_cold": "cold_chain", "may_test": "test_report"}
Nav = Mapping[str, bool]


def _render(name: str, lang: str, nav: Nav | None = None, **values: Any) -> str:
    """``nav``: for each of NAV_FORMS, whether the supplier's role may record that kind, so the
    navigation offers its form (api.routes.portal._nav; none before signing in)."""
    t = strings()[lang]
    words = {k.removeprefix("portal_"): v for k, v in t.items() if k.startswith("portal_")}
    flags = {flag: bool((nav or {}).get(flag)) for flag in NAV_FORMS}
    return _env().get_template(name).render(t=t, p=words, lang=lang, **flags, **values)


def render_signin(lang: str, error: str | None = None) -> str:
    return _render("portal_signin.html", lang, error=error)


def render_records(
    lang: str, caller: Caller, csrf: str, lines: Sequence[RecordLine], older: int | None, nav: Nav
) -> str:
    return _render("portal_records.html", lang, nav, caller=caller, csrf=csrf, lines=lines, older=older, page="records")


def render_keys(lang: str, caller: Caller, csrf: str, keys: Sequence[SupplierKey], nav: Nav) -> str:
    return _render(
        "portal_keys.html", lang, nav, caller=caller, csrf=csrf, keys=keys, page="keys", module="portal-keys.js"
    )


def render_batch(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    nav: Nav,
    made: Sequence[Product] = (),
    lots: Sequence[Lot] = (),
    keys: Sequence[str] = (),
) -> str:
    """The production-lot form; for a role that may not record batches, only a word saying so (and
    no script: there is nothing to sign)."""
    allowed = bool(nav.get("may_batch"))
    return _render(
        "portal_batch.html",
        lang,
        nav,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        products=made,
        lots=lots,
        keys=keys,
        page="batch",
        module="portal-batch.js" if allowed else None,
    )


def render_shipment(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    nav: Nav,
    lots: Sequence[Lot] = (),
    keys: Sequence[str] = (),
    consignees: Sequence[Supplier] = (),
) -> str:
    """The shipment and customs form; for a role that may not record shipments, only a word saying so
    (and no script: there is nothing to sign)."""
    allowed = bool(nav.get("may_ship"))
    return _render(
        "portal_shipment.html",
        lang,
        nav,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        lots=lots,
        keys=keys,
        consignees=consignees,
        doc_kinds=SHIPMENT_DOCUMENT_KINDS,
        page="shipment",
        module="portal-shipment.js" if allowed else None,
    )


def render_cold_chain(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    nav: Nav,
    shipments: Sequence[tuple[str, str]] = (),
    keys: Sequence[str] = (),
) -> str:
    """The cold-chain form (shipments as (id, "GTIN/lot")); for a role that may not record cold-chain
    events, only a word saying so (and no script: there is nothing to sign)."""
    allowed = bool(nav.get("may_cold"))
    return _render(
        "portal_coldchain.html",
        lang,
        nav,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        shipments=shipments,
        keys=keys,
        page="cold-chain",
        module="portal-coldchain.js" if allowed else None,
    )


def render_test_report(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    nav: Nav,
    lots: Sequence[Lot] = (),
    keys: Sequence[str] = (),
    limits: Sequence[dict[str, Any]] = (),
) -> str:
    """The test-report form with the lab's certificate; for a role that may not record test reports,
    only a word saying so (and no script)."""
    allowed = bool(nav.get("may_test"))
    return _render(
        "portal_test_report.html",
        lang,
        nav,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        lots=lots,
        keys=keys,
        limits=limits,
        page="test_report",
        module="portal-test-report.js" if allowed else None,
    )


def render_bulk(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    nav: Nav,
    kinds: Sequence[str],
    keys: Sequence[str],
    per_submission: int,
    max_body: int,
) -> str:
    """The bulk upload page for the sheet ``kinds`` the role may record; none: only a word saying so
    (and no script). ``max_body``: the request body limit of POST /supplier/events."""
    return _render(
        "portal_bulk.html",
        lang,
        nav,
        caller=caller,
        csrf=csrf,
        role=role,
        kinds=kinds,
        keys=keys,
        per=per_submission,
        max_body=max_body,
        page="bulk",
        module="portal-bulk.js" if kinds else None,
    )

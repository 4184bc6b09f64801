"""The supplier portal's pages (``/supplier``), rendered with the scan pages' Jinja environment and
zh/en strings (the ``portal_*`` strings of i18n.json). Pages carry no inline script: the browser's
work (keys in WebCrypto and IndexedDB) is in static/portal-keys.js, and its words travel in a JSON
data block, as the recall console's do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cradletrace.apikeys import Caller
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


def _render(name: str, lang: str, may_ship: bool = False, **values: Any) -> str:
    """``may_ship``: the supplier's role may record shipments, so the navigation offers the form."""
    t = strings()[lang]
    words = {k.removeprefix("portal_"): v for k, v in t.items() if k.startswith("portal_")}
    return _env().get_template(name).render(t=t, p=words, lang=lang, may_ship=may_ship, **values)


def render_signin(lang: str, error: str | None = None) -> str:
    return _render("portal_signin.html", lang, error=error)


def render_records(
    lang: str,
    caller: Caller,
    csrf: str,
    lines: Sequence[RecordLine],
    older: int | None,
    may_ship: bool,
    may_cold: bool = False,
    may_test: bool = False,
) -> str:
    return _render(
        "portal_records.html",
        lang,
        may_ship,
        caller=caller,
        csrf=csrf,
        lines=lines,
        older=older,
        page="records",
        may_cold=may_cold,
        may_test=may_test,
    )


def render_keys(
    lang: str,
    caller: Caller,
    csrf: str,
    keys: Sequence[SupplierKey],
    may_ship: bool,
    may_test: bool = False,
    may_cold: bool = False,
) -> str:
    """``may_test``, ``may_cold``: the supplier's role may record test reports, the cold chain, so
    the navigation offers those forms."""
    return _render(
        "portal_keys.html",
        lang,
        may_ship,
        caller=caller,
        csrf=csrf,
        keys=keys,
        page="keys",
        module="portal-keys.js",
        may_cold=may_cold,
        may_test=may_test,
    )


def render_batch(
    lang: str,
    caller: Caller,
    csrf: str,
    made: Sequence[Product],
    lots: Sequence[Lot],
    keys: Sequence[str],
    may_ship: bool,
    may_cold: bool = False,
) -> str:
    return _render(
        "portal_batch.html",
        lang,
        may_ship,
        caller=caller,
        csrf=csrf,
        products=made,
        lots=lots,
        keys=keys,
        page="batch",
        module="portal-batch.js",
        may_cold=may_cold,
    )


def render_shipment(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    allowed: bool,
    lots: Sequence[Lot],
    keys: Sequence[str],
    consignees: Sequence[Supplier],
    may_cold: bool = False,
) -> str:
    """The shipment and customs form; for a role that may not record shipments, only a word saying so
    (and no script: there is nothing to sign)."""
    return _render(
        "portal_shipment.html",
        lang,
        allowed,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        lots=lots,
        keys=keys,
        consignees=consignees,
        page="shipment",
        module="portal-shipment.js" if allowed else None,
        may_cold=may_cold,
    )


def render_cold_chain(
    lang: str,
    caller: Caller,
    csrf: str,
    role: str,
    allowed: bool,
    shipments: Sequence[tuple[str, str]],
    keys: Sequence[str],
) -> str:
    """The cold-chain form (shipments as (id, "GTIN/lot")); for a role that may not record cold-chain
    events, only a word saying so (and no script: there is nothing to sign)."""
    return _render(
        "portal_coldchain.html",
        lang,
        allowed,  # every role that records the cold chain also ships (core/events.ROLES_FOR_KIND)
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        may_cold=allowed,
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
    allowed: bool,
    lots: Sequence[Lot],
    keys: Sequence[str],
    limits: Sequence[dict[str, Any]],
) -> str:
    """The test-report form with the lab's certificate; for a role that may not record test reports,
    only a word saying so (and no script)."""
    return _render(
        "portal_test_report.html",
        lang,
        False,
        caller=caller,
        csrf=csrf,
        role=role,
        allowed=allowed,
        may_test=allowed,
        lots=lots,
        keys=keys,
        limits=limits,
        page="test_report",
        module="portal-test-report.js" if allowed else None,
    )

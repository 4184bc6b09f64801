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
from cradletrace.store.models import Lot, Product, SupplierKey


@dataclass(frozen=True)
class RecordLine:
    """One line of the history page."""

    id: int
    kind: str
    lot: str
    recorded_at: datetime
    status: str  # EventAnchoring: pending, prepared, anchored


def _render(name: str, lang: str, **values: Any) -> str:
    t = strings()[lang]
    words = {k.removeprefix("portal_"): v for k, v in t.items() if k.startswith("portal_")}
    return _env().get_template(name).render(t=t, p=words, lang=lang, **values)


def render_signin(lang: str, error: str | None = None) -> str:
    return _render("portal_signin.html", lang, error=error)


def render_records(lang: str, caller: Caller, csrf: str, lines: Sequence[RecordLine], older: int | None) -> str:
    return _render("portal_records.html", lang, caller=caller, csrf=csrf, lines=lines, older=older, page="records")


def render_keys(lang: str, caller: Caller, csrf: str, keys: Sequence[SupplierKey]) -> str:
    return _render("portal_keys.html", lang, caller=caller, csrf=csrf, keys=keys, page="keys", module="portal-keys.js")


def render_batch(
    lang: str, caller: Caller, csrf: str, made: Sequence[Product], lots: Sequence[Lot], keys: Sequence[str]
) -> str:
    return _render(
        "portal_batch.html",
        lang,
        caller=caller,
        csrf=csrf,
        products=made,
        lots=lots,
        keys=keys,
        page="batch",
        module="portal-batch.js",
    )

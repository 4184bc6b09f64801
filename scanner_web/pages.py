"""Rendering the scan pages with Jinja2 (autoescaped); strings come from i18n.json."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from cradletrace.core.weblinks import document_uri_problem
from cradletrace.scan.history import ScanSummary
from cradletrace.scan.logistics import Carrier, PlacePage, UnitPage
from cradletrace.scan.view import ScanView
from cradletrace.scanner_web.facts import fact, fact_attr
from cradletrace.store.states import HoldReason

LANGS = ("zh", "en")
HERE = Path(str(resources.files("cradletrace.scanner_web")))
STATIC_DIR = HERE / "static"


@dataclass(frozen=True)
class Banner:
    kind: str  # "recall", "hold", "alert"
    text: str


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["linkable"] = lambda uri: (
        document_uri_problem(uri) is None
    )  # a document link recorded before the rule is text
    env.globals.update(fact=fact, fact_attr=fact_attr)  # scanner_web/facts.py
    return env


@cache
def strings() -> dict[str, dict[str, str]]:
    return json.loads((HERE / "i18n.json").read_text("utf-8"))  # type: ignore[no-any-return]


def pick_lang(requested: str | None) -> str:
    return requested if requested in LANGS else "zh"


def warnings_for(view: ScanView, lang: str, extra: list[Banner] = []) -> list[Banner]:  # noqa: B006
    """Banners above everything else: recalls and holds first, then failed tests and excursions."""
    t = strings()[lang]
    out = list(extra)
    if view.failed_tests:
        out.append(Banner("alert", f"{t['quality_alert']}: {t['failed_test_warning']}"))
    if view.excursions:
        out.append(Banner("alert", f"{t['quality_alert']}: {t['excursion_warning']}"))
    return out


# Each hold reason code (the value stored and sent by the API) -> its words in i18n.json.
HOLD_REASON_TEXTS: dict[str, str] = {
    HoldReason.FAILED_TEST: "hold_reason_failed_test",
    HoldReason.EXCURSION: "hold_reason_excursion",
}


def status_warnings(recall: dict[str, object] | None, hold: dict[str, object] | None, lang: str) -> list[Banner]:
    """The recall banner (reason, class, do not use) and the hold banner of a lot (recalls.lot_status)."""
    t = strings()[lang]
    out: list[Banner] = []
    if recall is not None:
        out.append(
            Banner(
                "recall",
                f"{t['recall_banner']} {t['recall_reason']}: {recall['reason']}. "
                f"{t['recall_severity']}: {recall['severity']}.",
            )
        )
    if hold is not None:
        why = HOLD_REASON_TEXTS.get(str(hold["reason"]))
        out.append(Banner("hold", f"{t['hold_banner']}" + (f" ({t[why]})" if why else "")))
    return out


_SLOTS = ("warnings", "serial", "scans", "units", "subscribe")
_SLOT_MARK = re.compile("\x00(" + "|".join(_SLOTS) + ")\x00")


def render_scan(
    view: ScanView,
    lang: str,
    extra_warnings: list[Banner] = [],  # noqa: B006
    scans: ScanSummary | None = None,
    serial: str | None = None,
    memo: dict[Any, Any] | None = None,
    chain: Mapping[str, Any] | None = None,
    travelled: Sequence[Carrier] = (),
    subscribe: Mapping[str, str] | None = None,
) -> str:
    """The scan page. The part that depends only on ``view`` is rendered once into ``memo`` (kept
    with the view by scan.cache.ViewCache); banners, serial and scan history are filled in per scan.
    ``chain`` (api.runtime.Runtime.chain_facts, the same for every page of a server) goes on the
    root element as data attributes, for the page's script that checks the anchors on the phone.
    ``travelled``: the case and pallet this can was packed in (scan.logistics.travelled_in), per scan.
    ``subscribe`` (gtin, lot, token): the "tell me if this can is recalled" form (recall/consumers.py)."""
    t = strings()[lang]
    warnings = warnings_for(view, lang, extra_warnings)
    if scans is not None and scans.clone.likely_copy:
        warnings.insert(0, Banner("alert", f"{t['likely_copy']} ({scans.clone.reason})"))
    memo = {} if memo is None else memo
    parts = memo.get(("html", lang))
    if parts is None:
        marks = {name: Markup(f"\x00{name}\x00") for name in _SLOTS}
        page = (
            _env()
            .get_template("scan.html")
            .render(view=view, t=t, lang=lang, slot=marks, chain=_chain_attrs(chain), phone=_phone_strings(t))
        )
        parts = memo[("html", lang)] = _SLOT_MARK.split(page)  # text, slot name, text, ...
    fill = _parts()
    slots = {
        "warnings": fill.warnings(warnings),
        "serial": fill.serial(t, serial or view.serial),
        "scans": fill.scan_history(t, lang, scans),
        "units": fill.travelled(t, lang, travelled),
        "subscribe": fill.subscribe(t, lang, subscribe),
    }
    return "".join(slots[p] if i % 2 else p for i, p in enumerate(parts))


def _phone_strings(t: Mapping[str, str]) -> dict[str, str]:
    """The words of static/phonecheck.js in the page's language (its ``phone_*`` strings), and the
    verdict and document-kind words static/facts.js derives again from the signed bytes."""
    words = {k: t[k] for k in ("block", "pass", "fail", "ok", "excursion")}
    words |= {k: v for k, v in t.items() if k.startswith(("doc_kind_", "error_reason_"))}
    return words | {k.removeprefix("phone_"): v for k, v in t.items() if k.startswith("phone_")}


def _chain_attrs(chain: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The data attributes of the scan page's root element (values escaped by the template)."""
    if chain is None:
        return None
    return {
        "data-chain-id": str(chain["chain_id"]),
        "data-contract": str(chain["contract"]),
        "data-chain-local": "true" if chain["local"] else "false",
        "data-rpc-urls": json.dumps(list(chain["rpc_urls"])),
    }


@cache
def _parts() -> Any:
    return _env().get_template("scan_parts.html").module


def render_unit(lang: str, kind: str, code: str, page: UnitPage | None) -> str:
    """A pallet's or case's page: with ``page`` (logistics staff) its contents, path, cold chain and
    the recalls and holds of the lots inside; without, only what it is and that the rest needs a key."""
    t = strings()[lang]
    warnings: list[Banner] = []
    for flag in page.flags if page else ():
        for b in status_warnings(flag.status.recall, flag.status.hold, lang):
            warnings.append(Banner(b.kind, f"{t['unit_lot_prefix']} {flag.product} {flag.lot}: {b.text}"))
    return _env().get_template("unit.html").render(t=t, lang=lang, kind=kind, code=code, page=page, warnings=warnings)


def render_place(lang: str, page: PlacePage, staff: bool) -> str:
    """A place (GLN): its recorded name and that it is registered here; for staff its GLN, city and
    what was last received there, as counts."""
    t = strings()[lang]
    site, city = page.place.site, page.place.site.city if page.place.site else None
    counts = sorted(page.received.items(), key=lambda kv: ("pallet", "case", "item").index(kv[0]))
    return (
        _env()
        .get_template("place.html")
        .render(
            t=t,
            lang=lang,
            page=page,
            staff=staff,
            name=site.name if site else None,
            city=(city.name_zh if lang == "zh" else city.name) if city else None,
            counts=counts,
        )
    )


def render_unknown(lang: str, code: str, malformed: bool = False) -> str:
    t = strings()[lang]
    title, body = (t["bad_code_title"], t["bad_code_body"]) if malformed else (t["unknown_title"], t["unknown_body"])
    return _env().get_template("unknown.html").render(t=t, lang=lang, title=title, body=body, code=code)


def render_scanner(lang: str, typed: str = "", rejected: bool = False) -> str:
    """The camera scanner page; ``typed`` and ``rejected`` when a typed code was not an item code."""
    return _env().get_template("scanner.html").render(t=strings()[lang], lang=lang, typed=typed, rejected=rejected)


# -- the verifier page (static/verify.html, built by scripts/build-verify-page.mjs) ----------------

VERIFY_PAGE = STATIC_DIR / "verify.html"
_RPC_URLS_ATTR = 'data-rpc-urls="[]"'


@cache
def _verify_page() -> str:
    return VERIFY_PAGE.read_text("utf-8")


def verify_page_hashes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The CSP sources ('sha256-…') of the verifier page's inline scripts and styles: the page is
    one file (it must work from file://), so its policy allows exactly those, by their hash."""

    def sources(tag: str) -> tuple[str, ...]:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", _verify_page(), re.DOTALL)
        return tuple(f"'sha256-{base64.b64encode(hashlib.sha256(t.encode()).digest()).decode()}'" for t in found)

    return sources("script"), sources("style")


def render_verify(rpc_urls: Sequence[str]) -> str:
    """The verifier page as served: the committed file with this server's JSON-RPC URLs on its root
    element (prefilling the endpoint field; an attribute, so the script and its hash are untouched)."""
    page = _verify_page()
    urls = html.escape(json.dumps(list(rpc_urls)), quote=True)
    return page.replace(_RPC_URLS_ATTR, f'data-rpc-urls="{urls}"', 1)

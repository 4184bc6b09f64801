"""Step 6 of the phone check (issue 14): the facts a parent reads (lab values and verdicts,
temperatures, origin, customs) are derived again on the phone from the verified signed bytes
(scanner_web/static/facts.js) and any difference from the server's rendering is flagged on the
record, whatever the server's own verdict says.

In Node, facts.js is run against scanner_web/facts.py (what the page renders) on the demo events
and on corner cases (decimals and ties, negative temperatures, times in other offsets, non-ASCII
names). In Chromium, the unaltered pages of every demo lot show no difference in zh or en, and a
server patched to say VALID and to render one fact wrongly is caught by the phone on exactly
that record, at step "shown", naming the fact.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from markupsafe import Markup

from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import ColdChainData, PlanAnalyte, parse_event
from cradletrace.core.testreport import fill_limits
from cradletrace.demo import story
from cradletrace.scan.cache import ViewCache
from cradletrace.scan.view import ColdChainRecord, Record
from cradletrace.scanner_web import facts
from cradletrace.scanner_web.pages import _env, _phone_strings, strings
from cradletrace.verification import Verdict
from cradletrace.workspace import default_limits
from tests.api.test_scan import Packs
from tests.browser import screenshot
from tests.builders import run_node
from tests.test_phone_check import RECORDS, open_scan, packs, results, tampered  # noqa: F401  (fixtures)

# -- facts.js against scanner_web/facts.py, in Node ---------------------------------------------------

# Every fact the page shows, per kind (analytes/N stands for each analyte): kept in step with
# scan.html by test_the_page_marks_no_other_fact.
SITE = ["name", "address"]
FACTS: dict[str, list[tuple[str, str]]] = {
    "batch": [
        ("product/name", "text"),
        ("product/gtin", "text"),
        ("lot", "text"),
        ("produced_on", "text"),
        ("expires_on", "text"),
        *((f"site/{k}", "text") for k in SITE),
        ("site/lat", "f4"),
        ("site/lon", "f4"),
    ],
    "test_report": [
        ("lab/name", "text"),
        ("lab/accreditation/scheme", "text"),
        ("lab/accreditation/number", "text"),
        ("sampled_on", "text"),
        ("reported_on", "text"),
        ("document/uri", "text"),
        ("document/sha256", "text"),
        ("analytes/N/name", "text"),
        ("analytes/N/value", "g"),
        ("analytes/N/unit", "text"),
        ("analytes/N/limit", "g"),
        ("analytes/N/min", "g"),
        ("analytes/N", "verdict"),
        ("analytes/N/results/N", "g"),  # a sampling-plan analyte: every unit's result, the plan, the counts
        ("analytes/N/plan/n", "text"),
        ("analytes/N/plan/c", "text"),
        ("analytes/N/plan/m", "g"),
        ("analytes/N/plan/M", "g"),
        ("analytes/N", "above_m"),
        ("analytes/N", "above_M"),
    ],
    "cold_chain": [
        ("logger/id", "text"),
        ("range/min_c", "repr"),
        ("range/max_c", "repr"),
        *(("readings", k) for k in ("min", "max", "mkt", "minutes", "excursion")),
    ],
    "shipment": [
        *((f"{s}/{k}", "text") for s in ("from_site", "to_site") for k in SITE),
        ("shipped_at", "minute"),
        ("received_at", "minute"),
        ("customs/declaration_number", "text"),
        ("customs/port", "text"),
        ("customs/cleared_at", "minute"),
        ("customs/origin_country", "text"),
        ("documents/N/kind", "doc_kind"),  # each document: its kind in the page's words, title, link, hash
        ("documents/N/title", "text"),
        ("documents/N/uri", "text"),
        ("documents/N/sha256", "text"),
    ],
}
KEY = "0" * 16
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def record_of(event: dict[str, Any]) -> tuple[str, Record]:
    """The signed bytes (as text) of ``event`` and the record the page renders from them."""
    body = canonical_bytes({**event, "key": KEY})
    parsed = parse_event(body, stored=True)
    common: dict[str, Any] = dict(
        event_id=1,
        kind=parsed.kind,
        digest="",
        supplier="",
        supplier_role="",
        data=parsed.data,
        verdict=Verdict("VALID"),
    )
    if isinstance(parsed.data, ColdChainData):
        return body.decode(), ColdChainRecord(**common, summary=parsed.data.summary())
    return body.decode(), Record(**common)


def facts_of(record: Record) -> list[tuple[str, str]]:
    """Every fact of FACTS that ``record`` has (analytes/N for each analyte, documents/N for each
    document; optional ones when set)."""
    out: list[tuple[str, str]] = []
    for path, as_ in FACTS[record.kind]:
        items = getattr(record.data, path.split("/")[0], None) or [] if "/N" in path else []
        for i in range(len(items)) if "/N" in path else [None]:
            p = path.replace("/N", f"/{i}", 1)
            analyte = items[i] if i is not None else None
            if as_ in ("above_m", "above_M") and not isinstance(analyte, PlanAnalyte):
                continue  # the counts are a plan's
            units = len(analyte.results) if isinstance(analyte, PlanAnalyte) else 0
            for q in [p.replace("/N", f"/{j}") for j in range(units)] if "/N" in p else [p]:
                try:
                    if facts._at(record, q) is not None:
                        out.append((q, as_))
                except AttributeError:  # an optional part not there (no customs, no plan)
                    pass
    return out


def mismatches(events: list[dict[str, Any]], lang: str) -> tuple[int, list[tuple[str, str, str, str | None]]]:
    """How many facts of ``events`` were compared, and those where facts.js and facts.py differ."""
    t = strings()[lang]
    cases: list[dict[str, Any]] = []
    expected: list[str] = []
    for event in events:
        text, record = record_of(event)
        for path, as_ in facts_of(record):
            cases.append({"event": text, "path": path, "as": as_, "words": _phone_strings(t)})
            expected.append(facts.fact_text(record, path, as_, t))
    done = run_node(["node", "tests/js/facts.mjs"], stdin_text=json.dumps(cases))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    got = json.loads(done.stdout)
    assert len(got) == len(cases)
    return len(cases), [(c["path"], c["as"], e, g) for c, e, g in zip(cases, expected, got, strict=True) if e != g]


def demo(kind: str) -> dict[str, Any]:
    """The demo's event of ``kind`` as signed (a test report's limits filled from the table)."""
    return next(e for e in demo_events() if e["kind"] == kind)


def demo_events() -> list[dict[str, Any]]:
    out = [copy.deepcopy(e) for e in story(NOW) if e["kind"] != "commission"]  # type: ignore[index]
    for e in out:
        if e["kind"] == "test_report":
            e["data"] = fill_limits(e["data"], default_limits())
    return out


def doubles(rnd: random.Random, n: int, low: float, high: float) -> list[float]:
    """Values as they come: decimals of 0-6 places, multiples of 1/2 to 1/64 (exact ties when
    rounded to fewer digits), any double of the range, tiny ones."""
    out: list[float] = []
    for i in range(n):
        x = rnd.uniform(low, high)
        if i % 4 == 0:
            x = round(x, rnd.randint(0, 6))
        elif i % 4 == 1:
            x = min(max(round(x * 2 ** (j := rnd.randint(1, 6))) / 2**j, low), high)
        elif i % 4 == 2:
            x = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
            if x != x or not low <= x <= high:
                x = rnd.uniform(low, high) * 10.0 ** rnd.randint(-12, 0)
        out.append(x)
    return out


@pytest.mark.node
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_demo_events_read_the_same_on_the_phone(lang: str) -> None:
    count, wrong = mismatches(demo_events(), lang)
    assert count > 60 and wrong == []


@pytest.mark.node
def test_lab_values_and_verdicts_as_printed() -> None:
    """%g of values and limits (ties at the sixth digit round to even, as CPython), the verdict
    at the limit and at the minimum."""
    rnd = random.Random(14)
    fixed = [0.0, 0.004, 0.05, 1e-05, 0.0001, 0.00012345675, 123456.5, 1234565.0, 999999.5, 9999995.0]
    fixed += [0.5, 2.5e-07, 1e300, 5e-324, 12.0, 100000.0, 1000000.0, 3.14159265, 0.1 + 0.2, 1e16]
    values = fixed + doubles(rnd, 1500, 0.0, 1e7)
    events = []
    for start in range(0, len(values), 250):
        report = demo("test_report")
        chunk = values[start : start + 250]
        report["data"]["analytes"] = [
            {
                "name": f"analyte {i} · 三聚氰胺",
                "category": "contaminant",
                "value": v,
                "unit": "µg/kg",
                "limit": chunk[(i + 1) % len(chunk)] if i % 3 else v,  # every third exactly at its limit
                **({"min": chunk[i - 1]} if i % 2 else {}),
                "method": "LC-MS/MS",
            }
            for i, v in enumerate(chunk)
        ]
        events.append(report)
    count, wrong = mismatches(events, "en")
    assert count > 5000 and wrong == []


@pytest.mark.node
def test_sampling_plans_as_printed() -> None:
    """A plan analyte's results, plan and counts, and its verdict by the plan (samplingplan.js against
    samplingplan.py): two- and three-class, units exactly at m and at M, over c, one over M, m = 0."""
    rnd = random.Random(15)
    analytes: list[dict[str, Any]] = []
    for i in range(300):
        n = rnd.randint(1, 10)
        m = rnd.choice([0, 10, 100.5, 1e-05, 1000])
        plan: dict[str, Any] = {"n": n, "c": rnd.randint(0, n), "m": m}
        if i % 2:
            plan["M"] = rnd.choice([m, m * 10 + 1, m + 0.25])
        picks = [0, m, m + 1, plan.get("M", m * 3), plan.get("M", m) + 1, rnd.uniform(0, 2 * m + 2)]
        analytes.append(
            {
                "name": f"plan {i} · 菌落总数",
                "category": "microbiology",
                "plan": plan,
                "results": [rnd.choice(picks) for _ in range(n)],
                "unit": "CFU/g",
                "method": "GB 4789.2-2022",
            }
        )
    events = []
    for start in range(0, len(analytes), 100):
        report = demo("test_report")
        report["data"]["analytes"] = analytes[start : start + 100]
        events.append(report)
    count, wrong = mismatches(events, "en")
    assert count > 3000 and wrong == []
    shown = {
        facts.fact_text(record_of(e)[1], f"analytes/{i}", "verdict", strings()["en"])
        for e in events
        for i in range(100)
    }
    assert shown == {"pass", "FAIL"}  # both verdicts among the cases


@pytest.mark.node
def test_places_temperatures_and_times_as_printed() -> None:
    """Coordinates (%.4f, negative, ties), the allowed range and min/max (Python's float repr,
    negative and below zero), mean kinetic temperature (rounded twice, as the server does), minutes
    out of range (30-second readings make half minutes: to even), times with fractions and offsets."""
    rnd = random.Random(6)
    events: list[dict[str, Any]] = []
    for i, (lat, lon) in enumerate(zip(doubles(rnd, 200, -90, 90), doubles(rnd, 200, -180, 180), strict=True)):
        batch = demo("batch")
        batch["data"]["site"] |= {"lat": lat, "lon": lon, "name": f"牧场 {i} — Ōtorohanga & «Söhne» <3>"}
        events.append(batch)
    for i in range(60):
        cold = demo("cold_chain")
        low = round(rnd.uniform(-30, 5), rnd.randint(0, 2))
        offset = timezone(timedelta(minutes=rnd.choice([0, 480, -330, 345, -720])))
        at = datetime(2026, 1, 1, tzinfo=offset) + timedelta(
            seconds=rnd.randint(0, 10**7), microseconds=rnd.randint(0, 10**6)
        )
        step = rnd.choice([30, 90, 150, 0.5, 61.25, 900])
        spec = rnd.choice(["seconds", "milliseconds", "microseconds"]) if step >= 1 else "microseconds"
        readings = []
        for _ in range(rnd.randint(1, 300)):
            at += timedelta(seconds=step * rnd.choice([1, 1, 1, 3]))
            stamp = at.isoformat(timespec=spec)
            readings.append(
                {
                    "at": stamp.replace("+00:00", "Z") if i % 2 else stamp,
                    "c": round(rnd.uniform(low - 6, low + 16), rnd.randint(0, 3)),
                }
            )
        cold["data"] |= {"range": {"min_c": low, "max_c": low + rnd.choice([6, 10, 0.5])}, "readings": readings}
        events.append(cold)
    for i in range(40):
        ship = demo("shipment")
        offset = timezone(timedelta(minutes=rnd.choice([0, 480, -330, 345, -720, 59])))
        start = datetime(2026, 1, 1, tzinfo=offset) + timedelta(seconds=rnd.randint(0, 10**7) + rnd.random())
        ship["data"] |= {
            "shipped_at": start.isoformat(),
            "received_at": (start + timedelta(days=3)).isoformat(timespec="minutes"),
            "customs": {
                "declaration_number": f"报关 {i}",
                "port": "Port · 港",
                "cleared_at": (start + timedelta(hours=30)).isoformat(),
            },
        }
        events.append(ship)
    count, wrong = mismatches(events, "zh")
    assert count > 2000 and wrong == []


@pytest.mark.node
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_shipment_documents_as_printed(lang: str) -> None:
    """Each document of a shipment: its kind in the page's words, its title, link and SHA-256."""
    ship = demo("shipment")
    kinds = ["customs_declaration", "health_certificate", "certificate_of_analysis", "bill_of_lading", "other"]
    ship["data"]["documents"] = [
        {"kind": k, "sha256": f"{i:x}" * 64, "uri": f"https://docs.example.com/d/{i}.pdf"}
        | ({"title": f"熏蒸证明 «{i}»"} if i % 2 else {})
        for i, k in enumerate(kinds)
    ]
    count, wrong = mismatches([ship], lang)
    assert count > 20 and wrong == []
    _, record = record_of(ship)
    assert {p for p, _ in facts_of(record) if p.startswith("documents/")} >= {"documents/4/kind", "documents/1/title"}


# -- in Chromium ---------------------------------------------------------------------------------------


def test_the_page_marks_no_other_fact(packs: Packs) -> None:
    """FACTS above holds every fact scan.html marks, so the Node tests cover each of them."""
    known = {(p, a) for listed in FACTS.values() for p, a in listed}
    for lang in ("zh", "en"):
        page = packs.client.get(packs.cans[0].path + f"?lang={lang}").text
        marked = set(re.findall(r'data-fact="([^"]+)" data-as="(\w+)"', page))
        assert len(marked) > 40
        assert {(re.sub(r"/\d+", "/N", p), a) for p, a in marked} <= known


def lots(packs: Packs) -> list[str]:
    """A page of every demo lot that has one (cans carry codes): the formula lot and its copy
    written with a slash. The raw-milk lots are on the formula's page, as its origin."""
    return [packs.cans[0].path, packs.slash[0].path]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_demo_lot_shows_what_was_signed(browser: Any, packs: Packs, lang: str) -> None:
    for path in lots(packs):
        page, pages, _ = open_scan(browser, packs, lang=lang, path=path)
        try:
            got = results(page)
            assert got and got == [("VALID", "verified", "")] * len(got), (path, got)
            assert page.locator("[data-phone-differs], [data-phone-facts]").count() == 0
            assert page.locator("[data-fact]").count() >= 9
        finally:
            pages.__exit__(None, None, None)


Words = dict[str, str]
FAILING = "Cronobacter spp."


def failing(data: Any) -> bool:
    return bool(data.analytes[0].name == FAILING)


# (name, kind, which record, path, data-as, what the lying server shows, what the signed record says)
CASES: list[tuple[str, str, Callable[[Any], bool], str, str, Callable[[Words], str], Callable[[Words], str]]] = [
    ("lab value", "test_report", failing, "analytes/0/value", "g", lambda t: "0", lambda t: "1"),
    ("verdict", "test_report", failing, "analytes/0", "verdict", lambda t: t["pass"], lambda t: t["fail"]),
    ("temperature", "cold_chain", lambda d: True, "readings", "max", lambda t: "7.9", lambda t: "10.1"),
    ("excursion", "cold_chain", lambda d: True, "readings", "excursion", lambda t: t["ok"], lambda t: t["excursion"]),
    (
        "farm",
        "batch",
        lambda d: d.lot == "RM-A1",
        "site/name",
        "text",
        lambda t: "Sunny Meadows Organic",
        lambda t: "Waikato Dairy, shed 3",
    ),
    (
        "customs",
        "shipment",
        lambda d: True,
        "customs/declaration_number",
        "text",
        lambda t: "223320261000009999",
        lambda t: "223320261000004217",
    ),
]


def flagged_badges(page: Any) -> list[dict[str, Any]]:
    """The records the phone failed: their kind (from the signed bytes), facts named and line."""
    out = []
    for badge in page.locator(".badge[data-phone-check=failed]").all():
        evidence = json.loads(base64.b64decode(badge.get_attribute("data-evidence")))
        out.append(
            {
                "kind": json.loads(base64.b64decode(evidence["bytes"]))["kind"],
                "step": badge.get_attribute("data-phone-step"),
                "facts": badge.get_attribute("data-phone-facts"),
                "line": badge.locator("small.phone-check").inner_text(),
            }
        )
    return out


@pytest.mark.browser
@pytest.mark.parametrize(
    ("case", "lang"), [(c[0], "en") for c in CASES] + [("verdict", "zh"), ("customs", "zh")], ids=lambda x: str(x)
)
def test_a_server_rendering_a_fact_wrong_is_caught_on_the_phone(
    browser: Any,
    tampered: Packs,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    lang: str,
) -> None:
    """The server says VALID (its own check forced) and renders one fact of one record otherwise
    than signed: the phone fails exactly that record at step "shown", names the fact, marks the
    element and says what the page shows and what the signed record says, in the page's language."""
    _, kind, which, path, as_, lie, truth = next(c for c in CASES if c[0] == case)
    t = strings()[lang]
    original = facts.fact_text

    def lying(record: Record, p: str, a: str = "text", words: Words = {}) -> str:  # noqa: B006
        hit = record.kind == kind and which(record.data) and (p, a) == (path, as_)
        return lie(t) if hit else original(record, p, a, words)

    monkeypatch.setattr(facts, "fact_text", lying)
    monkeypatch.setattr(ViewCache, "kept", lambda self, gtin, lot: None)  # render afresh, with the lie
    page, pages, _ = open_scan(browser, tampered, lang=lang)
    try:
        assert sorted(results(page)) == sorted(
            [("VALID", "verified", "")] * (RECORDS - 1) + [("VALID", "failed", "shown")]
        )
        shown = t["phone_shown"].format(shown=lie(t), signed=truth(t))
        assert flagged_badges(page) == [
            {"kind": kind, "step": "shown", "facts": path, "line": f"✗ {t['phone_failed']}: {shown}"}
        ]
        differs = page.locator("[data-phone-differs]")
        assert differs.count() == 1
        assert (differs.get_attribute("data-fact"), differs.get_attribute("data-as")) == (path, as_)
        assert differs.get_attribute("data-phone-differs") == truth(t)
        assert differs.inner_text() == lie(t)  # the page's text stays; the mark shows the signed one beside it
        assert page.locator("#phone-summary").get_attribute("data-phone-check") == "failed"
        if lang == "zh":
            differs.scroll_into_view_if_needed()
            screenshot(page, f"phone-facts-{case}-zh")
    finally:
        pages.__exit__(None, None, None)


@pytest.mark.browser
def test_a_server_leaving_out_a_failed_verdict_is_caught(
    browser: Any,
    tampered: Packs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every analyte's value and verdict must be on the page: a server that drops the failing
    one's verdict is caught too ("this page shows (nothing)")."""
    original = facts.fact
    en = strings()["en"]

    def hiding(record: Record, path: str, as_: str = "text", t: Words = {}) -> Markup:  # noqa: B006
        hide = record.kind == "test_report" and failing(record.data) and as_ == "verdict"
        return Markup("") if hide else original(record, path, as_, t)

    monkeypatch.setitem(_env().globals, "fact", hiding)
    monkeypatch.setattr(ViewCache, "kept", lambda self, gtin, lot: None)
    page, pages, _ = open_scan(browser, tampered)
    try:
        shown = en["phone_shown"].format(shown=en["phone_nothing"], signed=en["fail"])
        assert flagged_badges(page) == [
            {"kind": "test_report", "step": "shown", "facts": "analytes/0", "line": f"✗ {en['phone_failed']}: {shown}"}
        ]
        assert page.locator("[data-phone-differs]").count() == 0
    finally:
        pages.__exit__(None, None, None)

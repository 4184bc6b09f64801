"""A test report's document link reaches a parent only as an https link: refused at recording,
shown as text (never a link) when an older store holds another kind, and followed by the resolver
only to its own links or to hosts the operator allows (no open redirect). SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cradletrace import apikeys
from cradletrace.config import Settings
from cradletrace.core import canonical
from cradletrace.core.labels import resolver_origin
from cradletrace.core.weblinks import document_uri_problem
from cradletrace.demo import story
from cradletrace.workspace import Workspace
from tests.api.conftest import key_file, sign_with, signed
from tests.api.test_scan import Packs, packed_site, scan_json, scan_page, sql

LAB = "canterbury-lab"
SCRIPT = "javascript:alert(document.cookie)"
ALLOWED = "reports.lab.example"


@pytest.fixture
def docs(tmp_path: Path, database_url: str | None) -> Iterator[Packs]:
    with packed_site(
        Settings(data_dir=tmp_path / "data", database_url=database_url),
        scan_rate_per_minute=0,
        resolver_allowed_hosts=(ALLOWED,),
    ) as p:
        yield p


def report_with(uri: str) -> dict[str, object]:
    """A new lab report on lot IF-0001 (the demo's passing one, another document), signed by the lab."""
    report = copy.deepcopy(next(e for e in story(datetime.now(UTC)) if e["kind"] == "test_report"))
    report["data"]["document"] = {"sha256": "ab" * 32, "uri": uri}  # type: ignore[index]
    return report


def signed_report(settings: Settings, uri: str) -> dict[str, object]:
    """Completed (key, limits) and signed as the lab's tooling would, then given ``uri`` and signed again."""
    event = signed(settings, [report_with("https://lab.example/reports/x.pdf")])[0]["event"]
    event["data"]["document"]["uri"] = uri  # type: ignore[index]
    return sign_with(key_file(settings, LAB)[1], event)  # type: ignore[arg-type]


def store_as_of_old(settings: Settings, uri: str) -> None:
    """A report recorded before the rule: written into the store directly, correctly signed."""
    item = signed_report(settings, uri)
    event = item["event"]
    sql(
        settings,
        "INSERT INTO event (digest, kind, supplier_id, key_id, body, signature, recorded_at, gtin, lot, outcome) "
        "VALUES (:d, 'test_report', :s, :k, :b, :sig, :t, :g, 'IF-0001', 'pass')",
        d=canonical.digest_of(event).hex(),
        s=LAB,
        k=event["key"],
        b=canonical.canonical_bytes(event).decode(),  # type: ignore[arg-type, index]
        sig=item["signature"],
        t=datetime.now(UTC),
        g=event["data"]["batch"]["gtin"],
    )  # type: ignore[index]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://lab.example/reports/1.pdf", None),
        ("HTTPS://Lab.Example:8443/r?id=1", None),
        (SCRIPT, "expected an https:// URI with a host"),
        ("JavaScript:alert(1)", "expected an https:// URI with a host"),
        ("data:text/html,<script>alert(1)</script>", "expected an https:// URI with a host"),
        ("http://lab.example/reports/1.pdf", "expected an https:// URI with a host"),
        ("//evil.example/x", "expected an https:// URI with a host"),
        ("https:///no-host", "expected an https:// URI with a host"),
        ("https://lab.example@evil.example/x", "without a user part"),
        ("https://lab.example/a b", "without spaces or control characters"),
        ("https://lab.example/\x00", "without spaces or control characters"),
        ("https://lab.example:port/", "expected an https:// URI with a host"),
    ],
)
def test_the_document_link_rule(uri: str, expected: str | None) -> None:
    problem = document_uri_problem(uri)
    assert (problem is None) if expected is None else (problem is not None and expected in problem), problem


def test_the_api_refuses_a_script_link(docs: Packs) -> None:
    with Workspace(docs.settings) as ws, ws.session() as s:
        lab_key = apikeys.create_key(s, "lab", "supplier", LAB)[1]
    before = docs.site.event_count()
    for uri in (SCRIPT, "http://lab.example/r.pdf"):
        r = docs.client.post(
            "/api/v1/events", headers={"Authorization": f"Bearer {lab_key}"}, json=[signed_report(docs.settings, uri)]
        )
        assert r.status_code == 422, r.text
        problems = {p["field"]: p["message"] for p in r.json()["problems"]}
        assert (
            list(problems) == ["events[0].data.document.uri"]
            and "expected an https:// URI" in problems["events[0].data.document.uri"]
        )
    assert docs.site.event_count() == before


def test_an_old_script_link_is_neither_linked_nor_followed(docs: Packs) -> None:
    can = docs.cans[0]
    store_as_of_old(docs.settings, SCRIPT)
    store_as_of_old(docs.settings, "https://evil.example/phish.pdf")
    body = scan_json(docs.client, can)
    shown = [t for t in body["test_reports"] if t["data"]["document"]["uri"] == SCRIPT]
    assert len(shown) == 1 and shown[0]["integrity"]["status"] == "PENDING"  # still read, still verified
    page = scan_page(docs.client, can)
    assert "javascript:" not in page.split("<body", 1)[1].lower()
    outside = re.findall(r'<a [^>]*href="https://[^"]*"[^>]*>', page)
    assert any("evil.example" in a for a in outside) and all('rel="noopener noreferrer"' in a for a in outside)
    ls = docs.client.get(can.path, params={"linkType": "linkset"}).json()["linkset"][0]
    hrefs = [x["href"] for x in ls["https://gs1.org/voc/certificationInfo"]]
    assert SCRIPT not in hrefs and "https://evil.example/phish.pdf" in hrefs  # listed, but see below
    r = docs.client.get(can.path, params={"linkType": "gs1:certificationInfo"}, follow_redirects=False)
    # the newest report's host is not allowed, nor the demo's lab.example: the pack's own page
    assert (r.status_code, r.headers["location"]) == (307, resolver_origin(docs.settings.resolver_host) + can.path)


def test_the_resolver_follows_a_document_link_to_an_allowed_host(docs: Packs) -> None:
    can = docs.cans[1]
    store_as_of_old(docs.settings, f"https://{ALLOWED}/r/77.pdf")
    store_as_of_old(docs.settings, SCRIPT)  # newer, never followed
    r = docs.client.get(can.path, params={"linkType": "gs1:certificationInfo"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (307, f"https://{ALLOWED}/r/77.pdf")


def test_allowed_hosts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRADLETRACE_RESOLVER_ALLOWED_HOSTS", " Lab.Example, reports.example.org ,")
    assert Settings().resolver_allowed_hosts == ("lab.example", "reports.example.org")

"""Proof bundles of records an EPCIS capture request signed (docs/proof-bundle.md "Captured events").

Such a record's signature column is the capture's reference, not a signature: its bundle carries the
request's signature material (and, from ``cradletrace proof`` and the API, the body), so
``verify-bundle`` and the parent's phone check it without our store. A batch event is captured
through the real ``POST /epcis/capture`` (signed with the supplier's key file), its lot's cans are
commissioned and anchored, and its bundle is checked whole, without the body, and tampered."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from cradletrace.config import Settings
from cradletrace.demo import story
from cradletrace.epcis.profile import CONTEXT, to_epcis
from cradletrace.scanner_web.pages import strings
from cradletrace.store.models import EventRow
from cradletrace.verification import UNSIGNED, read_bundle, verify_bundle
from cradletrace.workspace import Workspace
from tests.api.conftest import A, Site, commission, open_site
from tests.api.test_scan import Packs
from tests.epcis.test_binding import URL, post, wait

LOT = "CAP-0001"
Bundle = dict[str, Any]


def captured_batch(site: Site, lot: str, signed: bool = True) -> tuple[int, EventRow]:
    """A batch event of lot ``lot`` captured through POST /epcis/capture (``signed``: with the supplier's
    request signature, else unsigned where the site allows it); (capture id, its stored row)."""
    batch = copy.deepcopy(next(e for e in story(datetime.now(UTC)) if e["kind"] == "batch" and e["supplier"] == A))
    batch["data"]["lot"] = lot  # type: ignore[index]
    body = json.dumps(
        {
            "@context": CONTEXT,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-12-01T00:00:00Z",
            "epcisBody": {"eventList": [to_epcis(batch)]},
        }
    ).encode()
    plain = {**site.auth("supplier_a"), "Content-Type": "application/ld+json"}
    r = post(site, body, "application/ld+json") if signed else site.client.post(URL, content=body, headers=plain)
    assert r.status_code == 202, r.text
    job = wait(site, r.headers["Location"])
    assert job["success"], job
    capture_id = int(r.headers["Location"].rsplit("/", 1)[1])
    ref = f"{'' if signed else 'unsigned:'}epcis-capture:{capture_id}/0"
    with Workspace(site.settings) as ws, ws.session() as s:
        row = s.exec(select(EventRow).where(col(EventRow.signature) == ref)).one()
    return capture_id, row


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Packs, int, EventRow]]:
    """A site whose lot CAP-0001 came in through /epcis/capture, commissioned and anchored."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("capbundle")) / "data")
    with open_site(settings, epcis_capture_interval=0.05, scan_rate_per_minute=0, rpc_rate_per_minute=0) as site:
        capture_id, row = captured_batch(site, LOT)
        cans = commission(site.settings, LOT, 1)
        anchored = site.client.post("/api/v1/anchor", headers=site.auth("operator"))
        assert anchored.status_code == 200, anchored.text
        yield Packs(site, cans, []), capture_id, row


def proof(site: Site, event_id: int) -> Bundle:
    r = site.client.get(f"/api/v1/events/{event_id}/proof", headers=site.auth("quality"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def check(site: Site, bundle: Bundle) -> Any:
    """``verify_bundle`` (behind ``cradletrace verify-bundle``) on the app's own chain (it holds the embedded file)."""
    chain = site.client.app.state.runtime.chain()  # type: ignore[attr-defined]
    return verify_bundle(read_bundle(json.dumps(bundle)), lambda *_: chain)


def test_the_bundle_of_a_captured_record_verifies_with_its_body(captured: tuple[Packs, int, EventRow]) -> None:
    packs, capture_id, row = captured
    bundle = proof(packs.site, row.id)  # type: ignore[arg-type]
    cap = bundle["capture"]
    assert (cap["id"], cap["event"], cap["unsigned"], cap["key_id"]) == (capture_id, 0, False, row.key_id)
    assert {"signature-input", "signature", "content-digest", "content-type"} <= set(cap["signature"]["headers"])
    assert base64.b64decode(cap["body"]) and cap["public_key"] == bundle["supplier"]["public_key"]
    v = check(packs.site, bundle)
    assert v.status == "VALID", v
    assert [n for n in v.notes if n.startswith("capture:")] == [
        n for n in v.notes if "maps to exactly this record" in n
    ]
    assert any("maps to exactly this record" in n for n in v.notes), v.notes
    # the API's public verify-bundle runs the same code
    r = packs.client.post(
        "/api/v1/verify-bundle", content=json.dumps(bundle), headers={"content-type": "application/json"}
    )
    assert r.json()["status"] == "VALID" and any("capture:" in n for n in r.json()["notes"]), r.text


def test_without_the_body_it_says_what_was_not_checked(captured: tuple[Packs, int, EventRow]) -> None:
    packs, _, row = captured
    bundle = proof(packs.site, row.id)  # type: ignore[arg-type]
    del bundle["capture"]["body"]
    v = check(packs.site, bundle)
    assert v.status == "VALID", v
    [note] = [n for n in v.notes if n.startswith("capture:")]
    assert "body is not in this bundle" in note and "was not checked" in note, note
    assert check(packs.site, _tampered(bundle, "signature")).status == "INVALID"  # the signature still counts


def _tampered(bundle: Bundle, how: str) -> Bundle:
    b = copy.deepcopy(bundle)
    cap = b["capture"]
    if how == "body":  # another body under the same signature material
        doc = json.loads(base64.b64decode(cap["body"]))
        doc["creationDate"] = "2026-12-02T00:00:00Z"
        cap["body"] = base64.b64encode(json.dumps(doc).encode()).decode()
    elif how == "signature":
        sig = cap["signature"]["headers"]["signature"]
        i = sig.index(":") + 5
        cap["signature"]["headers"]["signature"] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
    elif how == "digest":  # the signed Content-Digest swapped: the signature no longer holds
        cap["signature"]["headers"]["content-digest"] = "sha-256=:" + base64.b64encode(b"\0" * 32).decode() + ":"
    elif how == "target":
        cap["signature"]["target_uri"] += "?x=1"
    elif how == "event":  # the record points at another event of the capture
        cap["event"] = 1
    elif how == "record":  # the record's bytes and digest replaced (its proof then fails too)
        event = json.loads(base64.b64decode(b["bytes"]))
        event["data"]["lot"] = "CAP-9999"
        raw = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        import hashlib

        b["bytes"], b["digest"] = base64.b64encode(raw).decode(), "0x" + hashlib.sha256(raw).hexdigest()
    elif how == "gone":
        del b["capture"]
    return b


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("body", "Content-Digest"),
        ("signature", "request signature"),
        ("digest", "request signature"),
        ("target", "request signature"),
        ("event", "the record names capture"),
        ("record", "does not map to this record"),
        ("gone", "carries no capture"),
    ],
)
def test_tampering_fails(captured: tuple[Packs, int, EventRow], how: str, says: str) -> None:
    packs, _, row = captured
    v = check(packs.site, _tampered(proof(packs.site, row.id), how))  # type: ignore[arg-type]
    assert v.status == "INVALID", (how, v)
    assert any(r.startswith("signature bad") and says in r for r in v.reasons), (how, v.reasons)


def test_an_unsigned_capture_is_said_unsigned(tmp_path: Path) -> None:
    """Where the operator allows unsigned capture, the bundle says so and never claims a signature."""
    settings = Settings(data_dir=tmp_path / "data")
    with open_site(settings, epcis_capture_interval=0.05, epcis_unsigned_capture=True) as site:
        _, row = captured_batch(site, "CAP-0002", signed=False)
        assert site.client.post("/api/v1/anchor", headers=site.auth("operator")).status_code == 200
        bundle = proof(site, row.id)  # type: ignore[arg-type]
        assert bundle["capture"]["unsigned"] is True and bundle["capture"]["signature"] is None
        v = check(site, bundle)
        assert UNSIGNED in v.notes and not any(n.startswith("capture:") for n in v.notes), v
        bundle["capture"]["unsigned"] = False  # claiming a signature it never had
        assert check(site, bundle).status == "INVALID"


@pytest.mark.browser
def test_the_phone_checks_the_capture_signature_and_says_so(
    browser: Any, captured: tuple[Packs, int, EventRow]
) -> None:
    """On the can's page the captured batch record is verified on the phone (headless Chromium), with
    the line saying it was signed as part of the capture request; a changed kept signature fails it."""
    from tests.api.test_scan import sql
    from tests.test_phone_check import open_scan, results

    packs, capture_id, row = captured
    en = strings()["en"]
    page, pages, _ = open_scan(browser, packs)
    try:
        got = results(page)
        assert got and all(phone == "verified" for _, phone, _ in got), got
        notes = [b.get_attribute("data-phone-note") for b in page.locator(".badge[data-evidence]").all()]
        assert notes.count("capture") == 1, notes
        line = page.locator('.badge[data-phone-note="capture"] small.phone-check').inner_text()
        said = en["phone_capture"].replace("{id}", str(capture_id)).replace("{n}", "0")
        assert line.startswith("✓ ") and said in line, line
        evidence = page.locator('.badge[data-phone-note="capture"]').get_attribute("data-evidence")
        inline = json.loads(base64.b64decode(evidence or ""))
        assert inline["signature"] == row.signature and "body" not in inline["capture"]  # no body inline
    finally:
        pages.__exit__(None, None, None)
    page, pages, _ = open_scan(browser, packs, lang="zh")
    try:
        zh = strings()["zh"]["phone_capture"].replace("{id}", str(capture_id)).replace("{n}", "0")
        assert zh in page.locator('.badge[data-phone-note="capture"] small.phone-check').inner_text()
    finally:
        pages.__exit__(None, None, None)
    # the kept signature material changed in the store: one character of the request's Signature
    [(material,)] = sql(packs.site.settings, "SELECT signature FROM epcis_capture WHERE id = :i", i=capture_id)
    kept = json.loads(material)
    sig = kept["headers"]["signature"]
    i = sig.index(":") + 5
    kept["headers"]["signature"] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
    sql(packs.site.settings, "UPDATE epcis_capture SET signature = :m WHERE id = :i", m=json.dumps(kept), i=capture_id)
    try:
        page, pages, _ = open_scan(browser, packs)
        try:
            failed = [r for r in results(page) if r[1] != "verified"]
            assert failed == [("INVALID", "failed", "signature")], results(page)
            assert page.locator("#phone-summary").get_attribute("data-phone-check") == "failed"
        finally:
            pages.__exit__(None, None, None)
    finally:
        sql(packs.site.settings, "UPDATE epcis_capture SET signature = :m WHERE id = :i", m=material, i=capture_id)

"""Errors leave as ``{"detail", "field", "problems"}`` with the right status and nothing internal."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cradletrace.api import errors
from cradletrace.api.middleware import too_large_detail
from cradletrace.errors import ChainRevertedError, ChainUnavailableError, ConfigError
from tests.api.conftest import A, Site

P = "/api/v1"
SECRET = "SELECT hash FROM api_key -- postgresql://admin:hunter2@db.internal:5432/trace"
LEAKS = ("SELECT", "hunter2", "db.internal", "Traceback", 'File "', "psycopg", "sqlalchemy", "127.0.0.1:1")


def assert_clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} reached the client: {text}"


def test_unexpected_exception_is_a_bare_500(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr("cradletrace.api.routes.events.find_event", explode)
    with caplog.at_level(logging.ERROR, logger="cradletrace.api"):
        r = site.client.get(f"{P}/events/1", headers=site.auth("operator"))
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "field": None, "problems": []}
    assert_clean(r.text)
    assert any(rec.exc_info and SECRET in str(rec.exc_info[1]) for rec in caplog.records), "logged on the server"


def test_lost_race_is_409(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def collide(*_: object, **__: object) -> None:
        raise IntegrityError(SECRET, {}, Exception("UNIQUE constraint failed: event.digest"))

    monkeypatch.setattr("cradletrace.api.routes.events.find_event", collide)
    r = site.client.get(f"{P}/events/1", headers=site.auth("operator"))
    assert (r.status_code, r.json()) == (409, {"detail": errors.CONFLICT, "field": None, "problems": []})
    assert_clean(r.text)


@pytest.fixture
def store_down(site: Site) -> Iterator[None]:
    """Every session of the app now points at a PostgreSQL server that is not there."""
    runtime = site.client.app.state.runtime  # type: ignore[attr-defined]
    dead = create_engine("postgresql+psycopg://admin:hunter2@127.0.0.1:1/trace", connect_args={"connect_timeout": 2})
    runtime.session = lambda: Session(dead, expire_on_commit=False)
    try:
        yield
    finally:
        del runtime.session
        dead.dispose()


@pytest.mark.usefixtures("store_down")
def test_store_down_is_503(site: Site) -> None:
    r = site.client.get(f"{P}/events", headers=site.auth("operator"))
    assert (r.status_code, r.json()) == (503, {"detail": "store unavailable", "field": None, "problems": []})
    assert_clean(r.text)
    h = site.client.get(f"{P}/health")
    assert h.status_code == 503 and h.json()["store"] == {"ok": False} and h.json()["status"] == "unavailable"
    assert_clean(h.text)


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (ChainUnavailableError(f"look up root: chain at {SECRET} did not answer"), 503, errors.CHAIN_UNAVAILABLE),
        (ChainRevertedError(f"anchor: the contract refused ({SECRET})", reason="X"), 502, errors.CHAIN_FAILED),
        (ConfigError(f"store {SECRET}: cannot connect"), 500, errors.CONFIG),
    ],
)
def test_chain_and_config_errors(
    site: Site, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, detail: str
) -> None:
    runtime = site.client.app.state.runtime  # type: ignore[attr-defined]

    def fail() -> None:
        raise error

    monkeypatch.setattr(runtime, "chain", fail)
    r = site.client.get(f"{P}/events/{site.ids['a_event']}/verify", headers=site.auth("operator"))
    assert (r.status_code, r.json()) == (status, {"detail": detail, "field": None, "problems": []})
    assert_clean(r.text)
    if isinstance(error, ChainUnavailableError):
        h = site.client.get(f"{P}/health")
        assert h.status_code == 503 and h.json()["chain"]["ok"] is False


def test_body_over_the_limit_is_413(site: Site) -> None:
    small, bulk = site.settings.api_max_body, site.settings.api_max_bulk_body
    # Declared length over the limit: refused before a byte is read.
    r = site.client.post(f"{P}/verify-bundle", content=b" " * (small + 1))
    assert (r.status_code, r.json()["detail"]) == (413, too_large_detail(small))
    # The bulk upload may be bigger than other bodies ...
    r = site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=b" " * (small + 1))
    assert r.status_code == 422
    # ... but not bigger than its own limit, and nothing is stored.
    before = site.event_count()
    r = site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=b"[" + b" " * bulk + b"]")
    assert (r.status_code, r.json()["detail"]) == (413, too_large_detail(bulk))
    assert site.event_count() == before

    # No Content-Length (chunked): counted while reading, also for JSON bodies FastAPI parses.
    def chunks() -> Iterator[bytes]:
        for _ in range(small // 65536 + 2):
            yield b" " * 65536

    for url in (f"{P}/verify-bundle", f"{P}/suppliers"):
        r = site.client.post(
            url, headers={**site.auth("operator"), "Content-Type": "application/json"}, content=chunks()
        )
        assert (r.status_code, r.json()["detail"]) == (413, too_large_detail(small)), url


def test_request_validation_is_reshaped(site: Site) -> None:
    r = site.client.post(
        f"{P}/suppliers",
        headers=site.auth("operator"),
        json={
            "name": "X",
            "role": "mine",
            "certifications": [{"scheme": "GAP", "number": "1", "issuer": "Y", "valid_until": "soon"}],
        },
    )
    assert r.status_code == 422
    body = r.json()
    assert body["detail"] == "invalid input"
    assert {p["field"] for p in body["problems"]} == {"body.role", "body.certifications[0].valid_until"}
    assert body["field"] == body["problems"][0]["field"]


def test_core_refusals_name_the_field(site: Site) -> None:
    op = site.auth("operator")
    r = site.client.post(f"{P}/suppliers", headers=op, json={"name": "Dup", "role": "farm", "id": "alps-nutrition"})
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"field": "id", "message": "expected a new supplier id, got 'alps-nutrition' which is already registered"}
    ]
    r = site.client.post(f"{P}/api-keys", headers=op, json={"name": "k", "role": "supplier"})
    assert (r.status_code, r.json()["field"]) == (422, "supplier")
    r = site.client.post(f"{P}/api-keys", headers=op, json={"name": "k", "role": "supplier", "supplier_id": "nobody"})
    assert (r.status_code, r.json()["detail"]) == (
        404,
        "supplier 'nobody': expected a registered supplier, got an unknown id",
    )


def test_unknown_route_and_method(site: Site) -> None:
    assert site.client.get(f"{P}/nothing-here").json() == {"detail": "not found", "field": None, "problems": []}
    r = site.client.delete(f"{P}/events")
    assert (r.status_code, r.json()["detail"]) == (405, "method not allowed")


def test_bad_bundle_is_422(site: Site) -> None:
    bundle = site.client.get(f"{P}/events/{site.ids['a_event']}/proof", headers=site.auth("operator")).json()
    r = site.client.post(f"{P}/verify-bundle", content=json.dumps({**bundle, "root": 5}).encode())
    assert (r.status_code, r.json()["field"]) == (422, "bundle.root")
    event = json.loads(base64.b64decode(bundle["bytes"])) | {"supplier": "someone-else"}
    tampered = {**bundle, "bytes": base64.b64encode(json.dumps(event).encode()).decode()}
    v = site.client.post(f"{P}/verify-bundle", content=json.dumps(tampered).encode()).json()
    assert v["status"] == "INVALID" and v["reasons"][0].startswith("content changed")
    other = {**bundle, "chain": {**bundle["chain"], "chain_id": 1}}
    r = site.client.post(f"{P}/verify-bundle", content=json.dumps(other).encode())
    assert (r.status_code, r.json()["field"]) == (422, "bundle.chain.chain_id")


def test_control_and_bidi_characters_are_refused_in_body_text(site: Site) -> None:
    op = site.auth("operator")
    for url, body, field in [
        ("/suppliers", {"name": "Alps\u0000Nutrition", "role": "farm"}, "body.name"),
        (
            "/suppliers",
            {
                "name": "Fine",
                "role": "farm",
                "certifications": [{"scheme": "GAP", "number": "1\u0007", "issuer": "Y", "valid_until": "2030-01-01"}],
            },
            "body.certifications[0].number",
        ),
        ("/api-keys", {"name": "uploader \u202egpj.exe", "role": "quality"}, "body.name"),
    ]:
        r = site.client.post(f"{P}{url}", headers=op, json=body)
        assert (r.status_code, r.json()["field"]) == (422, field), r.text
        assert (
            "expected text without control or bidirectional formatting characters" in r.json()["problems"][0]["message"]
        )


def test_text_stored_before_the_rule_is_still_shown(site: Site) -> None:
    """The rule is for what comes in: an older store's names are listed, not a 500."""
    from sqlalchemy import text

    from cradletrace.workspace import Workspace

    def rename(name: str) -> str:
        with Workspace(site.settings) as ws, ws.engine.begin() as conn:
            old = conn.execute(text("SELECT name FROM supplier WHERE id = :i"), {"i": A}).scalar_one()
            conn.execute(text("UPDATE supplier SET name = :n WHERE id = :i"), {"n": name, "i": A})
            return str(old)

    before = rename("Old\u0007Name")
    try:
        r = site.client.get(f"{P}/suppliers/{A}", headers=site.auth("operator"))
        assert r.status_code == 200 and r.json()["name"] == "Old\u0007Name"
    finally:
        rename(before)


@pytest.mark.parametrize("digits", [310, 5000])
def test_an_integer_beyond_every_double_is_422_not_a_crash(site: Site, digits: int) -> None:
    # The body parser once raised Python's own ValueError/OverflowError here, and every JSON route answered 500.
    body = b'{"name": "Fine", "role": "farm", "n": ' + b"7" * digits + b"}"
    r = site.client.post(f"{P}/suppliers", headers=site.auth("operator"), content=body)
    assert r.status_code == 422, r.text
    assert f"expected a finite number, got an integer of {digits} digits" in r.text

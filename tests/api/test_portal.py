"""The supplier portal's sessions (/supplier): sign in with a supplier API key once, then an
HttpOnly SameSite=Strict cookie holds a random id the store keeps hashed; idle timeout, sign out,
CSRF and Origin checks, the sign-in throttle, and the history page showing only one's own records."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cradletrace import apikeys
from cradletrace.api.errors import AUTH_THROTTLED, BAD_KEY
from cradletrace.api.routes.portal import COOKIE
from cradletrace.config import Settings
from cradletrace.portal import csrf_token
from cradletrace.store.models import EventRow, PortalSession
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, Site, open_site

ORIGIN = {"Origin": "http://testserver"}


def client_of(site: Site, base_url: str = "http://testserver") -> TestClient:
    """A browser of its own (its own cookie jar) on the running app."""
    return TestClient(site.client.app, base_url=base_url, raise_server_exceptions=False, follow_redirects=False)


def signed_in(site: Site, who: str) -> tuple[TestClient, str]:
    c = client_of(site)
    r = c.post("/supplier/signin", data={"key": site.secrets[who], "lang": "en"}, headers=ORIGIN)
    assert r.status_code == 303, r.text
    return c, csrf_token(c.cookies[COOKIE])


def test_sign_in_sets_a_strict_cookie_and_stores_only_its_hash(site: Site) -> None:
    c = client_of(site)
    page = c.get("/supplier?lang=en")
    assert page.status_code == 200 and 'id="signin-form"' in page.text and "set-cookie" not in page.headers
    r = c.post("/supplier/signin", data={"key": site.secrets["supplier_a"], "lang": "en"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/supplier/records?lang=en"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/supplier" in cookie and "Secure" not in cookie  # http here; https below
    sid = c.cookies[COOKIE]
    assert site.secrets["supplier_a"] not in cookie and site.secrets["supplier_a"] not in r.headers["location"]
    with Workspace(site.settings) as ws, ws.session() as s:
        rows = {row.id_hash: row for row in s.exec(select(PortalSession))}
    assert hashlib.sha256(sid.encode()).hexdigest() in rows and sid not in rows
    assert rows[hashlib.sha256(sid.encode()).hexdigest()].supplier_id == A
    assert c.get("/supplier?lang=en").headers["location"] == "/supplier/records?lang=en"  # signed in: on to records


def test_cookie_is_secure_over_https(site: Site) -> None:
    c = client_of(site, "https://testserver")
    r = c.post("/supplier/signin", data={"key": site.secrets["supplier_b"]}, headers={"Origin": "https://testserver"})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


@pytest.mark.parametrize(
    ("who", "status", "says"),
    [
        ("revoked", 401, BAD_KEY),
        ("operator", 403, "the supplier portal takes a key with role supplier; this key has role operator"),
        ("quality", 403, "this key has role quality"),
    ],
)
def test_only_live_supplier_keys_sign_in(site: Site, who: str, status: int, says: str) -> None:
    c = client_of(site)
    r = c.post("/supplier/signin", data={"key": site.secrets[who], "lang": "en"}, headers=ORIGIN)
    assert r.status_code == status and says in r.text and 'id="signin-error"' in r.text
    assert COOKIE not in c.cookies


def test_sign_in_from_another_origin_is_refused(site: Site) -> None:
    c = client_of(site)
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}):
        r = c.post("/supplier/signin", data={"key": site.secrets["supplier_a"]}, headers=headers)
        assert r.status_code == 403 and "origin: expected a request from http://testserver" in r.text
        assert COOKIE not in c.cookies


def test_history_lists_only_own_records_with_proofs(site: Site) -> None:
    for who, me, other in (("supplier_a", A, B), ("supplier_b", B, A)):
        c, _ = signed_in(site, who)
        page = c.get("/supplier/records?lang=en")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        with Workspace(site.settings) as ws, ws.session() as s:
            mine = {e.id for e in s.exec(select(EventRow).where(EventRow.supplier_id == me))}
            theirs = {e.id for e in s.exec(select(EventRow).where(EventRow.supplier_id == other))}
        shown = {int(x) for x in __import__("re").findall(r'data-event="(\d+)"', page.text)}
        assert shown and shown <= mine and not shown & theirs
        own = site.ids["a_event" if me == A else "b_event"]
        proof = c.get(f"/supplier/records/{own}/proof")
        assert proof.status_code == 200 and proof.json()["supplier"]["id"] == me
        assert "attachment" in proof.headers["content-disposition"]
        foreign = site.ids["b_event" if me == A else "a_event"]
        assert c.get(f"/supplier/records/{foreign}/proof").status_code == 403


def test_pending_record_says_pending(site: Site) -> None:
    from tests.api.conftest import raw_milk, signed

    r = site.client.post("/api/v1/events", json=signed(site.settings, raw_milk(1, B)), headers=site.auth("supplier_b"))
    assert r.status_code == 201, r.text
    new = r.json()["events"][0]["id"]
    c, _ = signed_in(site, "supplier_b")
    page = c.get("/supplier/records?lang=en").text
    row = page[page.index(f'data-event="{new}"') :].split("</tr>")[0]
    assert 'data-status="pending"' in row and "pending: no proof yet" in row and "/proof" not in row
    assert c.get(f"/supplier/records/{new}/proof").status_code == 409


def test_sign_out_needs_the_token_and_ends_the_session(site: Site) -> None:
    c, token = signed_in(site, "supplier_a")
    assert c.post("/supplier/signout", data={"csrf": "0" * 64}, headers=ORIGIN).status_code == 403
    assert (
        c.post("/supplier/signout", data={"lang": "en"}, headers=ORIGIN)
        .json()["detail"]
        .startswith("not allowed: csrf")
    )
    assert (
        c.post("/supplier/signout", data={"csrf": token}, headers={"Origin": "https://evil.example"}).status_code == 403
    )
    assert c.get("/supplier/records").status_code == 200  # all refused: still signed in
    sid = c.cookies[COOKIE]
    r = c.post("/supplier/signout", data={"csrf": token, "lang": "en"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/supplier?lang=en"
    assert f'{COOKIE}=""' in r.headers["set-cookie"] and "Path=/supplier" in r.headers["set-cookie"]
    again = client_of(site)
    again.cookies.set(COOKIE, sid, path="/supplier")
    assert again.get("/supplier/records?lang=en").headers["location"] == "/supplier?lang=en"
    assert again.get(f"/supplier/records/{site.ids['a_event']}/proof").status_code == 401


def test_revoking_the_api_key_ends_its_sessions(site: Site) -> None:
    with Workspace(site.settings) as ws, ws.session() as s:
        row, secret = apikeys.create_key(s, "short-lived", "supplier", A)
    c = client_of(site)
    assert c.post("/supplier/signin", data={"key": secret}, headers=ORIGIN).status_code == 303
    assert c.get("/supplier/records").status_code == 200
    with Workspace(site.settings) as ws, ws.session() as s:
        apikeys.revoke_key(s, row.id)
    assert c.get("/supplier/records").status_code == 303


@pytest.fixture(scope="module")
def strict_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Sessions idle out after 3 s (a request on a busy 2-core machine can take most of a second); three
    wrong keys a minute from one address."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("portal")) / "data")
    with open_site(settings, portal_idle_minutes=0.05, auth_failures_per_minute=3) as s:
        yield s


def test_idle_session_ends(strict_site: Site) -> None:
    c, _ = signed_in(strict_site, "supplier_a")
    for _ in range(4):  # each request restarts the idle clock: 4 s in all, past the 3 s idle limit
        time.sleep(1)
        assert c.get("/supplier/records").status_code == 200
    time.sleep(3.5)
    r = c.get("/supplier/records?lang=zh")
    assert r.status_code == 303 and r.headers["location"] == "/supplier?lang=zh"
    with Workspace(strict_site.settings) as ws, ws.session() as s:
        assert s.get(PortalSession, hashlib.sha256(c.cookies.get(COOKIE, "x").encode()).hexdigest()) is None


def test_wrong_keys_are_throttled_like_the_api(strict_site: Site) -> None:
    c = client_of(strict_site)
    wrong = "ct_000000000000_" + "A" * 43
    statuses = [c.post("/supplier/signin", data={"key": wrong}, headers=ORIGIN).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    r = c.post("/supplier/signin", data={"key": strict_site.secrets["supplier_a"]}, headers=ORIGIN)
    assert r.status_code == 429 and AUTH_THROTTLED in r.text and int(r.headers["retry-after"]) >= 1
    assert COOKIE not in c.cookies


def test_a_session_ends_at_its_lifetime_however_busy(site: Site) -> None:
    """Requests every few minutes keep the idle clock running, but not past the absolute lifetime."""
    from datetime import UTC, datetime, timedelta

    from cradletrace import portal
    from cradletrace.errors import SessionEndedError

    idle, lifetime = timedelta(minutes=30), timedelta(hours=12)
    start = datetime.now(UTC)
    with Workspace(site.settings) as ws, ws.session() as s:
        caller = apikeys.authenticate(s, site.secrets["supplier_a"])
        assert caller is not None
        sid = portal.sign_in(s, caller, start, idle, lifetime)
        at = start
        while at + timedelta(minutes=20) - start <= lifetime:
            at += timedelta(minutes=20)
            assert portal.current(s, sid, at, idle, lifetime).supplier_id == A
        with pytest.raises(SessionEndedError):
            portal.current(s, sid, at + timedelta(minutes=20), idle, lifetime)
        with pytest.raises(SessionEndedError):  # and it is gone
            portal.current(s, sid, start, idle, lifetime)


def test_the_batch_form_is_for_farms_and_plants_only(site: Site) -> None:
    """ROLES_FOR_KIND["batch"] is farm and plant: a lab gets no batch link, and the page is a 403
    saying so without the form or its script; the plant (and the farm) get both."""
    with Workspace(site.settings) as ws, ws.session() as s:
        _, secret = apikeys.create_key(s, "lab", "supplier", "canterbury-lab")
        s.commit()
    lab = client_of(site)
    assert lab.post("/supplier/signin", data={"key": secret}, headers=ORIGIN).status_code == 303
    assert 'id="nav-batch"' not in lab.get("/supplier/records?lang=en").text
    for lang, says in (("en", "Suppliers with the role lab do not record production lots"), ("zh", "角色为 lab")):
        page = lab.get(f"/supplier/batch?lang={lang}")
        assert page.status_code == 403 and 'id="batch-not-allowed"' in page.text and says in page.text
        assert 'id="batch-form"' not in page.text and "portal-batch.js" not in page.text
    for who in ("supplier_a", "supplier_b"):  # the plant and the farm
        c, _ = signed_in(site, who)
        page = c.get("/supplier/batch?lang=en")
        assert page.status_code == 200 and 'id="batch-form"' in page.text and 'id="nav-batch"' in page.text

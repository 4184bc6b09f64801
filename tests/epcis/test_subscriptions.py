"""EPCIS named queries and webhook subscriptions (GS1's /queries binding), on SQLite and PostgreSQL.

A real HTTP receiver on 127.0.0.1 takes the webhooks and checks their signatures as a partner
would; events are recorded through the API, and the API process's own delivery thread sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cradletrace import apikeys
from cradletrace.config import Settings
from cradletrace.epcis import query
from cradletrace.epcis import subscriptions as subs
from cradletrace.epcis.validation import validate
from cradletrace.errors import EpcisSubscriptionError
from cradletrace.recall.delivery import Tried
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.store.models import EpcisDelivery, EpcisDeliveryAttempt
from cradletrace.store.states import DeliveryStatus
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, Site, open_site, raw_milk, signed

TOKEN = "partner-secret-0123456789"


@dataclass
class Receiver:
    """A partner's webhook: keeps what it accepted, refuses with 500 while ``down`` > 0."""

    port: int = 0
    down: int = 0
    got: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0
    refusal: int = 503  # the status ``down`` answers
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: threading.Event | None = None  # set: the first request waits for it, its headers in ``holding``
    holding: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def documents(self, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self.lock:
            return [(h, json.loads(b)) for _, h, b in self.got if h["path"] == path]

    def events(self, path: str) -> list[dict[str, Any]]:
        return [e for _, d in self.documents(path) for e in d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if rec.hold is not None and not rec.holding:
                rec.holding.append({k.lower(): v for k, v in self.headers.items()})
                rec.hold.wait(30)
                return  # no answer: the connection just closes
            with rec.lock:
                if rec.down > 0:
                    rec.down -= 1
                    rec.refused += 1
                    self.send_response(rec.refusal)
                else:
                    headers = {k.lower(): v for k, v in self.headers.items()} | {"path": self.path}
                    rec.got.append((time.monotonic(), headers, body))
                    self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server").create_database()
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("epcissubs")) / "data", database_url=url)
    with open_site(settings, epcis_backoff=0.2, epcis_deliver_interval=1.0, notify_interval=0) as s:
        yield s


@pytest.fixture(scope="module")
def hook(site: Site) -> Iterator[Receiver]:
    """One receiver per store (the paths are the subscriptions')."""
    with receiver() as rec:
        yield rec


def make_query(site: Site, name: str, q: dict[str, Any], who: str = "quality") -> Any:
    return site.client.post("/epcis/queries", headers=site.auth(who), json={"name": name, "query": q})


def subscribe(site: Site, name: str, body: dict[str, Any], who: str = "quality") -> dict[str, Any]:
    r = site.client.post(f"/epcis/queries/{name}/subscriptions", headers=site.auth(who), json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/epcis/queries/{name}/subscriptions/{r.json()['subscriptionID']}")
    assert TOKEN not in r.text  # never the secret
    out: dict[str, Any] = r.json()
    return out


def record(site: Site, who: str, events: list[dict[str, object]]) -> list[int]:
    r = site.client.post("/api/v1/events", headers=site.auth(who), json=signed(site.settings, events))
    assert r.status_code == 201, r.text
    return [e["id"] for e in r.json()["events"]]


def lot_of(e: dict[str, Any]) -> str:
    return str(e["ilmd"]["cbvmda:lotNumber"]) if "ilmd" in e else json.dumps(e)


def wait_for(check: Any, seconds: float = 5.0) -> Any:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    return check()


def verified(headers: dict[str, str], body: bytes, token: str = TOKEN) -> bool:
    """The partner's check: HMAC-SHA-256 of "<timestamp>." + body under its signatureToken."""
    mac = hmac.new(token.encode(), headers["x-cradletrace-timestamp"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["gs1-signature"], "v1=" + mac.hexdigest())


def sealer_of(settings: Settings) -> Sealer:
    """The store's sealer, as the API and the CLI open it (the subscriptions' secrets are sealed)."""
    key = load_or_create_key(settings.keys_dir / "location.key", settings.location_key)
    return Sealer(key, settings.sealing_algorithm)


def session_factory(site: Site) -> tuple[Workspace, Any]:
    ws = Workspace(site.settings)
    return ws, lambda: Session(ws.engine, expire_on_commit=False)


# ---------------------------------------------------------------- named queries


def test_named_query_crud_and_its_events(site: Site) -> None:
    q = {"eventType": ["ObjectEvent"], "EQ_bizStep": "commissioning|shipping"}
    r = make_query(site, "objects", q)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/epcis/queries/objects"
    assert r.json()["query"] == {"eventType": ["ObjectEvent"], "EQ_bizStep": ["commissioning|shipping"]}
    again = make_query(site, "objects", {})
    assert again.status_code == 409 and again.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    assert again.json()["field"] == "name"
    listed = site.client.get("/epcis/queries", headers=site.auth("operator")).json()
    assert [x["name"] for x in listed] == ["objects"]
    assert site.client.get("/epcis/queries/objects", headers=site.auth("quality")).json()["query"] == r.json()["query"]

    # Its events are what GET /events gives for the same parameters, page by page.
    with Workspace(site.settings) as ws, ws.session() as s:
        expected = query.run(s, {**r.json()["query"], "perPage": ["1000"]}, query.Viewer(None)).events
    assert expected
    got: list[dict[str, Any]] = []
    page = site.client.get("/epcis/queries/objects/events", headers=site.auth("quality"), params={"perPage": 2})
    while True:
        assert page.status_code == 200, page.text
        doc = page.json()
        assert doc["epcisBody"]["queryResults"]["queryName"] == "objects"
        got.extend(doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
        if "Link" not in page.headers:
            break
        link = page.headers["Link"]
        page = site.client.get(link[1 : link.index(">")], headers=site.auth("quality"))
    assert [e["eventID"] for e in got] == [e["eventID"] for e in expected]
    bad = site.client.get("/epcis/queries/objects/events", headers=site.auth("quality"), params={"EQ_bizStep": "x"})
    assert bad.status_code == 400 and bad.json()["field"] == "EQ_bizStep"

    # A supplier neither sees nor deletes staff's named query; its own it does, and runs with its view.
    assert site.client.get("/epcis/queries/objects", headers=site.auth("supplier_b")).status_code == 404
    assert site.client.delete("/epcis/queries/objects", headers=site.auth("supplier_b")).status_code == 404
    assert make_query(site, "farm-all", {}, "supplier_b").status_code == 201
    assert [x["name"] for x in site.client.get("/epcis/queries", headers=site.auth("supplier_b")).json()] == [
        "farm-all"
    ]
    farm = site.client.get("/epcis/queries/farm-all/events", headers=site.auth("supplier_b"), params={"perPage": 1000})
    everything = site.client.get(
        "/epcis/queries/farm-all/events", headers=site.auth("quality"), params={"perPage": 1000}
    )
    n_farm = len(farm.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
    n_all = len(everything.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
    assert 0 < n_farm < n_all

    for name in ("objects", "farm-all"):
        assert site.client.delete(f"/epcis/queries/{name}", headers=site.auth("quality")).status_code == 204
    assert site.client.get("/epcis/queries/objects", headers=site.auth("quality")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": {}}, "name"),
        ({"name": "has space", "query": {}}, "name"),
        ({"name": "n"}, "query"),
        ({"name": "n", "query": ["EQ_bizStep"]}, "query"),
        ({"name": "n", "query": {"EQ_bizStep": []}}, "query.EQ_bizStep"),
        ({"name": "n", "query": {"GE_recordTime": "yesterday"}}, "query.GE_recordTime"),
        ({"name": "n", "query": {"EQ_nonsense": ["x"]}}, "query.EQ_nonsense"),
        ({"name": "n", "query": {"perPage": "5"}}, "query.perPage"),
        ({"name": "n", "query": {}, "owner": "me"}, "owner"),
    ],
)
def test_bad_query_definitions_are_400_naming_the_field(site: Site, body: dict[str, Any], field: str) -> None:
    r = site.client.post("/epcis/queries", headers=site.auth("quality"), json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == field and r.json()["type"].startswith("epcisException:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signatureToken": TOKEN, "stream": True}, "dest"),
        ({"dest": "ftp://x.example/", "signatureToken": TOKEN, "stream": True}, "dest"),
        ({"dest": "http://partner.example/hook", "signatureToken": TOKEN, "stream": True}, "dest"),
        ({"dest": "https://p.example/h", "stream": True}, "signatureToken"),
        ({"dest": "https://p.example/h", "signatureToken": "short", "stream": True}, "signatureToken"),
        ({"dest": "https://p.example/h", "signatureToken": TOKEN}, "stream"),
        ({"dest": "https://p.example/h", "signatureToken": TOKEN, "stream": False}, "stream"),
        (
            {"dest": "https://p.example/h", "signatureToken": TOKEN, "stream": True, "schedule": {"minute": "1"}},
            "stream",
        ),
        ({"dest": "https://p.example/h", "signatureToken": TOKEN, "schedule": {"minute": "61"}}, "schedule.minute"),
        ({"dest": "https://p.example/h", "signatureToken": TOKEN, "schedule": {"week": "1"}}, "schedule.week"),
        ({"dest": "https://p.example/h", "signatureToken": TOKEN, "schedule": {}}, "schedule"),
        (
            {"dest": "https://p.example/h", "signatureToken": TOKEN, "schedule": {"month": "2", "dayOfMonth": "31"}},
            "schedule",
        ),
        (
            {"dest": "https://p.example/h", "signatureToken": TOKEN, "stream": True, "reportIfEmpty": "yes"},
            "reportIfEmpty",
        ),
        (
            {"dest": "https://p.example/h", "signatureToken": TOKEN, "stream": True, "initialRecordTime": "today"},
            "initialRecordTime",
        ),
    ],
)
def test_bad_subscriptions_are_400_naming_the_field(site: Site, body: dict[str, Any], field: str) -> None:
    if site.client.get("/epcis/queries/checked", headers=site.auth("quality")).status_code == 404:
        assert make_query(site, "checked", {}).status_code == 201
    r = site.client.post("/epcis/queries/checked/subscriptions", headers=site.auth("quality"), json=body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "epcisException:SubscriptionControlsException"
    assert r.json()["field"] == field
    assert site.client.get("/epcis/queries/checked/subscriptions", headers=site.auth("quality")).json() == []


def test_subscribing_to_an_unknown_query_is_404(site: Site) -> None:
    body = {"dest": "https://p.example/h", "signatureToken": TOKEN, "stream": True}
    r = site.client.post("/epcis/queries/none-such/subscriptions", headers=site.auth("quality"), json=body)
    assert r.status_code == 404


# ---------------------------------------------------------------- streaming


def test_a_new_event_reaches_the_webhook_within_two_seconds_signed(site: Site, hook: Receiver) -> None:
    assert make_query(site, "farm-milk", {"eventType": ["ObjectEvent"]}).status_code == 201
    sub = subscribe(site, "farm-milk", {"dest": hook.url("/stream"), "signatureToken": TOKEN, "stream": True})
    assert sub["stream"] is True and "initialRecordTime" in sub
    time.sleep(0.3)
    assert hook.documents("/stream") == []  # events from before the subscription are not sent (initialRecordTime)
    event = raw_milk(1, B)
    lot = str(event[0]["data"]["lot"])  # type: ignore[index]
    started = time.monotonic()
    record(site, "supplier_b", event)
    got = wait_for(lambda: [e for e in hook.events("/stream") if lot_of(e) == lot], 2.0)
    assert got, "not delivered within 2 s"
    with hook.lock:
        at, headers, body = next((a, h, b) for a, h, b in hook.got if h["path"] == "/stream" and lot.encode() in b)
    assert at - started <= 2.0
    assert verified(headers, body)
    assert not verified(headers, body, "another-partner-secret")
    assert headers["content-type"] == "application/ld+json"
    doc = json.loads(body)
    assert doc["type"] == "EPCISQueryDocument" and validate(doc) == []  # GS1's EPCIS 2.0 JSON schema
    assert doc["epcisBody"]["queryResults"]["subscriptionID"] == sub["subscriptionID"]
    assert doc["epcisBody"]["queryResults"]["queryName"] == "farm-milk"
    assert headers["x-cradletrace-delivery"] == headers["idempotency-key"]
    link = f"/epcis/queries/farm-milk/subscriptions/{sub['subscriptionID']}"
    shown = wait_for(
        lambda: (x := site.client.get(link, headers=site.auth("quality")).json()).get("lastNotifiedAt") and x
    )
    assert shown and "signatureToken" not in shown
    assert shown["dest"] == hook.url("/stream")

    # Unsubscribed: nothing more comes.
    r = site.client.delete(
        f"/epcis/queries/farm-milk/subscriptions/{sub['subscriptionID']}", headers=site.auth("quality")
    )
    assert r.status_code == 204
    before = len(hook.documents("/stream"))
    record(site, "supplier_b", raw_milk(1, B))
    time.sleep(1.5)
    assert len(hook.documents("/stream")) == before
    assert site.client.delete("/epcis/queries/farm-milk", headers=site.auth("quality")).status_code == 204


def test_a_receiver_down_then_up_gets_each_delivery_once(site: Site, hook: Receiver) -> None:
    assert make_query(site, "retried", {"eventType": ["ObjectEvent"]}).status_code == 201
    subscribe(site, "retried", {"dest": hook.url("/flaky"), "signatureToken": TOKEN, "stream": True})
    with hook.lock:  # a receiver being set up: 401 (a token not configured yet), then 503, then up
        hook.down, hook.refused, hook.refusal = 3, 0, 401
    lots = []
    for _ in range(3):
        event = raw_milk(1, B)
        lots.append(str(event[0]["data"]["lot"]))  # type: ignore[index]
        record(site, "supplier_b", event)
    assert wait_for(lambda: hook.refused >= 1, 5.0)
    with hook.lock:
        hook.refusal = 503
    got = wait_for(lambda: {lot_of(e) for e in hook.events("/flaky")} >= set(lots) or None, 10.0)
    assert got, f"not all delivered: {hook.events('/flaky')}"
    time.sleep(0.5)  # nothing else is on its way
    assert hook.refused == 3
    docs = hook.documents("/flaky")
    uids = [h["x-cradletrace-delivery"] for h, _ in docs]
    assert len(uids) == len(set(uids))  # each accepted once
    events = [lot_of(e) for e in hook.events("/flaky")]
    assert sorted(events) == sorted(lots)  # each event in one delivery only
    with Workspace(site.settings) as ws, ws.session() as s:
        tries = s.exec(
            select(EpcisDeliveryAttempt.status)
            .join(EpcisDelivery, col(EpcisDelivery.id) == col(EpcisDeliveryAttempt.delivery_id))
            .where(col(EpcisDelivery.uid).in_(uids))
        ).all()
    assert sorted(tries).count("retrying") == 3 and tries.count("sent") == len(uids)
    assert site.client.delete("/epcis/queries/retried", headers=site.auth("quality")).status_code == 204


def test_workers_racing_deliver_each_event_once(site: Site, hook: Receiver) -> None:
    """The API's thread and two more workers at once: every event in exactly one accepted document."""
    assert make_query(site, "raced", {"eventType": ["ObjectEvent"]}).status_code == 201
    subscribe(site, "raced", {"dest": hook.url("/raced"), "signatureToken": TOKEN, "stream": True})
    events = raw_milk(6, B)
    ws, factory = session_factory(site)
    with ws:
        sealer = sealer_of(site.settings)
        start = threading.Barrier(3)

        def work() -> None:
            start.wait()
            for _ in range(5):
                subs.deliver_due(factory, sealer, site.settings)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        start.wait()
        record(site, "supplier_b", events[:3])
        record(site, "supplier_b", events[3:])
        for t in threads:
            t.join()
    lots = sorted(str(e["data"]["lot"]) for e in events)  # type: ignore[index]
    assert wait_for(lambda: sorted(lot_of(e) for e in hook.events("/raced")) == lots, 3.0), hook.events("/raced")
    time.sleep(0.3)
    assert sorted(lot_of(e) for e in hook.events("/raced")) == lots
    uids = [h["x-cradletrace-delivery"] for h, _ in hook.documents("/raced")]
    assert len(uids) == len(set(uids))
    assert site.client.delete("/epcis/queries/raced", headers=site.auth("quality")).status_code == 204


def test_a_suppliers_subscription_never_carries_another_suppliers_unshared_events(site: Site, hook: Receiver) -> None:
    # The farm subscribes to everything; the plant then records raw milk of its own (shared with nobody).
    assert make_query(site, "farm-view", {}, "supplier_b").status_code == 201
    subscribe(site, "farm-view", {"dest": hook.url("/farm"), "signatureToken": TOKEN, "stream": True}, "supplier_b")
    assert make_query(site, "staff-view", {}).status_code == 201
    subscribe(site, "staff-view", {"dest": hook.url("/staff"), "signatureToken": TOKEN, "stream": True})
    plant, farm = raw_milk(1, A), raw_milk(1, B)
    plant_lot, farm_lot = str(plant[0]["data"]["lot"]), str(farm[0]["data"]["lot"])  # type: ignore[index]
    record(site, "supplier_a", plant)
    record(site, "supplier_b", farm)
    assert wait_for(lambda: farm_lot in {lot_of(e) for e in hook.events("/farm")}, 3.0)
    assert wait_for(lambda: {plant_lot, farm_lot} <= {lot_of(e) for e in hook.events("/staff")}, 3.0)
    time.sleep(0.3)
    assert plant_lot not in {lot_of(e) for e in hook.events("/farm")}
    assert all(plant_lot.encode() not in b for _, h, b in hook.got if h["path"] == "/farm")
    for name, who in (("farm-view", "supplier_b"), ("staff-view", "quality")):
        assert site.client.delete(f"/epcis/queries/{name}", headers=site.auth(who)).status_code == 204


def test_revoking_the_key_that_subscribed_stops_its_deliveries(site: Site, hook: Receiver) -> None:
    with Workspace(site.settings) as ws, ws.session() as s:
        row, secret = apikeys.create_key(s, "farm-erp", "supplier", B)
    erp = {"Authorization": f"Bearer {secret}"}
    r = site.client.post("/epcis/queries", headers=erp, json={"name": "erp", "query": {}})
    assert r.status_code == 201, r.text
    body = {"dest": hook.url("/erp"), "signatureToken": TOKEN, "stream": True}
    assert site.client.post("/epcis/queries/erp/subscriptions", headers=erp, json=body).status_code == 201
    assert make_query(site, "witness", {}).status_code == 201
    subscribe(site, "witness", {"dest": hook.url("/witness"), "signatureToken": TOKEN, "stream": True})
    first, second = raw_milk(1, B), raw_milk(1, B)
    record(site, "supplier_b", first)
    lot = str(first[0]["data"]["lot"])  # type: ignore[index]
    assert wait_for(lambda: lot in {lot_of(e) for e in hook.events("/erp")}, 3.0)
    with Workspace(site.settings) as ws, ws.session() as s:
        apikeys.revoke_key(s, row.id)
    record(site, "supplier_b", second)
    lot = str(second[0]["data"]["lot"])  # type: ignore[index]
    assert wait_for(lambda: lot in {lot_of(e) for e in hook.events("/witness")}, 3.0)  # the worker ran
    time.sleep(0.3)
    assert lot not in {lot_of(e) for e in hook.events("/erp")}
    for name in ("erp", "witness"):
        assert site.client.delete(f"/epcis/queries/{name}", headers=site.auth("quality")).status_code == 204


def test_only_410_gone_ends_a_delivery_at_once() -> None:
    settings = Settings(epcis_backoff=1.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    d = subs.Outgoing(1, "u", 1, "https://p.example/h", TOKEN, b"{}", 1, now)
    for code in (400, 401, 404, 429, 500, None):
        status, at, _ = subs.next_try(
            settings, d, Tried(DeliveryStatus.FAILED if code and code < 500 else DeliveryStatus.RETRYING, code), now
        )
        assert (status, at) == (DeliveryStatus.RETRYING, now + timedelta(seconds=1)), code
    assert subs.next_try(settings, d, Tried(DeliveryStatus.FAILED, 410), now)[0] == DeliveryStatus.FAILED
    late = now + timedelta(hours=settings.notify_give_up_hours)
    assert subs.next_try(settings, d, Tried(DeliveryStatus.RETRYING, 503), late)[0] == DeliveryStatus.FAILED


# ---------------------------------------------------------------- schedules


def test_schedules() -> None:
    daily = subs.parse_schedule({"hour": "1", "minute": "5"})
    at = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
    assert subs.next_tick(daily, at) == datetime(2026, 3, 5, 1, 5, 0, tzinfo=UTC)
    half = subs.parse_schedule({"second": "0/30"})
    assert subs.next_tick(half, at) == at + timedelta(seconds=30)
    mondays = subs.parse_schedule({"dayOfWeek": "1"})
    assert subs.next_tick(mondays, at) == datetime(2026, 3, 9, tzinfo=UTC)
    ranges = subs.parse_schedule({"minute": "[10-12],40", "hour": "*/6"})
    assert subs.next_tick(ranges, at) == datetime(2026, 3, 4, 12, 10, tzinfo=UTC)
    assert subs.next_tick(ranges, datetime(2026, 3, 4, 12, 12, tzinfo=UTC)) == datetime(2026, 3, 4, 12, 40, tzinfo=UTC)
    with pytest.raises(EpcisSubscriptionError):
        subs.parse_schedule({"month": "2", "dayOfMonth": "30"})


def test_a_scheduled_subscription_delivers_on_its_tick(site: Site, hook: Receiver) -> None:
    """The schedule's clock is injected: the tick is half a day away in real time."""
    hour = (datetime.now(UTC).hour + 12) % 24
    assert make_query(site, "nightly", {"eventType": ["ObjectEvent"]}).status_code == 201
    sub = subscribe(
        site,
        "nightly",
        {"dest": hook.url("/nightly"), "signatureToken": TOKEN, "schedule": {"hour": str(hour)}, "reportIfEmpty": True},
    )
    tick = datetime.fromisoformat(sub["nextRunAt"])
    assert (tick.hour, tick.minute, tick.second) == (hour, 0, 0)
    events = raw_milk(2, B)
    record(site, "supplier_b", events)
    time.sleep(1.2)  # the API's worker ran meanwhile: not the tick yet
    assert hook.documents("/nightly") == []
    ws, factory = session_factory(site)
    with ws:
        sealer = Sealer(
            load_or_create_key(site.settings.keys_dir / "location.key", None), site.settings.sealing_algorithm
        )
        run = subs.deliver_due(factory, sealer, site.settings, now=lambda: tick + timedelta(seconds=1))
        assert run.sent >= 1
        docs = hook.documents("/nightly")
        assert len(docs) == 1
        lots = {lot_of(e) for e in hook.events("/nightly")}
        assert {str(e["data"]["lot"]) for e in events} <= lots  # type: ignore[index]
        # The next tick a day later: nothing new matched, and reportIfEmpty sends an empty document.
        again = subs.deliver_due(factory, sealer, site.settings, now=lambda: tick + timedelta(minutes=5))
        assert again.sent == 0 or all(
            u not in {h["x-cradletrace-delivery"] for h, _ in docs} for u, _ in again.deliveries
        )
        assert len(hook.documents("/nightly")) == 1
        subs.deliver_due(factory, sealer, site.settings, now=lambda: tick + timedelta(days=1, seconds=1))
        docs = hook.documents("/nightly")
        assert len(docs) == 2 and docs[1][1]["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    assert site.client.delete("/epcis/queries/nightly", headers=site.auth("quality")).status_code == 204


# ---------------------------------------------------------------- a worker killed mid-send

CLI = Path(sys.executable).with_name("cradletrace")


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An API that delivers nothing itself: a separate worker process does ('cradletrace epcis deliver')."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("epcisworker")) / "data", webhook_timeout=1.0)
    with open_site(settings, epcis_deliver_interval=0, notify_interval=0) as s:
        yield s


def test_a_worker_killed_mid_send_loses_nothing_and_the_resend_keeps_its_id(quiet_site: Site) -> None:
    site = quiet_site
    release = threading.Event()
    with receiver() as hook:
        hook.hold = release  # the first request hangs until released: the worker is killed meanwhile
        assert make_query(site, "killed", {"eventType": ["ObjectEvent"]}).status_code == 201
        subscribe(site, "killed", {"dest": hook.url("/k"), "signatureToken": TOKEN, "stream": True})
        events = raw_milk(2, B)
        record(site, "supplier_b", events)
        env = {**os.environ, "CRADLETRACE_WEBHOOK_TIMEOUT": "30"}
        worker = subprocess.Popen(
            [str(CLI), "epcis", "deliver", "--watch", "--interval", "0.2", "--data-dir", str(site.settings.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        try:
            assert wait_for(lambda: hook.holding, 20.0), "the worker never called"
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            release.set()
        first_uid = hook.holding[0]["x-cradletrace-delivery"]
        assert hook.documents("/k") == []  # the killed worker's try was never answered
        with Workspace(site.settings) as ws:
            with ws.session() as s:
                row = s.exec(select(EpcisDelivery).where(EpcisDelivery.uid == first_uid)).one()
            assert row.status == "sending" and row.lease_until is not None
            # Once the dead worker's claim lapses, another worker sends the same document again.
            sealer = sealer_of(site.settings)
            factory = lambda: Session(ws.engine, expire_on_commit=False)  # noqa: E731
            early = subs.deliver_due(factory, sealer, site.settings, now=lambda: row.created_at)
            assert early.sent == 0  # still leased
            later = row.lease_until + timedelta(seconds=1)
            run = subs.deliver_due(factory, sealer, site.settings, now=lambda: later)
        assert run.sent == 1
        docs = hook.documents("/k")
        assert [h["x-cradletrace-delivery"] for h, _ in docs] == [first_uid]
        assert verified(docs[0][0], json.dumps(docs[0][1], ensure_ascii=False, separators=(",", ":")).encode())
        assert sorted(lot_of(e) for e in hook.events("/k")) == sorted(str(e["data"]["lot"]) for e in events)  # type: ignore[index]

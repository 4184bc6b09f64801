"""Who may call what: every endpoint, as every kind of caller.

Callers: no key, supplier A's key, supplier B's key, quality staff, operator, a revoked key.
A refused caller changes nothing; an admitted one gets the endpoint's own answer.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute

from cradletrace import bulk
from cradletrace.api.errors import BAD_KEY, MISSING_KEY
from cradletrace.api.main import API_PREFIX, EPCIS_ROUTERS, ROUTERS
from cradletrace.api.routes import epcissubs
from cradletrace.core import signing
from cradletrace.core.codes import gtin_check_digit
from cradletrace.demo import story
from tests.api.conftest import MILK, WHO, A, B, Site, key_file, raw_milk, sign_with, signed

P = API_PREFIX


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the path template as the app declares it
    expected: dict[str, int]
    body: Callable[[Site, dict[str, Any]], dict[str, Any]] | None = None
    prefix: str = P  # "" for the routes at the app's root (GS1's EPCIS REST binding: /epcis)

    def url(self, params: dict[str, Any]) -> str:
        return self.prefix + self.route.format(**params)


def only(**allowed: int) -> dict[str, int]:
    """Statuses when just these callers are admitted: no key or a revoked one is 401, others 403."""
    out = {"anonymous": 401, "revoked": 401}
    out.update({who: allowed.get(who, 403) for who in ("supplier_a", "supplier_b", "quality", "operator")})
    return out


def public(status: int) -> dict[str, int]:
    return dict.fromkeys(WHO, status)


READERS = dict(operator=200, quality=200, supplier_a=200)
FORMULA = "9421902960101" + str(gtin_check_digit("9421902960101"))  # owned by A (the demo's plant)


def new_gtin() -> str:
    body = f"0{uuid.uuid4().int % 10**12:012d}"
    return body + str(gtin_check_digit(body))


def fresh_party(s: Site, p: dict[str, Any]) -> dict[str, Any]:
    """Name a party (for a lot of its own) as the operator, for the case to withdraw."""
    r = s.client.post(
        f"{P}/products/{FORMULA}/parties",
        headers=s.auth("operator"),
        json={"supplier_id": "pacific-cold", "role": "carrier", "lot": f"L{uuid.uuid4().hex[:12]}"},
    )
    assert r.status_code == 201, r.text
    p["party_id"] = r.json()["id"]
    return {}


def b_makes_formula(s: Site, p: dict[str, Any]) -> dict[str, Any]:
    """B (the farm) signs a batch under A's GTIN: well signed, but not B's goods."""
    event = raw_milk(1, B)[0]
    event["data"]["product"] = {"gtin": FORMULA, "name": "Stage 1 infant formula 800 g"}  # type: ignore[index]
    return {"content": json.dumps(signed(s.settings, [event])).encode()}


def a_ships_bs_milk(s: Site, p: dict[str, Any]) -> dict[str, Any]:
    """A (the plant) signs a shipment of B's raw-milk lot, which it never received."""
    shipment = copy.deepcopy(story(datetime.now(UTC))[5])
    shipment["supplier"] = A
    shipment["data"].update(id=f"X-{uuid.uuid4().hex[:12]}", lot={"gtin": MILK, "lot": "RM-A1"})  # type: ignore[union-attr]
    # A's key file from 'supplier add' (other cases register newer keys whose private half is not here).
    [pem_file] = s.settings.keys_dir.glob(f"{A}.*.pem")
    return {
        "content": json.dumps(
            [sign_with(pem_file.read_bytes(), {**shipment, "key": pem_file.name.split(".")[1]})]
        ).encode()
    }


CASES = [
    Case("GET", "/health", public(200)),
    Case("GET", "/test-standards", public(200)),
    Case(
        "POST",
        "/suppliers",
        only(operator=201),
        lambda s, p: {"json": {"name": "Matrix Farm", "role": "farm", "id": f"m-{uuid.uuid4().hex[:12]}"}},
    ),
    Case("GET", "/suppliers", only(operator=200, quality=200)),
    Case("GET", "/suppliers/{supplier_id}", only(**READERS)),
    Case("POST", "/suppliers/{spare}/keys", only(operator=201)),
    Case("POST", "/suppliers/{spare}/keys/{spare_key}/revoke", only(operator=200)),
    Case(
        "POST",
        "/suppliers/{supplier_id}/public-keys",
        only(operator=201, supplier_a=201),
        lambda s, p: {"json": {"public_key": base64.b64encode(signing.generate_key_pair().public_key).decode()}},
    ),
    Case(
        "POST",
        "/products",
        only(operator=201),
        lambda s, p: {"json": {"gtin": new_gtin(), "owner_id": A, "name": "Matrix formula"}},
    ),
    Case("GET", "/products", only(supplier_b=200, **READERS)),
    # A owns the formula: its key (or the operator) names the parties; B's key may not.
    Case(
        "POST",
        "/products/{formula}/parties",
        only(operator=201, supplier_a=201),
        lambda s, p: {"json": {"supplier_id": "canterbury-lab", "role": "lab", "lot": "IF-0002"}},
    ),
    Case("DELETE", "/products/{formula}/parties/{party_id}", only(operator=200, supplier_a=200), fresh_party),
    Case("POST", "/api-keys", only(operator=201), lambda s, p: {"json": {"name": "matrix", "role": "quality"}}),
    Case("GET", "/api-keys", only(operator=200)),
    Case("POST", "/api-keys/{spare_api_key}/revoke", only(operator=200)),
    # Both supplier keys are admitted to record; an empty list is then their own mistake.
    Case("POST", "/events", only(supplier_a=422, supplier_b=422), lambda s, p: {"content": b"[]"}),
    # B's own signed event: B records it, A may not even with B's valid signature.
    Case(
        "POST",
        "/events",
        only(supplier_b=201, supplier_a=403),
        lambda s, p: {"content": json.dumps(signed(s.settings, raw_milk(1, B))).encode()},
    ),
    # Signed is not authorized: an event about another's goods is refused, even from its own signer.
    Case("POST", "/events", only(supplier_a=403, supplier_b=403), b_makes_formula),
    Case("POST", "/events", only(supplier_a=403, supplier_b=403), a_ships_bs_milk),
    Case("GET", "/events", only(supplier_b=200, **READERS)),
    Case("GET", "/events/{a_event}", only(**READERS)),
    Case("GET", "/events/{a_event}/proof", only(**READERS)),
    Case("GET", "/events/{a_event}/verify", only(**READERS)),
    Case("POST", "/verify-bundle", public(200), lambda s, p: {"content": p["bundle"]}),
    Case("POST", "/audit", only(quality=200)),
    Case("POST", "/anchor", only(operator=200)),
    Case("GET", "/trace/forward", only(quality=200, operator=200), lambda s, p: {"params": {"lot": f"{MILK}/RM-A1"}}),
    Case("GET", "/trace/backward", only(quality=200, operator=200), lambda s, p: {"params": {"lot": f"{MILK}/RM-A1"}}),
    Case("GET", "/holds", only(quality=200)),
    Case("POST", "/holds/{hold_id}/release", only(quality=200), lambda s, p: {"json": {"reason": "re-test passed"}}),
    Case(
        "POST",
        "/recalls",
        only(quality=201),
        lambda s, p: {"json": {"reason": "matrix", "severity": "II", "lots": [f"{MILK}/RM-B2"]}},
    ),
    Case("GET", "/recalls", only(quality=200)),
    Case("GET", "/recalls/{recall_id}", only(quality=200)),
    Case("POST", "/recalls/{recall_id}/close", only(quality=200), lambda s, p: {"json": {"reason": "all retrieved"}}),
    Case("GET", "/recalls/{recall_id}/report", only(quality=200)),
    Case("GET", "/recalls/{recall_id}/ledger", only(quality=200)),
    Case("GET", "/recalls/{recall_id}/notices", only(quality=200)),
    # A report file is not JSON: the admitted caller is shown by a refusal of the API's own (422, 404).
    Case("GET", "/recalls/{recall_id}/reports/{report}.{fmt}", only(quality=422)),
    Case("GET", "/recalls/{recall_id}/reports", only(quality=200)),
    Case("GET", "/recall-reports/{sha256}", only(quality=404)),
    Case("GET", "/recall-reports/{sha256}/proof", only(quality=200)),
    Case("POST", "/recall-reports/verify", only(quality=200), lambda s, p: {"json": "any bytes: not a filed report"}),
    # A lot that does not exist: an input problem, found before the recall's state (closed or not).
    Case("POST", "/recalls/{recall_id}/widen", only(quality=422), lambda s, p: {"json": {"lots": [f"{MILK}/NO-SUCH"]}}),
    # Drills, effectiveness checks and deadlines: a body that says nothing is an input problem for
    # quality staff, refused before it is read for anyone else.
    Case("POST", "/recalls/{recall_id}/checks", only(quality=422), lambda s, p: {"json": {}}),
    Case("PUT", "/recalls/{recall_id}/checks/{site}", only(quality=422), lambda s, p: {"json": {}}),
    Case("POST", "/recalls/{recall_id}/milestones", only(quality=422), lambda s, p: {"json": {}}),
    Case("GET", "/recalls/{recall_id}/drill-report", only(quality=200)),
    Case(
        "PUT",
        "/suppliers/{supplier_id}/contact",
        only(operator=200),
        lambda s, p: {"json": {"emails": ["qa@a.example"]}},
    ),
    Case("GET", "/suppliers/{supplier_id}/contact", only(operator=200)),
    Case("DELETE", "/suppliers/{spare}/contact", only(operator=200)),
    # The link's token is the right: no key is asked for; an unknown token is 404 for everyone.
    Case("GET", "/ack/{token}", public(404)),
    Case(
        "POST",
        "/ack/{token}",
        public(404),
        lambda s, p: {"json": {"received": True, "answered_by": "x", "lines": []}},
    ),
    # Both supplier keys may capture EPCIS; an empty object is then their own mistake.
    Case("POST", "/epcis", only(supplier_a=422, supplier_b=422), lambda s, p: {"content": b"{}"}),
    Case("GET", "/epcis/lots/{lot}", only(quality=200, operator=200)),
    Case("GET", "/epcis/recalls/{recall_id}", only(quality=200, operator=200)),
    # GS1's EPCIS REST binding at /epcis: query as every reader (a supplier sees what it may:
    # tests/epcis/test_query.py); capture as the roles that record events (supplier keys); a plain-text
    # body is then the supplier's own mistake (415); discovery (OPTIONS) is public.
    *(
        Case("GET", f"/epcis{r}", only(quality=200, operator=200, supplier_a=200, supplier_b=200), prefix="")
        for r in ("/events", "/eventTypes", "/bizSteps", "/bizLocations", "/readPoints", "/dispositions")
    ),
    Case(
        "GET",
        "/epcis/eventTypes/{event_type}/events",
        only(quality=200, operator=200, supplier_a=200, supplier_b=200),
        prefix="",
    ),
    # The plant's formula lot IF-0001: the plant made it; the farm has no event of it and none was shipped to it.
    Case("GET", "/epcis/epcs/{epc}/events", only(quality=200, operator=200, supplier_a=200, supplier_b=404), prefix=""),
    *(
        Case(m, r, only(supplier_a=415, supplier_b=415), lambda s, p: {"content": b"{}"}, prefix="")
        for m, r in (("POST", "/epcis/capture"), ("POST", "/epcis/events"))
    ),
    Case("GET", "/epcis/capture", only(quality=200, operator=200, supplier_a=200, supplier_b=200), prefix=""),
    # A's capture job: A and the staff read it; B is told it does not exist.
    *(
        Case("GET", r, only(quality=200, operator=200, supplier_a=200, supplier_b=404), prefix="")
        for r in ("/epcis/capture/{capture_id}", "/epcis/capture/{capture_id}/document")
    ),
    Case("GET", "/epcis", only(quality=200, operator=200, supplier_a=200, supplier_b=200), prefix=""),
    *(
        Case("OPTIONS", f"/epcis{r}", public(204), prefix="")
        for r in (
            "",
            "/capture",
            "/capture/{capture_id}",
            "/events",
            "/eventTypes",
            "/eventTypes/{event_type}/events",
            "/epcs/{epc}/events",
            "/bizSteps",
            "/bizLocations",
            "/readPoints",
            "/dispositions",
            "/queries",
            "/queries/{query}",
            "/queries/{query}/events",
            "/queries/{query}/subscriptions",
            "/queries/{query}/subscriptions/{sub}",
        )
    ),
    # Buyer pseudonyms are for sellers (role brand): the plant's and the farm's keys are refused too.
    Case("POST", "/buyers", only(), lambda s, p: {"json": {"member_id": "member-1"}}),
]


HOOK = {"dest": "http://127.0.0.1:9/hook", "signatureToken": "matrix-secret-0123456789", "stream": True}


def fresh_query(s: Site, p: dict[str, Any]) -> dict[str, Any]:
    """A staff named query for the case to delete."""
    p["doomed"] = f"doomed-{uuid.uuid4().hex[:8]}"
    r = s.client.post("/epcis/queries", headers=s.auth("quality"), json={"name": p["doomed"], "query": {}})
    assert r.status_code == 201, r.text
    return {}


def fresh_subscription(s: Site, p: dict[str, Any]) -> dict[str, Any]:
    """A subscription to the staff named query, for the case to delete."""
    r = s.client.post(f"/epcis/queries/{p['query']}/subscriptions", headers=s.auth("quality"), json=HOOK)
    assert r.status_code == 201, r.text
    p["doomed_sub"] = r.json()["subscriptionID"]
    return {}


# GS1's EPCIS named queries and subscriptions, at the app's root: every reader; a supplier sees only
# its own named queries, so staff's ({query}) is 404 to it (tests/epcis/test_subscriptions.py).
STAFF_ONLY = only(quality=200, operator=200, supplier_a=404, supplier_b=404)
ROOT_CASES = [
    Case(
        "POST",
        "/epcis/queries",
        only(quality=201, operator=201, supplier_a=201, supplier_b=201),
        lambda s, p: {"json": {"name": f"q-{uuid.uuid4().hex[:8]}", "query": {"EQ_bizStep": ["shipping"]}}},
        prefix="",
    ),
    Case("GET", "/epcis/queries", only(quality=200, operator=200, supplier_a=200, supplier_b=200), prefix=""),
    Case("GET", "/epcis/queries/{query}", STAFF_ONLY, prefix=""),
    Case(
        "DELETE",
        "/epcis/queries/{doomed}",
        only(quality=204, operator=204, supplier_a=404, supplier_b=404),
        fresh_query,
        prefix="",
    ),
    Case("GET", "/epcis/queries/{query}/events", STAFF_ONLY, prefix=""),
    Case(
        "POST",
        "/epcis/queries/{query}/subscriptions",
        only(quality=201, operator=201, supplier_a=404, supplier_b=404),
        lambda s, p: {"json": HOOK},
        prefix="",
    ),
    Case("GET", "/epcis/queries/{query}/subscriptions", STAFF_ONLY, prefix=""),
    Case("GET", "/epcis/queries/{query}/subscriptions/{sub}", STAFF_ONLY, prefix=""),
    Case(
        "DELETE",
        "/epcis/queries/{query}/subscriptions/{doomed_sub}",
        only(quality=204, operator=204, supplier_a=404, supplier_b=404),
        fresh_subscription,
        prefix="",
    ),
]


@pytest.fixture(scope="module")
def params(site: Site) -> dict[str, Any]:
    """Things the cases act on: a spare supplier and keys to rotate and revoke, a valid bundle."""
    op = site.auth("operator")
    made = site.client.post(
        f"{P}/suppliers", headers=op, json={"name": "Spare Farm", "role": "farm", "id": "spare-farm"}
    )
    assert made.status_code == 201, made.text
    spare_api_key = site.client.post(f"{P}/api-keys", headers=op, json={"name": "spare", "role": "quality"})
    bundle = site.client.get(f"{P}/events/{site.ids['a_event']}/proof", headers=op)
    assert bundle.status_code == 200, bundle.text
    q = site.auth("quality")
    hold_id = site.client.get(f"{P}/holds", headers=q).json()[0]["id"]  # the demo's failing report held IF-0001
    recall = site.client.post(
        f"{P}/recalls", headers=q, json={"reason": "spare", "severity": "I", "trace_lot": f"{MILK}/RM-A1"}
    )
    assert recall.status_code == 201, recall.text
    for sid in (A, "spare-farm"):
        put = site.client.put(f"{P}/suppliers/{sid}/contact", headers=op, json={"emails": [f"qa@{sid}.example"]})
        assert put.status_code == 200, put.text
    named = site.client.post("/epcis/queries", headers=q, json={"name": "matrix", "query": {}})
    assert named.status_code == 201, named.text
    sub = site.client.post("/epcis/queries/matrix/subscriptions", headers=q, json=HOOK)
    assert sub.status_code == 201, sub.text
    return {
        "query": "matrix",
        "sub": sub.json()["subscriptionID"],
        "token": "0" * 32,
        "supplier_id": A,
        "spare": "spare-farm",
        "spare_key": made.json()["key"]["key_id"],
        "spare_api_key": spare_api_key.json()["key"]["id"],
        "a_event": site.ids["a_event"],
        "bundle": bundle.content,
        "hold_id": hold_id,
        "recall_id": recall.json()["id"],
        "lot": "IF-0001",
        "epc": quote(f"https://id.gs1.org/01/{FORMULA}/10/IF-0001", safe=""),
        "formula": FORMULA,
        "site": B,
        "report": "plan",
        "fmt": "xlsx",  # the plan is made as PDF only
        "sha256": "0" * 64,
        "capture_id": _a_capture(site),
        "event_type": "ObjectEvent",
    }


def _a_capture(site: Site) -> int:
    """A capture job of supplier A, signed with A's key file (RFC 9421), as a partner sends one."""
    from cradletrace.epcis import httpsig

    body = (Path(__file__).parents[1] / "vectors" / "epcis" / "gs1" / "Example_9.6.1-ObjectEvent.jsonld").read_bytes()
    key_id, pem = key_file(site.settings, A)
    url = "http://testserver/epcis/capture"
    headers = httpsig.sign("POST", url, "application/ld+json", body, key_id, pem)
    r = site.client.post(
        url, content=body, headers={**site.auth("supplier_a"), **headers, "Content-Type": "application/ld+json"}
    )
    assert r.status_code == 202, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    "case",
    [*CASES, *ROOT_CASES],
    ids=lambda c: f"{c.method} {c.route} {'/'.join(sorted(k for k, v in c.expected.items() if v < 400)) or 'none'}",
)
def test_matrix(site: Site, params: dict[str, Any], case: Case, who: str) -> None:
    before = site.event_count() if case.method == "POST" and case.route == "/events" else None
    kwargs = case.body(site, params) if case.body else {}
    r = site.client.request(case.method, case.url(params), headers=site.auth(who), **kwargs)
    assert r.status_code == case.expected[who], r.text
    body = r.json() if r.content else {}
    if r.status_code == 401:
        assert body["detail"] == (MISSING_KEY if who == "anonymous" else BAD_KEY)
        assert r.headers["www-authenticate"].startswith("Bearer")
    if r.status_code == 403:  # a role refused by the API, or an event's supplier by the recording rules
        assert body["detail"].startswith(("not allowed: ", "events[0]: ")), body
    if before is not None and r.status_code >= 400:
        assert site.event_count() == before


def _api_routes() -> set[tuple[str, str]]:
    """Every (method, path template) the API's routers declare under the API prefix."""
    return {
        (m, API_PREFIX + r.path_format)
        for router in ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    } | {
        (m, r.path_format)
        for router in EPCIS_ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    }


def test_matrix_covers_every_endpoint(site: Site) -> None:
    declared = _api_routes()
    covered = {
        (
            c.method,
            c.prefix
            + c.route.replace("{spare}", "{supplier_id}")
            .replace("{spare_key}", "{key_id}")
            .replace("{spare_api_key}", "{key_id}")
            .replace("{a_event}", "{ref}")
            .replace("{formula}", "{gtin}")
            .replace("{capture_id}", "{captureID}")
            .replace("{event_type}", "{eventType}")
            .replace("{query}", "{queryName}")
            .replace("{sub}", "{subscriptionID}"),
        )
        for c in CASES
    }
    assert declared == covered


def _root_epcis_routes() -> set[tuple[str, str]]:
    """The key-holders' routes at the app's root (GS1's EPCIS /queries)."""
    return {(m, r.path_format) for r in epcissubs.router.routes if isinstance(r, APIRoute) for m in r.methods}


def test_matrix_covers_every_root_epcis_endpoint() -> None:
    declared = _root_epcis_routes()
    covered = {
        (c.method, c.route.replace("{query}", "{queryName}").replace("{doomed}", "{queryName}")) for c in ROOT_CASES
    }
    covered = {
        (m, r.replace("{sub}", "{subscriptionID}").replace("{doomed_sub}", "{subscriptionID}")) for m, r in covered
    }
    assert declared == covered


def test_x_api_key_header_works_too(site: Site) -> None:
    r = site.client.get(f"{P}/api-keys", headers={"X-API-Key": site.secrets["operator"]})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "presented", ["", "Bearer", "Bearer nonsense", "Bearer ct_000000000000_" + "A" * 43, "Basic dXNlcjpwdw=="]
)
def test_bad_credentials_are_401(site: Site, presented: str) -> None:
    r = site.client.get(f"{P}/events", headers={"Authorization": presented} if presented else {})
    assert r.status_code == 401
    assert r.json()["detail"] in (MISSING_KEY, BAD_KEY)


def test_supplier_reads_only_its_own(site: Site) -> None:
    a = site.auth("supplier_a")
    mine = site.client.get(f"{P}/events", headers=a).json()["items"]
    assert mine and {e["supplier_id"] for e in mine} == {A}
    r = site.client.get(f"{P}/events", headers=a, params={"supplier": B})
    assert r.status_code == 403
    assert r.json()["detail"] == "not allowed: a supplier key reads only its own supplier's records"
    assert site.client.get(f"{P}/events/{site.ids['b_event']}", headers=a).status_code == 403
    assert site.client.get(f"{P}/suppliers/{B}", headers=a).status_code == 403


# -- consumers: a parent's phone, no key at all, on the public routes outside the API's key scheme --

CONSUMER = {  # (method, path template) -> what the call sends; the answer must be the route's own, never 401/403
    ("GET", "/healthz"): {},
    ("GET", "/metrics"): {},
    ("GET", "/scan"): {},
    ("GET", "/verify"): {},
    ("GET", "/console"): {},
    ("GET", "/.well-known/gs1resolver"): {},
    ("GET", "/01/{rest}"): {"url": f"/01/{MILK}/10/RM-A1/21/NOTISSUED01", "headers": {"Accept": "application/json"}},
    ("GET", "/00/{rest}"): {"url": "/00/106141411234567897", "headers": {"Accept": "application/json"}},
    ("GET", "/414/{rest}"): {"url": "/414/9421902960000", "headers": {"Accept": "application/json"}},
    ("POST", f"{P}/scans/{{scan_id}}/location"): {
        "url": f"{P}/scans/{'0' * 32}/location",
        "json": {"lat": 1.0, "lon": 2.0, "consent": True},
    },
    ("POST", "/rpc"): {"json": {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}},
}


def _public_routes(site: Site) -> set[tuple[str, str]]:
    inside = _api_routes() | _root_epcis_routes()
    return {
        (m, p)
        for p, ops in site.client.get("/openapi.json").json()["paths"].items()
        for m in (o.upper() for o in ops)
        if (m, p) not in inside
    }


@pytest.mark.parametrize("route", sorted(CONSUMER), ids=" ".join)
def test_consumer_needs_no_key_on_public_routes(site: Site, route: tuple[str, str]) -> None:
    spec = dict(CONSUMER[route])
    r = site.client.request(route[0], spec.pop("url", route[1]), **spec)
    assert r.status_code not in (401, 403) and r.status_code < 500, r.text
    if route in (("GET", "/01/{rest}"), ("GET", "/00/{rest}"), ("GET", "/414/{rest}")):
        assert r.status_code == 404  # a code never issued: found nothing, refused nothing


def test_consumer_cases_cover_every_public_route(site: Site) -> None:
    assert _public_routes(site) == set(CONSUMER)


# -- the supplier portal (/supplier): callers are browsers holding a portal session, not keys --

PORTAL_WHO = ("anonymous", "supplier_a", "supplier_b")


def _portal_browser(site: Site, who: str) -> tuple[Any, str]:
    """A browser of its own, signed in as ``who`` (none for anonymous), and its CSRF token."""
    from fastapi.testclient import TestClient

    from cradletrace.api.routes.portal import COOKIE
    from cradletrace.portal import csrf_token

    c = TestClient(site.client.app, raise_server_exceptions=False, follow_redirects=False)
    if who == "anonymous":
        return c, "0" * 64
    r = c.post("/supplier/signin", data={"key": site.secrets[who]}, headers={"Origin": "http://testserver"})
    assert r.status_code == 303, r.text
    return c, csrf_token(c.cookies[COOKIE])


def _spare_a_key(site: Site) -> str:
    """A key of A's to revoke (registered as the operator would)."""
    r = site.client.post(
        f"{P}/suppliers/{A}/public-keys",
        headers=site.auth("operator"),
        json={"public_key": base64.b64encode(signing.generate_key_pair().public_key).decode()},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key_id"])


def _fresh_public_key() -> dict[str, Any]:
    return {"json": {"public_key": base64.b64encode(signing.generate_key_pair().public_key).decode()}}


# (method, path template) -> (how to call it, status per browser); the page redirects (303) to sign-in without a session
PORTAL: dict[tuple[str, str], tuple[Callable[[Site, str], tuple[str, dict[str, Any]]], dict[str, int]]] = {
    ("GET", "/supplier"): (lambda s, t: ("/supplier", {}), {"anonymous": 200, "supplier_a": 303, "supplier_b": 303}),
    ("GET", "/supplier/records"): (
        lambda s, t: ("/supplier/records", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    ("GET", "/supplier/records/{event_id}/proof"): (
        lambda s, t: (f"/supplier/records/{s.ids['a_event']}/proof", {}),
        {"anonymous": 401, "supplier_a": 200, "supplier_b": 403},
    ),
    ("GET", "/supplier/keys"): (
        lambda s, t: ("/supplier/keys", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    ("POST", "/supplier/keys"): (
        lambda s, t: ("/supplier/keys", {**_fresh_public_key(), "headers": {"X-CSRF-Token": t}}),
        {"anonymous": 401, "supplier_a": 201, "supplier_b": 201},
    ),
    ("POST", "/supplier/keys/{key_id}/revoke"): (
        lambda s, t: (f"/supplier/keys/{_spare_a_key(s)}/revoke", {"data": {"csrf": t}}),
        {"anonymous": 401, "supplier_a": 303, "supplier_b": 404},
    ),
    ("GET", "/supplier/batch"): (  # a plant and a farm record batches (a lab's 403: tests/api/test_portal.py)
        lambda s, t: ("/supplier/batch", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    ("GET", "/supplier/shipment"): (  # a plant and a farm may record shipments (a lab's 403: test_portal_browser)
        lambda s, t: ("/supplier/shipment", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    (
        "GET",
        "/supplier/cold-chain",
    ): (  # a plant and a farm may record the cold chain (a lab's 403: test_portal_browser)
        lambda s, t: ("/supplier/cold-chain", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    ("GET", "/supplier/test-report"): (  # only labs record test reports (tests/api/test_portal_documents.py)
        lambda s, t: ("/supplier/test-report", {}),
        {"anonymous": 303, "supplier_a": 403, "supplier_b": 403},
    ),
    ("POST", "/supplier/documents"): (  # a lab's certificate, a shipment's papers: a plant and a farm ship
        lambda s, t: (
            f"/supplier/documents?sha256={hashlib.sha256(b'%PDF-1.4 m').hexdigest()}",
            {"content": b"%PDF-1.4 m", "headers": {"X-CSRF-Token": t, "Content-Type": "application/pdf"}},
        ),
        {"anonymous": 401, "supplier_a": 201, "supplier_b": 201},
    ),
    ("GET", "/supplier/documents/{sha256}"): (  # public: a signed record's document link
        lambda s, t: (f"/supplier/documents/{'0' * 64}", {}),
        {"anonymous": 404, "supplier_a": 404, "supplier_b": 404},
    ),
    # The bulk upload: a plant and a farm may ship (a lab's sheets: tests/api/test_portal_bulk.py); an
    # empty template is checked (nothing in it, nothing stored); the stored digests are one's own only.
    ("GET", "/supplier/bulk"): (
        lambda s, t: ("/supplier/bulk", {}),
        {"anonymous": 303, "supplier_a": 200, "supplier_b": 200},
    ),
    ("GET", "/supplier/bulk/template.xlsx"): (
        lambda s, t: ("/supplier/bulk/template.xlsx?kind=shipment", {}),
        {"anonymous": 401, "supplier_a": 200, "supplier_b": 200},
    ),
    ("POST", "/supplier/bulk/check"): (
        lambda s, t: (
            "/supplier/bulk/check?kind=shipment",
            {"content": bulk.template("shipment", 10), "headers": {"X-CSRF-Token": t, "Content-Type": bulk.XLSX_TYPE}},
        ),
        {"anonymous": 401, "supplier_a": 200, "supplier_b": 200},
    ),
    ("POST", "/supplier/bulk/stored"): (
        lambda s, t: ("/supplier/bulk/stored", {"json": {"digests": ["0" * 64]}, "headers": {"X-CSRF-Token": t}}),
        {"anonymous": 401, "supplier_a": 200, "supplier_b": 200},
    ),
    # Admitted sessions reach the API's own checks (an empty list is their own mistake); a session of
    # A may not record B's signed event, whatever its signature (POST /api/v1/events's rule).
    ("POST", "/supplier/events"): (
        lambda s, t: (
            "/supplier/events",
            {"content": b"[]", "headers": {"X-CSRF-Token": t, "Content-Type": "application/json"}},
        ),
        {"anonymous": 401, "supplier_a": 422, "supplier_b": 422},
    ),
    ("POST", "/supplier/signin"): (
        lambda s, t: ("/supplier/signin", {"data": {"key": s.secrets["supplier_a"]}}),
        {"anonymous": 303, "supplier_a": 303, "supplier_b": 303},
    ),
    ("POST", "/supplier/signout"): (
        lambda s, t: ("/supplier/signout", {"data": {"csrf": t}}),
        {"anonymous": 401, "supplier_a": 303, "supplier_b": 303},
    ),
}


@pytest.mark.parametrize("who", PORTAL_WHO)
@pytest.mark.parametrize("route", sorted(PORTAL), ids=" ".join)
def test_portal_matrix(site: Site, route: tuple[str, str], who: str) -> None:
    """A portal session acts only for its own supplier: B's browser neither reads A's proof nor revokes A's key."""
    client, token = _portal_browser(site, who)
    call, expected = PORTAL[route]
    url, kwargs = call(site, token)
    headers = {"Origin": "http://testserver", **kwargs.pop("headers", {})}
    r = client.request(route[0], url, headers=headers, **kwargs)
    assert r.status_code == expected[who], r.text
    if route == ("GET", "/supplier/records") and who != "anonymous":
        shown = {int(x) for x in __import__("re").findall(r'data-event="(\d+)"', r.text)}
        assert shown and (site.ids["a_event"] in shown) == (who == "supplier_a")
        assert (site.ids["b_event"] in shown) == (who == "supplier_b")


def test_portal_session_records_only_its_own_suppliers_events(site: Site) -> None:
    before = site.event_count()
    [pem_file] = site.settings.keys_dir.glob(f"{B}.*.pem")  # B's 'supplier add' key (cases register newer ones)
    for who, status in (("supplier_a", 403), ("supplier_b", 201)):
        client, token = _portal_browser(site, who)
        event = {**raw_milk(1, B)[0], "key": pem_file.name.split(".")[1]}
        r = client.post(
            "/supplier/events",
            content=json.dumps([sign_with(pem_file.read_bytes(), event)]).encode(),
            headers={"Origin": "http://testserver", "X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert r.status_code == status, r.text
    assert site.event_count() == before + 1


def test_portal_matrix_covers_every_portal_route() -> None:
    from cradletrace.api.routes.portal import router

    declared = {(m, r.path_format) for r in router.routes if isinstance(r, APIRoute) for m in r.methods}
    assert declared == set(PORTAL)

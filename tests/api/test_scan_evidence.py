"""Nobody can brand a genuine pack a copy by knowing its code, and nobody learns where others were.

Copy evidence counts clients (a keyed hash of address and browser, stored instead of either), not
requests; a scan takes one location, once; a later scanner learns the day of the first scan and
whether it was in another city than its own, never a place. The location request takes JSON
booleans and finite numbers only. On SQLite (scan.service.scan_item) and PostgreSQL (PgScanner) alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.routes.scan import LOCATION_TAKEN
from cradletrace.scanner_web.pages import strings
from tests.api.test_scan import (  # noqa: F401 - any_packs is a fixture
    JSON,
    SHANGHAI,
    Packs,
    any_packs,
    scan_json,
    scan_page,
    share,
    sql,
)

ZH, EN = strings()["zh"], strings()["en"]
REMUERA = (-36.8797, 174.7986)  # Auckland
SAO_PAULO = (-23.5505, -46.6333)
PLACE_WORDS = ("Remuera", "Auckland", "奥克兰", "-36.9", "174.8", "-36.8", "Shanghai", "上海", "31.2", "121.5")


def phone(packs: Packs, address: str, agent: str = "Mozilla/5.0 (Linux; Android 14)") -> TestClient:
    return TestClient(packs.client.app, client=(address, 40000), headers={"User-Agent": agent})


def post_location(client: TestClient, scan_id: str, body: str) -> Any:
    return client.post(
        f"/api/v1/scans/{scan_id}/location", content=body.encode(), headers={"Content-Type": "application/json"}
    )


def test_one_client_scanning_again_and_again_is_one_witness(any_packs: Packs) -> None:
    can, attacker = any_packs.cans[0], phone(any_packs, "203.0.113.9")
    for _ in range(35):
        scans = scan_json(attacker, can)["scans"]
    assert scans["count"] == 35 and scans["likely_copy"] is False and scans["reason"] == ""
    # ... and from both ends of the earth, one place per scan: still one witness
    for place in (REMUERA, SAO_PAULO, SHANGHAI):
        assert share(attacker, scan_json(attacker, can)["scans"]["scan_id"], place).status_code == 204
    assert scan_json(attacker, can)["scans"]["likely_copy"] is False
    # the same phone in another browser is another client; many phones are evidence
    for n in range(30):
        last = scan_json(phone(any_packs, f"198.51.100.{n}"), can)["scans"]
    assert last["likely_copy"] is True and "by 31 different phones" in last["reason"]
    [(clients,)] = sql(any_packs.settings, "SELECT COUNT(DISTINCT client) FROM scan WHERE serial = :s", s=can.serial)
    assert clients == 31


def test_the_client_is_stored_as_a_keyed_hash_only(any_packs: Packs) -> None:
    can, address, agent = any_packs.cans[1], "203.0.113.77", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
    scan_id = scan_json(phone(any_packs, address, agent), can)["scans"]["scan_id"]
    [(client,)] = sql(any_packs.settings, "SELECT client FROM scan WHERE id = :i", i=scan_id)
    assert len(client) == 32 and int(client, 16) >= 0 and address not in client
    dump = "".join(str(r) for r in sql(any_packs.settings, "SELECT * FROM scan"))
    assert address not in dump and "iPhone" not in dump


def test_a_scan_takes_one_location_once(any_packs: Packs) -> None:
    can, mine = any_packs.cans[2], phone(any_packs, "203.0.113.10")
    scan_id = scan_json(mine, can)["scans"]["scan_id"]
    assert share(mine, scan_id, REMUERA).status_code == 204
    [(before,)] = sql(any_packs.settings, "SELECT location FROM scan WHERE id = :i", i=scan_id)
    again = share(mine, scan_id, SAO_PAULO)
    assert (again.status_code, again.json()) == (409, {"detail": LOCATION_TAKEN, "field": None, "problems": []})
    [(after,)] = sql(any_packs.settings, "SELECT location FROM scan WHERE id = :i", i=scan_id)
    assert bytes(after) == bytes(before)


def test_a_later_scanner_learns_the_day_and_whether_it_was_another_city_only(any_packs: Packs) -> None:
    can = any_packs.cans[3]
    first, later = phone(any_packs, "203.0.113.20"), phone(any_packs, "203.0.113.21")
    first_scan = scan_json(first, can)["scans"]
    assert share(first, first_scan["scan_id"], REMUERA).status_code == 204

    seen = later.get(can.path, headers=JSON)
    scans = seen.json()["scans"]
    assert scans["first_on"] == first_scan["first_on"] and scans["first_elsewhere"] is None  # it shared no place yet
    assert set(scans) == {"count", "first_on", "first_elsewhere", "likely_copy", "reason", "scan_id"}
    assert share(later, scans["scan_id"], SHANGHAI).status_code == 204
    again = later.get(can.path, headers=JSON)
    assert again.json()["scans"]["first_elsewhere"] is True
    pages = [later.get(can.path).text, later.get(can.path, params={"lang": "en"}).text]
    assert ZH["first_elsewhere"] in pages[0] and EN["first_elsewhere"] in pages[1]
    # the scans part of each answer (the rest is the lot's own story: its sites and shipments)
    parts = [json.dumps(r.json()["scans"], ensure_ascii=False) for r in (seen, again)]
    parts += [page.split('<section id="scans"', 1)[1].split("</section>", 1)[0] for page in pages]
    for shown in parts:
        assert not any(w in shown for w in PLACE_WORDS), [w for w in PLACE_WORDS if w in shown]
    assert scan_json(first, can)["scans"]["first_elsewhere"] is False  # the first scanner, at home


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('{"lat": -36.9, "lon": 174.8, "consent": "yes"}', "body.consent", "valid boolean"),
        ('{"lat": -36.9, "lon": 174.8, "consent": 1}', "body.consent", "valid boolean"),
        # NaN and Infinity are not JSON: the one body parser refuses them before any route reads the body
        ('{"lat": NaN, "lon": 174.8, "consent": true}', "body", "expected a finite number, got NaN"),
        ('{"lat": -36.9, "lon": -Infinity, "consent": true}', "body", "expected a finite number, got -Infinity"),
        ('{"lat": "-36.9", "lon": 174.8, "consent": true}', "body.lat", "valid number"),
    ],
)
def test_the_location_takes_json_booleans_and_finite_numbers_only(
    any_packs: Packs, body: str, field: str, message: str
) -> None:
    can = any_packs.cans[4]
    scan_id = scan_json(any_packs.client, can)["scans"]["scan_id"]
    r = post_location(any_packs.client, scan_id, body)
    assert r.status_code == 422 and r.json()["field"] == field and message in r.json()["problems"][0]["message"], r.text
    [(consent, location)] = sql(any_packs.settings, "SELECT consent, location FROM scan WHERE id = :i", i=scan_id)
    assert not consent and location is None
    assert (
        post_location(any_packs.client, scan_id, json.dumps({"lat": -36.9, "lon": 174.8, "consent": True})).status_code
        == 204
    )

"""What a phone gets from ``/01/<GTIN>/10/<lot>/21/<serial>``: the page or the same facts as JSON,
400 for what is not a code, 404 for a code we never issued (or one copied onto another lot or
product), counted scans with sealed consented locations, the clone flag, the rate limit, and
integrity badges that come from verifying each record at scan time.

``packs`` (SQLite, module-scoped) has the demo story anchored, five cans of lot IF-0001 and two
of a lot written ``IF/0002``; each test scans its own can. Tests that tamper, add records or
change settings build their own site; ``any_packs`` runs the representative ones on PostgreSQL too
(tests/api/test_scan_stores.py has the rest of the PostgreSQL scan path against the SQLite one).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cradletrace import recording
from cradletrace.api.routes.scan import MALFORMED, RATE_LIMITED, UNKNOWN
from cradletrace.config import Settings
from cradletrace.core.labels import DigitalLink, parse_uri
from cradletrace.demo import story
from cradletrace.scanner_web.pages import strings
from cradletrace.sealing import Sealer
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, MILK, A, Site, commission, open_site

LOT, SLASH_LOT = "IF-0001", "IF/0002"
JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"}
ZH, EN = strings()["zh"], strings()["en"]
# (lat, lon) as a phone reports them; neither they nor the rounded values may be readable at rest.
CHENGDU, SHANGHAI, BEIJING, GUANGZHOU = (
    (30.6586, 104.0647),
    (31.2304, 121.4737),
    (39.9042, 116.4074),
    (23.1291, 113.2644),
)
PLAIN = (b"30.6586", b"104.0647", b"30.7", b"104.1")


@dataclass
class Packs:
    site: Site
    cans: list[DigitalLink]  # lot IF-0001
    slash: list[DigitalLink]  # lot IF/0002

    @property
    def client(self) -> TestClient:
        return self.site.client

    @property
    def settings(self) -> Settings:
        return self.site.settings


def record(settings: Settings, events: list[dict[str, object]]) -> list[recording.RecordedEvent]:
    """Sign and record as the suppliers' own tooling would, beside the running API."""
    with Workspace(settings) as ws, ws.session() as s:
        items = recording.sign_submissions(
            recording.read_submissions(events), recording.key_loader(s, settings.keys_dir), ws.limits
        )  # type: ignore[arg-type]
        return recording.record_submissions(s, items, datetime.now(UTC))


def sql(settings: Settings, statement: str, **params: object) -> Any:
    with Workspace(settings) as ws, ws.engine.begin() as conn:
        return (
            conn.execute(text(statement), params).all()
            if statement.lstrip().upper().startswith("SELECT")
            else conn.execute(text(statement), params).rowcount
        )


@contextmanager
def packed_site(settings: Settings, **overrides: object) -> Iterator[Packs]:
    with open_site(settings, **overrides) as site:
        batch = next(e for e in story(datetime.now(UTC)) if e["kind"] == "batch" and e["supplier"] == A)
        slash = copy.deepcopy(batch)
        slash["data"]["lot"] = SLASH_LOT  # type: ignore[index]
        record(site.settings, [slash])
        cans, slashed = commission(site.settings, LOT, 5), commission(site.settings, SLASH_LOT, 2)
        anchored = site.client.post("/api/v1/anchor", headers=site.auth("operator"))
        assert anchored.status_code == 200 and anchored.json()["events"] == 3, anchored.text
        yield Packs(site, cans, slashed)


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    with packed_site(Settings(data_dir=tmp_path_factory.mktemp("scan") / "data"), scan_rate_per_minute=0) as p:
        yield p


@pytest.fixture
def any_packs(tmp_path: Path, database_url: str | None) -> Iterator[Packs]:
    with packed_site(Settings(data_dir=tmp_path / "data", database_url=database_url), scan_rate_per_minute=0) as p:
        yield p


def scan_json(client: TestClient, link: DigitalLink, **params: str) -> dict[str, Any]:
    r = client.get(link.path, headers=JSON, params=params)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    return r.json()  # type: ignore[no-any-return]


def scan_page(client: TestClient, link: DigitalLink, **params: str) -> str:
    r = client.get(link.path, params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    return r.text


def share(client: TestClient, scan_id: str, place: tuple[float, float], consent: bool = True) -> Any:
    return client.post(f"/api/v1/scans/{scan_id}/location", json={"lat": place[0], "lon": place[1], "consent": consent})


def records(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        body["batch"],
        *body["origin"],
        *body["test_reports"],
        *body["cold_chain"],
        *body["shipments"],
        *body["unreadable"],
    ]


def stored_location(settings: Settings, scan_id: str) -> tuple[bool, bytes | None]:
    [(consent, location)] = sql(settings, "SELECT consent, location FROM scan WHERE id = :i", i=scan_id)
    return bool(consent), bytes(location) if location is not None else None


def scan_count(settings: Settings, serial: str) -> int:
    return int(sql(settings, "SELECT count(*) FROM scan WHERE serial = :s", s=serial)[0][0])


# -- content negotiation and the facts on the page ----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "params", "kind"),
    [
        ({}, {}, "html"),
        (BROWSER, {}, "html"),
        ({"Accept": "*/*"}, {}, "html"),
        (JSON, {}, "json"),
        ({"Accept": "application/json;q=0.9"}, {}, "json"),
        (BROWSER, {"format": "json"}, "json"),
        (JSON, {"format": "html"}, "html"),
    ],
)
def test_content_negotiation(packs: Packs, headers: dict[str, str], params: dict[str, str], kind: str) -> None:
    r = packs.client.get(packs.cans[0].path, headers=headers, params=params)
    assert r.status_code == 200
    if kind == "json":
        assert r.headers["content-type"] == "application/json" and r.json()["serial"] == packs.cans[0].serial
    else:
        assert r.headers["content-type"] == "text/html; charset=utf-8" and r.text.startswith("<!doctype html>")


def test_an_unknown_format_is_refused(packs: Packs) -> None:
    r = packs.client.get(packs.cans[0].path, params={"format": "xml"})
    assert r.status_code == 422 and r.json()["field"] == "query.format"


def test_page_and_json_tell_the_same_story(packs: Packs) -> None:
    can = packs.cans[0]
    body = scan_json(packs.client, can)
    page = scan_page(packs.client, can, lang="en")
    b = body["batch"]
    assert (body["gtin"], body["lot"], body["serial"]) == (FORMULA, LOT, can.serial)
    for fact in (
        body["product"],
        FORMULA,
        LOT,
        can.serial,
        b["supplier"],
        b["data"]["produced_on"],
        b["data"]["expires_on"],
        b["data"]["site"]["name"],
    ):
        assert fact in page
    assert [o["data"]["lot"] for o in body["origin"]] == ["RM-A1", "RM-B2"]
    assert all(o["data"]["site"]["name"] in page and o["data"]["lot"] in page for o in body["origin"])
    tests = body["test_reports"]
    assert sorted(t["verdict"] for t in tests) == ["fail", "pass"]
    assert sorted(re.findall(r'class="record test-report" data-verdict="(\w+)"', page)) == ["fail", "pass"]
    assert all(
        t["data"]["lab"]["accreditation"]["number"] in page and t["data"]["document"]["sha256"] in page for t in tests
    )
    [cold] = body["cold_chain"]
    assert cold["summary"]["verdict"] == "excursion" and cold["summary"]["max_c"] == 10.1
    assert re.findall(r'class="record cold-chain" data-verdict="(\w+)"', page) == ["excursion"] and "<svg" in page
    [ship] = body["shipments"]
    assert ship["data"]["customs"]["declaration_number"] in page and ship["data"]["to_site"]["name"] in page
    assert body["all_verified"] is True and body["unreadable"] == []
    statuses = [r["integrity"]["status"] for r in records(body)]
    assert statuses == ["VALID"] * 7
    assert re.findall(r'data-status="(\w+)"', page) == statuses
    assert all(r["integrity"]["local_development_chain"] and r["integrity"]["tx"] in page for r in records(body))
    assert EN["local_chain"] in page and EN["integrity_all"] in page and 'lang="en"' in page
    assert re.search(rf'id="scan-count">{body["scans"]["count"] + 1} ', page)
    zh = scan_page(packs.client, can)
    assert 'lang="zh-CN"' in zh and ZH["verified"] in zh and ZH["integrity_all"] in zh


# -- what is not one of our codes ----------------------------------------------------------------------

G, S = FORMULA, "7Q2KX9M4TR8VB3ZD"
BAD_CHECK = FORMULA[:-1] + str((int(FORMULA[-1]) + 1) % 10)


# The part named is the AI at fault, or "path" for the order and shape of the path. A link without
# its lot or serial is valid GS1 Digital Link: tests/api/test_resolver.py has those.
@pytest.mark.parametrize(
    ("path", "part"),
    [
        (f"/01/{BAD_CHECK}/10/{LOT}/21/{S}", "01"),
        (f"/01/ABCDEFGHIJKLMN/10/{LOT}/21/{S}", "01"),
        (f"/01/{G}/10/{LOT}/21/", "21"),
        (f"/01/{G}/21/{S}/10/{LOT}", "path"),  # key qualifiers go in the order 22, 10, 21
        (f"/01/{G}/10/IF%C3%A90001/21/{S}", "10"),  # not ASCII
        (f"/01/{G}/10/IF%200001/21/{S}", "10"),  # a space is not a GS1 character
        (f"/01/{G}/10/{'L' * 21}/21/{S}", "10"),  # over 20 characters
        (f"/01/{G}/10/{LOT}/21/AB%7BC", "21"),  # '{' is not a GS1 character
        (f"/01/{G}/10/IF/0002/21/{S}", "path"),  # a '/' in a lot must be written %2F
        (f"/01/{G}/10/{LOT}/21/{S}/more", "path"),
        (f"/01/{G}/10/{LOT}/21/{S}?17=281301", "17"),  # a data attribute: no month 13
    ],
)
def test_malformed_paths_are_400_naming_the_part(packs: Packs, path: str, part: str) -> None:
    r = packs.client.get(path, headers=JSON)
    assert r.status_code == 400 and r.json()["detail"] == MALFORMED and r.json()["field"] == part, r.text
    assert r.json()["problems"][0]["field"] == part
    page = packs.client.get(path)
    assert page.status_code == 400 and ZH["bad_code_title"] in page.text
    assert re.search(rf'class="hash">[^<]*— {part}: ', page.text), page.text


def test_codes_we_never_issued_are_404_and_not_counted(packs: Packs) -> None:
    mine, other = packs.cans[4], packs.slash[1]
    encoded = SLASH_LOT.replace("/", "%2F")
    cases = {
        "never issued": f"/01/{FORMULA}/10/{LOT}/21/{S}",
        "foreign GS1 serial": f"/01/{FORMULA}/10/{LOT}/21/abc-1",
        "copied onto another lot": f"/01/{FORMULA}/10/{encoded}/21/{mine.serial}",
        "copied onto another product": f"/01/{MILK}/10/{LOT}/21/{mine.serial}",
        "copied onto an unknown lot": f"/01/{FORMULA}/10/IF-9999/21/{mine.serial}",
        "other lot's can under ours": f"/01/{FORMULA}/10/{LOT}/21/{other.serial}",
    }
    for why, path in cases.items():
        r = packs.client.get(path, headers=JSON)
        assert (r.status_code, r.json()) == (404, {"detail": UNKNOWN, "field": None, "problems": []}), why
        page = packs.client.get(path)
        assert page.status_code == 404 and ZH["unknown_title"] in page.text and ZH["unknown_body"] in page.text, why
        assert EN["unknown_title"] in packs.client.get(path, params={"lang": "en"}).text
    assert scan_count(packs.settings, mine.serial) == scan_count(packs.settings, other.serial) == 0
    assert scan_json(packs.client, mine)["scans"]["count"] == 1


def test_a_lot_with_a_slash_travels_percent_encoded(packs: Packs) -> None:
    can = packs.slash[0]
    assert "/10/IF%2F0002/21/" in can.uri and parse_uri(can.uri) == can
    body = scan_json(packs.client, can)
    assert body["lot"] == SLASH_LOT and body["batch"]["data"]["lot"] == SLASH_LOT and body["all_verified"]
    assert f'<dd><span data-fact="lot" data-as="text">{SLASH_LOT}</span></dd>' in scan_page(packs.client, can)


# -- counting, locations, the clone flag ---------------------------------------------------------------


def test_scans_are_counted_and_the_first_time_stays(packs: Packs) -> None:
    can = packs.cans[1]
    seen = [scan_json(packs.client, can)["scans"] for _ in range(3)]
    assert [s["count"] for s in seen] == [1, 2, 3]
    assert (
        len({s["first_on"] for s in seen}) == 1 and date.fromisoformat(seen[0]["first_on"]) == datetime.now(UTC).date()
    )
    assert len({s["scan_id"] for s in seen}) == 3 and not any(s["likely_copy"] for s in seen)
    assert seen[0]["first_elsewhere"] is None and "first_place" not in seen[0] and "first_city" not in seen[0]
    page = scan_page(packs.client, can)
    assert re.search(r'id="scan-count">4 ', page)
    assert f'id="first-scanned">{seen[0]["first_on"]}</dd>' in page  # the day, nothing about where


def test_a_shared_location_is_sealed_with_the_key_file(packs: Packs) -> None:
    can, st = packs.cans[2], packs.settings
    scan_id = scan_json(packs.client, can)["scans"]["scan_id"]
    assert stored_location(st, scan_id) == (False, None)  # nothing until the parent agrees
    r = share(packs.client, scan_id, CHENGDU)
    assert r.status_code == 204 and r.content == b""
    consent, sealed = stored_location(st, scan_id)
    assert consent and sealed is not None and all(p not in sealed for p in PLAIN)
    store = b"".join(p.read_bytes() for p in st.data_dir.glob("cradletrace.sqlite*"))
    key_file = st.keys_dir / "location.key"
    key = key_file.read_bytes()
    for plain in (b"30.6586", b"104.0647", b"[30.7, 104.1]", key):
        assert plain not in store
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(Sealer(key).open(sealed, scan_id.encode())) == [30.7, 104.1]
    with pytest.raises(Exception, match="does not open"):
        Sealer(os.urandom(32)).open(sealed, scan_id.encode())
    later = scan_json(packs.client, can)["scans"]
    assert later["first_elsewhere"] is False  # the same phone, in its own city
    assert ZH["first_same_city"] in scan_page(packs.client, can) and EN["first_same_city"] in scan_page(
        packs.client, can, lang="en"
    )


def test_no_location_without_consent(packs: Packs) -> None:
    can, st = packs.cans[2], packs.settings
    scan_id = scan_json(packs.client, can)["scans"]["scan_id"]
    refused = share(packs.client, scan_id, CHENGDU, consent=False)
    assert refused.status_code == 422 and refused.json()["detail"] == "invalid input"
    assert refused.json()["field"] == "consent" and "expected true" in refused.json()["problems"][0]["message"]
    missing = packs.client.post(f"/api/v1/scans/{scan_id}/location", json={"lat": CHENGDU[0], "lon": CHENGDU[1]})
    assert missing.status_code == 422 and missing.json()["field"] == "body.consent"
    far = share(packs.client, scan_id, (95.1234, CHENGDU[1]))
    assert far.status_code == 422 and far.json()["field"] == "body.lat"
    assert stored_location(st, scan_id) == (False, None)
    unknown = share(packs.client, "0" * 32, CHENGDU)
    assert unknown.status_code == 404 and unknown.json()["detail"] == f"scan {'0' * 32!r}: not found"
    for r in (refused, missing, far, unknown):  # an error body never repeats what the phone sent
        assert not any(p.decode() in r.text for p in (*PLAIN, b"95.1234"))


def test_no_personal_data_in_the_logs(packs: Packs, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    can = packs.cans[2]
    scan_id = scan_json(packs.client, can)["scans"]["scan_id"]
    assert share(packs.client, scan_id, CHENGDU).status_code == 204
    share(packs.client, scan_id, CHENGDU, consent=False)
    share(packs.client, "f" * 32, CHENGDU)
    scan_page(packs.client, can)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert not any(p.decode() in logged for p in PLAIN) and "Chengdu" not in logged and "成都" not in logged


def test_one_label_in_three_distant_cities_is_flagged(packs: Packs) -> None:
    can = packs.cans[3]
    for n, place in enumerate((SHANGHAI, BEIJING, GUANGZHOU)):
        phone = client_at(packs, f"198.51.100.{n + 1}")
        scan_id = scan_json(phone, can)["scans"]["scan_id"]
        assert share(phone, scan_id, place).status_code == 204
    scans = scan_json(packs.client, can)["scans"]
    assert scans["likely_copy"] is True and "km apart by 3 different phones" in scans["reason"]
    page = scan_page(packs.client, can)
    assert re.search(
        rf'class="banner alert"[^>]*>{re.escape(ZH["likely_copy"])} \(scanned in places \d+ km apart', page
    )
    assert EN["likely_copy"] in scan_page(packs.client, can, lang="en")
    assert not scan_json(packs.client, packs.cans[1])["scans"]["likely_copy"]  # another can of the lot is not tainted


# -- SM4 and the rate limit (their own settings) ------------------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    """Locations sealed with SM4-GCM; ten scan requests a minute per address."""
    with packed_site(
        Settings(data_dir=tmp_path_factory.mktemp("strict") / "data"),
        sealing_algorithm="sm4-gcm",
        scan_rate_per_minute=10,
    ) as p:
        yield p


def client_at(packs: Packs, address: str) -> TestClient:
    """Another phone: the same running app, seen from another client address."""
    return TestClient(packs.client.app, client=(address, 40000))


def test_sm4_sealing_end_to_end(strict: Packs) -> None:
    phone, can = client_at(strict, "192.0.2.10"), strict.cans[0]
    scan_id = scan_json(phone, can)["scans"]["scan_id"]
    assert share(phone, scan_id, SHANGHAI).status_code == 204
    _, sealed = stored_location(strict.settings, scan_id)
    assert sealed is not None and sealed[0] == 2 and all(p not in sealed for p in (b"31.2", b"121.5"))
    key = (strict.settings.keys_dir / "location.key").read_bytes()
    assert json.loads(Sealer(key, "sm4-gcm").open(sealed, scan_id.encode())) == [31.2, 121.5]
    assert scan_json(phone, can)["scans"]["first_elsewhere"] is False


def test_the_eleventh_rapid_request_waits(strict: Packs) -> None:
    phone, can = client_at(strict, "192.0.2.20"), strict.cans[1]
    answers = [phone.get(can.path, headers=JSON) for _ in range(4)]
    answers += [phone.get(can.path) for _ in range(3)]
    answers.append(phone.get(f"/01/{BAD_CHECK}/10/{LOT}/21/{S}"))  # guessing costs the same
    answers.append(phone.get(f"/01/{FORMULA}/10/{LOT}/21/{S}"))
    answers.append(share(phone, answers[0].json()["scans"]["scan_id"], SHANGHAI))
    assert [r.status_code for r in answers] == [200] * 7 + [400, 404, 204]
    for refused in (phone.get(can.path, headers=JSON), phone.get(can.path), share(phone, "0" * 32, SHANGHAI)):
        assert refused.status_code == 429 and refused.json() == {"detail": RATE_LIMITED, "field": None, "problems": []}
        assert 1 <= int(refused.headers["retry-after"]) <= 6
    assert scan_count(strict.settings, can.serial) == 7  # refused scans are not counted
    other = scan_json(client_at(strict, "192.0.2.21"), can)  # another address is not slowed down
    assert other["scans"]["count"] == 8


# -- integrity, on SQLite and PostgreSQL ---------------------------------------------------------------


def test_integrity_is_verified_at_every_scan(any_packs: Packs) -> None:
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[0]
    assert scan_json(c, can)["all_verified"] is True
    failing = next(t for t in scan_json(c, can)["test_reports"] if t["verdict"] == "fail")
    [(original,)] = sql(st, "SELECT body FROM event WHERE id = :i", i=failing["event_id"])
    sql(
        st,
        "UPDATE event SET body = :b WHERE id = :i",
        b=original.replace('"value":1', '"value":0'),
        i=failing["event_id"],
    )
    try:
        body = scan_json(c, can)
        bad = next(t for t in body["test_reports"] if t["event_id"] == failing["event_id"])
        assert bad["integrity"]["status"] == "INVALID" and "content changed" in bad["integrity"]["reasons"][0]
        assert body["all_verified"] is False
        assert [r["integrity"]["status"] for r in records(body)].count("VALID") == 6
        page = scan_page(c, can)
        assert ZH["integrity_bad"] in page and page.count('data-status="INVALID"') == 1
    finally:
        sql(st, "UPDATE event SET body = :b WHERE id = :i", b=original, i=failing["event_id"])
    assert scan_json(c, can)["all_verified"] is True

    report = copy.deepcopy(next(e for e in story(datetime.now(UTC)) if e["kind"] == "test_report"))
    report["data"]["document"]["uri"] = "https://lab.example/reports/retest.pdf"  # type: ignore[index]
    [fresh] = record(st, [report])
    body = scan_json(c, can)
    new = next(t for t in body["test_reports"] if t["event_id"] == fresh.id)
    assert new["integrity"]["status"] == "PENDING" and new["integrity"]["tx"] is None
    assert body["all_verified"] is False and "INVALID" not in [r["integrity"]["status"] for r in records(body)]
    page = scan_page(c, can)
    assert ZH["integrity_some"] in page and page.count('data-status="PENDING"') == 1
    assert c.post("/api/v1/anchor", headers=any_packs.site.auth("operator")).json()["events"] == 1
    assert scan_json(c, can)["all_verified"] is True


def test_counting_and_sealing_on_either_store(any_packs: Packs) -> None:
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[1]
    first = scan_json(c, can)["scans"]
    assert share(c, first["scan_id"], CHENGDU).status_code == 204
    consent, sealed = stored_location(st, first["scan_id"])
    assert consent and sealed is not None and all(p not in sealed for p in PLAIN)
    again = scan_json(c, can)["scans"]
    assert (again["count"], again["first_on"], again["first_elsewhere"]) == (2, first["first_on"], False)
    assert scan_json(c, any_packs.slash[0])["scans"]["count"] == 1


@pytest.mark.parametrize("headers", [JSON, BROWSER])
def test_scan_answers_vary_on_accept_and_are_never_cached(packs: Packs, headers: dict[str, str]) -> None:
    """A shared cache must not hand one scan's answer (or its count) to another scanner."""
    for path in (packs.cans[0].path, packs.cans[0].path.replace("/21/", "/21/X"), "/01/123/10/A/21/B"):
        r = packs.client.get(path, headers=headers)
        assert r.headers["cache-control"] == "no-store" and r.headers["vary"] == "Accept", (path, r.status_code)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_sampling_plan_analyte_shows_its_plan_every_result_and_the_verdict(packs: Packs, lang: str) -> None:
    """The demo's passing report has a three-class plan (n=5, c=2, m=1000, M=10000 CFU/g) with two units
    between m and M: the page shows the plan, the five results, the counts, the plan in words and the
    verdict; the JSON answer carries the plan and the results as signed."""
    can = packs.cans[0]
    page = scan_page(packs.client, can, lang=lang)
    t = strings()[lang]
    rows = re.findall(r'<tr class="plan">(.*?)</tr>', page, re.S)
    assert len(rows) == 1
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", rows[0].replace("<br>", " ").replace("</td>", " ")))
    assert "aerobic plate count" in text
    assert "300, 1500, 800, 2200, 450 CFU/g" in text
    assert "n=5, c=2, m=1000, M=10000" in text
    assert t["plan_three_class"] in text and t["plan_results"].replace("{n}", "5") in text
    assert f"{t['pass']} {t['plan_above_m']} 2/5 · {t['plan_above_big_m']} 0" in text
    assert 'data-fact="analytes/4/results/3" data-as="g">2200<' in rows[0]
    assert 'data-fact="analytes/4" data-as="above_m">2<' in rows[0]
    tests = scan_json(packs.client, can)["test_reports"]
    [plan] = [a for r in tests for a in r["data"]["analytes"] if "plan" in a]
    assert plan["plan"] == {"n": 5, "c": 2, "m": 1000, "M": 10000} and plan["results"] == [300, 1500, 800, 2200, 450]

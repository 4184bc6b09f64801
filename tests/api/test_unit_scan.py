"""Scanning a logistics label (issue 16, "Scan"): a pallet's or case's page with a staff key lists
its cases and cans down to serials with their lots, its path with places, the cold chain of the lots
inside and a banner when one of them is recalled; without a key it says only what it is. A can's
public page shows the case and pallet it travelled in, city-level. A place (414) shows its name to
anyone and what was received there to staff. Unknown keys stay 404 with their reason.

The story is recorded through the real path (signed events, ``recording.record_submissions``): a
lot shipment whose sites carry the plant's and the store's GLNs (so the places have names), six
cans of lot IF-0001 packed three to a case, both cases on a pallet shipped from the plant and
received at the store's dock; the two cans of lot IF/0002 in a case on a second pallet, and that
lot recalled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.labels import DigitalLink
from cradletrace.scanner_web.pages import strings
from tests.api.conftest import FORMULA, A, commission
from tests.api.test_scan import JSON, LOT, SLASH_LOT, Packs, packed_site, record
from tests.browser import screenshot, watched_page
from tests.test_logistics import CASE_GTIN, PLANT_GLN, SSCC, STORE_GLN

ZH, EN = strings()["zh"], strings()["en"]
SSCC2 = "10614141" + "123456790"
SSCC2 += str(gtin_check_digit(SSCC2))
UNKNOWN_SSCC = "10614141" + "999999999"
UNKNOWN_SSCC += str(gtin_check_digit(UNKNOWN_SSCC))
CHRISTCHURCH = {"lat": -43.5336, "lon": 172.6033, "country": "NZ"}
SHANGHAI = {"lat": 31.22222, "lon": 121.45806, "country": "CN"}  # GeoNames' Shanghai (not a district)


@dataclass
class Story:
    packs: Packs
    cans: list[DigitalLink]  # six cans of IF-0001: three in C1, three in C2, both on SSCC
    slash: list[DigitalLink]  # the two cans of IF/0002: in C3, on SSCC2 (lot recalled)


def unit(ref: str) -> dict[str, str]:
    return {"sscc": ref} if len(ref) == 18 and ref.isdigit() else {"gtin": CASE_GTIN, "serial": ref}


def tell(p: Packs) -> Story:
    """The story of the module's docstring, recorded on ``p``'s site."""
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    later = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    shipment = {
        "id": "GLN-SHIP-1",
        "lot": {"gtin": FORMULA, "lot": LOT},
        "quantity": 6,
        "unit": "can",
        "from_site": {"name": "Southern Alps Nutrition, dock 1", "address": "45 Kahu Rd, Christchurch"}
        | CHRISTCHURCH
        | {"gln": PLANT_GLN},
        "to_site": {"name": "Pudong store 12", "address": "88 Fute North Rd, Pudong, Shanghai"}
        | SHANGHAI
        | {"gln": STORE_GLN},
        "shipped_at": at,
    }
    cans = commission(p.settings, LOT, 6)

    def ev(kind: str, **data: Any) -> dict[str, object]:
        return {"kind": kind, "supplier": A, "data": data}

    c = [{"gtin": FORMULA, "serial": x.serial} for x in cans]
    s = [{"gtin": FORMULA, "serial": x.serial} for x in p.slash]
    dock = {"gln": STORE_GLN, "extension": "DOCK-2"}
    record(
        p.settings,
        [
            ev("shipment", **shipment),
            ev("pack", parent=unit("C1"), children=c[:3], at=at, place={"gln": PLANT_GLN}),
            ev("pack", parent=unit("C2"), children=c[3:], at=at, place={"gln": PLANT_GLN}),
            ev("pack", parent=unit(SSCC), children=[unit("C1"), unit("C2")], at=at, place={"gln": PLANT_GLN}),
            ev("move", action="ship", units=[unit(SSCC)], at=at, from_place={"gln": PLANT_GLN}),
            ev("move", action="receive", units=[unit(SSCC)], at=later, to_place=dock),
            ev("pack", parent=unit("C3"), children=s, at=at),
            ev("pack", parent=unit(SSCC2), children=[unit("C3")], at=at),
        ],
    )
    assert p.client.post("/api/v1/anchor", headers=p.site.auth("operator")).status_code == 200
    started = p.client.post(
        "/api/v1/recalls",
        headers=p.site.auth("quality"),
        json={"reason": "Cronobacter detected", "severity": "I", "lots": [f"{FORMULA}/{SLASH_LOT}"]},
    )
    assert started.status_code == 201, started.text
    return Story(p, cans, p.slash)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("unitscan") / "data")
    with packed_site(settings, scan_rate_per_minute=0) as p:
        yield tell(p)


def get(story: Story, path: str, who: str | None = None, **headers: str) -> Any:
    return story.packs.client.get(path, headers={**(story.packs.site.auth(who) if who else {}), **headers})


# -- a pallet, with and without a staff key ---------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_pallet_with_a_staff_key_lists_cases_cans_path_places_and_cold_chain(story: Story, lang: str) -> None:
    t = strings()[lang]
    r = get(story, f"/00/{SSCC}?lang={lang}", "quality")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    page = r.text
    assert "Authorization" in r.headers["vary"] and r.headers["cache-control"] == "no-store"
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}"' in page
    assert t["unit_pallet"] in page and t["unit_contents"] in page and t["unit_path"] in page
    for case in ("C1", "C2"):
        assert f"01/{CASE_GTIN}/21/{case}" in page
    for can in story.cans:
        assert f'data-code="01/{FORMULA}/21/{can.serial}"' in page
    assert page.count(f'<span class="lot">{LOT}</span>') == 2  # each case names its lot once
    assert f"2 {t['unit_cases']}, 6 {t['unit_cans']}" in page
    # The path: pack onto the pallet at the plant, shipped from there, received at the store's dock,
    # each with its place's recorded name, who and a verified badge.
    steps = page.split('class="record step"')[1:]
    assert [s.split('data-action="')[0] for s in steps] and len(steps) == 3
    assert all(x in page for x in ("Southern Alps Nutrition, dock 1", "Pudong store 12", f"GLN {STORE_GLN} / DOCK-2"))
    assert t["unit_act_receive"] in page and "Southern Alps Nutrition" in page
    assert page.count('data-status="VALID"') >= 3
    assert ("上海" if lang == "zh" else "Shanghai") in page.split('id="last-received"')[1].split("</dd>")[0]
    # The cold chain of the lot inside (the demo shipment's logger record, an excursion).
    assert 'class="record cold-chain"' in page and "<svg" in page
    # IF-0001 is not recalled, but held (the demo's failing test report): the hold is named.
    assert 'class="banner recall"' not in page and 'class="banner hold"' in page
    assert "ORD" not in page and "buyer" not in page


def test_the_same_facts_as_json_for_staff(story: Story) -> None:
    body = get(story, f"/00/{SSCC}", "quality", **JSON).json()
    assert body["kind"] == "pallet" and body["counts"] == {"cases": 2, "cans": 6}
    assert [c["code"] for c in body["contents"]] == [f"01/{CASE_GTIN}/21/C1", f"01/{CASE_GTIN}/21/C2"]
    serials = {x["serial"]: x["lot"] for c in body["contents"] for x in c["contents"]}
    assert serials == {can.serial: LOT for can in story.cans}
    assert [(s["action"], s["place"]["gln"], s["integrity"]) for s in body["path"]] == [
        ("pack", PLANT_GLN, "VALID"),
        ("ship", PLANT_GLN, "VALID"),
        ("receive", STORE_GLN, "VALID"),
    ]
    assert body["path"][2]["place"]["name"] == "Pudong store 12" and body["path"][2]["by"]
    assert body["last_received"]["place"]["extension"] == "DOCK-2"
    assert body["cold_chain"] and body["all_verified"] is True
    assert [(x["lot"], x["recall"], x["hold"]["reason"]) for x in body["lots"]] == [(LOT, None, "failed test report")]


def test_a_recalled_lot_inside_shows_a_recall_banner(story: Story) -> None:
    page = get(story, f"/00/{SSCC2}?lang=en", "operator").text
    assert 'class="banner recall"' in page and "Cronobacter detected" in page and SLASH_LOT in page
    assert all(f"01/{FORMULA}/21/{c.serial}" in page for c in story.slash)
    body = get(story, f"/00/{SSCC2}", "operator", **JSON).json()
    assert body["lots"][0]["lot"] == SLASH_LOT and body["lots"][0]["recall"]["reason"] == "Cronobacter detected"


@pytest.mark.parametrize("who", [None, "supplier_b"])
def test_without_a_staff_key_no_contents(story: Story, who: str | None) -> None:
    """Anyone, and a supplier that never handled the pallet (the farm), learns it is a pallet, no more."""
    for lang, t in (("zh", ZH), ("en", EN)):
        r = get(story, f"/00/{SSCC}?lang={lang}", who)
        assert r.status_code == 200 and t["unit_pallet"] in r.text and t["unit_staff_only"] in r.text
        leaks = [can.serial for can in story.cans] + ["C1", "C2", LOT, STORE_GLN, PLANT_GLN, "Pudong", "DOCK-2"]
        assert not [x for x in leaks if x in r.text], r.text
    body = get(story, f"/00/{SSCC}", who, **JSON).json()
    assert body == {"code": f"00/{SSCC}", "kind": "pallet", "contents": None, "note": body["note"]}


def test_the_plant_that_packed_it_reads_it_and_a_wrong_key_is_401(story: Story) -> None:
    assert get(story, f"/00/{SSCC}", "supplier_a", **JSON).json()["counts"] == {"cases": 2, "cans": 6}
    r = get(story, f"/00/{SSCC}", Authorization="Bearer ct_000000000000_" + "x" * 43)
    assert r.status_code == 401


def test_a_case_label_opens_the_case(story: Story) -> None:
    r = get(story, f"/01/{CASE_GTIN}/21/C1?lang=en", "quality")
    assert r.status_code == 200 and EN["unit_case"] in r.text, r.text
    assert all(f"01/{FORMULA}/21/{c.serial}" in r.text for c in story.cans[:3])
    assert not any(f"01/{FORMULA}/21/{c.serial}" in r.text for c in story.cans[3:])
    assert get(story, f"/01/{CASE_GTIN}/21/C1", **JSON).json()["contents"] is None


def test_head_answers_without_a_body(story: Story) -> None:
    head = story.packs.client.head(f"/00/{SSCC}", headers=story.packs.site.auth("quality"))
    assert (head.status_code, head.content) == (200, b"")
    assert story.packs.client.head(f"/00/{UNKNOWN_SSCC}").status_code == 404


def test_an_unknown_sscc_is_404_with_its_reason(story: Story) -> None:
    r = get(story, f"/00/{UNKNOWN_SSCC}", "quality", **JSON)
    assert (r.status_code, r.json()["detail"]) == (404, f"this server holds no pallet with SSCC {UNKNOWN_SSCC}")
    page = get(story, f"/00/{UNKNOWN_SSCC}?lang=en")
    assert page.status_code == 404 and f"this server holds no pallet with SSCC {UNKNOWN_SSCC}" in page.text


# -- a can's public page: the case and pallet it travelled in --------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_cans_public_page_shows_its_case_and_pallet(story: Story, lang: str) -> None:
    t = strings()[lang]
    can = story.cans[0]
    page = story.packs.client.get(can.path, params={"lang": lang}).text
    section = page.split('<section id="travelled">')[1].split("</section>")[0]
    assert t["travelled_title"] in page and f"01/{CASE_GTIN}/21/C1" in section and f"00/{SSCC}" in section
    assert ("上海" if lang == "zh" else "Shanghai") in section and "CN" in section
    assert not [x for x in (STORE_GLN, PLANT_GLN, "Pudong", "DOCK-2", A, "ORD") if x in section]
    body = story.packs.client.get(can.path, headers=JSON).json()
    assert [(x["kind"], x["code"]) for x in body["travelled_in"]] == [
        ("case", f"01/{CASE_GTIN}/21/C1"),
        ("pallet", f"00/{SSCC}"),
    ]
    assert body["travelled_in"][1]["last_location"] == {"city": "Shanghai", "city_zh": "上海", "country": "CN"}
    assert set(body["travelled_in"][1]) == {"kind", "code", "last_location", "received_on"}


def test_a_can_never_packed_shows_no_section(story: Story) -> None:
    page = story.packs.client.get(story.packs.cans[0].path).text
    assert 'id="travelled"' not in page
    assert story.packs.client.get(story.packs.cans[0].path, headers=JSON).json()["travelled_in"] == []


# -- a place --------------------------------------------------------------------------------------------


def test_a_place_public_and_for_staff(story: Story) -> None:
    public = get(story, f"/414/{STORE_GLN}?lang=en")
    assert public.status_code == 200 and "Pudong store 12" in public.text and EN["place_registered"] in public.text
    assert EN["place_staff_only"] in public.text and "Shanghai" not in public.text and "pallet" not in public.text
    assert get(story, f"/414/{STORE_GLN}", **JSON).json() == {"registered": True, "name": "Pudong store 12"}
    staff = get(story, f"/414/{STORE_GLN}?lang=zh", "operator")
    assert "上海" in staff.text and f"1 {ZH['unit_pallets']}, 2 {ZH['unit_cases']}, 6 {ZH['unit_items']}" in staff.text
    body = get(story, f"/414/{STORE_GLN}/254/DOCK-2", "quality", **JSON).json()
    assert body["received"] == {"pallet": 1, "case": 2, "item": 6} and body["extension"] == "DOCK-2"
    assert get(story, f"/414/{STORE_GLN}", "supplier_b", **JSON).json()["received"] == {}  # the farm holds none
    gln = "942190296009" + str(gtin_check_digit("942190296009"))
    r = get(story, f"/414/{gln}", **JSON)
    assert (r.status_code, r.json()["detail"]) == (404, f"this server holds no place with GLN {gln}")


# -- both stores ----------------------------------------------------------------------------------------


def test_the_pallet_page_and_the_cans_carriers_on_both_stores(tmp_path: Path, database_url: str | None) -> None:
    with packed_site(Settings(data_dir=tmp_path / "data", database_url=database_url), scan_rate_per_minute=0) as p:
        told = tell(p)
        body = get(told, f"/00/{SSCC}", "quality", **JSON).json()
        assert body["counts"] == {"cases": 2, "cans": 6} and body["all_verified"] is True
        assert [s["action"] for s in body["path"]] == ["pack", "ship", "receive"] and body["cold_chain"]
        assert get(told, f"/00/{SSCC2}", "quality", **JSON).json()["lots"][0]["recall"] is not None
        carriers = p.client.get(told.cans[4].path, headers=JSON).json()["travelled_in"]
        assert [(c["code"], (c["last_location"] or {}).get("city")) for c in carriers] == [
            (f"01/{CASE_GTIN}/21/C2", "Shanghai"),
            (f"00/{SSCC}", "Shanghai"),
        ]
        place = get(told, f"/414/{STORE_GLN}", "operator", **JSON).json()
        assert place["received"] == {"pallet": 1, "case": 2, "item": 6} and place["name"] == "Pudong store 12"


# -- in Chromium ----------------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_pallet_page_in_chromium(browser: Any, story: Story) -> None:
    """The staff page as a phone renders it (served by the app, strict CSP, no script), zh and en."""
    client, key = story.packs.client, story.packs.site.auth("quality")

    def serve(route: Any) -> None:
        url = route.request.url.split("://", 1)[1]
        r = client.get(url[url.index("/") :], headers={**key, **route.request.headers})
        route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    with watched_page(context) as page:
        page.route("http://pallet.test/**", serve)
        for lang in ("zh", "en"):
            page.goto(f"http://pallet.test/00/{SSCC}?lang={lang}")
            assert page.locator("#contents li.unit-item").count() == 6
            assert page.locator("#path .record.step").count() == 3
            assert page.locator("#cold-chain svg").count() >= 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            screenshot(page, f"scan-pallet-{lang}")
        page.goto(f"http://pallet.test/00/{SSCC2}?lang=en")
        assert page.locator(".banner.recall").count() == 1
        screenshot(page, "scan-pallet-recalled-en")

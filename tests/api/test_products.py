"""/api/v1/products: registering GTINs and naming their parties over HTTP, and the custody refusals
recording answers with (403, the reason naming the event, the supplier, the goods and the standing)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

from cradletrace.api.main import API_PREFIX
from cradletrace.core.codes import gtin_check_digit
from cradletrace.demo import story
from tests.api.conftest import MILK, A, B, Site, raw_milk, signed

P = API_PREFIX
FORMULA = "9421902960101" + str(gtin_check_digit("9421902960101"))


def new_gtin() -> str:
    body = f"1{uuid.uuid4().int % 10**12:012d}"
    return body + str(gtin_check_digit(body))


def test_the_operator_registers_a_product_and_its_owner_names_a_lab(site: Site) -> None:
    gtin = new_gtin()
    r = site.client.post(
        f"{P}/products", headers=site.auth("operator"), json={"gtin": gtin, "owner_id": B, "name": "Goat milk"}
    )
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("gtin", "owner_id", "name", "parties")} == {
        "gtin": gtin,
        "owner_id": B,
        "name": "Goat milk",
        "parties": [],
    }
    named = site.client.post(
        f"{P}/products/{gtin}/parties",
        headers=site.auth("supplier_b"),
        json={"supplier_id": "canterbury-lab", "role": "lab", "lot": "GM-1"},
    )
    assert named.status_code == 201, named.text
    assert named.json()["named_by"].startswith("api:farm") and named.json()["withdrawn_at"] is None
    mine = site.client.get(f"{P}/products", headers=site.auth("supplier_b")).json()
    assert {p["gtin"] for p in mine} == {MILK, gtin}  # a supplier key sees the products it owns
    [goat] = [p for p in mine if p["gtin"] == gtin]
    assert [(x["supplier_id"], x["role"], x["lot"]) for x in goat["parties"]] == [("canterbury-lab", "lab", "GM-1")]
    gone = site.client.delete(f"{P}/products/{gtin}/parties/{named.json()['id']}", headers=site.auth("supplier_b"))
    assert gone.status_code == 200 and gone.json()["withdrawn_by"].startswith("api:farm")
    assert (
        site.client.delete(
            f"{P}/products/{gtin}/parties/{named.json()['id']}", headers=site.auth("supplier_b")
        ).status_code
        == 404
    )


def test_a_supplier_key_cannot_name_parties_for_a_gtin_it_does_not_own(site: Site) -> None:
    r = site.client.post(
        f"{P}/products/{FORMULA}/parties", headers=site.auth("supplier_b"), json={"supplier_id": B, "role": "maker"}
    )
    assert r.status_code == 403
    assert r.json()["detail"] == (
        f"not allowed: product {FORMULA} belongs to 'alps-nutrition'; expected its owner or the "
        f"operator to name its parties, got supplier '{B}'"
    )


def test_bad_input_is_422_naming_the_field_and_an_unknown_gtin_is_404(site: Site) -> None:
    op = site.auth("operator")
    for body, field in (
        ({"gtin": "123", "owner_id": A, "name": "x"}, "body.gtin"),
        ({"gtin": FORMULA[:-1] + str((int(FORMULA[-1]) + 1) % 10), "owner_id": A, "name": "x"}, "gtin"),
        ({"gtin": new_gtin(), "owner_id": "pacific-cold", "name": "x"}, "owner"),
        ({"gtin": FORMULA, "owner_id": B, "name": "Mine now"}, "gtin"),
    ):
        r = site.client.post(f"{P}/products", headers=op, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    for body, field in (
        ({"supplier_id": "canterbury-lab", "role": "auditor"}, "body.role"),
        ({"supplier_id": "pacific-cold", "role": "lab"}, "supplier_id"),
        ({"supplier_id": "canterbury-lab", "role": "lab", "lot": "bad lot"}, "lot"),
    ):
        r = site.client.post(f"{P}/products/{FORMULA}/parties", headers=op, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    unknown = new_gtin()
    r = site.client.post(
        f"{P}/products/{unknown}/parties", headers=op, json={"supplier_id": "canterbury-lab", "role": "lab"}
    )
    assert (
        r.status_code == 404
        and r.json()["detail"] == f"product '{unknown}': expected a registered GTIN, got one that is not registered"
    )


def test_recording_another_brands_goods_is_403_with_the_reason(site: Site) -> None:
    before = site.event_count()
    event = raw_milk(1, B)[0]
    event["data"]["product"] = {"gtin": FORMULA, "name": "Stage 1 infant formula 800 g"}  # type: ignore[index]
    lot = event["data"]["lot"]  # type: ignore[index]
    r = site.client.post(
        f"{P}/events", headers=site.auth("supplier_b"), content=json.dumps(signed(site.settings, [event])).encode()
    )
    assert r.status_code == 403
    assert r.json()["detail"] == (
        f"events[0]: supplier '{B}' may not make lot {FORMULA}/{lot}: GTIN {FORMULA} belongs to "
        "'alps-nutrition'; expected its owner or a maker it named"
    )
    # Still a 403, and its problem names the field whose goods are not B's (a form shows it there).
    assert r.json()["field"] == "events[0].data.product"
    assert r.json()["problems"] == [
        {"field": "events[0].data.product", "message": r.json()["detail"].removeprefix("events[0]: ")}
    ]
    assert site.event_count() == before


def test_the_operator_designates_an_official_lab_which_reports_on_any_lot(site: Site) -> None:
    op = site.auth("operator")
    made = site.client.post(
        f"{P}/suppliers",
        headers=op,
        json={"name": "National Food Lab", "role": "lab", "id": "national-lab", "official_lab": True},
    )
    assert made.status_code == 201 and made.json()["supplier"]["official_lab"] is True, made.text
    farm = site.client.post(
        f"{P}/suppliers", headers=op, json={"name": "Odd Farm", "role": "farm", "id": "odd-farm", "official_lab": True}
    )
    assert farm.status_code == 422 and farm.json()["field"] == "official_lab", farm.text
    assert site.client.get(f"{P}/suppliers/odd-farm", headers=op).status_code == 404  # nothing stored
    assert not list(site.settings.keys_dir.glob("odd-farm.*"))
    report = copy.deepcopy(story(datetime.now(UTC))[3])  # the passing report, on the plant's IF-0001
    report["supplier"] = "national-lab"
    key = site.client.post(
        f"{P}/api-keys", headers=op, json={"name": "nl", "role": "supplier", "supplier_id": "national-lab"}
    )
    lab = {"Authorization": f"Bearer {key.json()['secret']}"}
    r = site.client.post(f"{P}/events", headers=lab, content=json.dumps(signed(site.settings, [report])).encode())
    assert r.status_code == 201, r.text

"""The logistics records over HTTP: each new kind recorded through POST /api/v1/events, a buyer's
pseudonym from POST /api/v1/buyers, and a move verified like any other event (docs/logistics.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from cradletrace import apikeys, suppliers
from cradletrace.store.models import BuyerContact, EventRow
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, A, Site, commission, signed
from tests.test_logistics import CASE_GTIN, PLANT_GLN, SSCC, STORE_GLN

P = "/api/v1"
BRAND = "mama-brand"


def post(site: Site, who: str, events: list[dict[str, Any]]) -> Any:
    r = site.client.post(
        f"{P}/events", headers=site.auth(who), content=json.dumps(signed(site.settings, events)).encode()
    )
    assert r.status_code == 201, r.text
    return r.json()["events"]


def test_pack_move_unpack_and_sell_over_http(site: Site) -> None:
    with Workspace(site.settings) as ws, ws.session() as s:
        suppliers.add_supplier(
            s,
            site.settings.keys_dir,
            "Mama Brand",
            "brand",
            [suppliers.CertificationIn.parse("BRC;B-1;SGS;2027-12-31")],
            BRAND,
        )
        site.secrets["brand"] = apikeys.create_key(s, "brand", "supplier", BRAND)[1]
    cans = [link.serial for link in commission(site.settings, "IF-0001", 2)]
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    case = {"gtin": CASE_GTIN, "serial": "HTTP-1"}
    pallet = {"sscc": SSCC}
    kinds = [
        {
            "kind": "pack",
            "supplier": A,
            "data": {"parent": case, "children": [{"gtin": FORMULA, "serial": c} for c in cans], "at": at},
        },
        {"kind": "pack", "supplier": A, "data": {"parent": pallet, "children": [case], "at": at}},
        {
            "kind": "move",
            "supplier": A,
            "data": {
                "action": "ship",
                "units": [pallet],
                "at": at,
                "from_place": {"gln": PLANT_GLN},
                "consignee": BRAND,
            },
        },
    ]
    assert [e["kind"] for e in post(site, "supplier_a", kinds)] == ["pack", "pack", "move"]
    received = {"gln": STORE_GLN, "extension": "BACK-ROOM"}
    brand = [
        {
            "kind": "move",
            "supplier": BRAND,
            "data": {"action": "receive", "units": [pallet], "at": at, "to_place": received},
        },
        {"kind": "unpack", "supplier": BRAND, "data": {"parent": pallet, "children": [case], "at": at}},
    ]
    assert [e["kind"] for e in post(site, "brand", brand)] == ["move", "unpack"]

    r = site.client.post(
        f"{P}/buyers",
        headers=site.auth("brand"),
        json={"member_id": "m-881", "contact": "m881@example.org", "consent": True},
    )
    assert r.status_code == 200, r.text
    buyer = r.json()["buyer"]
    assert len(buyer) == 64 and r.json()["contact_kept"] is True
    again = site.client.post(f"{P}/buyers", headers=site.auth("brand"), json={"member_id": "m-881"}).json()["buyer"]
    assert again == buyer
    refused = site.client.post(
        f"{P}/buyers", headers=site.auth("brand"), json={"member_id": "m-2", "contact": "x@example.org"}
    )
    assert refused.status_code == 422 and "consent" in refused.text
    sold = post(
        site,
        "brand",
        [{"kind": "sale", "supplier": BRAND, "data": {"unit": case, "order": "WEB-55", "buyer": buyer, "sold_at": at}}],
    )
    assert sold[0]["kind"] == "sale"

    # The plant's key may not ask for pseudonyms; the move verifies like every other event.
    assert site.client.post(f"{P}/buyers", headers=site.auth("supplier_a"), json={"member_id": "m"}).status_code == 403
    site.client.post(f"{P}/anchor", headers=site.auth("operator"))
    with Workspace(site.settings) as ws, ws.session() as s:
        move_id = s.exec(select(EventRow.id).where(EventRow.kind == "move")).first()
        assert "m881" not in "".join(s.exec(select(EventRow.body)).all())
        assert b"m881" not in s.exec(select(BuyerContact.contact)).one()
    check = site.client.get(f"{P}/events/{move_id}/verify", headers=site.auth("operator"))
    assert check.status_code == 200 and check.json()["status"] == "VALID", check.text

"""A shipment with its documents over POST /api/v1/events: the farm ships a lot it made with its
customs declaration and health certificate; the stored event keeps them as signed; a bad document
is refused naming its field, and nothing is stored."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cradletrace.core.events import SHIPMENT_DOCUMENT_KINDS
from tests.api.conftest import MILK, B, Site, raw_milk, signed

P = "/api/v1"


def _post(site: Site, items: object) -> Any:
    return site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=json.dumps(items).encode())


def _shipment_of(lot: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    farm = {"name": "Waikato Dairy, shed 3", "address": "1208 Te Rapa Rd, Hamilton", "lat": -37.7394, "lon": 175.2215}
    port = {"name": "Port of Tauranga", "address": "Hull Rd, Mount Maunganui", "lat": -37.6417, "lon": 176.1815}
    return {
        "kind": "shipment",
        "supplier": B,
        "data": {
            "id": f"SHIP-{lot}",
            "lot": {"gtin": MILK, "lot": lot},
            "quantity": 18000,
            "unit": "kg",
            "from_site": farm,
            "to_site": port,
            "shipped_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "documents": documents,
        },
    }


def _doc(kind: str, text: str, **extra: str) -> dict[str, str]:
    sha = hashlib.sha256(text.encode()).hexdigest()
    return {"kind": kind, "sha256": sha, "uri": f"https://docs.example.com/supplier/documents/{sha}", **extra}


def test_a_shipment_with_its_documents_is_recorded_as_signed(site: Site) -> None:
    batch = raw_milk(1, B)[0]
    assert _post(site, signed(site.settings, [batch])).status_code == 201
    lot = str(batch["data"]["lot"])  # type: ignore[index]
    docs = [
        _doc("customs_declaration", "declaration"),
        _doc("health_certificate", "health", title="MPI dairy certificate NZ-77"),
    ]
    before = site.event_count()
    bad = _shipment_of(lot, copy.deepcopy(docs))
    bad["data"]["documents"][1]["kind"] = "invoice"
    r = _post(site, signed(site.settings, [bad]))
    assert r.status_code == 422 and r.json()["field"] == "events[0].data.documents[1].kind", r.json()
    assert all(kind in r.json()["problems"][0]["message"] for kind in SHIPMENT_DOCUMENT_KINDS)
    assert site.event_count() == before

    r = _post(site, signed(site.settings, [_shipment_of(lot, docs)]))
    assert r.status_code == 201, r.text
    got = site.client.get(f"{P}/events/{r.json()['events'][0]['id']}", headers=site.auth("supplier_b")).json()
    assert got["event"]["kind"] == "shipment" and got["event"]["data"]["documents"] == docs

"""The key log over HTTP: the routes that register or revoke a key add its record, the key log's
pseudo-supplier is not listed among suppliers, its id cannot be taken, a "key" event cannot be
submitted, and its records are no lot's: absent from the scan page and from traces."""

from __future__ import annotations

import base64
import json

from sqlmodel import col, select

from cradletrace import keylog
from cradletrace.core import signing
from cradletrace.core.events import KEY_LOG_SUPPLIER
from cradletrace.store.models import EventRow
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, MILK, B, Site, commission, key_file, sign_with

P = "/api/v1"


def key_records(site: Site) -> list[dict[str, object]]:
    with Workspace(site.settings) as ws, ws.session() as s:
        bodies = s.exec(select(EventRow.body).where(EventRow.kind == "key").order_by(col(EventRow.id))).all()
    return [json.loads(b)["data"] for b in bodies]


def test_registering_and_revoking_a_key_over_http_adds_its_records(site: Site) -> None:
    pair = signing.generate_key_pair()
    r = site.client.post(
        f"{P}/suppliers/{B}/public-keys",
        headers=site.auth("supplier_b"),
        json={"public_key": base64.b64encode(pair.public_key).decode()},
    )
    assert r.status_code == 201, r.text
    r = site.client.post(f"{P}/suppliers/{B}/keys/{pair.key_id}/revoke", headers=site.auth("operator"))
    assert r.status_code == 200, r.text
    mine = [(d["action"], d["supplier"]) for d in key_records(site) if d["key_id"] == pair.key_id]
    assert mine == [("register", B), ("revoke", B)]
    with Workspace(site.settings) as ws, ws.session() as s:
        history = keylog.key_records(s, [pair.key_id])[pair.key_id]
    assert history.registration is not None and history.revocation is not None


def test_the_key_log_is_no_supplier_to_list_and_its_id_is_reserved(site: Site) -> None:
    listed = site.client.get(f"{P}/suppliers", headers=site.auth("operator"))
    assert listed.status_code == 200 and KEY_LOG_SUPPLIER not in {s["id"] for s in listed.json()}
    assert {s["role"] for s in listed.json()} <= {"farm", "plant", "lab", "logistics", "brand"}
    taken = site.client.post(
        f"{P}/suppliers",
        headers=site.auth("operator"),
        json={"name": "Impostor", "role": "farm", "id": KEY_LOG_SUPPLIER, "certifications": []},
    )
    assert taken.status_code == 422 and taken.json()["field"] == "id", taken.text
    assert "reserved for the key log" in taken.text
    rotate = site.client.post(f"{P}/suppliers/{KEY_LOG_SUPPLIER}/keys", headers=site.auth("operator"))
    assert rotate.status_code == 403 and "key log's own signer" in rotate.text, rotate.text


def test_a_key_event_cannot_be_submitted(site: Site) -> None:
    kid, pem = key_file(site.settings, B)
    data = next(d for d in key_records(site) if d["key_id"] == kid)
    event = {"kind": "key", "supplier": B, "key": kid, "data": {**data, "backfilled": True}}
    before = site.event_count()
    r = site.client.post(
        f"{P}/events", headers=site.auth("supplier_b"), content=json.dumps([sign_with(pem, event)]).encode()
    )
    assert r.status_code == 422 and "key log" in r.text, r.text
    assert site.event_count() == before


def test_key_records_are_absent_from_a_lots_scan_page_and_its_trace(site: Site) -> None:
    assert key_records(site)  # there are some to leave out
    [can] = commission(site.settings, "IF-0001", 1)
    page = site.client.get(can.path)
    body = site.client.get(can.path, headers={"Accept": "application/json"})
    assert page.status_code == 200 and body.status_code == 200
    for text in (page.text, body.text):
        assert KEY_LOG_SUPPLIER not in text and '"kind": "key"' not in text and '"kind":"key"' not in text
    for direction, lot in (("forward", f"{MILK}/RM-A1"), ("backward", f"{FORMULA}/IF-0001")):
        r = site.client.get(f"{P}/trace/{direction}", params={"lot": lot}, headers=site.auth("quality"))
        assert r.status_code == 200 and KEY_LOG_SUPPLIER not in r.text, r.text

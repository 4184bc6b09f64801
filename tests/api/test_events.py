"""Recording over HTTP: only as one's own supplier, with a valid signature, all or nothing."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.api.errors import INVALID_EVENTS
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.events import MAX_READINGS
from cradletrace.recording import MAX_EVENTS
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, Site, key_file, open_site, raw_milk, sign_with, signed
from tests.builders import if1_cold_chain

P = "/api/v1"


@pytest.fixture
def any_site(tmp_path: object, database_url: str | None) -> Iterator[Site]:
    """A fresh site on SQLite and on PostgreSQL."""
    from pathlib import Path

    with open_site(Settings(data_dir=Path(str(tmp_path)) / "data", database_url=database_url)) as s:
        yield s


def post(site: Site, who: str, items: object) -> object:
    return site.client.post(f"{P}/events", headers=site.auth(who), content=json.dumps(items).encode())


def test_a_supplier_never_writes_as_another(site: Site) -> None:
    before = site.event_count()
    b_event = raw_milk(1, B)[0]
    # B's event with B's valid signature, sent with A's key.
    r = post(site, "supplier_a", signed(site.settings, [b_event]))
    assert r.status_code == 403
    assert r.json() == {
        "detail": "not allowed: a supplier key records only events of its own supplier; events[0].supplier names another",
        "field": "events[0].supplier",
        "problems": [{"field": "events[0].supplier", "message": f"expected {A!r} (the key's supplier), got {B!r}"}],
    }
    # Hidden in a bulk: the index of the foreign event is named.
    mixed = signed(site.settings, [*raw_milk(2, B)]) + signed(site.settings, [raw_milk(1, B)[0]])
    r = post(site, "supplier_b", [*mixed[:2], {**mixed[2], "event": {**mixed[2]["event"], "supplier": A}}])  # type: ignore[dict-item]
    assert r.status_code == 403 and r.json()["field"] == "events[2].supplier"
    # Claiming to be A, but signed with B's key (B's key id, B's signature): the key is not A's.
    b_kid, b_pem = key_file(site.settings, B)
    as_a = {**copy.deepcopy(b_event), "supplier": A, "key": b_kid}
    r = post(site, "supplier_a", [sign_with(b_pem, as_a)])
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"events[0]: key '{b_kid}' belongs to supplier '{B}'")
    # Claiming A's key id, but the signature is B's: it does not verify.
    a_kid, _ = key_file(site.settings, A)
    r = post(site, "supplier_a", [sign_with(b_pem, {**as_a, "key": a_kid})])
    assert r.status_code == 422 and r.json()["field"] == "events[0].signature"
    assert site.event_count() == before


def test_unsigned_event_is_refused(site: Site) -> None:
    r = post(site, "supplier_b", raw_milk(1, B))
    assert r.status_code == 422
    assert r.json()["detail"] == INVALID_EVENTS and r.json()["field"] == "events[0].signature"


def test_bulk_is_all_or_nothing(any_site: Site) -> None:
    site = any_site
    before = site.event_count()
    items = signed(site.settings, raw_milk(500, B))
    bad = copy.deepcopy(items)
    bad[317]["event"]["data"]["quantity"] = 1  # type: ignore[index]  # changed after signing
    r = post(site, "supplier_b", bad)
    assert r.status_code == 422
    body = r.json()
    assert body["detail"] == INVALID_EVENTS
    assert body["field"] == "events[317].signature"
    assert [p["field"] for p in body["problems"]] == ["events[317].signature"]
    assert site.event_count() == before

    r = post(site, "supplier_b", items)
    assert r.status_code == 201, r.text
    assert r.json()["count"] == 500
    assert site.event_count() == before + 500
    # Page through them: pending, B's, 200 at a time.
    seen: list[int] = []
    after = None
    while True:
        page = site.client.get(
            f"{P}/events",
            headers=site.auth("supplier_b"),
            params={"pending": True, "limit": 200, **({"after": after} if after else {})},
        ).json()
        seen += [e["id"] for e in page["items"]]
        assert all(e["anchoring"]["status"] == "pending" for e in page["items"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == sorted(seen) and set(seen) >= {e["id"] for e in r.json()["events"]}


def test_more_than_the_bulk_limit_is_refused(site: Site) -> None:
    r = post(site, "supplier_b", [{"event": {}, "signature": "x"}] * (MAX_EVENTS + 1))
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"field": "events", "message": f"expected at most {MAX_EVENTS} events, got {MAX_EVENTS + 1}"}
    ]


def test_cold_chain_readings_over_the_cap_are_refused_naming_the_cap(site: Site) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    readings = [{"at": (start + timedelta(minutes=i)).isoformat(), "c": 4.0} for i in range(MAX_READINGS + 1)]
    kid, pem = key_file(site.settings, A)
    event = if1_cold_chain(kid, readings)
    before = site.event_count()
    r = post(site, "supplier_a", [sign_with(pem, event)])
    assert r.status_code == 422
    (problem,) = [p for p in r.json()["problems"] if "readings" in (p["field"] or "")]
    assert f"at most {MAX_READINGS}" in problem["message"], r.json()
    assert site.event_count() == before


def test_ten_thousand_events_in_one_request(site: Site) -> None:
    items = signed(site.settings, raw_milk(MAX_EVENTS, B))
    body = json.dumps(items).encode()
    assert len(body) < site.settings.api_max_bulk_body
    before = site.event_count()
    r = site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=body)
    assert r.status_code == 201, r.text[:500]
    assert site.event_count() == before + MAX_EVENTS


def test_strict_json_duplicate_keys_refused(site: Site) -> None:
    r = site.client.post(
        f"{P}/events",
        headers=site.auth("supplier_b"),
        content=b'{"event": {"kind": "batch"}, "event": {}, "signature": "x"}',
    )
    assert r.status_code == 422 and r.json()["detail"] == "invalid input"


def test_event_shows_its_way_to_the_chain(site: Site) -> None:
    op, b = site.auth("operator"), site.auth("supplier_b")
    site.client.post(f"{P}/anchor", headers=op)  # nothing else pending from other tests
    rec = post(site, "supplier_b", signed(site.settings, raw_milk(1, B))).json()["events"][0]  # type: ignore[attr-defined]
    for ref in (str(rec["id"]), rec["digest"], rec["digest"][:12]):
        got = site.client.get(f"{P}/events/{ref}", headers=b).json()
        assert got["id"] == rec["id"] and got["anchoring"] == {
            "status": "pending",
            **dict.fromkeys(
                ("batch_id", "root", "leaf_count", "chain_id", "contract", "block_number", "block_time", "tx_hash")
            ),
        }
        assert got["event"]["supplier"] == B
    verdict = site.client.get(f"{P}/events/{rec['id']}/verify", headers=b).json()
    assert verdict["status"] == "PENDING"
    r = site.client.get(f"{P}/events/{rec['id']}/proof", headers=b)
    assert (
        r.status_code == 409
        and r.json()["detail"]
        == f"event {rec['id']} is not anchored yet; its proof exists once its root is confirmed on chain"
    )
    # An interrupted anchoring run: the root is prepared, not yet on chain.
    with Workspace(site.settings) as ws, Session(ws.engine) as s:
        runtime = site.client.app.state.runtime  # type: ignore[attr-defined]
        anchoring.prepare_batch(s, runtime.chain())
        s.commit()
    got = site.client.get(f"{P}/events/{rec['id']}", headers=b).json()["anchoring"]
    assert got["status"] == "prepared" and got["root"] and got["tx_hash"] is None
    run = site.client.post(f"{P}/anchor", headers=op).json()
    assert run["events"] == 1 and run["anchored"][0]["recovered"] is True
    got = site.client.get(f"{P}/events/{rec['id']}", headers=b).json()["anchoring"]
    assert got["status"] == "anchored" and got["tx_hash"].startswith("0x") and got["block_number"] > 0
    assert got["root"] == run["anchored"][0]["root"]
    assert site.client.get(f"{P}/events/{rec['id']}/verify", headers=b).json()["status"] == "VALID"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"kind": "party"}, "query.kind"),
        ({"after": -1}, "query.after"),
        ({"pending": "perhaps"}, "query.pending"),
    ],
)
def test_list_filters_are_validated(site: Site, params: dict[str, object], problem: str) -> None:
    r = site.client.get(f"{P}/events", headers=site.auth("operator"), params=params)
    assert r.status_code == 422
    assert r.json()["detail"] == "invalid input" and r.json()["field"] == problem


def test_list_filters(site: Site) -> None:
    op = site.auth("operator")
    page = site.client.get(f"{P}/events", headers=op, params={"lot": "IF-0001", "kind": "test_report"}).json()
    assert [e["outcome"] for e in page["items"]] == ["pass", "fail"]
    assert {e["supplier_id"] for e in page["items"]} == {"canterbury-lab"}
    anchored = site.client.get(f"{P}/events", headers=op, params={"pending": False, "supplier": "pacific-cold"}).json()
    assert {e["kind"] for e in anchored["items"]} == {"shipment", "cold_chain"}
    assert all(e["anchoring"]["status"] == "anchored" for e in anchored["items"])


@pytest.mark.parametrize(
    ("ref", "status", "detail"),
    [
        ("999999", 404, "event '999999': not in the store"),
        ("not-an-id", 422, "invalid input"),
    ],
)
def test_unknown_or_malformed_event(site: Site, ref: str, status: int, detail: str) -> None:
    r = site.client.get(f"{P}/events/{ref}", headers=site.auth("operator"))
    assert (r.status_code, r.json()["detail"]) == (status, detail)


def test_a_supplier_registers_its_own_public_key_and_signs_with_it(site: Site) -> None:
    """The private key is made on the supplier's machine and never reaches the server."""
    pair = signing.generate_key_pair()
    public = base64.b64encode(pair.public_key).decode()
    url = f"{P}/suppliers/{A}/public-keys"
    assert (
        site.client.post(
            f"{P}/suppliers/{B}/public-keys", headers=site.auth("supplier_a"), json={"public_key": public}
        ).status_code
        == 403
    )  # not for another supplier
    r = site.client.post(url, headers=site.auth("supplier_a"), json={"public_key": public})
    assert r.status_code == 201 and (r.json()["key_id"], r.json()["supplier_id"]) == (pair.key_id, A)
    assert "private" not in r.text.lower()
    again = site.client.post(url, headers=site.auth("operator"), json={"public_key": public})
    assert again.status_code == 422 and again.json()["field"] == "public_key" and pair.key_id in again.text
    weak = [
        base64.b64encode(bytes.fromhex(h)).decode()
        for h in ("01" + "00" * 31, "ec" + "ff" * 30 + "7f", "ee" + "ff" * 30 + "7f")
    ]
    for bad in ("not base64!", base64.b64encode(b"short").decode(), *weak):  # weak: identity, order 2, y = p + 1
        r = site.client.post(url, headers=site.auth("operator"), json={"public_key": bad})
        assert r.status_code == 422 and r.json()["field"] == "public_key", r.text
    before = site.event_count()
    event = {**raw_milk(1, A)[0], "key": pair.key_id}
    r = post(site, "supplier_a", [sign_with(pair.private_pem, event)])
    assert r.status_code == 201, r.text
    assert site.event_count() == before + 1
    assert not list(site.settings.keys_dir.glob(f"*{pair.key_id}*"))  # no copy of the private key here

"""Logistics units in the signed record (docs/logistics.md): cans packed into cases and cases onto
pallets, pallets shipped and received by SSCC at GLN places, cans and cases sold to pseudonymous
members; their rules, custody and stored state, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from cradletrace import recording, sales, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.events import parse_event
from cradletrace.core.labels import serial_from_bytes
from cradletrace.demo import FORMULA, story
from cradletrace.errors import InvalidEventError, NotAllowedError
from cradletrace.sealing import Sealer
from cradletrace.store.models import BuyerContact, EventRow, Item, Sale, Unit, UnitEvent
from cradletrace.workspace import Workspace, init_workspace
from tests.cli.test_cli import run
from tests.conftest import NOW, add_demo_suppliers

Record = Callable[..., list[recording.RecordedEvent]]
CASE_GTIN = "1" + FORMULA[1:13] + str(gtin_check_digit("1" + FORMULA[1:13]))
SSCC = "10614141" + "123456789"
SSCC += str(gtin_check_digit(SSCC))
PLANT_GLN = "942190296000" + str(gtin_check_digit("942190296000"))
STORE_GLN = "942190296001" + str(gtin_check_digit("942190296001"))
PLANT, CARRIER, BRAND, RIVAL = "alps-nutrition", "pacific-cold", "mama-brand", "rival-cold"
AT = (NOW - timedelta(hours=1)).isoformat()
BUYER = "ab" * 32


def event(kind: str, supplier: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "supplier": supplier, "data": data}


def can(serial: str) -> dict[str, str]:
    return {"gtin": FORMULA, "serial": serial}


def case(serial: str) -> dict[str, str]:
    return {"gtin": CASE_GTIN, "serial": serial}


PALLET = {"sscc": SSCC}


def pack(supplier: str, parent: dict[str, str], children: list[dict[str, str]], kind: str = "pack") -> dict[str, Any]:
    return event(kind, supplier, parent=parent, children=children, at=AT)


def ship(supplier: str, units: list[dict[str, str]], consignee: str | None = None) -> dict[str, Any]:
    out = event("move", supplier, action="ship", units=units, at=AT, from_place={"gln": PLANT_GLN})
    if consignee:
        out["data"] |= {"consignee": consignee, "to_place": {"gln": STORE_GLN}}
    return out


def receive(supplier: str, units: list[dict[str, str]], extension: str | None = "DOCK-2") -> dict[str, Any]:
    place: dict[str, str] = {"gln": STORE_GLN} | ({"extension": extension} if extension else {})
    return event("move", supplier, action="receive", units=units, at=AT, to_place=place)


def sale(supplier: str, unit: dict[str, str], order: str = "ORD-1", buyer: str = BUYER) -> dict[str, Any]:
    return event("sale", supplier, unit=unit, order=order, buyer=buyer, sold_at=AT)


def commission_cans(workspace: Workspace, record: Record, events: list[dict[str, Any]]) -> list[str]:
    """The demo's formula lot (IF-0001, by the plant), six cans of it commissioned, and a brand and a
    rival logistics provider registered."""
    with workspace.session() as s:
        for sid, role, cert in (
            (BRAND, "brand", "BRC;B-1;SGS;2027-12-31"),
            (RIVAL, "logistics", "HACCP;H-1;BV;2027-12-31"),
        ):
            suppliers.add_supplier(
                s, workspace.settings.keys_dir, sid, role, [suppliers.CertificationIn.parse(cert)], sid
            )
    record(events[:3])
    serials = [serial_from_bytes(os.urandom(10)) for _ in range(6)]
    record([event("commission", PLANT, lot={"gtin": FORMULA, "lot": "IF-0001"}, serials=serials, commissioned_at=AT)])
    return serials


@pytest.fixture
def cans(workspace: Workspace, record: Record, events: list[dict[str, Any]]) -> list[str]:
    return commission_cans(workspace, record, events)


def problems(record: Record, evs: list[dict[str, Any]]) -> dict[str, str]:
    with pytest.raises(InvalidEventError) as caught:
        record(evs)
    return {p.where: p.message for p in caught.value.problems}


def refusal(record: Record, evs: list[dict[str, Any]]) -> str:
    with pytest.raises(NotAllowedError) as caught:
        record(evs)
    return str(caught.value)


def units(ws: Workspace) -> dict[str, Unit]:
    with ws.session() as s:
        return {u.code: u for u in s.exec(select(Unit))}


def test_identifiers_and_shapes_are_checked_naming_the_field() -> None:
    def bad(kind: str, data: dict[str, Any]) -> dict[str, str]:
        body = json.dumps({"kind": kind, "supplier": PLANT, "key": "0" * 16, "data": data}).encode()
        with pytest.raises(InvalidEventError) as caught:
            parse_event(body)
        return {p.where: p.message for p in caught.value.problems}

    wrong_sscc = SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10)
    assert bad("pack", {"parent": {"sscc": wrong_sscc}, "children": [can("A")], "at": AT}) == {
        "event.data.parent.sscc": f"expected check digit {SSCC[-1]} for SSCC {SSCC[:-1]}…, got {wrong_sscc[-1]}"
    }
    wrong_gln = STORE_GLN[:-1] + str((int(STORE_GLN[-1]) + 1) % 10)
    found = bad("move", {"action": "receive", "units": [PALLET], "at": AT, "to_place": {"gln": wrong_gln}})
    assert list(found) == ["event.data.to_place.gln"] and "check digit" in found["event.data.to_place.gln"]
    assert bad("pack", {"parent": PALLET, "children": [can("A"), can("A")], "at": AT}) == {
        "event.data.children[1]": f"expected each unit once, got 01/{FORMULA}/21/A again (children[0])"
    }
    assert "event.data.children[0]" in bad("pack", {"parent": case("C"), "children": [PALLET], "at": AT})
    assert bad("move", {"action": "ship", "units": [PALLET], "at": AT}) == {
        "event.data.from_place": "expected the place shipped from, got nothing"
    }
    assert bad("sale", {"unit": PALLET, "order": "O-1", "buyer": BUYER, "sold_at": AT}) == {
        "event.data.unit": "expected a can or a case (GTIN and serial), got a pallet"
    }
    assert "event.data.buyer" in bad("sale", {"unit": can("A"), "order": "O-1", "buyer": "member-17", "sold_at": AT})
    site = {"name": "Store", "address": "1 Main St", "lat": 0.0, "lon": 0.0, "gln_extension": "D1"}
    assert "event.data.from_site.gln" in bad(
        "shipment",
        {
            "id": "S",
            "lot": {"gtin": FORMULA, "lot": "L"},
            "quantity": 1,
            "unit": "kg",
            "from_site": site,
            "to_site": site,
            "shipped_at": AT,
        },
    )


def test_cans_to_cases_to_pallet_shipped_received_unpacked_and_sold(
    workspace: Workspace, record: Record, cans: list[str]
) -> None:
    rows = record(
        [
            pack(PLANT, case("C1"), [can(s) for s in cans[:3]]),
            pack(PLANT, case("C2"), [can(s) for s in cans[3:]]),
            pack(PLANT, PALLET, [case("C1"), case("C2")]),
            ship(PLANT, [PALLET], consignee=CARRIER),
        ]
    )
    assert [r.kind for r in rows] == ["pack", "pack", "pack", "move"]
    assert rows[0].ref == f"01/{CASE_GTIN}/21/C1" and rows[2].ref == f"00/{SSCC}" and rows[3].outcome == "ship"
    state = units(workspace)
    assert state[f"01/{FORMULA}/21/{cans[0]}"].parent == f"01/{CASE_GTIN}/21/C1"
    assert state[f"01/{CASE_GTIN}/21/C1"].parent == f"00/{SSCC}"
    assert state[f"01/{CASE_GTIN}/21/C1"].packed_event_id == rows[2].id
    assert {u.consignee for u in state.values()} == {CARRIER}
    assert state[f"01/{FORMULA}/21/{cans[0]}"].lot_id is not None

    # Only the consignee (or holder) receives; receiving gives custody of everything inside.
    assert "may not receive 00/" in refusal(record, [receive(RIVAL, [PALLET])])
    got = record([receive(CARRIER, [PALLET])])[0]
    state = units(workspace)
    assert all(
        (u.holder, u.gln, u.gln_extension, u.received_event_id) == (CARRIER, STORE_GLN, "DOCK-2", got.id)
        for u in state.values()
    )
    # The plant handed it over: it may no longer take the pallet apart.
    assert f"may not unpack 00/{SSCC}: expected custody of it (held by '{CARRIER}'" in refusal(
        record, [pack(PLANT, PALLET, [case("C1")], kind="unpack")]
    )

    # Ship on to the brand, which receives, takes a case off the pallet and sells a can and a case.
    record([ship(CARRIER, [PALLET], consignee=BRAND), receive(BRAND, [PALLET], extension=None)])
    rows = record(
        [
            pack(BRAND, PALLET, [case("C1")], kind="unpack"),
            sale(BRAND, can(cans[0]), order="WEB-1001"),
            sale(BRAND, case("C2"), order="WEB-1002", buyer="cd" * 32),
        ]
    )
    state = units(workspace)
    assert state[f"01/{CASE_GTIN}/21/C1"].parent is None and state[f"01/{CASE_GTIN}/21/C1"].packed_event_id is None
    assert state[f"01/{FORMULA}/21/{cans[0]}"].parent is None  # sold out of its case
    assert state[f"01/{FORMULA}/21/{cans[0]}"].sold_event_id == rows[1].id
    with workspace.session() as s:
        sold = {(x.code, x.order_ref, x.lot_id is not None) for x in s.exec(select(Sale))}
        lot_id = s.exec(select(Item.lot_id).where(Item.serial == cans[0])).one()
        path = [
            e for (e,) in s.execute(select(UnitEvent.event_id).where(UnitEvent.code == f"01/{FORMULA}/21/{cans[3]}"))
        ]
    assert sold == {
        (f"01/{FORMULA}/21/{cans[0]}", "WEB-1001", True),
        (f"01/{CASE_GTIN}/21/C2", "WEB-1002", False),
        *((f"01/{FORMULA}/21/{c}", "WEB-1002", True) for c in cans[3:]),
    }
    assert lot_id is not None
    assert len(path) == 7  # packed, palletised, shipped, received, shipped, received, sold (in its case)

    # Sold is sold; unpacking what is not in the parent names the child.
    assert problems(record, [sale(BRAND, can(cans[0]), order="WEB-1003")]) == {
        "events[0].data.unit": f"expected a unit not sold, got 01/{FORMULA}/21/{cans[0]}, sold (event {rows[1].id})"
    }
    assert problems(record, [pack(BRAND, case("C1"), [can(cans[3])], kind="unpack")]) == {
        "events[0].data.children[0]": f"expected a unit packed in 01/{CASE_GTIN}/21/C1, got 01/{FORMULA}/21/{cans[3]}, "
        f"which is in 01/{CASE_GTIN}/21/C2"
    }


def test_a_child_is_in_one_parent_and_custody_is_checked(
    workspace: Workspace, record: Record, cans: list[str], events: list[dict[str, Any]]
) -> None:
    first = record([pack(PLANT, case("C1"), [can(cans[0]), can(cans[1])])])[0]
    found = problems(record, [pack(PLANT, case("C2"), [can(cans[2]), can(cans[1])])])
    assert found == {
        "events[0].data.children[1]": f"expected a unit in no other, got 01/{FORMULA}/21/{cans[1]}, which is in "
        f"01/{CASE_GTIN}/21/C1 (event {first.id}); unpack it from there first"
    }
    # Within one submission too, naming the earlier event.
    found = problems(record, [pack(PLANT, case("C3"), [can(cans[4])]), pack(PLANT, case("C4"), [can(cans[4])])])
    assert "events[0] of this submission" in found["events[1].data.children[0]"]
    # A case holds cans; a can is not a parent; an unknown code is neither.
    assert (
        "a case holds cans" in problems(record, [pack(PLANT, case("C5"), [case("C1")])])["events[0].data.children[0]"]
    )
    assert (
        "a commissioned can" in problems(record, [pack(PLANT, can(cans[5]), [can(cans[4])])])["events[0].data.parent"]
    )
    assert (
        "which is neither"
        in problems(record, [pack(PLANT, case("C6"), [can("UNKNOWN1")])])["events[0].data.children[0]"]
    )
    # Custody: another logistics provider packs neither the plant's cans nor into its case.
    assert "may not pack 01/" in refusal(record, [pack(RIVAL, case("R1"), [can(cans[3])])])
    assert "may not pack into 01/" in refusal(record, [pack(RIVAL, case("C1"), [can(cans[3])])])
    assert "may not ship 01/" in refusal(record, [ship(RIVAL, [case("C1")])])
    assert "may not sell 01/" in refusal(record, [sale(BRAND, can(cans[3]))])
    # Role: a lab neither packs nor sells; only a brand sells.
    assert "expected one of plant, brand, logistics to record pack" in refusal(
        record, [pack("canterbury-lab", case("L1"), [can(cans[3])])]
    )
    assert "expected one of brand to record sale" in refusal(record, [sale(PLANT, can(cans[3]))])
    # The unknown consignee is a problem of the field.
    assert problems(record, [ship(PLANT, [case("C1")], consignee="nobody-here")]) == {
        "events[0].data.consignee": "expected a registered supplier, got 'nobody-here'"
    }
    assert set(units(workspace)) == {f"01/{CASE_GTIN}/21/C1", *(f"01/{FORMULA}/21/{c}" for c in cans[:2])}
    # Receiving a unit gives custody of its cans' lot: the rival may then ship the lot on.
    onward = {**events[5], "supplier": RIVAL, "data": {**events[5]["data"], "id": "RIVAL-1"}}
    assert "may not ship lot" in refusal(record, [onward])
    record([ship(PLANT, [can(cans[5])], consignee=RIVAL), receive(RIVAL, [can(cans[5])])])
    assert [r.kind for r in record([onward])] == ["shipment"]


def test_buyer_pseudonyms_are_keyed_and_contacts_sealed_off_the_record(
    workspace: Workspace, record: Record, cans: list[str]
) -> None:
    settings = workspace.settings
    key = sales.member_key(settings)
    sealer = Sealer(os.urandom(32))
    with workspace.session() as s:
        one = sales.register_buyer(s, key, sealer, BRAND, "member-17", "+64 21 555 0199", True, NOW)
        again = sales.register_buyer(s, key, sealer, BRAND, "member-17", None, True, NOW)
        other_brand = sales.register_buyer(s, key, sealer, "other-brand", "member-17", None, None, NOW)
        s.commit()
    assert one == again == sales.pseudonym(key, BRAND, "member-17") and other_brand != one and len(one) == 64
    assert sales.pseudonym(os.urandom(32), BRAND, "member-17") != one  # the key makes it
    assert (settings.keys_dir / sales.MEMBER_KEY_FILE).stat().st_mode & 0o077 == 0
    record([ship(PLANT, [can(cans[0])], consignee=BRAND), receive(BRAND, [can(cans[0])])])
    record([sale(BRAND, can(cans[0]), order="WEB-7", buyer=one)])
    with workspace.session() as s:
        body = s.exec(select(EventRow.body).where(EventRow.kind == "sale")).one()
        sealed = s.exec(select(BuyerContact.contact)).one()
        assert sales.buyer_contact(s, sealer, one) == "+64 21 555 0199"
        dump = "\n".join(str(v) for row in s.execute(select(EventRow)) for v in row)
    assert json.loads(body)["data"] == {"unit": can(cans[0]), "order": "WEB-7", "buyer": one, "sold_at": AT}
    assert b"555" not in sealed and "member-17" not in dump and "555 0199" not in dump and key.hex() not in dump
    with workspace.session() as s:  # withdrawing consent deletes the contact
        sales.register_buyer(s, key, sealer, BRAND, "member-17", None, False, NOW)
        s.commit()
        assert sales.buyer_contact(s, sealer, one) is None


def test_a_move_verifies_with_cradletrace_verify(tmp_path: Path) -> None:
    """A new kind is checked like every other: its digest, signature and Merkle proof to the anchored root."""
    settings = Settings(data_dir=tmp_path / "data")
    ws, chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            add_demo_suppliers(s, settings.keys_dir)
        now = datetime.now(UTC)
        serials = [serial_from_bytes(os.urandom(10)) for _ in range(2)]
        at = (now - timedelta(minutes=1)).isoformat()
        bare: list[Any] = [
            *story(now)[:3],
            event("commission", PLANT, lot={"gtin": FORMULA, "lot": "IF-0001"}, serials=serials, commissioned_at=at),
            {
                **pack(PLANT, PALLET, [can(x) for x in serials]),
                "data": {"parent": PALLET, "children": [can(x) for x in serials], "at": at},
            },
            {
                **ship(PLANT, [PALLET]),
                "data": {"action": "ship", "units": [PALLET], "at": at, "from_place": {"gln": PLANT_GLN}},
            },
        ]
        with ws.session() as s:
            items = recording.sign_submissions(
                recording.read_submissions(bare), recording.key_loader(s, settings.keys_dir), ws.limits
            )
            rows = recording.record_submissions(s, items, now)
        anchoring.anchor_pending(lambda: Session(ws.engine, expire_on_commit=False), chain)
    move = next(r for r in rows if r.kind == "move")
    p = run(tmp_path, "verify", str(move.id), "--data-dir", str(settings.data_dir))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "VALID"

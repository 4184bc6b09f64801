"""The logistics records in EPCIS, both ways (trace/epcis/profile.py): AggregationEvent ADD / DELETE
is pack / unpack, shipping and receiving of SSCCs at GLNs is a move, ``retail_selling`` a sale; a lot's
export carries them and validates against GS1's schema, and reads back to the same events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cradletrace import recording
from cradletrace.epcis.capture import import_document
from cradletrace.epcis.export import export_lot
from cradletrace.epcis.read import from_epcis, kind_of
from cradletrace.epcis.validation import prefixes, validate
from cradletrace.errors import InvalidEpcisError
from cradletrace.store.models import EventRow, Unit
from cradletrace.workspace import Workspace
from tests.conftest import NOW
from tests.test_logistics import (
    AT,
    BRAND,
    BUYER,
    CARRIER,
    CASE_GTIN,
    PALLET,
    PLANT,
    SSCC,
    STORE_GLN,
    can,
    case,
    commission_cans,
    pack,
    receive,
    sale,
    ship,
)

Record = Callable[..., list[recording.RecordedEvent]]
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
GS1 = Path(__file__).parents[1] / "vectors" / "epcis" / "gs1"


def document(*events: dict[str, Any]) -> str:
    return json.dumps(
        {
            "@context": CONTEXT,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": AT,
            "epcisBody": {"eventList": list(events)},
        }
    )


def aggregation(action: str, cans: list[str]) -> dict[str, Any]:
    """GS1's own style: the parent as an EPC URN, the children as Digital Link on another host."""
    company, rest = SSCC[1:8], SSCC[0] + SSCC[8:17]
    return {
        "type": "AggregationEvent",
        "eventTime": AT,
        "eventTimeZoneOffset": "+00:00",
        "parentID": f"urn:epc:id:sscc:{company}.{rest}",
        "childEPCs": [f"https://example.org/01/{can(c)['gtin']}/21/{c}" for c in cans],
        "action": action,
        "bizStep": "packing" if action == "ADD" else "unpacking",
        "bizLocation": {"id": f"urn:epc:id:sgln:{STORE_GLN[:7]}.{STORE_GLN[7:12]}.DOCK-2"},
    }


@pytest.fixture
def cans(workspace: Workspace, record: Record, events: list[dict[str, Any]]) -> list[str]:
    return commission_cans(workspace, record, events)


def capture(ws: Workspace, text: str) -> list[recording.RecordedEvent]:
    with ws.session() as s:
        rows = import_document(s, ws.settings.keys_dir, ws.limits, text, PLANT, NOW)
        s.commit()
    return rows


def test_an_aggregation_add_then_delete_is_captured_as_pack_then_unpack(workspace: Workspace, cans: list[str]) -> None:
    [packed] = capture(workspace, document(aggregation("ADD", cans[:2])))
    assert packed.kind == "pack" and packed.ref == f"00/{SSCC}"
    with workspace.session() as s:
        body = json.loads(s.exec(select(EventRow.body).where(EventRow.id == packed.id)).one())
        inside = set(s.exec(select(Unit.code).where(Unit.parent == f"00/{SSCC}")))
    assert body["data"] == {
        "parent": PALLET,
        "children": [can(c) for c in cans[:2]],
        "at": AT,
        "place": {"gln": STORE_GLN, "extension": "DOCK-2"},
    }
    assert inside == {f"01/{can(c)['gtin']}/21/{c}" for c in cans[:2]}
    [unpacked] = capture(workspace, document(aggregation("DELETE", cans[:1])))
    assert unpacked.kind == "unpack"
    with workspace.session() as s:
        assert set(s.exec(select(Unit.code).where(Unit.parent == f"00/{SSCC}"))) == {
            f"01/{can(cans[1])['gtin']}/21/{cans[1]}"
        }
    # Deleting what is not aggregated names the child, pointing into the document.
    with pytest.raises(InvalidEpcisError) as caught:
        capture(workspace, document({**aggregation("DELETE", cans[2:3]), "eventTime": "2026-11-25T11:00:00Z"}))
    assert [p.where for p in caught.value.problems] == ["/epcisBody/eventList/0"]
    assert "expected a unit packed in 00/" in caught.value.problems[0].message
    # An SSCC with a wrong check digit is refused naming the field.
    wrong = {
        **aggregation("ADD", cans[3:4]),
        "parentID": f"https://id.gs1.org/00/{SSCC[:-1]}{(int(SSCC[-1]) + 1) % 10}",
    }
    with pytest.raises(InvalidEpcisError) as caught:
        capture(workspace, document(wrong))
    assert "parent.sscc: expected check digit" in caught.value.problems[0].message


def test_a_lots_export_carries_packs_moves_and_sales_and_reads_back(
    workspace: Workspace, record: Record, cans: list[str]
) -> None:
    recorded = [
        pack(PLANT, case("E1"), [can(c) for c in cans[:2]]),
        {
            **pack(PLANT, PALLET, [case("E1")]),
            "data": {**pack(PLANT, PALLET, [case("E1")])["data"], "place": {"gln": STORE_GLN}},
        },
        ship(PLANT, [PALLET], consignee=CARRIER),
        receive(CARRIER, [PALLET]),
        ship(CARRIER, [PALLET], consignee=BRAND),
        receive(BRAND, [PALLET], extension=None),
        pack(BRAND, PALLET, [case("E1")], kind="unpack"),
        sale(BRAND, case("E1"), order="WEB-77"),
    ]
    rows = record(recorded)
    with workspace.session() as s:
        doc = export_lot(s, "IF-0001", NOW)
    assert validate(json.loads(json.dumps(doc))) == []
    ours = {r.id for r in rows}
    with workspace.session() as s:
        bodies = {r.id: json.loads(r.body) for r in s.exec(select(EventRow)) if r.id in ours}
    exported = doc["epcisBody"]["eventList"][-len(rows) :]  # the lot's history ends with them, in order
    assert [e["type"] for e in exported] == ["AggregationEvent"] * 2 + ["ObjectEvent"] * 4 + [
        "AggregationEvent",
        "ObjectEvent",
    ]
    known = prefixes(doc)
    back = [
        from_epcis(e, known, "/x", ev["supplier"], ev["key"], workspace.limits)
        for e, ev in zip(exported, (bodies[r.id] for r in rows))
    ]
    assert back == [bodies[r.id] for r in rows]
    sold = exported[-1]
    assert sold["bizStep"] == "retail_selling" and sold["ct:buyer"] == BUYER
    assert sold["bizTransactionList"][0]["bizTransaction"].endswith("/order/WEB-77")
    assert sold["epcList"] == [f"https://id.gs1.org/01/{CASE_GTIN}/21/E1"]
    assert exported[3]["bizLocation"] == {"id": f"https://id.gs1.org/414/{STORE_GLN}/254/DOCK-2"}


def test_gs1s_aggregation_example_as_add_maps_to_a_pack() -> None:
    """GS1's own example 9.6.3 (EPC URNs, an SGLN bizLocation): observed, it is no record of ours;
    as ADD it is a pack of those SGTINs onto that SSCC at that GLN."""
    doc = json.loads((GS1 / "Example_9.6.3-AggregationEvent.jsonld").read_text("utf-8"))
    [observed] = doc["epcisBody"]["eventList"]
    known = prefixes(doc)
    assert kind_of(observed, known) is None
    added = {k: v for k, v in observed.items() if k != "childQuantityList"} | {"action": "ADD"}
    assert kind_of(added, known) == "pack"
    data = from_epcis(added, known, "/e", PLANT, "0" * 16, {})["data"]
    assert data["parent"] == {"sscc": "106141412345678908"}
    assert data["children"] == [{"gtin": "10614141073464", "serial": s} for s in ("2017", "2018")]
    assert data["place"] == {"gln": "0614141008889"}
    assert kind_of({**added, "action": "DELETE"}, known) == "unpack"

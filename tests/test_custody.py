"""Signed is not authorized: who may say what about which goods (cradletrace.custody), on SQLite and
PostgreSQL. Each rule: the hostile event, well signed by its own supplier, is refused (NotAllowedError,
403 over HTTP) with nothing stored; the legitimate one is recorded.

The workspace (tests/conftest.py) holds the demo's four suppliers, the milk owned by the farm and the
formula owned by the plant, which named canterbury-lab its lab and pacific-cold its carrier.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from cradletrace import products, recording, suppliers
from cradletrace.core import canonical
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.labels import serial_from_bytes
from cradletrace.demo import FORMULA, MILK
from cradletrace.epcis.capture import import_document
from cradletrace.errors import InvalidEventError, NotAllowedError
from cradletrace.store.models import EventRow, Hold, Item, Lot, Shipment
from cradletrace.workspace import Workspace
from tests.conftest import NOW

Events = list[dict[str, Any]]
Record = Callable[..., list[recording.RecordedEvent]]
RAW_A, RAW_B, BATCH, PASSING, FAILING, SHIPMENT, COLD = range(7)
CERT = {
    "brand": "BRC;B-1;SGS;2027-12-31",
    "plant": "ISO 22000;P-1;SGS;2027-12-31",
    "lab": "ISO/IEC 17025;L-1;IANZ;2027-12-31",
    "logistics": "HACCP;H-1;BV;2027-12-31",
}
PROFILE = Path(__file__).parent / "vectors" / "epcis" / "profile"


@pytest.fixture
def rivals(workspace: Workspace) -> Workspace:
    """Registered, certified, with their own keys, but with no standing for the demo's goods."""
    with workspace.session() as s:
        for sid, role in (
            ("rival-brand", "brand"),
            ("rival-plant", "plant"),
            ("rival-lab", "lab"),
            ("rival-cold", "logistics"),
            ("shanghai-dist", "logistics"),
        ):
            suppliers.add_supplier(
                s, workspace.settings.keys_dir, sid, role, [suppliers.CertificationIn.parse(CERT[role])], sid
            )
    return workspace


def stored(ws: Workspace) -> dict[str, int]:
    with ws.session() as s:
        return {
            m.__name__: s.exec(select(func.count()).select_from(m)).one() for m in (EventRow, Lot, Shipment, Item, Hold)
        }


# The field a custody refusal names (the goods the supplier has no standing for), so a form shows it there.
REFUSED_AT = {"batch": "product", "test_report": "batch", "cold_chain": "shipment"}


def refused(ws: Workspace, record: Record, evs: Events, *fragments: str) -> str:
    """Record ``evs`` (one event): refused with NotAllowedError naming each fragment, and nothing
    stored; its one problem names the field the refusal is about (REFUSED_AT, else ``data.lot``)."""
    before = stored(ws)
    with pytest.raises(NotAllowedError) as caught:
        record(evs)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    [problem] = caught.value.problems
    kind = evs[0]["kind"] if evs[0]["data"].get("shipment") or evs[0]["kind"] != "cold_chain" else "a lot's"
    assert problem.where == f"events[0].data.{REFUSED_AT.get(kind, 'lot')}", (problem, kind)
    assert problem.message in str(caught.value), (problem, str(caught.value))
    assert stored(ws) == before
    return str(caught.value)


def commission(supplier: str, gtin: str, lot: str, n: int = 2) -> dict[str, Any]:
    return {
        "kind": "commission",
        "supplier": supplier,
        "data": {
            "lot": {"gtin": gtin, "lot": lot},
            "serials": [serial_from_bytes(os.urandom(10)) for _ in range(n)],
            "commissioned_at": NOW.isoformat(),
        },
    }


def by(supplier: str, event: dict[str, Any], **data: Any) -> dict[str, Any]:
    """``event`` as ``supplier`` says it, with ``data`` fields replaced."""
    out = copy.deepcopy(event)
    out["supplier"] = supplier
    out["data"].update(data)
    return out


def batch(events: Events, supplier: str, gtin: str, lot: str) -> dict[str, Any]:
    return by(
        supplier, events[BATCH], product={"gtin": gtin, "name": "Stage 1 infant formula 800 g"}, lot=lot, inputs=[]
    )


def shipment(events: Events, supplier: str, sid: str, lot: str, consignee: str | None = None) -> dict[str, Any]:
    out = by(supplier, events[SHIPMENT], id=sid, lot={"gtin": FORMULA, "lot": lot})
    if consignee:
        out["data"]["consignee"] = consignee
    return out


def test_commission_into_another_brands_lot_is_refused(rivals: Workspace, record: Record, events: Events) -> None:
    record(events[: BATCH + 1])
    why = refused(
        rivals,
        record,
        [commission("rival-brand", FORMULA, "IF-0001")],
        f"events[0]: supplier 'rival-brand' may not commission codes into lot {FORMULA}/IF-0001",
        "belongs to 'alps-nutrition'",
    )
    assert "expected its owner or the lot's maker if it is a named maker" in why
    assert len(record([commission("alps-nutrition", FORMULA, "IF-0001")])) == 1


def test_batch_under_another_companys_gtin_is_refused(rivals: Workspace, record: Record, events: Events) -> None:
    refused(
        rivals,
        record,
        [batch(events, "rival-plant", FORMULA, "IF-FAKE")],
        f"events[0]: supplier 'rival-plant' may not make lot {FORMULA}/IF-FAKE: GTIN {FORMULA} belongs to "
        "'alps-nutrition'; expected its owner or a maker it named",
    )
    # The farm owns the milk, not the formula: its own role allows batches, its standing does not.
    refused(rivals, record, [batch(events, "waikato-dairy", FORMULA, "IF-FAKE")], "may not make lot")
    assert len(record([batch(events, "alps-nutrition", FORMULA, "IF-0009")])) == 1


def test_batch_of_an_unregistered_gtin_is_refused_saying_how_to_register(
    rivals: Workspace, record: Record, events: Events
) -> None:
    gtin = "0942190296020" + str(gtin_check_digit("0942190296020"))
    refused(
        rivals,
        record,
        [batch(events, "alps-nutrition", gtin, "NEW-1")],
        f"GTIN {gtin} is not registered",
        f"'cradletrace product add {gtin} --owner SUPPLIER --name NAME'",
        "POST /api/v1/products",
    )
    with rivals.session() as s:
        products.add_product(s, gtin, "alps-nutrition", "Stage 2 formula", NOW)
    assert len(record([batch(events, "alps-nutrition", gtin, "NEW-1")])) == 1


def test_a_named_maker_may_make_and_commission(rivals: Workspace, record: Record, events: Events) -> None:
    refused(rivals, record, [batch(events, "rival-plant", FORMULA, "CO-1")], "may not make lot")
    with rivals.session() as s:
        products.name_party(s, FORMULA, "rival-plant", "maker", None, "alps-nutrition", NOW)
    assert [
        r.kind
        for r in record([batch(events, "rival-plant", FORMULA, "CO-1"), commission("rival-plant", FORMULA, "CO-1")])
    ] == ["batch", "commission"]
    # A named maker may not commission into a lot another plant made; the owner may commission into any.
    record(events[: BATCH + 1])
    refused(rivals, record, [commission("rival-plant", FORMULA, "IF-0001")], "may not commission codes into lot")
    assert len(record([commission("alps-nutrition", FORMULA, "CO-1")])) == 1
    # Withdrawn: no more lots from that plant (who and when are kept).
    with rivals.session() as s:
        party = products.withdraw_party(
            s, FORMULA, "rival-plant", "maker", None, "alps-nutrition", NOW + timedelta(days=1)
        )
        assert (party.withdrawn_by, party.withdrawn_at is not None) == ("alps-nutrition", True)
    refused(rivals, record, [batch(events, "rival-plant", FORMULA, "CO-2")], "may not make lot")


def test_shipment_of_another_companys_lot_is_refused(rivals: Workspace, record: Record, events: Events) -> None:
    record(events[: BATCH + 1])
    refused(
        rivals,
        record,
        [shipment(events, "rival-cold", "X-1", "IF-0001")],
        f"events[0]: supplier 'rival-cold' may not ship lot {FORMULA}/IF-0001: expected custody of it",
    )
    # The plant made it (and owns it); its named carrier moves it.
    assert (
        len(
            record(
                [
                    shipment(events, "alps-nutrition", "X-1", "IF-0001"),
                    shipment(events, "pacific-cold", "X-2", "IF-0001"),
                ]
            )
        )
        == 2
    )


def test_failing_report_and_excursion_on_a_competitors_lot_are_refused_and_hold_nothing(
    rivals: Workspace, record: Record, events: Events
) -> None:
    record(events[: BATCH + 1])
    refused(
        rivals,
        record,
        [by("rival-lab", events[FAILING])],
        f"events[0]: supplier 'rival-lab' may not report on lot {FORMULA}/IF-0001: expected a lab its owner "
        "('alps-nutrition') assigned to it, or an official lab",
    )
    excursion = by("rival-cold", events[COLD], lot={"gtin": FORMULA, "lot": "IF-0001"})
    del excursion["data"]["shipment"]
    refused(rivals, record, [excursion], "may not record the cold chain of lot")
    with rivals.session() as s:
        assert s.exec(select(Hold)).all() == []  # no "do not use" on the scan page
    # The lab the owner assigned reports, and its failing result holds the lot.
    [failing] = record([events[FAILING]])
    with rivals.session() as s:
        assert [h.trigger_event_id for h in s.exec(select(Hold))] == [failing.id]


def test_an_official_lab_may_report_on_any_lot(rivals: Workspace, record: Record, events: Events) -> None:
    record(events[: BATCH + 1])
    refused(rivals, record, [by("rival-lab", events[PASSING])], "may not report on lot")
    with rivals.session() as s:
        products.set_official_lab(s, "rival-lab")
    assert [r.lot for r in record([by("rival-lab", events[PASSING])])] == ["IF-0001"]
    assert len(record([by("rival-lab", events[PASSING], batch={"gtin": MILK, "lot": "RM-A1"})])) == 1  # any product


def test_the_consignee_of_a_recorded_shipment_may_ship_it_onward(
    rivals: Workspace, record: Record, events: Events
) -> None:
    record(events[: BATCH + 1])
    onward = shipment(events, "shanghai-dist", "SH-2", "IF-0001")
    refused(rivals, record, [onward], "'shanghai-dist' may not ship lot")
    # In one submission: the consignee of an earlier event holds the lot for the later ones.
    rows = record([shipment(events, "alps-nutrition", "SH-1", "IF-0001", consignee="shanghai-dist"), onward])
    assert [r.ref for r in rows] == ["SH-1", "SH-2"]
    with rivals.session() as s:
        assert s.get(Shipment, "SH-1").consignee == "shanghai-dist"  # type: ignore[union-attr]
        assert s.get(Shipment, "SH-2").consignee is None  # type: ignore[union-attr]
    # And later, from the store.
    assert len(record([shipment(events, "shanghai-dist", "SH-3", "IF-0001")])) == 1
    # The consignee's cold chain of the shipment it received; a stranger's is refused.
    cold = by("shanghai-dist", events[COLD], shipment="SH-1")
    refused(
        rivals,
        record,
        [by("rival-cold", events[COLD], shipment="SH-1")],
        "'rival-cold' may not record the cold chain of shipment 'SH-1'",
    )
    assert len(record([cold])) == 1


def test_a_consignee_must_be_a_registered_supplier(rivals: Workspace, record: Record, events: Events) -> None:
    record(events[: BATCH + 1])
    with pytest.raises(InvalidEventError) as caught:
        record([shipment(events, "alps-nutrition", "SH-9", "IF-0001", consignee="nobody-here")])
    assert [str(p) for p in caught.value.problems] == [
        "events[0].data.consignee: expected a registered supplier, got 'nobody-here'"
    ]


def test_a_carrier_named_for_lot_x_cannot_ship_lot_y(rivals: Workspace, record: Record, events: Events) -> None:
    record([*events[: BATCH + 1], batch(events, "alps-nutrition", FORMULA, "IF-0002")])
    with rivals.session() as s:
        products.name_party(s, FORMULA, "rival-cold", "carrier", "IF-0001", "alps-nutrition", NOW)
    refused(rivals, record, [shipment(events, "rival-cold", "RC-2", "IF-0002")], f"may not ship lot {FORMULA}/IF-0002")
    assert len(record([shipment(events, "rival-cold", "RC-1", "IF-0001")])) == 1


def test_refusals_and_problems_stay_together(rivals: Workspace, record: Record, events: Events) -> None:
    """A custody refusal next to a plain problem: one 422 naming both, in submission order (as before)."""
    record(events[: BATCH + 1])
    with pytest.raises(InvalidEventError) as caught:
        record(
            [shipment(events, "alps-nutrition", "OK-1", "IF-0404"), shipment(events, "rival-cold", "X-9", "IF-0001")]
        )
    lines = [str(p) for p in caught.value.problems]
    assert lines[0].startswith("events[0].data.lot: expected a recorded lot") and "IF-0404" in lines[0]
    assert lines[1].startswith("events[1].data.lot: supplier 'rival-cold' may not ship lot")


def test_epcis_import_keeps_the_custody_rules(rivals: Workspace, record: Record) -> None:
    """The farm's EPCIS document uploaded as the plant's: the plant does not own raw milk."""
    before = stored(rivals)
    with (
        rivals.session() as s,
        pytest.raises(NotAllowedError, match=f"supplier 'alps-nutrition' may not make lot {MILK}/"),
    ):
        import_document(
            s, rivals.settings.keys_dir, rivals.limits, (PROFILE / "farm.jsonld").read_bytes(), "alps-nutrition", NOW
        )
    assert stored(rivals) == before
    with rivals.session() as s:
        rows = import_document(
            s, rivals.settings.keys_dir, rivals.limits, (PROFILE / "farm.jsonld").read_bytes(), "waikato-dairy", NOW
        )
    assert [r.kind for r in rows] == ["batch", "batch"]


def test_a_supplier_key_cannot_name_parties_for_a_gtin_it_does_not_own(rivals: Workspace) -> None:
    with rivals.session() as s:
        with pytest.raises(NotAllowedError, match=f"not allowed: product {FORMULA} belongs to 'alps-nutrition'"):
            products.name_party(s, FORMULA, "rival-lab", "lab", None, "x", NOW, acting_for="rival-brand")
        products.name_party(s, FORMULA, "rival-lab", "lab", "IF-0001", "x", NOW, acting_for="alps-nutrition")


def test_a_huge_badly_signed_event_is_refused_before_it_is_parsed(
    rivals: Workspace, record: Record, events: Events, sign: Callable[[Events], list[recording.Submission]]
) -> None:
    """20 000 readings (the cap is 100 000), all at one instant, which the parse would report: only the
    signature problem is reported, so the parse never ran; an unknown key id is refused the same way."""
    record(events[: BATCH + 1] + events[SHIPMENT : SHIPMENT + 1])
    huge = copy.deepcopy(events[COLD])
    huge["data"]["readings"] = [{"at": NOW.isoformat(), "c": 4.0}] * 20_000
    [good] = sign([events[COLD]])
    forged = recording.Submission({**huge, "key": good.event["key"]}, good.signature)  # type: ignore[dict-item]
    unknown = recording.Submission({**huge, "key": "0" * 16}, good.signature)  # type: ignore[dict-item]
    for item, where, message in (
        (forged, "events[0].signature", "does not verify"),
        (unknown, "events[0]", "key '0000000000000000' is not registered"),
    ):
        started = time.perf_counter()
        with pytest.raises((InvalidEventError, NotAllowedError)) as caught:
            record([item])
        took = time.perf_counter() - started
        problems = caught.value.problems
        assert len(problems) == 1 and where in str(problems[0]) and message in str(problems[0]), problems
        assert took < 5, took
    # Well signed, the same body is parsed and its readings named.
    [signed] = sign([huge])
    with pytest.raises(InvalidEventError) as caught:
        record([signed])
    assert len(caught.value.problems) == 1 and "readings[1].at" in caught.value.problems[0].where


def test_a_recorded_shipment_event_without_consignee_keeps_its_hash(events: Events) -> None:
    """The new optional field is absent from old events' canonical form: their digests do not change."""
    body = canonical.canonical_bytes({**events[SHIPMENT], "key": "0" * 16})
    assert b"consignee" not in body
    assert json.loads(body)["data"].keys() == events[SHIPMENT]["data"].keys()

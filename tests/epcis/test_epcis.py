"""EPCIS 2.0: validation against GS1's schema and the CBV lists, capture (all or nothing, duplicates
by CBV hash), export of a lot's history and a recall's scope, round trips both ways, the CLI."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from cradletrace.cli import app
from cradletrace.core.canonical import parse_json
from cradletrace.core.epcishash import document_hashes
from cradletrace.core.testreport import parse_limits_table
from cradletrace.epcis import validation
from cradletrace.epcis.capture import import_document, map_document
from cradletrace.epcis.export import export_lot, export_recall
from cradletrace.epcis.profile import CONTEXT, to_epcis
from cradletrace.epcis.read import from_epcis
from cradletrace.errors import DuplicateEpcisError, InvalidInputError
from cradletrace.recall import recalls
from cradletrace.store.models import EpcisEvent, EventRow
from cradletrace.workspace import Workspace
from tests.conftest import NOW

VECTORS = Path(__file__).parent.parent / "vectors" / "epcis"
GS1 = sorted((VECTORS / "gs1").glob("*.jsonld"))
PROFILE = {name: VECTORS / "profile" / f"{name}.jsonld" for name in ("farm", "plant", "lab")}
UPLOADER = {"farm": "waikato-dairy", "plant": "alps-nutrition", "lab": "canterbury-lab"}
FORMULA, MILK = "94219029601016", "94219029600019"


def _doc(name: str) -> dict[str, Any]:
    return json.loads(PROFILE[name].read_text("utf-8"))


def _gs1(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / "gs1" / name).read_text("utf-8"))


def _import(ws: Workspace, name: str, doc: dict[str, Any] | None = None, supplier: str | None = None) -> list[Any]:
    text = json.dumps(doc) if doc is not None else PROFILE[name].read_bytes()
    with ws.session() as s:
        rows = import_document(s, ws.settings.keys_dir, ws.limits, text, supplier or UPLOADER[name], NOW)
        s.commit()
    return rows


def _count(ws: Workspace) -> tuple[int, int]:
    with ws.session() as s:
        return (
            int(s.exec(select(func.count()).where(EventRow.kind != "key")).one()),  # the suppliers' events
            int(s.exec(select(func.count()).select_from(EpcisEvent)).one()),
        )


def _events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for _, e in validation.events_of(doc)]


# -- validation --------------------------------------------------------------------------------

# GS1's own example with a key twice: our strict parser refuses it before the schema sees it.
DEFECTIVE = {"AssociationEvent_AssociationEvent-h.jsonld": "eventID: expected each key once, got it twice"}


@pytest.mark.parametrize("path", GS1, ids=lambda p: p.name)
def test_every_gs1_example_validates(path: Path) -> None:
    if path.name in DEFECTIVE:
        with pytest.raises(InvalidInputError, match=DEFECTIVE[path.name]):
            parse_json(path.read_bytes())
        assert (
            validation.validate(json.loads(path.read_text("utf-8"))) == []
        )  # the schema itself has nothing against it
        return
    assert validation.validate(parse_json(path.read_bytes())) == []


@pytest.mark.parametrize("path", PROFILE.values(), ids=lambda p: p.name)
def test_our_profile_examples_validate(path: Path) -> None:
    assert validation.validate(parse_json(path.read_bytes())) == []


E0 = "/epcisBody/eventList/0"
LIMITS = parse_limits_table(
    json.loads(files("cradletrace").joinpath("data", "limits-infant-formula.json").read_text("utf-8"))
)
BROKEN: list[tuple[Callable[[dict[str, Any]], object], str, str]] = [
    (lambda e: e.pop("eventTimeZoneOffset"), E0, "expected property 'eventTimeZoneOffset', got none"),
    (lambda e: e.update(action="PUT"), E0 + "/action", 'expected one of OBSERVE, ADD, DELETE, got "PUT"'),
    (lambda e: e.update(eventTime="yesterday"), E0 + "/eventTime", "date-time with offset (RFC 3339)"),
    (lambda e: e.update(eventTime="2005-13-03T20:33:31Z"), E0 + "/eventTime", "RFC 3339"),
    (lambda e: e.update(readPoint={"id": "not a uri"}), E0 + "/readPoint/id", "absolute URI (RFC 3986)"),
    (lambda e: e.update(foo=1), E0 + "/foo", "extension named by a URI"),
    (lambda e: e.update(epcList="urn:epc:id:sgtin:0614141.107346.2017"), E0 + "/epcList", "expected array"),
    (lambda e: e.update(eventTimeZoneOffset="+25:00"), E0 + "/eventTimeZoneOffset", "expected text matching"),
    (
        lambda e: e["bizTransactionList"][0].update(extra="x"),
        E0 + "/bizTransactionList/0",
        "expected no other properties",
    ),
    (lambda e: e.update(bizStep="shipping_out"), E0 + "/bizStep", "expected a CBV 2.0 business step"),
    (
        lambda e: e.update(disposition="https://ref.gs1.org/cbv/Disp-lost"),
        E0 + "/disposition",
        "expected a CBV 2.0 disposition",
    ),
    (lambda e: e.update(bizStep="cbv:BizStep-bogus"), E0 + "/bizStep", "got 'cbv:BizStep-bogus'"),
    (
        lambda e: e.update(bizStep="urn:epcglobal:cbv:bizstep:shipping"),
        E0 + "/bizStep",
        "expected a CBV 2.0 business step",
    ),
    (
        lambda e: e["bizTransactionList"][0].update(type="purchase"),
        E0 + "/bizTransactionList/0/type",
        "business transaction type",
    ),
    (
        lambda e: e.update(sensorElementList=[{"sensorReport": [{"type": "Temperatur", "value": 4}]}]),
        E0 + "/sensorElementList/0/sensorReport/0/type",
        "expected a CBV 2.0 measurement type",
    ),
]


@pytest.mark.parametrize(("mutate", "where", "reason"), BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_broken_documents_name_the_pointer_and_the_reason(
    mutate: Callable[[dict[str, Any]], object], where: str, reason: str
) -> None:
    doc = _gs1("Example_9.6.1-ObjectEvent.jsonld")
    mutate(doc["epcisBody"]["eventList"][0])
    problems = validation.validate(doc)
    assert [p.where for p in problems] == [where], problems
    assert reason in problems[0].message


@pytest.mark.parametrize(
    "value",
    [
        "shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
        "https://steps.example.com/blending",
    ],
)
def test_business_steps_in_every_cbv_form_and_own_vocabularies_pass(value: str) -> None:
    doc = _gs1("Example_9.6.1-ObjectEvent.jsonld")
    doc["epcisBody"]["eventList"][0]["bizStep"] = value
    assert validation.validate(doc) == []


def test_a_missing_document_part_points_at_the_root() -> None:
    problems = validation.validate(
        {"type": "EPCISDocument", "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"}
    )
    assert {p.where for p in problems} == {""}
    assert "expected property" in problems[0].message


# The Rust validator decides and the Python one explains only the faulted events: the problem
# list must be the one the Python validator gives over the whole document.
@pytest.mark.parametrize(("mutate", "where", "reason"), BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_the_fast_schema_path_gives_the_reference_verdict_and_pointers(
    mutate: Callable[[dict[str, Any]], object], where: str, reason: str
) -> None:
    doc = _gs1("Example_9.6.1-ObjectEvent.jsonld")
    event = doc["epcisBody"]["eventList"][0]
    doc["epcisBody"]["eventList"] = [copy.deepcopy(event) for _ in range(4)]
    assert validation.schema_problems(doc) == validation.schema_problems_full(doc) == []
    for i in (1, 3):
        mutate(doc["epcisBody"]["eventList"][i])
    fast = validation.schema_problems(doc)
    assert fast == validation.schema_problems_full(doc)
    expected = [where.replace(E0, f"/epcisBody/eventList/{i}") for i in (1, 3)]
    assert [p.where for p in fast] in ([], expected)  # the schema passes a CBV term that is a URI
    assert [p.where for p in validation.validate(doc)] == expected
    doc["sender"] = 7  # and one outside the event list
    assert validation.schema_problems(doc) == validation.schema_problems_full(doc)
    assert "/sender" in {p.where for p in validation.schema_problems(doc)}


def test_the_fast_schema_path_renumbers_query_document_events() -> None:
    doc = _gs1("EPCISQueryDocument.jsonld")
    events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert validation.schema_problems(doc) == validation.schema_problems_full(doc) == []
    events[1]["action"] = "PUT"
    events[1]["eventTime"] = "yesterday"
    problems = validation.schema_problems(doc)
    assert problems == validation.schema_problems_full(doc)
    assert [p.where for p in problems] == [
        f"/epcisBody/queryResults/resultsBody/eventList/1/{f}" for f in ("action", "eventTime")
    ]


# -- the profile, both ways, without a store --------------------------------------------------

KEY = "0123456789abcdef"
PURE: list[dict[str, Any]] = [
    {
        "kind": "batch",
        "supplier": "s",
        "key": KEY,
        "data": {
            "product": {"gtin": MILK, "name": "Raw goat's milk"},
            "lot": "GM/7 a",
            "produced_on": "2026-11-01",
            "expires_on": "2026-11-04",
            "quantity": 1.5,
            "unit": "t",
            "site": {"name": "Farm", "address": "Road 1", "lat": -37.5, "lon": 175.25},
            "inputs": [],
        },
    },
    {
        "kind": "batch",
        "supplier": "s",
        "key": KEY,
        "data": {
            "product": {"gtin": FORMULA, "name": "Formula"},
            "lot": "F1",
            "produced_on": "2026-11-02",
            "expires_on": "2027-11-02",
            "quantity": 12,
            "unit": "pallets",
            "site": {"name": "Plant", "address": "Road 2", "lat": 1, "lon": 2, "country": "NZ"},
            "inputs": [
                {"gtin": MILK, "lot": "GM/7 a", "quantity": 900, "unit": "L"},
                {"gtin": MILK, "lot": "X", "unit": "drums"},
                {"gtin": MILK, "lot": "Y"},
            ],
        },
    },
    {
        "kind": "commission",
        "supplier": "s",
        "key": KEY,
        "data": {
            "lot": {"gtin": FORMULA, "lot": "F1"},
            "serials": ["0YDBHHNV2BCHAZJQ", "1ZKCJJPW3CDJB0KR"],
            "commissioned_at": "2026-11-03T08:00:00+13:00",
        },
    },
    {
        "kind": "cold_chain",
        "supplier": "s",
        "key": KEY,
        "data": {
            "lot": {"gtin": FORMULA, "lot": "F1"},
            "logger": {"id": "L1"},
            "range": {"min_c": -20, "max_c": -15.5},
            "readings": [{"at": "2026-11-03T08:00:00Z", "c": -18.25}, {"at": "2026-11-03T08:05:00Z", "c": -17}],
        },
    },
    {
        "kind": "shipment",
        "supplier": "s",
        "key": KEY,
        "data": {
            "id": "S-1",
            "lot": {"gtin": FORMULA, "lot": "F1"},
            "quantity": 3,
            "unit": "kg",
            "from_site": {"name": "A", "address": "a", "lat": 0.5, "lon": 0.25},
            "to_site": {"name": "B", "address": "b", "lat": -0.5, "lon": -0.25},
            "shipped_at": "2026-11-04T00:00:00Z",
        },
    },
]


PURE.append(
    {
        "kind": "test_report",
        "supplier": "s",
        "key": KEY,
        "data": {
            "batch": {"gtin": FORMULA, "lot": "F1"},
            "lab": {"name": "Lab", "accreditation": {"scheme": "ISO/IEC 17025", "number": "A-1"}},
            "sampled_on": "2026-11-03",
            "reported_on": "2026-11-05",
            "analytes": [
                {
                    "name": "lead",
                    "category": "heavy_metal",
                    "value": 0.01,
                    "unit": "mg/kg",
                    "limit": 0.02,
                    "method": "m",
                },
                {  # a sampling plan goes out as one sensorReport per unit and comes back as one analyte
                    "name": "Enterobacteriaceae",
                    "category": "microbiology",
                    "plan": {"n": 3, "c": 1, "m": 10, "M": 100},
                    "results": [0, 20, 5],
                    "unit": "CFU/g",
                    "method": "GB 4789.41-2016",
                },
                {
                    "name": "Salmonella",
                    "category": "microbiology",
                    "plan": {"n": 2, "c": 0, "m": 0},
                    "results": [0, 0],
                    "unit": "CFU/25 g",
                    "method": "ISO 6579-1",
                },
            ],
            "document": {"sha256": "ab" * 32, "uri": "https://lab.example/r.pdf"},
        },
    }
)


def _paper(kind: str, i: int, **extra: str) -> dict[str, str]:
    return {"kind": kind, "sha256": f"{i:x}" * 64, "uri": f"https://portal.example/supplier/documents/{i}", **extra}


SHIPPED_WITH_PAPERS: dict[str, Any] = copy.deepcopy(next(e for e in PURE if e["kind"] == "shipment"))
SHIPPED_WITH_PAPERS["data"] |= {
    "id": "S-2",
    "customs": {"declaration_number": "2233", "port": "Yangshan", "cleared_at": "2026-11-05T00:00:00Z"},
    "received_at": "2026-11-06T00:00:00+08:00",
    "documents": [
        _paper("customs_declaration", 1),
        _paper("health_certificate", 2, title="MPI 卫生证书"),
        _paper("certificate_of_analysis", 3),
        _paper("bill_of_lading", 4),
        _paper("other", 5, title="Fumigation"),
    ],
}
PURE.insert(len(PURE) - 1, SHIPPED_WITH_PAPERS)  # the test report stays last


def test_a_shipments_documents_in_epcis() -> None:
    """Exactly in ct:documents; certificates' links also in certificationInfo and a bill of lading
    as a bol business transaction, which the reader does not take for the shipment's id."""
    ev = to_epcis(SHIPPED_WITH_PAPERS)
    link = "https://portal.example/supplier/documents/"
    assert ev["certificationInfo"] == [link + "2", link + "3"]
    assert ev["bizTransactionList"] == [{"type": "bol", "bizTransaction": link + "4"}]
    assert ev["ct:documents"][1] == {
        "ct:kind": "health_certificate",
        "ct:sha256": "2" * 64,
        "ct:uri": link + "2",
        "ct:title": "MPI 卫生证书",
    }
    plain = to_epcis(next(e for e in PURE if e["kind"] == "shipment"))
    assert not {"ct:documents", "certificationInfo", "bizTransactionList"} & set(plain)  # as before documents
    # Another system's shipping event with only the standard fields: no documents (no SHA-256 to sign).
    theirs = {k: v for k, v in ev.items() if k != "ct:documents"}
    data = from_epcis(theirs, {"ct": "https://ns.cradletrace.org/epcis/"}, E0, "s", KEY, {})["data"]
    assert "documents" not in data and data["id"] == "S-2"


def test_a_plan_analyte_is_one_sensor_report_per_unit() -> None:
    reports = to_epcis(PURE[-1])["sensorElementList"][0]["sensorReport"]
    units = [(r["ct:name"], r["value"], r["ct:resultIndex"]) for r in reports if "ct:plan" in r]
    assert units == [("Enterobacteriaceae", x, j) for j, x in enumerate([0, 20, 5])] + [
        ("Salmonella", 0, 0),
        ("Salmonella", 0, 1),
    ]
    assert all("ct:results" not in r for r in reports)


@pytest.mark.parametrize("event", PURE, ids=lambda e: e["kind"])
def test_every_kind_goes_to_epcis_and_comes_back_unchanged(event: dict[str, Any]) -> None:
    doc = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-25T00:00:00Z",
        "epcisBody": {"eventList": [to_epcis(event)]},
    }
    assert validation.validate(doc) == []
    assert from_epcis(_events(doc)[0], validation.prefixes(doc), E0, "s", KEY, {}) == event


def test_the_lab_may_come_from_certification_info() -> None:
    doc = _doc("lab")
    ev = _events(doc)[0]
    del ev["ct:lab"]
    back = from_epcis(ev, validation.prefixes(doc), E0, "canterbury-lab", KEY, LIMITS)
    assert back["data"]["lab"] == {
        "name": "www.ianz.govt.nz",
        "accreditation": {"scheme": "certificationInfo", "number": "https://www.ianz.govt.nz/accreditation/IANZ-1284"},
    }


def test_an_error_declaration_is_not_recorded_as_a_fact() -> None:
    doc = _doc("farm")
    ev = _events(doc)[0]
    ev["errorDeclaration"] = {"declarationTime": "2026-11-06T00:00:00Z", "reason": "incorrect_data"}
    assert validation.validate(doc) == []
    with pytest.raises(InvalidInputError) as caught:
        from_epcis(ev, validation.prefixes(doc), E0, "s", KEY, {})
    assert [p.where for p in caught.value.problems] == [E0 + "/errorDeclaration"]


# -- capture -----------------------------------------------------------------------------------


def test_capture_maps_every_event_type_and_keeps_the_original(workspace: Workspace) -> None:
    farm, plant, lab = (_import(workspace, n) for n in ("farm", "plant", "lab"))
    assert [r.kind for r in farm] == ["batch", "batch"]
    assert [r.kind for r in plant] == [
        "batch",
        "commission",
        "shipment",
        "cold_chain",
    ]  # Transformation, Object, Aggregation, Association
    assert [(r.kind, r.outcome) for r in lab] == [("test_report", "pass")]
    with workspace.session() as s:
        by_id = {r.id: r for r in s.exec(select(EventRow).where(EventRow.kind != "key"))}
        kept = {c.event_id: c for c in s.exec(select(EpcisEvent))}
    assert set(kept) == set(by_id)
    for name in ("farm", "plant", "lab"):
        doc = _doc(name)
        rows = {"farm": farm, "plant": plant, "lab": lab}[name]
        for original, h, row in zip(_events(doc), document_hashes(doc), rows):
            assert json.loads(kept[row.id].body) == original  # verbatim, extensions included
            assert kept[row.id].hash == h and h.startswith("ni:///sha-256;") and h.endswith("?ver=CBV2.0")
            assert kept[row.id].epcis_id == original.get("eventID")
    milk = json.loads(by_id[farm[0].id].body)["data"]
    assert milk["product"] == {"gtin": MILK, "name": "Raw cow's milk, chilled"}  # from an EPC URN and ilmd
    assert (milk["lot"], milk["produced_on"], milk["expires_on"], milk["quantity"], milk["unit"]) == (
        "RM-E1",
        "2026-11-05",
        "2026-11-07",
        18500,
        "kg",
    )
    formula = json.loads(by_id[plant[0].id].body)["data"]
    assert [(x["lot"], x["quantity"], x["unit"]) for x in formula["inputs"]] == [
        ("RM-E1", 18500, "kg"),
        ("RM-E2", 17250, "kg"),
    ]
    cold = json.loads(by_id[plant[3].id].body)["data"]
    assert cold["shipment"] == "ALPS-E-0042" and [r["c"] for r in cold["readings"]] == [4.1, 4.0, 4.6]  # CEL, FAH, KEL
    report = json.loads(by_id[lab[0].id].body)["data"]
    assert [(a["name"], a["category"], a["limit"]) for a in report["analytes"]] == [
        ("lead", "heavy_metal", 0.02),
        ("Salmonella", "microbiology", 0),
        ("JDSHMPZPIAZGSV-UHFFFAOYSA-N", "contaminant", 1),
    ]


def test_round_trip_epcis_in_cradletrace_epcis_out_keeps_every_field(workspace: Workspace) -> None:
    docs = {n: _doc(n) for n in ("farm", "plant", "lab")}
    for n in docs:
        _import(workspace, n)
    with workspace.session() as s:
        out = [export_lot(s, f"{MILK}/RM-E1", NOW), export_lot(s, f"{MILK}/RM-E2", NOW), export_lot(s, "IF-E001", NOW)]
    sent = {h: e for d in docs.values() for e, h in zip(_events(d), document_hashes(d))}
    seen = set()
    for doc in out:
        assert validation.validate(doc) == []
        for ev in _events(doc):
            h = ev.get("ct:eventHash", ev["eventID"])
            assert h in sent
            for field, value in sent[h].items():  # field by field: every one sent comes back the same
                assert ev[field] == value, (h, field)
            assert set(ev) - set(sent[h]) <= {"eventID", "ct:eventHash"}
            seen.add(h)
    assert seen == set(sent)
    stripped = copy.deepcopy(out[2])
    for ev in _events(stripped):
        ev.pop("ct:eventHash", None)
    assert document_hashes(stripped) == [e.get("ct:eventHash", e["eventID"]) for e in _events(out[2])]


def test_recorded_history_goes_out_as_epcis_and_maps_back_to_the_same_events(
    workspace: Workspace, record: Callable[..., Any], events: list[dict[str, Any]]
) -> None:
    rows = record(events)
    with workspace.session() as s:
        recall = recalls.start_recall(
            s,
            lots=[(rows[2].gtin, "IF-0001")],
            reason="Cronobacter detected",
            severity="I",
            trigger=None,
            started_by="qa",
            now=NOW,
        )
        s.commit()
        doc = export_lot(s, "IF-0001", NOW)
        stored = {r.id: json.loads(r.body) for r in s.exec(select(EventRow))}
    assert validation.validate(doc) == []
    out = _events(doc)
    assert [e["eventID"] for e in out] == document_hashes(doc)  # eventID is the CBV hash of what we send
    history = [r for r in rows if r.lot == "IF-0001" or r.ref == "PCC-2026-0042"]
    assert len(out) == len(history) + 1
    known = validation.prefixes(doc)
    for row, ev in zip(history, out):
        back = from_epcis(ev, known, "", row.supplier_id, row.key_id, workspace.limits)
        assert back == stored[row.id], row.kind  # cradletrace -> EPCIS -> cradletrace changes nothing
    assert {(e.get("bizStep"), e.get("disposition")) for e in out if e.get("type") == "ObjectEvent"} >= {
        ("inspecting", "conformant"),
        ("inspecting", "non_conformant"),
        ("shipping", "in_transit"),
    }
    assert out[-1]["disposition"] == "recalled" and out[-1]["ct:recall"]["ct:id"] == recall.id
    with workspace.session() as s:
        scope = export_recall(s, recall.id or 0, NOW)
    assert validation.validate(scope) == []
    assert [e["eventID"] for e in _events(scope)] == [e["eventID"] for e in out]


def test_the_same_event_twice_is_a_duplicate_and_nothing_is_stored(workspace: Workspace) -> None:
    _import(workspace, "farm")
    before = _count(workspace)
    doc = _doc("farm")
    doc["epcisBody"]["eventList"].insert(
        0, {**doc["epcisBody"]["eventList"][1], "eventTime": "2026-11-06T05:30:00.000+13:00"}
    )
    doc["epcisBody"]["eventList"][0]["quantityList"] = [
        {"epcClass": "https://id.gs1.org/01/94219029600019/10/RM-E3", "quantity": 100, "uom": "KGM"}
    ]
    with pytest.raises(DuplicateEpcisError) as caught:
        _import(workspace, "farm", doc)
    assert [p.where for p in caught.value.problems] == ["/epcisBody/eventList/1", "/epcisBody/eventList/2"]
    assert "captured before" in caught.value.problems[0].message
    assert _count(workspace) == before  # the new first event was not stored either


def test_an_exported_document_comes_back_as_duplicates(workspace: Workspace) -> None:
    for n in ("farm", "plant"):
        _import(workspace, n)
    with workspace.session() as s:
        out = export_lot(s, "IF-E001", NOW)
    with pytest.raises(DuplicateEpcisError) as caught:
        _import(workspace, "plant", out)
    assert len(caught.value.problems) == len(_events(out))


def test_a_recorded_event_exported_and_sent_back_is_a_duplicate(
    workspace: Workspace, record: Callable[..., Any], events: list[dict[str, Any]]
) -> None:
    [native] = record(events[:1])  # the farm's raw milk RM-A1, recorded natively
    with workspace.session() as s:
        out = export_lot(s, "RM-A1", NOW)
    with pytest.raises(DuplicateEpcisError) as caught:
        _import(workspace, "farm", out)
    assert [p.where for p in caught.value.problems] == [E0]
    assert f"recorded before as cradletrace event {native.id}" in caught.value.problems[0].message


def test_a_document_over_the_limit_is_refused_before_it_is_validated(workspace: Workspace) -> None:
    doc = _doc("farm")
    doc["epcisBody"]["eventList"] *= 5001
    with pytest.raises(InvalidInputError) as caught:
        _import(workspace, "farm", doc)
    assert [(p.where, p.message) for p in caught.value.problems] == [
        ("/epcisBody/eventList", "expected at most 10000 events, got 10002")
    ]


def test_one_bad_event_refuses_the_whole_document_with_pointers(workspace: Workspace) -> None:
    doc = _doc("farm")
    doc["epcisBody"]["eventList"][1]["disposition"] = "spoilt"
    with pytest.raises(InvalidInputError) as caught:
        _import(workspace, "farm", doc)
    assert [p.where for p in caught.value.problems] == ["/epcisBody/eventList/1/disposition"]
    assert _count(workspace) == (0, 0)


def test_what_cradletrace_needs_and_does_not_find_is_named_by_pointer(workspace: Workspace) -> None:
    doc = _doc("farm")
    del doc["epcisBody"]["eventList"][0]["ilmd"]["ct:productName"]
    doc["epcisBody"]["eventList"][1]["bizLocation"] = {"id": "urn:epc:id:sgln:4219029.00001.0"}
    with pytest.raises(InvalidInputError) as caught:
        _import(workspace, "farm", doc)
    assert [(p.where, p.message.split(" (")[0]) for p in caught.value.problems] == [
        (f"{E0}/ilmd", "expected ct:productName"),
        ("/epcisBody/eventList/1/bizLocation", "expected a location with id geo:<lat>,<lon> and ct:name, ct:address"),
    ]
    gs1 = _gs1("Example_9.6.3-AggregationEvent.jsonld")
    with pytest.raises(InvalidInputError) as caught:
        _import(workspace, "farm", gs1)
    assert caught.value.problems and all(p.where.startswith("/epcisBody/eventList/") for p in caught.value.problems)


def test_store_rules_point_into_the_document(workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _import(workspace, "plant")  # the farm's milk lots are not recorded yet
    first = caught.value.problems[0]
    assert first.where == E0
    assert first.message.startswith("as cradletrace batch event: data.inputs[0]: expected a recorded lot")


def test_a_mapped_event_is_signed_by_the_uploading_supplier(workspace: Workspace) -> None:
    rows = _import(workspace, "farm")
    assert {r.supplier_id for r in rows} == {"waikato-dairy"}
    with workspace.session():
        mapped = map_document(_doc("farm"), "waikato-dairy", rows[0].key_id, workspace.limits)
    assert [m.event for m in mapped] == [json.loads(r.body) for r in rows]


# -- command line ------------------------------------------------------------------------------


def test_cli_validate_import_export(workspace: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--data-dir", str(workspace.settings.data_dir)] + (
        ["--database-url", workspace.settings.database_url] if workspace.settings.database_url else []
    )
    ok = runner.invoke(app, ["epcis", "validate", str(PROFILE["farm"])])
    assert (ok.exit_code, ok.stdout) == (0, "valid\n")
    broken = _doc("farm")
    broken["epcisBody"]["eventList"][0]["bizStep"] = "milking"
    (tmp_path / "broken.jsonld").write_text(json.dumps(broken))
    bad = runner.invoke(app, ["epcis", "validate", str(tmp_path / "broken.jsonld")])
    assert bad.exit_code == 1 and bad.stdout.startswith(f"{E0}/bizStep: expected a CBV 2.0 business step")
    done = runner.invoke(app, ["epcis", "import", str(PROFILE["farm"]), "--supplier", "waikato-dairy", *where])
    assert done.exit_code == 0, done.output
    assert "imported 2 EPCIS events" in done.stdout
    again = runner.invoke(app, ["epcis", "import", str(PROFILE["farm"]), "--supplier", "waikato-dairy", *where])
    assert again.exit_code == 2
    assert "captured before" in again.stderr and "/epcisBody/eventList/1" in again.stderr
    signed = runner.invoke(app, ["epcis", "sign", str(PROFILE["farm"]), "--supplier", "waikato-dairy", *where])
    assert signed.exit_code == 0, signed.output
    body = json.loads(signed.stdout)
    assert set(body) == {"document", "key", "signatures"} and len(body["signatures"]) == 2
    out = runner.invoke(app, ["epcis", "export", f"{MILK}/RM-E1", *where])
    assert out.exit_code == 0, out.output
    assert validation.validate(json.loads(out.stdout)) == []
    missing = runner.invoke(app, ["epcis", "export", "NO-SUCH-LOT", *where])
    assert missing.exit_code == 2 and "expected one recorded lot" in missing.stderr

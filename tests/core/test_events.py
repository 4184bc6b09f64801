"""Event validation: what parses, and for what does not, the field path and what was expected."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from cradletrace.core import events
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import lot_of, outcome_of, parse_event
from cradletrace.errors import InvalidEventError, InvalidInputError

GTIN = "09501101530003"
MILK_GTIN = "00012345600012"
KEY = "0123456789abcdef"
DELETE = object()


def site(name: str = "Plant Nord") -> dict[str, Any]:
    return {"name": name, "address": "Via Roma 1, 26900 Lodi", "lat": 45.3097, "lon": 9.5037, "country": "IT"}


def batch() -> dict[str, Any]:
    return {
        "kind": "batch",
        "supplier": "acme-dairy",
        "key": KEY,
        "data": {
            "product": {"gtin": GTIN, "name": "Infant formula 800 g"},
            "lot": "L2026-001",
            "produced_on": "2026-01-05",
            "expires_on": "2027-07-05",
            "quantity": 1200.5,
            "unit": "kg",
            "site": site(),
            "inputs": [
                {"gtin": MILK_GTIN, "lot": "MILK-7", "quantity": 9000, "unit": "l"},
                {"gtin": "06901234567892", "lot": "WPC/22"},
            ],
        },
    }


def analyte(name: str = "lead", value: float = 0.005, limit: float = 0.02, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "category": "heavy_metal",
        "value": value,
        "unit": "mg/kg",
        "limit": limit,
        "method": "ICP-MS",
        **extra,
    }


def report() -> dict[str, Any]:
    return {
        "kind": "test_report",
        "supplier": "lab-one",
        "key": KEY,
        "data": {
            "batch": {"gtin": GTIN, "lot": "L2026-001"},
            "lab": {"name": "Lab One", "accreditation": {"scheme": "ISO/IEC 17025", "number": "ACC-123"}},
            "sampled_on": "2026-01-06",
            "reported_on": "2026-01-09",
            "analytes": [
                analyte(),
                {
                    "name": "Salmonella",
                    "category": "microbiology",
                    "value": 0,
                    "unit": "detections/25 g",
                    "limit": 0,
                    "method": "ISO 6579-1",
                },
                {
                    "name": "vitamin D",
                    "category": "nutrient",
                    "value": 9.5,
                    "unit": "µg/100 g",
                    "limit": 12.5,
                    "min": 5,
                    "method": "HPLC",
                },
            ],
            "document": {"sha256": "ab" * 32, "uri": "https://lab.example/reports/123.pdf"},
        },
    }


def readings(*temps: float, start_hour: int = 8) -> list[dict[str, Any]]:
    return [{"at": f"2026-02-01T{start_hour + i:02d}:00:00Z", "c": t} for i, t in enumerate(temps)]


def cold_chain_lot() -> dict[str, Any]:
    return {
        "kind": "cold_chain",
        "supplier": "cool-logistics",
        "key": KEY,
        "data": {
            "lot": {"gtin": GTIN, "lot": "L2026-001"},
            "logger": {"id": "TL-0042", "model": "TempLog 3"},
            "range": {"min_c": 2, "max_c": 8},
            "readings": readings(4.0, 5.5, 6),
        },
    }


def cold_chain_shipment() -> dict[str, Any]:
    return {
        "kind": "cold_chain",
        "supplier": "cool-logistics",
        "key": KEY,
        "data": {
            "shipment": "SHP-2026-0001",
            "logger": {"id": "TL-0043"},
            "range": {"min_c": -25, "max_c": -15.5},
            "readings": readings(-20, -18.25, -21),
        },
    }


def shipment() -> dict[str, Any]:
    return {
        "kind": "shipment",
        "supplier": "acme-dairy",
        "key": KEY,
        "data": {
            "id": "SHP-2026-0001",
            "lot": {"gtin": GTIN, "lot": "L2026-001"},
            "quantity": 400,
            "unit": "cartons",
            "from_site": site(),
            "to_site": {
                "name": "DC Shanghai",
                "address": "88 Port Road",
                "lat": 31.2304,
                "lon": 121.4737,
                "country": "CN",
            },
            "shipped_at": "2026-02-01T08:00:00Z",
            "received_at": "2026-03-01T10:00:00+08:00",
            "customs": {
                "declaration_number": "CN-2026-778899",
                "port": "Shanghai Yangshan",
                "cleared_at": "2026-02-28T09:00:00Z",
                "origin_country": "IT",
            },
        },
    }


BUILDERS = {
    "batch": batch,
    "test_report": report,
    "cold_chain_lot": cold_chain_lot,
    "cold_chain_shipment": cold_chain_shipment,
    "shipment": shipment,
}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``base`` with the dotted ``path`` (``a.b[2].c``) set to ``value`` or deleted."""
    out = copy.deepcopy(base)
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        if name:
            steps.append(name)
        steps.extend(int(i) for i in indexes if i)
    node: Any = out
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return out


def problems(event: dict[str, Any], where: str = "event") -> list[tuple[str, str]]:
    with pytest.raises(InvalidEventError) as info:
        parse_event(canonical_bytes(event), where)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)
    return [(p.where, p.message) for p in info.value.problems]


# ---- valid events -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "cls"),
    [
        (batch, events.BatchEvent),
        (report, events.TestReportEvent),
        (cold_chain_lot, events.ColdChainEvent),
        (cold_chain_shipment, events.ColdChainEvent),
        (shipment, events.ShipmentEvent),
    ],
)
def test_valid_example_of_each_kind_parses(build: Any, cls: type) -> None:
    event = parse_event(canonical_bytes(build()))
    assert isinstance(event, cls)
    assert event.kind == build()["kind"]


@pytest.mark.parametrize(
    ("base", "path", "value"),
    [
        ("batch", "data.inputs", DELETE),  # inputs default to none
        ("batch", "data.inputs", []),
        ("batch", "data.quantity", 1),  # an integer where a number is expected is still a number
        ("batch", "data.site.country", DELETE),
        ("batch", "data.site.lat", -90),
        ("batch", "data.site.lon", 180),
        ("batch", "data.lot", "A" * 20),
        ("batch", "data.lot", "!\"%&'()*+,-./:;<=>?_"),
        ("batch", "data.expires_on", "2026-01-06"),  # the day after production
        ("test_report", "data.reported_on", "2026-01-06"),  # same day as sampling
        ("test_report", "data.analytes[0].value", 0),
        ("cold_chain_lot", "data.readings", readings(-100, 100)),  # the physical bounds themselves
        ("cold_chain_lot", "data.readings", readings(5)),
        (
            "cold_chain_lot",
            "data.readings",  # 08:00Z then 09:30Z although "10:00" sorts after "09:30"
            [{"at": "2026-02-01T10:00:00+02:00", "c": 5}, {"at": "2026-02-01T09:30:00Z", "c": 5}],
        ),
        ("cold_chain_lot", "data.logger.model", DELETE),
        ("shipment", "data.received_at", DELETE),
        ("shipment", "data.customs", DELETE),
        ("shipment", "data.customs.cleared_at", "2026-02-01T09:00:00+01:00"),  # exactly at shipped_at
        ("shipment", "data.customs.cleared_at", "2026-03-01T02:00:00Z"),  # exactly at received_at
        ("shipment", "data.id", "SHP:2026/0001.a_b-c"),
    ],
)
def test_edge_values_that_are_valid_parse(base: str, path: str, value: Any) -> None:
    parse_event(canonical_bytes(with_(BUILDERS[base](), path, value)))


def test_shipment_received_at_the_instant_it_shipped_is_valid() -> None:
    event = with_(with_(shipment(), "data.customs", DELETE), "data.received_at", "2026-02-01T09:00:00+01:00")
    parse_event(canonical_bytes(event))


# ---- invalid events: (base, path, bad value) -> (where, message fragment) ----------------------

BAD = [
    # GS1 codes
    (
        "batch",
        "data.product.gtin",
        "09501101530004",
        "event.data.product.gtin",
        "expected check digit 3 for GTIN 0950110153000…, got 4",
    ),
    ("batch", "data.product.gtin", "9501101530003", "event.data.product.gtin", "expected a GTIN-14 of 14 digits"),
    ("batch", "data.product.gtin", "009501101530003", "event.data.product.gtin", "expected a GTIN-14 of 14 digits"),
    ("batch", "data.product.gtin", "0950110153000X", "event.data.product.gtin", "expected a GTIN-14 of 14 digits"),
    ("batch", "data.product.gtin", "0950110153000٣", "event.data.product.gtin", "expected a GTIN-14 of 14 digits"),
    ("batch", "data.product.gtin", 9501101530003, "event.data.product.gtin", "expected a valid string"),
    ("batch", "data.inputs[1].gtin", "06901234567891", "event.data.inputs[1].gtin", "expected check digit 2"),
    ("batch", "data.lot", "L 1", "event.data.lot", "expected 1-20 GS1 characters"),
    ("batch", "data.lot", "LÖT1", "event.data.lot", "expected 1-20 GS1 characters"),
    ("batch", "data.lot", "L#1", "event.data.lot", "expected 1-20 GS1 characters"),
    ("batch", "data.lot", "A" * 21, "event.data.lot", "expected 1-20 GS1 characters"),
    ("batch", "data.lot", "", "event.data.lot", "expected 1-20 GS1 characters"),
    pytest.param("batch", "data.lot", "L1\n", "event.data.lot", "expected 1-20 GS1 characters"),
    pytest.param("batch", "data.lot", "A: expected B", "event.data.lot", "expected 1-20 GS1 characters"),
    pytest.param("batch", "data.product.gtin", "x: expected", "event.data.product.gtin", "expected a GTIN-14"),
    ("test_report", "data.batch.gtin", "09501101530000", "event.data.batch.gtin", "expected check digit 3"),
    ("test_report", "data.batch.lot", "x" * 25, "event.data.batch.lot", "expected 1-20 GS1 characters"),
    # dates and times
    (
        "batch",
        "data.expires_on",
        "2025-12-31",
        "event.data.expires_on",
        "expected a date after produced_on (2026-01-05), got 2025-12-31",
    ),
    ("batch", "data.expires_on", "2026-01-05", "event.data.expires_on", "expected a date after produced_on"),
    ("batch", "data.produced_on", "2026-02-30", "event.data.produced_on", "expected"),
    ("batch", "data.produced_on", 20260105, "event.data.produced_on", "expected"),
    (
        "test_report",
        "data.reported_on",
        "2026-01-05",
        "event.data.reported_on",
        "expected a date on or after sampled_on (2026-01-06), got 2026-01-05",
    ),
    (
        "cold_chain_lot",
        "data.readings[1].at",
        "2026-02-01T09:00:00",
        "event.data.readings[1].at",
        "expected to have timezone info",
    ),
    ("shipment", "data.shipped_at", "2026-02-01T08:00:00", "event.data.shipped_at", "expected to have timezone info"),
    ("shipment", "data.customs.cleared_at", "2026-02-28 09:00", "event.data.customs.cleared_at", "expected"),
    (
        "shipment",
        "data.received_at",
        "2026-02-01T07:59:59Z",
        "event.data.received_at",
        "expected a time on or after shipped_at (2026-02-01T08:00:00+00:00), got 2026-02-01T07:59:59+00:00",
    ),
    (
        "shipment",
        "data.customs.cleared_at",
        "2026-02-01T07:00:00Z",
        "event.data.customs.cleared_at",
        "expected a time between shipped_at and received_at, got 2026-02-01T07:00:00+00:00",
    ),
    (
        "shipment",
        "data.customs.cleared_at",
        "2026-03-01T02:00:01Z",
        "event.data.customs.cleared_at",
        "expected a time between shipped_at and received_at",
    ),
    # cold chain
    ("cold_chain_lot", "data.readings[0].c", 100.5, "event.data.readings[0].c", "expected less than or equal to 100"),
    (
        "cold_chain_lot",
        "data.readings[2].c",
        -101,
        "event.data.readings[2].c",
        "expected greater than or equal to -100",
    ),
    ("cold_chain_lot", "data.readings[1].c", "5.5", "event.data.readings[1].c", "expected a valid number, got '5.5'"),
    (
        "cold_chain_lot",
        "data.readings",
        [{"at": "2026-02-01T09:00:00Z", "c": 5}, {"at": "2026-02-01T08:00:00Z", "c": 5}],
        "event.data.readings[1].at",
        "expected a time after 2026-02-01T09:00:00+00:00, got 2026-02-01T08:00:00+00:00",
    ),
    (
        "cold_chain_lot",
        "data.readings",
        [{"at": "2026-02-01T09:00:00Z", "c": 5}, {"at": "2026-02-01T10:00:00+02:00", "c": 5}],
        "event.data.readings[1].at",
        "expected a time after",
    ),  # 08:00Z, though "10:00" looks later
    (
        "cold_chain_lot",
        "data.readings",
        [*readings(5, 5), {"at": "2026-02-01T09:00:00Z", "c": 5}],
        "event.data.readings[2].at",
        "expected a time after",
    ),  # same instant twice
    ("cold_chain_lot", "data.readings", [], "event.data.readings", "at least 1 item"),
    (
        "cold_chain_lot",
        "data.range",
        {"min_c": 8, "max_c": 8},
        "event.data.range.min_c",
        "expected less than range.max_c (8.0), got 8.0",
    ),
    (
        "cold_chain_lot",
        "data.range",
        {"min_c": 8, "max_c": 2},
        "event.data.range.min_c",
        "expected less than range.max_c",
    ),
    ("cold_chain_lot", "data.range.max_c", 150, "event.data.range.max_c", "expected less than or equal to 100"),
    ("cold_chain_lot", "data.shipment", "SHP-1", "event.data.lot/shipment", "expected exactly one of the two"),
    ("cold_chain_shipment", "data.shipment", DELETE, "event.data.lot/shipment", "expected exactly one of the two"),
    ("cold_chain_lot", "data.logger", DELETE, "event.data.logger", "expected a value, got nothing"),
    # test report values
    (
        "test_report",
        "data.analytes[0].value",
        -0.001,
        "event.data.analytes[0].value",
        "expected greater than or equal to 0, got -0.001",
    ),
    (
        "test_report",
        "data.analytes[0].limit",
        -1,
        "event.data.analytes[0].limit",
        "expected greater than or equal to 0",
    ),
    ("test_report", "data.analytes[2].min", -5, "event.data.analytes[2].min", "expected greater than or equal to 0"),
    ("test_report", "data.analytes[0].value", "0.005", "event.data.analytes[0].value", "expected a valid number"),
    ("test_report", "data.analytes[0].value", True, "event.data.analytes[0].value", "expected a valid number"),
    ("test_report", "data.analytes[0].category", "poison", "event.data.analytes[0].category", "expected 'heavy_metal'"),
    ("test_report", "data.analytes", [], "event.data.analytes", "at least 1 item"),
    ("test_report", "data.document.sha256", "AB" * 32, "event.data.document.sha256", "expected to match pattern"),
    ("test_report", "data.document.sha256", "ab" * 31, "event.data.document.sha256", "expected to match pattern"),
    ("test_report", "data.lab.accreditation.number", "", "event.data.lab.accreditation.number", "at least 1 character"),
    # batch values
    ("batch", "data.quantity", "5", "event.data.quantity", "expected a valid number, got '5'"),
    ("batch", "data.quantity", 0, "event.data.quantity", "expected greater than 0, got 0"),
    ("batch", "data.quantity", -3.5, "event.data.quantity", "expected greater than 0"),
    ("batch", "data.quantity", None, "event.data.quantity", "expected a valid number, got None"),
    ("batch", "data.quantity", [5], "event.data.quantity", "expected a valid number"),
    ("batch", "data.site.lat", 91, "event.data.site.lat", "expected less than or equal to 90, got 91"),
    ("batch", "data.site.lat", -90.5, "event.data.site.lat", "expected greater than or equal to -90"),
    ("batch", "data.site.lon", 180.01, "event.data.site.lon", "expected less than or equal to 180"),
    ("batch", "data.site.country", "it", "event.data.site.country", "expected to match pattern"),
    ("batch", "data.unit", "", "event.data.unit", "at least 1 character"),
    ("batch", "data.product.name", "x" * 201, "event.data.product.name", "at most 200 characters"),
    (
        "batch",
        "data.inputs[1]",
        {"gtin": MILK_GTIN, "lot": "MILK-7"},
        "event.data.inputs[1]",
        "expected each input lot once, got 00012345600012/MILK-7 twice",
    ),
    (
        "batch",
        "data.inputs[1]",
        {"gtin": GTIN, "lot": "L2026-001"},
        "event.data.inputs[1]",
        "expected another lot, got the batch itself",
    ),
    ("batch", "data.inputs[0].quantity", 0, "event.data.inputs[0].quantity", "expected greater than 0"),
    ("batch", "data.inputs", {"gtin": MILK_GTIN, "lot": "MILK-7"}, "event.data.inputs", "expected a valid array"),
    # shipment values
    ("shipment", "data.id", "SHP 1", "event.data.id", "expected to match pattern"),
    ("shipment", "data.to_site.lat", 91, "event.data.to_site.lat", "expected less than or equal to 90"),
    (
        "shipment",
        "data.customs.origin_country",
        "ITA",
        "event.data.customs.origin_country",
        "expected to match pattern",
    ),
    # envelope and shape
    (
        "batch",
        "kind",
        "recall",
        "event.kind",
        "expected one of batch, test_report, cold_chain, shipment, commission, pack, unpack, move, sale, correction, got 'recall'",
    ),
    (
        "batch",
        "kind",
        DELETE,
        "event.kind",
        "expected one of batch, test_report, cold_chain, shipment, commission, pack, unpack, move, sale, correction, got nothing",
    ),
    ("batch", "supplier", "Acme Dairy", "event.supplier", "expected to match pattern"),
    ("batch", "supplier", DELETE, "event.supplier", "expected a value, got nothing"),
    ("batch", "key", "0123456789ABCDEF", "event.key", "expected to match pattern"),
    ("batch", "key", "0123456789abcde", "event.key", "expected to match pattern"),
    ("batch", "data.unit", DELETE, "event.data.unit", "expected a value, got nothing"),
    ("batch", "data.product", DELETE, "event.data.product", "expected a value, got nothing"),
    (
        "test_report",
        "data.analytes[1].method",
        DELETE,
        "event.data.analytes[1].method",
        "expected a value, got nothing",
    ),
    ("batch", "data.colour", "blue", "event.data.colour", "expected no such field"),
    ("batch", "signature", "c2ln", "event.signature", "expected no such field"),
    ("shipment", "data.customs.inspector", "J. Doe", "event.data.customs.inspector", "expected no such field"),
    ("batch", "data", [], "event.data", "expected"),
]


@pytest.mark.parametrize(("base", "path", "value", "where", "fragment"), BAD)
def test_bad_event_names_the_field_and_what_was_expected(
    base: str, path: str, value: Any, where: str, fragment: str
) -> None:
    found = problems(with_(BUILDERS[base](), path, value))
    assert any(w == where and fragment in m for w, m in found), found
    assert all(m.startswith("expected") for _, m in found), found


def test_every_problem_of_a_submission_is_reported_at_once() -> None:
    event = with_(with_(batch(), "data.site.lat", 91), "data.product.gtin", "09501101530004")
    event = with_(event, "data.colour", "blue")
    assert {w for w, _ in problems(event)} == {"event.data.site.lat", "event.data.product.gtin", "event.data.colour"}


def test_the_where_prefix_is_the_callers() -> None:
    found = problems(with_(report(), "data.batch.gtin", "1"), where="events[3]")
    assert found[0][0] == "events[3].data.batch.gtin"


def test_field_named_batch_keeps_its_path_without_a_prefix() -> None:
    found = problems(with_(report(), "data.batch.gtin", "1"), where="")
    assert found[0][0] == "data.batch.gtin"


@pytest.mark.parametrize("raw", [b"", b"[]", b'"batch"', b"null", b"{"])
def test_non_object_input_is_an_invalid_event(raw: bytes) -> None:
    with pytest.raises(InvalidEventError):
        parse_event(raw)


# ---- outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analytes", "expected"),
    [
        ([analyte(value=0.005, limit=0.02)], "pass"),
        ([analyte(value=0.02, limit=0.02)], "pass"),  # exactly at the limit
        ([analyte(value=0.020001, limit=0.02)], "fail"),
        ([analyte(value=0, limit=0)], "pass"),  # "absence in 25 g" with none detected
        ([analyte(value=1, limit=0)], "fail"),
        ([analyte(value=5, limit=12.5, min=5)], "pass"),  # exactly at the minimum
        ([analyte(value=4.99, limit=12.5, min=5)], "fail"),
        ([analyte(value=12.5, limit=12.5, min=5)], "pass"),
        ([analyte(), analyte("cadmium", 0.011, 0.01)], "fail"),  # any analyte failing fails the report
        ([analyte("cadmium", 0.011, 0.01), analyte()], "fail"),
        ([analyte(), analyte("cadmium", 0.01, 0.01), analyte("vitamin D", 9, 12.5, min=5)], "pass"),
    ],
)
def test_test_report_outcome(analytes: list[dict[str, Any]], expected: str) -> None:
    event = parse_event(canonical_bytes(with_(report(), "data.analytes", analytes)))
    assert outcome_of(event) == expected


@pytest.mark.parametrize(
    ("temps", "expected"),
    [((4, 5, 6), "ok"), ((2, 8), "ok"), ((5, 8.1, 5), "excursion"), ((1.9,), "excursion"), ((5, 5, 9), "excursion")],
)
def test_cold_chain_outcome(temps: tuple[float, ...], expected: str) -> None:
    event = parse_event(canonical_bytes(with_(cold_chain_lot(), "data.readings", readings(*temps))))
    assert outcome_of(event) == expected


@pytest.mark.parametrize("build", [batch, shipment])
def test_batch_and_shipment_carry_no_outcome(build: Any) -> None:
    assert outcome_of(parse_event(canonical_bytes(build()))) is None


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (batch, (GTIN, "L2026-001")),
        (report, (GTIN, "L2026-001")),
        (cold_chain_lot, (GTIN, "L2026-001")),
        (shipment, (GTIN, "L2026-001")),
    ],
)
def test_lot_of(build: Any, expected: tuple[str, str]) -> None:
    ref = lot_of(parse_event(canonical_bytes(build())))
    assert ref is not None and ref.key == expected


def test_lot_of_a_shipment_cold_chain_is_none() -> None:
    assert lot_of(parse_event(canonical_bytes(cold_chain_shipment()))) is None


def test_parsed_events_are_immutable() -> None:
    event = parse_event(canonical_bytes(batch()))
    with pytest.raises(Exception, match="frozen"):
        setattr(event.data, "lot", "OTHER")  # noqa: B010 - frozen models refuse assignment

"""Dates in a plausible window around the time of recording; limits no looser than the table."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cradletrace.core.admission import admission_problems
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import parse_event
from cradletrace.core.testreport import Limit, fill_limits
from cradletrace.demo import story
from cradletrace.workspace import default_limits

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BATCH, REPORT, SHIPMENT, COLD = 2, 3, 5, 6
TABLE = default_limits()


def _event(index: int, path: str = "", value: Any = None, **also: Any) -> Any:
    """The demo story's event ``index`` with ``data.<path>`` (and ``data.<key>`` for each of ``also``) set."""
    ev = copy.deepcopy(story(NOW)[index])
    ev["key"] = "0" * 16
    if ev["kind"] == "test_report":
        ev["data"] = fill_limits(ev["data"], TABLE)
    for at, new in ([(path, value)] if path else []) + list(also.items()):
        *parents, last = at.split(".")
        node = ev["data"]
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = new
    return parse_event(canonical_bytes(ev))


def _problems(event: Any, limits: dict[str, Limit] = TABLE) -> list[tuple[str, str]]:
    body = canonical_bytes(event.model_dump(mode="json", exclude_none=True))
    return [(p.where, p.message) for p in admission_problems(event, body, NOW, limits)]


def test_the_demo_story_is_admitted() -> None:
    for i in range(len(story(NOW))):
        assert _problems(_event(i)) == []


def _analyte(name: str, value: float, unit: str, limit: float, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "category": "contaminant",
        "value": value,
        "unit": unit,
        "limit": limit,
        "method": "m",
        **more,
    }


@pytest.mark.parametrize(
    ("analyte", "field", "words"),
    [
        pytest.param(
            _analyte("Cronobacter spp.", 50, "detections/10 g", 100_000),
            "limit",
            ["at most 0 detections/10 g", "legal limit for Cronobacter spp.", "2073/2005", "got 100000"],
            id="cronobacter",
        ),
        pytest.param(
            _analyte("cronobacter", 50, "detections/10 g", 100_000), "limit", ["at most 0"], id="name without spp."
        ),
        pytest.param(
            _analyte("Cronobacter spp.", 50, "cfu/g", 100_000),
            "unit",
            ["'detections/10 g'", "legal limit for Cronobacter spp.", "not converted", "got 'cfu/g'"],
            id="other unit",
        ),
        pytest.param(
            _analyte("melamine", 2_500, "mg/kg", 3_000),
            "limit",
            ["at most 1 mg/kg", "CXS 193", "got 3000"],
            id="melamine",
        ),
        pytest.param(_analyte("MELAMINE", 0.5, "mg/kg", 1.5), "limit", ["at most 1 mg/kg"], id="case ignored"),
        pytest.param(
            _analyte("vitamin D", 4, "µg/100 kcal", 3, min=5),
            "min",
            ["no higher than the limit (3)", "got 5"],
            id="min above limit",
        ),
    ],
)
def test_looser_limits_are_refused_naming_the_field_and_the_legal_limit(
    analyte: dict[str, Any], field: str, words: list[str]
) -> None:
    [(where, message)] = _problems(_event(REPORT, "analytes.1", analyte))
    assert where == f"event.data.analytes[1].{field}"
    assert all(w in message for w in words), message


@pytest.mark.parametrize(
    "analyte",
    [
        _analyte("melamine", 0.2, "mg/kg", 1),
        _analyte("melamine", 0.2, "mg/kg", 0.5),  # at and under the legal limit
        _analyte("vitamin D", 4, "µg/100 kcal", 30, min=2),  # not in the table: the lab's limit stands
    ],
)
def test_limits_at_or_under_the_table_pass(analyte: dict[str, Any]) -> None:
    assert _problems(_event(REPORT, "analytes.1", analyte)) == []


def test_a_table_minimum_may_not_be_lowered_or_left_out() -> None:
    table = {**TABLE, "vitamin d": Limit("vitamin D", "nutrient", "µg/100 kcal", 3.0, "Reg. (EU) 2016/127", min=2.0)}
    ok = _analyte("vitamin D", 2.5, "µg/100 kcal", 3, min=2)
    assert _problems(_event(REPORT, "analytes.1", ok), table) == []
    for lower in ({"min": 0.5}, {}):
        bad = {k: v for k, v in ok.items() if k != "min"} | lower
        [(where, message)] = _problems(_event(REPORT, "analytes.1", bad), table)
        assert where == "event.data.analytes[1].min" and "at least 2 µg/100 kcal" in message


@pytest.mark.parametrize(
    ("index", "path", "value", "field"),
    [
        pytest.param(
            BATCH, "produced_on", "9999-12-30", "produced_on", id="produced far ahead"
        ),  # expires_on set below
        pytest.param(
            BATCH,
            "produced_on",
            (NOW + timedelta(days=2)).date().isoformat(),
            "produced_on",
            id="produced two days ahead",
        ),
        pytest.param(REPORT, "sampled_on", "1999-12-31", "sampled_on", id="sampled before 2000"),
        pytest.param(REPORT, "reported_on", "2999-01-01", "reported_on", id="reported in 2999"),
        pytest.param(SHIPMENT, "received_at", "2999-01-01T00:00:00Z", "received_at", id="received in 2999"),
        pytest.param(COLD, "readings.1.at", None, "readings[1].at", id="a reading in 2999"),
    ],
)
def test_dates_outside_the_window_are_refused(index: int, path: str, value: Any, field: str) -> None:
    if value is None:  # the readings from the second on, moved 973 years ahead (still in order)
        ev = copy.deepcopy(story(NOW)[index])
        ev["key"] = "0" * 16
        for r in ev["data"]["readings"][1:]:
            r["at"] = "2999" + r["at"][4:]
        event = parse_event(canonical_bytes(ev))
    else:
        event = _event(index, path, value, **({"expires_on": "9999-12-31"} if value == "9999-12-30" else {}))
    problems = _problems(event)
    assert problems and problems[0][0] == f"event.data.{field}", problems
    assert (
        "from 2000-01-01" in problems[0][1]
        and "2026-11-26" in problems[0][1]
        and "one day after recording" in problems[0][1]
    )


def test_produced_in_year_1_and_a_shelf_life_over_10_years_are_refused() -> None:
    assert [w for w, _ in _problems(_event(BATCH, "produced_on", "0001-01-01"))] == [
        "event.data.produced_on",
        "event.data.expires_on",
    ]
    assert _problems(_event(BATCH, "produced_on", (NOW + timedelta(days=1)).date().isoformat())) == []  # clocks ahead
    [(where, message)] = _problems(_event(BATCH, "expires_on", "2037-01-01"))
    assert where == "event.data.expires_on" and "3653 days (10 years) after produced_on" in message

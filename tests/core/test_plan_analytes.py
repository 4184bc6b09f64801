"""Sampling-plan analytes in the signed test report (core/events.py PlanAnalyte): the plan (n, c, m,
M) and every sample unit's result, the verdict by core/samplingplan.plan_verdict; refusals name the
field; single-value analytes recorded before read, hash and judge exactly as they did."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from cradletrace.core import events
from cradletrace.core.admission import limit_problems
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import Analyte, PlanAnalyte, outcome_of, parse_event
from cradletrace.core.testreport import fill_limits
from cradletrace.workspace import default_limits
from tests.core.test_events import DELETE, problems, report, with_

# report() (tests/core/test_events.py) as main hashed it before plan analytes existed.
OLD_DIGEST = "381e909cd235d5d37e30e0a53dcaf43e58d896ddb7b4bcd2fa028dae192f4d68"


def plan_analyte(n: int = 5, c: int = 2, m: float = 10, big_m: float | None = 100, **extra: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {"n": n, "c": c, "m": m} | ({} if big_m is None else {"M": big_m})
    return {
        "name": "Enterobacteriaceae",
        "category": "microbiology",
        "plan": plan,
        "results": [0, 20, 5, 11, 3][:n] + [0] * max(0, n - 5),
        "unit": "CFU/g",
        "method": "GB 4789.41-2016",
        **extra,
    }


def with_plan(**kw: Any) -> dict[str, Any]:
    event = report()
    event["data"]["analytes"].append(plan_analyte(**kw))
    return event


def data_of(event: dict[str, Any]) -> events.TestReportData:
    data = parse_event(canonical_bytes(event)).data
    assert isinstance(data, events.TestReportData)
    return data


def test_an_event_recorded_before_plans_reads_hashes_and_judges_as_before() -> None:
    old = report()
    body = canonical_bytes(old)
    assert hashlib.sha256(body).hexdigest() == OLD_DIGEST
    data = data_of(old)
    assert all(type(a) is Analyte for a in data.analytes)
    assert [a.model_dump(exclude_none=True) for a in data.analytes] == old["data"]["analytes"]  # nothing added
    assert data.verdict == "pass"
    failing = with_(old, "data.analytes[0].value", 0.5)
    assert data_of(failing).verdict == "fail"


@pytest.mark.parametrize(
    ("results", "big_m", "verdict", "above_m", "above_big_m"),
    [
        ([0, 20, 5, 11, 3], 100, "pass", 2, 0),  # three-class: 2 marginal, c = 2
        ([11, 20, 50, 3, 4], 100, "fail", 3, 0),  # three marginal
        ([0, 0, 0, 0, 101], 100, "fail", 1, 1),  # one unit above M
        ([10, 10, 100, 100, 0], 100, "pass", 2, 0),  # at m acceptable, at M marginal
        ([0, 20, 5, 11, 3], None, "pass", 2, 0),  # two-class: 2 above m, c = 2
        ([0, 20, 50, 11, 3], None, "fail", 3, 0),
    ],
)
def test_a_plan_analyte_is_judged_by_its_plan(
    results: list[float], big_m: float | None, verdict: str, above_m: int, above_big_m: int
) -> None:
    event = with_plan(big_m=big_m)
    event["data"]["analytes"][-1]["results"] = results
    data = data_of(event)
    plan = data.analytes[-1]
    assert isinstance(plan, PlanAnalyte) and plan.plan.sampling.classes == (2 if big_m is None else 3)
    assert (plan.verdict.verdict, plan.verdict.above_m, plan.verdict.above_big_m) == (verdict, above_m, above_big_m)
    assert data.verdict == verdict  # the other analytes pass
    assert outcome_of(parse_event(canonical_bytes(event))) == verdict


def test_m_null_is_a_two_class_plan_and_absence_plans_read() -> None:
    event = with_plan(big_m=None)
    event["data"]["analytes"][-1]["plan"]["M"] = None
    assert data_of(event).analytes[-1].passes  # type: ignore[union-attr]
    salmonella = plan_analyte(n=30, c=0, m=0, big_m=None, name="Salmonella", unit="detections/25 g")
    salmonella["results"] = [0] * 30
    event = report()
    event["data"]["analytes"] = [salmonella]
    assert data_of(event).verdict == "pass"
    salmonella["results"][17] = 1
    assert data_of(event).verdict == "fail"


A = "events[0].data.analytes[3]"


@pytest.mark.parametrize(
    ("path", "value", "where", "expected"),
    [
        ("results[4]", -1, f"{A}.results[4]", "expected greater than or equal to 0"),
        ("results[2]", "5", f"{A}.results[2]", "expected a valid number"),
        ("results", [0, 1, 2, 3, 4, 5], f"{A}.results", "expected one result per sample unit (n = 5), got 6"),
        ("results", [], f"{A}.results", "at least 1 item"),
        ("plan.c", 6, f"{A}.plan.c", "expected 0 <= c <= n (5), got 6"),
        ("plan.c", -1, f"{A}.plan.c", "expected greater than or equal to 0"),
        ("plan.n", 0, f"{A}.plan.n", "expected greater than or equal to 1"),
        ("plan.n", 5.5, f"{A}.plan.n", "expected a valid integer"),
        ("plan.n", 1001, f"{A}.plan.n", "expected less than or equal to 1000"),
        ("plan.m", -1, f"{A}.plan.m", "expected greater than or equal to 0"),
        ("plan.M", 5, f"{A}.plan.M", "expected a finite M >= m (10.0), got 5.0"),
        ("plan.k", 1, f"{A}.plan.k", "expected no such field"),
        ("plan", DELETE, f"{A}.plan", "expected a value, got nothing"),
        ("results", DELETE, f"{A}.results", "expected a value, got nothing"),
        ("value", 3, f"{A}.value", "expected no such field"),  # one form or the other, not both
        ("limit", 3, f"{A}.limit", "expected no such field"),
        ("unit", DELETE, f"{A}.unit", "expected a value, got nothing"),
    ],
)
def test_a_bad_plan_analyte_names_the_field(path: str, value: Any, where: str, expected: str) -> None:
    found = problems(with_(with_plan(), f"data.analytes[3].{path}", value), "events[0]")
    assert [w for w, _ in found] == [where], found
    assert expected in found[0][1], found


def test_the_limits_table_neither_fills_nor_checks_a_plan() -> None:
    """The table's "Salmonella" is a single maximum (0 detections/25 g); a plan for Salmonella keeps
    its own plan: nothing is filled in (no limit appears) and nothing is compared with the table."""
    table = default_limits()
    salmonella = plan_analyte(n=5, c=0, m=0, big_m=None, name="Salmonella", unit="CFU/25 g")
    salmonella["results"] = [0] * 5
    event = report()
    event["data"]["analytes"].append(salmonella)
    filled = fill_limits(event["data"], table)
    assert filled["analytes"][-1] == salmonella
    parsed = parse_event(canonical_bytes(event))
    assert limit_problems(parsed, table) == []  # the value form's unit rule would refuse "CFU/25 g"
    single = with_(report(), "data.analytes[1].unit", "CFU/25 g")
    assert [p.where for p in limit_problems(parse_event(canonical_bytes(single)), table)] == [
        "event.data.analytes[1].unit"
    ]

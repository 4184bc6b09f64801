"""Test-standard templates: the packaged data's shape, and sampling-plan verdicts (two- and three-class)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core.samplingplan import SamplingPlan, plan_verdict
from cradletrace.core.teststandards import RELIABILITY, packaged_bytes, packaged_templates, parse_test_standards
from cradletrace.errors import InvalidInputError

# -- the packaged data --


def test_packaged_templates_load_and_cover_the_shipped_standards() -> None:
    templates = {t.id: t for t in packaged_templates()}
    assert {(t.standard, t.edition.split(" ")[0]) for t in templates.values()} == {
        ("GB 10765", "2021"),
        ("GB 10767", "2021"),
        ("CXS 72", "1981"),
    }
    for t in templates.values():
        assert t.missing, f"{t.id}: every template so far has values it could not confirm; they must be listed"
        for a in t.analytes:
            assert a.citation.quote and a.citation.source and a.citation.clause and a.citation.edition
            assert a.citation.reliability in RELIABILITY


def test_a_value_from_a_secondary_report_says_so() -> None:
    """Codex's melamine ML for powdered infant formula was read only in trade-press reports of its
    adoption: it is kept, marked secondary, and no longer listed as missing."""
    codex = next(t for t in packaged_templates() if t.id == "codex-cxs72-infant-formula")
    powder = next(a for a in codex.analytes if a.name == "melamine (powdered infant formula)")
    assert (powder.limit, powder.unit, powder.citation.reliability) == (1.0, "mg/kg", "secondary")
    assert not any(m.analyte == powder.name for m in codex.missing)
    liquid = next(a for a in codex.analytes if a.name == "melamine (liquid infant formula)")
    assert liquid.citation.reliability == "standard"  # read from an extraction of CXS 193's own table


def test_every_value_is_quoted_from_its_citation() -> None:
    """The number in the data must appear in the quote it cites: a typo or a guess fails here."""
    for t in packaged_templates():
        for a in t.analytes:
            assert a.limit is not None
            shown = f"{a.limit:g}"
            assert shown in a.citation.quote, (t.id, a.name, shown, a.citation.quote)


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(packaged_bytes())
    return copy.deepcopy(doc)


def _plan_analyte(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Salmonella",
        "category": "pathogen",
        "unit": "CFU/25 g",
        "plan": plan,
        "method": None,
        "citation": {
            "standard": "X",
            "edition": "1",
            "clause": "T1",
            "source": "s",
            "quote": "q",
            "reliability": "standard",
        },
    }


def _problems(doc: dict[str, Any]) -> str:
    with pytest.raises(InvalidInputError) as e:
        parse_test_standards(doc)
    return str(e.value)


def test_a_plan_analyte_is_accepted() -> None:
    doc = _doc()
    doc["templates"][0]["analytes"].append(_plan_analyte({"n": 5, "c": 2, "m": 10, "M": 100}))
    parsed = parse_test_standards(doc)[0].analytes[-1]
    assert parsed.plan == SamplingPlan(5, 2, 10.0, 100.0) and parsed.limit is None


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda a: a.update(unit="ppm"), "templates[0].analytes[0].unit: expected one of the declared units"),
        (lambda a: a.pop("citation"), "templates[0].analytes[0].citation: expected an object"),
        (lambda a: a["citation"].update(quote=""), "templates[0].analytes[0].citation.quote: expected a non-empty"),
        (
            lambda a: a["citation"].update(reliability="blog"),
            "citation.reliability: expected one of ['standard', 'authority', 'secondary'], got 'blog'",
        ),
        (lambda a: a["citation"].pop("reliability"), "citation.reliability: expected one of"),
        (lambda a: a.update(limit=-1), "templates[0].analytes[0].limit: expected a number >= 0"),
        (lambda a: a.update(plan={"n": 5, "c": 0, "m": 0, "M": None}), "expected exactly one of 'limit'"),
        (lambda a: a.update(limit=None), "expected exactly one of 'limit'"),
        (
            lambda a: a.update(limit=None, plan={"n": 2, "c": 3, "m": 0, "M": None}),
            "templates[0].analytes[0].plan.c: expected 0 <= c <= n (2), got 3",
        ),
        (
            lambda a: a.update(limit=None, plan={"n": 5, "c": 2, "m": 100, "M": 10}),
            "templates[0].analytes[0].plan.M: expected a finite M >= m (100.0), got 10.0",
        ),
        (lambda a: a.update(limit=None, plan={"n": 5.5, "c": 0, "m": 0}), "plan.n: expected a whole number"),
        (lambda a: a.update(method=""), "method: expected a non-empty string, or null"),
    ],
)
def test_shape_errors_name_the_field(edit: Any, expected: str) -> None:
    doc = _doc()
    edit(doc["templates"][0]["analytes"][0])
    assert expected in _problems(doc)


def test_missing_entries_and_ids_are_checked() -> None:
    doc = _doc()
    doc["templates"][0]["missing"][0].pop("looked_for")
    doc["templates"][1]["id"] = doc["templates"][0]["id"]
    text = _problems(doc)
    assert "templates[0].missing[0].looked_for: expected a non-empty string" in text
    assert "templates[1].id: expected a unique id" in text
    doc = _doc()
    doc["schema"] = "other/1"
    assert "schema: expected 'cradletrace/test-standards/1'" in _problems(doc)


# -- sampling-plan verdicts: ICMSF attributes plans (see trace/core/samplingplan.py) --

ABSENCE = SamplingPlan(n=5, c=0, m=0)  # two-class "absence in every unit", e.g. Salmonella n=5, c=0, m=0
THREE = SamplingPlan(n=5, c=2, m=10, big_m=100)


@pytest.mark.parametrize(
    ("plan", "results", "verdict"),
    [
        (ABSENCE, [0, 0, 0, 0, 0], "pass"),
        (ABSENCE, [0, 0, 1, 0, 0], "fail"),  # one detection in five: c = 0 allows none
        (SamplingPlan(n=5, c=1, m=100), [0, 150, 0, 0, 100], "pass"),  # exactly m is acceptable
        (SamplingPlan(n=5, c=1, m=100), [0, 150, 0, 0, 101], "fail"),
        (THREE, [10, 10, 10, 10, 10], "pass"),  # at m: good quality
        (THREE, [50, 100, 0, 0, 0], "pass"),  # two marginal (exactly M is marginal), c = 2
        (THREE, [50, 60, 70, 0, 0], "fail"),  # three marginal > c
        (THREE, [0, 0, 0, 0, 101], "fail"),  # one unit above M rejects outright
    ],
)
def test_plan_verdicts(plan: SamplingPlan, results: list[float], verdict: str) -> None:
    assert plan_verdict(plan, results).verdict == verdict


def test_every_unit_result_is_required() -> None:
    with pytest.raises(InvalidInputError, match=r"results: expected one result per sample unit \(n = 5\), got 1"):
        plan_verdict(ABSENCE, [0])
    with pytest.raises(InvalidInputError, match=r"results\[1\]: expected a finite count >= 0"):
        plan_verdict(ABSENCE, [0, -1, 0, 0, 0])
    with pytest.raises(InvalidInputError, match=r"plan.c: expected 0 <= c <= n"):
        plan_verdict(SamplingPlan(n=1, c=2, m=0), [0])


plans = st.builds(
    lambda n, c_frac, m, spread, three: SamplingPlan(n, int(c_frac * n), m, m + spread if three else None),
    st.integers(1, 12),
    st.floats(0, 1),
    st.sampled_from([0.0, 10.0, 100.0, 1000.0]),
    st.sampled_from([0.0, 90.0, 9000.0]),
    st.booleans(),
)


@given(plans, st.data())
def test_verdict_follows_the_plan_definition(plan: SamplingPlan, data: st.DataObject) -> None:
    """Against the definitions written out directly: a unit above M rejects; more than c above m rejects."""
    values = st.sampled_from([0.0, plan.m, plan.m + 1, (plan.big_m or plan.m) + 1, plan.big_m or plan.m])
    results = data.draw(st.lists(values, min_size=plan.n, max_size=plan.n))
    above_m = [r for r in results if r > plan.m]
    if plan.big_m is None:
        expected = len(above_m) <= plan.c
    else:
        expected = all(r <= plan.big_m for r in results) and len(above_m) <= plan.c
    got = plan_verdict(plan, results)
    assert got.verdict == ("pass" if expected else "fail"), (plan, results, got.reason)
    # A lot that passes still passes with any unit improved to 0 (the verdict is monotone).
    if expected:
        assert plan_verdict(plan, [0.0, *results[1:]]).verdict == "pass"

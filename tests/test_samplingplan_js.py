"""The portal's preview and the phone's facts judge a sampling plan with scanner_web/static/samplingplan.js;
the signed record's verdict is trace/core/samplingplan.py's plan_verdict. Both run here on one shared
set of cases (two- and three-class, units exactly at m and at M, c = 0 and c = n, m = 0 absence plans,
random plans) and must give the same verdict and counts, and refuse the same plans naming the same fields."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from cradletrace.core.samplingplan import SamplingPlan, plan_verdict
from cradletrace.errors import InvalidInputError
from tests.builders import run_node

FIXED: list[dict[str, Any]] = [
    {"plan": {"n": 5, "c": 2, "m": 10, "M": 100}, "results": [0, 20, 5, 11, 3]},  # 2 marginal: pass
    {"plan": {"n": 5, "c": 2, "m": 10, "M": 100}, "results": [11, 20, 50, 3, 4]},  # 3 marginal: fail
    {"plan": {"n": 5, "c": 2, "m": 10, "M": 100}, "results": [0, 0, 0, 0, 101]},  # one above M: fail
    {"plan": {"n": 5, "c": 2, "m": 10, "M": 100}, "results": [10, 10, 100, 100, 0]},  # at m and at M: pass
    {"plan": {"n": 5, "c": 0, "m": 0}, "results": [0, 0, 0, 0, 0]},  # absence in every unit: pass
    {"plan": {"n": 5, "c": 0, "m": 0}, "results": [0, 0, 1, 0, 0]},  # one detection: fail
    {"plan": {"n": 3, "c": 3, "m": 1}, "results": [5, 5, 5]},  # c = n: pass
    {"plan": {"n": 2, "c": 1, "m": 1.5, "M": 1.5}, "results": [1.5, 1.6]},  # M = m: above M fails
    {"plan": {"n": 5, "c": 6, "m": 10}, "results": [0] * 5},  # c > n
    {"plan": {"n": 0, "c": 0, "m": 10}, "results": []},  # n < 1
    {"plan": {"n": 2, "c": 0, "m": 10, "M": 5}, "results": [0, 0]},  # M < m
    {"plan": {"n": 3, "c": 0, "m": -1}, "results": [0, 0, 0]},  # m < 0
    {"plan": {"n": 3, "c": 0, "m": 1}, "results": [0, 0]},  # too few results
    {"plan": {"n": 3, "c": 0, "m": 1}, "results": [0, -2, 0]},  # a negative count
    {"plan": {"n": 3, "c": 0, "m": 1, "M": None}, "results": [0, 2, 0]},  # M null: two-class
]


def python_says(case: dict[str, Any]) -> dict[str, Any]:
    p = case["plan"]
    try:
        v = plan_verdict(SamplingPlan(p["n"], p["c"], p["m"], p.get("M")), case["results"])
    except InvalidInputError as exc:
        return {"problems": [pr.where for pr in exc.problems]}
    return {"verdict": v.verdict, "above_m": v.above_m, "above_big_m": v.above_big_m}


def cases() -> list[dict[str, Any]]:
    rnd = random.Random(15)
    out = list(FIXED)
    for i in range(2000):
        n = rnd.randint(1, 12)
        m = rnd.choice([0, 1, 10, 100, 0.5, 1e-05, 1e3])
        plan: dict[str, Any] = {"n": n, "c": rnd.randint(0, n), "m": m}
        if i % 2:
            plan["M"] = rnd.choice([m, m * 10, m + 0.5])
        picks = [0, m, m + 1, plan.get("M", m), plan.get("M", m) + 0.25, rnd.uniform(0, 3 * m + 1)]
        out.append({"plan": plan, "results": [rnd.choice(picks) for _ in range(n)]})
    return out


@pytest.mark.node
def test_the_preview_judges_a_plan_as_the_signed_record_does() -> None:
    shared = cases()
    done = run_node(["node", "tests/js/samplingplan-cases.mjs"], stdin_text=json.dumps(shared))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    got = json.loads(done.stdout)
    expected = [python_says(c) for c in shared]
    wrong = [(c, e, g) for c, e, g in zip(shared, expected, got, strict=True) if e != g]
    assert wrong == [], wrong[:5]
    verdicts = [e.get("verdict") for e in expected]
    assert verdicts.count("pass") > 300 and verdicts.count("fail") > 300  # both sides well covered
    assert [e["problems"] for e in expected[8:14]] == [
        ["plan.c"],
        ["plan.n"],
        ["plan.M"],
        ["plan.m"],
        ["results"],
        ["results[1]"],
    ]

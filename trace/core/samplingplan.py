"""Microbiological sampling plans (n, c, m, M): the lot's verdict from every sample unit's result.

A microbiological criterion is not one value against one limit: it is an attributes plan over
``n`` sample units of one lot, as the ICMSF defines them (Microorganisms in Foods 2) and as
GB 29921-2021 clause 2.3 writes them (the quotes are in data/test-standards.json, plan_definitions):

* two-class (n, c, m): a unit above ``m`` is unacceptable; "the 2-class plan rejects a lot if more
  than c out of the n sample units tested were unacceptable". With ``m = 0`` and ``c = 0`` it is
  "absence in every unit" (Salmonella, Cronobacter).
* three-class (n, c, m, M): a unit above ``M`` rejects the lot outright; units above ``m`` and up
  to ``M`` are marginal, and "more than c" marginal units reject the lot.

A unit exactly at ``m`` is acceptable and one exactly at ``M`` is marginal: both limits are
maxima ("exceeding m", "if exceeded").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cradletrace.errors import InvalidInputError, Problem


@dataclass(frozen=True)
class SamplingPlan:
    """``big_m`` (the standard's ``M``) is None for a two-class plan."""

    n: int
    c: int
    m: float
    big_m: float | None = None

    @property
    def classes(self) -> int:
        return 2 if self.big_m is None else 3

    def problems(self, where: str = "plan") -> list[Problem]:
        """Why this plan cannot be applied; empty when it can. Shared by the data loader and the verdict."""
        out: list[Problem] = []
        if self.n < 1:
            out.append(Problem(f"{where}.n", f"expected n >= 1 sample units, got {self.n}"))
        if not 0 <= self.c <= self.n:
            out.append(Problem(f"{where}.c", f"expected 0 <= c <= n ({self.n}), got {self.c}"))
        if not (math.isfinite(self.m) and self.m >= 0):
            out.append(Problem(f"{where}.m", f"expected a finite m >= 0, got {self.m}"))
        if self.big_m is not None and not (math.isfinite(self.big_m) and self.big_m >= self.m):
            out.append(Problem(f"{where}.M", f"expected a finite M >= m ({self.m}), got {self.big_m}"))
        return out


@dataclass(frozen=True)
class PlanVerdict:
    """The lot's verdict and the counts it rests on, so a report can show why."""

    verdict: str  # "pass" or "fail"
    above_m: int  # units above m (for a three-class plan: including those above M)
    above_big_m: int  # units above M; always 0 for a two-class plan
    reason: str


def plan_verdict(plan: SamplingPlan, results: Sequence[float]) -> PlanVerdict:
    """The lot passes or fails ``plan`` given each sample unit's result (one per unit, n of them).

    Every unit's result is required: a verdict on fewer units than the plan's ``n`` would be a
    different, weaker plan, and the verdict must follow the plan the standard names.
    """
    problems = plan.problems()
    if len(results) != plan.n:
        problems.append(Problem("results", f"expected one result per sample unit (n = {plan.n}), got {len(results)}"))
    problems += [
        Problem(f"results[{i}]", f"expected a finite count >= 0, got {r}")
        for i, r in enumerate(results)
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0
    ]
    if problems:
        raise InvalidInputError(problems)
    above_m = sum(1 for r in results if r > plan.m)
    if plan.big_m is None:
        if above_m > plan.c:
            return PlanVerdict(
                "fail", above_m, 0, f"{above_m} of {plan.n} units above m = {plan.m}; at most c = {plan.c} allowed"
            )
        return PlanVerdict("pass", above_m, 0, f"{above_m} of {plan.n} units above m = {plan.m}; c = {plan.c}")
    above_big_m = sum(1 for r in results if r > plan.big_m)
    marginal = above_m - above_big_m
    if above_big_m:
        return PlanVerdict("fail", above_m, above_big_m, f"{above_big_m} of {plan.n} units above M = {plan.big_m}")
    if marginal > plan.c:
        return PlanVerdict(
            "fail",
            above_m,
            0,
            f"{marginal} of {plan.n} units between m = {plan.m} and M = {plan.big_m}; at most c = {plan.c} allowed",
        )
    return PlanVerdict("pass", above_m, 0, f"{marginal} of {plan.n} units between m and M; c = {plan.c}; none above M")

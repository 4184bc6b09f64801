"""Test-report verdicts: every analyte against its limit; the report fails if any analyte does.

The verdict is always computed here from the signed values and limits, never read from input.
A microbiological analyte may instead carry a sampling plan and every sample unit's result (the
plan form, core/events.PlanAnalyte); its verdict is samplingplan.plan_verdict's, and the limits
table, whose entries are single maxima, neither fills nor checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cradletrace.core.canonical import JsonValue
from cradletrace.errors import InvalidInputError, Problem


@dataclass(frozen=True)
class Limit:
    name: str
    category: str
    unit: str
    max: float
    source: str
    min: float | None = None


def parse_limits_table(table: Mapping[str, JsonValue]) -> dict[str, Limit]:
    """Read a limits table (see data/limits-infant-formula.json), keyed by lower-case analyte name."""
    out: dict[str, Limit] = {}
    entries = table.get("limits")
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(Problem("limits", "expected a non-empty list of limits"))
    for i, e in enumerate(entries):
        where = f"limits[{i}]"
        if not isinstance(e, dict):
            raise InvalidInputError(Problem(where, "expected an object"))
        for key, kind in (("name", str), ("category", str), ("unit", str), ("source", str), ("max", (int, float))):
            if not isinstance(e.get(key), kind) or isinstance(e.get(key), bool):
                raise InvalidInputError(
                    Problem(f"{where}.{key}", f"expected a {'number' if key == 'max' else 'string'}")
                )
        lo = e.get("min")
        out[str(e["name"]).lower()] = Limit(
            name=str(e["name"]),
            category=str(e["category"]),
            unit=str(e["unit"]),
            max=float(e["max"]),  # type: ignore[arg-type]
            source=str(e["source"]),
            min=float(lo) if isinstance(lo, (int, float)) and not isinstance(lo, bool) else None,
        )
    return out


def is_plan_form(analyte: Mapping[str, JsonValue]) -> bool:
    """An analyte in the plan form (it has a plan or results), as core/events.py tells the two forms apart."""
    return "plan" in analyte or "results" in analyte


def analyte_passes(value: float, limit: float, minimum: float | None = None) -> bool:
    return value <= limit and (minimum is None or value >= minimum)


def report_verdict(analytes: Iterable[tuple[float, float, float | None]]) -> str:
    """'pass' when every (value, limit, min) passes, else 'fail'."""
    return "pass" if all(analyte_passes(v, lim, lo) for v, lim, lo in analytes) else "fail"


def fill_limits(data: dict[str, JsonValue], table: Mapping[str, Limit]) -> dict[str, JsonValue]:
    """Copy of a test report's data with missing analyte limits taken from ``table``.

    Done before signing, so the limit each verdict rests on is part of the signed, anchored event.
    Plan-form analytes are left as they are: a plan is its own criterion, not a maximum to fill.
    """
    analytes = data.get("analytes")
    if not isinstance(analytes, list):
        return data
    filled: list[JsonValue] = []
    for i, a in enumerate(analytes):
        if isinstance(a, dict) and "limit" not in a and not is_plan_form(a) and isinstance(a.get("name"), str):
            known = table.get(str(a["name"]).lower())
            if known is None:
                raise InvalidInputError(
                    Problem(
                        f"data.analytes[{i}].limit",
                        f"expected a limit: the limits table has none for {a['name']!r}",
                    )
                )
            if a.get("unit", known.unit) != known.unit:
                raise InvalidInputError(
                    Problem(
                        f"data.analytes[{i}].unit",
                        f"expected {known.unit!r} to use the table limit for {known.name!r}, got {a.get('unit')!r}",
                    )
                )
            a = {**a, "unit": known.unit, "limit": known.max}
            if known.min is not None and "min" not in a:
                a["min"] = known.min
        filled.append(a)
    return {**data, "analytes": filled}

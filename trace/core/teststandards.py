"""Test-standard templates: per product standard, the analytes a test report lists, with unit and limit.

The templates are data (data/test-standards.json), not code, so a market's limits change without a
release of the logic. Each value carries the citation it was copied from (standard, edition, clause,
source, quote) and how far that source can be trusted (``reliability``: the standard's own text, an
authority's page, or a secondary report of it), so a lab sees which values a reviewer holding the
official text should check first; what could not be read from a source is listed under ``missing``,
never guessed.
This module only reads the packaged file and checks its shape, so a bad edit fails at test time
(unknown unit, c > n, m > M, a value without its citation) instead of in a supplier's form.

The file's shape (``schema`` = ``cradletrace/test-standards/1``)::

    {"schema", "version", "note", "units": [unit, ...],
     "templates": [{"id", "standard", "edition", "title", "product_category", "market",
                    "analytes": [{"name", "category", "unit" (one of units),
                                  "limit": number >= 0 | "plan": {"n", "c", "m", "M" (null: two-class)},
                                  "method": string | null,
                                  "citation": {"standard", "edition", "clause", "source", "quote",
                                               "reliability" (one of RELIABILITY)}}],
                    "missing": [{"analyte", "standard", "looked_for"}]}],
     "plan_definitions": {name: quoted definition}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from cradletrace.core.canonical import JsonValue
from cradletrace.core.samplingplan import SamplingPlan
from cradletrace.errors import InvalidInputError, Problem

SCHEMA = "cradletrace/test-standards/1"
DATA_FILE = "data/test-standards.json"
CITATION_FIELDS = ("standard", "edition", "clause", "source", "quote")
# What the citation's source is, most trustworthy first: the standard's own text (or a faithful
# extraction of its table); a government or standards body's page or announcement (or a verbatim
# reprint of one); a news or trade report of the value or of its adoption.
RELIABILITY = ("standard", "authority", "secondary")
TEMPLATE_FIELDS = ("id", "standard", "edition", "title", "product_category", "market")
MISSING_FIELDS = ("analyte", "standard", "looked_for")


@dataclass(frozen=True)
class Citation:
    standard: str
    edition: str
    clause: str
    source: str
    quote: str
    reliability: str


@dataclass(frozen=True)
class Analyte:
    """A chemical maximum (``limit``) or a microbiological sampling plan (``plan``): exactly one of them."""

    name: str
    category: str
    unit: str
    limit: float | None
    plan: SamplingPlan | None
    method: str | None
    citation: Citation


@dataclass(frozen=True)
class Missing:
    analyte: str
    standard: str
    looked_for: str


@dataclass(frozen=True)
class Template:
    id: str
    standard: str
    edition: str
    title: str
    product_category: str
    market: str
    analytes: tuple[Analyte, ...]
    missing: tuple[Missing, ...]


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _strings(obj: dict[str, JsonValue], keys: tuple[str, ...], where: str, out: list[Problem]) -> dict[str, str]:
    got: dict[str, str] = {}
    for k in keys:
        v = obj.get(k)
        if isinstance(v, str) and v.strip():
            got[k] = v
        else:
            out.append(Problem(f"{where}.{k}", "expected a non-empty string"))
    return got


def _plan(raw: JsonValue, where: str, out: list[Problem]) -> SamplingPlan | None:
    if not isinstance(raw, dict):
        out.append(Problem(where, "expected an object with n, c, m and M (M null for a two-class plan)"))
        return None
    n, c, m, big_m = raw.get("n"), raw.get("c"), raw.get("m"), raw.get("M", "absent")
    bad = [
        Problem(f"{where}.{k}", "expected a whole number")
        for k, v in (("n", n), ("c", c))
        if not isinstance(v, int) or isinstance(v, bool)
    ]
    if not _is_number(m):
        bad.append(Problem(f"{where}.m", "expected a number"))
    if big_m is not None and not _is_number(big_m):
        bad.append(Problem(f"{where}.M", "expected a number, or null for a two-class plan"))
    if bad:
        out.extend(bad)
        return None
    plan = SamplingPlan(int(n), int(c), float(m), None if big_m is None else float(big_m))  # type: ignore[arg-type]
    out.extend(plan.problems(where))
    return plan


def _analyte(raw: JsonValue, units: frozenset[str], where: str, out: list[Problem]) -> Analyte | None:
    if not isinstance(raw, dict):
        out.append(Problem(where, "expected an object"))
        return None
    before = len(out)
    s = _strings(raw, ("name", "category", "unit"), where, out)
    if "unit" in s and s["unit"] not in units:
        out.append(Problem(f"{where}.unit", f"expected one of the declared units {sorted(units)}, got {s['unit']!r}"))
    limit, plan = raw.get("limit"), raw.get("plan")
    if (limit is None) == (plan is None):
        out.append(Problem(where, "expected exactly one of 'limit' (a maximum) or 'plan' (n, c, m, M)"))
    if limit is not None and not (_is_number(limit) and float(limit) >= 0):  # type: ignore[arg-type]
        out.append(Problem(f"{where}.limit", f"expected a number >= 0, got {limit!r}"))
    parsed_plan = _plan(plan, f"{where}.plan", out) if plan is not None else None
    method = raw.get("method")
    if method is not None and not (isinstance(method, str) and method.strip()):
        out.append(Problem(f"{where}.method", "expected a non-empty string, or null when the source names none"))
    cite = raw.get("citation")
    if not isinstance(cite, dict):
        out.append(Problem(f"{where}.citation", f"expected an object with {', '.join(CITATION_FIELDS)}"))
        return None
    c = _strings(cite, CITATION_FIELDS, f"{where}.citation", out)
    reliability = cite.get("reliability")
    if reliability not in RELIABILITY:
        out.append(
            Problem(f"{where}.citation.reliability", f"expected one of {list(RELIABILITY)}, got {reliability!r}")
        )
    if len(out) > before:
        return None
    return Analyte(
        name=s["name"],
        category=s["category"],
        unit=s["unit"],
        limit=float(limit) if _is_number(limit) else None,  # type: ignore[arg-type]
        plan=parsed_plan,
        method=method if isinstance(method, str) else None,
        citation=Citation(**c, reliability=str(reliability)),
    )


def _list(raw: JsonValue, where: str, out: list[Problem]) -> list[JsonValue]:
    if isinstance(raw, list):
        return raw
    out.append(Problem(where, "expected a list"))
    return []


def parse_test_standards(doc: JsonValue) -> tuple[Template, ...]:
    """The templates in ``doc``, after checking every field; raises with every problem found at once."""
    out: list[Problem] = []
    if not isinstance(doc, dict):
        raise InvalidInputError(Problem("", "expected a JSON object"))
    if doc.get("schema") != SCHEMA:
        out.append(Problem("schema", f"expected {SCHEMA!r}, got {doc.get('schema')!r}"))
    unit_list = _list(doc.get("units"), "units", out)
    units = frozenset(u for u in unit_list if isinstance(u, str))
    if len(units) != len(unit_list) or not units:
        out.append(Problem("units", "expected a non-empty list of distinct unit strings"))
    templates: list[Template] = []
    seen: set[str] = set()
    raw_templates = _list(doc.get("templates"), "templates", out)
    if not raw_templates:
        out.append(Problem("templates", "expected at least one template"))
    for i, t in enumerate(raw_templates):
        where = f"templates[{i}]"
        if not isinstance(t, dict):
            out.append(Problem(where, "expected an object"))
            continue
        before = len(out)
        head = _strings(t, TEMPLATE_FIELDS, where, out)
        if head.get("id") in seen:
            out.append(Problem(f"{where}.id", f"expected a unique id, {head['id']!r} is repeated"))
        seen.add(head.get("id", ""))
        analytes = [
            _analyte(a, units, f"{where}.analytes[{j}]", out)
            for j, a in enumerate(_list(t.get("analytes"), f"{where}.analytes", out))
        ]
        missing: list[Missing] = []
        for j, raw in enumerate(_list(t.get("missing"), f"{where}.missing", out)):
            got = _strings(raw, MISSING_FIELDS, f"{where}.missing[{j}]", out) if isinstance(raw, dict) else None
            if got is not None and len(got) == len(MISSING_FIELDS):
                missing.append(Missing(**got))
            elif got is None:
                out.append(Problem(f"{where}.missing[{j}]", "expected an object"))
        if not analytes and not missing:
            out.append(Problem(where, "expected analytes, or a missing list saying why there are none"))
        if len(out) == before:
            templates.append(Template(**head, analytes=tuple(a for a in analytes if a), missing=tuple(missing)))
    if out:
        raise InvalidInputError(out)
    return tuple(templates)


@lru_cache(maxsize=1)
def packaged_bytes() -> bytes:
    """The packaged file exactly as shipped: what GET /api/v1/test-standards serves."""
    return files("cradletrace").joinpath(DATA_FILE).read_bytes()


@lru_cache(maxsize=1)
def packaged_templates() -> tuple[Template, ...]:
    """The packaged templates, checked once and kept: the file does not change while the process runs."""
    doc: JsonValue = json.loads(packaged_bytes())
    return parse_test_standards(doc)

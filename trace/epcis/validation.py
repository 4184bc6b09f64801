"""EPCIS 2.0 JSON-LD validation: GS1's JSON schema, then the CBV 2.0 vocabulary lists.

``validate(document)`` returns every problem at once, each a JSON pointer (RFC 6901) into the
document and a reason; an empty list means valid. The schema is GS1's own, vendored in
``data/epcis`` and checked at the draft its ``$schema`` names (draft-07).

Two validators read the same schema with the same format checks. ``jsonschema_rs`` (Rust) gives
the verdict: ~50x faster, so a 10 000-event upload is checked in ~0.2 s instead of 10-30 s
(bench/bench_epcis.py). Its messages are terse and do not look inside ``anyOf`` branches, so
when it finds the document invalid, ``jsonschema`` (Python) explains, but only for the events the
Rust validator faulted (event list items are checked independently), with pointers mapped back
to the original indexes: the problem list is the one the Python validator gives for the whole
document.

Two gaps in the schema alone are closed here:

* ``jsonschema`` checks the ``uri`` and ``date-time`` formats only with optional packages; we
  register small RFC 3986 / RFC 3339 checks instead, so ``"eventTime": "yesterday"`` fails.
* The schema lets any business step, disposition, ... through as a "URI of another vocabulary".
  We accept a CBV term as its short name (``shipping``), its full URI
  (``https://ref.gs1.org/cbv/BizStep-shipping``) or a compact IRI (``cbv:BizStep-shipping``);
  a term in a CBV or GS1 namespace that the lists do not hold is refused, and so is a value that
  is not a URI at all. A URI in a vocabulary of one's own (``https://example.com/steps/x``) is
  allowed, as EPCIS allows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import ValidationError, best_match

from cradletrace.core.canonical import JsonValue
from cradletrace.errors import Problem

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
# Namespaces whose terms must come from the lists (GS1's own); anything else is a user vocabulary.
GS1_NAMESPACES = (
    "https://ref.gs1.org/cbv/",
    "http://ref.gs1.org/cbv/",
    "https://gs1.org/voc/",
    "http://gs1.org/voc/",
    "https://www.gs1.org/voc/",
    "urn:epcglobal:cbv:",
    "https://ns.gs1.org/cbv/",
    "http://ns.gs1.org/cbv/",
)
STANDARD_PREFIXES = {
    "cbv": CBV,
    "gs1": GS1_VOC,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?:[^\s%<>\"{}|\\^`\x00-\x1f\x7f]|%[0-9A-Fa-f]{2})*$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$")
LABELS = {
    "bizStep": "business step",
    "disposition": "disposition",
    "bizTransactionType": "business transaction type",
    "sourceDestType": "source/destination type",
    "errorReason": "error reason",
    "component": "sensor component",
    "measurementType": "measurement type",
    "sensorAlertType": "sensor alert type",
}


def _data(name: str) -> Any:
    return json.loads(files("cradletrace").joinpath("data", "epcis", name).read_text(encoding="utf-8"))


@cache
def schema() -> dict[str, Any]:
    """GS1's EPCIS 2.0 JSON schema, as vendored."""
    value: dict[str, Any] = _data("EPCIS-JSON-Schema.json")
    return value


@cache
def vocabulary() -> dict[str, tuple[str, frozenset[str]]]:
    """CBV 2.0 lists: name -> (namespace of the full URIs, short names)."""
    lists = _data("cbv-2.0-vocabulary.json")["lists"]
    return {k: (v["prefix"], frozenset(v["terms"])) for k, v in lists.items()}


def is_uri(value: object) -> bool:
    """An absolute URI (RFC 3986: a scheme, then no spaces, no characters that need escaping)."""
    return isinstance(value, str) and _URI.match(value) is not None


def is_date_time(value: object) -> bool:
    """An RFC 3339 date-time with its offset (what EPCIS calls ``xsd:dateTimeStamp``)."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())  # the draft the schema's $schema names
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(is_uri)
    checker.checks("date-time")(is_date_time)
    return cls(schema(), format_checker=checker)


def pointer(path: Iterator[str | int] | Any) -> str:
    """RFC 6901 JSON pointer of a path; '' is the whole document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(e: ValidationError) -> str:
    v, inst = e.validator, e.instance
    if v == "required":
        missing = e.message.split("'")[1] if "'" in e.message else e.message
        return f"expected property {missing!r}, got none"
    if v == "enum":
        choices = ", ".join(map(str, e.validator_value))
        return f"expected one of {choices}, got {_shown(inst)}"
    if v == "type":
        return f"expected {e.validator_value}, got {_shown(inst)}"
    if v == "format":
        what = {"uri": "an absolute URI (RFC 3986)", "date-time": "a date-time with offset (RFC 3339)"}.get(
            str(e.validator_value), f"format {e.validator_value}"
        )
        return f"expected {what}, got {_shown(inst)}"
    if v == "pattern":
        return f"expected text matching {e.validator_value}, got {_shown(inst)}"
    if v == "additionalProperties":
        return f"expected no other properties: {e.message}"
    return f"expected a valid value: {e.message}"


def _problem(e: ValidationError) -> Problem:
    if e.context:
        # Of the alternatives, name the one that got furthest into the value (not "some other branch is required").
        e = best_match(
            e.context, key=lambda x: (len(x.absolute_path), x.validator not in ("anyOf", "oneOf", "required"))
        )
    path = list(e.absolute_path)
    if "propertyNames" in e.absolute_schema_path:
        return Problem(
            pointer([*path, e.instance]),
            f"expected an EPCIS field of this object or an extension named by a URI (prefix:name), "
            f"got property {_shown(e.instance)}",
        )
    return Problem(pointer(path), _reason(e))


def schema_problems_full(document: JsonValue) -> list[Problem]:
    """Problems found by GS1's JSON schema through ``jsonschema`` over the whole document, one per place.

    The reference for ``schema_problems``; slow (~1 000 events/s), so used on its own only in tests and the benchmark.
    """
    seen: dict[str, Problem] = {}
    for e in _validator().iter_errors(document):
        p = _problem(e)
        seen.setdefault(p.where, p)
    return sorted(seen.values(), key=lambda p: p.where)


@cache
def _fast_validator() -> Any:
    """The Rust validator of the same schema, compiled once per process, with our format checks."""
    return jsonschema_rs.validator_for(
        schema(), formats={"uri": is_uri, "date-time": is_date_time}, validate_formats=True
    )


# Where event lists sit (the schema checks their items independently of each other).
_EVENT_LISTS = (("epcisBody", "eventList"), ("epcisBody", "queryResults", "resultsBody", "eventList"))


def _faulted(errors: list[Any], at: tuple[str, ...]) -> list[int]:
    """Indexes of the events under ``at`` that the Rust validator reported an error in, ascending."""
    n = len(at)
    return sorted(
        {
            e.instance_path[n]
            for e in errors
            if len(e.instance_path) > n and tuple(e.instance_path[:n]) == at and isinstance(e.instance_path[n], int)
        }
    )


def _pruned(document: Any, at: tuple[str, ...], keep: list[int]) -> Any:
    """A copy of ``document`` whose list at ``at`` holds only the events ``keep`` (shallow: shares the rest)."""
    out = dict(document)
    node = out
    for key in at[:-1]:
        node[key] = dict(node[key])
        node = node[key]
    node[at[-1]] = [node[at[-1]][i] for i in keep]
    return out


def _renumbered(p: Problem, at: tuple[str, ...], keep: list[int]) -> Problem:
    base = pointer(at) + "/"
    if not p.where.startswith(base):
        return p
    index, sep, rest = p.where[len(base) :].partition("/")
    return Problem(f"{base}{keep[int(index)]}{sep}{rest}", p.message)


def _list_at(document: Any, at: tuple[str, ...]) -> Any:
    node = document
    for key in at:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def schema_problems(document: JsonValue) -> list[Problem]:
    """Problems found by GS1's JSON schema (with URI and date-time checked), one per place.

    The same list as ``schema_problems_full``: the Rust validator decides, and for an invalid
    document the Python one explains the faulted events and everything outside the event lists.
    """
    fast = _fast_validator()
    if fast.is_valid(document):
        return []
    errors = list(fast.iter_errors(document))
    doc: Any = document
    kept: list[tuple[tuple[str, ...], list[int]]] = []
    for at in _EVENT_LISTS:
        if isinstance(_list_at(doc, at), list):
            keep = _faulted(errors, at)
            doc = _pruned(doc, at, keep)
            kept.append((at, keep))
    problems = schema_problems_full(doc)
    for list_at, keep in kept:
        problems = [_renumbered(p, list_at, keep) for p in problems]
    return sorted(problems, key=lambda p: p.where)


def prefixes(document: Mapping[str, Any]) -> dict[str, str]:
    """Compact-IRI prefixes a document defines in its ``@context`` (plus the EPCIS ones)."""
    out = dict(STANDARD_PREFIXES)
    ctx = document.get("@context")
    for part in ctx if isinstance(ctx, list) else [ctx]:
        if isinstance(part, dict):
            out.update({k: v for k, v in part.items() if isinstance(v, str) and not k.startswith("@")})
    return out


def expand(value: str, known: Mapping[str, str]) -> str:
    """A compact IRI (``cbv:BizStep-x``) as its full URI; anything else unchanged."""
    if ":" not in value:  # most keys and values: no prefix to expand, and no regex run to say so
        return value
    m = _SCHEME.match(value)
    if m and m.group(1) in known and not m.group(2).startswith("//"):
        return known[m.group(1)] + m.group(2)
    return value


def term(value: object, list_name: str, known: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(CBV short name or None, problem or None) for one vocabulary value."""
    prefix, terms = vocabulary()[list_name]
    label = LABELS[list_name]
    if not isinstance(value, str):
        return None, None  # the schema reports the type
    if value in terms:
        return value, None
    full = expand(value, known)
    if full.startswith(prefix) and full[len(prefix) :] in terms:
        return full[len(prefix) :], None
    if full.startswith(GS1_NAMESPACES):
        return (
            None,
            f"expected a CBV 2.0 {label} (a short name such as {sorted(terms)[0]!r} or {prefix}<name>), got {value!r}",
        )
    if not is_uri(full):
        return None, (
            f"expected a CBV 2.0 {label} ({', '.join(sorted(terms)[:6])}, ...; or {prefix}<name>) "
            f"or a URI of your own vocabulary, got {value!r}"
        )
    return None, None  # a user vocabulary URI: allowed by EPCIS, kept as it is


def events_of(document: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(pointer, event) for each event of an EPCIS document, query document or single event."""
    body = document.get("epcisBody")
    if isinstance(body, dict):
        events = body.get("eventList")
        where = "/epcisBody/eventList"
        if events is None and isinstance(body.get("queryResults"), dict):
            results = body["queryResults"].get("resultsBody")
            events = results.get("eventList") if isinstance(results, dict) else None
            where = "/epcisBody/queryResults/resultsBody/eventList"
        return [(f"{where}/{i}", e) for i, e in enumerate(events)] if isinstance(events, list) else []
    return [("", document)] if "eventTime" in document else []


def _vocabulary_values(event: Mapping[str, Any]) -> Iterator[tuple[list[str | int], object, str]]:
    """(path inside the event, value, list name) of every field whose value must be a CBV term."""
    for field in ("bizStep", "disposition"):
        if field in event:
            yield [field], event[field], field
    pd = event.get("persistentDisposition")
    if isinstance(pd, dict):
        for k in ("set", "unset"):
            for i, v in enumerate(pd.get(k) or []):
                yield ["persistentDisposition", k, i], v, "disposition"
    for field, lst in (
        ("bizTransactionList", "bizTransactionType"),
        ("sourceList", "sourceDestType"),
        ("destinationList", "sourceDestType"),
    ):
        for i, x in enumerate(event.get(field) or []):
            if isinstance(x, dict) and "type" in x:
                yield [field, i, "type"], x["type"], lst
    err = event.get("errorDeclaration")
    if isinstance(err, dict) and "reason" in err:
        yield ["errorDeclaration", "reason"], err["reason"], "errorReason"
    for i, element in enumerate(event.get("sensorElementList") or []):
        if not isinstance(element, dict):
            continue
        for j, report in enumerate(element.get("sensorReport") or []):
            if not isinstance(report, dict):
                continue
            for field, lst in (
                ("type", "measurementType"),
                ("exception", "sensorAlertType"),
                ("component", "component"),
            ):
                if field in report:
                    yield ["sensorElementList", i, "sensorReport", j, field], report[field], lst


def vocabulary_problems(document: JsonValue) -> list[Problem]:
    """Values outside the CBV 2.0 lists, each with the pointer to it."""
    if not isinstance(document, dict):
        return []
    known = prefixes(document)
    out: list[Problem] = []
    for where, event in events_of(document):
        if not isinstance(event, dict):
            continue
        local = {**known, **prefixes(event)} if "@context" in event else known
        for path, value, lst in _vocabulary_values(event):
            _, problem = term(value, lst, local)
            if problem:
                out.append(Problem(where + pointer(path), problem))
    return out


def validate(document: JsonValue) -> list[Problem]:
    """Every problem of an EPCIS 2.0 document: schema, formats, then CBV vocabulary."""
    found = {p.where: p for p in schema_problems(document)}
    for p in vocabulary_problems(document):
        found[p.where] = p  # names the vocabulary, where the schema could only say "not a URI"
    return sorted(found.values(), key=lambda p: p.where)

"""The CBV 2.0 EPCIS event hash: ``ni:///sha-256;<hex>?ver=CBV2.0`` of a canonical pre-hash string.

Partners identify an EPCIS event by this hash whatever syntax or key order they received it
in, so it must come out byte for byte as GS1's reference implementation computes it
(github.com/RalphTro/epcis-event-hash-generator; its published release 1.9.3 reproduces the
vectors in ``tests/vectors/cbv-event-hash`` and was the oracle for every other vector here).
The pre-hash string is built like this:

1. ``eventType=<type>``, then the fields of the canonical property order below, each as
   ``name=value`` (``value`` canonicalised), nested fields as ``name`` followed by their own
   fields in their own order; several values of one field are sorted (case-sensitive, by code
   point). Fields that are absent or empty add nothing.
2. Then every remaining field, sorted: ``bizTransactionList``, ``destinationList``, ``ilmd``,
   ``sourceList`` and the user extensions (``{namespace}local``), as the reference emits them.
   ``recordTime``, ``eventID`` and ``errorDeclaration`` are left out. A business transaction,
   source or destination is ``type=<type>`` then its identifier; the items of a list are sorted.
3. User extensions inside ``readPoint``, ``bizLocation``, ``sensorElement``, ``sensorMetadata``
   and ``sensorReport`` follow the standard fields of their parent, sorted.

Values: surrounding whitespace is dropped; fields whose name contains ``time`` (not
``offset``) are written in UTC at millisecond precision (``.000Z``; a fourth digit rounds half
up); CBV URNs (``urn:epcglobal:cbv:bizstep:...``) and short names (``shipping``) become CBV
web URIs (``https://ref.gs1.org/cbv/BizStep-shipping``); numbers lose trailing zeros and a
leading ``+`` (``26.0`` -> ``26``); GS1 identifiers become constrained canonical Digital Link
URIs (``epcisids``); ``prefix:name`` is expanded with the prefixes the document's own
``@context`` declares.

Where the reference 1.9.3 is ambiguous or breaks its own rules, this module follows the rule
and says so here: the type of a business transaction/source/destination comes first whatever
the JSON key order (the reference keeps the key order); an item without a type is hashed
without one (the reference fails); booleans are ``true``/``false`` as in XML (1.9.3 writes
``True``); a fourth fraction digit of exactly 5 rounds up and may carry into the seconds
(1.9.3 rounds half to even and fails on the carry); numbers that a double cannot hold exactly
keep all their digits (1.9.3 rounds them through a double); short names are matched within one
event, not the whole document. Changing any rule here changes every stored event hash.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Union

from cradletrace.core import cbvterms
from cradletrace.core.epcisids import to_digital_link
from cradletrace.errors import InvalidInputError, Problem

VERSION = "CBV2.0"

_Order = Sequence[tuple[str, Union["_Order", None]]]
_QUANTITY: _Order = [("quantityElement", [("epcClass", None), ("quantity", None), ("uom", None)])]
_EPCS: _Order = [("epc", None)]
# The canonical property order, as the reference walks it. bizTransactionList, sourceList and
# destinationList are in the reference's table too but it never matches them there, so they come
# out with the remaining fields (step 2 of the module docstring).
ORDER: _Order = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", _EPCS),
    ("inputEPCList", _EPCS),
    ("childEPCs", _EPCS),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", _EPCS),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [
                    (
                        "sensorMetadata",
                        [
                            (n, None)
                            for n in (
                                "time",
                                "startTime",
                                "endTime",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "bizRules",
                            )
                        ],
                    ),
                    (
                        "sensorReport",
                        [
                            (n, None)
                            for n in (
                                "type",
                                "exception",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "time",
                                "microorganism",
                                "chemicalSubstance",
                                "value",
                                "component",
                                "stringValue",
                                "booleanValue",
                                "hexBinaryValue",
                                "uriValue",
                                "minValue",
                                "maxValue",
                                "meanValue",
                                "sDev",
                                "percRank",
                                "percValue",
                                "uom",
                                "coordinateReferenceSystem",
                            )
                        ],
                    ),
                ],
            )
        ],
    ),
]
_LEFT_OUT = frozenset({"recordTime", "eventID", "type", "errorDeclaration"})
_SKIPPED_KEYS = frozenset({"#text", "rdfs:comment", "comment"})
_PAIR_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
_RENAMED = {
    "inputEPC": "epc",
    "outputEPC": "epc",
    "inputQuantity": "quantityElement",
    "outputQuantity": "quantityElement",
    "childQuantity": "quantityElement",
}
_WEB_VOCABULARY = (
    ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
    ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
    ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
)
_VOCABULARY_URIS = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
# Prefixes of the standard EPCIS 2.0 context, used where JSON-LD would expand a CBV value.
_STANDARD_PREFIXES = {
    "cbv": "https://ref.gs1.org/cbv/",
    "gs1": "https://gs1.org/voc/",
    "epcis": "https://ref.gs1.org/epcis/",
}
_TIME = re.compile(r"(-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?\Z")


@dataclass(eq=False)
class _Node:
    """One field: a name, a text value and child fields (the reference's XML-like model)."""

    name: str
    value: str = ""
    children: list[_Node] = field(default_factory=list)
    pair: bool = False  # a (type, identifier) item of bizTransactionList/sourceList/destinationList


# -- public API ---------------------------------------------------------------------------


def namespaces(context: object) -> dict[str, str]:
    """The ``prefix -> namespace IRI`` pairs a JSON-LD ``@context`` declares (string entries only)."""
    found: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, Mapping):
            found.update({k: v for k, v in entry.items() if isinstance(k, str) and isinstance(v, str)})
    return found


def prehash(event: Mapping[str, Any], context: object = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON-LD event; ``context`` is its document's ``@context``."""
    if not isinstance(event, Mapping):
        raise InvalidInputError(Problem("", f"expected an EPCIS event object, got {type(event).__name__}"))
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidInputError(
            Problem("type", f"expected the event type as a string (e.g. 'ObjectEvent'), got {kind!r}")
        )
    tree = _children(_with_vocabulary(event), namespaces(context), "")
    ordered = _ordered(tree, ORDER)
    return f"eventType={kind}{ordered}{_rest([n for n in tree if n.name not in _LEFT_OUT])}"


def hash_prehash(prehash_string: str) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` (RFC 6920 named information) of a pre-hash string."""
    return f"ni:///sha-256;{hashlib.sha256(prehash_string.encode('utf-8')).hexdigest()}?ver={VERSION}"


def event_hash(event: Mapping[str, Any], context: object = None) -> str:
    """The CBV 2.0 event hash of one EPCIS 2.0 JSON-LD event; ``context`` is its document's ``@context``."""
    return hash_prehash(prehash(event, context))


def document_prehashes(doc: Mapping[str, Any]) -> list[str]:
    """The pre-hash string of every event of an EPCIS document or query document, in document order."""
    events = list(_events(doc))
    context, out = doc.get("@context"), []
    for where, event in events:
        try:
            out.append(prehash(event, context))
        except InvalidInputError as exc:
            raise InvalidInputError(
                [Problem(".".join(p for p in (where, x.where) if p), x.message) for x in exc.problems]
            ) from None
    return out


def document_hashes(doc: Mapping[str, Any]) -> list[str]:
    """The event hash of every event of an EPCIS document or query document, in document order."""
    return [hash_prehash(p) for p in document_prehashes(doc)]


def _events(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(doc, Mapping):
        raise InvalidInputError(Problem("", f"expected an EPCIS document (a JSON object), got {type(doc).__name__}"))
    body = doc.get("epcisBody")
    if not isinstance(body, Mapping):
        raise InvalidInputError(
            Problem("epcisBody", "expected an object with 'eventList' (or 'event' or 'queryResults')")
        )
    where, events = "epcisBody.eventList", body.get("eventList")
    if events is None and "event" in body:
        where, events = "epcisBody.event", [body["event"]]
    elif events is None and isinstance(body.get("queryResults"), Mapping):
        where = "epcisBody.queryResults.resultsBody.eventList"
        events = (body["queryResults"].get("resultsBody") or {}).get("eventList")
    if not isinstance(events, list):
        raise InvalidInputError(Problem(where, f"expected a list of events, got {type(events).__name__}"))
    for i, event in enumerate(events):
        yield (where if where == "epcisBody.event" else f"{where}[{i}]"), event


# -- short names -> CBV URIs (rule 16) ---------------------------------------------------------

_VOCAB_FIELDS: dict[tuple[str, ...], tuple[frozenset[str], str]] = {
    ("bizStep",): (cbvterms.BIZ_STEPS, cbvterms.BIZ_STEPS_NS),
    ("disposition",): (cbvterms.DISPOSITIONS, cbvterms.DISPOSITIONS_NS),
    ("persistentDisposition", "set"): (cbvterms.DISPOSITIONS, cbvterms.DISPOSITIONS_NS),
    ("persistentDisposition", "unset"): (cbvterms.DISPOSITIONS, cbvterms.DISPOSITIONS_NS),
    ("bizTransactionList", "type"): (cbvterms.BIZ_TRANSACTION_TYPES, cbvterms.BIZ_TRANSACTION_TYPES_NS),
    ("sourceList", "type"): (cbvterms.SOURCE_DESTINATION_TYPES, cbvterms.SOURCE_DESTINATION_TYPES_NS),
    ("destinationList", "type"): (cbvterms.SOURCE_DESTINATION_TYPES, cbvterms.SOURCE_DESTINATION_TYPES_NS),
    ("sensorElementList", "sensorReport", "type"): (cbvterms.MEASUREMENT_TYPES, cbvterms.MEASUREMENT_TYPES_NS),
    ("sensorElementList", "sensorReport", "exception"): (cbvterms.SENSOR_ALERT_TYPES, cbvterms.SENSOR_ALERT_TYPES_NS),
    ("sensorElementList", "sensorReport", "component"): (cbvterms.COMPONENTS, cbvterms.COMPONENTS_NS),
    ("errorDeclaration", "reason"): (cbvterms.ERROR_REASONS, cbvterms.ERROR_REASONS_NS),
}


def _strings(value: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string value with the path of object keys above it (list positions skipped)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, (*path, str(k)))
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, path)


def _expanded(path: tuple[str, ...], value: str) -> str:
    """What JSON-LD expansion with the EPCIS 2.0 context makes of a value (for CBV-typed fields)."""
    vocab = _VOCAB_FIELDS.get(path)
    if vocab is None:
        return value
    terms, base = vocab
    if value in terms:
        return base + value
    prefix, _, local = value.partition(":")
    return _STANDARD_PREFIXES[prefix] + local if prefix in _STANDARD_PREFIXES and local else value


def _with_vocabulary(event: Mapping[str, Any]) -> Any:
    """The event with short names replaced by the CBV/GS1 web URI they stand for.

    As the reference does: any string value that is the last ``-``/``/`` segment of exactly one
    CBV or GS1 vocabulary URI occurring in the event (after JSON-LD expansion) becomes that URI.
    """
    uris = {e for path, v in _strings(event, ()) if (e := _expanded(path, v)).startswith(_VOCABULARY_URIS)}
    if not uris:
        return event
    # The URIs reversed and sorted: those ending in "-value" are the ones starting with the
    # reversed value and "-", found by bisection (a scan of every URI per value is quadratic).
    ends = sorted(u[::-1] for u in uris)

    def swap(value: object) -> object:
        if isinstance(value, str):
            tail, hits = value[::-1], []
            for sep in "-/":
                first = bisect_left(ends, tail + sep)
                hits += ends[first : min(first + 2, bisect_left(ends, tail + chr(ord(sep) + 1)))]
            return hits[0][::-1] if len(hits) == 1 else value
        if isinstance(value, Mapping):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return swap(event)


# -- JSON -> fields --------------------------------------------------------------------------


def _curie(text: str, ns: Mapping[str, str], *, key: bool) -> str:
    prefix, sep, local = text.partition(":")
    if not sep or prefix not in ns:
        return text
    return f"{{{ns[prefix]}}}{local}" if key else ns[prefix] + local


def _scalar(value: object, ns: Mapping[str, str]) -> str:
    if isinstance(value, str):
        return _curie(value, ns, key=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _node(name: str, value: object, ns: Mapping[str, str], where: str) -> _Node:
    if isinstance(value, Mapping):
        text = value.get("#text")
        return _Node(name, "" if text is None else str(text), _children(value, ns, where))
    if isinstance(value, list):
        return _Node(name, "", _corrected([_node("", v, ns, where) for v in value], where))
    return _Node(name, _scalar(value, ns))


def _children(obj: Mapping[str, Any], ns: Mapping[str, str], where: str) -> list[_Node]:
    nodes = []
    for key, value in obj.items():
        if key in _SKIPPED_KEYS or key.startswith("@xmlns"):
            continue
        name, at = _curie(key, ns, key=True), f"{where}.{key}" if where else key
        for item in value if isinstance(value, list) else [value]:
            nodes.append(_node(name, item, ns, at))
    return _corrected(nodes, where)


def _pair(item: _Node, id_name: str, where: str) -> _Node:
    kinds = [c for c in item.children if c.name == "type"]
    ids = [c for c in item.children if c.name == id_name]
    if len(ids) != 1 or len(kinds) > 1:
        raise InvalidInputError(Problem(where, f"expected objects with one '{id_name}' and at most one 'type'"))
    return _Node("", children=[*kinds, *ids], pair=True)


def _corrected(nodes: list[_Node], where: str) -> list[_Node]:
    """Give JSON fields the shape of their XML form, which the property order is written for.

    ``xList: [a, b]`` becomes one ``xList`` holding ``x`` items; ``childEPCs`` values gather
    into one ``childEPCs`` of ``epc``; input/output EPCs and quantities take XML's item names.
    """
    lists: dict[str, list[_Node]] = {}
    out: list[_Node] = []
    for n in nodes:
        if n.name.endswith("List"):
            lists.setdefault(n.name, []).append(_Node(n.name[:-4], n.value, n.children))
        else:
            out.append(n)
    for name, items in lists.items():
        if name in _PAIR_LISTS:
            at = f"{where}.{name}" if where else name
            items = [_pair(item, _PAIR_LISTS[name], at) for item in items]
        else:
            items = [_renamed(item) for item in items]
        out.append(_Node(name, "", items))
    child_epcs = [n for n in out if n.name == "childEPCs"]
    if child_epcs:
        out = [n for n in out if n.name != "childEPCs"]
        out.append(_Node("childEPCs", "", [_Node("epc", n.value) for n in child_epcs]))
    return [_renamed(n) for n in out]


def _renamed(node: _Node) -> _Node:
    if node.name in _RENAMED:
        node.name = _RENAMED[node.name]
    elif node.name == "quantity" and node.children:
        node.name = "quantityElement"
    return node


# -- fields -> pre-hash string --------------------------------------------------------------------


def _take_extensions(nodes: list[_Node]) -> list[_Node]:
    """User extensions inside a standard field (rule 21): they follow the field's own children."""
    if len(nodes) <= 1 or any("eventTime" in n.name or "action" in n.name for n in nodes):
        return []
    found = [n for n in nodes if "{" in n.name and "/}" in n.name]
    nodes[:] = [n for n in nodes if not ("{" in n.name and "/}" in n.name)]
    return found


def _ordered(nodes: list[_Node], order: _Order) -> str:
    """Fields of ``nodes`` named in ``order``, in that order; consumes them from ``nodes``."""
    extensions = _take_extensions(nodes)
    by_name: dict[str, list[_Node]] = {}
    for n in nodes:
        by_name.setdefault(n.name, []).append(n)
    parts: list[str] = []
    for name, sub_order in order:
        if name in by_name:
            parts.extend(sorted(text for n in by_name[name] if (text := _ordered_one(n, sub_order))))
    # A field of the order with nothing left is spent (removed once: removing each is quadratic).
    if any(name in by_name for name, _ in order):
        names = {name for name, _ in order}
        nodes[:] = [n for n in nodes if n.children or n.name not in names]
    return "".join(parts) + (_rest(extensions) if extensions else "")


def _ordered_one(node: _Node, sub_order: _Order | None) -> str:
    inner = _ordered(node.children, sub_order) if sub_order else ""
    text = node.value.strip()
    if text:
        lowered = node.name.lower()
        text = timestamp(text) if "time" in lowered and "offset" not in lowered else canonical_value(text)
    value = "=" + text if text else ""
    return node.name + value + inner if value or inner else ""


def _rest(nodes: list[_Node]) -> str:
    """Fields outside the property order (and the items of pair lists), each with all it holds, sorted."""
    values = []
    for n in nodes:
        if n.pair:
            values.append("".join(_rest_one(c) for c in n.children))
        else:
            values.append(_rest_one(n))
    return "".join(sorted(values))


def _rest_one(node: _Node) -> str:
    text = node.value.strip()
    return node.name + ("=" + canonical_value(text) if text else "") + _rest(node.children)


# -- values --------------------------------------------------------------------------------------


def canonical_value(text: str) -> str:
    """A (stripped) value as the pre-hash string holds it: CBV web URI, plain number, Digital Link."""
    return _canonical_short(text) if len(text) <= 200 else _canonical(text)


# Units, types and vocabulary URIs repeat in every reading of a cold chain; only short values are
# kept, so the cache never holds more than ~1 MB whatever events arrive.
@lru_cache(maxsize=4096)
def _canonical_short(text: str) -> str:
    return _canonical(text)


def _canonical(text: str) -> str:
    for urn, uri in _WEB_VOCABULARY:
        text = text.replace(urn, uri)
    text = number(text)
    return to_digital_link(text) or text


def number(text: str) -> str:
    """A numeric value without trailing zeros or sign noise (``+26.50`` -> ``26.5``); others unchanged.

    Like the reference this reads the value as a double (so ``1e3`` is ``1000`` and ``1e-07``
    stays ``1e-07``); a value the double cannot hold exactly keeps its exact decimal digits.
    """
    try:
        f = float(text)
    except ValueError:
        return text
    if f != f or f in (float("inf"), float("-inf")):
        return text
    try:
        exact = Decimal(text.replace("_", ""))
    except InvalidOperation:
        exact = Decimal(repr(f))
    if exact == Decimal(repr(f)):
        return str(int(f)) if f == int(f) else repr(f)
    if exact == exact.to_integral_value():
        return str(exact.quantize(Decimal(1)))
    return format(exact.normalize(), "f")


def timestamp(text: str) -> str:
    """An xsd:dateTime in UTC with milliseconds (``...T10:00:30.000Z``); unparseable text unchanged.

    A time without an offset is read as UTC (the reference uses the machine's zone).
    """
    m = _TIME.match(text)
    if not m:
        return text
    try:
        moment = datetime.fromisoformat(m.group(1)).replace(tzinfo=_zone(m.group(3)))
    except ValueError:
        return text
    millis = (Decimal("0." + (m.group(2) or "0")) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    moment = moment.astimezone(UTC).replace(tzinfo=None) + timedelta(milliseconds=int(millis))
    return moment.isoformat(timespec="milliseconds") + "Z"


def _zone(offset: str | None) -> timezone:
    if not offset or offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))

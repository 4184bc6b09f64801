"""EPCIS 2.0 queries over the index (index.py): GS1's SimpleEventQuery parameters, paging, access.

The parameters are those of GS1's REST binding (trace/data/epcis/epcis-rest-openapi.json): lists
are pipe-delimited (``EQ_bizStep=shipping|receiving``) or the parameter repeated. ``MATCH_*`` take
EPC URIs, EPC class URIs, EPC pattern URIs (``urn:epc:idpat:sgtin:0614141.107346.*``, also with
the item reference ``*``) and GS1 Digital Link URIs (any host); a pattern, or a Digital Link of a
GTIN alone, matches every EPC and class under it. A parameter the binding defines that this
repository does not evaluate, and any unknown one, is refused naming it (QueryParameterException).

Paging: results are ordered by (recordTime, event id), a total and stable order since events are
only ever added. ``nextPageToken`` is the last (recordTime, id) served and a digest of the query,
base64url-encoded: a token is refused for another query, and a forged one only moves the cursor
inside what the caller may see (access is applied to every page).

Access (``Viewer``): quality and operator see every event; a supplier sees the events it recorded
or captured, and the events about the lots it has custody of as recording defines it for lots: the
lots it made (its batch events) and the lots shipped to it (it is the consignee of a recorded
shipment): what its partners shared with it by shipping to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true, tuple_
from sqlmodel import Session, col, select

from cradletrace.epcis import index
from cradletrace.epcis.export import _fits, _merge_context
from cradletrace.epcis.index import identifier, vocab
from cradletrace.errors import EpcisQueryError, Problem
from cradletrace.store.models import EpcisIndex, EpcisIndexValue, EventRow, Lot, Shipment

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
PER_PAGE = 30
MAX_PER_PAGE = 1000
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")

# parameter -> roles of epcis_index_value it matches (GS1 EPCIS 2.0 section 8.2.7.1)
MATCH = {
    "MATCH_epc": ("epc",),
    "MATCH_parentID": ("parent",),
    "MATCH_inputEPC": ("input",),
    "MATCH_outputEPC": ("output",),
    "MATCH_anyEPC": ("epc", "parent", "input", "output"),
    "MATCH_epcClass": ("class",),
    "MATCH_inputEPCClass": ("input_class",),
    "MATCH_outputEPCClass": ("output_class",),
    "MATCH_anyEPCClass": ("class", "input_class", "output_class"),
    "EQ_correctiveEventID": ("corrective",),
}
LISTS: dict[str, tuple[str, Callable[[str], str]]] = {  # list parameter -> (index column, how a value is normalised)
    "EQ_bizStep": ("biz_step", lambda v: vocab("bizStep", v)),
    "EQ_disposition": ("disposition", lambda v: vocab("disposition", v)),
    "EQ_readPoint": ("read_point", identifier),
    "EQ_bizLocation": ("biz_location", identifier),
    "EQ_eventID": ("eid", lambda v: v),
    "EQ_errorReason": ("error_reason", lambda v: vocab("errorReason", v)),
}
TIMES = {
    "GE_eventTime": ("event_time", True),
    "LT_eventTime": ("event_time", False),
    "GE_recordTime": ("record_time", True),
    "LT_recordTime": ("record_time", False),
    "GE_errorDeclarationTime": ("error_time", True),
    "LT_errorDeclarationTime": ("error_time", False),
}
PAGING = ("perPage", "nextPageToken")
SUPPORTED = frozenset({"eventType", "EXISTS_errorDeclaration", *MATCH, *LISTS, *TIMES, *PAGING})
_GTIN_PATTERN_HEAD = "urn:epc:idpat:sgtin:"


def _error(name: str, message: str) -> EpcisQueryError:
    return EpcisQueryError(Problem(name, message))


@dataclass(frozen=True)
class Viewer:
    """Who asks: ``supplier`` None sees everything (quality, operator)."""

    supplier: str | None


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    context: list[Any]
    next_token: str | None


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    out = [v for raw in params[name] for v in raw.split("|")]
    if not out or any(not v for v in out):
        raise _error(name, "expected one value or more, separated by '|', got an empty value")
    return out


def _time(name: str, raw: Sequence[str]) -> datetime:
    if len(raw) != 1:
        raise _error(name, f"expected one date-time, got {len(raw)}")
    try:
        t = datetime.fromisoformat(raw[0].replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise _error(name, f"expected an RFC 3339 date-time with a time zone (2024-05-01T10:00:00Z), got {raw[0]!r}")
    return t


def _match(name: str, value: str) -> ColumnElement[bool]:
    """One MATCH_* value as a condition on epcis_index_value.value: exact, or everything under a pattern."""
    if name == "EQ_correctiveEventID":
        return col(EpcisIndexValue.value) == value
    if value.startswith(_GTIN_PATTERN_HEAD) and value.endswith(".*.*"):
        company = value[len(_GTIN_PATTERN_HEAD) : -4]
        if not company.isdigit():
            raise _error(name, f"expected an EPC pattern such as urn:epc:idpat:sgtin:0614141.*.*, got {value!r}")
        # any GTIN of that company prefix: indicator digit, the prefix, then the rest
        return col(EpcisIndexValue.value).like(f"https://id.gs1.org/01/_{company}%")
    canonical = identifier(value)
    is_pattern = value.startswith("urn:epc:idpat:") or (
        canonical.startswith("https://id.gs1.org/") and canonical.count("/") == 4
    )
    if value.startswith("urn:epc:idpat:") and canonical == value:
        raise _error(name, f"expected an EPC pattern URI this repository knows (sgtin, sscc, sgln, ...), got {value!r}")
    if is_pattern:
        escaped = canonical.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return or_(col(EpcisIndexValue.value) == canonical, col(EpcisIndexValue.value).like(escaped + "/%", "\\"))
    return col(EpcisIndexValue.value) == canonical


def conditions(params: Mapping[str, Sequence[str]]) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a query's parameters (GS1 names; a list per name), or EpcisQueryError."""
    unknown = sorted(set(params) - SUPPORTED)
    if unknown:
        raise EpcisQueryError(
            [
                Problem(n, "expected a query parameter of GS1's SimpleEventQuery this repository evaluates")
                for n in unknown
            ]
        )
    out: list[ColumnElement[bool]] = []
    for name in params:
        if name in PAGING:
            continue
        if name == "eventType":
            types = _values(params, name)
            bad = [t for t in types if t not in EVENT_TYPES and ":" not in t]
            if bad:
                raise _error(name, f"expected event types ({', '.join(EVENT_TYPES)}) or URIs, got {bad[0]!r}")
            out.append(col(EpcisIndex.type).in_(types))
        elif name == "EXISTS_errorDeclaration":
            out.append(col(EpcisIndex.error_time).is_not(None))
        elif name in TIMES:
            column, lower = TIMES[name]
            t = _time(name, params[name])
            c = getattr(EpcisIndex, column)
            out.append(c >= t if lower else c < t)
        elif name in LISTS:
            column, norm = LISTS[name]
            out.append(getattr(EpcisIndex, column).in_([norm(v) for v in _values(params, name)]))
        else:
            found = select(EpcisIndexValue.event_id).where(
                col(EpcisIndexValue.role).in_(MATCH[name]), or_(*[_match(name, v) for v in _values(params, name)])
            )
            out.append(col(EpcisIndex.event_id).in_(found))
    return out


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """What a viewer may see (see the module's docstring)."""
    me = viewer.supplier
    if me is None:
        return true()
    custody = select(Lot.gtin, Lot.lot).where(
        or_(col(Lot.supplier_id) == me, col(Lot.id).in_(select(Shipment.lot_id).where(Shipment.consignee == me)))
    )
    about = select(EventRow.id).where(tuple_(col(EventRow.gtin), col(EventRow.lot)).in_(custody))
    return or_(col(EpcisIndex.supplier_id) == me, col(EpcisIndex.event_id).in_(about))


def _digest(params: Mapping[str, Sequence[str]], epc: str | None) -> str:
    shown = [epc, *sorted((k, list(v)) for k, v in params.items() if k not in PAGING)]
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:16]


def _token(last: EpcisIndex, digest: str) -> str:
    raw = json.dumps([last.record_time.isoformat(), last.event_id, digest]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str, digest: str) -> tuple[datetime, int]:
    try:
        at, event_id, d = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        when = datetime.fromisoformat(at)
        if not isinstance(event_id, int) or d != digest:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _error(
            "nextPageToken", "expected the token a previous page of this same query gave (same parameters)"
        ) from None
    return when, event_id


def _per_page(params: Mapping[str, Sequence[str]]) -> int:
    raw = params.get("perPage")
    if raw is None:
        return PER_PAGE
    if len(raw) != 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= MAX_PER_PAGE:
        raise _error("perPage", f"expected a whole number from 1 to {MAX_PER_PAGE}, got {'|'.join(raw)!r}")
    return int(raw[0])


def naming(epc: str) -> ColumnElement[bool]:
    """Events that name ``epc`` (or, for a pattern, anything under it) in any role: an EPC, a parent,
    an input or output, or a class of a quantity list."""
    found = select(EpcisIndexValue.event_id).where(col(EpcisIndexValue.role) != "corrective", _match("epc", epc))
    return col(EpcisIndex.event_id).in_(found)


def run(session: Session, params: Mapping[str, Sequence[str]], viewer: Viewer, epc: str | None = None) -> Page:
    """One page of the events matching ``params`` that ``viewer`` may see, oldest recordTime first;
    with ``epc``, only those naming it (``naming``). Native events met without their CBV hash yet get
    it now (index.complete): the caller commits."""
    where = [*conditions(params), visible(viewer), *([naming(epc)] if epc is not None else [])]
    if "EQ_eventID" in params:
        index.complete(session)  # every native event's eventID (its CBV hash) known before matching it
    per_page = _per_page(params)
    digest = _digest(params, epc)
    if "nextPageToken" in params:
        when, last_id = _after(params["nextPageToken"][-1], digest)
        where.append(tuple_(col(EpcisIndex.record_time), col(EpcisIndex.event_id)) > tuple_(when, last_id))
    rows = list(
        session.exec(
            select(EpcisIndex)
            .where(and_(*where))
            .order_by(col(EpcisIndex.record_time), col(EpcisIndex.event_id))
            .limit(per_page + 1)
        ).all()
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    pending = [r.event_id for r in rows if r.hash == index.PENDING]
    done = index.complete(session, pending) if pending else {}
    events, context = events_of(rows, done)
    return Page(events, context, _token(rows[-1], digest) if more and rows else None)


def events_of(
    rows: Sequence[EpcisIndex], bodies: Mapping[int, str] | None = None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The events of index rows as a query answer gives them (with recordTime), and the answer's context;
    ``bodies`` replace the stored bodies of the rows they name (events just completed)."""
    contexts = [json.loads(r.context) for r in rows if r.context]
    context, terms = _merge_context(contexts)
    events = []
    for r in rows:
        ev = json.loads((bodies or {}).get(r.event_id, r.body))
        if r.context and "@context" not in ev and not _fits(json.loads(r.context), terms):
            ev = {"@context": json.loads(r.context), **ev}
        ev["recordTime"] = r.record_time.isoformat()
        events.append(ev)
    return events, context


def document(page: Page, now: datetime) -> dict[str, Any]:
    """The EPCISQueryDocument of one page."""
    return {
        "@context": page.context,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": now.isoformat(),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": page.events}}},
    }


def members(session: Session, column: str, viewer: Viewer) -> list[str]:
    """The distinct values of one index column (type, biz_step, ...) among the events ``viewer`` may see."""
    c = getattr(EpcisIndex, column)
    return sorted(session.exec(select(c).where(c.is_not(None), visible(viewer)).distinct()))


def known(session: Session, epc: str, viewer: Viewer) -> bool:
    """Whether any visible event names ``epc`` (``naming``)."""
    q = select(EpcisIndex.event_id).where(naming(epc), visible(viewer)).limit(1)
    return session.exec(q).first() is not None

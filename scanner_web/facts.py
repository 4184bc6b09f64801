"""The facts a parent reads on the scan page, each rendered together with the field of the signed
event it comes from, so that the page's own script (static/facts.js) can re-derive the same text
from the bytes the phone verified and flag any difference (issue 14, step 6).

The template never formats a fact itself: it calls ``fact(record, path, as_)``, which takes the
value at ``path`` (inside the signed event's ``data``; "/" between keys and list indexes), formats
it as ``as_`` and wraps it in ``<span data-fact=path data-as=as_>``. So the text and the mark that
names its field come from one place and cannot drift apart; facts.js holds the same formats,
one for one (``FORMATS`` here, ``FORMATS`` there), and the browser tests run both on every demo lot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup

from cradletrace.core.coldchain import ColdChainSummary
from cradletrace.scan.view import ColdChainRecord, Record

Words = Mapping[str, str]


def _summary(record: Record) -> ColdChainSummary:
    if not isinstance(record, ColdChainRecord) or record.summary is None:
        raise TypeError(f"record {record.event_id}: a cold-chain summary was asked of a {record.kind} record")
    return record.summary


# as_ -> (value at the path, the record, the page's words) -> the text shown. The "readings"
# formats are the cold-chain summary (core/coldchain.analyse) of the record's readings and range.
FORMATS: dict[str, Callable[[Any, Record, Words], str]] = {
    "text": lambda v, r, t: str(v),  # names, codes, and dates (YYYY-MM-DD as signed)
    "g": lambda v, r, t: f"{v:g}",  # lab values and limits
    "f4": lambda v, r, t: f"{v:.4f}",  # coordinates
    "repr": lambda v, r, t: str(v),  # a float as Python prints it: the allowed range, "2.0"
    "minute": lambda v, r, t: v.strftime("%Y-%m-%d %H:%M"),  # a time in its own signed offset
    "verdict": lambda a, r, t: t["pass"] if a.passes else t["fail"],  # a single value's or a plan's
    "above_m": lambda a, r, t: str(a.verdict.above_m),  # a plan analyte's units above m
    "above_M": lambda a, r, t: str(a.verdict.above_big_m),  # and above M
    "min": lambda v, r, t: str(_summary(r).min_c),
    "max": lambda v, r, t: str(_summary(r).max_c),
    "mkt": lambda v, r, t: f"{_summary(r).mean_kinetic_c:.1f}",
    "minutes": lambda v, r, t: str(int(round(_summary(r).seconds_out_of_range / 60, 0))),
    "excursion": lambda v, r, t: t["excursion"] if _summary(r).verdict == "excursion" else t["ok"],
    "doc_kind": lambda v, r, t: t[f"doc_kind_{v}"],  # a shipment document's kind, in the page's words
    "error_reason": lambda v, r, t: t.get(
        f"error_reason_{v}", v
    ),  # a correction's CBV reason in words; a URI as signed
}


def _at(record: Record, path: str) -> Any:
    value = record.data
    for key in path.split("/"):
        value = value[int(key)] if key.isdigit() else getattr(value, key)
    return value


def fact_text(record: Record, path: str, as_: str = "text", t: Words = {}) -> str:  # noqa: B006
    """The text of one fact as the page shows it."""
    return FORMATS[as_](_at(record, path), record, t)


def fact(record: Record, path: str, as_: str = "text", t: Words = {}) -> Markup:  # noqa: B006
    """One fact as the page shows it, marked with the field it comes from."""
    return Markup('<span data-fact="{}" data-as="{}">{}</span>').format(path, as_, fact_text(record, path, as_, t))


def fact_attr(record: Record, path: str, attr: str) -> Markup:
    """A fact shown as an attribute (a link's href): the attribute and its mark, for a start tag."""
    return Markup(' {}="{}" data-fact="{}" data-as="text" data-fact-attr="{}"').format(
        attr, fact_text(record, path), path, attr
    )

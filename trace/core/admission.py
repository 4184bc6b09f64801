"""What an event must also meet to be recorded now: plausible dates, the legal limits, plain
text and random serials.

An event's shape and its own rules are checked when it is parsed (events.py), and stored
events are parsed again to be shown. The rules here are for admission only, so an event stored
before one of them existed stays readable: its dates must lie in a window around the time of
recording (which the core cannot know by itself), a test report's limits must be no looser than
the limits table in force, its text must be plain (core/text.py) and a commissioning event's
serials must look drawn by the label generator (core/labels.py). The recording service calls
``admission_problems`` right after parsing.

Dates: every date and time an event states (produced, sampled, reported, shipped, received,
cleared, commissioned, each cold-chain reading, a key's registration or revocation, packed,
unpacked, shipped or received units, a sale) lies from ``EARLIEST`` to one day after the
time of recording (``FUTURE_SLACK``: time zones and clocks a little ahead); ``expires_on``
lies at most ``MAX_SHELF_LIFE`` after ``produced_on``.

Limits: an analyte the table names (case-insensitive, a trailing "spp." ignored) must use the
table's unit (values are not converted: "cfu/g" and "detections/10 g" do not convert, and a
converted limit would not be the one the lab signed), state a limit no higher than the table's
maximum and, where the table has a minimum, a minimum no lower. Any analyte's minimum must not
exceed its limit. Analytes the table does not name keep the limit their lab states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta

from cradletrace.core.events import (
    AnyEvent,
    BatchData,
    ColdChainData,
    CommissionData,
    CorrectionData,
    KeyData,
    MoveData,
    PackData,
    PlanAnalyte,
    ReportData,
    SaleData,
    ShipmentData,
    TestReportData,
)
from cradletrace.core.labels import issued_serial_problem, serial_sequence_problem
from cradletrace.core.testreport import Limit
from cradletrace.core.text import REFUSED_ABOVE_C0, text_problem
from cradletrace.errors import Problem

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_SHELF_LIFE = timedelta(days=3653)  # 10 years


def admission_problems(
    event: AnyEvent, body: bytes, now: datetime, limits: Mapping[str, Limit], where: str = "event"
) -> list[Problem]:
    """Every date outside its window, limit looser than ``limits``, control or bidirectional
    formatting character in text and serial not drawn at random, each naming its field.
    ``body`` is the event's canonical JSON (as parsed into ``event``)."""
    return (
        date_problems(event, now, where)
        + limit_problems(event, limits, where)
        + text_problems(event, body, where)
        + serial_problems(event, where)
    )


# RFC 8785 writes U+0000-U+001F as \uXXXX (lower-case hex) or \b \f \n \r \t and all else as
# itself: one search of the body finds every event whose text may break the rule (a literal
# backslash before 'n' also matches; the exact walk below then finds nothing).
_SUSPECT = re.compile(r"\\u00[01][0-9a-f]|\\[bfnrt]|[" + REFUSED_ABOVE_C0 + "]")


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def text_problems(event: AnyEvent, body: bytes, where: str = "event") -> list[Problem]:
    """Every string of the event that holds a control or bidirectional formatting character."""
    if not _SUSPECT.search(body.decode("utf-8")):
        return []
    return [
        Problem(at, problem)
        for at, text in _strings(event.model_dump(mode="json")["data"], f"{where}.data")
        if (problem := text_problem(text))
    ]


def serial_problems(event: AnyEvent, where: str = "event") -> list[Problem]:
    """Serials of a commissioning event that the label generator would not have drawn."""
    if not isinstance(event.data, CommissionData):
        return []
    serials = event.data.serials
    problems = [
        Problem(f"{where}.data.serials[{i}]", problem)
        for i, s in enumerate(serials)
        if (problem := issued_serial_problem(s))
    ]
    if not problems and (sequence := serial_sequence_problem(serials)):
        problems.append(Problem(f"{where}.data.serials[{sequence[0]}]", sequence[1]))
    return problems


def _window(now: datetime) -> tuple[datetime, datetime]:
    return EARLIEST, now + FUTURE_SLACK


def _outside(value: date | datetime, now: datetime) -> str | None:
    lo, hi = _window(now)
    if isinstance(value, datetime):
        ok, shown = lo <= value <= hi, (lo.isoformat(), hi.isoformat())
    else:
        ok, shown = lo.date() <= value <= hi.date(), (lo.date().isoformat(), hi.date().isoformat())
    if ok:
        return None
    return (
        f"expected a {'time' if isinstance(value, datetime) else 'date'} from {shown[0]} to {shown[1]} "
        f"(at most one day after recording), got {value.isoformat()}"
    )


def date_problems(event: AnyEvent, now: datetime, where: str = "event") -> list[Problem]:
    """Dates and times outside the plausible window (see the module docstring)."""
    d = event.data
    stated: list[tuple[str, date | datetime | None]] = []
    if isinstance(d, BatchData):
        stated = [("produced_on", d.produced_on)]
    elif isinstance(d, TestReportData):
        stated = [("sampled_on", d.sampled_on), ("reported_on", d.reported_on)]
    elif isinstance(d, ShipmentData):
        stated = [
            ("shipped_at", d.shipped_at),
            ("received_at", d.received_at),
            ("customs.cleared_at", d.customs.cleared_at if d.customs else None),
        ]
    elif isinstance(d, CommissionData):
        stated = [("commissioned_at", d.commissioned_at)]
    elif isinstance(d, (KeyData, ReportData, PackData, MoveData)):
        stated = [("at", d.at)]
    elif isinstance(d, SaleData):
        stated = [("sold_at", d.sold_at)]
    elif isinstance(d, CorrectionData):
        stated = [("declaration_time", d.declaration_time)]
    elif isinstance(d, ColdChainData):  # readings are in time order: the first and last bound them all
        first, last = d.readings[0].at, d.readings[-1].at
        if _outside(first, now):
            stated.append(("readings[0].at", first))
        if _outside(last, now):
            late = next(i for i, r in enumerate(d.readings) if _outside(r.at, now))
            stated.append((f"readings[{late}].at", d.readings[late].at))
    problems = [
        Problem(f"{where}.data.{name}", why)
        for name, value in stated
        if value is not None and (why := _outside(value, now))
    ]
    if isinstance(d, BatchData) and d.expires_on - d.produced_on > MAX_SHELF_LIFE:
        latest = d.produced_on + MAX_SHELF_LIFE
        problems.append(
            Problem(
                f"{where}.data.expires_on",
                f"expected a date at most {MAX_SHELF_LIFE.days} days "
                f"(10 years) after produced_on, by {latest.isoformat()}, got {d.expires_on.isoformat()}",
            )
        )
    return problems


def table_entry(limits: Mapping[str, Limit], name: str) -> Limit | None:
    """The table's entry for an analyte name: case-insensitive, spacing and a trailing 'spp.' ignored."""
    key = " ".join(name.lower().split())
    return limits.get(key) or limits.get(key.removesuffix(" spp.").removesuffix(" spp")) or limits.get(key + " spp.")


def limit_problems(event: AnyEvent, limits: Mapping[str, Limit], where: str = "event") -> list[Problem]:
    """A test report's limits looser than the table's, units other than the table's, min above limit.

    Plan-form analytes are not compared with the table: its entries are single maxima (for
    microbiology a "max 0" standing for an absence plan whose n and c are only in its source text),
    and a plan (n, c, m, M) cannot be judged looser or stricter than one number without guessing."""
    if not isinstance(event.data, TestReportData):
        return []
    problems: list[Problem] = []
    for i, a in enumerate(event.data.analytes):
        at = f"{where}.data.analytes[{i}]"
        if isinstance(a, PlanAnalyte):
            continue
        if a.min is not None and a.min > a.limit:
            problems.append(
                Problem(f"{at}.min", f"expected a minimum no higher than the limit ({a.limit:g}), got {a.min:g}")
            )
        legal = table_entry(limits, a.name)
        if legal is None:
            continue
        if a.unit != legal.unit:
            problems.append(
                Problem(
                    f"{at}.unit",
                    f"expected {legal.unit!r}, the unit of the legal limit for {legal.name} "
                    f"({legal.max:g} {legal.unit}, {legal.source}; values are not converted), got {a.unit!r}",
                )
            )
        elif a.limit > legal.max:
            problems.append(
                Problem(
                    f"{at}.limit",
                    f"expected at most {legal.max:g} {legal.unit}, the legal limit for "
                    f"{legal.name} ({legal.source}), got {a.limit:g}",
                )
            )
        if legal.min is not None and a.unit == legal.unit and (a.min is None or a.min < legal.min):
            shown = "none" if a.min is None else f"{a.min:g}"
            problems.append(
                Problem(
                    f"{at}.min",
                    f"expected at least {legal.min:g} {legal.unit}, the legal minimum for "
                    f"{legal.name} ({legal.source}), got {shown}",
                )
            )
    return problems

"""A recall's regulatory deadlines beside the two-hour promise (clock.py): each with its due time,
the time it was done (recorded by the product or by staff) and its status (met / due / late).

Two regimes (docs/recall.md, "Deadlines", has the sources):

* ``us_107``, 21 CFR 107.240 (infant formula recalls): telephone FDA within 24 hours of the
  determination to recall (counted from the recall's start); an initial written report within
  14 days after the recall has begun; a written status report at least every 14 days until the
  recall is terminated.
* ``cn_measures``, 食品召回管理办法 (level 1 / 2 / 3): start the recall and report the recall plan
  within 24 / 48 / 72 hours of knowing the risk; finish within 10 / 20 / 30 working days of the
  announcement. Working days here are Monday to Friday: the public-holiday calendar is not known
  to the product, so a deadline across a holiday is shown earlier than the real one (never later).

Pure: the caller reads the recall and its recorded milestones; ``now`` is passed in (the clock
seam the tests turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cradletrace.errors import InvalidInputError, Problem
from cradletrace.recall.clock import iso
from cradletrace.store.states import DeadlineStatus

REGIMES = ("us_107", "cn_measures")
CN_LEVELS = {1: (timedelta(hours=24), 10), 2: (timedelta(hours=48), 20), 3: (timedelta(hours=72), 30)}
CN_LEVEL_OF_CLASS = {"I": 1, "II": 2, "III": 3}

# What staff record as done (POST /recalls/{id}/milestones, ``cradletrace recall milestone``).
RECORDABLE = {
    "fda_telephoned": "FDA district office telephoned (21 CFR 107.240)",
    "fda_written_report": "initial written report sent to FDA (21 CFR 107.240)",
    "fda_status_report": "status report sent to FDA (21 CFR 107.240)",
    "cn_plan_reported": "召回计划已报告市场监管部门 / recall plan reported (食品召回管理办法)",
    "cn_announced": "召回公告已发布 / recall announced (食品召回管理办法)",
}


def parse_regimes(values: Sequence[str] | None) -> str:
    """The regimes as stored (comma-joined, in REGIMES order); None means all of them."""
    if values is None:
        return ",".join(REGIMES)
    wanted = {v.strip() for v in values if v.strip()}
    if bad := sorted(wanted - set(REGIMES)):
        raise InvalidInputError(Problem("regimes", f"expected some of {', '.join(REGIMES)}, got {', '.join(bad)}"))
    return ",".join(r for r in REGIMES if r in wanted)


def parse_cn_level(value: int | None, severity: str) -> int:
    """China's recall level (1-3); by default the one matching the recall class (I -> 1)."""
    if value is None:
        return CN_LEVEL_OF_CLASS.get(severity, 1)
    if value not in CN_LEVELS:
        raise InvalidInputError(Problem("cn_level", f"expected 1, 2 or 3 (食品召回管理办法 level), got {value!r}"))
    return value


def parse_milestone(name: str) -> str:
    if name not in RECORDABLE:
        raise InvalidInputError(Problem("name", f"expected one of {', '.join(RECORDABLE)}, got {name!r}"))
    return name


def add_working_days(start: datetime, days: int) -> datetime:
    """``days`` working days (Monday-Friday) after ``start``, at the same time of day."""
    t = start
    while days > 0:
        t += timedelta(days=1)
        if t.weekday() < 5:
            days -= 1
    return t


@dataclass(frozen=True)
class Facts:
    """What the deadlines are counted from and what marks them done."""

    regimes: tuple[str, ...]
    cn_level: int
    known_at: datetime  # knowing of the risk: the trigger, else located, else started
    started_at: datetime
    closed_at: datetime | None
    recorded: dict[str, list[datetime]]  # milestone name -> times staff recorded, oldest first


def _status(due: datetime, done: datetime | None, now: datetime) -> DeadlineStatus:
    if done is not None:
        return DeadlineStatus.MET if done <= due else DeadlineStatus.LATE
    return DeadlineStatus.LATE if now > due else DeadlineStatus.DUE


def deadlines(f: Facts, now: datetime) -> list[dict[str, Any]]:
    """Every deadline that applies, with ``due``, ``done`` and ``status``."""
    out: list[dict[str, Any]] = []

    def add(regime: str, name: str, basis: str, due: datetime, done: datetime | None, **extra: Any) -> None:
        out.append(
            {
                "regime": regime,
                "name": name,
                "basis": basis,
                "due": iso(due),
                "done": iso(done),
                "status": _status(due, done, now),
                **extra,
            }
        )

    def first(name: str) -> datetime | None:
        times = f.recorded.get(name, [])
        return times[0] if times else None

    if "us_107" in f.regimes:
        add(
            "us_107",
            "fda_telephone",
            "21 CFR 107.240: telephone FDA within 24 h",
            f.started_at + timedelta(hours=24),
            first("fda_telephoned"),
        )
        written = first("fda_written_report")
        add(
            "us_107",
            "fda_written_report",
            "21 CFR 107.240: initial written report within 14 days",
            f.started_at + timedelta(days=14),
            written,
        )
        reports = sorted([*f.recorded.get("fda_written_report", []), *f.recorded.get("fda_status_report", [])])
        last = reports[-1] if reports else f.started_at + timedelta(days=14)
        due = last + timedelta(days=14)
        # Due every 14 days until the recall is terminated: closing first meets the next one.
        done = f.closed_at if f.closed_at is not None and f.closed_at <= due else None
        add(
            "us_107",
            "fda_status_report",
            "21 CFR 107.240: status report at least every 14 days",
            due,
            done,
            reports=len(f.recorded.get("fda_status_report", [])),
        )
    if "cn_measures" in f.regimes:
        within, days = CN_LEVELS[f.cn_level]
        hours = int(within.total_seconds() // 3600)
        basis = f"食品召回管理办法 level {f.cn_level}"
        add(
            "cn_measures",
            "cn_start",
            f"{basis}: start the recall within {hours} h of knowing the risk",
            f.known_at + within,
            f.started_at,
        )
        add(
            "cn_measures",
            "cn_plan_report",
            f"{basis}: report the recall plan within {hours} h",
            f.known_at + within,
            first("cn_plan_reported"),
        )
        announced = first("cn_announced")
        add(
            "cn_measures",
            "cn_complete",
            f"{basis}: finish within {days} working days of the announcement",
            add_working_days(announced or f.started_at, days),
            f.closed_at,
            counted_from="announcement" if announced else "start (no announcement recorded yet)",
        )
    return out

"""Effectiveness checks: consignee sites drawn at random for the recall's level, and what staff
found when they checked each one (reached; the notice received; the product handled as told).

Levels, as 21 CFR 7.42(b)(3) names them (docs/recall.md, "Effectiveness checks", on the source):
A = every consignee (100 %), B = a share between C and A that staff choose, C = 10 %, D = 2 %,
E = no checks. The draw is ``random.Random(seed).sample`` over the recall's sites sorted by id, and
the seed is stored with the level: anyone can redraw the same sites from the ledger's facts, and a
draw made once cannot be quietly repeated until the sites please (a second draw is refused, 409).
A site added by a later widening is not in the draw; staff check it beyond the sample if needed.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from cradletrace.core.text import text_problem
from cradletrace.errors import Conflict, InvalidInputError, NotFoundError, Problem, StateConflictError
from cradletrace.recall.clock import iso
from cradletrace.recall.recalls import closed_conflict, locked_recall, write_lock
from cradletrace.store.models import Recall, RecallAck, RecallCheck

LEVELS: dict[str, float | None] = {"A": 100.0, "B": None, "C": 10.0, "D": 2.0, "E": 0.0}


def level_percent(level: str, percent: float | None) -> tuple[str, float]:
    """The level (A-E) and its share of consignees in percent; B needs ``percent`` (10 < p < 100)."""
    lv = level.strip().upper()
    if lv not in LEVELS:
        raise InvalidInputError(Problem("level", f"expected A, B, C, D or E (21 CFR 7.42(b)(3)), got {level!r}"))
    fixed = LEVELS[lv]
    if fixed is None:
        if percent is None or not (math.isfinite(percent) and 10 < percent < 100):
            raise InvalidInputError(
                Problem("percent", f"expected for level B a percent above 10 and below 100, got {percent!r}")
            )
        return lv, float(percent)
    if percent is not None and percent != fixed:
        raise InvalidInputError(Problem("percent", f"expected no percent (level {lv} is {fixed:g} %), got {percent!r}"))
    return lv, fixed


def draw(sites: Sequence[str], percent: float, seed: str) -> list[str]:
    """The sites to check: ceil(percent of them), at least one when the level checks any; reproducible."""
    pool = sorted(set(sites))
    n = 0 if percent <= 0 or not pool else min(len(pool), max(1, math.ceil(len(pool) * percent / 100)))
    return sorted(random.Random(seed).sample(pool, n))


def plan_checks(
    session: Session, recall_id: int, *, level: str, percent: float | None, seed: str | None, by: str, now: datetime
) -> dict[str, Any]:
    """Draw the sites to check for ``level`` (once per recall) and store them with the seed."""
    write_lock(session)
    recall = locked_recall(session, recall_id)
    problems: list[Problem] = [] if by.strip() else [Problem("by", "expected who draws the checks")]
    try:
        lv, pct = level_percent(level, percent)
    except InvalidInputError as exc:
        problems.extend(exc.problems)
    seed = (seed or "").strip() or secrets.token_hex(16)
    if len(seed) > 64 or text_problem(seed):
        problems.append(Problem("seed", f"expected up to 64 plain characters, got {seed[:80]!r}"))
    if problems:
        raise InvalidInputError(problems)
    if recall.closed_at is not None:
        raise closed_conflict(recall)
    if recall.checks_planned_at is not None:
        raise StateConflictError(
            Conflict.PLANNED,
            Problem(
                "level", f"recall {recall_id} drew level {recall.check_level} checks at {iso(recall.checks_planned_at)}"
            ),
        )
    sites = session.exec(select(RecallAck.site).where(RecallAck.recall_id == recall_id)).all()
    picked = draw(sites, pct, seed)
    recall.check_level, recall.check_percent, recall.check_seed, recall.checks_planned_at = lv, pct, seed, now
    session.add(recall)
    if picked:
        session.execute(insert(RecallCheck), [dict(recall_id=recall_id, site=s, picked_at=now) for s in picked])
    session.flush()
    return summary(session, recall)


def record_check(
    session: Session,
    recall_id: int,
    site: str,
    *,
    reached: bool,
    notice_received: bool,
    handled: bool,
    note: str | None,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record what staff found at a drawn site. A repeated check replaces the outcome (one row per
    site: a site is never counted twice) and keeps who and when of the latest."""
    write_lock(session)
    locked_recall(session, recall_id)
    problems: list[Problem] = [] if by.strip() else [Problem("by", "expected who checked the site")]
    note = (note or "").strip() or None
    if note and (bad := text_problem(note)):
        problems.append(Problem("note", bad))
    check = session.exec(
        select(RecallCheck).where(RecallCheck.recall_id == recall_id, RecallCheck.site == site).with_for_update()
    ).first()
    if check is None:
        raise NotFoundError(f"check: expected a site drawn for checking in recall {recall_id}, got {site!r}")
    if problems:
        raise InvalidInputError(problems)
    check.reached, check.notice_received, check.handled = reached, notice_received, handled
    check.note, check.checked_by, check.checked_at = (note or None) and note[:500], by.strip()[:100], now
    session.add(check)
    session.flush()
    recall = session.get(Recall, recall_id)
    assert recall is not None
    return summary(session, recall)


def summary(session: Session, recall: Recall) -> dict[str, Any]:
    """The level, the draw and every check with its outcome; the share of checked sites where the
    recall was effective (reached, notice received and product handled as instructed)."""
    checks = session.exec(
        select(RecallCheck).where(RecallCheck.recall_id == recall.id).order_by(col(RecallCheck.site))
    ).all()
    done = [c for c in checks if c.checked_at is not None]
    effective = [c for c in done if c.reached and c.notice_received and c.handled]
    return {
        "level": recall.check_level,
        "percent": recall.check_percent,
        "seed": recall.check_seed,
        "planned_at": iso(recall.checks_planned_at),
        "drawn": len(checks),
        "checked": len(done),
        "effective": len(effective),
        "share_effective": round(len(effective) / len(done), 4) if done else None,
        "checks": [
            {
                "site": c.site,
                "picked_at": iso(c.picked_at),
                "checked_at": iso(c.checked_at),
                "checked_by": c.checked_by,
                "reached": c.reached,
                "notice_received": c.notice_received,
                "handled": c.handled,
                "effective": None if c.checked_at is None else bool(c.reached and c.notice_received and c.handled),
                "note": c.note,
            }
            for c in checks
        ],
    }

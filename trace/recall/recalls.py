"""Starting, listing and closing recalls, and building a recall's scope from a forward trace.

* **Start a recall** (``start_recall``): all-or-nothing; refuses an empty scope, unknown lots and
  lots already under an active recall (naming them). The recall and its lots are stored at once,
  so the scan page shows the recall before anything is sent to the chain. Its notice is stored
  ``prepared`` (notices on chain: ``notices``).
* **Widen a recall** (``widen_recall``): more lots while notices are out; the new consignees get
  notices, and links already sent keep working.
* **Close a recall** (``close_recall``): scan pages stop warning; who, when and why are kept;
  notices not sent yet are cancelled.

Starting and widening write the consignees' acknowledgements and the notice outbox in the same
transaction (``outbox``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, false, func, insert, literal, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, select

from cradletrace.core import canonical
from cradletrace.core.text import text_problem
from cradletrace.errors import Conflict, InvalidInputError, NotFoundError, Problem, StateConflictError
from cradletrace.events import lookup_event
from cradletrace.recall import outbox
from cradletrace.recall.clock import Clock, iso
from cradletrace.recall.notices import lot_ref, notice_body
from cradletrace.store.models import EventRow, Hold, Lot, Recall, RecallLot, RecallMilestone
from cradletrace.store.states import NoticeStatus, RecallState

SEVERITIES = ("I", "II", "III")


def parse_severity(value: str) -> str:
    v = value.strip().upper().removeprefix("CLASS").strip()
    if v not in SEVERITIES:
        raise InvalidInputError(Problem("severity", f"expected I, II or III (recall class), got {value!r}"))
    return v


def active_recalls(session: Session, lot_ids: Sequence[int], *, drill: bool = False) -> dict[int, int]:
    """lot id -> id of the active recall covering it. Drills and real recalls do not block each
    other (a drill running must never delay a real recall): ``drill`` says which kind to look at."""
    if not lot_ids:
        return {}
    from cradletrace.recall.genealogy import id_set

    return {
        int(lid): int(rid)
        for lid, rid in session.exec(
            select(RecallLot.lot_id, RecallLot.recall_id)
            .join(Recall, col(Recall.id) == col(RecallLot.recall_id))
            .where(
                col(RecallLot.lot_id).in_(id_set(session, lot_ids)),
                col(Recall.closed_at).is_(None),
                col(Recall.drill).is_(drill),
            )
        ).all()
    }


def write_lock(session: Session) -> None:
    """Take SQLite's write lock before checking state, so a concurrent recall of the same lot waits
    and then sees this one (the driver would otherwise begin the transaction only at the first
    insert, after both checks passed). PostgreSQL locks the rows FOR UPDATE instead."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Recall).where(false()).values(severity=Recall.severity))


def _key_set(session: Session, keys: Sequence[tuple[str, str]]) -> Any:
    """``(gtin, lot)`` pairs as a derived table with ONE bound parameter per column (the idea of
    ``genealogy.id_set``): ``unnest(text[], text[])`` on PostgreSQL, ``json_each`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return (
            func.unnest(literal([g for g, _ in keys], ARRAY(String)), literal([lo for _, lo in keys], ARRAY(String)))
            .table_valued("gtin", "lot")
            .render_derived(name="k")
        )
    each = func.json_each(literal(json.dumps([list(k) for k in keys]))).table_valued("value")
    return select(
        func.json_extract(each.c.value, "$[0]").label("gtin"), func.json_extract(each.c.value, "$[1]").label("lot")
    ).subquery("k")


def _lock_lots(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of the recorded lots among ``keys``, read in ONE statement that, on PostgreSQL, locks
    them FOR UPDATE in id order: two recalls sharing a lot wait for each other (so the "already
    under recall" check sees the first one's rows) and, taking their locks in the same order, cannot
    deadlock. SQLite has no row locks: ``write_lock`` already serialised the writers."""
    if not keys:
        return {}
    k = _key_set(session, keys)
    rows = session.exec(
        select(col(Lot.id), Lot.gtin, Lot.lot)
        .join(k, and_(col(Lot.gtin) == k.c.gtin, col(Lot.lot) == k.c.lot))
        .order_by(col(Lot.id))
        .with_for_update(of=Lot)
    ).all()
    ids = {(g, lo): int(lid) for lid, g, lo in rows if lid is not None}
    return {key: ids[key] for key in keys if key in ids}  # in the order of ``keys``


def start_recall(
    session: Session,
    *,
    lots: Sequence[tuple[str, str]],
    reason: str,
    severity: str,
    trigger: str | int | None,
    started_by: str,
    now: datetime,
    located_at: datetime | None = None,
    drill: bool = False,
    drill_started_at: datetime | None = None,
    regimes: Sequence[str] | None = None,
    cn_level: int | None = None,
) -> Recall:
    """Recall ``lots`` (GTIN, LOT) now: all of them or, on any problem, none.

    ``trigger`` is an event id/digest (its recorded time starts the clock) or free text.
    ``located_at`` is when the forward trace behind the scope ran (default: ``now``).
    ``drill``: a mock recall (drill.py): stored as one, its notice never goes on chain, scan pages
    do not show it; ``drill_started_at`` (when staff began the drill) starts its clock.
    ``regimes`` / ``cn_level``: whose deadlines apply (deadlines.py; default all, level from the class).
    """
    from cradletrace.recall.deadlines import parse_cn_level, parse_regimes

    write_lock(session)
    problems: list[Problem] = []
    reason = reason.strip()
    if not reason:
        problems.append(Problem("reason", "expected the reason for the recall, got nothing"))
    for name, value in (("reason", reason), ("trigger", trigger if isinstance(trigger, str) else "")):
        if bad := text_problem(value):
            problems.append(Problem(name, bad))
    try:
        severity = parse_severity(severity)
    except InvalidInputError as exc:
        problems.extend(exc.problems)
    try:
        regime_text = parse_regimes(regimes)
        level = parse_cn_level(cn_level, severity if severity in SEVERITIES else "I")
    except InvalidInputError as exc:
        problems.extend(exc.problems)
    if not started_by.strip():
        problems.append(Problem("started_by", "expected who starts the recall"))
    keys = sorted(set(lots))
    if not keys:
        problems.append(Problem("lots", "expected at least one lot in the recall scope, got none"))
    found = _lock_lots(session, keys)
    problems.extend(
        Problem("lots", f"expected a recorded lot, got {g}/{lo} which does not exist")
        for g, lo in keys
        if (g, lo) not in found
    )
    active = active_recalls(session, list(found.values()), drill=drill)
    already = [
        Problem("lots", f"lot {key[0]}/{key[1]} is already under active recall {active[lid]}")
        for key, lid in found.items()
        if lid in active
    ]
    trigger_event: EventRow | None = None
    trigger_text: str | None = None
    if trigger is not None and str(trigger).strip():
        text = str(trigger).strip()
        if text.isdigit() or (len(text) == 64 and all(c in "0123456789abcdef" for c in text)):
            try:
                trigger_event = lookup_event(session, text, "trigger")
                if trigger_event is None:
                    problems.append(Problem("trigger", f"expected a recorded event, got {text!r} which does not exist"))
            except InvalidInputError as exc:  # more digits than an id has
                problems.extend(exc.problems)
        else:
            trigger_text = text[:200]
    if problems:
        raise InvalidInputError(problems + already)
    if already:
        raise StateConflictError(Conflict.RECALLED, already)

    trigger_at = trigger_event.recorded_at if trigger_event is not None else drill_started_at if drill else None
    if located_at is None and trigger_event is not None:  # the automatic hold's forward trace located them
        located_at = session.exec(
            select(Hold.created_at).where(Hold.trigger_event_id == trigger_event.id).order_by(col(Hold.created_at))
        ).first()
    recall = Recall(
        reason=reason,
        severity=severity,
        trigger_event_id=trigger_event.id if trigger_event else None,
        trigger_text=trigger_text,
        started_by=started_by.strip()[:100],
        started_at=now,
        trigger_at=trigger_at,
        located_at=located_at or now,
        notice="",
        notice_digest="",
        lot_ref=lot_ref(keys).hex(),
        notice_status=NoticeStatus.DRILL if drill else NoticeStatus.PREPARED,
        drill=drill,
        regimes=regime_text,
        cn_level=level,
    )
    session.add(recall)
    session.flush()
    assert recall.id is not None
    body = notice_body(recall.id, keys, reason, severity, now)
    recall.notice = body.decode("utf-8")
    recall.notice_digest = canonical.sha256(body).hex()
    session.add(recall)
    session.execute(insert(RecallLot), [dict(recall_id=recall.id, lot_id=lid) for lid in found.values()])
    outbox.enqueue(session, recall.id, list(found.values()), now)
    session.flush()
    return recall


def locked_recall(session: Session, recall_id: int) -> Recall:
    recall = session.exec(select(Recall).where(Recall.id == recall_id).with_for_update()).first()
    if recall is None:
        raise NotFoundError(f"recall: expected a started recall, got {recall_id} which does not exist")
    return recall


def closed_conflict(recall: Recall) -> StateConflictError:
    return StateConflictError(
        Conflict.CLOSED,
        Problem("recall", f"recall {recall.id} was already closed at {iso(recall.closed_at)} by {recall.closed_by}"),
    )


def widen_recall(
    session: Session, recall_id: int, *, lots: Sequence[tuple[str, str]], by: str, now: datetime
) -> tuple[RecallView, int]:
    """Add ``lots`` to an active recall: all or none. The consignees of the new lots get notices
    (a site already notified gets a second link for the new lots only; its first keeps working).
    Returns the recall and the number of sites newly notified."""
    write_lock(session)
    recall = locked_recall(session, recall_id)
    problems = [] if by.strip() else [Problem("by", "expected who widens the recall")]
    keys = sorted(set(lots))
    if not keys:
        problems.append(Problem("lots", "expected at least one lot to add, got none"))
    found = _lock_lots(session, keys)
    problems.extend(
        Problem("lots", f"expected a recorded lot, got {g}/{lo} which does not exist")
        for g, lo in keys
        if (g, lo) not in found
    )
    have = set(session.exec(select(RecallLot.lot_id).where(RecallLot.recall_id == recall_id)).all())
    new = {k: lid for k, lid in found.items() if lid not in have}
    if found and not new:
        problems.append(Problem("lots", f"expected a lot recall {recall_id} does not cover yet; it covers them all"))
    if problems:
        raise InvalidInputError(problems)
    if recall.closed_at is not None:
        raise closed_conflict(recall)
    active = active_recalls(session, list(new.values()), drill=recall.drill)
    if clash := [
        Problem("lots", f"lot {g}/{lo} is already under active recall {active[lid]}")
        for (g, lo), lid in new.items()
        if lid in active
    ]:
        raise StateConflictError(Conflict.RECALLED, clash)
    session.execute(insert(RecallLot), [dict(recall_id=recall_id, lot_id=lid) for lid in new.values()])
    sites = outbox.enqueue(session, recall_id, list(new.values()), now)
    session.flush()
    return get_recall(session, recall_id), sites


@dataclass(frozen=True)
class RecallView:
    recall: Recall
    lots: tuple[tuple[str, str], ...]

    @property
    def clock(self) -> Clock:
        r = self.recall
        return Clock(r.trigger_at, r.located_at, r.started_at)

    def to_json(self) -> dict[str, Any]:
        r = self.recall
        return {
            "id": r.id,
            "reason": r.reason,
            "severity": r.severity,
            "trigger_event_id": r.trigger_event_id,
            "trigger_text": r.trigger_text,
            "started_by": r.started_by,
            "started_at": iso(r.started_at),
            "lots": [f"{g}/{lo}" for g, lo in self.lots],
            "notice_digest": r.notice_digest,
            "notice_status": r.notice_status,
            "tx_hash": r.tx_hash,
            "block": r.block_number,
            "status": RecallState.CLOSED if r.closed_at else RecallState.ACTIVE,
            "closed_at": iso(r.closed_at),
            "closed_by": r.closed_by,
            "close_reason": r.close_reason,
            "clock": self.clock.to_json(),
            "drill": r.drill,
            "regimes": (r.regimes or "").split(",") if r.regimes else [],
            "cn_level": r.cn_level,
        }


def list_recalls(session: Session, recall_id: int | None = None) -> list[RecallView]:
    """Every recall (oldest first), or just ``recall_id`` (empty if there is none)."""
    q = select(Recall).order_by(col(Recall.id))
    lq = select(RecallLot.recall_id, Lot.gtin, Lot.lot).join(Lot, col(Lot.id) == col(RecallLot.lot_id))
    if recall_id is not None:
        q, lq = q.where(Recall.id == recall_id), lq.where(RecallLot.recall_id == recall_id)
    recalls = session.exec(q).all()
    lots: dict[int, list[tuple[str, str]]] = {}
    for rid, g, lo in session.exec(lq).all():
        lots.setdefault(int(rid), []).append((g, lo))
    return [RecallView(r, tuple(sorted(lots.get(r.id or 0, [])))) for r in recalls]


def get_recall(session: Session, recall_id: int) -> RecallView:
    found = list_recalls(session, recall_id)
    if not found:
        raise NotFoundError(f"recall: expected a started recall, got {recall_id} which does not exist")
    return found[0]


def who_and_why(by: str, reason: str, what: str) -> list[Problem]:
    problems = []
    if not reason.strip():
        problems.append(Problem("reason", f"expected why the {what}, got nothing"))
    elif bad := text_problem(reason):
        problems.append(Problem("reason", bad))
    if not by.strip():
        problems.append(Problem("by", f"expected who {what}"))
    return problems


def close_recall(session: Session, recall_id: int, *, reason: str, closed_by: str, now: datetime) -> RecallView:
    """End a recall (goods retrieved or destroyed): scan pages stop warning; who, when and why are kept.

    The notice stays as it was (a closed recall's notice is still anchored by the next run)."""
    write_lock(session)
    problems = who_and_why(closed_by, reason, "recall is closed")
    recall = locked_recall(session, recall_id)
    if problems:
        raise InvalidInputError(problems)
    if recall.closed_at is not None:
        raise closed_conflict(recall)
    recall.closed_at, recall.closed_by, recall.close_reason = now, closed_by.strip()[:100], reason.strip()[:500]
    session.add(recall)
    outbox.cancel_open(session, recall_id=recall_id, why="not sent: the recall was closed first")
    session.flush()
    return get_recall(session, recall_id)


@dataclass(frozen=True)
class Scope:
    """What a recall will cover: a forward trace, narrowed (``removed``) or widened (``added``)."""

    lots: tuple[tuple[str, str], ...]
    traced: tuple[tuple[str, str], ...]
    added: tuple[tuple[str, str], ...]
    removed: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        def refs(keys: Iterable[tuple[str, str]]) -> list[str]:
            return [f"{g}/{lo}" for g, lo in keys]

        return {
            "lots": refs(self.lots),
            "traced": refs(self.traced),
            "added": refs(self.added),
            "removed": refs(self.removed),
        }


def build_scope(
    session: Session,
    *,
    trace_lot: tuple[str, str] | None = None,
    trace_event: str | None = None,
    include: Sequence[tuple[str, str]] = (),
    exclude: Sequence[tuple[str, str]] = (),
) -> Scope:
    """The forward trace of ``trace_lot`` or ``trace_event`` (if given), plus ``include``, minus ``exclude``.

    Unknown starts are input problems here (they come in a request body); excluding a lot that is not
    in the scope is refused, so a typo cannot silently leave a lot in. An empty result is left to
    ``start_recall`` to refuse."""
    from cradletrace.recall.genealogy import trace_forward

    traced: list[tuple[str, str]] = []
    if trace_lot is not None and trace_event is not None:
        raise InvalidInputError(Problem("trace", "expected at most one of trace_lot and trace_event"))
    try:
        if trace_lot is not None:
            traced = [x.key for x in trace_forward(session, lot=trace_lot, units=False).lots]
        elif trace_event is not None:
            traced = [x.key for x in trace_forward(session, event=trace_event, units=False).lots]
    except NotFoundError as exc:
        raise InvalidInputError(
            Problem("trace_lot" if trace_lot else "trace_event", str(exc).split(": ", 1)[-1])
        ) from None
    except InvalidInputError as exc:  # the trace names its own parameter; here it is the body's field
        raise InvalidInputError(
            [Problem("trace_event" if p.where == "event" else p.where, p.message) for p in exc.problems]
        ) from None
    widened = [k for k in dict.fromkeys(include) if k not in traced]
    pool = set(traced) | set(widened)
    missing = [k for k in dict.fromkeys(exclude) if k not in pool]
    if missing:
        raise InvalidInputError(
            [Problem("exclude", f"expected a lot in the scope, got {g}/{lo} which is not in it") for g, lo in missing]
        )
    gone = set(exclude)
    lots = tuple(sorted(pool - gone))
    return Scope(lots, tuple(sorted(traced)), tuple(sorted(widened)), tuple(sorted(gone)))


def record_milestone(
    session: Session, recall_id: int, *, name: str, at: datetime | None, note: str | None, by: str, now: datetime
) -> RecallMilestone:
    """Staff record a regulatory step as done (e.g. "FDA telephoned at"); deadlines.py puts it
    against its due time. ``at`` defaults to now and may not be in the future or before the risk
    was known (the trigger, else when the lots were located, else the start): staff may have
    telephoned before they started the recall here. Recorded also after closing (a report sent late
    is still a fact)."""
    from cradletrace.recall.deadlines import parse_milestone

    problems: list[Problem] = [] if by.strip() else [Problem("by", "expected who records the milestone")]
    recall = locked_recall(session, recall_id)
    try:
        name = parse_milestone(name)
    except InvalidInputError as exc:
        problems.extend(exc.problems)
    when = at or now
    if when.tzinfo is None:
        problems.append(Problem("at", f"expected a time with its UTC offset, got {when.isoformat()}"))
    elif when > now or when < (since := recall.trigger_at or recall.located_at or recall.started_at):
        problems.append(
            Problem("at", f"expected a time between the recall's trigger {iso(since)} and now, got {iso(when)}")
        )
    note = (note or "").strip() or None
    if note and (bad := text_problem(note)):
        problems.append(Problem("note", bad))
    if problems:
        raise InvalidInputError(problems)
    row = RecallMilestone(
        recall_id=recall_id, name=name, at=when, recorded_at=now, recorded_by=by.strip()[:100], note=note and note[:500]
    )
    session.add(row)
    session.flush()
    return row

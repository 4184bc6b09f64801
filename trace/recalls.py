"""Holds, recalls and recall notices.

* **Automatic hold** (``hold_failures``): when ``record_items`` stores a failing test report or a
  cold-chain excursion, the batch it concerns and every lot that batch fed (a forward trace) get
  a ``hold`` row, in the same transaction as the event. A hold whose lot has no recall is a
  recall *proposal* (``proposals``). The hook is the last step of ``recording.record_items``, so
  every caller (CLI ``record``, the API events route, the demo) holds the same way.
* **Start a recall** (``start_recall``): all-or-nothing; refuses an empty scope, unknown lots and
  lots already under an active recall (naming them). The recall and its lots are stored at once,
  so the scan page shows the recall before anything is sent to the chain. Its notice is stored
  ``prepared``.
* **Notice anchoring** (``send_pending_notices``): the prepare/send/confirm pattern of
  anchoring.py. A notice already on chain (a run killed after sending) is found with
  ``noticeOf(noticeDigest)`` and only confirmed; an unreachable chain leaves it prepared.

The notice is the canonical JSON (RFC 8785) of ``{"recall", "lots" ("GTIN/LOT", sorted),
"reason", "severity", "started_at"}``: no names, no contact data. Its SHA-256 is the
``noticeDigest``; the ``lotRef`` sent with it is the SHA-256 of the first lot's ``"GTIN/LOT"``
(UTF-8) in that sorted list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import Connection, Integer, String, and_, bindparam, cast, false, func, insert, literal, null, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, select

from cradletrace.core import canonical
from cradletrace.core.text import text_problem
from cradletrace.errors import ChainRevertedError, InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import EventRow, Hold, Lot, Recall, RecallLot

SEVERITIES = ("I", "II", "III")
TWO_HOURS = timedelta(hours=2)
PREPARED, CONFIRMED = "prepared", "confirmed"
TRIGGER_OUTCOMES = {("test_report", "fail"): "failed test report", ("cold_chain", "excursion"): "cold-chain excursion"}


class StateConflictError(InvalidInputError):
    """The input is well formed but the thing is not in the state it needs: a lot already under an
    active recall, a hold already released, a recall already closed. ``kind`` names which (the API
    answers 409 with a stable text per kind); nothing was changed."""

    def __init__(self, kind: str, problems: list[Problem] | Problem) -> None:
        super().__init__(problems)
        self.kind = kind


# -- pure rules ---------------------------------------------------------------------------

def hold_reason(kind: str, outcome: str | None) -> str | None:
    """Why an event puts its batch on hold, or None if it does not."""
    return TRIGGER_OUTCOMES.get((kind, outcome or ""))


def parse_severity(value: str) -> str:
    v = value.strip().upper().removeprefix("CLASS").strip()
    if v not in SEVERITIES:
        raise InvalidInputError(Problem("severity", f"expected I, II or III (recall class), got {value!r}"))
    return v


def notice_body(recall_id: int, lots: Iterable[tuple[str, str]], reason: str, severity: str, started_at: datetime) -> bytes:
    """The canonical notice (no personal data): what is hashed and anchored."""
    refs = sorted(f"{g}/{lo}" for g, lo in lots)
    return canonical.canonical_bytes({"recall": recall_id, "lots": refs, "reason": reason, "severity": severity,  # type: ignore[dict-item]
                                      "started_at": started_at.astimezone(timezone.utc).isoformat()})


def lot_ref(lots: Iterable[tuple[str, str]]) -> bytes:
    """SHA-256 of the first (sorted) lot's ``GTIN/LOT``."""
    first = sorted(f"{g}/{lo}" for g, lo in lots)[0]
    return canonical.sha256(first.encode("utf-8"))


@dataclass(frozen=True)
class Clock:
    """Time from the triggering event to "located" and to "started", against the two-hour rule."""

    trigger_at: datetime | None
    located_at: datetime | None
    started_at: datetime | None

    @staticmethod
    def _span(a: datetime | None, b: datetime | None) -> timedelta | None:
        return None if a is None or b is None else _utc(b) - _utc(a)

    @property
    def to_located(self) -> timedelta | None:
        return self._span(self.trigger_at, self.located_at)

    @property
    def to_started(self) -> timedelta | None:
        return self._span(self.trigger_at, self.started_at)

    @property
    def within_rule(self) -> bool | None:
        worst = self.to_started if self.to_started is not None else self.to_located
        return None if worst is None else worst <= TWO_HOURS

    def to_json(self) -> dict[str, Any]:
        def secs(d: timedelta | None) -> float | None:
            return None if d is None else round(d.total_seconds(), 3)
        return {"trigger_at": _iso(self.trigger_at), "located_at": _iso(self.located_at), "started_at": _iso(self.started_at),
                "to_located_s": secs(self.to_located), "to_started_s": secs(self.to_started),
                "rule_s": TWO_HOURS.total_seconds(), "within_two_hours": self.within_rule}

    def text(self) -> str:
        def fmt(d: timedelta | None) -> str:
            if d is None:
                return "-"
            s = int(d.total_seconds())
            return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"
        verdict = {True: "within", False: "OVER", None: "n/a"}[self.within_rule]
        return f"located +{fmt(self.to_located)}, started +{fmt(self.to_started)} ({verdict} the 2 h rule)"


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)  # SQLite returns naive UTC


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _utc(t).isoformat()


# -- automatic hold -------------------------------------------------------------------------

def hold_failures(session: Session, recorded: Sequence[Any], now: datetime) -> list[Hold]:
    """Hold the batch of every failing report / excursion in ``recorded`` and all it fed.

    Runs in the caller's transaction (after the events are inserted). Lots already held are
    held again under the new trigger: each hold names one trigger.
    """
    from cradletrace.genealogy import trace_forward

    holds: list[dict[str, Any]] = []
    for row in recorded:
        reason = hold_reason(row.kind, row.outcome)
        if reason is None:
            continue
        trace = trace_forward(session, event=row.id)
        holds.extend(dict(lot_id=lot.id, reason=reason, trigger_event_id=row.id, created_at=now) for lot in trace.lots)
    if holds:
        session.execute(insert(Hold), holds)
    return [Hold(**h) for h in holds]


@dataclass(frozen=True)
class HoldView:
    id: int
    gtin: str
    lot: str
    reason: str
    trigger_event_id: int
    created_at: datetime
    trigger_at: datetime | None
    recall_id: int | None

    @property
    def clock(self) -> Clock:
        return Clock(self.trigger_at, self.created_at, None)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "gtin": self.gtin, "lot": self.lot, "reason": self.reason,
                "trigger_event_id": self.trigger_event_id, "created_at": _iso(self.created_at),
                "recall_id": self.recall_id, "clock": self.clock.to_json()}


def list_holds(session: Session, *, only_proposals: bool = False) -> list[HoldView]:
    """Active holds (oldest first); ``only_proposals``: those whose lot is under no active recall."""
    rows = session.exec(select(Hold, Lot.gtin, Lot.lot, EventRow.recorded_at)
                        .join(Lot, col(Lot.id) == col(Hold.lot_id))
                        .outerjoin(EventRow, col(EventRow.id) == col(Hold.trigger_event_id))
                        .where(col(Hold.released_at).is_(None)).order_by(col(Hold.id))).all()
    recalled = _active_recalls(session, [h.lot_id for h, *_ in rows])
    out = [HoldView(int(h.id or 0), g, lo, h.reason, h.trigger_event_id, h.created_at, at, recalled.get(h.lot_id))
           for h, g, lo, at in rows]
    return [h for h in out if h.recall_id is None] if only_proposals else out


def proposals(session: Session) -> list[HoldView]:
    """Recall proposals: holds on lots that no active recall covers yet."""
    return list_holds(session, only_proposals=True)


def _active_recalls(session: Session, lot_ids: Sequence[int]) -> dict[int, int]:
    """lot id -> id of the active recall covering it."""
    if not lot_ids:
        return {}
    from cradletrace.genealogy import id_set

    return {int(lid): int(rid) for lid, rid in session.exec(
        select(RecallLot.lot_id, RecallLot.recall_id).join(Recall, col(Recall.id) == col(RecallLot.recall_id))
        .where(col(RecallLot.lot_id).in_(id_set(session, lot_ids)), col(Recall.closed_at).is_(None))).all()}


# -- starting a recall ----------------------------------------------------------------------

def _write_lock(session: Session) -> None:
    """Take SQLite's write lock before checking state, so a concurrent recall of the same lot waits
    and then sees this one (the driver would otherwise begin the transaction only at the first
    insert, after both checks passed). PostgreSQL locks the rows FOR UPDATE instead."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Recall).where(false()).values(severity=Recall.severity))


def _key_set(session: Session, keys: Sequence[tuple[str, str]]) -> Any:
    """``(gtin, lot)`` pairs as a derived table with ONE bound parameter per column (the idea of
    ``genealogy.id_set``): ``unnest(text[], text[])`` on PostgreSQL, ``json_each`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return (func.unnest(literal([g for g, _ in keys], ARRAY(String)), literal([lo for _, lo in keys], ARRAY(String)))
                .table_valued("gtin", "lot").render_derived(name="k"))
    each = func.json_each(literal(json.dumps([list(k) for k in keys]))).table_valued("value")
    return select(func.json_extract(each.c.value, "$[0]").label("gtin"),
                  func.json_extract(each.c.value, "$[1]").label("lot")).subquery("k")


def _lock_lots(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of the recorded lots among ``keys``, read in ONE statement that, on PostgreSQL, locks
    them FOR UPDATE in id order: two recalls sharing a lot wait for each other (so the "already
    under recall" check sees the first one's rows) and, taking their locks in the same order, cannot
    deadlock. SQLite has no row locks: ``_write_lock`` already serialised the writers."""
    if not keys:
        return {}
    k = _key_set(session, keys)
    rows = session.exec(select(col(Lot.id), Lot.gtin, Lot.lot).join(k, and_(col(Lot.gtin) == k.c.gtin, col(Lot.lot) == k.c.lot))
                        .order_by(col(Lot.id)).with_for_update(of=Lot)).all()
    ids = {(g, lo): int(lid) for lid, g, lo in rows if lid is not None}
    return {key: ids[key] for key in keys if key in ids}  # in the order of ``keys``


def start_recall(
    session: Session, *,
    lots: Sequence[tuple[str, str]],
    reason: str,
    severity: str,
    trigger: str | int | None,
    started_by: str,
    now: datetime,
    located_at: datetime | None = None,
) -> Recall:
    """Recall ``lots`` (GTIN, LOT) now: all of them or, on any problem, none.

    ``trigger`` is an event id/digest (its recorded time starts the clock) or free text.
    ``located_at`` is when the forward trace behind the scope ran (default: ``now``).
    """
    from cradletrace.genealogy import _event_row

    _write_lock(session)
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
    if not started_by.strip():
        problems.append(Problem("started_by", "expected who starts the recall"))
    keys = sorted(set(lots))
    if not keys:
        problems.append(Problem("lots", "expected at least one lot in the recall scope, got none"))
    found = _lock_lots(session, keys)
    problems.extend(Problem("lots", f"expected a recorded lot, got {g}/{lo} which does not exist")
                    for g, lo in keys if (g, lo) not in found)
    active = _active_recalls(session, list(found.values()))
    already = [Problem("lots", f"lot {key[0]}/{key[1]} is already under active recall {active[lid]}")
               for key, lid in found.items() if lid in active]
    trigger_event: EventRow | None = None
    trigger_text: str | None = None
    if trigger is not None and str(trigger).strip():
        text = str(trigger).strip()
        if text.isdigit() or (len(text) == 64 and all(c in "0123456789abcdef" for c in text)):
            try:
                trigger_event = _event_row(session, text)
            except (NotFoundError, InvalidInputError) as exc:  # unknown, or more digits than an id has
                problems.append(Problem("trigger", str(exc).removeprefix("event: ")))
        else:
            trigger_text = text[:200]
    if problems:
        raise InvalidInputError(problems + already)
    if already:
        raise StateConflictError("recalled", already)

    trigger_at = trigger_event.recorded_at if trigger_event is not None else None
    if located_at is None and trigger_event is not None:  # the automatic hold's forward trace located them
        located_at = session.exec(select(Hold.created_at).where(Hold.trigger_event_id == trigger_event.id)
                                  .order_by(col(Hold.created_at))).first()
    recall = Recall(reason=reason, severity=severity, trigger_event_id=trigger_event.id if trigger_event else None,
                    trigger_text=trigger_text, started_by=started_by.strip()[:100], started_at=now, trigger_at=trigger_at,
                    located_at=located_at or now, notice="", notice_digest="", lot_ref=lot_ref(keys).hex(),
                    notice_status=PREPARED)
    session.add(recall)
    session.flush()
    assert recall.id is not None
    body = notice_body(recall.id, keys, reason, severity, now)
    recall.notice = body.decode("utf-8")
    recall.notice_digest = canonical.sha256(body).hex()
    session.add(recall)
    session.execute(insert(RecallLot), [dict(recall_id=recall.id, lot_id=lid) for lid in found.values()])
    session.flush()
    return recall


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
        return {"id": r.id, "reason": r.reason, "severity": r.severity, "trigger_event_id": r.trigger_event_id,
                "trigger_text": r.trigger_text, "started_by": r.started_by, "started_at": _iso(r.started_at),
                "lots": [f"{g}/{lo}" for g, lo in self.lots], "notice_digest": r.notice_digest,
                "notice_status": r.notice_status, "tx_hash": r.tx_hash, "block": r.block_number,
                "status": "closed" if r.closed_at else "active", "closed_at": _iso(r.closed_at),
                "closed_by": r.closed_by, "close_reason": r.close_reason, "clock": self.clock.to_json()}


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


def _who_and_why(by: str, reason: str, what: str) -> list[Problem]:
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
    _write_lock(session)
    problems = _who_and_why(closed_by, reason, "recall is closed")
    recall = session.exec(select(Recall).where(Recall.id == recall_id).with_for_update()).first()
    if recall is None:
        raise NotFoundError(f"recall: expected a started recall, got {recall_id} which does not exist")
    if problems:
        raise InvalidInputError(problems)
    if recall.closed_at is not None:
        raise StateConflictError("closed", Problem("recall", f"recall {recall_id} was already closed at "
                                                   f"{_iso(recall.closed_at)} by {recall.closed_by}"))
    recall.closed_at, recall.closed_by, recall.close_reason = now, closed_by.strip()[:100], reason.strip()[:500]
    session.add(recall)
    session.flush()
    return get_recall(session, recall_id)


def release_hold(session: Session, hold_id: int, *, reason: str, released_by: str, now: datetime) -> dict[str, Any]:
    """Lift one hold (e.g. a re-test passed): the scan banner goes; who, when and why are kept."""
    _write_lock(session)
    problems = _who_and_why(released_by, reason, "hold is released")
    hold = session.exec(select(Hold).where(Hold.id == hold_id).with_for_update()).first()
    if hold is None:
        raise NotFoundError(f"hold: expected an existing hold, got {hold_id} which does not exist")
    if problems:
        raise InvalidInputError(problems)
    if hold.released_at is not None:
        raise StateConflictError("released", Problem("hold", f"hold {hold_id} was already released at "
                                                     f"{_iso(hold.released_at)} by {hold.released_by}"))
    hold.released_at, hold.released_by, hold.release_reason = now, released_by.strip()[:100], reason.strip()[:500]
    session.add(hold)
    session.flush()
    g, lo = session.exec(select(Lot.gtin, Lot.lot).where(Lot.id == hold.lot_id)).one()
    return {"id": hold.id, "gtin": g, "lot": lo, "reason": hold.reason, "trigger_event_id": hold.trigger_event_id,
            "created_at": _iso(hold.created_at), "released_at": _iso(hold.released_at),
            "released_by": hold.released_by, "release_reason": hold.release_reason}


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
        return {"lots": refs(self.lots), "traced": refs(self.traced), "added": refs(self.added), "removed": refs(self.removed)}


def build_scope(session: Session, *, trace_lot: tuple[str, str] | None = None, trace_event: str | None = None,
                include: Sequence[tuple[str, str]] = (), exclude: Sequence[tuple[str, str]] = ()) -> Scope:
    """The forward trace of ``trace_lot`` or ``trace_event`` (if given), plus ``include``, minus ``exclude``.

    Unknown starts are input problems here (they come in a request body); excluding a lot that is not
    in the scope is refused, so a typo cannot silently leave a lot in. An empty result is left to
    ``start_recall`` to refuse."""
    from cradletrace.genealogy import trace_forward

    traced: list[tuple[str, str]] = []
    if trace_lot is not None and trace_event is not None:
        raise InvalidInputError(Problem("trace", "expected at most one of trace_lot and trace_event"))
    try:
        if trace_lot is not None:
            traced = [x.key for x in trace_forward(session, lot=trace_lot).lots]
        elif trace_event is not None:
            traced = [x.key for x in trace_forward(session, event=trace_event).lots]
    except NotFoundError as exc:
        raise InvalidInputError(Problem("trace_lot" if trace_lot else "trace_event",
                                        str(exc).split(": ", 1)[-1])) from None
    except InvalidInputError as exc:  # the trace names its own parameter; here it is the body's field
        raise InvalidInputError([Problem("trace_event" if p.where == "event" else p.where, p.message)
                                 for p in exc.problems]) from None
    widened = [k for k in dict.fromkeys(include) if k not in traced]
    pool = set(traced) | set(widened)
    missing = [k for k in dict.fromkeys(exclude) if k not in pool]
    if missing:
        raise InvalidInputError([Problem("exclude", f"expected a lot in the scope, got {g}/{lo} which is not in it")
                                 for g, lo in missing])
    gone = set(exclude)
    lots = tuple(sorted(pool - gone))
    return Scope(lots, tuple(sorted(traced)), tuple(sorted(widened)), tuple(sorted(gone)))


# -- what a scan shows --------------------------------------------------------------------------

@dataclass(frozen=True)
class LotStatus:
    recall: dict[str, Any] | None
    hold: dict[str, Any] | None


# Built once: every scan of a held or recalled lot runs it. One round trip for both: the lot's
# active recalls and holds, oldest first (the first of each kind is shown). ``lot_flags`` lets
# the scan path ask "is anything active?" in the same round trip as its item lookup.
def _active_recall(lot_id: Any) -> Any:
    return (RecallLot.lot_id == lot_id) & col(Recall.closed_at).is_(None)


def _active_hold(lot_id: Any) -> Any:
    return (Hold.lot_id == lot_id) & col(Hold.released_at).is_(None)


def active_rows(lot_id: Any) -> Any:
    """The active recalls and holds of ``lot_id`` (a value or a column), one row each, by kind and id."""
    return union_all(
        select(literal("recall").label("kind"), Recall.id, Recall.reason, Recall.severity, Recall.started_at.label("since"),
               Recall.notice_digest, Recall.notice_status, Recall.tx_hash, cast(null(), Integer).label("trigger_event_id"))
        .join(RecallLot, col(RecallLot.recall_id) == col(Recall.id)).where(_active_recall(lot_id)),
        select(literal("hold"), Hold.id, Hold.reason, null(), Hold.created_at, null(), null(), null(), Hold.trigger_event_id)
        .where(_active_hold(lot_id)),
    ).order_by("kind", "id")


STATUS_COLUMNS = ("kind", "id", "reason", "severity", "since", "notice_digest", "notice_status", "tx_hash",
                  "trigger_event_id")
_ACTIVE = active_rows(bindparam("lot_id", type_=Integer))


def lot_flags(lot_id: Any) -> tuple[Any, Any]:
    """SQL booleans: ``lot_id`` (a column or value) has an active recall; has an active hold."""
    recall = select(RecallLot.lot_id).join(Recall, col(RecallLot.recall_id) == col(Recall.id)).where(_active_recall(lot_id))
    return recall.exists(), select(Hold.id).where(_active_hold(lot_id)).exists()


def lot_status(conn: Session | Connection, lot_id: int) -> LotStatus:
    """The active recall and hold of one lot, as the scan page shows them (read from the store only)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    return status_of(conn.execute(_ACTIVE, {"lot_id": lot_id}))


def status_of(rows: Iterable[Any]) -> LotStatus:
    """The status shown from ``active_rows``' rows (attributes named as STATUS_COLUMNS): the first of each kind."""
    first: dict[str, Any] = {}
    for row in rows:
        first.setdefault(row.kind, row)
    recall, hold = first.get("recall"), first.get("hold")
    return LotStatus(
        {"id": recall.id, "reason": recall.reason, "severity": recall.severity, "started_at": _iso(recall.since),
         "notice_digest": recall.notice_digest, "notice_status": recall.notice_status, "tx_hash": recall.tx_hash,
         "do_not_use": True} if recall else None,
        {"reason": hold.reason, "since": _iso(hold.since), "trigger_event_id": hold.trigger_event_id} if hold else None)


NO_STATUS = LotStatus(None, None)


# -- notices on chain ----------------------------------------------------------------------------

class NoticeChain(Protocol):
    contract_address: str

    def record_notice(self, lot_ref: bytes, notice_digest: bytes) -> Any: ...

    def lookup_notice(self, notice_digest: bytes) -> Any: ...


@dataclass(frozen=True)
class NoticeResult:
    recall_id: int
    notice_digest: str
    tx_hash: str | None
    block_number: int
    recovered: bool  # True when the notice was already on chain (an interrupted run sent it)


def send_pending_notices(session_factory: Callable[[], Session], chain: NoticeChain) -> list[NoticeResult]:
    """Send every prepared notice (oldest first) and confirm it. Chain errors propagate and leave
    the notices not yet confirmed ``prepared``; the next run continues."""
    with session_factory() as s:
        ids = [int(i) for i in s.exec(select(Recall.id).where(Recall.notice_status == PREPARED).order_by(col(Recall.id))).all()]  # type: ignore[arg-type]
    out: list[NoticeResult] = []
    for rid in ids:
        with session_factory() as s:
            recall = s.get(Recall, rid)
            assert recall is not None
            if recall.notice_status != PREPARED:
                continue
            digest = bytes.fromhex(recall.notice_digest)
            found = chain.lookup_notice(digest)
            recovered = found is not None
            tx_hash: str | None
            if found is None:
                try:
                    receipt = chain.record_notice(bytes.fromhex(recall.lot_ref), digest)
                    tx_hash, block, when = receipt.tx_hash, receipt.block_number, receipt.block_time
                except ChainRevertedError as exc:
                    if exc.reason != "TraceAnchorNoticeAlreadyRecorded":
                        raise
                    found = chain.lookup_notice(digest)
                    if found is None:
                        raise
                    recovered = True
            if found is not None:
                tx_hash, block, when = found.tx_hash, found.block_number, found.block_time
            recall.notice_status = CONFIRMED
            recall.tx_hash = tx_hash
            recall.block_number = block
            recall.block_time = when
            s.add(recall)
            s.commit()
            out.append(NoticeResult(rid, recall.notice_digest, tx_hash, block, recovered))
    return out


def notice_json(recall: Recall) -> dict[str, Any]:
    return json.loads(recall.notice)  # type: ignore[no-any-return]

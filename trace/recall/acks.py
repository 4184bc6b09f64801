"""A consignee site's answer to a recall notice, through its one-time link (no login: the token
is the right to answer for that site, and only for it).

One answer per link: a second is refused (409, naming when and by whom it was answered), so a
link forwarded or opened twice cannot count anything twice; a correction goes through quality
staff (an amendment flow is part of what remains of issue 17, docs/recall.md). A recall that is
closed takes no more answers. Per lot, on hand + returned + destroyed may not exceed what was
shipped to the site: the refusal names the field and the quantity shipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from cradletrace.core.text import text_problem
from cradletrace.errors import Conflict, InvalidInputError, NotFoundError, Problem, StateConflictError
from cradletrace.recall.clock import iso
from cradletrace.recall.outbox import cancel_open, token_hash
from cradletrace.store.models import Lot, Recall, RecallAck, RecallAckLine, Supplier

MAX_QUANTITY = 1e12


@dataclass(frozen=True)
class AckLine:
    lot_id: int
    gtin: str
    lot: str
    shipped: float
    unit: str
    on_hand: float | None
    returned: float | None
    destroyed: float | None

    @property
    def ref(self) -> str:
        return f"{self.gtin}/{self.lot}"

    def to_json(self) -> dict[str, Any]:
        return {
            "lot": self.ref,
            "shipped": self.shipped,
            "unit": self.unit,
            "on_hand": self.on_hand,
            "returned": self.returned,
            "destroyed": self.destroyed,
        }


@dataclass(frozen=True)
class AckView:
    """What the acknowledgement page shows (no other site's data, no staff names)."""

    ack: RecallAck
    recall: Recall
    site_name: str
    lines: tuple[AckLine, ...]

    @property
    def closed(self) -> bool:
        return self.recall.closed_at is not None

    def to_json(self) -> dict[str, Any]:
        a, r = self.ack, self.recall
        return {
            "recall": r.id,
            "reason": r.reason,
            "severity": r.severity,
            "started_at": iso(r.started_at),
            "recall_closed": self.closed,
            "drill": r.drill,
            "site": a.site,
            "site_name": self.site_name,
            "answered_at": iso(a.answered_at),
            "answered_by": a.answered_by,
            "received": a.received,
            "lines": [x.to_json() for x in self.lines],
        }


def _by_token(session: Session, token: str, *, lock: bool = False) -> RecallAck:
    q = select(RecallAck).where(RecallAck.token_hash == token_hash(token))
    ack = session.exec(q.with_for_update() if lock else q).first()
    if ack is None or len(token) > 100:
        raise NotFoundError("acknowledgement: expected the link from a recall notice; this one is not known")
    return ack


def view(session: Session, token: str) -> AckView:
    return _view(session, _by_token(session, token))


def _view(session: Session, ack: RecallAck) -> AckView:
    recall = session.get(Recall, ack.recall_id)
    assert recall is not None
    name = session.exec(select(Supplier.name).where(Supplier.id == ack.site)).first() or ack.site
    rows = session.exec(
        select(RecallAckLine, Lot.gtin, Lot.lot)
        .join(Lot, col(Lot.id) == col(RecallAckLine.lot_id))
        .where(RecallAckLine.ack_id == ack.id)
        .order_by(col(Lot.gtin), col(Lot.lot))
    ).all()
    lines = tuple(AckLine(x.lot_id, g, lo, x.shipped, x.unit, x.on_hand, x.returned, x.destroyed) for x, g, lo in rows)
    return AckView(ack, recall, name, lines)


@dataclass(frozen=True)
class LineAnswer:
    on_hand: float
    returned: float
    destroyed: float


def _quantity_problems(i: int, line: AckLine, a: LineAnswer) -> list[Problem]:
    where = f"lines[{i}]"
    out = [
        Problem(f"{where}.{name}", f"expected a number from 0 to {line.shipped:g} {line.unit}, got {value!r}")
        for name, value in (("on_hand", a.on_hand), ("returned", a.returned), ("destroyed", a.destroyed))
        if not (math.isfinite(value) and 0 <= value <= MAX_QUANTITY)
    ]
    if out:
        return out
    if a.returned + a.destroyed > line.shipped:
        field = "returned" if a.returned >= a.destroyed else "destroyed"
        return [
            Problem(
                f"{where}.{field}",
                f"lot {line.ref}: returned ({a.returned:g}) + destroyed ({a.destroyed:g}) is more than the "
                f"{line.shipped:g} {line.unit} shipped to this site",
            )
        ]
    if a.on_hand + a.returned + a.destroyed > line.shipped:
        return [
            Problem(
                f"{where}.on_hand",
                f"lot {line.ref}: on hand ({a.on_hand:g}) + returned + destroyed is more than the "
                f"{line.shipped:g} {line.unit} shipped to this site",
            )
        ]
    return []


def answer(
    session: Session,
    token: str,
    *,
    received: bool,
    lines: dict[str, LineAnswer],
    answered_by: str,
    now: datetime,
) -> AckView:
    """Record a site's one answer; ``lines`` maps ``GTIN/LOT`` to its quantities (every lot of the
    acknowledgement, none other). Refusals change nothing."""
    from cradletrace.recall.recalls import write_lock

    write_lock(session)
    ack = _by_token(session, token, lock=True)
    current = _view(session, ack)
    if current.closed:
        r = current.recall
        raise StateConflictError(
            Conflict.CLOSED,
            Problem("recall", f"recall {r.id} was closed at {iso(r.closed_at)}: it takes no more answers"),
        )
    if ack.answered_at is not None:
        raise StateConflictError(
            Conflict.ANSWERED,
            Problem(
                "token",
                f"this link was already answered at {iso(ack.answered_at)} by {ack.answered_by}; "
                "to correct the answer, contact the recalling company's quality staff",
            ),
        )
    problems: list[Problem] = []
    who = answered_by.strip()
    if not who:
        problems.append(Problem("answered_by", "expected the name of who answers for the site"))
    elif bad := text_problem(who):
        problems.append(Problem("answered_by", bad))
    elif len(who) > 100:
        problems.append(Problem("answered_by", f"expected at most 100 characters, got {len(who)}"))
    known = {x.ref: x for x in current.lines}
    problems.extend(
        Problem("lines", f"expected a lot of this notice ({', '.join(known)}), got {ref!r}")
        for ref in lines
        if ref not in known
    )
    for i, line in enumerate(current.lines):
        given = lines.get(line.ref)
        if given is None:
            problems.append(Problem(f"lines[{i}]", f"expected the quantities of lot {line.ref}, got none"))
            continue
        problems.extend(_quantity_problems(i, line, given))
    if problems:
        raise InvalidInputError(problems)
    done = session.execute(
        update(RecallAck)
        .where(col(RecallAck.id) == ack.id, col(RecallAck.answered_at).is_(None))
        .values(answered_at=now, answered_by=who, received=received)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]  # a racing answer won (SQLite lock makes this rare)
        raise StateConflictError(Conflict.ANSWERED, Problem("token", "this link was answered a moment ago"))
    for line in current.lines:
        a = lines[line.ref]
        session.execute(
            update(RecallAckLine)
            .where(col(RecallAckLine.ack_id) == ack.id, col(RecallAckLine.lot_id) == line.lot_id)
            .values(on_hand=a.on_hand, returned=a.returned, destroyed=a.destroyed)
        )
    cancel_open(session, ack_id=ack.id, why="not sent: the site answered first")
    session.flush()
    session.refresh(ack)
    return _view(session, ack)

"""A recall's ledger: per consignee site and lot, what was shipped there and what the site said
became of it; who was notified and who answered; the milestones against the clock.

Per line: ``unaccounted = shipped - on_hand - returned - destroyed`` once the site answered, all
of ``shipped`` before. Quantities are summed per unit only (a lot counted in cans and another in
kg are not added). Read with a handful of queries whatever the size (a 500-site recall is a few
thousand lines).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from cradletrace.recall import consumers
from cradletrace.recall.clock import TWO_HOURS, iso
from cradletrace.recall.recalls import get_recall
from cradletrace.store.models import (
    EventRow,
    Lot,
    RecallAck,
    RecallAckLine,
    RecallLot,
    RecallMilestone,
    RecallNotice,
    RecallNoticeAttempt,
    Shipment,
    Supplier,
)
from cradletrace.store.states import DeliveryStatus, RecallState

QUANTITIES = ("shipped", "on_hand", "returned", "destroyed", "unaccounted")


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 3)


@dataclass(frozen=True)
class Ledger:
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.body


def build_ledger(session: Session, recall_id: int, now: datetime | None = None) -> Ledger:
    """``now`` decides which deadlines are due or late (the clock seam: tests pass their own)."""
    from cradletrace.recall import deadlines, effectiveness

    now = now or datetime.now(UTC)
    view = get_recall(session, recall_id)
    r = view.recall
    acks = session.exec(select(RecallAck).where(RecallAck.recall_id == recall_id).order_by(col(RecallAck.id))).all()
    names = dict(
        session.exec(select(Supplier.id, Supplier.name).where(col(Supplier.id).in_({a.site for a in acks}))).all()
    )
    lines: dict[int, list[tuple[RecallAckLine, str]]] = defaultdict(list)
    for line, g, lo in session.exec(
        select(RecallAckLine, Lot.gtin, Lot.lot)
        .join(Lot, col(Lot.id) == col(RecallAckLine.lot_id))
        .join(RecallAck, col(RecallAck.id) == col(RecallAckLine.ack_id))
        .where(RecallAck.recall_id == recall_id)
        .order_by(col(Lot.gtin), col(Lot.lot))
    ).all():
        lines[line.ack_id].append((line, f"{g}/{lo}"))
    notices: dict[int, list[RecallNotice]] = defaultdict(list)
    for n in session.exec(
        select(RecallNotice).where(RecallNotice.recall_id == recall_id).order_by(col(RecallNotice.id))
    ):
        notices[n.ack_id].append(n)

    rows: list[dict[str, Any]] = []
    sites: dict[str, dict[str, Any]] = {}
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(QUANTITIES, 0.0))
    for a in acks:
        assert a.id is not None
        site = sites.setdefault(
            a.site,
            {
                "site": a.site,
                "name": names.get(a.site, a.site),
                "acks": 0,
                "answered": 0,
                "notified_at": None,
                "notices": [],
            },
        )
        site["acks"] += 1
        site["answered"] += a.answered_at is not None
        for n in notices.get(a.id, []):
            site["notices"].append(
                {
                    "id": n.id,
                    "channel": n.channel,
                    "status": n.status,
                    "attempts": n.attempts,
                    "sent_at": iso(n.sent_at),
                    "next_attempt_at": iso(n.next_attempt_at),
                    "last_error": n.last_error,
                }
            )
            if n.sent_at is not None and (site["notified_at"] is None or n.sent_at < site["notified_at"]):
                site["notified_at"] = n.sent_at
        for line, ref in lines.get(a.id, []):
            answered = a.answered_at is not None
            known = (line.on_hand or 0.0) + (line.returned or 0.0) + (line.destroyed or 0.0) if answered else 0.0
            row: dict[str, Any] = {
                "site": a.site,
                "lot": ref,
                "unit": line.unit,
                "shipped": line.shipped,
                "acknowledged": answered,
                "received": a.received,
                "on_hand": line.on_hand,
                "returned": line.returned,
                "destroyed": line.destroyed,
                "unaccounted": max(0.0, line.shipped - known),
                "answered_at": iso(a.answered_at),
                "answered_by": a.answered_by,
            }
            rows.append(row)
            t = totals[line.unit]
            for q in QUANTITIES:
                t[q] += row[q] or 0.0

    site_list = list(sites.values())
    answered_sites = sum(1 for s in site_list if s["answered"] == s["acks"])
    notified_sites = sum(1 for s in site_list if s["notified_at"] is not None)
    no_contact = [s["site"] for s in site_list if not s["notices"]]
    for s in site_list:
        s["notified_at"] = iso(s["notified_at"])

    # Shipments of the scope's lots that named no consignee: no one to notify.
    unreachable: dict[str, float] = defaultdict(float)
    unreachable_count = 0
    for body in session.exec(
        select(EventRow.body)
        .join(Shipment, col(Shipment.event_id) == col(EventRow.id))
        .join(RecallLot, col(RecallLot.lot_id) == col(Shipment.lot_id))
        .where(RecallLot.recall_id == recall_id, col(Shipment.consignee).is_(None))
    ).all():
        d = json.loads(body)["data"]
        unreachable[str(d["unit"])] += float(d["quantity"])
        unreachable_count += 1

    start = r.trigger_at or r.started_at
    all_notified = None
    if site_list and notified_sites == len(site_list):
        all_notified = max(datetime.fromisoformat(s["notified_at"]) for s in site_list)
    answered_times = [a.answered_at for a in acks if a.answered_at is not None]
    all_acked = max(answered_times) if acks and len(answered_times) == len(acks) else None
    accounted = all_acked if all_acked is not None and all(t["unaccounted"] == 0 for t in totals.values()) else None
    milestones = [
        ("located", r.located_at),
        ("started", r.started_at),
        ("all_notified", all_notified),
        ("all_acknowledged", all_acked),
        ("all_accounted", accounted),
        ("recall_closed", r.closed_at),
    ]
    recorded: dict[str, list[datetime]] = defaultdict(list)
    steps = session.exec(
        select(RecallMilestone).where(RecallMilestone.recall_id == recall_id).order_by(col(RecallMilestone.at))
    ).all()
    for m in steps:
        recorded[m.name].append(m.at)
    facts = deadlines.Facts(
        regimes=tuple((r.regimes or "").split(",")) if r.regimes else (),
        cn_level=r.cn_level or 1,
        known_at=r.trigger_at or r.located_at or r.started_at,
        started_at=r.started_at,
        closed_at=r.closed_at,
        recorded=dict(recorded),
    )
    return Ledger(
        {
            "recall": r.id,
            "drill": r.drill,
            "regimes": list(facts.regimes),
            "cn_level": r.cn_level,
            "deadlines": deadlines.deadlines(facts, now),
            "recorded_milestones": [
                {"name": m.name, "at": iso(m.at), "recorded_by": m.recorded_by, "note": m.note} for m in steps
            ],
            "effectiveness": effectiveness.summary(session, r),
            "status": RecallState.CLOSED if r.closed_at else RecallState.ACTIVE,
            "clock": view.clock.to_json(),
            "counted_from": iso(start),
            "milestones": [
                {
                    "name": name,
                    "at": iso(at),
                    "after_s": _secs(start, at),
                    "within_two_hours": None
                    if at is None or name not in ("located", "started")
                    else (at - start) <= TWO_HOURS,
                }
                for name, at in milestones
            ],
            "sites": {
                "total": len(site_list),
                "notified": notified_sites,
                "answered": answered_sites,
                "share_answered": round(answered_sites / len(site_list), 4) if site_list else None,
                "without_contact": no_contact,
                "notices": {
                    str(st): sum(1 for s in site_list for n in s["notices"] if n["status"] == st)
                    for st in DeliveryStatus
                },
            },
            **consumers.reach(session, recall_id),  # buyers and subscribers: notified, reached, opened
            "without_consignee": {"shipments": unreachable_count, "quantity": dict(sorted(unreachable.items()))},
            "totals": {u: {q: round(v, 6) for q, v in t.items()} for u, t in sorted(totals.items())},
            "site_list": site_list,
            "rows": rows,
        }
    )


def delivery_log(session: Session, recall_id: int) -> list[dict[str, Any]]:
    """Every notice of the recall with every try (oldest first)."""
    tries: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in session.exec(
        select(RecallNoticeAttempt)
        .join(RecallNotice, col(RecallNotice.id) == col(RecallNoticeAttempt.notice_id))
        .where(RecallNotice.recall_id == recall_id)
        .order_by(col(RecallNoticeAttempt.id))
    ).all():
        tries[a.notice_id].append({"at": iso(a.at), "status": a.status, "code": a.code, "error": a.error, "ms": a.ms})
    return [
        {
            "id": n.id,
            "site": site,
            "channel": n.channel,
            "status": n.status,
            "attempts": n.attempts,
            "created_at": iso(n.created_at),
            "sent_at": iso(n.sent_at),
            "next_attempt_at": iso(n.next_attempt_at),
            "last_error": n.last_error,
            "tries": tries.get(n.id or 0, []),
        }
        for n, site in session.exec(
            select(RecallNotice, RecallAck.site)
            .join(RecallAck, col(RecallAck.id) == col(RecallNotice.ack_id))
            .where(RecallNotice.recall_id == recall_id)
            .order_by(col(RecallNotice.id))
        ).all()
    ]

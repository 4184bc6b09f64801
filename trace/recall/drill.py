"""Mock recalls (drills): the recall workflow run for practice on a chosen lot, because auditors
(BRCGS, SQF, FSSC 22000) ask for its timings and its percent accounted.

A drill is a recall row with ``drill`` set, so it runs the same code: the forward trace locates the
lots, the start writes each consignee site's acknowledgement and its notices to the outbox, the
delivery worker sends them with their one-time links, sites answer, the ledger counts, staff
close it. What differs, everywhere:

* its notice never goes on chain (``NoticeStatus.DRILL``; notices.py skips drills);
* scan pages show no recall banner for it (status.py) and no buyer or consumer is told;
* e-mails, webhooks (``"type": "recall.drill"``, ``"drill": true``) and the acknowledgement page
  say DRILL / 演练 and that nothing is to be stopped;
* it creates and lifts no holds, and drills and real recalls do not block each other's lots, so
  a drill never stops sales and never delays a real recall;
* its clock starts when staff start the drill (there is no triggering event).

Its result (``drill_report``): seconds from the drill's start to located, started, all notified,
all acknowledged, all accounted and closed, and the percent accounted (at close, when closed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cradletrace.recall import ledger as recall_ledger
from cradletrace.recall.recalls import Scope, build_scope, get_recall, start_recall
from cradletrace.store.models import Recall
from cradletrace.store.states import RecallState


def percent_accounted(totals: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """Per unit: the share of what was shipped that sites accounted for (on hand, returned, destroyed)."""
    return {
        unit: None if t["shipped"] <= 0 else round(100 * (t["shipped"] - t["unaccounted"]) / t["shipped"], 2)
        for unit, t in totals.items()
    }


def drill_report(session: Session, recall_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The drill's result: its timings and percent accounted (a real recall gets the same figures,
    marked ``drill: false``)."""
    view = get_recall(session, recall_id)
    led = recall_ledger.build_ledger(session, recall_id, now).to_json()
    timings = {m["name"]: {"at": m["at"], "after_s": m["after_s"]} for m in led["milestones"]}
    return {
        "recall": recall_id,
        "drill": view.recall.drill,
        "lots": [f"{g}/{lo}" for g, lo in view.lots],
        "status": led["status"],
        "counted_from": led["counted_from"],
        "timings": timings,
        "within_two_hours": view.clock.within_rule,
        "sites": {k: led["sites"][k] for k in ("total", "notified", "answered", "share_answered")},
        "totals": led["totals"],
        "percent_accounted": percent_accounted(led["totals"]),
        "accounted_at_close": led["status"] == RecallState.CLOSED,
        "effectiveness": {k: v for k, v in led["effectiveness"].items() if k != "checks"},
        "deadlines": [{k: d[k] for k in ("regime", "name", "due", "done", "status")} for d in led["deadlines"]],
    }


def report_text(rep: dict[str, Any]) -> str:
    """The drill report as text, for the command line and the audit file."""

    def fmt(s: float | None) -> str:
        if s is None:
            return "-"
        n = int(s)
        return f"{n // 3600}h{n % 3600 // 60:02d}m{n % 60:02d}s"

    kind = "DRILL (mock recall)" if rep["drill"] else "recall"
    lines = [f"{kind} {rep['recall']}  {rep['status']}  lots: {', '.join(rep['lots'])}"]
    lines.append(f"  counted from {rep['counted_from']}")
    for name, t in rep["timings"].items():
        lines.append(f"  {name:<17} +{fmt(t['after_s'])}" + ("" if t["at"] else "  (not reached)"))
    s = rep["sites"]
    share = "-" if s["share_answered"] is None else f"{100 * s['share_answered']:.0f} %"
    lines.append(f"  sites: {s['total']} in scope, {s['notified']} notified, {s['answered']} answered ({share})")
    for unit, pct in rep["percent_accounted"].items():
        t = rep["totals"][unit]
        when = "at close" if rep["accounted_at_close"] else "so far"
        lines.append(f"  accounted {when}: {'-' if pct is None else f'{pct:g} %'} of {t['shipped']:g} {unit}")
    e = rep["effectiveness"]
    if e["level"]:
        eff = "-" if e["share_effective"] is None else f"{100 * e['share_effective']:.0f} %"
        lines.append(
            f"  effectiveness checks: level {e['level']}, {e['checked']}/{e['drawn']} checked, {eff} effective"
        )
    for d in rep["deadlines"]:
        lines.append(f"  {d['regime']:<11} {d['name']:<19} due {d['due']}  {d['status']}")
    return "\n".join(lines)


DRILL_REASON = "Mock recall (drill) / 模拟召回(演练)"


def start_drill(
    session: Session,
    *,
    trace_lot: tuple[str, str],
    by: str,
    clock: Callable[[], datetime],
    reason: str | None = None,
    severity: str = "I",
    include: Sequence[tuple[str, str]] = (),
    exclude: Sequence[tuple[str, str]] = (),
    regimes: Sequence[str] | None = None,
    cn_level: int | None = None,
) -> tuple[Recall, Scope]:
    """Run a drill's first steps as a real recall would: trace forward from ``trace_lot`` (located),
    start (acknowledgements and notices written). ``clock`` is read at the drill's start, when the
    lots are located and when it starts: those are the drill's timings."""
    began = clock()
    scope = build_scope(session, trace_lot=trace_lot, include=include, exclude=exclude)
    located = clock()
    recall = start_recall(
        session,
        lots=scope.lots,
        reason=(reason or "").strip() or DRILL_REASON,
        severity=severity,
        trigger="drill",
        started_by=by,
        now=clock(),
        located_at=located,
        drill=True,
        drill_started_at=began,
        regimes=regimes,
        cn_level=cn_level,
    )
    return recall, scope

"""The recall clock: from the triggering event to "located" and to "started", against the two-hour rule.

Also how recall and hold times are written out (ISO 8601, UTC: the store hands back aware UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TWO_HOURS = timedelta(hours=2)


@dataclass(frozen=True)
class Clock:
    """Time from the triggering event to "located" and to "started", against the two-hour rule."""

    trigger_at: datetime | None
    located_at: datetime | None
    started_at: datetime | None

    @staticmethod
    def _span(a: datetime | None, b: datetime | None) -> timedelta | None:
        return None if a is None or b is None else b - a

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

        return {
            "trigger_at": iso(self.trigger_at),
            "located_at": iso(self.located_at),
            "started_at": iso(self.started_at),
            "to_located_s": secs(self.to_located),
            "to_started_s": secs(self.to_started),
            "rule_s": TWO_HOURS.total_seconds(),
            "within_two_hours": self.within_rule,
        }

    def text(self) -> str:
        def fmt(d: timedelta | None) -> str:
            if d is None:
                return "-"
            s = int(d.total_seconds())
            return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"

        verdict = {True: "within", False: "OVER", None: "n/a"}[self.within_rule]
        return f"located +{fmt(self.to_located)}, started +{fmt(self.to_started)} ({verdict} the 2 h rule)"


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()

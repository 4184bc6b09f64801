"""Cold-chain analysis of a temperature logger's readings.

Each reading holds until the next one (loggers record at a fixed interval and a reading stands
for the interval that follows it), so time out of range is the sum of the intervals that start
with an out-of-range reading; the last reading covers no time. Mean kinetic temperature uses
the usual form with ΔH = 83.144 kJ/mol (ΔH/R = 10 000 K) over the readings, as in USP <1079.2>.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

DELTA_H_OVER_R = 83144.0 / 8.3144  # kelvin
KELVIN = 273.15


@dataclass(frozen=True)
class Reading:
    at: datetime
    celsius: float


@dataclass(frozen=True)
class Excursion:
    start: datetime
    end: datetime
    peak_c: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class ColdChainSummary:
    min_c: float
    max_c: float
    mean_kinetic_c: float
    seconds_out_of_range: float
    excursions: tuple[Excursion, ...]

    @property
    def verdict(self) -> str:
        return "excursion" if self.excursions else "ok"


def mean_kinetic_temperature(celsius: Sequence[float]) -> float:
    terms = [math.exp(-DELTA_H_OVER_R / (c + KELVIN)) for c in celsius]
    return DELTA_H_OVER_R / -math.log(sum(terms) / len(terms)) - KELVIN


def analyse(readings: Sequence[Reading], low_c: float, high_c: float) -> ColdChainSummary:
    """Summarise readings (in time order) against the allowed range [low_c, high_c]."""
    excursions: list[Excursion] = []
    start: datetime | None = None
    peak = 0.0
    out_seconds = 0.0
    for i, r in enumerate(readings):
        outside = r.celsius < low_c or r.celsius > high_c
        nxt = readings[i + 1].at if i + 1 < len(readings) else r.at
        if outside:
            out_seconds += (nxt - r.at).total_seconds()
            if start is None:
                start, peak = r.at, r.celsius
            elif abs(r.celsius - (low_c + high_c) / 2) > abs(peak - (low_c + high_c) / 2):
                peak = r.celsius
        if start is not None and (not outside or i + 1 == len(readings)):
            excursions.append(Excursion(start, r.at if not outside else nxt, peak))
            start = None
    temps = [r.celsius for r in readings]
    return ColdChainSummary(
        min_c=min(temps),
        max_c=max(temps),
        mean_kinetic_c=round(mean_kinetic_temperature(temps), 3),
        seconds_out_of_range=out_seconds,
        excursions=tuple(excursions),
    )

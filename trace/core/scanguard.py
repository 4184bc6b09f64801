"""One item, one code: is this code being scanned like one pack, or like a copied label?

A real pack is scanned a handful of times, in one household's city. A label printed many
times shows up often and far apart. The rule is written down here so it can be argued with:
a code is a likely copy when it has been scanned more than ``max_scans`` times, or from
places more than ``max_km`` apart within ``window``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ScanPoint:
    at: datetime
    lat: float | None = None  # coarse (about 10 km), only with the scanner's consent
    lon: float | None = None


@dataclass(frozen=True)
class CloneRule:
    max_scans: int = 30
    max_km: float = 300.0
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class CloneVerdict:
    likely_copy: bool
    reason: str
    scans: int
    farthest_km: float


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def judge(scans: Sequence[ScanPoint], rule: CloneRule = CloneRule()) -> CloneVerdict:
    """Apply the rule to a code's scans (any order)."""
    farthest = 0.0
    placed = sorted((s for s in scans if s.lat is not None and s.lon is not None), key=lambda s: s.at)
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            if b.at - a.at > rule.window:
                break
            farthest = max(farthest, distance_km(a.lat, a.lon, b.lat, b.lon))  # type: ignore[arg-type]
    if len(scans) > rule.max_scans:
        return CloneVerdict(True, f"scanned {len(scans)} times; a single pack is rarely scanned more than "
                                  f"{rule.max_scans} times", len(scans), farthest)
    if farthest > rule.max_km:
        return CloneVerdict(True, f"scanned in places {farthest:.0f} km apart within {rule.window.days} days",
                            len(scans), farthest)
    return CloneVerdict(False, "", len(scans), farthest)

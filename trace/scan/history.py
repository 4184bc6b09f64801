"""Consumer scans: counted per item, located only coarsely and only with consent, sealed at rest.

A location is rounded to 0.1° (about 10 km: a district, not a home), padded to a fixed length
(so the sealed value's size tells nothing, not even the hemisphere) and sealed, once per scan.
Each scan keeps a pseudonym of the client that made it (``client_id``: a keyed hash of address and
browser, never the address itself), so that the copy rule (core/scanguard.py) counts phones, not
requests. A later scanner learns only what concerns the pack: how often it was scanned, on which
day first, and whether that first scan was in another city than its own (when both shared a
place): never where anyone else was.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, union_all, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, func, select

from cradletrace.core.scanguard import CloneRule, CloneVerdict, ScanPoint, judge
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.scan.places import same_city
from cradletrace.sealing import Sealer
from cradletrace.store.models import ScanRecord

MAX_HISTORY = 1000
DEFAULT_RULE = CloneRule()
LOCATION_SIZE = 32  # bytes sealed per location: '[-89.9, -179.9]' (15) padded with spaces


@dataclass(frozen=True)
class ScanSummary:
    scan_id: str
    count: int
    first_at: datetime  # shown as a date only
    clone: CloneVerdict
    # The first scan was in another city than this scanner (True), in the same (False), or one
    # of the two places is unknown (None): the scanner's own place is the latest it shared.
    first_elsewhere: bool | None = None


def client_id(sealer: Sealer, address: str, user_agent: str) -> str:
    """The pseudonym of a scanning client: who it is never leaves this process, only whether
    two scans came from the same one."""
    return sealer.pseudonym(f"{address}\n{user_agent}".encode())


# Built once: every scan runs them.
SCAN_COLUMNS = (
    col(ScanRecord.id),
    col(ScanRecord.scanned_at),
    col(ScanRecord.consent),
    col(ScanRecord.location),
    col(ScanRecord.client),
)
_NEW = {
    "id": bindparam("id"),
    "serial": bindparam("serial"),
    "scanned_at": bindparam("scanned_at"),
    "consent": False,
    "client": bindparam("client"),
}
_INSERT = insert(ScanRecord).values(_NEW)
_HISTORY = (
    select_columns(*SCAN_COLUMNS)
    .where(col(ScanRecord.serial) == bindparam("serial"))
    .order_by(col(ScanRecord.scanned_at))
    .limit(MAX_HISTORY)
)
# PostgreSQL does both in one round trip. The table read does not see the row the CTE inserts
# (one snapshot for the whole statement), so the union has it exactly once.
_added = insert(ScanRecord).values(_NEW).returning(*SCAN_COLUMNS).cte("added")
_INSERT_AND_HISTORY = (
    union_all(select_columns(*SCAN_COLUMNS).where(col(ScanRecord.serial) == bindparam("serial")), select(*_added.c))
    .order_by("scanned_at")
    .limit(MAX_HISTORY)
)


def record_scan(
    conn: Connection | Session,
    sealer: Sealer,
    serial: str,
    now: datetime,
    client: str | None = None,
    rule: CloneRule = DEFAULT_RULE,
) -> ScanSummary:
    """Count this scan by ``client`` (``client_id``) and summarise the code's history (in the
    caller's transaction, if any)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    scan_id = secrets.token_hex(16)
    params = {"id": scan_id, "serial": serial, "scanned_at": now, "client": client}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_INSERT_AND_HISTORY, params).all()
    else:
        conn.execute(_INSERT, params)
        rows = conn.execute(_HISTORY, params).all()
    count = (
        len(rows)
        if len(rows) < MAX_HISTORY
        else int(
            conn.execute(  # only the history is capped, not the count
                select(func.count()).select_from(ScanRecord).where(ScanRecord.serial == serial)
            ).scalar_one()
        )
    )
    return summarize(scan_id, rows, count, sealer, now, client, rule)


def summarize(
    scan_id: str,
    rows: Sequence[Any],
    count: int,
    sealer: Sealer,
    now: datetime,
    client: str | None = None,
    rule: CloneRule = DEFAULT_RULE,
) -> ScanSummary:
    """The summary of a code's scans from its history ``rows`` (``SCAN_COLUMNS``, oldest first, this
    scan included, made by ``client``) and its scan ``count``."""
    points = [_point(sealer, r) for r in rows]
    first = _place(points[0])
    mine = next((p for p in reversed(points) if client is not None and p.client == client and p.lat is not None), None)
    mine_place = None if mine is None else _place(mine)
    elsewhere = None if first is None or mine_place is None else not same_city(first, mine_place)
    return ScanSummary(scan_id, count, points[0].at, judge(points, rule), elsewhere)


def attach_location(session: Session, sealer: Sealer, scan_id: str, lat: float, lon: float) -> bool:
    """Store the coarse location a scanner agreed to share for its own scan; False (nothing
    stored) when that scan has one already: a scan takes one place, once."""
    _check_degrees("lat", "latitude", lat, 90)
    _check_degrees("lon", "longitude", lon, 180)
    coarse = json.dumps([round(lat, 1), round(lon, 1)]).encode().ljust(LOCATION_SIZE)
    stored = session.execute(
        update(ScanRecord)
        .where(col(ScanRecord.id) == scan_id, col(ScanRecord.location).is_(None))
        .values(consent=True, location=sealer.seal(coarse, scan_id.encode()))
    )
    if stored.rowcount:  # type: ignore[attr-defined]
        return True
    if session.get(ScanRecord, scan_id) is None:
        raise NotFoundError(f"scan {scan_id!r}: not found")
    return False


def _check_degrees(field: str, name: str, value: float, limit: int) -> None:
    if not math.isfinite(value):
        raise InvalidInputError(
            Problem(
                field,
                f"expected a {name} in degrees, a number between -{limit} and {limit}; got {value} (not a number)",
            )
        )
    if not (-limit <= value <= limit):
        raise InvalidInputError(Problem(field, f"expected a {name} between -{limit} and {limit}, got {value}"))


def _point(sealer: Sealer, row: Any) -> ScanPoint:
    lat, lon = _open(sealer, row) or (None, None)
    return ScanPoint(row.scanned_at, lat, lon, row.client)


def _place(point: ScanPoint) -> tuple[float, float] | None:
    """Where a scan was, when its scanner shared it (latitude and longitude come together)."""
    return None if point.lat is None or point.lon is None else (point.lat, point.lon)


def _open(sealer: Sealer, row: Any) -> tuple[float, float] | None:
    if not row.consent or row.location is None:
        return None
    try:
        lat, lon = json.loads(sealer.open(row.location, row.id.encode()))
    except (InvalidInputError, ValueError):
        return None  # a location that does not open is not evidence of anything
    return float(lat), float(lon)

"""Scans on PostgreSQL: one statement per scan, from the event loop, on a pool of async connections.

The SQLite path, and the fallback when rows keep changing under a scan, is ``service.scan_item``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

from anyio.to_thread import run_sync
from sqlalchemy import Engine, bindparam, false, func, insert, inspect, literal_column, true, union_all
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select

from cradletrace.recall.status import STATUS_COLUMNS, active_rows, status_of
from cradletrace.scan.cache import Kept, ViewCache
from cradletrace.scan.history import MAX_HISTORY, SCAN_COLUMNS, summarize
from cradletrace.scan.queries import ScanLot, fetch_rows, shown_ids, with_verdict_inputs
from cradletrace.scan.service import ScanResult, scan_item
from cradletrace.sealing import Sealer
from cradletrace.store.models import EventRow, Item, Lot, ScanRecord, Shipment
from cradletrace.verification import EventVerifier

# -- PostgreSQL: one round trip per scan, on the event loop --------------------------------------
#
# A scan of a pack whose lot's view is kept (the usual case) is one statement: find the item,
# read a stamp of the versions of every row the kept view was built from, insert the scan if the
# stamp is the expected one, and read back the code's history and count, the lot's shipments
# and its active recalls and holds. The stamp is the ``xmin`` (the id of the transaction that
# wrote the row version) of the lot row, and of each shown event with its anchor batch, signing
# key and supplier: any UPDATE, DELETE or INSERT of one of those rows changes it, so the kept
# view is reused only while nothing it was verified from has changed, without reading the
# bodies. Another stamp counts nothing: the rows are read (queries.fetch_rows) and verified
# afresh, and the statement runs again expecting the new stamp. A scan is counted only once
# its page can be shown, as on SQLite (``scan_item``).


def _xmin(table: str) -> Any:
    return func.coalesce(literal_column(f"{table}.xmin::text"), "-")


def _pg_scan_statement() -> Any:
    found = (
        select(Lot.id, Lot.product, Lot.event_id, _xmin("lot").label("version"))
        .join(Item, col(Item.lot_id) == col(Lot.id))
        .where(Item.serial == bindparam("serial"), Item.gtin == bindparam("gtin"), Lot.lot == bindparam("lot"))
        .cte("found")
    )
    shipments = select(Shipment.id).where(Shipment.lot_id == found.c.id)
    shown = shown_ids(found.c.event_id, bindparam("gtin"), bindparam("lot"), found.c.id, shipments)
    events = with_verdict_inputs(
        [
            func.string_agg(
                func.concat_ws(":", EventRow.id, *map(_xmin, ("event", "anchor_batch", "supplier_key", "supplier"))),
                aggregate_order_by(literal_column("','"), col(EventRow.id)),
            )
        ],
        shown,
    ).scalar_subquery()
    stamp = select(func.concat(found.c.version, "|", events).label("stamp")).select_from(found).cte("stamp")
    added = (
        insert(ScanRecord)
        .from_select(
            ["id", "serial", "scanned_at", "consent", "client"],
            select_columns(
                bindparam("id"),
                bindparam("serial"),
                bindparam("scanned_at"),
                false(),
                bindparam("client", type_=inspect(ScanRecord).columns["client"].type),
            )
            .select_from(stamp)
            .where(stamp.c.stamp == bindparam("expected")),
        )
        .returning(*SCAN_COLUMNS)
        .cte("added")
    )
    history = (
        union_all(select_columns(*SCAN_COLUMNS).where(col(ScanRecord.serial) == bindparam("serial")), select(*added.c))
        .order_by("scanned_at")
        .limit(MAX_HISTORY)
        .subquery("history")
    )
    status = active_rows(found.c.id).subquery("status")

    def arrays(sub: Any, order: Sequence[Any], prefix: str) -> Any:
        return select(*(func.array_agg(aggregate_order_by(c, *order)).label(prefix + c.name) for c in sub.c)).subquery()

    hist = arrays(history, [history.c.scanned_at], "h_")
    stat = arrays(status, [status.c.kind, status.c.id], "s_")
    return (
        select_columns(
            found.c.id,
            found.c.product,
            found.c.event_id,
            stamp.c.stamp,
            select(func.array_agg(Shipment.id))
            .where(Shipment.lot_id == found.c.id)
            .scalar_subquery()
            .label("shipments"),
            select(func.count()).select_from(added).scalar_subquery().label("counted"),
            select(func.count()).where(ScanRecord.serial == bindparam("serial")).scalar_subquery().label("count"),
            *hist.c,
            *stat.c,
        )
        .select_from(found)
        .join(stamp, true())
        .join(hist, true())
        .join(stat, true())
    )


def _numbered(compiled: Any) -> tuple[str, list[tuple[str, Any]]]:
    """A compiled statement's %(name)s text as PostgreSQL's $1, $2 ..., with the (name, default)
    of each number in order."""
    numbers: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        return f"${numbers.setdefault(m.group(1), len(numbers) + 1)}"

    text = re.sub(r"%\((\w+)\)s", number, str(compiled)).replace("%%", "%")
    return text, [(name, compiled.params.get(name)) for name in numbers]


def pg_scan_sql(dialect: Any) -> tuple[str, list[tuple[str, Any]]]:
    """The scan statement as $n text, with the (name, default) of each parameter in order."""
    return _numbered(_pg_scan_statement().compile(dialect=dialect))


SCAN_SESSION = "-c enable_seqscan=off -c TimeZone=UTC"  # see PgScanner.__init__


class PgScanner:
    """Scans on PostgreSQL from the event loop: one statement per scan on a pool of async
    connections (psycopg_pool), no thread hand-off. A lot seen for the first time, or whose
    stamp changed, has its rows read and verified in a thread, then the statement runs again.

    ``engine`` is the store's, in autocommit mode. Open the scanner with ``await open()``
    inside the running loop and ``await close()`` it there.
    """

    ATTEMPTS = 3  # rows changing under every attempt: the scan is left to scan_item

    def __init__(
        self, engine: Engine, verifier: EventVerifier, views: ViewCache, sealer: Sealer, size: int, timeout: float
    ) -> None:
        from psycopg import AsyncRawCursor
        from psycopg_pool import AsyncConnectionPool

        self._sql, self._params = pg_scan_sql(engine.dialect)
        self._engine, self.verifier, self.views, self.sealer = engine, verifier, views, sealer
        # Raw cursors take the statement as PostgreSQL's own $n text: psycopg parses a %(name)s
        # statement afresh on every call once it is longer than 4 096 characters, as this one is.
        # enable_seqscan=off: every part of the statement is an index lookup, and must stay one.
        # The prepared plan is made once per connection, often while the scan table is still
        # small enough for a sequential read to look cheaper; kept as the table grew, that plan
        # read every scan ever made on every scan (28 000 rows each at 1 000/s, ~1.1 ms of CPU).
        # TimeZone=UTC: these rows bypass the store's column types, so psycopg must hand scan
        # times back in UTC itself, as store.types.UtcDateTime does everywhere else.
        self._pool = AsyncConnectionPool(
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
            min_size=size,
            max_size=size,
            timeout=timeout,
            open=False,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "cursor_factory": AsyncRawCursor,
                "options": SCAN_SESSION,
            },
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def scan(
        self, gtin: str, lot: str, serial: str, now: datetime, client: str | None = None
    ) -> ScanResult | None:
        """As ``scan_item``: the counted scan, or None when no such item was issued."""
        held = self.views.kept(gtin, lot)
        for _ in range(self.ATTEMPTS):
            scan_id = secrets.token_hex(16)
            given = {
                "serial": serial,
                "gtin": gtin,
                "lot": lot,
                "id": scan_id,
                "scanned_at": now,
                "client": client,
                "expected": held.key if held is not None and isinstance(held.key, str) else "",
            }
            async with self._pool.connection() as conn:
                found = await (await conn.execute(self._sql, [given.get(k, v) for k, v in self._params])).fetchone()
            if found is None:
                return None
            (
                lot_id,
                product,
                event_id,
                stamp,
                shipments,
                counted,
                count,
                h_id,
                h_at,
                h_consent,
                h_location,
                h_client,
                *status,
            ) = found
            if counted:
                assert held is not None  # counted only under the stamp it was built for
                history = [ScanRow(*r) for r in zip(h_id, h_at, h_consent, h_location, h_client)]
                scans = summarize(
                    scan_id, history, count + 1, self.sealer, now, client
                )  # ``count`` predates the insert
                rows = [SimpleNamespace(**dict(zip(STATUS_COLUMNS, r))) for r in zip(*status)] if status[0] else []
                return ScanResult(serial, held.view, held.memo, status_of(rows), scans)
            held = await run_sync(self._build, ScanLot(lot_id, gtin, lot, product, event_id), stamp, shipments or [])
        return await run_sync(
            scan_item, self._engine, self.verifier, self.views, self.sealer, gtin, lot, serial, now, client
        )

    def _build(self, ref: ScanLot, stamp: str, shipments: list[str]) -> Kept:
        # Rows read after the stamp are at least as new. If they are newer, the statement that
        # follows finds another stamp and nothing is counted under this one.
        with self._engine.connect() as conn:
            rows = fetch_rows(conn, ref, shipments)
        return self.views.build(stamp, rows, self.verifier, ref)


class ScanRow(NamedTuple):
    id: str
    scanned_at: datetime
    consent: bool
    location: bytes | None
    client: str | None

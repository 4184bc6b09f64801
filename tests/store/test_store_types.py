"""store.types.UtcDateTime: every timestamp comes back aware and in UTC, on SQLite and PostgreSQL,
whatever zone it was written in, so no reader needs a helper of its own to add the zone back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session

from cradletrace.store.db import create_schema, open_engine, sqlite_url
from cradletrace.store.models import ScanRecord, Supplier

BERLIN = timezone(timedelta(hours=1))
WRITTEN = datetime(2026, 11, 25, 13, 30, 15, 123456, tzinfo=BERLIN)  # 12:30:15.123456 UTC


@pytest.fixture
def engine(database_url: str | None, tmp_path: Path) -> Iterator[Engine]:
    e = open_engine(database_url or sqlite_url(tmp_path), pool_size=2)
    create_schema(e)
    yield e
    e.dispose()


def test_timestamps_come_back_aware_in_utc_whatever_zone_they_were_written_in(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Supplier(id="farm-a", name="Farm A", role="farm", created_at=WRITTEN))
        s.commit()
    with Session(engine) as s:
        if engine.dialect.name == "postgresql":
            s.execute(text("SET TimeZone = 'Asia/Shanghai'"))  # a session zone that is not UTC
        row = s.get(Supplier, "farm-a")
        earliest = s.execute(select(Supplier.created_at)).scalar_one()
        assert row is not None
        for got in (row.created_at, earliest):
            assert got == WRITTEN and got.tzinfo is UTC, got
        # Comparisons are bound through the same type: a non-UTC bound finds the UTC value.
        assert s.execute(select(Supplier.id).where(Supplier.created_at == WRITTEN)).scalar_one() == "farm-a"
        assert s.execute(select(ScanRecord.scanned_at)).first() is None


def test_sqlite_keeps_the_utc_wall_clock_it_always_kept(tmp_path: Path) -> None:
    """The stored text is unchanged for UTC input (no migration), and UTC for any other zone."""
    engine = open_engine(sqlite_url(tmp_path), pool_size=2)
    create_schema(engine)
    with Session(engine) as s:
        s.add(Supplier(id="farm-a", name="Farm A", role="farm", created_at=WRITTEN.astimezone(UTC)))
        s.add(Supplier(id="farm-b", name="Farm B", role="farm", created_at=WRITTEN))
        s.commit()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT created_at FROM supplier ORDER BY id")).scalars().all()
    engine.dispose()
    assert stored == ["2026-11-25 12:30:15.123456"] * 2

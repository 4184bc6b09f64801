"""Column types the store declares its own way, so that every reader gets the same values back.

``UtcDateTime`` is every timestamp column: written as UTC, read back as an aware UTC datetime on
SQLite (which keeps no zone and hands back naive values) and on PostgreSQL (``timestamptz``,
handed back in the session's zone). The DDL is that of ``DateTime(timezone=True)``, unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is UTC already (the store's convention,
    and what SQLite hands back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back aware, in UTC, whatever the database."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

"""Opening the store: an SQLite file by default, PostgreSQL when given a URL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from cradletrace.store import models, schema  # noqa: F401  (models registers the tables)

SQLITE_NAME = "cradletrace.sqlite"
IN_CHUNK = 500  # values per IN (...) list: well below SQLite's and PostgreSQL's parameter limits
T = TypeVar("T")


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices of IN_CHUNK, one IN (...) list each."""
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / SQLITE_NAME).resolve()}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_engine(url: str, pool_size: int = 16, wait: float = 30.0) -> Engine:
    """An engine for ``url``; tables are created by ``create_schema``.

    ``pool_size`` connections stay open (a few more may open in a burst): a connection opened per
    request costs PostgreSQL a new backend process, which under load cost more than the query.
    ``wait``: seconds a checkout waits for a free connection before it fails (503 in the API).
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size // 2,
            pool_timeout=wait,
        )
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping (a round trip on every checkout, a tenth of a scan's time): a connection found
    # dead when used fails that one request with a 503, and the pool then drops all connections
    # opened before it (SQLAlchemy invalidates the pool on a disconnect), so a restarted server
    # costs each process one refused request, not one per pooled connection.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size // 2, pool_timeout=wait)


def create_schema(engine: Engine, upgrade_command: str = "cradletrace db upgrade") -> None:
    """A new store's tables at the newest schema revision; an existing store must be at it."""
    schema.create(engine, upgrade_command)

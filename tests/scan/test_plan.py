"""The PostgreSQL scan statement is planned as index lookups only, even over empty tables.

PgScanner prepares its statement once per connection and PostgreSQL keeps that plan. A plan
made while the scan table was small read the whole table on every scan once it had grown
(1 000 scans/s instead of 2 600/s); the scan pool's session settings (SCAN_SESSION) prevent
it. This checks the generic plan PostgreSQL keeps, on a fresh store whose tables were analyzed
while empty (as autovacuum does, and as a bulk load followed by ANALYZE leaves the scan table).
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cradletrace.scan.postgres import SCAN_SESSION, pg_scan_sql
from cradletrace.store import db

pytestmark = pytest.mark.postgres


def generic_plan(url: str, options: str) -> str:
    engine = db.open_engine(url)
    try:
        db.create_schema(engine)
        sql, params = pg_scan_sql(engine.dialect)
    finally:
        engine.dispose()
    types = [
        "timestamptz" if name == "scanned_at" else "integer" if isinstance(default, int) else "text"
        for name, default in params
    ]
    values = ["'2026-01-01T00:00:00Z'" if t == "timestamptz" else "1" if t == "integer" else "'x'" for t in types]
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True, options=options) as conn:
        conn.execute("ANALYZE")  # as autovacuum does soon after a store is made: the tables are known to be empty
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE scan ({', '.join(types)}) AS {sql}")  # type: ignore[arg-type]
        return "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE scan ({', '.join(values)})"))  # type: ignore[arg-type]


def test_the_kept_plan_reads_by_index_only(postgres_url: str) -> None:
    plan = generic_plan(postgres_url, SCAN_SESSION)
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan and "scan" in plan


def test_without_the_session_settings_empty_tables_are_read_whole(postgres_url: str) -> None:
    """What the first test guards against: it can fail."""
    assert "Seq Scan on scan" in generic_plan(postgres_url, "")

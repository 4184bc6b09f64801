"""The store's schema revision: a new store starts at head, an older one is upgraded on request.

Alembic keeps the revision in the store's ``alembic_version`` table; the revision scripts live
in ``cradletrace/store/migrations/versions`` and are configured here in code (no alembic.ini).
A store behind this code is refused when opened, never altered behind the operator's back:
upgrading is ``cradletrace db upgrade``, after a backup. Stores made before revisions were kept
(no ``alembic_version``) are recognised by their tables and stamped before upgrading.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from cradletrace.errors import ConfigError
from cradletrace.store import models  # noqa: F401  (registers the tables)
from cradletrace.store.lock import lock_key

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic (and its revision scripts) load only to create, upgrade or explain a store: opening a
# store at HEAD reads one row, so commands such as ``verify`` do not pay for them at start-up.

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_RELEASE = "0001"
HEAD = "0013"  # the newest revision in migrations/versions (tests/store/test_migrations.py checks it)
# What each revision added, as (tables, (table, column) pairs on older tables). A store without
# revisions is at the newest revision r whose later additions are exactly what it lacks: one that
# lacks 0002's and 0003's is at FIRST_RELEASE, one that lacks only 0003's at 0002, one that lacks
# nothing at head. A revision that adds tables or columns adds its entry here.
_ADDED: dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]] = {
    "0002": (frozenset({"hold", "recall", "recall_lot", "epcis_event"}), frozenset()),
    "0003": (
        frozenset({"product", "product_party"}),
        frozenset({("supplier", "official_lab"), ("shipment", "consignee")}),
    ),
    "0004": (frozenset(), frozenset({("scan", "client")})),
    "0005": (frozenset(), frozenset({("anchor_batch", "nonce"), ("anchor_batch", "tx_hashes")})),
    "0006": (frozenset({"portal_session"}), frozenset()),
    "0007": (frozenset({"unit", "unit_event", "sale", "buyer_contact"}), frozenset()),
    "0008": (
        frozenset({"partner_contact", "recall_ack", "recall_ack_line", "recall_outbox", "recall_outbox_attempt"}),
        frozenset(),
    ),
    "0009": (
        frozenset({"recall_check", "recall_milestone"}),
        frozenset(
            ("recall", c)
            for c in ("drill", "regimes", "cn_level", "check_level", "check_percent", "check_seed", "checks_planned_at")
        ),
    ),
    "0010": (frozenset({"consumer_subscription", "person_outbox", "person_outbox_attempt"}), frozenset()),
    "0011": (frozenset({"epcis_index", "epcis_index_value"}), frozenset()),
    "0012": (frozenset({"epcis_capture"}), frozenset()),
    "0013": (
        frozenset(
            {
                "epcis_named_query",
                "epcis_subscription",
                "epcis_subscription_event",
                "epcis_outbox",
                "epcis_outbox_attempt",
            }
        ),
        frozenset(),
    ),
}
_LOCK = lock_key("cradletrace.schema")


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: ``stored`` is None for a store made before revisions were kept."""

    stored: str | None
    start: str
    head: str


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this cradletrace's models are."""
    rev = _scripts().get_current_head()
    assert rev is not None
    return rev


def known(revision: str) -> bool:
    return any(s.revision == revision for s in _scripts().walk_revisions())


def stored_revision(conn: Connection) -> str | None:
    """The store's revision; None when it has no ``alembic_version`` (made before revisions)."""
    from alembic.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise ConfigError(
            f"store schema: alembic_version holds {len(heads)} revisions ({', '.join(heads)}); expected one"
        )
    return heads[0] if heads else None


def differences(conn: Connection) -> list[Any]:
    """Alembic's autogenerate diff of the store against the models: empty when they agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)  # type: ignore[no-any-return]


def _describe(diff: Any) -> str:
    d = diff[0] if isinstance(diff, list) else diff  # column changes come grouped in a list
    if d[0].startswith("modify_"):
        return f"{d[0]} {d[2]}.{d[3]}"
    if d[0] in ("add_column", "remove_column"):
        return f"{d[0]} {d[2]}.{d[3].name}"
    return f"{d[0]} {getattr(d[1], 'name', d[1])}"


def recognise(conn: Connection) -> str:
    """The revision of a store made before revisions were kept, from its tables and columns."""
    diffs = differences(conn)
    # A missing table shows as add_table plus one add_index per index of it; a missing column as add_column.
    flat = [d for d in diffs if not isinstance(d, list)]
    tables = frozenset(d[1].name for d in flat if d[0] == "add_table")
    columns = frozenset((d[2], d[3].name) for d in flat if d[0] == "add_column")
    explained = len(flat) == len(diffs) and all(
        d[0] in ("add_table", "add_column") or (d[0] == "add_index" and d[1].table.name in tables) for d in flat
    )
    revisions = [s.revision for s in reversed(list(_scripts().walk_revisions()))]  # oldest first
    for i, rev in enumerate(revisions):
        later = [_ADDED.get(r, (frozenset(), frozenset())) for r in revisions[i + 1 :]]
        if (
            explained
            and tables == frozenset().union(*(t for t, _ in later))
            # A column added to a table the store lacks altogether comes with that table.
            and columns == frozenset(c for c in frozenset().union(*(c for _, c in later)) if c[0] not in tables)
        ):
            return rev
    # Changed and missing columns first: a whole missing table says less about what the store is.
    described = sorted((_describe(d) for d in diffs), key=lambda t: t.startswith(("add_table", "add_index")))
    listed = "; ".join(described[:6]) + ("; ..." if len(diffs) > 6 else "")
    raise ConfigError(
        f"store schema: made before schema revisions were kept, but its tables match no released "
        f"cradletrace (differences: {listed}); expected the tables of a release from {FIRST_RELEASE} to {head()}"
    )


def _lock(conn: Connection) -> None:
    """One creator or upgrader at a time, in one transaction that holds every DDL statement.

    Must be the transaction's first statement. On SQLite an explicit ``BEGIN IMMEDIATE`` takes the
    write lock at once and keeps the DDL inside the transaction (Python's driver would otherwise
    commit each CREATE on its own), so an upgrade is all or nothing there too.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _is_new(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names())
    return "meta" not in names and "alembic_version" not in names


def create(engine: Engine, hint: str) -> None:
    """Make a new store at head (tables from the models, then stamped); an existing store must
    already be at head (``check``): ``init`` never upgrades, the operator does, after a backup."""
    with engine.begin() as conn:
        _lock(conn)
        if _is_new(conn):
            from alembic.migration import MigrationContext

            SQLModel.metadata.create_all(conn)
            MigrationContext.configure(conn).stamp(_scripts(), "head")
            return
    check(engine, hint)


def _at_head(conn: Connection) -> bool:
    """The common case, without Alembic: the store records exactly HEAD."""
    if "alembic_version" not in inspect(conn).get_table_names():
        return False
    return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))] == [HEAD]


def check(engine: Engine, hint: str) -> None:
    """Refuse a store that is not at this code's head; ``hint`` is the upgrade command to name."""
    with engine.connect() as conn:
        if _at_head(conn):
            return
        rev = stored_revision(conn)
    want = head()
    if rev == want:
        return
    where = f"store {engine.url.render_as_string(hide_password=True)}"
    if rev is None:
        raise ConfigError(
            f"{where} records no schema revision (made before cradletrace kept them); "
            f"this cradletrace needs revision {want}: back up the store, then run '{hint}'"
        )
    if not known(rev):
        raise ConfigError(
            f"{where} is at schema revision {rev}, which this cradletrace (head {want}) does not know: "
            "a newer cradletrace upgraded it; run that version"
        )
    raise ConfigError(
        f"{where} is at schema revision {rev}; this cradletrace needs {want}: back up the store, then run '{hint}'"
    )


def upgrade(engine: Engine) -> Upgrade:
    """Bring the store to head in one transaction (all or nothing); a no-op at head."""
    from alembic import command
    from alembic.migration import MigrationContext

    with engine.begin() as conn:
        _lock(conn)
        stored = stored_revision(conn)
        if stored is not None and not known(stored):
            raise ConfigError(
                f"store schema revision {stored} is unknown to this cradletrace (head {head()}); "
                "a newer cradletrace upgraded it"
            )
        start = stored or recognise(conn)
        if stored is None:
            MigrationContext.configure(conn).stamp(_scripts(), start)
        if start != head():
            command.upgrade(_config(conn), "head")
    return Upgrade(stored, start, head())

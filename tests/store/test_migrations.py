"""Schema migrations on SQLite and PostgreSQL: a store made by the first release (8b47765) is
refused until ``cradletrace db upgrade``, then upgraded with every row kept and used by today's
code; revision 0001 is exactly what that release built; head is exactly today's models.

The old store is built from ``tests/vectors/schema-0001/<dialect>.sql``, the DDL that 8b47765's
``SQLModel.metadata.create_all`` ran (generated from ``git show 8b47765:trace/store/models.py``),
so it does not depend on the revision scripts under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from cradletrace import apikeys, recording
from cradletrace.anchoring import run as anchoring
from cradletrace.api.main import create_app
from cradletrace.cli import app as cli_app
from cradletrace.config import Settings
from cradletrace.demo import register_products
from cradletrace.epcis.capture import import_document
from cradletrace.epcis.export import export_lot
from cradletrace.errors import ConfigError
from cradletrace.recall import holds, recalls
from cradletrace.store import db, schema
from cradletrace.store.models import Hold, Item, Lot, Recall, ScanRecord
from cradletrace.verification import verify_event
from cradletrace.workspace import Workspace, init_workspace
from tests.conftest import NOW, add_demo_suppliers

VECTORS = Path(__file__).parents[1] / "vectors"
OLD_TABLES = (
    "meta",
    "supplier",
    "certification",
    "supplier_key",
    "anchor_batch",
    "event",
    "lot",
    "lot_input",
    "shipment",
    "api_key",
    "item",
    "scan",
)
runner = CliRunner()
HEAD = schema.head()


def cli(settings: Settings, *args: str) -> Any:
    where = ["--data-dir", str(settings.data_dir)] + (
        ["--database-url", settings.database_url] if settings.database_url else []
    )
    return runner.invoke(cli_app, ["db", *args, *where])


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """The store's engine with no checks: the tests build, inspect and break its tables."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.open_engine(settings.store_url, 2)
    yield engine
    engine.dispose()


def build_first_release_store(engine: Engine) -> None:
    """The tables exactly as cradletrace 8b47765 created them on this engine's dialect."""
    ddl = (VECTORS / "schema-0001" / f"{engine.dialect.name}.sql").read_text("utf-8")
    code = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(str.strip, code.split(";\n")):
            conn.exec_driver_sql(statement)


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the first release's tables (its columns only), in primary-key order."""
    with engine.connect() as conn:
        out = {}
        for name in OLD_TABLES:
            t = SQLModel.metadata.tables[name]
            added = {c for r, (_, cols) in schema._ADDED.items() if r > "0002" for table, c in cols if table == name}
            columns = [c for c in t.columns if c.name not in added]
            out[name] = [tuple(r) for r in conn.execute(sa_select(*columns).order_by(*t.primary_key.columns))]
        return out


def shape(engine: Engine) -> dict[str, Any]:
    """Tables, columns (type, nullability), keys, foreign keys, unique constraints and indexes."""
    insp = inspect(engine)
    return {
        t: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(t)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
        }
        for t in sorted(insp.get_table_names())
        if t != "alembic_version"
    }


def drop_everything(engine: Engine) -> None:
    with engine.begin() as conn:
        for t in reversed(inspect(conn).get_table_names()):
            conn.exec_driver_sql(
                f"DROP TABLE IF EXISTS {t} CASCADE" if conn.dialect.name == "postgresql" else f"DROP TABLE {t}"
            )


def new_store_then(engine: Engine, statement: str) -> None:
    """A new store (as init makes it), then ``statement`` run on it to make it look older or newer."""
    schema.create(engine, "x")
    with engine.begin() as conn:
        conn.execute(text(statement))


@pytest.fixture
def old_store(settings: Settings, engine: Engine, events: list[dict[str, Any]]) -> Settings:
    """A store as 8b47765 made it, filled by today's code: suppliers, keys, anchored events, lots, a
    shipment, an item with a scan, an API key, the contract in ``meta`` (no holds then: that release had none).

    Today's code records only into today's tables, so the store is filled at head, then taken back
    to 0001 by the revisions' downgrades; its shape is checked against 8b47765's DDL first.
    """
    build_first_release_store(engine)
    released = shape(engine)
    drop_everything(engine)
    settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with Workspace(settings, create=True) as ws:
        ws.create_schema()
        chain = ws.chain(deploy=True)
        with ws.session() as s:
            add_demo_suppliers(s, settings.keys_dir)
            apikeys.create_key(s, "ops", "operator")
        passing = [events[i] for i in (0, 1, 2, 3, 5)]  # a failing report or excursion would have needed holds
        with ws.session() as s:
            items = recording.sign_submissions(
                recording.read_submissions(passing), recording.key_loader(s, settings.keys_dir), ws.limits
            )
            stored = recording.record_submissions(s, items, NOW)
        anchoring.anchor_pending(lambda: Session(ws.engine, expire_on_commit=False), chain)
        batch = next(r for r in stored if r.kind == "batch" and r.lot == "IF-0001")
        with ws.session() as s:
            lot = s.exec(select(Lot).where(Lot.lot == "IF-0001")).one()
            s.add(Item(serial="0YDBHHNV2BCHAZJQ", gtin=batch.gtin, lot_id=lot.id, event_id=batch.id))
            s.flush()
            s.add(ScanRecord(id="a" * 32, serial="0YDBHHNV2BCHAZJQ", scanned_at=NOW, consent=False))
    with engine.begin() as conn:
        command.downgrade(schema._config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))
    assert shape(engine) == released
    return settings


def test_revision_0001_builds_exactly_what_the_first_release_built(engine: Engine) -> None:
    build_first_release_store(engine)
    released = shape(engine)
    drop_everything(engine)
    with engine.begin() as conn:
        command.upgrade(schema._config(conn), "0001")
    assert shape(engine) == released
    assert set(released) == set(OLD_TABLES)


def test_head_is_exactly_the_models_whether_migrated_or_created(engine: Engine) -> None:
    """A model change without a revision fails here."""
    with engine.begin() as conn:
        command.upgrade(schema._config(conn), "head")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        assert schema.stored_revision(conn) == schema.head()
    migrated = shape(engine)
    drop_everything(engine)
    schema.create(engine, "x")  # what init does for a new store
    with engine.connect() as conn:
        assert schema.differences(conn) == [] and schema.stored_revision(conn) == schema.head()
    assert shape(engine) == migrated


def test_a_first_release_store_is_refused_then_upgraded_with_every_row_kept(
    old_store: Settings, engine: Engine, events: list[dict[str, Any]]
) -> None:
    settings = old_store
    before = rows(engine)
    assert all(before[t] for t in OLD_TABLES)  # something in every table
    with pytest.raises(
        ConfigError,
        match=rf"records no schema revision .*needs revision {HEAD}: back up the store, "
        r"then run 'cradletrace db upgrade --(data-dir|database-url) ",
    ):
        _ = Workspace(settings).engine
    with pytest.raises(ConfigError, match="'cradletrace db upgrade"):
        init_workspace(settings)  # init never upgrades behind the operator's back
    assert not inspect(engine).has_table("hold")
    current = cli(settings, "current")
    assert current.exit_code == 1 and current.output.startswith(
        f"none recorded (made before schema revisions were kept); its tables are 0001, this cradletrace needs {HEAD}"
    )

    done = cli(settings, "upgrade")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[1:] == [
        "no schema revision recorded (made before revisions were kept): its tables are 0001; stamped",
        f"schema: 0001 -> {HEAD}",
    ]
    assert rows(engine) == before
    with engine.connect() as conn:
        assert schema.differences(conn) == []
    again = cli(settings, "upgrade")
    assert again.exit_code == 0 and again.output.splitlines()[1:] == [f"schema: {HEAD} (head); nothing to do"]
    assert (r := cli(settings, "current")).exit_code == 0 and r.output == f"{HEAD} (head)\n"
    assert rows(engine) == before

    with Workspace(settings) as ws:  # today's code on the upgraded store
        chain = ws.chain()
        with ws.session() as s:
            old = [verify_event(s, chain, str(i)).status for i in range(1, 6)]
        assert old == ["VALID"] * 5
        with ws.session() as s:  # after 0003 the operator registers the products and who may speak for them
            register_products(s, NOW)
        with ws.session() as s:
            fail = recording.sign_submissions(
                recording.read_submissions([events[4]]), recording.key_loader(s, settings.keys_dir), ws.limits
            )
            [failing] = recording.record_submissions(s, fail, NOW + timedelta(minutes=1))
        with ws.session() as s:
            [hold] = s.exec(select(Hold).where(Hold.trigger_event_id == failing.id)).all()
            holds.release_hold(
                s, hold.id or 0, reason="re-test passed", released_by="qa-lead", now=NOW + timedelta(hours=1)
            )
            recall = recalls.start_recall(
                s,
                lots=[(failing.gtin or "", "IF-0001")],
                reason="Cronobacter detected",
                severity="I",
                trigger=failing.id,
                started_by="qa",
                now=NOW + timedelta(hours=2),
            )
        with ws.session() as s:
            recalls.close_recall(
                s, recall.id or 0, reason="stock destroyed", closed_by="qa-lead", now=NOW + timedelta(days=1)
            )
        with ws.session() as s:
            got_hold = s.get(Hold, hold.id)
            got_recall = s.get(Recall, recall.id)
            assert (got_hold.released_by, got_hold.release_reason) == ("qa-lead", "re-test passed")
            assert (got_recall.closed_by, got_recall.close_reason) == ("qa-lead", "stock destroyed")
            farm = (VECTORS / "epcis" / "profile" / "farm.jsonld").read_bytes()
            imported = import_document(s, settings.keys_dir, ws.limits, farm, "waikato-dairy", NOW)
        with ws.session() as s:
            doc = export_lot(s, "IF-0001", NOW + timedelta(days=2))
            out = export_lot(s, "RM-E1", NOW)
        history = doc["epcisBody"]["eventList"]  # the first release's events, then today's
        assert [e.get("bizStep") for e in history] == [
            "commissioning",
            "inspecting",
            "shipping",
            "inspecting",
            "holding",
        ]
        assert history[-1]["disposition"] == "recalled"
        assert [r.lot for r in imported] == ["RM-E1", "RM-E2"]
        [sent] = [e for e in json.loads(farm)["epcisBody"]["eventList"] if "RM-E1" in json.dumps(e)]
        [back] = out["epcisBody"]["eventList"]
        assert {k: back[k] for k in sent} == sent  # the EPCIS event went in and came back verbatim


def test_a_store_from_before_revisions_with_every_table_is_stamped_at_head(settings: Settings, engine: Engine) -> None:
    new_store_then(engine, "DROP TABLE alembic_version")
    with pytest.raises(ConfigError, match="records no schema revision"):
        _ = Workspace(settings).engine
    done = cli(settings, "upgrade")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[1:] == [
        f"no schema revision recorded (made before revisions were kept): its tables are {HEAD}; stamped",
        f"schema: {HEAD} (head); nothing to do",
    ]
    with Workspace(settings) as ws, ws.engine.connect() as conn:
        assert schema.stored_revision(conn) == HEAD


def test_a_store_from_before_revisions_without_the_newer_tables_and_columns_is_0002(
    settings: Settings, engine: Engine
) -> None:
    """Lacking exactly what 0003 and 0004 add (products, parties, three columns) is 0002; upgraded, scans kept."""
    with engine.begin() as conn:
        command.upgrade(schema._config(conn), "0002")
        conn.execute(text("DROP TABLE alembic_version"))
    done = cli(settings, "upgrade")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[1:] == [
        "no schema revision recorded (made before revisions were kept): its tables are 0002; stamped",
        f"schema: 0002 -> {HEAD}",
    ]
    with engine.connect() as conn:
        assert schema.differences(conn) == [] and schema.stored_revision(conn) == HEAD


def test_a_store_matching_no_release_is_refused_and_left_alone(settings: Settings, engine: Engine) -> None:
    """E.g. a development snapshot between releases: holds without who released them."""
    build_first_release_store(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE hold (id INTEGER PRIMARY KEY, lot_id INTEGER NOT NULL)"))
    done = cli(settings, "upgrade")
    assert done.exit_code == 2
    assert "its tables match no released cradletrace (differences: " in done.output
    assert "add_column hold." in done.output
    assert not inspect(engine).has_table("alembic_version") and not inspect(engine).has_table("recall")


def test_a_store_upgraded_by_a_newer_cradletrace_is_refused(settings: Settings, engine: Engine) -> None:
    new_store_then(engine, "UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(
        ConfigError, match=rf"is at schema revision 0099, which this cradletrace .head {HEAD}. does not know"
    ):
        _ = Workspace(settings).engine
    assert (r := cli(settings, "upgrade")).exit_code == 2 and "revision 0099 is unknown" in r.output
    assert (r := cli(settings, "current")).exit_code == 1 and "0099 (unknown to this cradletrace" in r.output


def test_the_api_does_not_start_on_a_store_that_is_behind(old_store: Settings) -> None:
    with Workspace(old_store, check_schema=False) as ws, ws.engine.begin() as conn:
        MigrationContext.configure(conn).stamp(schema._scripts(), "0001")
    with pytest.raises(
        ConfigError,
        match=rf"is at schema revision 0001; this cradletrace needs {HEAD}: "
        r"back up the store, then run 'cradletrace db upgrade",
    ):
        with TestClient(create_app(old_store)):
            pass
    assert cli(old_store, "upgrade").output.splitlines()[1:] == [f"schema: 0001 -> {HEAD}"]
    with TestClient(create_app(old_store)) as client:
        assert client.get("/healthz").status_code == 200


def test_a_failed_upgrade_changes_nothing(engine: Engine, settings: Settings) -> None:
    """Every DDL statement of an upgrade is in one transaction, on SQLite as on PostgreSQL."""
    build_first_release_store(engine)
    with engine.begin() as conn:
        MigrationContext.configure(conn).stamp(schema._scripts(), "0001")
        conn.execute(text("CREATE TABLE squatter (lot_id INTEGER)"))
        conn.execute(text("CREATE INDEX ix_recall_lot_lot_id ON squatter (lot_id)"))  # 0002's last index name
    before = shape(engine)
    done = cli(settings, "upgrade")
    assert done.exit_code == 2 and "ix_recall_lot_lot_id" in done.output
    assert shape(engine) == before  # no hold, recall or recall_lot left behind
    with engine.connect() as conn:
        assert schema.stored_revision(conn) == "0001"


def test_two_upgraders_at_once_upgrade_once(old_store: Settings, engine: Engine) -> None:
    with ThreadPoolExecutor(2) as pool:
        done = sorted(pool.map(lambda _: schema.upgrade(engine), range(2)), key=lambda u: u.stored or "")
    assert done == [schema.Upgrade(None, "0001", HEAD), schema.Upgrade(HEAD, HEAD, HEAD)]
    with engine.connect() as conn:
        assert schema.differences(conn) == [] and schema.stored_revision(conn) == HEAD


def test_head_constant_is_the_newest_revision_script() -> None:
    assert schema.head() == schema.HEAD, "a new revision script was added: set schema.HEAD to it"


def test_opening_a_store_at_head_loads_no_alembic(tmp_path: Path) -> None:
    init_workspace(Settings(data_dir=tmp_path / "data"))[0].close()
    probe = (
        "import sys\n"
        "from cradletrace.config import Settings\n"
        "from cradletrace.workspace import Workspace\n"
        f"ws = Workspace(Settings(data_dir={str(tmp_path / 'data')!r}))\n"
        "ws.engine\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

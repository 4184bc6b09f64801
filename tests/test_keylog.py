"""The key log (trace/keylog.py): every key registered or revoked is a signed "key" event, stored in
the transaction of the change, anchored by the ordinary anchoring run and verified like any event;
keys older than the log are backfilled; the key log's pseudo-supplier stays out of supplier lists."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cradletrace import keylog, recording, suppliers
from cradletrace.anchoring.worker import AnchorWorker
from cradletrace.cli import app
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.core.events import KEY_LOG_SUPPLIER, parse_event
from cradletrace.core.merkle import ProofWalker
from cradletrace.errors import ConfigError, InvalidEventError, InvalidInputError, NotAllowedError
from cradletrace.store.models import EventRow, Supplier, SupplierKey, utcnow
from cradletrace.verification import EventVerifier, event_reasons, verify_event
from cradletrace.workspace import Workspace, init_workspace
from tests.conftest import KEY_RECORDS, NOW, SUPPLIERS

FARM = "waikato-dairy"


def key_events(ws: Workspace) -> list[EventRow]:
    with ws.session() as s:
        return list(s.exec(select(EventRow).where(EventRow.kind == "key").order_by(col(EventRow.id))))


def data_of(row: EventRow) -> dict[str, object]:
    return json.loads(row.body)["data"]  # type: ignore[no-any-return]


def farm_key(ws: Workspace) -> str:
    with ws.session() as s:
        return s.exec(select(SupplierKey.key_id).where(SupplierKey.supplier_id == FARM)).one()


def registry_public(ws: Workspace) -> bytes:
    with ws.session() as s:
        key = s.exec(select(SupplierKey).where(SupplierKey.supplier_id == KEY_LOG_SUPPLIER)).one()
    return base64.b64decode(key.public_key)


def anchor_run(ws: Workspace) -> None:
    """One run of the real anchoring worker (leader lock, backfill, anchoring) on the embedded chain."""
    AnchorWorker(ws.settings, ws.session, ws.chain).run_once()  # type: ignore[arg-type]


# -- a record for every key change, in the change's own transaction ----------------------------


def test_registering_suppliers_records_each_key_and_the_key_logs_own(workspace: Workspace) -> None:
    rows = key_events(workspace)
    assert len(rows) == KEY_RECORDS
    first, *rest = rows
    own = data_of(first)
    assert (own["action"], own["supplier"], own["key_id"], own["backfilled"]) == (
        "register",
        KEY_LOG_SUPPLIER,
        first.key_id,  # self-signed: the key log's first key states itself
        False,
    )
    assert [data_of(r)["supplier"] for r in rest] == [sid for sid, *_ in SUPPLIERS]
    public = registry_public(workspace)
    with workspace.session() as s:
        keys = {k.key_id: k for k in s.exec(select(SupplierKey))}
    for row in rows:
        event = parse_event(row.body.encode(), stored=True)
        assert event.kind == "key" and event.supplier == KEY_LOG_SUPPLIER
        assert (row.supplier_id, row.ref, row.outcome, row.gtin, row.lot) == (
            KEY_LOG_SUPPLIER,
            event.data.key_id,  # type: ignore[union-attr]
            "register",
            None,
            None,
        )
        key = keys[event.data.key_id]  # type: ignore[union-attr]
        assert event.data.public_key == key.public_key and event.data.at == key.created_at  # type: ignore[union-attr]
        assert signing.verify_signature(public, row.body.encode(), row.signature)
        assert canonical.canonical_bytes(json.loads(row.body)) == row.body.encode()


def test_rotate_register_and_revoke_each_add_their_record(workspace: Workspace) -> None:
    keys_dir = workspace.settings.keys_dir
    own = base64.b64encode(signing.generate_key_pair().public_key).decode()
    with workspace.session() as s:
        rotated, _ = suppliers.rotate_key(s, keys_dir, FARM)
        registered = suppliers.register_public_key(s, keys_dir, FARM, own)
        revoked = suppliers.revoke_key(s, keys_dir, rotated.key_id)
        suppliers.revoke_key(s, keys_dir, rotated.key_id)  # already revoked: no second record
    new = key_events(workspace)[KEY_RECORDS:]
    assert [(data_of(r)["action"], data_of(r)["key_id"]) for r in new] == [
        ("register", rotated.key_id),
        ("register", registered.key_id),
        ("revoke", rotated.key_id),
    ]
    assert data_of(new[2])["at"] == revoked.revoked_at.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    with workspace.session() as s:
        history = keylog.key_records(s, [rotated.key_id, registered.key_id, "0123456789abcdef"])
    assert history[rotated.key_id].registration is not None and history[rotated.key_id].revocation is not None
    assert history[rotated.key_id].revocation.body == new[2].body  # type: ignore[union-attr]
    assert history[registered.key_id].revocation is None
    assert history["0123456789abcdef"] == keylog.KeyHistory(None, None)


@pytest.mark.parametrize("change", ["add", "rotate", "register", "revoke"])
def test_an_error_after_the_key_change_leaves_neither_key_nor_record(workspace: Workspace, change: str) -> None:
    keys_dir = workspace.settings.keys_dir
    before = (len(key_events(workspace)), _keys(workspace))
    with pytest.raises(RuntimeError), workspace.session() as s:
        if change == "add":
            suppliers.add_supplier(s, keys_dir, "Tasman Organics", "farm")
        elif change == "rotate":
            suppliers.rotate_key(s, keys_dir, FARM)
        elif change == "register":
            suppliers.register_public_key(
                s, keys_dir, FARM, base64.b64encode(signing.generate_key_pair().public_key).decode()
            )
        else:
            suppliers.revoke_key(s, keys_dir, farm_key(workspace))
        assert len(key_events_in(s)) == before[0] + 1  # the record is there, in the same transaction
        raise RuntimeError("the caller fails after the change")
    assert (len(key_events(workspace)), _keys(workspace)) == before


def key_events_in(s: Session) -> list[EventRow]:
    return list(s.exec(select(EventRow).where(EventRow.kind == "key")))


def _keys(ws: Workspace) -> list[tuple[str, bool]]:
    with ws.session() as s:
        return sorted((k.key_id, k.revoked_at is not None) for k in s.exec(select(SupplierKey)))


def test_a_key_log_key_that_cannot_be_read_stores_no_key_and_writes_no_key_file(workspace: Workspace) -> None:
    keys_dir = workspace.settings.keys_dir
    (keys_dir / suppliers.KEY_LOG_FILE).write_bytes(b"not a key")
    files = sorted(keys_dir.iterdir())
    with pytest.raises(ConfigError, match=r"key log key .*cradletrace-key-log\.pem"), workspace.session() as s:
        suppliers.add_supplier(s, keys_dir, "Tasman Organics", "farm")
    with workspace.session() as s:
        assert s.get(Supplier, "tasman-organics") is None
    assert sorted(keys_dir.iterdir()) == files


# -- anchored and verified like any event --------------------------------------------------


def test_key_records_are_anchored_by_a_run_and_verify_like_any_event(workspace: Workspace) -> None:
    with workspace.session() as s:
        suppliers.revoke_key(s, workspace.settings.keys_dir, farm_key(workspace))
    anchor_run(workspace)

    rows = key_events(workspace)
    assert len(rows) == KEY_RECORDS + 1 and all(r.anchor_id is not None for r in rows)
    chain = workspace.chain()
    with workspace.session() as s:
        verdicts = [verify_event(s, chain, r.digest) for r in rows]
        history = keylog.key_records(s, [str(r.ref) for r in rows])
    assert [v.status for v in verdicts] == ["VALID"] * len(rows), verdicts
    with workspace.engine.connect() as conn:  # a connection does as well as a session (the scan's path)
        assert keylog.key_records(conn, [str(r.ref) for r in rows]) == history

    public, walker = registry_public(workspace), ProofWalker()
    farm = history[farm_key(workspace)]
    for record in (farm.registration, farm.revocation):
        assert record is not None and record.anchor is not None
        a = record.anchor
        assert (a.status, a.leaf_count, a.chain_id, a.contract) == (
            "confirmed",
            KEY_RECORDS + 1,
            chain.chain_id,
            chain.contract_address,
        )
        assert a.tx_hash and a.block_number and a.block_time and record.proof
        assert base64.b64decode(record.registry_public_key) == public
        assert record.registry_key_id == signing.key_id(public)
        on_chain = chain.lookup(bytes.fromhex(a.root))
        assert on_chain is not None and on_chain.leaf_count == a.leaf_count
        reasons = event_reasons(
            record.body.encode(),
            record.digest,
            public,
            record.signature,
            (a.root, []),
            ",".join(record.proof),
            walker,
        )
        assert reasons == []
        as_json = record.to_json()
        assert as_json["proof"] == list(record.proof) and as_json["anchor"]["block_number"] == a.block_number
    assert data_of(next(r for r in rows if r.outcome == "revoke"))["key_id"] == farm_key(workspace)


def test_key_records_before_anchoring_have_no_proof_yet(workspace: Workspace) -> None:
    with workspace.session() as s:
        record = keylog.key_records(s, [farm_key(workspace)])[farm_key(workspace)].registration
    assert record is not None and record.anchor is None and record.proof == ()
    verifier = EventVerifier(workspace.chain())
    with workspace.session() as s:
        assert verify_event(s, verifier, record.digest).status == "PENDING"


# -- backfill ------------------------------------------------------------------------------


def test_keys_without_records_are_backfilled_once_with_their_own_times(workspace: Workspace) -> None:
    with workspace.session() as s:
        s.execute(delete(EventRow).where(col(EventRow.kind) == "key"))  # a store from before the key log
        pair = signing.generate_key_pair()
        s.execute(
            text(
                "INSERT INTO supplier_key (key_id, supplier_id, public_key, created_at, revoked_at) "
                "VALUES (:k, :s, :p, :c, :r)"
            ),
            dict(k=pair.key_id, s=FARM, p=base64.b64encode(pair.public_key).decode(), c=NOW, r=utcnow()),
        )
    anchor_run(workspace)  # the worker backfills at the start of its run, then anchors

    rows = key_events(workspace)
    assert len(rows) == KEY_RECORDS + 2 and all(data_of(r)["backfilled"] is True for r in rows)
    assert all(r.anchor_id is not None for r in rows)
    with workspace.session() as s:
        old = s.get(SupplierKey, pair.key_id)
        history = keylog.key_records(s, [pair.key_id])[pair.key_id]
        assert keylog.log_unlogged_keys(s, workspace.settings.keys_dir) == 0  # idempotent
    assert old is not None and old.revoked_at is not None
    assert history.registration is not None and history.revocation is not None
    assert json.loads(history.registration.body)["data"]["at"] == "2026-11-25T12:00:00Z"
    assert json.loads(history.revocation.body)["data"]["at"] == old.revoked_at.isoformat().replace("+00:00", "Z")
    anchor_run(workspace)
    assert len(key_events(workspace)) == KEY_RECORDS + 2


def test_an_unreadable_key_log_key_is_said_and_anchoring_goes_on(workspace: Workspace, record, events) -> None:  # type: ignore[no-untyped-def]
    with workspace.session() as s:
        s.execute(delete(EventRow).where(col(EventRow.kind) == "key"))
    (workspace.settings.keys_dir / suppliers.KEY_LOG_FILE).write_bytes(b"not a key")
    rows = record(events[:1])
    said: list[str] = []
    AnchorWorker(workspace.settings, workspace.session, workspace.chain, say=said.append).run_once()  # type: ignore[arg-type]
    assert [m for m in said if m.startswith("key log: key log key ")], said
    assert key_events(workspace) == []
    with workspace.session() as s:
        assert verify_event(s, workspace.chain(), str(rows[0].id)).status == "VALID"


def test_a_store_without_the_key_log_gets_its_key_and_records_on_the_first_run(settings: Settings) -> None:
    ws, _ = init_workspace(settings)
    with ws:
        with ws.session() as s:
            suppliers.add_supplier(s, settings.keys_dir, "Tasman Organics", "farm")
            # as it was before the key log: drop its records, its key and its pseudo-supplier
            s.execute(delete(EventRow))
            s.execute(delete(SupplierKey).where(col(SupplierKey.supplier_id) == KEY_LOG_SUPPLIER))
            s.execute(delete(Supplier).where(col(Supplier.id) == KEY_LOG_SUPPLIER))
        (settings.keys_dir / suppliers.KEY_LOG_FILE).unlink()
        with ws.session() as s:
            assert keylog.log_unlogged_keys(s, settings.keys_dir) == 1
        rows = key_events(ws)
        assert [(data_of(r)["supplier"], data_of(r)["backfilled"]) for r in rows] == [
            (KEY_LOG_SUPPLIER, False),  # the key log's own key is new now: its record is live
            ("tasman-organics", True),
        ]


# -- the key log's signer is no supplier ---------------------------------------------------


def test_the_reserved_id_and_the_key_logs_own_key_are_refused(workspace: Workspace) -> None:
    keys_dir = workspace.settings.keys_dir
    with pytest.raises(InvalidInputError) as refused, workspace.session() as s:
        suppliers.add_supplier(s, keys_dir, "Impostor", "farm", [], KEY_LOG_SUPPLIER)
    assert refused.value.field == "id" and "reserved for the key log" in str(refused.value)
    with pytest.raises(InvalidInputError, match="reserved"), workspace.session() as s:
        suppliers.add_supplier(s, keys_dir, "Cradletrace Key Log", "farm")  # the slug of the name
    with pytest.raises(NotAllowedError, match="key log's own signer"), workspace.session() as s:
        suppliers.rotate_key(s, keys_dir, KEY_LOG_SUPPLIER)
    own = key_events(workspace)[0].key_id
    with pytest.raises(NotAllowedError, match="key log's own key"), workspace.session() as s:
        suppliers.revoke_key(s, keys_dir, own)


def test_a_key_event_is_recorded_by_the_key_log_only_and_the_registry_records_nothing_else(
    workspace: Workspace, events: list[dict[str, object]]
) -> None:
    keys_dir = workspace.settings.keys_dir
    private = signing.load_private_key((keys_dir / suppliers.KEY_LOG_FILE).read_bytes())
    own = key_events(workspace)[0].key_id
    forged = {
        "kind": "key",
        "supplier": KEY_LOG_SUPPLIER,
        "key": own,
        "data": {**data_of(key_events(workspace)[1]), "at": "2026-11-25T12:00:00Z"},
    }
    batch = {**events[0], "supplier": KEY_LOG_SUPPLIER, "key": own}
    items = [recording.Submission(e, signing.sign(private, canonical.canonical_bytes(e))) for e in (forged, batch)]  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as refused, workspace.session() as s:
        recording.record_submissions(s, items, NOW)
    messages = {p.where: p.message for p in refused.value.problems}
    assert "written by the server's key log" in messages["events[0].kind"]
    assert "role 'registry'" in str(refused.value) and "to record batch events" in str(refused.value)
    assert len(key_events(workspace)) == KEY_RECORDS


def test_the_key_log_is_absent_from_the_cli_supplier_list(workspace: Workspace) -> None:
    workspace.close()
    db = ["--database-url", workspace.settings.database_url] if workspace.settings.database_url else []
    result = CliRunner().invoke(app, ["supplier", "list", "--data-dir", str(workspace.settings.data_dir), *db])
    assert result.exit_code == 0, result.output
    assert KEY_LOG_SUPPLIER not in result.output and "registry" not in result.output
    assert all(sid in result.output for sid, *_ in SUPPLIERS)


def test_cli_revoke_and_register_key_add_records(workspace: Workspace) -> None:
    workspace.close()
    where = ["--data-dir", str(workspace.settings.data_dir)]
    where += ["--database-url", workspace.settings.database_url] if workspace.settings.database_url else []
    pair = signing.generate_key_pair()
    public = base64.b64encode(pair.public_key).decode()
    assert CliRunner().invoke(app, ["supplier", "register-key", FARM, public, *where]).exit_code == 0
    assert CliRunner().invoke(app, ["supplier", "revoke-key", pair.key_id, *where]).exit_code == 0
    with Workspace(workspace.settings) as ws:
        assert [(data_of(r)["action"], r.ref) for r in key_events(ws)[KEY_RECORDS:]] == [
            ("register", pair.key_id),
            ("revoke", pair.key_id),
        ]


# -- first use by two processes at once ------------------------------------------------------


@pytest.mark.postgres
def test_two_first_uses_at_once_on_postgresql_make_one_key_log(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    ws, _ = init_workspace(settings)
    errors: list[BaseException] = []
    first_made, second_started = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with ws.session() as s:
                suppliers.add_supplier(s, settings.keys_dir, "Tasman Organics", "farm")
                first_made.set()
                second_started.wait(10)
                time.sleep(0.5)  # the second is now waiting on this transaction's key log rows
        except BaseException as exc:
            errors.append(exc)

    def second() -> None:
        try:
            first_made.wait(10)
            second_started.set()
            with ws.session() as s:
                suppliers.add_supplier(s, settings.keys_dir, "Nelson Dairy", "farm")
        except BaseException as exc:
            errors.append(exc)

    def race(*names: str) -> None:
        go = threading.Barrier(len(names))

        def add(name: str) -> None:
            try:
                go.wait(10)
                with ws.session() as s:
                    suppliers.add_supplier(s, settings.keys_dir, name, "farm")
            except BaseException as exc:
                errors.append(exc)

        run(*(lambda n=n: add(n) for n in names))

    def run(*targets: Callable[[], None]) -> None:
        threads = [threading.Thread(target=t) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

    with ws:
        # The first holds its pseudo-supplier and key rows uncommitted while the second inserts
        # the same: PostgreSQL makes the second wait, then it reads the winner's rows.
        run(first, second)
        assert errors == []
        with ws.session() as s:
            keys = s.exec(select(SupplierKey).where(SupplierKey.supplier_id == KEY_LOG_SUPPLIER)).all()
        assert len(keys) == 1
        rows = key_events(ws)
        assert sorted(str(data_of(r)["supplier"]) for r in rows) == [
            KEY_LOG_SUPPLIER,
            "nelson-dairy",
            "tasman-organics",
        ]

        # Again from nothing (no rows, no key file), three at the same moment.
        with ws.session() as s:
            s.execute(delete(EventRow))
            s.execute(delete(SupplierKey))
            s.execute(delete(Supplier))
        (settings.keys_dir / suppliers.KEY_LOG_FILE).unlink()
        race("Motueka Farm", "Rakaia Farm", "Oamaru Farm")
        assert errors == []
        with ws.session() as s:
            keys = s.exec(select(SupplierKey).where(SupplierKey.supplier_id == KEY_LOG_SUPPLIER)).all()
        assert len(keys) == 1 and len(key_events(ws)) == 4


@pytest.mark.postgres
def test_two_revocations_at_once_on_postgresql_make_one_record(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    ws, _ = init_workspace(settings)
    with ws:
        with ws.session() as s:
            _, key, _ = suppliers.add_supplier(s, settings.keys_dir, "Tasman Organics", "farm")
        first_done, errors = threading.Event(), []

        def first() -> None:
            with ws.session() as s:
                suppliers.revoke_key(s, settings.keys_dir, key.key_id)
                first_done.set()
                time.sleep(0.5)  # the second waits on the locked row meanwhile

        def second() -> None:
            first_done.wait(10)
            try:
                with ws.session() as s:
                    suppliers.revoke_key(s, settings.keys_dir, key.key_id)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        revokes = [r for r in key_events(ws) if r.outcome == "revoke"]
        with ws.session() as s:
            stored = s.get(SupplierKey, key.key_id)
        assert len(revokes) == 1 and stored is not None and stored.revoked_at is not None
        assert data_of(revokes[0])["at"] == stored.revoked_at.isoformat().replace("+00:00", "Z")


def test_racing_processes_agree_on_one_key_log_key_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    found: list[bytes] = []
    go = threading.Barrier(8)

    def read() -> None:
        go.wait()
        found.append(signing.public_key_of(suppliers._registry_private_key(keys_dir)))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert [p.name for p in keys_dir.iterdir()] == [suppliers.KEY_LOG_FILE]  # no temporary file left
    assert (keys_dir / suppliers.KEY_LOG_FILE).stat().st_mode & 0o777 == 0o600

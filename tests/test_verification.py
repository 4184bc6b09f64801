"""Verification: one event, the whole store (audit), and bundles checked without our database.

Every tamper is done behind cradletrace's back, with SQL on the store's engine, and the
verdict must name what broke.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cradletrace.cli import app
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes
from cradletrace.demo import story
from cradletrace.errors import NotFoundError
from cradletrace.events import find_event
from cradletrace.verification import audit, export_bundle, read_bundle, verify_bundle_on, verify_event
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchoring import add_suppliers, anchor, raw_lots, record_into, stored_batches, stored_events
from tests.conftest import KEY_RECORDS, NOW


def sql(ws: Workspace, statement: str, **params: Any) -> int:
    with ws.engine.begin() as conn:
        return conn.execute(text(statement), params).rowcount


def sql_without_foreign_keys(ws: Workspace, statement: str, **params: Any) -> None:
    """What someone with raw database access can do: bypass the foreign keys."""
    with ws.engine.connect() as conn:
        if ws.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(text(statement), params)
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(text(statement), params)
            conn.exec_driver_sql("SET session_replication_role = DEFAULT")
            conn.commit()


def verdict(ws: Workspace, ref: str | int):  # type: ignore[no-untyped-def]
    with ws.session() as s:
        return verify_event(s, ws.chain(), str(ref))


def run_audit(ws: Workspace, **kw: Any):  # type: ignore[no-untyped-def]
    with ws.session() as s:
        return audit(s, ws.chain(), **kw)


def reasons_start(v, prefix: str) -> bool:  # type: ignore[no-untyped-def]
    return any(r.startswith(prefix) for r in v.reasons)


@pytest.fixture
def anchored(workspace: Workspace, record, events) -> list[int]:  # type: ignore[no-untyped-def]
    """The seven demo events, recorded and anchored under one root; their ids."""
    rows = record(events)
    anchor(workspace)
    return [r.id for r in rows]


def body_of(ws: Workspace, eid: int) -> str:
    with ws.engine.connect() as conn:
        return str(conn.execute(text('SELECT body FROM "event" WHERE id = :i'), {"i": eid}).scalar_one())


def edited(body: str) -> str:
    """The same event with one value changed, still canonical JSON."""
    value = json.loads(body)
    value["data"]["quantity"] = value["data"].get("quantity", 0) + 1
    return canonical_bytes(value).decode()


# -- verify_event ------------------------------------------------------------------------------


def rewrite_rehashed(ws: Workspace, eid: int, body: str, signature: str | None = None) -> None:
    """Store ``body`` for event ``eid`` with a digest that matches it (and ``signature`` when given):
    a tamperer who knows how digests are made."""
    digest = hashlib.sha256(body.encode()).hexdigest()
    if signature is None:
        sql(ws, 'UPDATE "event" SET body = :b, digest = :d WHERE id = :i', b=body, d=digest, i=eid)
    else:
        sql(
            ws,
            'UPDATE "event" SET body = :b, digest = :d, signature = :s WHERE id = :i',
            b=body,
            d=digest,
            s=signature,
            i=eid,
        )


def test_pending_before_anchoring_then_valid(workspace, record, events) -> None:
    rows = record(events)
    v = verdict(workspace, rows[0].id)
    assert (v.status, v.root, v.valid) == ("PENDING", None, False)
    assert reasons_start(v, "not anchored yet")
    [r] = anchor(workspace)
    for row in rows:
        v = verdict(workspace, row.id)
        assert (v.status, v.reasons, v.root, v.tx_hash, v.block_number) == (
            "VALID",
            (),
            r.root,
            r.tx_hash,
            r.block_number,
        )
        assert v.local_chain is True and v.digest == row.digest
    assert verdict(workspace, rows[2].digest[:10]).status == "VALID"  # by digest prefix
    with pytest.raises(NotFoundError):
        verdict(workspace, 999)


def test_a_digest_prefix_of_digits_only_is_not_taken_for_a_missing_id(workspace, record, events) -> None:
    """One digest in ~4 000 starts with ten decimal digits; asking by that prefix must find it."""
    [row] = record(events[:1])
    digits = "1803540511" + row.digest[10:]
    sql(workspace, 'UPDATE "event" SET digest = :d WHERE id = :i', d=digits, i=row.id)
    with workspace.session() as s:
        assert find_event(s, digits[:10]).id == row.id
        assert find_event(s, str(row.id)).id == row.id  # a number that is an id stays an id


def test_every_command_finds_an_event_by_the_same_rule(workspace, record, events) -> None:
    """Id, full digest, 0x digest (any case) or unique prefix; a shared prefix is refused naming the
    events; a trace or a recall start finds the same event as verify does."""
    from cradletrace.errors import InvalidInputError
    from cradletrace.recall.genealogy import _event_row

    rows = record(events[:2])
    a, b = rows[0], rows[1]
    shared = "abcdef12"
    sql(workspace, 'UPDATE "event" SET digest = :d WHERE id = :i', d=shared + a.digest[8:], i=a.id)
    sql(workspace, 'UPDATE "event" SET digest = :d WHERE id = :i', d=shared + b.digest[8:], i=b.id)
    with workspace.session() as s:
        full = shared + a.digest[8:]
        for ref in (str(a.id), f" {a.id} ", full, "0x" + full, "0X" + full.upper(), full[:20]):
            assert find_event(s, ref).id == a.id, ref
            assert _event_row(s, ref).id == a.id, ref
        with pytest.raises(InvalidInputError, match=f"matches several: event {a.id} .*, event {b.id} "):
            find_event(s, "0x" + shared)
        for bad in ("abc", "0x1234567", "9" * 20, "xyz12345678", ""):
            with pytest.raises(InvalidInputError, match="expected an event id or a 64-hex digest"):
                find_event(s, bad)
        with pytest.raises(NotFoundError, match="'0123456789': not in the store"):
            find_event(s, "0x0123456789")  # 0x: a digest prefix, never an id


def test_edited_body_is_content_changed(workspace, anchored) -> None:
    eid = anchored[0]
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=edited(body_of(workspace, eid)), i=eid)
    v = verdict(workspace, eid)
    assert v.status == "INVALID" and reasons_start(v, "content changed")
    assert all(verdict(workspace, i).status == "VALID" for i in anchored[1:])


def test_pending_event_with_edited_body_is_invalid_not_pending(workspace, record, events) -> None:
    [row] = record(events[:1])
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=edited(row.body), i=row.id)
    v = verdict(workspace, row.id)
    assert v.status == "INVALID" and reasons_start(v, "content changed")


def test_edited_body_and_rehashed_digest_is_proof_wrong(workspace, anchored) -> None:
    eid = anchored[1]
    body = edited(body_of(workspace, eid))
    rewrite_rehashed(workspace, eid, body)
    v = verdict(workspace, eid)
    assert v.status == "INVALID"
    assert reasons_start(v, "proof wrong") and reasons_start(v, "signature bad")
    assert not reasons_start(v, "content changed")


def test_edited_body_rehashed_and_resigned_with_the_supplier_key_is_still_proof_wrong(workspace, anchored) -> None:
    """Even the supplier itself cannot rewrite an anchored event: the anchor catches it."""
    eid = anchored[0]
    row = next(r for r in stored_events(workspace) if r.id == eid)
    body = edited(row.body)
    pem = (workspace.settings.keys_dir / f"{row.supplier_id}.{row.key_id}.pem").read_bytes()
    sig = signing.sign(signing.load_private_key(pem), body.encode())
    rewrite_rehashed(workspace, eid, body, signature=sig)
    v = verdict(workspace, eid)
    assert v.status == "INVALID" and [r.split(":")[0] for r in v.reasons] == ["proof wrong"]


def test_edited_signature_is_signature_bad(workspace, anchored) -> None:
    a, b = anchored[0], anchored[2]  # different suppliers' signatures
    sql(
        workspace,
        'UPDATE "event" SET signature = (SELECT signature FROM "event" WHERE id = :b) WHERE id = :a',
        a=a,
        b=b,
    )
    v = verdict(workspace, a)
    assert v.status == "INVALID" and [r.split(":")[0] for r in v.reasons] == ["signature bad"]


def test_replaced_supplier_public_key_is_signature_bad(workspace, anchored) -> None:
    row = stored_events(workspace)[0]
    other = base64.b64encode(signing.generate_key_pair().public_key).decode()
    assert sql(workspace, "UPDATE supplier_key SET public_key = :p WHERE key_id = :k", p=other, k=row.key_id) == 1
    v = verdict(workspace, row.id)
    assert v.status == "INVALID" and reasons_start(v, "signature bad")


def test_edited_proof_element_is_proof_wrong(workspace, anchored) -> None:
    row = stored_events(workspace)[3]
    first, *rest = row.proof.split(",")
    flipped = ("0" if first[0] != "0" else "1") + first[1:]
    sql(workspace, 'UPDATE "event" SET proof = :p WHERE id = :i', p=",".join([flipped, *rest]), i=row.id)
    v = verdict(workspace, row.id)
    assert v.status == "INVALID" and [r.split(":")[0] for r in v.reasons] == ["proof wrong"]


def test_malformed_proof_is_proof_wrong_not_a_crash(workspace, anchored) -> None:
    eid = anchored[0]
    for proof in ["", "zz", "abcd", "00" * 32 + ",", None]:
        sql(workspace, 'UPDATE "event" SET proof = :p WHERE id = :i', p=proof, i=eid)
        v = verdict(workspace, eid)
        assert v.status == "INVALID" and reasons_start(v, "proof wrong"), proof
        assert any(why.startswith("proof wrong") for i, _, why in run_audit(workspace).bad_events if i == eid), proof


def test_edited_batch_root_is_root_not_on_chain(workspace, anchored) -> None:
    sql(workspace, "UPDATE anchor_batch SET root = :r", r="ab" * 32)
    v = verdict(workspace, anchored[0])
    assert v.status == "INVALID" and reasons_start(v, "root not on chain")
    report = run_audit(workspace)
    assert not report.ok
    assert any("confirmed in the store but not on chain" in p for p in report.problems)
    assert any("is on chain but not in the store" in p for p in report.problems)


def test_edited_batch_leaf_count_is_reported(workspace, anchored) -> None:
    sql(workspace, "UPDATE anchor_batch SET leaf_count = leaf_count + 1")
    v = verdict(workspace, anchored[0])
    assert v.status == "INVALID" and any("leaves" in r for r in v.reasons)


# -- audit -------------------------------------------------------------------------------------


def cli(ws: Workspace, *args: str):  # type: ignore[no-untyped-def]
    ws.close()  # the CLI opens the embedded chain itself
    db = ["--database-url", ws.settings.database_url] if ws.settings.database_url else []
    return CliRunner().invoke(app, [*args, "--data-dir", str(ws.settings.data_dir), *db])


def test_audit_of_a_clean_store_is_ok_and_exits_0(workspace, anchored) -> None:
    report = run_audit(workspace)
    assert report.ok and (report.events_checked, report.roots_checked) == (7 + KEY_RECORDS, 1)
    assert report.bad_events == [] and report.problems == []
    result = cli(workspace, "audit")
    assert result.exit_code == 0, result.output
    assert "all consistent" in result.output


def test_audit_checks_pending_events_too(workspace, anchored, record, events) -> None:
    pending = record(raw_lots(events, 2))
    report = run_audit(workspace)
    assert report.ok and (report.events_checked, report.events_pending) == (9 + KEY_RECORDS, 2)
    eid = pending[1].id  # tampered while waiting to be anchored: verify says INVALID, so must audit
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=edited(body_of(workspace, eid)), i=eid)
    assert verdict(workspace, eid).status == "INVALID"
    for workers in (1, 2):
        report = run_audit(workspace, workers=workers)
        assert [(i, why.split(":")[0]) for i, _, why in report.bad_events] == [
            (eid, "content changed"),
            (eid, "signature bad"),
        ]
    other = pending[0].id  # a pending event whose signature no longer verifies
    sql(workspace, 'UPDATE "event" SET signature = :s WHERE id = :i', s=base64.b64encode(bytes(64)).decode(), i=other)
    assert [(i, why.split(":")[0]) for i, _, why in run_audit(workspace).bad_events] == [
        (other, "signature bad"),
        (eid, "content changed"),
        (eid, "signature bad"),
    ]
    result = cli(workspace, "audit")
    assert result.exit_code == 1 and f"event {eid} " in result.output and "2 pending" in result.output, result.output


def test_audit_lists_edited_events_and_exits_1(workspace, anchored) -> None:
    eid = anchored[4]
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=edited(body_of(workspace, eid)), i=eid)
    report = run_audit(workspace)
    assert {i for i, _, why in report.bad_events if why.startswith("content changed")} == {eid}
    assert report.problems == []
    result = cli(workspace, "audit")
    assert result.exit_code == 1 and f"event {eid} " in result.output


def test_audit_without_signature_checks_still_catches_content_edits(workspace, anchored) -> None:
    eid = anchored[3]
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=edited(body_of(workspace, eid)), i=eid)
    report = run_audit(workspace, check_signatures=False)
    assert [(i, why.split(":")[0]) for i, _, why in report.bad_events] == [(eid, "content changed")]
    result = cli(workspace, "audit", "--skip-signatures")
    assert result.exit_code == 1


def test_audit_without_signature_checks_skips_signatures_only(workspace, anchored) -> None:
    a, b = anchored[0], anchored[2]
    sql(
        workspace,
        'UPDATE "event" SET signature = (SELECT signature FROM "event" WHERE id = :b) WHERE id = :a',
        a=a,
        b=b,
    )
    assert run_audit(workspace, check_signatures=False).ok
    assert {i for i, _, why in run_audit(workspace).bad_events if why.startswith("signature bad")} == {a}


def test_deleted_event_is_an_anchored_leaf_missing(workspace, anchored) -> None:
    eid = anchored[3]  # a test report: nothing else refers to it
    assert sql(workspace, 'DELETE FROM "event" WHERE id = :i', i=eid) == 1
    report = run_audit(workspace)
    assert not report.ok
    assert [p for p in report.problems if "1 anchored leaves missing from the store" in p]
    assert cli(workspace, "audit").exit_code == 1


def test_swapped_bodies_are_both_found(workspace, anchored) -> None:
    a, b = anchored[3], anchored[4]
    body_a, body_b = body_of(workspace, a), body_of(workspace, b)
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=body_b, i=a)
    sql(workspace, 'UPDATE "event" SET body = :b WHERE id = :i', b=body_a, i=b)
    report = run_audit(workspace)
    assert {i for i, _, why in report.bad_events if why.startswith("content changed")} == {a, b}


def test_swapped_bodies_digests_and_signatures_are_both_found(workspace, anchored) -> None:
    """A full reorder (every column but the proof moved): only the proofs give it away."""
    a, b = anchored[3], anchored[4]
    cols = "body, digest, signature"
    with workspace.engine.begin() as conn:
        ra = conn.execute(text(f'SELECT {cols} FROM "event" WHERE id = :i'), {"i": a}).one()
        rb = conn.execute(text(f'SELECT {cols} FROM "event" WHERE id = :i'), {"i": b}).one()
        conn.execute(text('UPDATE "event" SET digest = :d WHERE id = :i'), {"d": "00" * 32, "i": a})
        for eid, r in ((b, ra), (a, rb)):
            conn.execute(
                text('UPDATE "event" SET body = :b, digest = :d, signature = :s WHERE id = :i'),
                {"b": r[0], "d": r[1], "s": r[2], "i": eid},
            )
    report = run_audit(workspace)
    found = {(i, why.split(":")[0]) for i, _, why in report.bad_events}
    assert {(a, "proof wrong"), (b, "proof wrong")} <= found


def test_deleted_batch_row_is_reported(workspace, anchored) -> None:
    [batch] = stored_batches(workspace)
    sql_without_foreign_keys(workspace, "DELETE FROM anchor_batch WHERE id = :i", i=batch.id)
    report = run_audit(workspace)
    assert any("on chain but not in the store" in p for p in report.problems)
    missing = {i for i, _, why in report.bad_events if "missing from the store" in why}
    assert missing == set(anchored) | {r.id for r in stored_events(workspace) if r.kind == "key"}
    assert cli(workspace, "audit").exit_code == 1


def test_event_whose_batch_row_was_deleted_is_invalid_not_pending(workspace, anchored) -> None:
    """It was anchored (it has a batch id and a proof); with its batch gone it is not 'pending'."""
    [batch] = stored_batches(workspace)
    sql_without_foreign_keys(workspace, "DELETE FROM anchor_batch WHERE id = :i", i=batch.id)
    v = verdict(workspace, anchored[0])
    assert v.status == "INVALID", v


def test_deleted_batch_with_its_events_is_all_leaves_missing(workspace, record, events) -> None:
    record(events[:3])
    anchor(workspace)
    late = record(events[3:5])  # two test reports: nothing refers to them
    [r] = anchor(workspace)
    sql(workspace, 'DELETE FROM "event" WHERE anchor_id = :b', b=r.batch_id)
    sql(workspace, "DELETE FROM anchor_batch WHERE id = :b", b=r.batch_id)
    report = run_audit(workspace)
    assert report.bad_events == [] and report.roots_checked == 2
    [problem] = report.problems
    assert r.root in problem and "all of its leaves are missing" in problem and len(late) == 2


# -- bundles -----------------------------------------------------------------------------------


@pytest.fixture
def bundles(workspace, anchored) -> Iterator[list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    with workspace.session() as s:
        out = [export_bundle(s, workspace.chain(), str(i)) for i in anchored]
    workspace.close()  # the embedded chain file has one opener at a time
    yield out


def check(settings, bundle: dict[str, Any]):  # type: ignore[no-untyped-def]
    return verify_bundle_on(settings, read_bundle(json.dumps(bundle)))


def test_exported_bundles_verify_without_the_store(bundles, settings) -> None:
    for b in bundles:
        v = check(settings, b)
        assert (v.status, v.reasons, v.root) == ("VALID", (), b["root"][2:]), v
        assert v.local_chain is True
    b = bundles[0]
    assert b["format"] == "cradletrace-proof-bundle/2" and "event" not in b
    assert b["chain"]["local_development_chain"] is True and b["chain"]["tx_hash"].startswith("0x")
    assert b["supplier"]["key_id"] == signed_event(b)["key"]
    assert hashlib.sha256(base64.b64decode(b["bytes"])).hexdigest() == b["digest"][2:]


def signed_event(b: dict[str, Any]) -> dict[str, Any]:
    """The event in a /2 bundle's signed bytes."""
    event: dict[str, Any] = json.loads(base64.b64decode(b["bytes"]))
    return event


def with_event(b: dict[str, Any], event: dict[str, Any]) -> None:
    """Put ``event``'s canonical bytes in bundle ``b`` (its signature and digest unchanged)."""
    b["bytes"] = base64.b64encode(canonical_bytes(event)).decode()


def as_v1(b: dict[str, Any], key_revoked: bool = False) -> dict[str, Any]:
    """The same proof written as a cradletrace-proof-bundle/1 (the event as JSON, not its bytes)."""
    out = {k: v for k, v in b.items() if k != "bytes"} | {"format": "cradletrace-proof-bundle/1"}
    out["event"] = signed_event(b)
    out["supplier"] = b["supplier"] | {"key_revoked": key_revoked}
    return out


def test_format_1_bundles_are_still_read_and_a_revoked_key_is_reported(sqlite_bundles) -> None:
    settings, bundles = sqlite_bundles
    v = check(settings, as_v1(bundles[1]))
    assert (v.status, v.reasons, v.notes) == ("VALID", (), ()), v
    v = check(settings, as_v1(bundles[1], key_revoked=True))
    assert v.status == "VALID" and v.notes == ("the supplier's key was revoked when this bundle was exported",)
    bad = as_v1(bundles[1])
    bad["event"]["data"]["quantity"] = -1
    assert reasons_start(check(settings, bad), "content changed")


def test_a_bundle_not_anchored_yet_is_checked_offline_and_pending(sqlite_bundles) -> None:
    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    b.update(root=None, leaf_count=None, proof=[])
    v = check(settings, b)
    assert v.status == "PENDING" and v.reasons[0].startswith("not anchored yet"), v
    _edited_signature(b)
    assert reasons_start(check(settings, b), "signature bad")


def test_the_bundle_supplier_must_be_the_signed_events(sqlite_bundles) -> None:
    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    b["supplier"]["id"] = "someone-else"
    v = check(settings, b)
    assert v.status == "INVALID" and reasons_start(v, "supplier wrong"), v


def test_cli_verify_bundle(sqlite_bundles, tmp_path) -> None:
    settings, bundles = sqlite_bundles
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundles[2]))
    result = CliRunner().invoke(app, ["verify-bundle", str(path), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0 and result.output.startswith("VALID"), result.output
    bad = copy.deepcopy(bundles[2])
    bad["proof"][0] = "0x" + "11" * 32
    path.write_text(json.dumps(bad))
    result = CliRunner().invoke(app, ["verify-bundle", str(path), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1 and "proof wrong" in result.output


def _edit_event(b: dict[str, Any]) -> None:
    event = signed_event(b)
    event["data"]["quantity"] += 1
    with_event(b, event)


def _edit_proof(b: dict[str, Any]) -> None:
    b["proof"][-1] = "0x" + ("0" if b["proof"][-1][2] != "0" else "1") + b["proof"][-1][3:]


def _drop_proof_element(b: dict[str, Any]) -> None:
    b["proof"].pop()


def _wrong_root(b: dict[str, Any]) -> None:
    b["root"] = "0x" + "cd" * 32


def _other_key_id(b: dict[str, Any]) -> None:
    b["supplier"]["key_id"] = "0123456789abcdef"


def _other_public_key(b: dict[str, Any]) -> None:
    b["supplier"]["public_key"] = base64.b64encode(signing.generate_key_pair().public_key).decode()


def _other_key_with_its_id(b: dict[str, Any]) -> None:
    pair = signing.generate_key_pair()
    b["supplier"]["public_key"] = base64.b64encode(pair.public_key).decode()
    b["supplier"]["key_id"] = pair.key_id


def _edited_signature(b: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(b["signature"]))
    raw[0] ^= 1
    b["signature"] = base64.b64encode(bytes(raw)).decode()


def _wrong_leaf_count(b: dict[str, Any]) -> None:
    b["leaf_count"] += 1


def demo_bundles(settings: Settings) -> list[dict[str, Any]]:
    """Bundles of the seven demo events, recorded and anchored in a fresh workspace on ``settings``'s chain."""
    ws, chain = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        rows = record_into(ws, story(NOW))
        anchor(ws)
        with ws.session() as s:
            return [export_bundle(s, chain, str(r.id)) for r in rows]


@pytest.fixture(scope="module")
def sqlite_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[dict[str, Any]]]:
    """Bundles of the seven demo events, exported once (a bundle check never reads the store)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("bundles") / "data")
    return settings, demo_bundles(settings)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_edit_event, "content changed"),
        (_edit_proof, "proof wrong"),
        (_drop_proof_element, "proof wrong"),
        (_wrong_root, "root not on chain"),
        (_other_key_id, "signature bad"),
        (_other_public_key, "signature bad"),
        (_other_key_with_its_id, "signature bad"),
        (_edited_signature, "signature bad"),
        (_wrong_leaf_count, f"root on chain with {7 + KEY_RECORDS} leaves"),
    ],
)
def test_tampered_bundle_is_invalid_with_the_reason(sqlite_bundles, tamper, reason) -> None:
    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    tamper(b)
    v = check(settings, b)
    assert v.status == "INVALID" and reasons_start(v, reason), v.reasons


def test_bundle_naming_another_chain_id_is_invalid_saying_so(sqlite_bundles) -> None:
    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    b["chain"]["chain_id"] = 1
    v = check(settings, b)
    assert v.status == "INVALID" and reasons_start(v, "chain wrong: expected chain id 1"), v


def test_bundle_naming_an_address_without_the_contract_is_invalid_saying_so(sqlite_bundles) -> None:
    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    b["chain"]["contract"] = "0x" + "12" * 20
    v = check(settings, b)
    assert v.status == "INVALID" and reasons_start(v, "contract missing") and "no code" in v.reasons[0], v


def test_pending_event_has_no_bundle(workspace, record, events) -> None:
    [row] = record(events[:1])
    with workspace.session() as s, pytest.raises(NotFoundError, match="not anchored"):
        export_bundle(s, workspace.chain(), str(row.id))


def test_bundle_content_is_checked_on_its_canonical_form(sqlite_bundles) -> None:
    """/1: key order and whitespace of the bundle's JSON do not matter; the canonical bytes do.
    /2: the bytes are the bytes, so the same reordering is a changed content."""
    settings, bundles = sqlite_bundles
    b = as_v1(bundles[5])
    b["event"] = dict(reversed(list(b["event"].items())))
    assert check(settings, b).status == "VALID"
    b = copy.deepcopy(bundles[5])
    b["bytes"] = base64.b64encode(json.dumps(dict(reversed(list(signed_event(b).items())))).encode()).decode()
    assert reasons_start(check(settings, b), "content changed")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("root", "0x" + "ab" * 30 + "    ", "root: expected 0x and 64 hex digits"),  # once read as 30 bytes
        ("digest", " " + "00" * 32, "digest: expected 0x and 64 hex digits"),
        ("contract", "xyz", "chain.contract"),  # once failed later, inside web3, naming no field
    ],
)
def test_a_bundle_with_a_badly_written_hash_or_address_is_refused_naming_the_field(
    sqlite_bundles, field: str, value: str, named: str
) -> None:
    from cradletrace.errors import InvalidInputError

    settings, bundles = sqlite_bundles
    b = copy.deepcopy(bundles[0])
    (b["chain"] if field == "contract" else b)[field] = value
    with pytest.raises(InvalidInputError, match=re.escape(named)):
        check(settings, b)


def test_a_digest_prefix_of_ten_digits_beyond_any_id_is_taken_as_a_prefix(workspace, record, events) -> None:
    """A prefix like 8163388829… is larger than any id the store can hold (PostgreSQL INTEGER):
    asking for it as an id failed on PostgreSQL ("integer out of range") instead of finding the event."""
    [row] = record(events[:1])
    digits = "8163388829" + row.digest[10:]
    sql(workspace, 'UPDATE "event" SET digest = :d WHERE id = :i', d=digits, i=row.id)
    assert verdict(workspace, digits[:10]).digest == digits

"""The scan on PostgreSQL answers exactly as on SQLite.

PostgreSQL runs its own path (scan.postgres.PgScanner: one statement per scan on an async pool, the
lot's verified view kept while a stamp of row versions is unchanged); SQLite runs
scan.service.scan_item (the view kept while the rows themselves are unchanged). Every test here runs
on both stores through ``any_packs`` and asserts what the phone must see: tampering after the
view was kept, deleted records, a changed key or supplier, holds and recalls, unknown codes,
long histories. The last test stops PostgreSQL under a running app.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import select

from cradletrace.api.errors import STORE_UNAVAILABLE
from cradletrace.api.main import API_PREFIX
from cradletrace.api.routes.scan import UNKNOWN
from cradletrace.config import Settings
from cradletrace.core.labels import DigitalLink
from cradletrace.demo import story
from cradletrace.devstack.pg import PostgresServer
from cradletrace.recall.status import lot_status
from cradletrace.scan.history import MAX_HISTORY
from cradletrace.store.models import Lot, ScanRecord
from cradletrace.workspace import Workspace
from tests.api.conftest import MILK
from tests.api.test_scan import (  # noqa: F401 - any_packs is a fixture
    FORMULA,
    JSON,
    LOT,
    SLASH_LOT,
    Packs,
    any_packs,
    packed_site,
    record,
    records,
    scan_count,
    scan_json,
    scan_page,
    sql,
)
from tests.test_faults_api import durable

P = API_PREFIX
IF1 = f"{FORMULA}/{LOT}"
OF_EVENT = "id = :k"


def kept(packs: Packs, can: DigitalLink) -> dict[str, Any]:
    """A scan of ``can`` after two scans: the second was served from the view kept for the lot."""
    for _ in range(2):
        assert scan_json(packs.client, can)["all_verified"] is True
    return scan_json(packs.client, can)


def shown(body: dict[str, Any], event_id: int) -> dict[str, Any]:
    return next(r for r in records(body) if r["event_id"] == event_id)


def test_the_fast_path_runs_on_postgresql_only(any_packs: Packs, database_url: str | None) -> None:
    scanner = any_packs.client.app.state.runtime.scanner  # type: ignore[attr-defined]
    assert (scanner is not None) == (database_url is not None)
    assert scan_json(any_packs.client, any_packs.cans[0])["all_verified"] is True


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_rows_changing_under_every_attempt_leave_the_scan_to_the_plain_path(
    any_packs: Packs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PgScanner gives up after ATTEMPTS stamps that would not hold and scans as SQLite does
    (verify, then count): the answer is the same, and counted once."""
    scanner = any_packs.client.app.state.runtime.scanner  # type: ignore[attr-defined]
    can = any_packs.cans[3]
    before = scan_json(any_packs.client, can)
    monkeypatch.setattr(scanner, "ATTEMPTS", 0)
    after = scan_json(any_packs.client, can)
    assert after["scans"]["count"] == before["scans"]["count"] + 1
    assert {k: v for k, v in after.items() if k != "scans"} == {k: v for k, v in before.items() if k != "scans"}


# -- tampering after the lot's view was kept ----------------------------------------------------------

# (table, column, which row: a WHERE clause on the shown event's id :k, a reason the verdict gives)
TAMPERED = {
    "event.proof": ("event", "proof", OF_EVENT, "proof wrong"),
    "event.signature": ("event", "signature", OF_EVENT, "signature bad"),
    "event.body": ("event", "body", OF_EVENT, "content changed"),
    "anchor_batch.root": ("anchor_batch", "root", "id = (SELECT anchor_id FROM event WHERE id = :k)", "proof wrong"),
    "supplier_key.public_key": (
        "supplier_key",
        "public_key",
        "key_id = (SELECT key_id FROM event WHERE id = :k)",
        "signature bad",
    ),
}


@pytest.mark.parametrize("what", TAMPERED)
def test_a_lot_seen_before_is_verified_again_when_any_row_changes(any_packs: Packs, what: str) -> None:
    """Scan pages reuse a lot's verified view only while every row it was built from is unchanged."""
    table, column, where, reason = TAMPERED[what]
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[2]
    target = records(kept(any_packs, can))[1]["event_id"]
    [(original,)] = sql(st, f"SELECT {column} FROM {table} WHERE {where}", k=target)
    changed = ("0" if original[0] != "0" else "1") + original[1:]
    assert sql(st, f"UPDATE {table} SET {column} = :v WHERE {where}", v=changed, k=target) == 1
    try:
        body = scan_json(c, can)
        assert body["all_verified"] is False
        bad = shown(body, target)["integrity"]
        assert bad["status"] == "INVALID" and any(reason in r for r in bad["reasons"]), bad
        page = scan_page(c, can)  # every record has its badge, also one whose body no longer parses
        assert 'id="integrity-banner"' in page and page.count('data-status="INVALID"') >= 1
    finally:
        sql(st, f"UPDATE {table} SET {column} = :v WHERE {where}", v=original, k=target)
    body = scan_json(c, can)
    assert body["all_verified"] is True and shown(body, target)["integrity"]["status"] == "VALID"


@pytest.mark.parametrize("section", ["cold_chain", "test_reports"])
def test_a_deleted_record_is_no_longer_shown(any_packs: Packs, section: str) -> None:
    """A shown event deleted from the store leaves the page (the audit, not the scan, notices the
    missing leaf); put back, it is shown again, verified."""
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[2]
    before = kept(any_packs, can)
    gone = before[section][0]["event_id"]
    [row] = sql(st, "SELECT * FROM event WHERE id = :i", i=gone)
    saved = dict(row._mapping)
    assert sql(st, "DELETE FROM event WHERE id = :i", i=gone) == 1
    try:
        body = scan_json(c, can)
        assert gone not in [r["event_id"] for r in records(body)]
        assert len(body[section]) == len(before[section]) - 1 and len(records(body)) == len(records(before)) - 1
        page = scan_page(c, can, lang="en")
        kind = "cold-chain" if section == "cold_chain" else "test-report"
        assert page.count(f'class="record {kind}"') == len(before[section]) - 1
        assert all(r["integrity"]["status"] == "VALID" for r in records(body))
    finally:
        sql(st, f"INSERT INTO event ({', '.join(saved)}) VALUES ({', '.join(':' + k for k in saved)})", **saved)
    body = scan_json(c, can)
    assert body[section] == before[section] and body["all_verified"] is True


def test_a_revoked_key_still_verifies_what_it_signed(any_packs: Packs) -> None:
    """Revoking a key stops new signatures with it (suppliers.revoke_key); verification.py does not
    look at revoked_at, so records it signed before stay VALID on either store."""
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[2]
    target = records(kept(any_packs, can))[1]["event_id"]
    where = TAMPERED["supplier_key.public_key"][2]
    assert sql(st, f"UPDATE supplier_key SET revoked_at = :t WHERE {where}", t=datetime.now(UTC), k=target) == 1
    body = scan_json(c, can)
    assert body["all_verified"] is True and shown(body, target)["integrity"]["status"] == "VALID"


def test_a_changed_supplier_row_is_shown_at_the_next_scan(any_packs: Packs) -> None:
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[2]
    origin = kept(any_packs, can)["origin"][0]
    [(sid, name, role)] = sql(st, "SELECT id, name, role FROM supplier WHERE name = :n", n=origin["supplier"])
    assert sql(st, "UPDATE supplier SET name = :n, role = 'lab' WHERE id = :i", n="Renamed Dairy Ltd", i=sid) == 1
    try:
        body = scan_json(c, can)
        assert (shown(body, origin["event_id"])["supplier"], shown(body, origin["event_id"])["supplier_role"]) == (
            "Renamed Dairy Ltd",
            "lab",
        )
        assert "Renamed Dairy Ltd" in scan_page(c, can, lang="en") and body["all_verified"] is True
    finally:
        sql(st, "UPDATE supplier SET name = :n, role = :r WHERE id = :i", n=name, r=role, i=sid)
    again = shown(scan_json(c, can), origin["event_id"])
    assert (again["supplier"], again["supplier_role"]) == (name, role)


def test_a_changed_product_name_is_shown_at_the_next_scan(any_packs: Packs) -> None:
    """The lot row is part of what a kept view was built from, like the event rows."""
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[2]
    product = kept(any_packs, can)["product"]
    assert sql(st, "UPDATE lot SET product = :p WHERE product = :o", p="Renamed formula 900 g", o=product) >= 1
    try:
        assert scan_json(c, can)["product"] == "Renamed formula 900 g"
        assert "Renamed formula 900 g" in scan_page(c, can, lang="en")
    finally:
        sql(st, "UPDATE lot SET product = :p WHERE product = :o", p=product, o="Renamed formula 900 g")
    assert scan_json(c, can)["product"] == product


# -- holds and recalls -----------------------------------------------------------------------------


def in_store(settings: Settings, gtin: str, lot: str) -> dict[str, Any]:
    """What recalls.lot_status says of the lot, straight from the store."""
    with Workspace(settings) as ws, ws.session() as s:
        status = lot_status(s, int(s.exec(select(Lot.id).where(Lot.gtin == gtin, Lot.lot == lot)).one() or 0))
    return {"recall": status.recall, "hold": status.hold}


def on_scan(client: TestClient, can: DigitalLink) -> dict[str, Any]:
    body = scan_json(client, can)
    return {"recall": body["recall"], "hold": body["hold"]}


def test_the_scan_shows_the_lots_recall_and_first_hold_as_the_store_has_them(any_packs: Packs) -> None:
    c, st, can, q = any_packs.client, any_packs.settings, any_packs.cans[0], any_packs.site.auth("quality")

    def status(can: DigitalLink = can, lot: str = LOT) -> dict[str, Any]:
        seen = on_scan(c, can)
        assert seen == in_store(st, FORMULA, lot)
        return seen

    holds = c.get(f"{P}/holds", headers=q).json()  # the demo's failing report and excursion held the lot twice
    assert [h["lot"] for h in holds] == [LOT, LOT]
    first = status()
    assert first["recall"] is None and first["hold"]["trigger_event_id"] == holds[0]["trigger_event_id"]
    assert first["hold"]["reason"] == holds[0]["reason"]

    started = c.post(f"{P}/recalls", headers=q, json={"reason": "Cronobacter detected", "severity": "I", "lots": [IF1]})
    assert started.status_code == 201, started.text
    recall = status()["recall"]
    assert (recall["id"], recall["notice_status"], recall["do_not_use"]) == (started.json()["id"], "prepared", True)
    assert "Cronobacter detected" in scan_page(c, can, lang="en")

    assert c.post(f"{P}/anchor", headers=any_packs.site.auth("operator")).status_code == 200  # sends the notice
    assert status()["recall"]["notice_status"] == "confirmed"

    for i, hold in enumerate(holds):
        assert (
            c.post(f"{P}/holds/{hold['id']}/release", headers=q, json={"reason": "re-test passed"}).status_code == 200
        )
        after = status()["hold"]
        assert after is None if i == len(holds) - 1 else after["trigger_event_id"] == holds[i + 1]["trigger_event_id"]

    assert c.post(f"{P}/recalls/{recall['id']}/close", headers=q, json={"reason": "retrieved"}).status_code == 200
    assert status() == {"recall": None, "hold": None}

    other = any_packs.slash[0]  # its view is kept; a failing report recorded now holds it at once
    assert status(other, SLASH_LOT) == status(other, SLASH_LOT) == {"recall": None, "hold": None}
    failing = next(e for e in story(datetime.now(UTC)) if e["kind"] == "test_report" and "9c1e" in str(e))
    failing["data"]["batch"]["lot"] = SLASH_LOT  # type: ignore[index]
    [report] = record(st, [failing])
    held = status(other, SLASH_LOT)
    assert held["recall"] is None and held["hold"]["trigger_event_id"] == report.id
    assert held["hold"]["reason"] == "failed test report"
    assert [t["integrity"]["status"] for t in scan_json(c, other)["test_reports"]] == ["PENDING"]


# -- codes never issued, long histories ------------------------------------------------------------


def scan_rows(settings: Settings) -> int:
    return int(sql(settings, "SELECT count(*) FROM scan")[0][0])


def test_codes_never_issued_are_404_and_insert_no_scan(any_packs: Packs) -> None:
    c, st, mine = any_packs.client, any_packs.settings, any_packs.cans[4]
    before = scan_rows(st)
    for path in (
        f"/01/{FORMULA}/10/{LOT}/21/NEVERISSUED1",
        f"/01/{MILK}/10/{LOT}/21/{mine.serial}",  # another product
        f"/01/{FORMULA}/10/{SLASH_LOT.replace('/', '%2F')}/21/{mine.serial}",  # another lot
        f"/01/{FORMULA}/10/IF-9999/21/{mine.serial}",
    ):  # a lot never made
        r = c.get(path, headers=JSON)
        assert (r.status_code, r.json()) == (404, {"detail": UNKNOWN, "field": None, "problems": []}), path
        assert c.get(path).status_code == 404
    assert scan_rows(st) == before and scan_count(st, mine.serial) == 0
    assert scan_json(c, mine)["scans"]["count"] == 1 and scan_rows(st) == before + 1


def test_a_lot_whose_batch_event_no_longer_reads_is_404_and_not_counted(any_packs: Packs) -> None:
    """Nothing can be shown of a lot whose own batch event no longer parses (scan.view.build_view):
    the scan answers as for a code never issued, so it must not be counted either."""
    c, st, can = any_packs.client, any_packs.settings, any_packs.cans[1]
    batch = kept(any_packs, can)["batch"]["event_id"]
    counted = scan_count(st, can.serial)
    [(original,)] = sql(st, "SELECT body FROM event WHERE id = :i", i=batch)
    sql(st, "UPDATE event SET body = :b WHERE id = :i", b="0" + original[1:], i=batch)
    try:
        r = c.get(can.path, headers=JSON)
        assert (r.status_code, r.json()) == (404, {"detail": UNKNOWN, "field": None, "problems": []})
        assert scan_count(st, can.serial) == counted
    finally:
        sql(st, "UPDATE event SET body = :b WHERE id = :i", b=original, i=batch)
    assert scan_json(c, can)["scans"]["count"] == counted + 1


def test_a_long_history_reports_the_true_count_and_the_first_scan(any_packs: Packs) -> None:
    """Only MAX_HISTORY scans are read back for the clone check; the count and first day are exact."""
    c, st = any_packs.client, any_packs.settings
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    for can, earlier in ((any_packs.cans[3], MAX_HISTORY - 1), (any_packs.cans[4], MAX_HISTORY + 5)):
        with Workspace(st) as ws, ws.engine.begin() as conn:
            conn.execute(
                insert(ScanRecord),
                [
                    {
                        "id": f"{can.serial}{i:016x}"[-32:],
                        "serial": can.serial,
                        "scanned_at": start + timedelta(minutes=i),
                        "consent": False,
                    }
                    for i in range(earlier)
                ],
            )
        for n in (1, 2):
            scans = scan_json(c, can)["scans"]
            assert scans["count"] == earlier + n and scans["first_on"] == start.date().isoformat(), (earlier, n)
        assert scan_count(st, can.serial) == earlier + 2


# -- PostgreSQL stopped under a running app -----------------------------------------------------------

REFUSED = (503, {"detail": STORE_UNAVAILABLE, "field": None, "problems": []})


@pytest.mark.postgres
def test_a_stopped_postgresql_answers_503_in_bounded_time_and_scans_resume(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    durable(postgres_server, postgres_url)  # a kill must not lose the scans committed before it
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    with packed_site(settings, scan_rate_per_minute=0, db_wait_timeout=1, db_pool_size=2) as p:
        can = p.cans[0]
        assert scan_json(p.client, can)["scans"]["count"] == 1
        postgres_server.kill()
        try:
            # Both pooled connections are found dead, then the pool has none to give: each refusal
            # comes within db_wait_timeout (plus slack for a loaded machine).
            for headers in (JSON, {}, JSON):
                t0 = time.monotonic()
                r = p.client.get(can.path, headers=headers)
                assert (r.status_code, r.json()) == REFUSED and time.monotonic() - t0 < 3, (
                    r.text,
                    time.monotonic() - t0,
                )
        finally:
            postgres_server.start_again()
        body = until_scanned(p.client, can)
        assert body["scans"]["count"] == 2 and body["all_verified"] is True  # refusals are not counted
        # A lot not seen yet is read and verified in a thread, on the store's other pool.
        assert until_scanned(p.client, p.slash[0])["scans"]["count"] == 1


def until_scanned(client: TestClient, can: DigitalLink, within: float = 10) -> dict[str, Any]:
    """The first scan of ``can`` that succeeds within ``within`` seconds; every answer before it a 503."""
    start, refused = time.monotonic(), []
    while time.monotonic() - start < within:
        r = client.get(can.path, headers=JSON)
        if r.status_code == 200:
            return r.json()  # type: ignore[no-any-return]
        refused.append((r.status_code, r.json()))
        assert refused[-1] == REFUSED, refused
    raise AssertionError(f"no scan succeeded within {within} s: {refused}")

"""Consumer scans and the scan view, below HTTP: counting, sealed consented locations, the clone
flag, and every record of a batch really verified at scan time (SQLite and PostgreSQL).

Tampering is done behind cradletrace's back, with SQL on the store's engine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from cradletrace import anchoring
from cradletrace.core.labels import DigitalLink
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.labels import generate_codes
from cradletrace.scans import MAX_HISTORY, attach_location, record_scan
from cradletrace.scanview import scan_view, view_json
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.store.models import ScanRecord
from cradletrace.verification import EventVerifier
from cradletrace.workspace import Workspace
from tests.conftest import NOW

FORMULA, LOT = "94219029601016", "IF-0001"
# (lat, lon) as a phone reports them, and what must never be readable in the store.
CHENGDU, SHANGHAI, BEIJING, SUZHOU = (30.6586, 104.0647), (31.2304, 121.4737), (39.9042, 116.4074), (31.2990, 120.5853)


@pytest.fixture
def packs(workspace: Workspace, record: Callable[..., list[object]], events: list[dict[str, object]]) -> list[DigitalLink]:
    """The demo story recorded and anchored, and four cans of IF-0001 commissioned (anchored too)."""
    record(events)
    with workspace.session() as s:
        links = generate_codes(s, workspace.settings.keys_dir, gtin=FORMULA, lot=LOT, count=4, supplier="alps-nutrition",
                               resolver="id.example.com", limits=workspace.limits, now=NOW).links
    anchoring.anchor_pending(workspace.session, workspace.chain())
    return links


@pytest.fixture
def sealer(workspace: Workspace) -> Sealer:
    return Sealer(load_or_create_key(workspace.settings.keys_dir / "location.key"))


def scan(ws: Workspace, sealer: Sealer, serial: str, at: datetime, place: tuple[float, float] | None = None):  # type: ignore[no-untyped-def]
    """One scan at ``at``; with ``place``, the scanner then shares its location."""
    with ws.session() as s:
        summary = record_scan(s, sealer, serial, at)
    if place is not None:
        with ws.session() as s:
            attach_location(s, sealer, summary.scan_id, *place)
    return summary


def test_scans_are_counted_per_code_and_the_first_stays_first(workspace: Workspace, packs: list[DigitalLink],
                                                              sealer: Sealer) -> None:
    a, b = packs[0].serial, packs[1].serial
    seen = [scan(workspace, sealer, a, NOW + timedelta(hours=h)) for h in (0, 1, 30)]
    assert [s.count for s in seen] == [1, 2, 3]
    assert {s.first_at for s in seen} == {NOW} and seen[-1].first_at.tzinfo is not None
    assert len({s.scan_id for s in seen}) == 3
    assert all(s.first_place is None and s.first_city is None and not s.clone.likely_copy for s in seen)
    assert scan(workspace, sealer, b, NOW + timedelta(days=2)).count == 1  # another pack has its own history


def test_a_location_is_stored_coarse_and_sealed(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    first = scan(workspace, sealer, packs[0].serial, NOW, CHENGDU)
    with workspace.engine.connect() as conn:
        consent, stored = conn.execute(text("SELECT consent, location FROM scan WHERE id = :i"), {"i": first.scan_id}).one()
    stored = bytes(stored)
    assert consent
    for plain in (b"30.6586", b"104.0647", b"30.7", b"104.1", b"Chengdu"):
        assert plain not in stored
    assert json.loads(sealer.open(stored, first.scan_id.encode())) == [30.7, 104.1]  # rounded before sealing
    with pytest.raises(InvalidInputError):
        Sealer(load_or_create_key(Path("/nonexistent"), "ab" * 32)).open(stored, first.scan_id.encode())
    later = scan(workspace, sealer, packs[0].serial, NOW + timedelta(hours=5))
    assert later.first_place == (30.7, 104.1)
    assert later.first_city is not None and later.first_city.name == "Chengdu" and later.first_city.country == "CN"


def test_a_location_that_does_not_open_counts_for_nothing(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    """A key rotated by mistake must not turn every old location into a crash or into evidence."""
    scan(workspace, sealer, packs[0].serial, NOW, SHANGHAI)
    other = Sealer(b"\x07" * 32)
    scan(workspace, other, packs[0].serial, NOW + timedelta(days=1), BEIJING)
    later = scan(workspace, other, packs[0].serial, NOW + timedelta(days=1, hours=1))
    assert later.count == 3 and later.first_place == (39.9, 116.4) and not later.clone.likely_copy


@pytest.mark.parametrize(("lat", "lon", "field"), [(90.5, 10.0, "lat"), (-91.0, 10.0, "lat"), (10.0, 180.5, "lon")])
def test_impossible_coordinates_are_refused(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer,
                                            lat: float, lon: float, field: str) -> None:
    summary = scan(workspace, sealer, packs[0].serial, NOW)
    with pytest.raises(InvalidInputError) as caught, workspace.session() as s:
        attach_location(s, sealer, summary.scan_id, lat, lon)
    assert caught.value.problems[0].where == field


def test_an_unknown_scan_id_is_not_found(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    with pytest.raises(NotFoundError), workspace.session() as s:
        attach_location(s, sealer, "0" * 32, *SHANGHAI)


@pytest.mark.parametrize(("first", "second", "apart", "copy"), [
    (SHANGHAI, BEIJING, timedelta(days=2), True),     # ~1 070 km within days: one label, two households
    (SHANGHAI, BEIJING, timedelta(days=40), False),   # a pack can travel in six weeks
    (SHANGHAI, SUZHOU, timedelta(hours=3), False),    # ~85 km: the same region
])
def test_distant_places_within_days_flag_a_copy(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer,
                                                first: tuple[float, float], second: tuple[float, float],
                                                apart: timedelta, copy: bool) -> None:
    serial = packs[0].serial
    scan(workspace, sealer, serial, NOW, first)
    scan(workspace, sealer, serial, NOW + apart, second)
    verdict = scan(workspace, sealer, serial, NOW + apart + timedelta(minutes=1)).clone
    assert verdict.likely_copy is copy
    assert ("km apart" in verdict.reason) is copy


def test_scanned_too_often_is_a_copy_and_the_count_is_not_capped(workspace: Workspace, packs: list[DigitalLink],
                                                                  sealer: Sealer) -> None:
    serial = packs[1].serial
    for i in range(30):
        last = scan(workspace, sealer, serial, NOW + timedelta(minutes=i))
    assert last.count == 30 and not last.clone.likely_copy
    assert scan(workspace, sealer, serial, NOW + timedelta(hours=1)).clone.likely_copy
    with workspace.session() as s:
        s.add_all(ScanRecord(id=f"{i:032x}", serial=serial, scanned_at=NOW + timedelta(days=1, seconds=i))
                  for i in range(MAX_HISTORY + 20))
    busy = scan(workspace, sealer, serial, NOW + timedelta(days=2))
    assert busy.count == 31 + MAX_HISTORY + 20 + 1
    assert busy.first_at == NOW and busy.clone.likely_copy


# -- the scan view: verified at scan time, not read from a flag -------------------------------------

def view(ws: Workspace, verifier: EventVerifier, lot: str = LOT):  # type: ignore[no-untyped-def]
    with ws.session() as s:
        return scan_view(s, verifier, FORMULA, lot, "X")


def sql(ws: Workspace, statement: str, **params: object) -> None:
    with ws.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_view_gathers_the_batch_story_and_verifies_every_record(workspace: Workspace, packs: list[DigitalLink]) -> None:
    v = view(workspace, EventVerifier(workspace.chain()))
    assert v.product == "Stage 1 infant formula 800 g" and v.batch.data.lot == LOT
    assert [r.data.lot for r in v.origin] == ["RM-A1", "RM-B2"]
    assert sorted(r.data.verdict for r in v.tests) == ["fail", "pass"]
    assert [r.summary.verdict for r in v.cold_chain] == ["excursion"] and "<svg" in v.cold_chain[0].chart_svg
    assert [r.data.customs.declaration_number for r in v.shipments] == ["223320261000004217"]
    assert v.all_verified and {r.verdict.status for r in v.records} == {"VALID"}
    assert all(r.verdict.local_chain and r.verdict.block_number and r.verdict.tx_hash for r in v.records)
    assert {r.kind for r in v.records} == {"batch", "test_report", "cold_chain", "shipment"}  # commissioning is not shown
    body = view_json(v)
    assert body["all_verified"] is True and len(body["test_reports"]) == 2


def test_an_edited_record_is_invalid_at_the_next_scan(workspace: Workspace, packs: list[DigitalLink]) -> None:
    verifier = EventVerifier(workspace.chain())  # shared across scans, as the API shares it
    failing = next(r for r in view(workspace, verifier).tests if r.data.verdict == "fail")
    with workspace.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM event WHERE id = :i"), {"i": failing.event_id}).scalar_one()
    sql(workspace, "UPDATE event SET body = :b WHERE id = :i", b=body.replace('"value":1', '"value":0'), i=failing.event_id)
    v = view(workspace, verifier)
    bad = next(r for r in v.tests if r.event_id == failing.event_id)
    assert bad.verdict.status == "INVALID" and "content changed" in bad.verdict.reasons[0]
    assert not v.all_verified and v.any_invalid
    sql(workspace, "UPDATE event SET body = :b WHERE id = :i", b=body, i=failing.event_id)
    assert view(workspace, verifier).all_verified


def test_a_record_garbled_beyond_reading_still_fails_the_batch(workspace: Workspace, packs: list[DigitalLink]) -> None:
    """Dropping an unreadable failing report from the page must not leave a clean 'all verified'."""
    verifier = EventVerifier(workspace.chain())
    failing = next(r for r in view(workspace, verifier).tests if r.data.verdict == "fail")
    sql(workspace, "UPDATE event SET body = :b WHERE id = :i", b="{garbled", i=failing.event_id)
    v = view(workspace, verifier)
    assert [r.data.verdict for r in v.tests] == ["pass"]
    assert not v.all_verified and v.any_invalid
    body = view_json(v)
    assert body["all_verified"] is False
    assert [(r["event_id"], r["integrity"]["status"]) for r in body["unreadable"]] == [(failing.event_id, "INVALID")]


def test_a_record_not_yet_anchored_is_pending(workspace: Workspace, packs: list[DigitalLink],
                                              record: Callable[..., list[object]], events: list[dict[str, object]]) -> None:
    report = json.loads(json.dumps(next(e for e in events if e["kind"] == "test_report")))
    report["data"]["sampled_on"] = "2026-11-20"
    report["data"]["reported_on"] = "2026-11-21"
    [new] = record([report])
    v = view(workspace, EventVerifier(workspace.chain()))
    fresh = next(r for r in v.tests if r.event_id == new.id)  # type: ignore[attr-defined]
    assert fresh.verdict.status == "PENDING" and "not anchored yet" in fresh.verdict.reasons[0]
    assert not v.all_verified and not v.any_invalid


def test_an_unknown_lot_has_no_view(workspace: Workspace, packs: list[DigitalLink]) -> None:
    with pytest.raises(NotFoundError):
        view(workspace, EventVerifier(workspace.chain()), "IF-9999")
    with workspace.session() as s:
        assert s.exec(select(ScanRecord)).all() == []


# -- the sealing key, as several workers of one server find it ---------------------------------------

def test_workers_starting_together_share_one_whole_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys" / "location.key"
    start = threading.Barrier(8)

    def worker(_: int) -> bytes:
        start.wait()
        return load_or_create_key(path)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(worker, range(8)))
    assert keys == {path.read_bytes()} and len(path.read_bytes()) == 32
    assert [p.name for p in path.parent.iterdir()] == ["location.key"]  # no staging file left behind
    # A worker that looked before another created the key takes the other's key, not an error.
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self, *a, **k: False if self == path else real_exists(self, *a, **k))
    assert load_or_create_key(path) == path.read_bytes()

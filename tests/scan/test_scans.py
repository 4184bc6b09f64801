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

from cradletrace.anchoring import run as anchoring
from cradletrace.core.labels import DigitalLink
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.labels.commission import generate_codes
from cradletrace.scan.history import LOCATION_SIZE, MAX_HISTORY, attach_location, client_id, record_scan
from cradletrace.scan.view import scan_view, view_json
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.store.models import ScanRecord
from cradletrace.verification import EventVerifier
from cradletrace.workspace import Workspace
from tests.conftest import NOW

FORMULA, LOT = "94219029601016", "IF-0001"
# (lat, lon) as a phone reports them, and what must never be readable in the store.
CHENGDU, SHANGHAI, BEIJING, SUZHOU = (30.6586, 104.0647), (31.2304, 121.4737), (39.9042, 116.4074), (31.2990, 120.5853)
GUANGZHOU, AUCKLAND = (23.1291, 113.2644), (-36.8485, 174.7633)


@pytest.fixture
def packs(
    workspace: Workspace, record: Callable[..., list[object]], events: list[dict[str, object]]
) -> list[DigitalLink]:
    """The demo story recorded and anchored, and four cans of IF-0001 commissioned (anchored too)."""
    record(events)
    with workspace.session() as s:
        links = generate_codes(
            s,
            workspace.settings.keys_dir,
            gtin=FORMULA,
            lot=LOT,
            count=4,
            supplier="alps-nutrition",
            resolver="id.example.com",
            limits=workspace.limits,
            now=NOW,
        ).links
    anchoring.anchor_pending(workspace.session, workspace.chain())
    return links


@pytest.fixture
def sealer(workspace: Workspace) -> Sealer:
    return Sealer(load_or_create_key(workspace.settings.keys_dir / "location.key"))


def scan(
    ws: Workspace,
    sealer: Sealer,
    serial: str,
    at: datetime,
    place: tuple[float, float] | None = None,  # type: ignore[no-untyped-def]
    client: str = "phone",
):
    """One scan at ``at`` by ``client``; with ``place``, the scanner then shares its location."""
    with ws.session() as s:
        summary = record_scan(s, sealer, serial, at, client_id(sealer, client, "Mozilla/5.0"))
    if place is not None:
        with ws.session() as s:
            assert attach_location(s, sealer, summary.scan_id, *place)
    return summary


def test_scans_are_counted_per_code_and_the_first_stays_first(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    a, b = packs[0].serial, packs[1].serial
    seen = [scan(workspace, sealer, a, NOW + timedelta(hours=h)) for h in (0, 1, 30)]
    assert [s.count for s in seen] == [1, 2, 3]
    assert {s.first_at for s in seen} == {NOW} and seen[-1].first_at.tzinfo is not None
    assert len({s.scan_id for s in seen}) == 3
    assert all(s.first_elsewhere is None and not s.clone.likely_copy for s in seen)
    assert scan(workspace, sealer, b, NOW + timedelta(days=2)).count == 1  # another pack has its own history


def test_a_location_is_stored_coarse_and_sealed(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    first = scan(workspace, sealer, packs[0].serial, NOW, CHENGDU)
    with workspace.engine.connect() as conn:
        consent, stored = conn.execute(
            text("SELECT consent, location FROM scan WHERE id = :i"), {"i": first.scan_id}
        ).one()
    stored = bytes(stored)
    assert consent
    for plain in (b"30.6586", b"104.0647", b"30.7", b"104.1", b"Chengdu"):
        assert plain not in stored
    opened = sealer.open(stored, first.scan_id.encode())
    assert json.loads(opened) == [30.7, 104.1] and len(opened) == LOCATION_SIZE  # rounded and padded before sealing
    with pytest.raises(InvalidInputError):
        Sealer(load_or_create_key(Path("/nonexistent"), "ab" * 32)).open(stored, first.scan_id.encode())
    # What a later scanner learns: the first scan was in its own city or another, no place.
    assert scan(workspace, sealer, packs[0].serial, NOW + timedelta(hours=5)).first_elsewhere is False  # the same phone
    assert scan(workspace, sealer, packs[0].serial, NOW + timedelta(hours=6), client="visitor").first_elsewhere is None
    scan(workspace, sealer, packs[0].serial, NOW + timedelta(hours=7), BEIJING, client="visitor")
    later = scan(workspace, sealer, packs[0].serial, NOW + timedelta(hours=8), client="visitor")
    assert later.first_elsewhere is True and later.count == 5
    assert not hasattr(later, "first_place") and not hasattr(later, "first_city")


def test_a_sealed_location_is_as_long_in_every_hemisphere(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    lengths = set()
    for i, place in enumerate([(1.0, 2.0), (-89.95, -179.95), (45.0, -120.5), (-0.04, 0.04)]):
        summary = scan(workspace, sealer, packs[2].serial, NOW + timedelta(minutes=i), place, client=f"c{i}")
        with workspace.engine.connect() as conn:
            lengths.add(
                len(conn.execute(text("SELECT location FROM scan WHERE id = :i"), {"i": summary.scan_id}).scalar_one())
            )
    assert len(lengths) == 1


def test_an_unpadded_location_of_an_older_release_still_opens(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    first = scan(workspace, sealer, packs[3].serial, NOW)
    with workspace.engine.begin() as conn:
        conn.execute(
            text("UPDATE scan SET consent = :c, location = :l WHERE id = :i"),
            {"c": True, "l": sealer.seal(b"[39.9, 116.4]", first.scan_id.encode()), "i": first.scan_id},
        )
    assert (
        scan(workspace, sealer, packs[3].serial, NOW + timedelta(hours=1), BEIJING, client="b").first_elsewhere is None
    )
    assert scan(workspace, sealer, packs[3].serial, NOW + timedelta(hours=2), client="b").first_elsewhere is False


def test_a_scan_takes_one_location_once(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    first = scan(workspace, sealer, packs[1].serial, NOW, SHANGHAI)
    with workspace.session() as s:
        assert attach_location(s, sealer, first.scan_id, *BEIJING) is False
        s.commit()
    with workspace.engine.connect() as conn:
        stored = conn.execute(text("SELECT location FROM scan WHERE id = :i"), {"i": first.scan_id}).scalar_one()
    assert json.loads(sealer.open(bytes(stored), first.scan_id.encode())) == [31.2, 121.5]


def test_the_client_is_kept_only_as_a_keyed_hash(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    address, agent = "203.0.113.77", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
    with workspace.session() as s:
        summary = record_scan(s, sealer, packs[1].serial, NOW, client_id(sealer, address, agent))
    with workspace.engine.connect() as conn:
        stored = conn.execute(text("SELECT client FROM scan WHERE id = :i"), {"i": summary.scan_id}).scalar_one()
    assert stored == client_id(sealer, address, agent) and len(stored) == 32
    assert address not in stored and stored != client_id(
        Sealer(b"\x07" * 32), address, agent
    )  # keyed: no guessing without the key
    assert stored != client_id(sealer, address, agent + " ")


def test_a_location_that_does_not_open_counts_for_nothing(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    """A key rotated by mistake must not turn every old location into a crash or into evidence."""
    scan(workspace, sealer, packs[0].serial, NOW, SHANGHAI, client="a")
    other = Sealer(b"\x07" * 32)
    scan(workspace, other, packs[0].serial, NOW + timedelta(days=1), BEIJING, client="b")
    scan(workspace, other, packs[0].serial, NOW + timedelta(days=1), GUANGZHOU, client="c")
    later = scan(workspace, other, packs[0].serial, NOW + timedelta(days=1, hours=1), client="c")
    assert later.count == 4 and later.first_elsewhere is None and not later.clone.likely_copy


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [
        (90.5, 10.0, "lat"),
        (-91.0, 10.0, "lat"),
        (10.0, 180.5, "lon"),
        (float("nan"), 10.0, "lat"),
        (10.0, float("-inf"), "lon"),
    ],
)
def test_impossible_coordinates_are_refused(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer, lat: float, lon: float, field: str
) -> None:
    summary = scan(workspace, sealer, packs[0].serial, NOW)
    with pytest.raises(InvalidInputError) as caught, workspace.session() as s:
        attach_location(s, sealer, summary.scan_id, lat, lon)
    assert caught.value.problems[0].where == field


def test_an_unknown_scan_id_is_not_found(workspace: Workspace, packs: list[DigitalLink], sealer: Sealer) -> None:
    with pytest.raises(NotFoundError), workspace.session() as s:
        attach_location(s, sealer, "0" * 32, *SHANGHAI)


@pytest.mark.parametrize(
    ("places", "clients", "apart", "copy"),
    [
        (
            (SHANGHAI, BEIJING, GUANGZHOU),
            "abc",
            timedelta(days=2),
            True,
        ),  # ~1 000 km within days: one label, three households
        ((SHANGHAI, BEIJING, GUANGZHOU), "abc", timedelta(days=40), False),  # a pack can travel in six weeks
        ((SHANGHAI, SUZHOU, SHANGHAI), "abc", timedelta(hours=3), False),  # ~85 km: the same region
        ((SHANGHAI, BEIJING, GUANGZHOU), "aaa", timedelta(hours=1), False),  # one phone's places are one witness
        ((SHANGHAI, SHANGHAI, AUCKLAND), "abc", timedelta(hours=1), False),  # one phone far from the household
    ],
)
def test_distant_places_within_days_flag_a_copy(
    workspace: Workspace,
    packs: list[DigitalLink],
    sealer: Sealer,
    places: tuple[tuple[float, float], ...],
    clients: str,
    apart: timedelta,
    copy: bool,
) -> None:
    serial = packs[0].serial
    for i, (place, client) in enumerate(zip(places, clients)):
        scan(workspace, sealer, serial, NOW + apart * i, place, client=client)
    verdict = scan(workspace, sealer, serial, NOW + apart * len(places) + timedelta(minutes=1), client="a").clone
    assert verdict.likely_copy is copy
    assert ("km apart" in verdict.reason) is copy


def test_scanned_too_often_is_a_copy_and_the_count_is_not_capped(
    workspace: Workspace, packs: list[DigitalLink], sealer: Sealer
) -> None:
    serial = packs[1].serial
    for i in range(40):  # one phone, many scans: one client
        last = scan(workspace, sealer, serial, NOW + timedelta(seconds=i), client="same")
    assert last.count == 40 and not last.clone.likely_copy and last.clone.clients == 1
    for i in range(29):
        last = scan(workspace, sealer, serial, NOW + timedelta(minutes=i), client=f"c{i}")
    assert last.count == 69 and not last.clone.likely_copy and last.clone.clients == 30
    assert scan(workspace, sealer, serial, NOW + timedelta(hours=1), client="c31").clone.likely_copy
    with workspace.session() as s:
        s.add_all(
            ScanRecord(id=f"{i:032x}", serial=serial, scanned_at=NOW + timedelta(days=1, seconds=i))
            for i in range(MAX_HISTORY + 20)
        )
    busy = scan(workspace, sealer, serial, NOW + timedelta(days=2))
    assert busy.count == 70 + MAX_HISTORY + 20 + 1
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
    assert {r.kind for r in v.records} == {
        "batch",
        "test_report",
        "cold_chain",
        "shipment",
    }  # commissioning is not shown
    body = view_json(v)
    assert body["all_verified"] is True and len(body["test_reports"]) == 2


def test_an_edited_record_is_invalid_at_the_next_scan(workspace: Workspace, packs: list[DigitalLink]) -> None:
    verifier = EventVerifier(workspace.chain())  # shared across scans, as the API shares it
    failing = next(r for r in view(workspace, verifier).tests if r.data.verdict == "fail")
    with workspace.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM event WHERE id = :i"), {"i": failing.event_id}).scalar_one()
    sql(
        workspace,
        "UPDATE event SET body = :b WHERE id = :i",
        b=body.replace('"value":1', '"value":0'),
        i=failing.event_id,
    )
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


def test_a_record_not_yet_anchored_is_pending(
    workspace: Workspace, packs: list[DigitalLink], record: Callable[..., list[object]], events: list[dict[str, object]]
) -> None:
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

"""Recording supplier events (cradletrace.recording) on SQLite and on PostgreSQL.

What a clerk meets: bad files refused with the field named and nothing stored, every problem
reported at once, and an event's digest that never changes on its way through the store.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.errors import InvalidEventError, NotAllowedError, TraceError
from cradletrace.store.models import (
    Certification,
    EventRow,
    Lot,
    LotInput,
    Product,
    ProductParty,
    Shipment,
    Supplier,
    SupplierKey,
)
from cradletrace.workspace import Workspace
from tests.conftest import NOW, add_demo_suppliers

Events = list[dict[str, Any]]
Sign = Callable[[Events], list[recording.Submission]]
Record = Callable[..., list[EventRow]]

# Indexes into the demo story: raw milk A, raw milk B, formula batch, passing report,
# failing report, shipment, cold chain.
RAW_A, RAW_B, BATCH, PASSING, FAILING, SHIPMENT, COLD = range(7)


SQLITE_ONLY = pytest.mark.parametrize("database_url", [None], ids=["sqlite"])  # rules that never reach the store


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """conftest's workspace without the anchor contract: recording never touches the chain."""
    with Workspace(settings, create=True) as ws:
        ws.create_schema()
        with ws.session() as s:
            add_demo_suppliers(s, settings.keys_dir)
        yield ws


# -- helpers ---------------------------------------------------------------------------------


def counts(ws: Workspace) -> dict[str, int]:
    """Rows of the recording's tables; of the events, the suppliers' (not the key log's records of the keys)."""
    with ws.session() as s:
        found = {m.__name__: s.exec(select(func.count()).select_from(m)).one() for m in (Lot, LotInput, Shipment)}
        return {"EventRow": s.exec(select(func.count()).where(EventRow.kind != "key")).one(), **found}


def submit(ws: Workspace, items: list[recording.Submission], now: datetime = NOW) -> list[EventRow]:
    with ws.session() as s:
        return recording.record_submissions(s, items, now)


def problem_lines(exc: TraceError) -> list[str]:
    """Every problem as the user reads it: 'events[3].data.lot: expected ...'."""
    if isinstance(exc, InvalidEventError):
        return [str(p) for p in exc.problems]
    return re.split(r"; (?=events\[)", str(exc))


def edited(events: Events, index: int, path: str, value: Any) -> Events:
    """A deep copy of ``events`` with ``events[index]`` at dotted ``path`` set to ``value``."""
    out = copy.deepcopy(events)
    node: Any = out[index]
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def with_item(
    items: list[recording.Submission], index: int, event: Any = None, signature: Any = "keep"
) -> list[recording.Submission]:
    old = items[index]
    new = recording.Submission(
        old.event if event is None else event, old.signature if signature == "keep" else signature
    )
    return [new if i == index else it for i, it in enumerate(items)]


def signed_by(keys_dir: Path, supplier_id: str, event: dict[str, Any]) -> str:
    """Sign ``event`` with the private key file of ``supplier_id`` (whatever its "key" field says)."""
    pem = next(keys_dir.glob(f"{supplier_id}.*.pem")).read_bytes()
    return signing.sign(signing.load_private_key(pem), canonical.canonical_bytes(event))


def reorder(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


# -- the demo records, and what it stores ----------------------------------------------------


def test_demo_events_record_with_computed_outcomes_and_genealogy(
    workspace: Workspace, events: Events, record: Record
) -> None:
    rows = record(events)

    assert [r.kind for r in rows] == ["batch", "batch", "batch", "test_report", "test_report", "shipment", "cold_chain"]
    assert [r.outcome for r in rows] == [None, None, None, "pass", "fail", None, "excursion"]
    assert counts(workspace) == {"EventRow": 7, "Lot": 3, "LotInput": 2, "Shipment": 1}
    with workspace.session() as s:
        lots = {lot.id: lot.lot for lot in s.exec(select(Lot))}
        edges = {(lots[e.lot_id], lots[e.input_lot_id]) for e in s.exec(select(LotInput))}
        shipment = s.exec(select(Shipment)).one()
        pending = s.exec(select(func.count()).where(EventRow.anchor_id.is_(None), EventRow.kind != "key")).one()  # type: ignore[union-attr]
    assert edges == {("IF-0001", "RM-A1"), ("IF-0001", "RM-B2")}
    assert (shipment.id, lots[shipment.lot_id]) == ("PCC-2026-0042", "IF-0001")
    assert pending == 7


def test_input_lots_recorded_in_an_earlier_submission_are_found(
    workspace: Workspace, events: Events, record: Record
) -> None:
    record(events[:BATCH])
    rows = record(events[BATCH:])

    assert len(rows) == 5
    assert counts(workspace)["LotInput"] == 2


# -- one canonical form: the digest survives the store, JSON, and both databases ----------


def test_digest_survives_a_round_trip_through_the_store(
    workspace: Workspace, events: Events, sign: Sign, record: Record
) -> None:
    items = sign(events)
    ids = [r.id for r in record(items)]

    with Session(workspace.engine) as s:  # a fresh session: rows come from the database, not the identity map
        rows = [s.get(EventRow, i) for i in ids]
    for item, row in zip(items, rows):
        assert row is not None
        again = canonical.canonical_bytes(json.loads(row.body))
        assert again == row.body.encode("utf-8")
        assert hashlib.sha256(again).hexdigest() == row.digest
        assert row.digest == canonical.digest_of(item.event).hex()
        assert signing.verify_signature(_public_key(workspace, row.key_id), again, row.signature)


def _public_key(ws: Workspace, key_id: str) -> bytes:
    with ws.session() as s:
        key = s.get(SupplierKey, key_id)
        assert key is not None
        return base64.b64decode(key.public_key)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "dump",
    [
        pytest.param(lambda v: json.dumps(v), id="compact"),
        pytest.param(lambda v: json.dumps(reorder(v), indent=2, ensure_ascii=True), id="reordered-indented-ascii"),
        pytest.param(
            lambda v: json.dumps(v, indent="\t", ensure_ascii=False, separators=(" , ", " : ")), id="spaced-unicode"
        ),
    ],
)
def test_digest_survives_a_round_trip_through_json(sign: Sign, events: Events, dump: Callable[[Any], str]) -> None:
    for item in sign(events):
        text = dump({"event": item.event, "signature": item.signature})
        (back,) = recording.load_submission(text.encode("utf-8"))
        assert canonical.digest_of(back.event) == canonical.digest_of(item.event)
        assert back.signature == item.signature


def test_a_signed_file_read_back_from_json_records(
    workspace: Workspace, events: Events, sign: Sign, record: Record
) -> None:
    items = sign(events)
    text = json.dumps([{"event": reorder(i.event), "signature": i.signature} for i in items], indent=2)
    rows = record(recording.load_submission(text))
    assert [r.digest for r in rows] == [canonical.digest_of(i.event).hex() for i in items]


def _awkward_report(events: Events) -> dict[str, Any]:
    """A test report whose numbers and text stress the canonical form (floats, astral plane, NUL)."""
    report = copy.deepcopy(events[PASSING])
    report["data"]["sampled_on"] = report["data"]["reported_on"]
    report["data"]["analytes"] = [
        {"name": "lead", "category": "heavy_metal", "value": 1e-7, "unit": "mg/kg", "method": "ICP-MS 🧪 (GB 5009.12)"},
        {
            "name": "cadmium",
            "category": "heavy_metal",
            "value": 0.1 + 0.2 - 0.3,
            "unit": "mg/kg",
            "limit": 0.01,
            "method": "ICP-MS, ñ, 漢字, \u00a0 nbsp",
        },  # (a NUL is refused: core/text.py)
        {
            "name": "Enterobacteriaceae",
            "category": "microbiology",
            "value": 0,
            "unit": "detections/10 g",
            "method": "ISO 21528-1 \u2028 line sep",
        },
        {
            "name": "vitamin D",
            "category": "nutrient",
            "value": 123456789.123,
            "unit": "µg/100 kcal",
            "limit": 1e21,
            "min": 5e-324,
            "method": "LC-MS/MS",
        },
    ]
    return report


@pytest.mark.postgres
def test_digest_is_identical_on_sqlite_and_postgresql(tmp_path: Path, postgres_url: str, events: Events) -> None:
    on_sqlite = Workspace(Settings(data_dir=tmp_path / "sqlite"), create=True)
    on_postgres = Workspace(Settings(data_dir=tmp_path / "pg", database_url=postgres_url), create=True)
    with on_sqlite, on_postgres:
        for ws in (on_sqlite, on_postgres):
            ws.create_schema()
        with on_sqlite.session() as s:
            add_demo_suppliers(s, on_sqlite.settings.keys_dir)
        with on_sqlite.session() as src, on_postgres.session() as dst:  # same suppliers and public keys on both
            for model in (Supplier, SupplierKey, Certification, Product, ProductParty):
                for row in src.exec(select(model)):
                    dst.merge(model(**row.model_dump()))
                dst.flush()
        with on_sqlite.session() as s:  # sign once
            items = recording.sign_submissions(
                recording.read_submissions([*events, _awkward_report(events)]),
                recording.key_loader(s, on_sqlite.settings.keys_dir),
                on_sqlite.limits,
            )
        ids = {ws: [r.id for r in submit(ws, items)] for ws in (on_sqlite, on_postgres)}
        stored = {}
        for ws in (on_sqlite, on_postgres):
            with Session(ws.engine) as s:
                stored[ws] = [
                    (row.digest, row.body, row.signature) for row in (s.get(EventRow, i) for i in ids[ws]) if row
                ]

    assert len(stored[on_sqlite]) == len(items) == 8
    assert stored[on_sqlite] == stored[on_postgres]
    for (digest, body, _), item in zip(stored[on_postgres], items):
        assert hashlib.sha256(canonical.canonical_bytes(json.loads(body))).hexdigest() == digest
        assert digest == canonical.digest_of(item.event).hex()


# -- bad input: the field named, what was expected said, nothing stored ---------------------


def _unknown_supplier(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)
    return with_item(items, RAW_A, {**items[RAW_A].event, "supplier": "nobody-here"})


def _missing_signature(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    return with_item(sign(ev), PASSING, signature=None)


def _edited_after_signing(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)
    event = copy.deepcopy(items[BATCH].event)
    event["data"]["quantity"] = 4100  # someone "corrects" the can count after the plant signed
    return with_item(items, BATCH, event)


def _garbage_signature(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    return with_item(sign(ev), BATCH, signature="c2lnbmVkIGF0IDIgYS5tLg==")


def _signed_by_another_supplier(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)  # the plant's event, with the plant's key id, but signed with the farm's key file
    return with_item(items, BATCH, signature=signed_by(keys, "waikato-dairy", items[BATCH].event))


def _another_suppliers_key_id(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)  # the plant's event claiming the farm's key, and signed with it
    event = {**items[BATCH].event, "key": items[RAW_A].event["key"]}
    return with_item(items, BATCH, event, signed_by(keys, "waikato-dairy", event))


def _duplicate_in_file(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)
    return [*items, items[PASSING]]


def _duplicate_in_file_keys_reordered(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)
    return [*items, recording.Submission(reorder(items[PASSING].event), items[PASSING].signature)]


def _duplicate_of_stored(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    items = sign(ev)
    record(items[:BATCH])
    return items[RAW_B:BATCH]


def _duplicate_lot(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    record(ev)  # the same lot again, as a "corrected" batch event with another quantity
    return sign(edited(ev, BATCH, "data.quantity", 4150)[BATCH : BATCH + 1])


def _duplicate_lot_in_file(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    return sign(
        edited(ev, RAW_B, "data.quantity", 17000)[:BATCH] + edited(ev, RAW_B, "data.lot", "RM-A1")[RAW_B : RAW_B + 1]
    )


def _duplicate_shipment(ev: Events, sign: Sign, record: Record, keys: Path) -> list[recording.Submission]:
    record(ev)
    return sign(edited(ev, SHIPMENT, "data.quantity", 2100)[SHIPMENT : SHIPMENT + 1])


def _events(change: Callable[[Events], Events]) -> Callable[..., list[recording.Submission]]:
    return lambda ev, sign, record, keys: sign(change(ev))


def _set(index: int, path: str, value: Any) -> Callable[..., list[recording.Submission]]:
    """The demo events signed, with ``events[index]`` at dotted ``path`` set to ``value``."""
    return _events(lambda ev: edited(ev, index, path, value))


def _lab_records_batch(ev: Events) -> Events:
    return [edited(ev, RAW_A, "supplier", "canterbury-lab")[RAW_A]]


# Rules decided from the event alone: checked on SQLite only.
BAD_EVENT = [
    # (id, build the submission, field path, message fragment)
    (
        "wrong GTIN check digit",
        _set(RAW_A, "data.product.gtin", "94219029600010"),
        "events[0].data.product.gtin",
        "check digit 9",
    ),
    (
        "GTIN-13 off the can",
        _set(RAW_A, "data.product.gtin", "9421902960001"),
        "events[0].data.product.gtin",
        "14 digits",
    ),
    ("GTIN as a number", _set(RAW_A, "data.product.gtin", 94219029600019), "events[0].data.product.gtin", "string"),
    (
        "expiry before production",
        _set(BATCH, "data.expires_on", "2026-11-01"),
        "events[2].data.expires_on",
        "after produced_on",
    ),
    (
        "report before sample",
        _set(PASSING, "data.reported_on", "2026-11-01"),
        "events[3].data.reported_on",
        "on or after sampled_on",
    ),
    (
        "received before shipped",
        _set(SHIPMENT, "data.received_at", "2026-11-01T00:00:00+00:00"),
        "events[5].data.received_at",
        "on or after shipped_at",
    ),
    (
        "readings out of time order",
        _events(lambda ev: edited(ev, COLD, "data.readings.3.at", ev[COLD]["data"]["readings"][2]["at"])),
        "events[6].data.readings[3].at",
        "expected a time after",
    ),
    ("reading hotter than physical", _set(COLD, "data.readings.3.c", 410.0), "events[6].data.readings[3].c", "100"),
    ("reading below absolute zero", _set(COLD, "data.readings.3.c", -300), "events[6].data.readings[3].c", "-100"),
    (
        "reading without time zone",
        _set(COLD, "data.readings.0.at", "2026-11-16T12:00:00"),
        "events[6].data.readings[0].at",
        "timezone",
    ),
    (
        "date written day-first",
        _set(RAW_A, "data.produced_on", "05/11/2026"),
        "events[0].data.produced_on",
        "YYYY-MM-DD",
    ),
    (
        "latitude out of range",
        _events(lambda ev: [edited(ev, RAW_A, "data.site", {**ev[RAW_A]["data"]["site"], "lat": 137.7})[RAW_A]]),
        "events[0].data.site.lat",
        "90",
    ),
    ("quantity as text", _set(RAW_A, "data.quantity", "18500"), "events[0].data.quantity", "number"),
    ("kind spelled like the spec", _set(PASSING, "kind", "test-report"), "events[3].kind", "test_report"),
    ("lot with a space", _set(RAW_A, "data.lot", "RM A1"), "events[0].data.lot", "GS1 characters"),
    (
        "same input lot twice",
        _events(lambda ev: edited(ev, BATCH, "data.inputs.1", ev[BATCH]["data"]["inputs"][0])),
        "events[2].data.inputs[1]",
        "once",
    ),
    ("verdict given in the input", _set(PASSING, "data.verdict", "pass"), "events[3].data.verdict", "no such field"),
    ("outcome given on the event", _set(COLD, "verdict", "ok"), "events[6].verdict", "no such field"),
    (
        "cold chain for lot and shipment",
        _events(lambda ev: edited(ev, COLD, "data.lot", ev[SHIPMENT]["data"]["lot"])),
        "events[6].data.lot/shipment",
        "exactly one",
    ),
    ("missing signature", _missing_signature, "events[3].signature", "signature"),
]

# Rules that need the store (suppliers, keys, lots, shipments, earlier events): both databases.
BAD_REFERENCE = [
    # (id, build the submission, field path, message fragment, error)
    ("unknown supplier", _unknown_supplier, "events[0].supplier", "registered supplier", InvalidEventError),
    ("edited after signing", _edited_after_signing, "events[2].signature", "does not verify", InvalidEventError),
    ("signature not base64", _garbage_signature, "events[2].signature", "does not verify", InvalidEventError),
    (
        "signed with another supplier's key",
        _signed_by_another_supplier,
        "events[2].signature",
        "alps-nutrition",
        InvalidEventError,
    ),
    (
        "another supplier's key id",
        _another_suppliers_key_id,
        "events[2]",
        "expected a key of supplier 'alps-nutrition'",
        InvalidEventError,
    ),
    ("duplicate in the same file", _duplicate_in_file, "events[7]", "duplicate of events[3]", InvalidEventError),
    (
        "duplicate with keys reordered",
        _duplicate_in_file_keys_reordered,
        "events[7]",
        "duplicate of events[3]",
        InvalidEventError,
    ),
    ("duplicate of a stored event", _duplicate_of_stored, "events[0]", "duplicate of stored event", InvalidEventError),
    (
        "input lot that does not exist",
        _set(BATCH, "data.inputs.1.lot", "RM-B3"),
        "events[2].data.inputs[1]",
        "RM-B3 which does not exist",
        InvalidEventError,
    ),
    (
        "batch before its raw lots",
        _events(lambda ev: ev[BATCH : BATCH + 1]),
        "events[0].data.inputs[0]",
        "expected a recorded lot",
        InvalidEventError,
    ),
    (
        "test report for an unknown batch",
        _events(lambda ev: edited(ev, FAILING, "data.batch", {**ev[FAILING]["data"]["batch"], "lot": "IF-0002"})),
        "events[4].data.batch",
        "IF-0002 which does not exist",
        InvalidEventError,
    ),
    (
        "cold chain for an unknown shipment",
        _set(COLD, "data.shipment", "PCC-2026-0043"),
        "events[6].data.shipment",
        "recorded shipment",
        InvalidEventError,
    ),
    ("duplicate lot", _duplicate_lot, "events[0].data.lot", "already recorded", InvalidEventError),
    (
        "duplicate lot in the same file",
        _duplicate_lot_in_file,
        "events[2].data.lot",
        "already recorded",
        InvalidEventError,
    ),
    ("duplicate shipment id", _duplicate_shipment, "events[0].data.id", "already recorded", InvalidEventError),
    ("lab records a batch", _events(_lab_records_batch), "events[0]", "role 'lab'", NotAllowedError),
    (
        "plant records a test report",
        _events(lambda ev: [*ev[:PASSING], edited(ev, FAILING, "supplier", "alps-nutrition")[FAILING]]),
        "events[3]",
        "expected one of lab",
        NotAllowedError,
    ),
    (
        "lab records a cold chain",
        _events(lambda ev: [edited(ev, COLD, "supplier", "canterbury-lab")[COLD]]),
        "events[0]",
        "expected one of logistics",
        NotAllowedError,
    ),
]


def _refused(
    ws: Workspace, items: list[recording.Submission], where: str, message: str, error: type[TraceError]
) -> None:
    before = counts(ws)

    with pytest.raises(error) as caught:
        submit(ws, items)

    lines = problem_lines(caught.value)
    assert any(line.startswith(f"{where}:") and message in line for line in lines), lines
    assert all("expected" in line for line in lines), lines
    assert counts(ws) == before


@SQLITE_ONLY
@pytest.mark.parametrize(("build", "where", "message"), [pytest.param(*case[1:], id=case[0]) for case in BAD_EVENT])
def test_bad_event_is_refused_naming_the_field_and_nothing_is_stored(
    workspace: Workspace,
    events: Events,
    sign: Sign,
    record: Record,
    build: Callable[..., list[recording.Submission]],
    where: str,
    message: str,
) -> None:
    _refused(workspace, build(events, sign, record, workspace.settings.keys_dir), where, message, InvalidEventError)


@pytest.mark.parametrize(
    ("build", "where", "message", "error"), [pytest.param(*case[1:], id=case[0]) for case in BAD_REFERENCE]
)
def test_bad_reference_is_refused_naming_the_field_and_nothing_is_stored(
    workspace: Workspace,
    events: Events,
    sign: Sign,
    record: Record,
    build: Callable[..., list[recording.Submission]],
    where: str,
    message: str,
    error: type[TraceError],
) -> None:
    _refused(workspace, build(events, sign, record, workspace.settings.keys_dir), where, message, error)


def test_every_problem_in_a_file_is_reported_at_once_in_file_order(
    workspace: Workspace, events: Events, sign: Sign
) -> None:
    ev = edited(events, PASSING, "data.reported_on", "2026-11-01")
    ev = edited(ev, SHIPMENT, "data.received_at", "2026-11-01T00:00:00+00:00")
    ev = edited(ev, COLD, "data.readings.3.c", 250)
    ev = edited(ev, COLD, "data.readings.0.at", "2026-11-16T12:00:00")
    items = with_item(sign(ev), FAILING, signature=None)
    before = counts(workspace)

    with pytest.raises(InvalidEventError) as caught:
        submit(workspace, items)

    wheres = [p.where for p in caught.value.problems]
    for expected in (
        "events[3].data.reported_on",
        "events[4].signature",
        "events[5].data.received_at",
        "events[6].data.readings[0].at",
        "events[6].data.readings[3].c",
    ):
        assert expected in wheres
    indexes = [int(w[7 : w.index("]")]) for w in wheres if w.startswith("events[")]
    assert indexes == sorted(indexes)
    assert counts(workspace) == before


def test_refusals_and_problems_are_reported_together(workspace: Workspace, events: Events, sign: Sign) -> None:
    ev = edited(events, COLD, "supplier", "canterbury-lab")
    ev = edited(ev, SHIPMENT, "data.received_at", "2026-11-01T00:00:00+00:00")

    with pytest.raises(InvalidEventError) as caught:
        submit(workspace, sign(ev))

    text = str(caught.value)
    assert "events[5].data.received_at" in text
    assert "events[6]: supplier 'canterbury-lab' has role 'lab'" in text
    assert counts(workspace)["EventRow"] == 0


@SQLITE_ONLY
def test_one_bad_event_is_not_blamed_on_the_events_that_use_it(
    workspace: Workspace, events: Events, sign: Sign
) -> None:
    # The farm's first raw lot has its dates swapped. The formula batch that consumes RM-A1 is
    # fine; telling the clerk "RM-A1 does not exist" while it sits two events up sends them
    # looking for the wrong mistake.
    ev = edited(events, RAW_A, "data.expires_on", events[RAW_A]["data"]["produced_on"])

    with pytest.raises(InvalidEventError) as caught:
        submit(workspace, sign(ev))

    assert [p.where for p in caught.value.problems if p.where.startswith("events[0]")] == ["events[0].data.expires_on"]
    misleading = [str(p) for p in caught.value.problems if "does not exist" in p.message and "RM-A1" in p.message]
    assert misleading == []


def test_unsigned_events_without_sign_are_refused_for_their_missing_signature(
    workspace: Workspace, events: Events
) -> None:
    # The clerk forgot --sign: bare events have no "key" and no analyte limits yet. The answer
    # they need is "this event is not signed (use --sign)", once per event, not a list of
    # missing keys and limits that signing would have filled in.
    with pytest.raises(InvalidEventError) as caught:
        submit(workspace, recording.read_submissions(events))

    wheres = [p.where for p in caught.value.problems]
    assert [f"events[{i}].signature" for i in range(len(events))] == [w for w in wheres if w.endswith(".signature")], (
        wheres
    )
    assert "--sign" in str(caught.value)
    assert counts(workspace)["EventRow"] == 0


@SQLITE_ONLY
def test_signing_for_an_unknown_supplier_names_the_field(events: Events, sign: Sign) -> None:
    ev = edited(events, RAW_B, "supplier", "waikato-diary")  # typo of waikato-dairy

    with pytest.raises((InvalidEventError, NotAllowedError)) as caught:
        sign(ev)

    text = str(caught.value)
    assert "events[1].supplier" in text
    assert "waikato-diary" in text
    assert "rotate-key" not in text  # an unregistered supplier has no key to rotate


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(b"[]", "events", id="empty list"),
        pytest.param(b"[42]", "events[0]", id="not an object"),
        pytest.param(b'{"event": {}, "sig": "AAAA"}', "events[0]", id="misspelled signature"),
        pytest.param(b'{"event": {}, "signature": 7}', "events[0].signature", id="signature not text"),
        pytest.param(b'{"kind": "batch", "kind": "shipment"}', "kind", id="duplicate key"),
        pytest.param(b'[{"kind": "batch",}]', "line 1 column 19", id="trailing comma"),
        pytest.param(b'{"kind": NaN}', "", id="NaN"),
        pytest.param(b'["\xe9"]', "", id="not UTF-8"),
    ],
)
def test_unreadable_submissions_are_refused_naming_where(text: bytes, where: str) -> None:
    with pytest.raises(InvalidEventError if where.startswith("events") else TraceError) as caught:
        recording.load_submission(text)
    assert caught.value.problems[0].where == where  # type: ignore[attr-defined]
    assert "expected" in str(caught.value)


# -- verdicts are computed, never taken from input -------------------------------------------


def _report(events: Events, analytes: list[dict[str, Any]]) -> Events:
    return edited(events, PASSING, "data.analytes", analytes)[:FAILING]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("analyte", "outcome"),
    [
        pytest.param({"name": "lead", "value": 0.02}, "pass", id="lead at the limit"),
        pytest.param({"name": "lead", "value": 0.021}, "fail", id="lead over the limit"),
        pytest.param(
            {"name": "Salmonella", "value": 0, "unit": "detections/25 g", "category": "microbiology"},
            "pass",
            id="not detected",
        ),
        pytest.param(
            {"name": "Salmonella", "value": 1, "unit": "detections/25 g", "category": "microbiology"},
            "fail",
            id="detected",
        ),
        pytest.param({"name": "lead", "value": 0.015, "limit": 0.01}, "fail", id="lab's own stricter limit"),
        pytest.param(
            {"name": "vitamin D", "value": 1.5, "limit": 3, "min": 2, "category": "nutrient", "unit": "µg/100 kcal"},
            "fail",
            id="under the minimum",
        ),
    ],
)
def test_test_report_outcome_is_computed_from_values_and_limits(
    workspace: Workspace,
    events: Events,
    record: Record,
    analyte: dict[str, Any],
    outcome: str,
) -> None:
    full = {"category": "heavy_metal", "unit": "mg/kg", "method": "ICP-MS", **analyte}
    ok = {"name": "melamine", "category": "contaminant", "value": 0.05, "unit": "mg/kg", "method": "LC-MS/MS"}
    rows = record(_report(events, [ok, full]))
    assert rows[-1].outcome == outcome


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("temps", "allowed", "outcome"),
    [
        pytest.param([4.0, 5.0, 8.0, 2.0], (2, 8), "ok", id="touching both bounds"),
        pytest.param([4.0, 8.1, 5.0], (2, 8), "excursion", id="one reading too warm"),
        pytest.param([4.0, 1.9, 5.0], (2, 8), "excursion", id="one reading too cold"),
        pytest.param([-18.5, -19.0], (-25, -15), "ok", id="frozen goods"),
    ],
)
def test_cold_chain_outcome_is_computed_from_readings(
    workspace: Workspace,
    events: Events,
    record: Record,
    temps: list[float],
    allowed: tuple[float, float],
    outcome: str,
) -> None:
    t0 = NOW - timedelta(days=9)
    cold = edited(
        events,
        COLD,
        "data.readings",
        [{"at": (t0 + timedelta(minutes=15 * i)).isoformat(), "c": c} for i, c in enumerate(temps)],
    )
    cold = edited(cold, COLD, "data.range", {"min_c": allowed[0], "max_c": allowed[1]})
    rows = record(cold)
    assert rows[COLD].outcome == outcome


# -- limits are filled from the table before signing -----------------------------------------


def test_signing_fills_missing_limits_from_the_table_into_the_signed_event(
    workspace: Workspace, events: Events, sign: Sign, record: Record
) -> None:
    items = sign(events)
    analytes = {a["name"]: a for a in items[PASSING].event["data"]["analytes"]}  # type: ignore[index]

    assert {n: a.get("limit") for n, a in analytes.items()} == {
        "lead": 0.02,
        "melamine": 1,
        "aflatoxin M1": 0.025,
        "Salmonella": 0,
        "aerobic plate count": None,  # a sampling plan: its own criterion, nothing filled in
    }
    rows = record(items)
    stored = {a["name"]: a.get("limit") for a in json.loads(rows[PASSING].body)["data"]["analytes"]}
    assert stored["lead"] == 0.02 and rows[PASSING].outcome == "pass"


@SQLITE_ONLY
def test_signing_keeps_a_limit_the_lab_gave_and_matches_names_regardless_of_case(events: Events, sign: Sign) -> None:
    ev = _report(
        events,
        [
            {
                "name": "lead",
                "category": "heavy_metal",
                "value": 0.01,
                "unit": "mg/kg",
                "limit": 0.05,
                "method": "ICP-MS",
            },
            {"name": "CADMIUM", "category": "heavy_metal", "value": 0.001, "unit": "mg/kg", "method": "ICP-MS"},
        ],
    )
    analytes = sign(ev)[PASSING].event["data"]["analytes"]  # type: ignore[index]
    assert [a["limit"] for a in analytes] == [0.05, 0.01]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("analyte", "where", "message"),
    [
        pytest.param(
            {"name": "unobtainium", "unit": "mg/kg"},
            "events[3].data.analytes[1].limit",
            "'unobtainium'",
            id="unknown analyte",
        ),
        pytest.param(
            {"name": "lead", "unit": "µg/kg"},
            "events[3].data.analytes[1].unit",
            "'mg/kg'",
            id="unit differs from the table",
        ),
    ],
)
def test_signing_refuses_an_analyte_the_table_cannot_fill(
    workspace: Workspace,
    events: Events,
    sign: Sign,
    analyte: dict[str, Any],
    where: str,
    message: str,
) -> None:
    ok = {"name": "melamine", "category": "contaminant", "value": 0.05, "unit": "mg/kg", "method": "LC-MS/MS"}
    ev = _report(events, [ok, {"category": "contaminant", "value": 0.1, "method": "?", **analyte}])

    with pytest.raises(InvalidEventError) as caught:
        sign(ev)

    assert any(p.where == where and message in p.message for p in caught.value.problems), caught.value.problems
    assert counts(workspace)["EventRow"] == 0

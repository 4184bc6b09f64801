"""The rows a scan page is built from: the lot's events, its input lots' batch events and its
shipments' cold-chain records, each with what its verdict depends on (anchor batch, signing key,
supplier). Also used inside the PostgreSQL scan statement (``postgres``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, cast, union
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from cradletrace.keylog import KeyHistory, key_records
from cradletrace.store.models import AnchorBatch, EventRow, Lot, LotInput, Shipment, Supplier, SupplierKey


@dataclass(frozen=True)
class ScanLot:
    """What a scan needs of a lot row to gather its records."""

    id: int
    gtin: str
    lot: str
    product: str
    event_id: int


# Each shown event with exactly what its verdict depends on: its own columns, its anchor batch,
# its signing key and its supplier. A cached view is reused only while these come back equal.
_SHOWN_COLUMNS = (
    EventRow.id,
    EventRow.kind,
    EventRow.digest,
    EventRow.supplier_id,
    EventRow.key_id,
    EventRow.body,
    EventRow.signature,
    EventRow.anchor_id,
    EventRow.proof,
    AnchorBatch.id,
    AnchorBatch.root,
    AnchorBatch.leaf_count,
    AnchorBatch.status,
    AnchorBatch.tx_hash,
    AnchorBatch.block_number,
    AnchorBatch.chain_id,
    AnchorBatch.contract,
    AnchorBatch.block_time,
    SupplierKey.public_key,
    Supplier.name,
    Supplier.role,
)


@dataclass(frozen=True)
class Rows:
    """The shown events' rows (``_SHOWN_COLUMNS`` each) and the key log's records of the keys that
    signed them (keylog.key_records), which each record's proof bundle carries (step 5), and the
    capture requests that signed captured ones."""

    events: tuple[tuple[Any, ...], ...]
    keys: tuple[tuple[str, KeyHistory], ...]
    # signature column -> the bundle's ``capture`` of each record an EPCIS capture request signed
    # (epcis/binding.capture_proofs, without the body: the page carries each record's bundle inline)
    captures: tuple[tuple[str, dict[str, Any]], ...] = ()


# Built once (every scan runs them). Two round trips: the lot's shipments, then the events
# shown: the lot's own, its input lots' batch events and its shipments' cold-chain records.
# Every branch of the union is an index lookup, also in the generic plan PostgreSQL settles on
# for a prepared statement (a subquery for the shipments let it pick a merge join that walked
# the whole ref index: 100 ms). Commissioning events (up to 10 000 serials each, many per lot)
# are not shown: reading and parsing them made a scan of a large lot cost tens of ms.
def shown_ids(event_id: Any, gtin: Any, lot: Any, lot_id: Any, shipments: Any) -> Any:
    """The ids of the events a scan shows: the lot's batch event (``event_id``), the lot's own events
    but its commissioning, its input lots' batch events, the cold-chain records of ``shipments``
    (the lot's shipment ids), and the corrections (corrections.py) of any of those, found by the
    corrected digest in their ``ref``. Each argument is a value or a column."""
    shown = union(
        select(cast(event_id, Integer)),
        select(EventRow.id).where(EventRow.gtin == gtin, EventRow.lot == lot, EventRow.kind != "commission"),
        select(Lot.event_id).join(LotInput, col(LotInput.input_lot_id) == col(Lot.id)).where(LotInput.lot_id == lot_id),
        select(EventRow.id).where(EventRow.kind == "cold_chain", col(EventRow.ref).in_(shipments)),
    ).subquery()
    corrected, fix = aliased(EventRow), aliased(EventRow)
    fixes = (
        select(fix.id)
        .join(corrected, col(corrected.digest) == col(fix.ref))
        .where(fix.kind == "correction", col(corrected.id).in_(select(shown.c[0])))
    )
    return union(select(shown.c[0]), fixes)


def with_verdict_inputs(columns: Sequence[Any], ids: Any) -> Any:
    """``columns`` of the events ``ids`` joined to what their verdicts depend on, by event id."""
    return (
        select(*columns)
        .outerjoin(AnchorBatch, col(AnchorBatch.id) == col(EventRow.anchor_id))
        .outerjoin(SupplierKey, col(SupplierKey.key_id) == col(EventRow.key_id))
        .outerjoin(Supplier, col(Supplier.id) == col(EventRow.supplier_id))
        .where(col(EventRow.id).in_(ids))
    )


_SHIPMENTS = select(Shipment.id).where(Shipment.lot_id == bindparam("lot_id"))
_SHOWN = with_verdict_inputs(
    _SHOWN_COLUMNS,
    shown_ids(
        bindparam("event_id"),
        bindparam("gtin"),
        bindparam("lot"),
        bindparam("lot_id"),
        bindparam("shipments", expanding=True),
    ),
).order_by(col(EventRow.id))


def fetch_rows(conn: Connection, lot: ScanLot, shipments: Sequence[str] | None = None) -> Rows:
    """The stored rows behind the page of ``lot``, each event with its batch, key and supplier,
    and the key log's records of those keys (one more round trip).

    ``shipments`` (the lot's shipment ids) saves a round trip when the caller read them already.
    """
    if shipments is None:
        shipments = conn.execute(_SHIPMENTS, {"lot_id": lot.id}).scalars().all()
    found = conn.execute(
        _SHOWN,
        {"event_id": lot.event_id, "gtin": lot.gtin, "lot": lot.lot, "lot_id": lot.id, "shipments": list(shipments)},
    ).all()
    return _rows(conn, found)


def _rows(conn: Connection, found: Sequence[Any]) -> Rows:
    """``found`` with its keys' records and its captured records' capture material (a round trip each, when any)."""
    from cradletrace.epcis.binding import capture_proofs

    keys = key_records(conn, {r.key_id for r in found}) if found else {}
    captures = capture_proofs(conn, [r.signature for r in found])
    return Rows(tuple(tuple(r) for r in found), tuple(sorted(keys.items())), tuple(sorted(captures.items())))


_BY_IDS = with_verdict_inputs(_SHOWN_COLUMNS, bindparam("ids", expanding=True)).order_by(col(EventRow.id))


def fetch_events(conn: Connection, ids: Sequence[int]) -> Rows:
    """The rows of the events ``ids`` with what their verdicts depend on, and their keys' records:
    what the pallet and case pages (logistics.py) verify, as the can's page does its lot's."""
    if not ids:
        return Rows((), ())
    found = conn.execute(_BY_IDS, {"ids": list(ids)}).all()
    return _rows(conn, found)

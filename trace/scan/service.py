"""One scan of a pack, start to finish: find the item, verify its lot's records, read the lot's
recall and hold, count the scan.

This is the hottest path of the product (every parent, every pack). Two ways, one result:

* ``scan_item`` (SQLite, and the fallback): one pooled connection in autocommit mode with plain
  column queries: the item and its lot, the lot's rows (the verified view is reused while they
  come back identical, see cache.ViewCache), the lot's status, then the scan's insert and
  history. No transaction spans them: each statement stands alone, and the only write is the
  scan's own row, made after the view was verified.
* ``postgres.PgScanner`` (PostgreSQL): one statement per scan from the event loop, the view reused while
  a stamp of its rows' versions is unchanged (see below). A scan is counted only under the
  stamp its view was verified for, so it is never counted for a page that could not be shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from cradletrace.recall.status import NO_STATUS, LotStatus, lot_flags, lot_status
from cradletrace.scan.cache import ViewCache
from cradletrace.scan.history import ScanSummary, record_scan
from cradletrace.scan.logistics import Carrier
from cradletrace.scan.queries import ScanLot
from cradletrace.scan.view import ScanView, view_json
from cradletrace.sealing import Sealer
from cradletrace.store.models import Item, Lot, Shipment
from cradletrace.verification import EventVerifier


@dataclass(frozen=True)
class ScanResult:
    serial: str
    view: ScanView  # shared between scans of the lot: never changed
    memo: dict[Any, Any]  # renderings of ``view``, kept with it
    status: LotStatus
    scans: ScanSummary


def _item_query(shipments: Any) -> Any:
    """The item and its lot, whether the lot is recalled or held, and the lot's shipment ids
    (``shipments``: an aggregate of Shipment.id, which each database spells its own way)."""
    return (
        select_columns(
            col(Item.gtin),
            col(Lot.id),
            col(Lot.lot),
            col(Lot.product),
            col(Lot.event_id),
            *(flag.label(name) for flag, name in zip(lot_flags(Lot.id), ("recalled", "held"))),
            select(shipments).where(Shipment.lot_id == Lot.id).scalar_subquery().label("shipments"),
        )
        .join(Lot, col(Lot.id) == col(Item.lot_id))
        .where(col(Item.serial) == bindparam("serial"))
    )


_ITEM = {
    "postgresql": _item_query(func.array_agg(Shipment.id)),
    "sqlite": _item_query(func.json_group_array(Shipment.id)),
}


def _shipment_ids(value: Any) -> list[str]:
    if value is None:  # PostgreSQL's array_agg of no rows
        return []
    return list(value) if isinstance(value, list) else list(json.loads(value))


def scan_item(
    engine: Engine,
    verifier: EventVerifier,
    views: ViewCache,
    sealer: Sealer,
    gtin: str,
    lot: str,
    serial: str,
    now: datetime,
    client: str | None = None,
) -> ScanResult | None:
    """The scan of ``gtin``/``lot``/``serial`` by ``client`` (history.client_id; counted), or None
    when no such item was issued.

    ``engine`` should be in autocommit mode (``engine.execution_options(isolation_level="AUTOCOMMIT")``).
    """
    with engine.connect() as conn:
        found = conn.execute(_ITEM[conn.dialect.name], {"serial": serial}).first()
        if found is None or found.gtin != gtin or found.lot != lot:
            return None
        ref = ScanLot(int(found.id), gtin, lot, found.product, int(found.event_id))
        view, memo = views.view(conn, verifier, ref, _shipment_ids(found.shipments))
        status = lot_status(conn, ref.id) if found.recalled or found.held else NO_STATUS
        scans = record_scan(conn, sealer, serial, now, client)
        conn.commit()  # a no-op in autocommit mode; commits the scan otherwise
    return ScanResult(serial, view, memo, status, scans)


def scan_json(
    result: ScanResult, chain: Mapping[str, object] | None = None, travelled: Sequence[Carrier] = ()
) -> bytes:
    """The JSON answer: the lot's part serialized once per view, this scan's part per call.

    ``chain`` (api.runtime.Runtime.chain_facts) tells a phone where to check the anchors itself;
    ``travelled`` (logistics.travelled_in) the case and pallet the can was packed in."""
    lot_part: bytes | None = result.memo.get("json")
    if lot_part is None:
        whole = view_json(result.view)
        del whole["serial"]
        lot_part = result.memo["json"] = json.dumps(whole, ensure_ascii=False).encode()
    s, status = result.scans, result.status
    head = {
        "serial": result.serial,
        "recall": status.recall,
        "hold": status.hold,
        "scans": {
            "count": s.count,
            "first_on": s.first_at.date().isoformat(),
            "first_elsewhere": s.first_elsewhere,
            "likely_copy": s.clone.likely_copy,
            "reason": s.clone.reason,
            "scan_id": s.scan_id,
        },
        "travelled_in": [c.as_json() for c in travelled],
        **({"chain": dict(chain)} if chain is not None else {}),
    }
    return json.dumps(head, ensure_ascii=False).encode()[:-1] + b"," + lot_part[1:]

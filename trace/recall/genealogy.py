"""Genealogy: which lots, items, shipments and sites a problem reaches, and what stands behind an item.

Both directions walk ``lot_input`` level by level with one query per level, never one query
per lot or per item: a forward trace from a raw lot is a few dozen index lookups however many
items hang below it. Items, scans and shipments are then counted or read per set of lots, each
set bound as one parameter (``id_set``); bench/bench_trace.py measures it on a 1 000 000-item
graph. Each lot carries one shortest path from a start lot (breadth-first), which is the answer
to "why is this lot affected".

Shipment sites and times are read from the shipment events' stored canonical JSON (only for the
affected lots' shipments); the ``shipment`` table has no site columns, so existing stores need
no migration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, and_, func, literal, literal_column, or_
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from cradletrace.corrections import declarations
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.events import lookup_event
from cradletrace.recall.unittrace import NO_UNITS, UnitReach, reach, unit_code, unit_lots
from cradletrace.store.db import chunks
from cradletrace.store.models import EventRow, Item, Lot, LotInput, ScanRecord, Shipment, Supplier

MAX_GENERATIONS = 64  # the recorder refuses cycles within one batch; this bounds any that slipped through
LotKey = tuple[str, str]  # (gtin, lot)


def parse_gtin_lot(value: str, field_name: str = "lot") -> LotKey:
    """``GTIN/LOT`` as typed on the command line; split at the first slash (a GTIN has none)."""
    gtin, sep, lot = value.partition("/")
    if not sep or not re.fullmatch(r"\d{14}", gtin) or not lot:
        raise InvalidInputError(
            Problem(field_name, f"expected GTIN/LOT (14 digits, a slash, the lot code), got {value!r}")
        )
    return gtin, lot


def _key_json(key: LotKey) -> dict[str, str]:
    return {"gtin": key[0], "lot": key[1]}


def id_set(session: Session, ids: Iterable[int]) -> SelectOfScalar[int]:
    """A set of ids as a subquery with ONE bound parameter: ``unnest(int[])`` on PostgreSQL,
    ``json_each(text)`` on SQLite.

    Not ``IN (:a, :b, ...)``: a whole supplier's trace binds tens of thousands of values, each
    costing Python time, and needs chunks, each of which repeats the table scans PostgreSQL's
    planner picks for a long literal list (the scan table, the event table). Behind ``unnest``
    the planner expects a small set and probes the indexes: a raw lot's trace took half the time.
    (SQLite's ``json_each`` is built in since 3.38.) Use it as ``col(X.lot_id).in_(id_set(s, ids))``.
    """
    values = sorted({int(i) for i in ids})
    if session.get_bind().dialect.name == "postgresql":
        return select(func.unnest(literal(values, ARRAY(Integer))))
    return select(literal_column("value", Integer)).select_from(func.json_each(literal(json.dumps(values))))


@dataclass(frozen=True)
class TracedLot:
    """One lot reached by a trace; ``path`` runs from a start lot to this one (``depth`` steps)."""

    id: int
    gtin: str
    lot: str
    product: str
    supplier_id: str
    depth: int
    path: tuple[LotKey, ...]
    items: int = 0
    scanned_items: int = 0
    shipments: int = 0
    now_at: str | None = None  # destination of the lot's latest shipment

    @property
    def key(self) -> LotKey:
        return (self.gtin, self.lot)

    def to_json(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "lot": self.lot,
            "product": self.product,
            "supplier": self.supplier_id,
            "depth": self.depth,
            "path": [_key_json(k) for k in self.path],
            "items": self.items,
            "scanned_items": self.scanned_items,
            "shipments": self.shipments,
            "now_at": self.now_at,
        }


@dataclass(frozen=True)
class ShipmentLeg:
    id: str
    gtin: str
    lot: str
    from_site: str
    to_site: str
    shipped_at: str
    received_at: str | None
    quantity: float
    unit: str
    event_id: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gtin": self.gtin,
            "lot": self.lot,
            "from_site": self.from_site,
            "to_site": self.to_site,
            "shipped_at": self.shipped_at,
            "received_at": self.received_at,
            "quantity": self.quantity,
            "unit": self.unit,
            "event_id": self.event_id,
        }


@dataclass(frozen=True)
class Start:
    """What a trace started from: ``kind`` is lot, supplier, event, site_window, serial, or (backward)
    case or pallet (``value`` its code, ``00/<SSCC>`` or ``01/<GTIN>/21/<serial>``)."""

    kind: str
    value: str
    lots: tuple[LotKey, ...]
    event_kind: str | None = None
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "value": self.value, "lots": [_key_json(k) for k in self.lots]}
        if self.event_kind is not None:
            out.update(event_kind=self.event_kind, outcome=self.outcome)
        return out


@dataclass(frozen=True)
class VoidBatch:
    """A lot whose batch event its maker declared ``did_not_occur`` (corrections.py): the inputs that
    event named are no edges of the genealogy, so a trace does not cross them, and says so."""

    gtin: str
    lot: str
    correction: str  # the digest of the signed correction

    def to_json(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "lot": self.lot, "reason": "did_not_occur", "correction": self.correction}


@dataclass(frozen=True)
class ForwardTrace:
    """Everything downstream of the start: lots (with why), items, shipments, sites, scans, and the
    cases, pallets and orders holding or selling the lots' cans (``units``)."""

    start: Start
    lots: tuple[TracedLot, ...]
    shipments: tuple[ShipmentLeg, ...]
    sites: tuple[str, ...]  # distinct destinations of each lot's latest shipment
    items: int
    scanned_items: int  # distinct affected codes scanned by consumers at least once
    scans: int
    units: UnitReach = NO_UNITS
    void: tuple[VoidBatch, ...] = ()  # batches met whose inputs were not followed

    @property
    def lot_ids(self) -> tuple[int, ...]:
        return tuple(lot.id for lot in self.lots)

    def to_json(self, orders: bool = False) -> dict[str, Any]:
        """``orders``: also list the orders (quality staff's view, unittrace.py); counts are always there."""
        out: dict[str, Any] = {
            "direction": "forward",
            "start": self.start.to_json(),
            "lots": [lot.to_json() for lot in self.lots],
            "shipments": [s.to_json() for s in self.shipments],
            "sites": list(self.sites),
            "cases": [c.to_json() for c in self.units.cases],
            "pallets": [p.to_json() for p in self.units.pallets],
            "counts": {
                "lots": len(self.lots),
                "items": self.items,
                "shipments": len(self.shipments),
                "sites": len(self.sites),
                "scanned_items": self.scanned_items,
                "scans": self.scans,
                **self.units.counts(),
            },
            "not_followed": [v.to_json() for v in self.void],
        }
        if orders:
            out["orders"] = [o.to_json() for o in self.units.orders]
        return out


@dataclass(frozen=True)
class SupplierRef:
    id: str
    name: str
    role: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role}


@dataclass(frozen=True)
class EvidenceRecord:
    """A test report or cold-chain record behind a lot; ``verdict`` is the stored computed outcome."""

    event_id: int
    kind: str
    gtin: str | None
    lot: str | None
    shipment: str | None
    supplier_id: str
    verdict: str | None
    lab: str | None = None
    logger: str | None = None
    corrected: str | None = None  # the reason its recorder declared it wrong (corrections.py), if it did

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class BackwardTrace:
    """Everything upstream of the start: input lots (with path), suppliers, tests, cold chain."""

    start: Start
    lots: tuple[TracedLot, ...]
    suppliers: tuple[SupplierRef, ...]
    test_reports: tuple[EvidenceRecord, ...]
    cold_chain: tuple[EvidenceRecord, ...]
    void: tuple[VoidBatch, ...] = ()  # batches met whose inputs were not followed

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": "backward",
            "start": self.start.to_json(),
            "lots": [lot.to_json() for lot in self.lots],
            "suppliers": [s.to_json() for s in self.suppliers],
            "test_reports": [r.to_json() for r in self.test_reports],
            "cold_chain": [r.to_json() for r in self.cold_chain],
            "counts": {
                "lots": len(self.lots),
                "suppliers": len(self.suppliers),
                "test_reports": len(self.test_reports),
                "cold_chain": len(self.cold_chain),
            },
            "not_followed": [v.to_json() for v in self.void],
        }


@dataclass
class _Walk:
    depth: dict[int, int] = field(default_factory=dict)
    parent: dict[int, int | None] = field(default_factory=dict)
    void: dict[int, str] = field(default_factory=dict)  # lot id -> correction digest: inputs not followed


def _walk(session: Session, starts: Iterable[int], *, forward: bool) -> _Walk:
    """Breadth-first over lot_input from ``starts``: consumers (forward) or inputs (backward)."""
    src, dst = (
        (col(LotInput.input_lot_id), col(LotInput.lot_id))
        if forward
        else (col(LotInput.lot_id), col(LotInput.input_lot_id))
    )
    walk = _Walk()
    frontier = sorted(set(starts))
    for lid in frontier:
        walk.depth[lid], walk.parent[lid] = 0, None
    level = 0
    while frontier and level < MAX_GENERATIONS:
        level += 1
        found = session.exec(select(src, dst).where(src.in_(id_set(session, frontier)))).all()
        # An edge is the batch event of its lot_id (the consumer); one declared did_not_occur is none.
        walk.void.update(_void_batches(session, {child if forward else parent for parent, child in found}))
        nxt: list[int] = []
        for parent, child in sorted(found):
            if (child if forward else parent) in walk.void:
                continue
            if child not in walk.depth:
                walk.depth[child], walk.parent[child] = level, parent
                nxt.append(child)
        frontier = nxt
    return walk


def _void_batches(session: Session, lot_ids: Iterable[int]) -> dict[int, str]:
    """Of ``lot_ids``, the lots whose batch event was declared did_not_occur -> the correction's digest.
    Through the event table's ``ref`` index: a correction's ``ref`` is the digest it corrects."""
    wanted = sorted(set(lot_ids))
    if not wanted:
        return {}
    batch, fix = aliased(EventRow), aliased(EventRow)
    return {
        int(lid): digest
        for lid, digest in session.execute(
            select_columns(col(Lot.id), col(fix.digest))
            .join(batch, col(batch.id) == col(Lot.event_id))
            .join(fix, col(fix.ref) == col(batch.digest))
            .where(
                col(Lot.id).in_(id_set(session, wanted)),
                col(fix.kind) == "correction",
                col(fix.outcome) == "did_not_occur",
            )
        ).all()
    }


def _void(session: Session, walk: _Walk) -> tuple[VoidBatch, ...]:
    """The void batches the walk met (a forward walk does not reach them: their lots are read here)."""
    if not walk.void:
        return ()
    keys = session.execute(
        select_columns(col(Lot.id), col(Lot.gtin), col(Lot.lot)).where(col(Lot.id).in_(list(walk.void)))
    )
    return tuple(
        sorted((VoidBatch(g, lo, walk.void[int(i)]) for i, g, lo in keys.all()), key=lambda v: (v.gtin, v.lot))
    )


@dataclass(frozen=True)
class _LotRow:
    gtin: str
    lot: str
    product: str
    supplier_id: str


def _lots(session: Session, walk: _Walk) -> dict[int, _LotRow]:
    rows: dict[int, _LotRow] = {}
    for lid, gtin, lot, product, sup in session.execute(
        select_columns(col(Lot.id), col(Lot.gtin), col(Lot.lot), col(Lot.product), col(Lot.supplier_id)).where(
            col(Lot.id).in_(id_set(session, walk.depth))
        )
    ).all():
        rows[int(lid)] = _LotRow(gtin, lot, product, sup)
    return rows


def _path(walk: _Walk, rows: dict[int, _LotRow], lid: int) -> tuple[LotKey, ...]:
    """Start lot first, ``lid`` last."""
    chain: list[LotKey] = []
    cur: int | None = lid
    while cur is not None:
        chain.append((rows[cur].gtin, rows[cur].lot))
        cur = walk.parent[cur]
    return tuple(reversed(chain))


def _find_lot(session: Session, key: LotKey, field_name: str = "lot") -> int:
    lid = session.exec(select(Lot.id).where(Lot.gtin == key[0], Lot.lot == key[1])).first()
    if lid is None:
        raise NotFoundError(f"{field_name}: expected a recorded lot, got {key[0]}/{key[1]} which does not exist")
    return int(lid)


def _event_row(session: Session, event: str | int) -> EventRow:
    """The event a trace or recall starts from, found as every command finds one (``events.lookup_event``)."""
    row = lookup_event(session, event)
    if row is None:
        raise NotFoundError(f"event: expected a recorded event, got {str(event).strip()!r} which does not exist")
    return row


def _event_start(session: Session, event: str | int) -> tuple[Start, list[int]]:
    row = _event_row(session, event)
    if row.kind not in ("test_report", "cold_chain"):
        raise InvalidInputError(
            Problem("event", f"expected a test report or a cold-chain record, got a {row.kind} event ({row.id})")
        )
    if row.gtin is not None and row.lot is not None:
        lid = _find_lot(session, (row.gtin, row.lot), "event")
    else:  # a cold-chain record of a shipment: its lot is the shipment's
        found = session.exec(select(Shipment.lot_id).where(Shipment.id == row.ref)).first()
        if found is None:
            raise NotFoundError(f"event: its shipment {row.ref!r} is not recorded")
        lid = int(found)
    key = session.exec(select(Lot.gtin, Lot.lot).where(Lot.id == lid)).one()
    return Start("event", str(row.id), ((key[0], key[1]),), row.kind, row.outcome), [lid]


def _site_window_lots(session: Session, site: str, start: date, end: date) -> list[int]:
    """Lots produced at ``site`` (the batch event's site name) between ``start`` and ``end`` inclusive.

    There is no site column: batch events are pre-filtered with LIKE on the canonical body, then read.
    """
    if end < start:
        raise InvalidInputError(Problem("site_window", f"expected the end ({end}) on or after the start ({start})"))
    needle = json.dumps(site, ensure_ascii=False)[1:-1]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    out: list[int] = []
    for lid, body in session.exec(
        select(Lot.id, EventRow.body)
        .join(EventRow, col(EventRow.id) == col(Lot.event_id))
        .where(EventRow.kind == "batch", col(EventRow.body).like(pattern, escape="\\"))
    ).all():
        data = json.loads(body)["data"]
        if data["site"]["name"] == site and start <= date.fromisoformat(data["produced_on"]) <= end:
            out.append(int(lid))  # type: ignore[arg-type]
    return out


def trace_forward(
    session: Session,
    *,
    lot: LotKey | None = None,
    supplier: str | None = None,
    event: str | int | None = None,
    site_window: tuple[str, date, date] | None = None,
    units: bool = True,
) -> ForwardTrace:
    """Every lot downstream of exactly one start, with its path, items, shipments, sites and scans,
    and (``units``) the cases, pallets and orders of their cans (unittrace.py).

    Raises InvalidInputError (bad or several starts) or NotFoundError (unknown start), naming the field.
    """
    given = [
        n
        for n, v in (("lot", lot), ("supplier", supplier), ("event", event), ("site_window", site_window))
        if v is not None
    ]
    if len(given) != 1:
        raise InvalidInputError(
            Problem(
                "lot/supplier/event/site_window",
                f"expected exactly one start, got {len(given)}{': ' + ', '.join(given) if given else ''}",
            )
        )
    if lot is not None:
        starts = [_find_lot(session, lot)]
        start = Start("lot", f"{lot[0]}/{lot[1]}", (lot,))
    elif supplier is not None:
        if session.get(Supplier, supplier) is None:
            raise NotFoundError(f"supplier: expected a registered supplier, got {supplier!r}")
        starts = [int(i) for i in session.exec(select(Lot.id).where(Lot.supplier_id == supplier)).all()]  # type: ignore[arg-type]
        start = Start("supplier", supplier, ())
    elif event is not None:
        start, starts = _event_start(session, event)
    else:
        assert site_window is not None
        site, t0, t1 = site_window
        starts = _site_window_lots(session, site, t0, t1)
        start = Start("site_window", f"{site} {t0}..{t1}", ())
    walk = _walk(session, starts, forward=True)
    rows = _lots(session, walk)
    if start.kind in ("supplier", "site_window"):
        start = Start(start.kind, start.value, tuple(sorted((rows[i].gtin, rows[i].lot) for i in starts)))

    ids = sorted(walk.depth)
    items: dict[int, int] = dict(
        session.exec(
            select(Item.lot_id, func.count())
            .where(col(Item.lot_id).in_(id_set(session, ids)))
            .group_by(col(Item.lot_id))
        ).all()
    )
    scanned: dict[int, int] = {}
    scans = 0
    for lid, codes, n in session.exec(
        select(Item.lot_id, func.count(func.distinct(ScanRecord.serial)), func.count())
        .join(Item, col(Item.serial) == col(ScanRecord.serial))
        .where(col(Item.lot_id).in_(id_set(session, ids)))
        .group_by(col(Item.lot_id))
    ).all():
        scanned[lid] = codes
        scans += n

    legs = _legs(session, ids, rows)
    # Times are compared as instants: shipments may be recorded in different UTC offsets.
    legs.sort(key=lambda s: (datetime.fromisoformat(s.shipped_at), s.id))
    latest: dict[LotKey, ShipmentLeg] = {}
    count: dict[LotKey, int] = {}
    for leg in legs:
        latest[(leg.gtin, leg.lot)] = leg
        count[(leg.gtin, leg.lot)] = count.get((leg.gtin, leg.lot), 0) + 1

    lots = []
    for lid in sorted(ids, key=lambda i: (walk.depth[i], rows[i].gtin, rows[i].lot)):
        r = rows[lid]
        k = (r.gtin, r.lot)
        lots.append(
            TracedLot(
                lid,
                r.gtin,
                r.lot,
                r.product,
                r.supplier_id,
                walk.depth[lid],
                _path(walk, rows, lid),
                items.get(lid, 0),
                scanned.get(lid, 0),
                count.get(k, 0),
                latest[k].to_site if k in latest else None,
            )
        )
    return ForwardTrace(
        start,
        tuple(lots),
        tuple(legs),
        tuple(sorted({leg.to_site for leg in latest.values()})),
        sum(items.values()),
        sum(scanned.values()),
        scans,
        reach(session, ids) if units else NO_UNITS,
        _void(session, walk),
    )


def _legs(session: Session, ids: Sequence[int], rows: dict[int, _LotRow]) -> list[ShipmentLeg]:
    """The shipments of the lots ``ids``, read from their events' bodies."""
    legs: list[ShipmentLeg] = []
    for sid, lid, eid, body in session.exec(
        select(Shipment.id, Shipment.lot_id, Shipment.event_id, EventRow.body)
        .join(EventRow, col(EventRow.id) == col(Shipment.event_id))
        .where(col(Shipment.lot_id).in_(id_set(session, ids)))
    ).all():
        d = json.loads(body)["data"]
        legs.append(
            ShipmentLeg(
                id=sid,
                gtin=rows[lid].gtin,
                lot=rows[lid].lot,
                from_site=d["from_site"]["name"],
                to_site=d["to_site"]["name"],
                shipped_at=d["shipped_at"],
                received_at=d.get("received_at"),
                quantity=d["quantity"],
                unit=d["unit"],
                event_id=eid,
            )
        )
    return legs


def affected_items(
    session: Session, lot_ids: Sequence[int], *, after: str | None = None, limit: int = 1000
) -> list[tuple[str, str, str]]:
    """One page of ``(serial, gtin, lot)`` of the given lots, ordered by serial; pass the last
    serial as ``after`` for the next page (keyset paging: every page costs the same)."""
    if not 1 <= limit <= 100_000:
        raise InvalidInputError(Problem("limit", f"expected 1 to 100000, got {limit}"))
    if not lot_ids:
        return []
    q = (
        select(Item.serial, Item.gtin, Lot.lot)
        .join(Lot, col(Lot.id) == col(Item.lot_id))
        .where(col(Item.lot_id).in_(id_set(session, lot_ids)))
    )
    if after is not None:
        q = q.where(col(Item.serial) > after)
    return [(s, g, lo) for s, g, lo in session.exec(q.order_by(col(Item.serial)).limit(limit)).all()]


def trace_json(
    trace: ForwardTrace | BackwardTrace,
    items: Sequence[tuple[str, str, str]] | None = None,
    *,
    orders: bool = False,
) -> dict[str, Any]:
    """THE JSON form of a trace: ``GET /api/v1/trace/forward|backward`` answers it and
    ``cradletrace trace forward|backward --json`` prints it, so a script can move between them.

    ``direction``, ``start``, ``lots`` (each with ``path``: ``[{"gtin", "lot"}, ...]``, start lot
    first), then ``shipments``, ``sites``, ``cases`` and ``pallets`` (forward) or ``suppliers``,
    ``test_reports`` and ``cold_chain`` (backward), and ``counts`` (totals, e.g. forward
    ``counts.items``, ``counts.orders``). ``items``, a page of affected serials from ``affected_items``,
    is there only when asked for (``None``: not asked); ``orders`` (forward), the list of orders that
    sold affected cans with buyer pseudonyms, only with ``orders=True`` (quality staff).
    """
    out = trace.to_json(orders) if isinstance(trace, ForwardTrace) else trace.to_json()
    if items is not None:
        out["items"] = [{"serial": serial, "gtin": gtin, "lot": lot} for serial, gtin, lot in items]
    return out


def trace_backward(
    session: Session,
    *,
    serial: str | None = None,
    lot: LotKey | None = None,
    unit: str | None = None,
    unit_field: str = "unit",
) -> BackwardTrace:
    """Every input lot behind an item, a lot, or the cans of a case or pallet (``unit``: its code as
    ``unittrace.unit_code`` reads it, Digital Link included), transitively, with their suppliers,
    tests and cold chain."""
    if sum(x is not None for x in (serial, lot, unit)) != 1:
        raise InvalidInputError(Problem("serial/lot/unit", "expected exactly one of serial, lot and unit"))
    starts: list[int]
    if unit is not None:
        code = unit_code(unit, unit_field)
        starts = unit_lots(session, code, unit_field)
        start = Start("pallet" if code.startswith("00/") else "case", code, ())  # its lots: once they are read
    elif serial is not None:
        found = session.exec(
            select(Item.lot_id, Lot.gtin, Lot.lot)
            .join(Lot, col(Lot.id) == col(Item.lot_id))
            .where(Item.serial == serial)
        ).first()
        if found is None:
            raise NotFoundError(f"serial: expected a commissioned item, got {serial!r} which does not exist")
        starts, key = [int(found[0])], (found[1], found[2])
        start = Start("serial", serial, (key,))
    else:
        assert lot is not None
        starts = [_find_lot(session, lot)]
        start = Start("lot", f"{lot[0]}/{lot[1]}", (lot,))
    walk = _walk(session, starts, forward=False)
    rows = _lots(session, walk)
    if unit is not None:
        start = Start(start.kind, start.value, tuple(sorted((rows[i].gtin, rows[i].lot) for i in starts)))
    ids = sorted(walk.depth)
    lots = tuple(
        TracedLot(
            i, rows[i].gtin, rows[i].lot, rows[i].product, rows[i].supplier_id, walk.depth[i], _path(walk, rows, i)
        )
        for i in sorted(ids, key=lambda i: (walk.depth[i], rows[i].gtin, rows[i].lot))
    )
    keys = sorted({(r.gtin, r.lot) for r in rows.values()})
    sup_ids = sorted({r.supplier_id for r in rows.values()})
    suppliers = tuple(
        SupplierRef(i, n, ro)
        for i, n, ro in session.exec(
            select(Supplier.id, Supplier.name, Supplier.role)
            .where(col(Supplier.id).in_(sup_ids))
            .order_by(col(Supplier.id))
        ).all()
    )
    shipment_ids = list(session.exec(select(Shipment.id).where(col(Shipment.lot_id).in_(id_set(session, ids)))).all())
    found_rows: dict[int, tuple[Any, ...]] = {}
    evidence = select_columns(
        col(EventRow.id),
        col(EventRow.kind),
        col(EventRow.gtin),
        col(EventRow.lot),
        col(EventRow.ref),
        col(EventRow.supplier_id),
        col(EventRow.outcome),
        col(EventRow.body),
        col(EventRow.digest),
    )
    for key_chunk in chunks(keys):
        # OR of pairs, not a row-value IN: SQLite answers the latter by scanning every event (12 ms at 120 000).
        pairs = or_(*(and_(col(EventRow.gtin) == g, col(EventRow.lot) == lo) for g, lo in key_chunk))
        for r in session.execute(evidence.where(col(EventRow.kind).in_(["test_report", "cold_chain"]), pairs)).all():
            found_rows[r[0]] = tuple(r)
    for chunk in chunks(sorted(shipment_ids)):
        for r in session.execute(
            evidence.where(col(EventRow.kind) == "cold_chain", col(EventRow.ref).in_(chunk))
        ).all():
            found_rows[r[0]] = tuple(r)
    tests: list[EvidenceRecord] = []
    cold: list[EvidenceRecord] = []
    fixed = declarations(session, [r[8] for r in found_rows.values()])
    for eid, kind, gtin, lotcode, ref, sup, outcome, body, digest in (found_rows[k] for k in sorted(found_rows)):
        data = json.loads(body)["data"]
        why = fixed[digest].reason if digest in fixed else None
        if kind == "test_report":
            tests.append(
                EvidenceRecord(eid, kind, gtin, lotcode, None, sup, outcome, lab=data["lab"]["name"], corrected=why)
            )
        else:
            cold.append(
                EvidenceRecord(eid, kind, gtin, lotcode, ref, sup, outcome, logger=data["logger"]["id"], corrected=why)
            )
    return BackwardTrace(start, lots, suppliers, tuple(tests), tuple(cold), _void(session, walk))

"""Logistics units as the store knows them: what is in what, who holds it, where it was last
received, what was sold (docs/logistics.md).

``load`` reads the current state of every unit a submission's pack, unpack, move and sale events
name (and of everything inside them) into a ``Ledger``; custody.py checks each event against it
and applies the accepted ones in order, so an event sees the ones before it in its submission; the
recording service then ``write``s what changed, in the transaction of the events. The rules (who
may pack, ship, receive or sell what) live in custody.py; this module only keeps the state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from cradletrace.core.events import AnyEvent, CommissionData, MoveData, PackData, SaleData, UnitRef
from cradletrace.store.db import chunks
from cradletrace.store.models import EventRow, Item, Lot, Sale, Unit, UnitEvent
from cradletrace.store.states import UnitKind

LotKey = tuple[str, str]


@dataclass
class UnitState:
    """One unit's state; event references are stored event ids, or ``-(i + 1)`` for events[i] of
    the submission being recorded (their ids are known only once they are stored)."""

    code: str
    kind: str
    holder: str
    lot: LotKey | None = None  # a can's lot
    parent: str | None = None
    packed_event: int | None = None
    consignee: str | None = None
    gln: str | None = None
    gln_extension: str | None = None
    received_at: datetime | None = None
    received_event: int | None = None
    sold_event: int | None = None
    stored: bool = False
    changed: bool = False


@dataclass
class Ledger:
    """The units a submission names, their contents, and the commissioned cans it may name for the
    first time (code -> (lot, commissioning supplier); commissioned before or earlier in the
    submission), as accepted events change them. ``lot_ids``: the stored lots of those cans."""

    units: dict[str, UnitState]
    cans: dict[str, tuple[LotKey, str]]
    lot_ids: dict[LotKey, int]
    children: dict[str, set[str]]
    touched: dict[int, set[str]] = field(default_factory=dict)  # events[i] -> codes it is about
    sales: list[tuple[int, SaleData, list[str]]] = field(default_factory=list)

    def lot_of(self, code: str) -> LotKey | None:
        unit = self.units.get(code)
        return unit.lot if unit is not None else (self.cans[code][0] if code in self.cans else None)

    def inside(self, code: str) -> list[str]:
        """Every unit inside ``code``, at any depth (a pallet's cases and their cans)."""
        out: list[str] = []
        stack = list(self.children.get(code, ()))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(self.children.get(c, ()))
        return sorted(out)

    def get(self, ref: UnitRef, holder: str, new_kind: str | None = None) -> UnitState | None:
        """The unit's state; a commissioned can seen for the first time is added (held by whoever
        commissioned it), and with ``new_kind`` an unknown unit too (held by ``holder``)."""
        code = ref.code
        if code in self.units:
            return self.units[code]
        if code in self.cans:
            lot, commissioner = self.cans[code]
            self.units[code] = UnitState(code, UnitKind.ITEM, commissioner, lot=lot)
            return self.units[code]
        if new_kind is not None:
            self.units[code] = UnitState(code, new_kind, holder)
            return self.units[code]
        return None

    def change(self, code: str, **values: Any) -> None:
        unit = self.units[code]
        for k, v in values.items():
            setattr(unit, k, v)
        unit.changed = True

    def put_in(self, child: str, parent: str | None, event: int) -> None:
        old = self.units[child].parent
        if old is not None:
            self.children[old].discard(child)
        if parent is not None:
            self.children[parent].add(child)
        self.change(child, parent=parent, packed_event=event if parent is not None else None)


def _parts(code: str) -> tuple[str, str] | None:
    """(GTIN, serial) of a ``01/<GTIN>/21/<serial>`` code, None for an SSCC."""
    return (code[3:17], code[21:]) if code.startswith("01/") else None


def refs_of(event: AnyEvent) -> list[UnitRef]:
    d = event.data
    if isinstance(d, PackData):
        return [d.parent, *d.children]
    if isinstance(d, MoveData):
        return list(d.units)
    if isinstance(d, SaleData):
        return [d.unit]
    return []


def load(session: Session, events: Iterable[tuple[int, AnyEvent]]) -> Ledger:
    """The state of every unit ``events`` name, of everything inside them, and of the commissioned
    cans among them that no event named before."""
    events = list(events)
    named = {ref.code for _, ev in events for ref in refs_of(ev)}
    found: dict[str, Unit] = {}
    wanted = sorted(named)
    while wanted:  # the named units, then what is inside them, level by level (a pallet holds cases of cans)
        level: list[Unit] = []
        for chunk in chunks(wanted):
            # Locked (PostgreSQL) until the transaction ends: a concurrent submission naming the same
            # units waits and then reads what this one stored, so a can never lands in two cases.
            # SQLite has one writer at a time; two new rows of one code collide on the primary key.
            level.extend(session.exec(select(Unit).where(col(Unit.code).in_(chunk)).with_for_update()))
            level.extend(session.exec(select(Unit).where(col(Unit.parent).in_(chunk)).with_for_update()))
        wanted = [row.code for row in level if row.code not in found]
        found.update((row.code, row) for row in level)
    items: dict[str, tuple[int, str]] = {}
    serials = {p[1]: p[0] for c in named - set(found) if (p := _parts(c)) is not None}
    for chunk in chunks(sorted(serials)):
        for serial, gtin, lot_id, supplier in session.execute(
            select(Item.serial, Item.gtin, Item.lot_id, EventRow.supplier_id)
            .join(EventRow, col(EventRow.id) == Item.event_id)
            .where(col(Item.serial).in_(chunk))
        ):
            if serials[serial] == gtin:
                items[f"01/{gtin}/21/{serial}"] = (lot_id, supplier)
    lot_ids = {row.lot_id for row in found.values() if row.lot_id is not None} | {v[0] for v in items.values()}
    keys: dict[int, LotKey] = {}
    for ids_chunk in chunks(sorted(lot_ids)):
        keys.update(
            (i, (g, lo))
            for i, g, lo in session.execute(select(Lot.id, Lot.gtin, Lot.lot).where(col(Lot.id).in_(ids_chunk)))
        )
    cans = {code: (keys[lot_id], supplier) for code, (lot_id, supplier) in items.items()}
    for _, ev in events:  # cans commissioned earlier in this submission
        if isinstance(ev.data, CommissionData):
            for serial in ev.data.serials:
                cans.setdefault(f"01/{ev.data.lot.gtin}/21/{serial}", (ev.data.lot.key, ev.supplier))
    units: dict[str, UnitState] = {}
    children: dict[str, set[str]] = defaultdict(set)
    for row in found.values():
        units[row.code] = UnitState(
            row.code,
            row.kind,
            row.holder,
            lot=keys[row.lot_id] if row.lot_id is not None else None,
            parent=row.parent,
            packed_event=row.packed_event_id,
            consignee=row.consignee,
            gln=row.gln,
            gln_extension=row.gln_extension,
            received_at=row.received_at,
            received_event=row.received_event_id,
            sold_event=row.sold_event_id,
            stored=True,
        )
        if row.parent is not None:
            children[row.parent].add(row.code)
    return Ledger(units, cans, {v: k for k, v in keys.items()}, children)


def write(session: Session, ledger: Ledger, ids: Mapping[int, int], lots: Mapping[LotKey, int]) -> None:
    """Store what the accepted events changed; ``ids`` maps each submission index to its event id,
    ``lots`` the lots made or named by the submission to theirs."""

    def event_id(ref: int | None) -> int | None:
        return ids[-ref - 1] if ref is not None and ref < 0 else ref

    def lot_id(lot: LotKey | None) -> int | None:
        return None if lot is None else ledger.lot_ids.get(lot) or lots[lot]

    rows: list[tuple[UnitState, dict[str, Any]]] = [
        (
            u,
            dict(
                code=u.code,
                kind=u.kind,
                lot_id=lot_id(u.lot),
                parent=u.parent,
                packed_event_id=event_id(u.packed_event),
                holder=u.holder,
                consignee=u.consignee,
                gln=u.gln,
                gln_extension=u.gln_extension,
                received_at=u.received_at,
                received_event_id=event_id(u.received_event),
                sold_event_id=event_id(u.sold_event),
            ),
        )
        for u in ledger.units.values()
        if u.changed
    ]
    new = [r for u, r in rows if not u.stored]
    if new:
        session.execute(insert(Unit.__table__), new)  # type: ignore[attr-defined]
    changed = [r for u, r in rows if u.stored]
    if changed:  # bulk UPDATE by primary key (code)
        session.execute(update(Unit), changed)
    named = [dict(code=code, event_id=ids[i]) for i, codes in ledger.touched.items() for code in sorted(codes)]
    if named:
        session.execute(insert(UnitEvent.__table__), named)  # type: ignore[attr-defined]
    sold = [
        dict(
            event_id=ids[i],
            code=code,
            lot_id=lot_id(ledger.units[code].lot),
            order_ref=d.order,
            buyer=d.buyer,
            sold_at=d.sold_at,
        )
        for i, d, codes in ledger.sales
        for code in codes
    ]
    if sold:
        session.execute(insert(Sale.__table__), sold)  # type: ignore[attr-defined]

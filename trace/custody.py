"""Who may say what about which goods: the custody rules ``record_submissions`` enforces.

A valid signature proves who said something, not that it was theirs to say. Besides its role
(suppliers.refusal), an event's supplier needs standing for the goods it names:

==================  ==============================================================================
kind                who may record it
==================  ==============================================================================
batch               the owner of the product's GTIN, or a maker it named (for every lot or this lot)
commission          the owner of the lot's GTIN, or the lot's maker if it is a named maker
shipment            a party with custody of the lot: its maker, its GTIN's owner, the consignee of a
                    recorded shipment of it, or a carrier named for it
cold_chain (lot)    the same as shipment
cold_chain (ship.)  the shipment's recorder, its consignee, or a carrier named for its lot
test_report         a lab the owner named for the product or lot, or an official lab (operator)
pack / unpack       the holder of the parent (a case or pallet packed for the first time is its
                    packer's) and of every child; a can no pack, move or sale named yet is held by
                    whoever commissioned it or has custody of its lot (as for shipment)
move (ship)         the holder of every unit
move (receive)      the consignee a recorded ship of the unit named, or its holder; receiving gives
                    the receiver custody of the unit, of everything inside it and of their lots
sale                the holder of the can or case
==================  ==============================================================================

Besides custody, the units' own rules (problems naming the field, not refusals): a child is in one
parent at a time (packed again without being unpacked: refused, naming the child), a case holds
cans only, an unpacked child must be in that parent, a unit packed in another is not shipped,
received or sold on its own (ship the pallet, or unpack it first), and a sold unit is not packed,
moved or sold again. units.py keeps the state these rules read.

Events earlier in the same submission count (a batch makes its recorder the lot's maker, a
shipment its consignee a holder). A batch's input lots need no custody (see docs: known gaps).
Automatic holds (recalls.hold_failures) follow from test reports and cold-chain records, so only
a party with this standing can cause one.

A refusal names the field whose goods the supplier has no standing for (``events[i].data.lot``,
``.product`` for a batch, ``.batch`` for a test report, ``.shipment`` for a shipment's cold chain),
so a form shows it beside that field; the API still answers 403 (recording.record_submissions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select as select_columns
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from cradletrace.core.events import (
    AnyEvent,
    BatchData,
    ColdChainData,
    CommissionData,
    MoveData,
    PackData,
    SaleData,
    ShipmentData,
    TestReportData,
)
from cradletrace.errors import Problem
from cradletrace.store.db import chunks
from cradletrace.store.models import EventRow, Lot, Product, ProductParty, Shipment, Supplier, Unit
from cradletrace.store.states import UnitKind
from cradletrace.units import Ledger, UnitState

LotKey = tuple[str, str]


@dataclass
class _Goods:
    """What the store says about the goods a submission names; grows as earlier events are accepted."""

    owners: dict[str, str]
    parties: dict[tuple[str, str], list[tuple[str, str | None]]]  # (gtin, role) -> [(supplier, lot or None)]
    makers: dict[LotKey, str]
    received: set[tuple[LotKey, str]]
    shipments: dict[str, tuple[LotKey, str, str | None]]  # id -> (lot, recorder, consignee)
    registered: set[str] = field(default_factory=set)  # supplier ids a consignee may name

    def named(self, supplier: str, role: str, lot: LotKey) -> bool:
        return any(s == supplier and (x is None or x == lot[1]) for s, x in self.parties.get((lot[0], role), ()))

    def holds(self, supplier: str, lot: LotKey) -> bool:
        return (
            self.makers.get(lot) == supplier
            or self.owners.get(lot[0]) == supplier
            or (lot, supplier) in self.received
            or self.named(supplier, "carrier", lot)
        )


def _load(session: Session, events: list[tuple[int, AnyEvent]], makers: Mapping[LotKey, str], ledger: Ledger) -> _Goods:
    custody_lots: set[LotKey] = set(ledger.lot_ids) | {lot for lot, _ in ledger.cans.values()}  # the cans' lots
    gtins: set[str] = {g for g, _ in custody_lots}
    shipment_ids: set[str] = set()
    consignees: set[str] = set()
    for _, ev in events:
        d = ev.data
        if isinstance(d, BatchData):
            gtins.add(d.product.gtin)
        elif isinstance(d, TestReportData):
            gtins.add(d.batch.gtin)
        elif isinstance(d, ColdChainData) and d.shipment is not None:
            shipment_ids.add(d.shipment)
        elif isinstance(d, (ShipmentData, ColdChainData, CommissionData)):
            assert d.lot is not None
            gtins.add(d.lot.gtin)
            custody_lots.add(d.lot.key)
            if isinstance(d, ShipmentData) and d.consignee is not None:
                consignees.add(d.consignee)
        elif isinstance(d, MoveData) and d.consignee is not None:
            consignees.add(d.consignee)
    shipments: dict[str, tuple[LotKey, str, str | None]] = {}
    for chunk in chunks(sorted(shipment_ids)):
        for sid, g, lo, recorder, consignee in session.execute(
            select_columns(
                col(Shipment.id), col(Lot.gtin), col(Lot.lot), col(EventRow.supplier_id), col(Shipment.consignee)
            )
            .join(Lot, col(Lot.id) == Shipment.lot_id)
            .join(EventRow, col(EventRow.id) == Shipment.event_id)
            .where(col(Shipment.id).in_(chunk))
        ):
            shipments[sid] = ((g, lo), recorder, consignee)
            gtins.add(g)
    owners: dict[str, str] = {}
    parties: dict[tuple[str, str], list[tuple[str, str | None]]] = defaultdict(list)
    for chunk in chunks(sorted(gtins)):
        owners.update(session.exec(select(Product.gtin, Product.owner_id).where(col(Product.gtin).in_(chunk))).all())
        for g, sup, role, lot in session.exec(
            select(ProductParty.gtin, ProductParty.supplier_id, ProductParty.role, ProductParty.lot).where(
                col(ProductParty.gtin).in_(chunk), col(ProductParty.withdrawn_at).is_(None)
            )
        ):
            parties[(g, role)].append((sup, lot or None))
    received: set[tuple[LotKey, str]] = set()
    for lot_chunk in chunks(sorted(custody_lots)):
        for g, lo, consignee in session.exec(
            select(Lot.gtin, Lot.lot, Shipment.consignee)
            .join(Lot, col(Lot.id) == Shipment.lot_id)
            .where(tuple_(Lot.gtin, Lot.lot).in_(lot_chunk), col(Shipment.consignee).is_not(None))
        ):
            received.add(((g, lo), consignee))  # type: ignore[arg-type]
        for g, lo, holder in session.exec(  # a receiver of a unit holds the lots of the cans inside it
            select(Lot.gtin, Lot.lot, Unit.holder)
            .join(Lot, col(Lot.id) == Unit.lot_id)
            .where(tuple_(Lot.gtin, Lot.lot).in_(lot_chunk), col(Unit.received_event_id).is_not(None))
            .distinct()
        ):
            received.add(((g, lo), holder))
    registered: set[str] = set()
    for chunk in chunks(sorted(consignees)):
        registered.update(session.exec(select(Supplier.id).where(col(Supplier.id).in_(chunk))))
    return _Goods(owners, dict(parties), dict(makers), received, shipments, registered)


def _unregistered(gtin: str) -> str:
    return (
        f"GTIN {gtin} is not registered; expected a product the operator registered to its owner "
        f"('cradletrace product add {gtin} --owner SUPPLIER --name NAME' or POST /api/v1/products)"
    )


def check(
    session: Session,
    events: list[tuple[int, AnyEvent]],
    suppliers: Mapping[str, Supplier],
    makers: Mapping[LotKey, str],
    ledger: Ledger,
) -> tuple[list[Problem], list[Problem]]:
    """Problems (a consignee that is not registered, the units' own rules) and refusals
    (``events[i].data.<field>``: "supplier 'x' may not ...", the field whose goods it has no standing
    for) of ``events``, in submission order. ``makers`` maps each stored lot the events name to the
    supplier that made it; a lot missing from it (and from earlier batches here) is left to the
    caller's reference checks. ``ledger`` (units.load) holds the units the events name; each accepted
    pack, unpack, move and sale is applied to it, for the caller to store."""
    goods = _load(session, events, makers, ledger)
    problems: list[Problem] = []
    refused: list[Problem] = []
    for index, ev in events:
        who = ev.supplier
        d = ev.data
        why: str | None = None
        at = "lot"  # the data field the refusal is about
        if isinstance(d, BatchData):
            at = "product"  # the lot's GTIN: whose it is decides
            lot = d.lot_ref.key
            owner = goods.owners.get(lot[0])
            if owner is None:
                why = f"may not make lot {lot[0]}/{lot[1]}: {_unregistered(lot[0])}"
            elif who != owner and not goods.named(who, "maker", lot):
                why = (
                    f"may not make lot {lot[0]}/{lot[1]}: GTIN {lot[0]} belongs to {owner!r}; "
                    "expected its owner or a maker it named"
                )
            else:
                goods.makers.setdefault(lot, who)
        elif isinstance(d, CommissionData):
            lot = d.lot.key
            owner = goods.owners.get(lot[0])
            maker = goods.makers.get(lot)
            if maker is not None and who != owner and not (who == maker and goods.named(who, "maker", lot)):
                why = f"may not commission codes into lot {lot[0]}/{lot[1]}: " + (
                    f"GTIN {lot[0]} belongs to {owner!r}; expected its owner or the lot's maker if it is a named maker"
                    if owner
                    else _unregistered(lot[0])
                )
        elif isinstance(d, TestReportData):
            at = "batch"
            lot = d.batch.key
            official = suppliers[who].official_lab if who in suppliers else False
            if lot in goods.makers and not official and not goods.named(who, "lab", lot):
                why = (
                    f"may not report on lot {lot[0]}/{lot[1]}: expected a lab its owner "
                    f"({goods.owners.get(lot[0], 'none registered')!r}) assigned to it, or an official lab the operator designated"
                )
        elif isinstance(d, ColdChainData) and d.shipment is not None:
            at = "shipment"
            shipment = goods.shipments.get(d.shipment)
            if shipment is not None:
                lot, recorder, consignee = shipment
                if who not in (recorder, consignee) and not goods.named(who, "carrier", lot):
                    why = (
                        f"may not record the cold chain of shipment {d.shipment!r} (lot {lot[0]}/{lot[1]}): "
                        f"expected its recorder {recorder!r}, its consignee or a carrier named for the lot"
                    )
        elif isinstance(d, (PackData, MoveData, SaleData)):
            found, refusal = _units(goods, ledger, index, ev.kind, who, d, suppliers)
            problems.extend(found)
            refused.extend(refusal)
        else:
            assert isinstance(d, (ShipmentData, ColdChainData)) and d.lot is not None
            lot = d.lot.key
            if lot in goods.makers and not goods.holds(who, lot):
                what = "ship lot" if isinstance(d, ShipmentData) else "record the cold chain of lot"
                why = (
                    f"may not {what} {lot[0]}/{lot[1]}: expected custody of it (its maker, its GTIN's owner, "
                    "the consignee of a recorded shipment of it, or a carrier named for it)"
                )
            if isinstance(d, ShipmentData):
                if d.consignee is not None and d.consignee not in goods.registered and d.consignee not in suppliers:
                    problems.append(
                        Problem(
                            f"events[{index}].data.consignee", f"expected a registered supplier, got {d.consignee!r}"
                        )
                    )
                if why is None:
                    goods.shipments[d.id] = (lot, who, d.consignee)
                    if d.consignee is not None:
                        goods.received.add((lot, d.consignee))
        if why:
            refused.append(Problem(f"events[{index}].data.{at}", f"supplier {who!r} {why}"))
    return problems, refused


def _units(
    goods: _Goods,
    ledger: Ledger,
    index: int,
    kind: str,
    who: str,
    d: PackData | MoveData | SaleData,
    suppliers: Mapping[str, Supplier],
) -> tuple[list[Problem], list[Problem]]:
    """The problems and the refusal of one pack, unpack, move or sale (events[index], by ``who``);
    applied to ``ledger`` when it has neither."""
    at = f"events[{index}].data"
    me = -(index + 1)  # this event, until it has an id (units.UnitState)
    problems: list[Problem] = []
    why: str | None = None
    why_at = at  # the field the refusal is about

    def refusal() -> list[Problem]:
        return [Problem(why_at, f"supplier {who!r} {why}")] if why else []

    def holds(u: UnitState) -> bool:
        if u.holder == who:
            return True
        lot = ledger.lot_of(u.code)  # a can no event named yet: a holder of its lot may handle it
        return not u.stored and not u.changed and u.kind == UnitKind.ITEM and lot is not None and goods.holds(who, lot)

    def not_held(verb: str, u: UnitState) -> str:
        return (
            f"may not {verb} {u.code}: expected custody of it (held by {u.holder!r}; a can no event named "
            "yet is held by whoever commissioned it or has custody of its lot)"
        )

    def sold(where: str, u: UnitState) -> None:
        problems.append(Problem(where, f"expected a unit not sold, got {u.code}, sold ({_event(u.sold_event)})"))

    if isinstance(d, PackData):
        packing = kind == "pack"
        new = (UnitKind.PALLET if d.parent.sscc is not None else UnitKind.CASE) if packing else None
        parent = ledger.get(d.parent, who, new)
        if parent is None:
            problems.append(
                Problem(f"{at}.parent", f"expected a packed case or pallet, got {d.parent.code}, which holds nothing")
            )
        elif parent.kind == UnitKind.ITEM:
            problems.append(
                Problem(f"{at}.parent", f"expected a case or a pallet, got {parent.code}, a commissioned can")
            )
        elif parent.sold_event is not None:
            sold(f"{at}.parent", parent)
        elif not holds(parent):
            why, why_at = not_held("pack into" if packing else "unpack", parent), f"{at}.parent"
        kids: list[UnitState] = []
        for j, ref in enumerate(d.children):
            where = f"{at}.children[{j}]"
            child = ledger.get(ref, who)
            if child is None:
                problems.append(
                    Problem(where, f"expected a commissioned can or a packed case, got {ref.code}, which is neither")
                )
            elif not packing:
                if parent is not None and child.parent != parent.code:
                    problems.append(
                        Problem(
                            where,
                            f"expected a unit packed in {parent.code}, got {child.code}, which is "
                            + (f"in {child.parent}" if child.parent else "in none"),
                        )
                    )
                kids.append(child)
            elif parent is not None and parent.kind == UnitKind.CASE and child.kind != UnitKind.ITEM:
                problems.append(Problem(where, f"expected a can (a case holds cans), got {child.code}, a {child.kind}"))
            elif child.parent is not None:
                problems.append(
                    Problem(
                        where,
                        f"expected a unit in no other, got {child.code}, which is in {child.parent} "
                        f"({_event(child.packed_event)}); unpack it from there first",
                    )
                )
            elif child.sold_event is not None:
                sold(where, child)
            else:
                if why is None and not holds(child):
                    why, why_at = not_held("pack", child), where
                kids.append(child)
        if problems or why or parent is None:
            return problems, refusal()
        ledger.change(parent.code, holder=parent.holder)
        for child in kids:
            ledger.put_in(child.code, parent.code if packing else None, me)
            ledger.change(child.code, holder=who)
        ledger.touched[index] = {parent.code} | {c for k in kids for c in (k.code, *ledger.inside(k.code))}
        return problems, refusal()

    refs = d.units if isinstance(d, MoveData) else [d.unit]
    field = "units" if isinstance(d, MoveData) else "unit"
    found: list[UnitState] = []
    for j, ref in enumerate(refs):
        where = f"{at}.{field}[{j}]" if isinstance(d, MoveData) else f"{at}.unit"
        u = ledger.get(ref, who)
        if u is None:
            problems.append(
                Problem(where, f"expected a packed case, a pallet or a commissioned can, got {ref.code}, which is none")
            )
        elif u.parent is not None and not isinstance(d, SaleData):
            problems.append(
                Problem(
                    where,
                    f"expected a unit packed in no other, got {u.code}, which is in {u.parent}: move that, or unpack it first",
                )
            )
        elif u.sold_event is not None:
            sold(where, u)
        elif why is None and isinstance(d, MoveData) and d.action == "receive":
            if who != u.consignee and who != u.holder:
                why_at = where
                why = (
                    f"may not receive {u.code}: expected the consignee a recorded ship of it named"
                    + (f" ({u.consignee!r})" if u.consignee else " (none named)")
                    + f", or its holder {u.holder!r}"
                )
        elif why is None and not holds(u):
            why, why_at = not_held("ship" if isinstance(d, MoveData) else "sell", u), where
        if u is not None:
            found.append(u)
    if (
        isinstance(d, MoveData)
        and d.consignee is not None
        and d.consignee not in goods.registered
        and d.consignee not in suppliers
    ):
        problems.append(Problem(f"{at}.consignee", f"expected a registered supplier, got {d.consignee!r}"))
    if problems or why:
        return problems, refusal()
    touched: set[str] = set()
    for u in found:
        codes = [u.code, *ledger.inside(u.code)]
        touched.update(codes)
        if isinstance(d, SaleData):
            if u.parent is not None:  # a can sold out of its case leaves it
                ledger.put_in(u.code, None, me)
            for c in codes:
                ledger.change(c, sold_event=me)
            ledger.sales.append((index, d, codes))
        elif d.action == "ship":
            for c in codes:
                ledger.change(c, holder=who, consignee=d.consignee)
        else:
            assert d.to_place is not None
            for c in codes:
                ledger.change(
                    c,
                    holder=who,
                    consignee=None,
                    gln=d.to_place.gln,
                    gln_extension=d.to_place.extension,
                    received_at=d.at,
                    received_event=me,
                )
                if (lot := ledger.lot_of(c)) is not None:
                    goods.received.add((lot, who))
    ledger.touched[index] = touched
    return problems, refusal()


def _event(ref: int | None) -> str:
    return f"events[{-ref - 1}] of this submission" if ref is not None and ref < 0 else f"event {ref}"

"""Cases, pallets, places and sales in a trace (issue 16, "Trace"; docs/logistics.md).

Forward, ``reach`` answers for a set of lots (a trace's lots, downstream ones included, so a can
of a batch made from a raw lot counts for the raw lot): the cases and pallets that hold their cans
now, each one's last receiving (GLN, extension, time, who received it) and whether it was sold,
and the orders that sold their cans. Backward, ``unit_lots`` finds the lots inside a case or a
pallet, now or ever packed into it, for ``genealogy.trace_backward``.

Every read is one statement per set (the lots bound as one parameter, ``genealogy.id_set``; codes
as ``code_set``), over the ``unit`` and ``sale`` tables recording keeps (units.py): cans of a lot
through ``unit.lot_id``, their case through ``unit.parent``, its pallet through the case's
``parent``; sales through ``sale.lot_id``. A can's ``sale`` row is written once, whether it was
sold alone or in its case (a case's own row has no lot), so sold cans are counted once.

A place has no name in a move event (it is a GLN); the name shown is the name of the supplier
that signed the receiving, who stood at that GLN. The order list carries buyer pseudonyms (keyed
HMACs, docs/logistics.md), never a contact: it is for quality staff, who start recall notices
from it; everyone else who may see a trace gets the counts only (``ForwardTrace.to_json``).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, func, literal, literal_column
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from cradletrace.core import digitallink
from cradletrace.core.codes import gtin_check_digit, sscc_problem
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import EventRow, Sale, Supplier, Unit
from cradletrace.store.states import UnitKind

MAX_DEPTH = 3  # pallet > case > can


def code_set(session: Session, codes: Iterable[str]) -> SelectOfScalar[str]:
    """A set of unit codes as a subquery with one bound parameter (as ``genealogy.id_set`` for ids)."""
    values = sorted(set(codes))
    if session.get_bind().dialect.name == "postgresql":
        return select(func.unnest(literal(values, ARRAY(String))))
    return select(literal_column("value", String)).select_from(func.json_each(literal(json.dumps(values))))


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


@dataclass(frozen=True)
class Received:
    """Where a unit was last received: the receiving event's place and time, and who received it."""

    gln: str
    extension: str | None
    name: str | None  # the receiving supplier's name (a GLN has no name of its own in the record)
    supplier: str | None
    at: str | None
    event_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class HoldingUnit:
    """A case or a pallet holding cans of the traced lots now; ``cans`` counts those cans (at any
    depth), ``cases`` (pallets) the traced cases on it, ``parent`` the pallet a case is on."""

    code: str
    kind: str
    gtin: str | None
    serial: str | None
    sscc: str | None
    parent: str | None
    cans: int
    cases: int
    last_received: Received | None
    sold: bool
    sold_event_id: int | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "kind": self.kind}
        if self.sscc is not None:
            out["sscc"] = self.sscc
        else:
            out.update(gtin=self.gtin, serial=self.serial)
        out.update(
            parent=self.parent,
            cans=self.cans,
            last_received=self.last_received.to_json() if self.last_received else None,
            sold=self.sold,
            sold_event_id=self.sold_event_id,
        )
        if self.kind == UnitKind.PALLET:
            out["cases"] = self.cases
        return out


@dataclass(frozen=True)
class Order:
    """An order that sold cans of the traced lots: ``items`` counts those cans, ``units`` the sold
    units the sale events named (a can or a case), ``buyers`` the pseudonyms (never a contact)."""

    order: str
    seller: str
    seller_name: str
    sold_at: str
    items: int
    units: tuple[str, ...]
    buyers: tuple[str, ...]
    event_ids: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "seller": self.seller,
            "seller_name": self.seller_name,
            "sold_at": self.sold_at,
            "items": self.items,
            "units": list(self.units),
            "buyers": list(self.buyers),
            "event_ids": list(self.event_ids),
        }


@dataclass(frozen=True)
class UnitReach:
    """What of the logistics record a forward trace reaches (see the module docstring)."""

    packed_items: int  # cans of the traced lots named by any pack, move or sale
    cases: tuple[HoldingUnit, ...]
    pallets: tuple[HoldingUnit, ...]
    orders: tuple[Order, ...]
    sold_items: int

    def counts(self) -> dict[str, int]:
        return {
            "packed_items": self.packed_items,
            "cases": len(self.cases),
            "pallets": len(self.pallets),
            "sold_cases": sum(1 for c in self.cases if c.sold),
            "orders": len(self.orders),
            "sold_items": self.sold_items,
        }


NO_UNITS = UnitReach(0, (), (), (), 0)


def _parts(code: str) -> tuple[str | None, str | None, str | None]:
    """(gtin, serial, sscc) of a stored unit code."""
    if code.startswith("00/"):
        return None, None, code[3:]
    return code[3:17], code[21:], None


def reach(session: Session, lot_ids: Sequence[int]) -> UnitReach:
    """The cases, pallets and orders of the cans of ``lot_ids`` (see the module docstring)."""
    if not lot_ids:
        return NO_UNITS
    lots = _ids(session, lot_ids)
    can = aliased(Unit)
    packed, *_ = session.execute(select_columns(func.count()).where(col(Unit.lot_id).in_(lots))).one()
    # Cans of the lots in a parent: per parent, how many (the parent is a case, or a pallet holding loose cans).
    direct: dict[str, int] = {
        str(p): int(n)
        for p, n in session.execute(
            select_columns(col(can.parent), func.count())
            .where(col(can.lot_id).in_(lots), col(can.parent).is_not(None))
            .group_by(col(can.parent))
        ).all()
    }
    rows: dict[str, Unit] = {}
    wanted = sorted(direct)
    for _ in range(MAX_DEPTH):
        if not wanted:
            break
        found = session.exec(select(Unit).where(col(Unit.code).in_(code_set(session, wanted)))).all()
        rows.update((u.code, u) for u in found)
        wanted = sorted({u.parent for u in found if u.parent is not None and u.parent not in rows})
    cans: dict[str, int] = defaultdict(int)
    cases_on: dict[str, int] = defaultdict(int)
    for code, n in direct.items():
        cur: str | None = code
        while cur is not None and cur in rows:
            cans[cur] += n
            cur = rows[cur].parent
    for u in rows.values():
        if u.kind == UnitKind.CASE and u.parent is not None:
            cases_on[u.parent] += 1
    received = _receivers(session, {u.received_event_id for u in rows.values() if u.received_event_id is not None})

    def holding(u: Unit) -> HoldingUnit:
        gtin, serial, sscc = _parts(u.code)
        last = None
        if u.gln is not None:
            who = received.get(u.received_event_id) if u.received_event_id is not None else None
            last = Received(
                u.gln,
                u.gln_extension,
                who[1] if who else None,
                who[0] if who else None,
                _iso(u.received_at),
                u.received_event_id,
            )
        return HoldingUnit(
            u.code,
            u.kind,
            gtin,
            serial,
            sscc,
            u.parent,
            cans[u.code],
            cases_on[u.code],
            last,
            u.sold_event_id is not None,
            u.sold_event_id,
        )

    units = sorted(rows.values(), key=lambda u: u.code)
    orders, sold = _orders(session, lots)
    return UnitReach(
        int(packed),
        tuple(holding(u) for u in units if u.kind == UnitKind.CASE),
        tuple(holding(u) for u in units if u.kind == UnitKind.PALLET),
        orders,
        sold,
    )


def _ids(session: Session, ids: Iterable[int]) -> SelectOfScalar[int]:
    from cradletrace.recall.genealogy import id_set  # genealogy imports this module

    return id_set(session, ids)


def _receivers(session: Session, event_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Receiving event id -> (supplier id, supplier name)."""
    if not event_ids:
        return {}
    return {
        int(eid): (sid, name)
        for eid, sid, name in session.execute(
            select_columns(col(EventRow.id), col(EventRow.supplier_id), col(Supplier.name))
            .join(Supplier, col(Supplier.id) == col(EventRow.supplier_id))
            .where(col(EventRow.id).in_(_ids(session, event_ids)))
        ).all()
    }


def _orders(session: Session, lots: SelectOfScalar[int]) -> tuple[tuple[Order, ...], int]:
    """The orders that sold cans of ``lots`` (grouped by seller and order reference) and how many cans."""
    cans = session.execute(
        select_columns(
            col(Sale.event_id), col(Sale.code), col(Sale.order_ref), col(Sale.buyer), col(Sale.sold_at)
        ).where(col(Sale.lot_id).in_(lots))
    ).all()
    if not cans:
        return (), 0
    eids = {int(r[0]) for r in cans}
    seller = _receivers(session, eids)  # the signer of the sale and its name
    # The unit a sale event named: a case (its own row has no lot) or else the can itself.
    named: dict[int, str] = {
        int(eid): code
        for eid, code in session.execute(
            select_columns(col(Sale.event_id), col(Sale.code)).where(
                col(Sale.event_id).in_(_ids(session, eids)), col(Sale.lot_id).is_(None)
            )
        ).all()
    }
    groups: dict[tuple[str, str], list[tuple[int, str, str, datetime]]] = defaultdict(list)
    for eid, code, ref, buyer, at in cans:
        groups[(seller[int(eid)][0], ref)].append((int(eid), named.get(int(eid), code), buyer, at))
    out = []
    for (sid, ref), rows in groups.items():
        first = min(rows, key=lambda r: r[3] if r[3].tzinfo else r[3].replace(tzinfo=UTC))[3]
        out.append(
            Order(
                ref,
                sid,
                seller[rows[0][0]][1],
                _iso(first) or "",
                len(rows),
                tuple(sorted({r[1] for r in rows})),
                tuple(sorted({r[2] for r in rows})),
                tuple(sorted({r[0] for r in rows})),
            )
        )
    out.sort(key=lambda o: (datetime.fromisoformat(o.sold_at), o.seller, o.order))
    return tuple(out), len(cans)


# -- backward: from a case or a pallet -------------------------------------------------------------

_CASE = re.compile(r"(\d{14})/(.+)")


def unit_code(value: str, field_name: str = "code", want: str | None = None) -> str:
    """The stored code (``00/<SSCC>``, ``01/<GTIN>/21/<serial>``) of a case or pallet as typed: a
    GS1 Digital Link URI (``https://…/00/<SSCC>``, ``…/01/<GTIN>/21/<serial>``, any host), its path,
    ``GTIN/SERIAL``, or an SSCC's 18 digits; check digits are checked. ``want`` ``"sscc"`` or
    ``"case"`` refuses the other form (a parameter named for one)."""
    code = _unit_code(value, field_name)
    if want == "sscc" and not code.startswith("00/"):
        raise InvalidInputError(Problem(field_name, f"expected an SSCC (18 digits or /00/<SSCC>), got {value!r}"))
    if want == "case" and code.startswith("00/"):
        raise InvalidInputError(
            Problem(field_name, f"expected a case (GTIN/SERIAL or /01/<GTIN>/21/<serial>), got the SSCC {value!r}")
        )
    return code


def _unit_code(value: str, field_name: str) -> str:
    text = value.strip()
    if re.fullmatch(r"https?://.*", text, re.IGNORECASE) or text.startswith("/"):
        try:
            link = digitallink.parse(text) if not text.startswith("/") else digitallink.parse_path(text)
        except InvalidInputError as exc:
            raise InvalidInputError(*(Problem(f"{field_name}.{p.where}", p.message) for p in exc.problems)) from exc
        if link.key == "00":
            return f"00/{link.value}"
        if link.key == "01" and link.serial is not None:
            return f"01/{link.value}/21/{link.serial}"
        raise InvalidInputError(
            Problem(field_name, f"expected a case (/01/<GTIN>/21/<serial>) or a pallet (/00/<SSCC>), got {value!r}")
        )
    if re.fullmatch(r"\d{18}", text):
        if problem := sscc_problem(text):
            raise InvalidInputError(Problem(field_name, problem))
        return f"00/{text}"
    if re.fullmatch(r"00/\d{18}", text):
        return _unit_code(text[3:], field_name)
    m = re.fullmatch(r"01/(\d{14})/21/(.+)", text) or _CASE.fullmatch(text)
    if m:
        gtin, serial = m.group(1), m.group(2)
        if int(gtin[-1]) != gtin_check_digit(gtin[:-1]):
            raise InvalidInputError(
                Problem(
                    field_name, f"expected check digit {gtin_check_digit(gtin[:-1])} for GTIN {gtin}, got {gtin[-1]}"
                )
            )
        return f"01/{gtin}/21/{serial}"
    raise InvalidInputError(
        Problem(
            field_name,
            f"expected a case (GTIN/SERIAL or its Digital Link) or a pallet (18-digit SSCC or its Digital Link), got {value!r}",
        )
    )


def unit_lots(session: Session, code: str, field_name: str = "code") -> tuple[str, list[int]]:
    """(kind, lot ids) of the cans in unit ``code``: inside it now, or packed into it by a recorded
    pack (a case emptied at a store still answers for what it carried), down to the cans of its cases.

    Level by level (pallet, cases, cans): what is in the level's units now (``unit.parent``) and what
    the pack events filling them named (``event.ref`` is a pack's parent, indexed). Raises
    NotFoundError naming the code when no record holds it."""
    kind = session.exec(select(Unit.kind).where(Unit.code == code)).first()
    if kind is None:
        raise NotFoundError(
            f"{field_name}: expected a case or pallet named by a recorded pack, got {code} which no record holds"
        )
    seen = {code}
    lots: set[int] = set()
    frontier = [code]
    if kind == UnitKind.ITEM:
        lots.update(int(x) for x in session.exec(select(Unit.lot_id).where(Unit.code == code)).all() if x is not None)
        frontier = []
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        level = set(frontier)
        found = set(session.exec(select(Unit.code).where(col(Unit.parent).in_(code_set(session, level)))).all())
        for (body,) in session.execute(
            select_columns(col(EventRow.body)).where(
                col(EventRow.kind) == "pack", col(EventRow.ref).in_(code_set(session, level))
            )
        ).all():
            data = json.loads(body)["data"]
            if _ref_code(data["parent"]) in level:
                found.update(_ref_code(c) for c in data["children"])
        new = found - seen
        seen |= new
        frontier = []
        for c, k, lot in session.execute(
            select_columns(col(Unit.code), col(Unit.kind), col(Unit.lot_id)).where(
                col(Unit.code).in_(code_set(session, new))
            )
        ).all():
            if k == UnitKind.ITEM:
                if lot is not None:
                    lots.add(int(lot))
            else:
                frontier.append(str(c))
    return str(kind), sorted(lots)


def _ref_code(ref: dict[str, str]) -> str:
    return f"00/{ref['sscc']}" if "sscc" in ref else f"01/{ref['gtin']}/21/{ref['serial']}"

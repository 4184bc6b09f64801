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

from sqlalchemy import String, func, literal, literal_column, union
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from cradletrace.core import digitallink
from cradletrace.core.codes import gtin_check_digit, sscc_problem
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import EventRow, Sale, Supplier, Unit, UnitEvent
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


_UNIT_FIELDS = (
    "code",
    "kind",
    "parent",
    "gln",
    "gln_extension",
    "received_at",
    "received_event_id",
    "sold_event_id",
)


def reach(session: Session, lot_ids: Sequence[int]) -> UnitReach:
    """The cases, pallets and orders of the cans of ``lot_ids`` (see the module docstring)."""
    if not lot_ids:
        return NO_UNITS
    lots = _ids(session, lot_ids)
    # Per parent, how many cans of the lots it holds directly (a case, or a pallet holding loose cans);
    # the NULL group is the cans in nothing now. Read from the index on (lot_id, parent) alone.
    direct: dict[str, int] = {}
    packed = 0
    for parent, n in session.execute(
        select_columns(col(Unit.parent), func.count()).where(col(Unit.lot_id).in_(lots)).group_by(col(Unit.parent))
    ).all():
        packed += int(n)
        if parent is not None:
            direct[str(parent)] = int(n)
    # The parents and, in the same statement, the pallet each is on (a can's parent is a case or a
    # pallet, a case's a pallet: two levels reach every unit above a can).
    rows: dict[str, Any] = {}
    if direct:
        outer = aliased(Unit)
        for r in session.execute(
            select_columns(*(getattr(Unit, f) for f in _UNIT_FIELDS), *(getattr(outer, f) for f in _UNIT_FIELDS))
            .outerjoin(outer, col(outer.code) == col(Unit.parent))
            .where(col(Unit.code).in_(code_set(session, direct)))
        ).all():
            rows[r[0]] = tuple(r[:8])
            if r[8] is not None:
                rows[r[8]] = tuple(r[8:])
    cans: dict[str, int] = defaultdict(int)
    cases_on: dict[str, int] = defaultdict(int)
    for code, n in direct.items():
        cur: str | None = code
        while cur is not None and cur in rows:
            cans[cur] += n
            cur = rows[cur][2]
    for r in rows.values():
        if r[1] == UnitKind.CASE and r[2] is not None:
            cases_on[r[2]] += 1
    signer = _signers(session, {r[6] for r in rows.values() if r[6] is not None})

    def holding(r: Any) -> HoldingUnit:
        code, kind, parent, gln, extension, at, received, sold = r
        gtin, serial, sscc = _parts(code)
        who = signer.get(received) if received is not None else None
        last = (
            Received(gln, extension, who[1] if who else None, who[0] if who else None, _iso(at), received)
            if gln is not None
            else None
        )
        return HoldingUnit(
            code, kind, gtin, serial, sscc, parent, cans[code], cases_on[code], last, sold is not None, sold
        )

    units = [rows[c] for c in sorted(rows)]
    orders, sold = _orders(session, lots)
    return UnitReach(
        packed,
        tuple(holding(r) for r in units if r[1] == UnitKind.CASE),
        tuple(holding(r) for r in units if r[1] == UnitKind.PALLET),
        orders,
        sold,
    )


def _ids(session: Session, ids: Iterable[int]) -> SelectOfScalar[int]:
    from cradletrace.recall.genealogy import id_set  # genealogy imports this module

    return id_set(session, ids)


def _signers(session: Session, event_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Event id -> (supplier id, supplier name) of the supplier that signed it."""
    if not event_ids:
        return {}
    found = session.execute(
        select_columns(col(EventRow.id), col(EventRow.supplier_id), col(Supplier.name))
        .join(Supplier, col(Supplier.id) == col(EventRow.supplier_id))
        .where(col(EventRow.id).in_(_ids(session, event_ids)))
    ).all()
    return {int(eid): (str(sid), str(name)) for eid, sid, name in found}


def _orders(session: Session, lots: SelectOfScalar[int]) -> tuple[tuple[Order, ...], int]:
    """The orders that sold cans of ``lots`` (grouped by seller and order reference) and how many
    cans. One statement: each sold can's row with its sale event's signer and ``ref``, the unit the
    sale named (the can itself, or the case it was sold in; recording.py sets it)."""
    cans = session.execute(
        select_columns(
            col(Sale.event_id),
            col(EventRow.ref),
            col(Sale.order_ref),
            col(Sale.buyer),
            col(Sale.sold_at),
            col(EventRow.supplier_id),
            col(Supplier.name),
        )
        .join(EventRow, col(EventRow.id) == col(Sale.event_id))
        .join(Supplier, col(Supplier.id) == col(EventRow.supplier_id))
        .where(col(Sale.lot_id).in_(lots))
    ).all()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in cans:
        groups[(r[5], r[2])].append(r)
    found = []
    for (seller, ref), got in groups.items():
        first = min(r[4] for r in got)
        found.append(
            (
                first,
                Order(
                    ref,
                    seller,
                    got[0][6],
                    _iso(first) or "",
                    len(got),
                    tuple(sorted({r[1] for r in got})),
                    tuple(sorted({r[3] for r in got})),
                    tuple(sorted({r[0] for r in got})),
                ),
            )
        )
    found.sort(key=lambda x: (x[0], x[1].seller, x[1].order))
    return tuple(o for _, o in found), len(cans)


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


def unit_lots(session: Session, code: str, field_name: str = "code") -> list[int]:
    """The lot ids of the cans in unit ``code``: inside it now (directly, or in a case on it), or
    packed into it by a recorded pack (a pallet unpacked at a store still answers for what it carried).

    One statement: the cans whose parent is the unit or a unit in it, and every unit a pack event
    filling it named (``event.ref`` is a pack's parent; ``unit_event`` names the pack's children and
    what was inside them then). Raises NotFoundError naming the code when no record holds it."""
    inner = aliased(Unit)
    now_in = select_columns(col(Unit.lot_id)).where(col(Unit.parent) == code)
    in_cases = (
        select_columns(col(inner.lot_id))
        .join(Unit, col(Unit.code) == col(inner.parent))
        .where(col(Unit.parent) == code)
    )
    packed = (
        select_columns(col(Unit.lot_id))
        .join(UnitEvent, col(UnitEvent.code) == col(Unit.code))
        .join(EventRow, col(EventRow.id) == col(UnitEvent.event_id))
        .where(col(EventRow.ref) == code, col(EventRow.kind) == "pack")
    )
    itself = select_columns(col(Unit.lot_id)).where(col(Unit.code) == code)  # a can given as a case
    found = session.execute(union(now_in, in_cases, packed, itself)).all()
    if not found and session.exec(select(Unit.code).where(Unit.code == code)).first() is None:
        raise NotFoundError(
            f"{field_name}: expected a case or pallet named by a recorded pack, got {code} which no record holds"
        )
    return sorted({int(r[0]) for r in found if r[0] is not None})

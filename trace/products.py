"""Products under the operator's control, and the parties their owners name for them.

A GTIN belongs to the supplier the operator registered it to. Its owner (with its supplier API
key) or the operator names the other parties that may speak about its lots: a ``maker`` (a plant
that makes lots of it and commissions codes into them), a ``lab`` (tests it) and a ``carrier``
(moves it); each for every lot, or for one lot. A withdrawn party is kept, with who and when.
The rules that use them are in custody.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cradletrace.core import codes
from cradletrace.core.events import ROLES_FOR_KIND
from cradletrace.errors import InvalidInputError, NotAllowedError, NotFoundError, Problem
from cradletrace.store.models import Product, ProductParty, Supplier
from cradletrace.suppliers import get_supplier

# A party's role, and the supplier roles that can record what it is named for.
PARTY_ROLES: dict[str, tuple[str, ...]] = {
    "maker": tuple(dict.fromkeys(ROLES_FOR_KIND["batch"] + ROLES_FOR_KIND["commission"])),
    "lab": ROLES_FOR_KIND["test_report"],
    "carrier": ROLES_FOR_KIND["shipment"],
}
OWNER_ROLES = ("farm", "plant", "brand")


@dataclass(frozen=True)
class ProductView:
    product: Product
    parties: list[ProductParty]  # the ones not withdrawn, oldest first


def _gtin(gtin: str) -> str:
    problem = codes.gtin_problem(gtin)
    if problem:
        raise InvalidInputError(Problem("gtin", problem))
    return gtin


def add_product(session: Session, gtin: str, owner: str, name: str, now: datetime) -> Product:
    """Register a GTIN to its owner (operator only: the products are under the operator's control)."""
    _gtin(gtin)
    if not name.strip() or len(name.strip()) > 200:
        raise InvalidInputError(
            Problem("name", f"expected a product name of 1-200 characters, got {len(name.strip())}")
        )
    supplier = get_supplier(session, owner)
    if supplier.role not in OWNER_ROLES:
        raise InvalidInputError(
            Problem(
                "owner",
                f"expected a supplier with role {', '.join(OWNER_ROLES)}, got {owner!r} with role {supplier.role!r}",
            )
        )
    known = session.get(Product, gtin)
    if known is not None:
        raise InvalidInputError(
            Problem("gtin", f"expected a GTIN not registered yet, got {gtin} which belongs to {known.owner_id!r}")
        )
    product = Product(gtin=gtin, owner_id=owner, name=name.strip(), registered_at=now)
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, gtin: str) -> Product:
    product = session.get(Product, gtin)
    if product is None:
        raise NotFoundError(f"product {gtin!r}: expected a registered GTIN, got one that is not registered")
    return product


def list_products(session: Session, owner: str | None = None) -> list[ProductView]:
    """Registered products with their current parties; only ``owner``'s when given."""
    query = select(Product).order_by(col(Product.gtin))
    if owner is not None:
        query = query.where(Product.owner_id == owner)
    products = list(session.exec(query))
    parties: dict[str, list[ProductParty]] = defaultdict(list)
    for p in session.exec(
        select(ProductParty)
        .where(col(ProductParty.gtin).in_([p.gtin for p in products]), col(ProductParty.withdrawn_at).is_(None))
        .order_by(col(ProductParty.id))
    ):
        parties[p.gtin].append(p)
    return [ProductView(p, parties[p.gtin]) for p in products]


def _owned(session: Session, gtin: str, acting_for: str | None) -> Product:
    """The product, if ``acting_for`` (a supplier key's supplier; None for the operator) owns it."""
    product = get_product(session, _gtin(gtin))
    if acting_for is not None and acting_for != product.owner_id:
        raise NotAllowedError(
            f"not allowed: product {gtin} belongs to {product.owner_id!r}; expected its owner or the "
            f"operator to name its parties, got supplier {acting_for!r}"
        )
    return product


def _check_party(session: Session, role: str, supplier_id: str, lot: str | None) -> Supplier:
    if role not in PARTY_ROLES:
        raise InvalidInputError(Problem("role", f"expected one of {', '.join(PARTY_ROLES)}, got {role!r}"))
    if lot is not None:
        problem = codes.lot_problem(lot)
        if problem:
            raise InvalidInputError(Problem("lot", problem))
    supplier = get_supplier(session, supplier_id)
    if supplier.role not in PARTY_ROLES[role]:
        raise InvalidInputError(
            Problem(
                "supplier_id",
                f"expected a supplier with role {', '.join(PARTY_ROLES[role])} "
                f"to be a {role}, got {supplier_id!r} with role {supplier.role!r}",
            )
        )
    return supplier


def _current(session: Session, gtin: str, supplier_id: str, role: str, lot: str | None) -> ProductParty | None:
    return session.exec(
        select(ProductParty).where(
            ProductParty.gtin == gtin,
            ProductParty.supplier_id == supplier_id,
            ProductParty.role == role,
            col(ProductParty.lot).is_(None) if lot is None else ProductParty.lot == lot,
            col(ProductParty.withdrawn_at).is_(None),
        )
    ).first()


def name_party(
    session: Session,
    gtin: str,
    supplier_id: str,
    role: str,
    lot: str | None,
    by: str,
    now: datetime,
    acting_for: str | None = None,
) -> ProductParty:
    """Name ``supplier_id`` as ``role`` of the product (of every lot, or of ``lot``); naming it again is a no-op."""
    product = _owned(session, gtin, acting_for)
    lot = lot or None
    _check_party(session, role, supplier_id, lot)
    party = _current(session, product.gtin, supplier_id, role, lot)
    if party is None:
        party = ProductParty(gtin=product.gtin, supplier_id=supplier_id, role=role, lot=lot, named_by=by, named_at=now)
        session.add(party)
        session.flush()
    return party


def withdraw_party(
    session: Session,
    gtin: str,
    supplier_id: str,
    role: str,
    lot: str | None,
    by: str,
    now: datetime,
    acting_for: str | None = None,
) -> ProductParty:
    """Withdraw a party from now on; what it recorded before stays recorded."""
    product = _owned(session, gtin, acting_for)
    lot = lot or None
    if role not in PARTY_ROLES:
        raise InvalidInputError(Problem("role", f"expected one of {', '.join(PARTY_ROLES)}, got {role!r}"))
    party = _current(session, product.gtin, supplier_id, role, lot)
    if party is None:
        raise NotFoundError(
            f"product {gtin}: {supplier_id!r} is not named as {role}"
            f"{f' of lot {lot}' if lot else ''}; expected a current party"
        )
    return _withdraw(session, party, by, now)


def withdraw_party_id(
    session: Session, gtin: str, party_id: int, by: str, now: datetime, acting_for: str | None = None
) -> ProductParty:
    """Withdraw party ``party_id`` of the product (as ``withdraw_party``)."""
    product = _owned(session, gtin, acting_for)
    party = session.get(ProductParty, party_id)
    if party is None or party.gtin != product.gtin or party.withdrawn_at is not None:
        raise NotFoundError(f"product {gtin}: no current party {party_id}")
    return _withdraw(session, party, by, now)


def _withdraw(session: Session, party: ProductParty, by: str, now: datetime) -> ProductParty:
    party.withdrawn_at, party.withdrawn_by = now, by
    session.add(party)
    session.flush()
    return party


def check_official_lab(supplier_id: str, role: str) -> None:
    """Only a lab can be designated for official control sampling."""
    if role != "lab":
        raise InvalidInputError(
            Problem("official_lab", f"expected a supplier with role lab, got {supplier_id!r} with role {role!r}")
        )


def set_official_lab(session: Session, supplier_id: str, official: bool = True) -> Supplier:
    """Designate (or stop designating) a lab for official control sampling: it may report on any lot."""
    supplier = get_supplier(session, supplier_id)
    if official:
        check_official_lab(supplier_id, supplier.role)
    supplier.official_lab = official
    session.add(supplier)
    session.flush()
    return supplier


_PARTY_FOR_KIND = {
    "batch": "maker",
    "commission": "maker",
    "test_report": "lab",
    "shipment": "carrier",
    "cold_chain": "carrier",
}


def register_story(session: Session, events: list[dict[str, Any]], now: datetime) -> None:
    """Register the GTINs bare ``events`` make, each to the supplier of its first batch, and name every
    other supplier of them as the party its event kind needs (of every lot).

    For benchmarks that build a synthetic history: it trusts the events it is given. Real products
    are registered by the operator one by one (``add_product``, ``name_party``).
    """
    owners: dict[str, str] = {}
    for ev in events:
        if ev["kind"] == "batch":
            product = ev["data"]["product"]
            if product["gtin"] not in owners and session.get(Product, product["gtin"]) is None:
                add_product(session, product["gtin"], ev["supplier"], product["name"], now)
            owners.setdefault(product["gtin"], get_product(session, product["gtin"]).owner_id)
    named: set[tuple[str, str, str]] = set()
    for ev in events:
        data = ev["data"]
        ref = data["product"] if ev["kind"] == "batch" else data.get("batch") or data.get("lot")
        gtin, role = (ref or {}).get("gtin"), _PARTY_FOR_KIND[ev["kind"]]
        if gtin in owners and owners[gtin] != ev["supplier"] and (gtin, ev["supplier"], role) not in named:
            named.add((gtin, ev["supplier"], role))
            name_party(session, gtin, ev["supplier"], role, None, "register_story", now)

"""Products (GTINs) and the parties their owners name for them: who may say what about which goods.

The operator registers a GTIN to its owner; the owner (its supplier key) or the operator names the
makers, labs and carriers of it, for every lot or one lot, and withdraws them. Recording checks
these (custody.py): an event about goods its supplier has no standing for is refused with 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from cradletrace import products
from cradletrace.api.deps import KeyHolderDep, OperatorDep, ReaderDep, SessionDep, who
from cradletrace.api.errors import responses
from cradletrace.api.models import PartyCreate, PartyPublic, ProductCreate, ProductPublic
from cradletrace.apikeys import Caller
from cradletrace.store.models import ProductParty

router = APIRouter(prefix="/products", tags=["products"])

GtinPath = Annotated[str, Path(max_length=14, description="The product's GTIN (14 digits)")]
PartyId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Party id (GET /products)")]


def _acting_for(caller: Caller) -> str | None:
    """The supplier a supplier key speaks for; None for the operator, who may act for any owner."""
    return caller.supplier_id if caller.role == "supplier" else None


def _party(p: ProductParty) -> PartyPublic:
    return PartyPublic.model_validate(p, from_attributes=True)


def _public(view: products.ProductView) -> ProductPublic:
    p = view.product
    return ProductPublic(
        gtin=p.gtin,
        name=p.name,
        owner_id=p.owner_id,
        registered_at=p.registered_at,
        parties=[_party(x) for x in view.parties],
    )


@router.post("", status_code=201, response_model=ProductPublic, responses=responses(401, 403, 404, 422))
def create_product(body: ProductCreate, session: SessionDep, caller: OperatorDep) -> ProductPublic:
    """Register a GTIN to its owner (operator): only the owner, or a maker it names, makes lots of it."""
    product = products.add_product(session, body.gtin, body.owner_id, body.name, datetime.now(UTC))
    session.commit()
    return _public(products.ProductView(product, []))


@router.get("", response_model=list[ProductPublic], responses=responses(401, 403))
def list_products(session: SessionDep, caller: ReaderDep) -> list[ProductPublic]:
    """Registered products with their current parties (operator, quality; a supplier key: the ones it owns)."""
    return [_public(v) for v in products.list_products(session, _acting_for(caller))]


@router.post("/{gtin}/parties", status_code=201, response_model=PartyPublic, responses=responses(401, 403, 404, 422))
def name_party(gtin: GtinPath, body: PartyCreate, session: SessionDep, caller: KeyHolderDep) -> PartyPublic:
    """Name a maker, lab or carrier of the product, for every lot or one lot (its owner's key, or operator).
    Naming a current party again changes nothing."""
    party = products.name_party(
        session,
        gtin,
        body.supplier_id,
        body.role,
        body.lot,
        who(caller),
        datetime.now(UTC),
        acting_for=_acting_for(caller),
    )
    session.commit()
    return _party(party)


@router.delete("/{gtin}/parties/{party_id}", response_model=PartyPublic, responses=responses(401, 403, 404, 422))
def withdraw_party(gtin: GtinPath, party_id: PartyId, session: SessionDep, caller: KeyHolderDep) -> PartyPublic:
    """Withdraw a party from now on (its owner's key, or operator); who and when are kept, and what
    it recorded before stays recorded."""
    party = products.withdraw_party_id(
        session, gtin, party_id, who(caller), datetime.now(UTC), acting_for=_acting_for(caller)
    )
    session.commit()
    return _party(party)

"""Buyers of sold goods: a member id in, the pseudonym a sale event carries out (docs/logistics.md).

A seller (a supplier key with a role that records sales) sends its member's id, and, where the
member agreed to recall notices, a contact; it gets back the pseudonym to sign into its sale event.
The member id is not stored; a contact is sealed and kept apart from every signed record (sales.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from cradletrace import sales, suppliers
from cradletrace.api.deps import RuntimeDep, SessionDep, SupplierDep
from cradletrace.api.errors import ApiError, responses
from cradletrace.api.models import BuyerCreate, BuyerPublic
from cradletrace.core.events import ROLES_FOR_KIND

router = APIRouter(prefix="/buyers", tags=["sales"])


@router.post("", response_model=BuyerPublic, responses=responses(401, 403, 422))
def register_buyer(body: BuyerCreate, session: SessionDep, caller: SupplierDep, runtime: RuntimeDep) -> BuyerPublic:
    """The pseudonym of a member (keyed HMAC-SHA-256, key outside the database) for a sale event;
    with consent, the member's contact for recall notices is sealed and kept (consent false: deleted)."""
    assert caller.supplier_id is not None
    seller = suppliers.get_supplier(session, caller.supplier_id)
    if seller.role not in ROLES_FOR_KIND["sale"]:
        raise ApiError(
            403,
            f"not allowed: supplier {seller.id!r} has role {seller.role!r}; expected one of "
            f"{', '.join(ROLES_FOR_KIND['sale'])} to record sales",
        )
    buyer = sales.register_buyer(
        session,
        runtime.member_key,
        runtime.sealer,
        seller.id,
        body.member_id,
        body.contact,
        body.consent,
        datetime.now(UTC),
    )
    session.commit()
    return BuyerPublic(buyer=buyer, contact_kept=body.consent is True and body.contact is not None)

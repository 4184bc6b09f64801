"""Partner contacts over HTTP (operator): where a consignee site's recall notices go.

``PUT /suppliers/{id}/contact`` sets e-mail addresses and a webhook; a webhook secret not given
is made by the server and shown in that answer only (the partner checks signatures with it).
Addresses and the secret are sealed at rest (trace/recall/partners.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from cradletrace.api.deps import OperatorDep, RuntimeDep, SessionDep, who
from cradletrace.api.errors import responses
from cradletrace.recall import partners

router = APIRouter(tags=["suppliers"])

SupplierId = Annotated[str, Path(min_length=1, max_length=63, description="Supplier id")]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emails: list[str] = Field(default=[], max_length=partners.MAX_EMAILS, description="Where notices are mailed")
    webhook_url: str | None = Field(default=None, max_length=500, description="https URL notices are POSTed to")
    webhook_secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; omitted: one is made and shown once"
    )


class ContactOut(BaseModel):
    supplier_id: str
    emails: list[str]
    webhook_url: str | None
    webhook_signed: bool
    updated_at: str
    updated_by: str
    webhook_secret: str | None = Field(default=None, description="Only when the server made it: shown this once")


@router.put("/suppliers/{supplier_id}/contact", response_model=ContactOut, responses=responses(401, 403, 404, 422))
def set_contact(
    supplier_id: SupplierId, body: ContactIn, session: SessionDep, caller: OperatorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Set where this supplier's sites are told of recalls (replaces what was set)."""
    contact, made = partners.set_contact(
        session,
        runtime.sealer,
        supplier_id,
        emails=body.emails,
        webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret,
        by=who(caller),
        now=datetime.now(UTC),
    )
    session.commit()
    return {**contact.to_json(), "webhook_secret": made}


@router.get("/suppliers/{supplier_id}/contact", response_model=ContactOut, responses=responses(401, 403, 404, 422))
def get_contact(
    supplier_id: SupplierId, session: SessionDep, caller: OperatorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """The contact (never the webhook secret)."""
    return partners.get_contact(session, runtime.sealer, supplier_id).to_json()


class ContactRemoved(BaseModel):
    supplier_id: str
    removed: bool


@router.delete(
    "/suppliers/{supplier_id}/contact", response_model=ContactRemoved, responses=responses(401, 403, 404, 422)
)
def remove_contact(supplier_id: SupplierId, session: SessionDep, caller: OperatorDep) -> dict[str, Any]:
    """Forget the contact; notices not sent yet to this site then fail with "no address"."""
    partners.remove_contact(session, supplier_id)
    session.commit()
    return {"supplier_id": supplier_id, "removed": True}

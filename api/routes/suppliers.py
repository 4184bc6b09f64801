"""Suppliers, their certifications and signing keys (operator; reading also quality and the supplier).

A new signing key's private half is returned once, as PEM, so a remote supplier can keep it
and sign on its own machine; like ``cradletrace supplier add``, the server also writes a 0600
copy to its keys folder, which the operator's ``cradletrace record --sign`` uses. A supplier that
makes its own key pair registers just the public key (``POST .../public-keys``): then no copy of
its private key exists outside its own machine.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from cradletrace import products, suppliers
from cradletrace.api.deps import KeyHolderDep, OperatorDep, ReaderDep, SessionDep, StaffDep, WorkspaceDep, check_own
from cradletrace.api.errors import responses
from cradletrace.api.models import (
    CertificationPublic,
    NewSigningKey,
    SupplierCreate,
    SupplierCreated,
    SupplierKeyPublic,
    SupplierPublic,
)
from cradletrace.core.events import REGISTRY_ROLE
from cradletrace.errors import NotFoundError
from cradletrace.store.models import Certification, Supplier, SupplierKey

router = APIRouter(prefix="/suppliers", tags=["suppliers"])

_NO_STORE = {"Cache-Control": "no-store"}


def _public(session: Session, sup: Supplier) -> SupplierPublic:
    certs = session.exec(
        select(Certification).where(Certification.supplier_id == sup.id).order_by(col(Certification.id))
    )
    keys = session.exec(
        select(SupplierKey).where(SupplierKey.supplier_id == sup.id).order_by(col(SupplierKey.created_at))
    )
    return SupplierPublic(
        id=sup.id,
        name=sup.name,
        role=sup.role,
        official_lab=sup.official_lab,
        created_at=sup.created_at,
        certifications=[CertificationPublic.model_validate(c, from_attributes=True) for c in certs],
        keys=[SupplierKeyPublic.model_validate(k, from_attributes=True) for k in keys],
    )


def _pem(path: Path) -> str:
    return path.read_text("ascii")


@router.post("", status_code=201, response_model=SupplierCreated, responses=responses(401, 403, 422))
def create_supplier(
    body: SupplierCreate, session: SessionDep, workspace: WorkspaceDep, caller: OperatorDep, response: Response
) -> SupplierCreated:
    """Register a supplier with its certifications and a fresh Ed25519 signing key (operator)."""
    certs = [
        suppliers.CertificationIn(c.scheme, c.number, c.issuer, c.valid_until, c.required) for c in body.certifications
    ]
    if body.official_lab:  # before the key file is written
        products.check_official_lab(body.id or suppliers.slug(body.name), body.role)
    sup, key, path = suppliers.add_supplier(session, workspace.settings.keys_dir, body.name, body.role, certs, body.id)
    if body.official_lab:
        products.set_official_lab(session, sup.id)
    session.commit()
    response.headers.update(_NO_STORE)
    return SupplierCreated(
        supplier=_public(session, sup),
        key=SupplierKeyPublic.model_validate(key, from_attributes=True),
        private_key_pem=_pem(path),
    )


@router.get("", response_model=list[SupplierPublic], responses=responses(401, 403))
def list_suppliers(session: SessionDep, caller: StaffDep) -> list[SupplierPublic]:
    """All suppliers with their certifications and keys (operator, quality); not the key log's
    own signer (a pseudo-supplier, ``GET /suppliers/cradletrace-key-log`` shows its keys)."""
    real = select(Supplier).where(Supplier.role != REGISTRY_ROLE).order_by(col(Supplier.id))
    return [_public(session, s) for s in session.exec(real)]


@router.get("/{supplier_id}", response_model=SupplierPublic, responses=responses(401, 403, 404, 422))
def get_supplier(supplier_id: str, session: SessionDep, caller: ReaderDep) -> SupplierPublic:
    """One supplier (operator, quality, or that supplier's own key)."""
    check_own(caller, supplier_id)
    return _public(session, suppliers.get_supplier(session, supplier_id))


@router.post(
    "/{supplier_id}/keys", status_code=201, response_model=NewSigningKey, responses=responses(401, 403, 404, 422)
)
def rotate_key(
    supplier_id: str, session: SessionDep, workspace: WorkspaceDep, caller: OperatorDep, response: Response
) -> NewSigningKey:
    """Give a supplier a new signing key; older keys stay valid until revoked (operator)."""
    key, path = suppliers.rotate_key(session, workspace.settings.keys_dir, supplier_id)
    session.commit()
    response.headers.update(_NO_STORE)
    return NewSigningKey(key=SupplierKeyPublic.model_validate(key, from_attributes=True), private_key_pem=_pem(path))


class PublicKeyIn(BaseModel):
    public_key: str = Field(
        description="Base64 of the raw 32-byte Ed25519 public key; the private key stays with the supplier"
    )


@router.post(
    "/{supplier_id}/public-keys",
    status_code=201,
    response_model=SupplierKeyPublic,
    responses=responses(401, 403, 404, 422),
)
def register_public_key(
    supplier_id: str, body: PublicKeyIn, session: SessionDep, workspace: WorkspaceDep, caller: KeyHolderDep
) -> SupplierKeyPublic:
    """Register a signing key the supplier made itself; the server never sees its private half
    (operator, or that supplier's own key). Events it signs verify like any other."""
    check_own(caller, supplier_id)
    key = suppliers.register_public_key(session, workspace.settings.keys_dir, supplier_id, body.public_key)
    session.commit()
    return SupplierKeyPublic.model_validate(key, from_attributes=True)


@router.post(
    "/{supplier_id}/keys/{key_id}/revoke", response_model=SupplierKeyPublic, responses=responses(401, 403, 404, 422)
)
def revoke_key(
    supplier_id: str, key_id: str, session: SessionDep, workspace: WorkspaceDep, caller: OperatorDep
) -> SupplierKeyPublic:
    """Revoke a signing key at once: it signs no new events; events it signed still verify (operator)."""
    key = session.get(SupplierKey, key_id)
    if key is None or key.supplier_id != supplier_id:
        raise NotFoundError(f"key {key_id!r} of supplier {supplier_id!r}: no such key")
    key = suppliers.revoke_key(session, workspace.settings.keys_dir, key_id)
    session.commit()
    return SupplierKeyPublic.model_validate(key, from_attributes=True)

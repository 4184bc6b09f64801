"""Suppliers, their certifications and their signing keys.

A supplier's private key is written to a 0600 file and never stored in the database; the
database holds only the public key. Revoking a key or letting a required certificate lapse
stops new events at once; events already recorded keep verifying.
"""

from __future__ import annotations

import base64
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from cradletrace.core import signing
from cradletrace.core.events import ROLES_FOR_KIND, SUPPLIER_ID
from cradletrace.core.text import check_text
from cradletrace.errors import InvalidInputError, NotAllowedError, NotFoundError, Problem
from cradletrace.private import private_dir
from cradletrace.store.models import Certification, Supplier, SupplierKey, utcnow

SUPPLIER_ROLES = ("farm", "plant", "lab", "logistics", "brand")


@dataclass(frozen=True)
class CertificationIn:
    scheme: str
    number: str
    issuer: str
    valid_until: date
    required: bool = True

    def __post_init__(self) -> None:
        for name in ("scheme", "number", "issuer"):
            check_text(getattr(self, name), f"cert.{name}")

    @classmethod
    def parse(cls, text: str) -> CertificationIn:
        """Read ``SCHEME;NUMBER;ISSUER;YYYY-MM-DD[;optional]`` as typed on the command line."""
        parts = [p.strip() for p in text.split(";")]
        if len(parts) not in (4, 5) or not all(parts[:4]):
            raise InvalidInputError(
                Problem("cert", f"expected 'SCHEME;NUMBER;ISSUER;YYYY-MM-DD[;optional]', got {text!r}")
            )
        try:
            until = date.fromisoformat(parts[3])
        except ValueError:
            raise InvalidInputError(
                Problem("cert.valid_until", f"expected a date YYYY-MM-DD, got {parts[3]!r}")
            ) from None
        if len(parts) == 5 and parts[4] not in ("optional", "required"):
            raise InvalidInputError(
                Problem("cert", f"expected 'optional' or 'required' as fifth part, got {parts[4]!r}")
            )
        return cls(parts[0], parts[1], parts[2], until, required=len(parts) == 4 or parts[4] == "required")


def slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:50]


def write_private_key(keys_dir: Path, supplier_id: str, pair: signing.KeyPair) -> Path:
    """Write the PEM with mode 0600 from the first byte (never world-readable, not even briefly)."""
    private_dir(keys_dir)
    path = keys_dir / f"{supplier_id}.{pair.key_id}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pair.private_pem)
    return path


def add_supplier(
    session: Session,
    keys_dir: Path,
    name: str,
    role: str,
    certifications: list[CertificationIn] = [],  # noqa: B006 - never mutated
    supplier_id: str | None = None,
) -> tuple[Supplier, SupplierKey, Path]:
    """Register a supplier with a fresh Ed25519 key; returns the rows and the private key file."""
    if role not in SUPPLIER_ROLES:
        raise InvalidInputError(Problem("role", f"expected one of {', '.join(SUPPLIER_ROLES)}, got {role!r}"))
    if not name.strip():
        raise InvalidInputError(Problem("name", "expected a supplier name, got nothing"))
    check_text(name, "name")
    sid = supplier_id or slug(name)
    if not SUPPLIER_ID.match(sid):
        raise InvalidInputError(Problem("id", f"expected 2-63 of a-z, 0-9 and '-', got {sid!r}"))
    if session.get(Supplier, sid) is not None:
        raise InvalidInputError(Problem("id", f"expected a new supplier id, got {sid!r} which is already registered"))
    supplier = Supplier(id=sid, name=name.strip(), role=role, created_at=utcnow())
    session.add(supplier)
    session.flush()
    for c in certifications:
        session.add(
            Certification(
                supplier_id=sid,
                scheme=c.scheme,
                number=c.number,
                issuer=c.issuer,
                valid_until=c.valid_until,
                required=c.required,
            )
        )
    key, path = _new_key(session, keys_dir, sid)
    return supplier, key, path


def _new_key(session: Session, keys_dir: Path, supplier_id: str) -> tuple[SupplierKey, Path]:
    pair = signing.generate_key_pair()
    key = SupplierKey(
        key_id=pair.key_id,
        supplier_id=supplier_id,
        public_key=base64.b64encode(pair.public_key).decode(),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key, write_private_key(keys_dir, supplier_id, pair)


def rotate_key(session: Session, keys_dir: Path, supplier_id: str) -> tuple[SupplierKey, Path]:
    """Give a supplier a new key. Old keys stay valid until revoked."""
    get_supplier(session, supplier_id)
    return _new_key(session, keys_dir, supplier_id)


def register_public_key(session: Session, supplier_id: str, public_key_b64: str) -> SupplierKey:
    """Register a key whose private half only the supplier holds: it signs its own events, and
    no copy of the private key ever reaches this server. Old keys stay valid until revoked."""
    get_supplier(session, supplier_id)
    raw = signing.decode_b64(public_key_b64, "public_key", 32)  # a raw Ed25519 public key
    weak = signing.public_key_problem(raw)
    if weak:
        raise InvalidInputError(Problem("public_key", weak))
    key_id = signing.key_id(raw)
    known = session.get(SupplierKey, key_id)
    if known is not None:
        raise InvalidInputError(
            Problem(
                "public_key", f"expected a key not registered yet; it is key {key_id} of supplier {known.supplier_id}"
            )
        )
    key = SupplierKey(
        key_id=key_id, supplier_id=supplier_id, public_key=base64.b64encode(raw).decode(), created_at=utcnow()
    )
    session.add(key)
    session.flush()
    return key


def revoke_key(session: Session, key_id: str) -> SupplierKey:
    key = session.get(SupplierKey, key_id)
    if key is None:
        raise NotFoundError(f"key {key_id!r}: no such key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key


def get_supplier(session: Session, supplier_id: str) -> Supplier:
    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFoundError(f"supplier {supplier_id!r}: expected a registered supplier, got an unknown id")
    return supplier


def active_key(session: Session, supplier_id: str) -> SupplierKey:
    """The supplier's newest key that is not revoked."""
    get_supplier(session, supplier_id)
    keys = session.exec(
        select(SupplierKey).where(SupplierKey.supplier_id == supplier_id).order_by(col(SupplierKey.created_at).desc())
    ).all()
    for key in keys:
        if key.revoked_at is None:
            return key
    if keys:
        raise NotAllowedError(
            f"supplier {supplier_id!r}: key {keys[0].key_id} was revoked; expected an active key "
            "('cradletrace supplier rotate-key' makes a new one)"
        )
    raise NotAllowedError(
        f"supplier {supplier_id!r} has no key; expected one ('cradletrace supplier rotate-key' makes one)"
    )


def private_key_path(keys_dir: Path, supplier_id: str, key_id: str) -> Path:
    return keys_dir / f"{supplier_id}.{key_id}.pem"


def refusal(
    supplier: Supplier,
    key: SupplierKey | None,
    key_id: str,
    certs: list[Certification],
    kind: str,
    today: date,
) -> str | None:
    """Why this supplier may not record an event of ``kind`` with ``key_id`` today, or None.

    ``kind`` may be any text read from an unchecked event: an unknown kind skips the role check.
    """
    if kind in ROLES_FOR_KIND and supplier.role not in ROLES_FOR_KIND[kind]:
        return (
            f"supplier {supplier.id!r} has role {supplier.role!r}; "
            f"expected one of {', '.join(ROLES_FOR_KIND[kind])} to record {kind} events"
        )
    why = key_refusal(supplier.id, key, key_id)
    if why:
        return why
    assert key is not None
    if key.revoked_at is not None:
        revoked = key.revoked_at if isinstance(key.revoked_at, datetime) else None
        return f"key {key_id!r} of supplier {supplier.id!r} was revoked{f' at {revoked:%Y-%m-%d %H:%M}' if revoked else ''}; expected an active key"
    for c in certs:
        if c.required and c.valid_until < today:
            return (
                f"supplier {supplier.id!r}: certificate {c.scheme} {c.number} (issuer {c.issuer}) "
                f"expired on {c.valid_until}; expected a valid certificate"
            )
    return None


def key_refusal(supplier_id: str, key: SupplierKey | None, key_id: str) -> str | None:
    """Why ``key`` (registered as ``key_id``, or None) cannot carry a signature of ``supplier_id``, or None."""
    if key is None:
        return f"key {key_id!r} is not registered; expected a key of supplier {supplier_id!r}"
    if key.supplier_id != supplier_id:
        return f"key {key_id!r} belongs to supplier {key.supplier_id!r}; expected a key of supplier {supplier_id!r}"
    return None

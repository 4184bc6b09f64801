"""API keys for the HTTP API: created with a role, shown once, stored hashed, revoked at once.

A key reads ``ct_<id>_<secret>``: the id finds the row, the secret (256 random bits) is the
proof. Only SHA-256 of the whole key is stored — a high-entropy secret needs no slow hash —
and it is compared in constant time. Every request looks its key up afresh, so a revocation
holds from the next request on; there is deliberately no cache that could outlive one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from cradletrace import suppliers
from cradletrace.core.text import check_text
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import ApiKey, utcnow

KEY_ROLES = ("operator", "supplier", "quality")
PREFIX = "ct_"
_KEY = re.compile(r"^ct_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Compared against when the id is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hashlib.sha256(b"cradletrace-no-such-key").hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request acts as (a plain value, safe to hand across threads)."""

    key_id: str
    name: str
    role: str
    supplier_id: str | None


def hash_secret(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, role: str, supplier_id: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is never available again."""
    if role not in KEY_ROLES:
        raise InvalidInputError(Problem("role", f"expected one of {', '.join(KEY_ROLES)}, got {role!r}"))
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInputError(Problem("name", f"expected a name of 1-100 characters, got {len(name)}"))
    check_text(name, "name")
    if role == "supplier":
        if not supplier_id:
            raise InvalidInputError(Problem("supplier", "expected the supplier this key acts for, got nothing"))
        suppliers.get_supplier(session, supplier_id)
    elif supplier_id:
        raise InvalidInputError(Problem("supplier", f"expected no supplier for a {role} key, got {supplier_id!r}"))
    key_id = secrets.token_hex(6)
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=key_id,
        name=name,
        role=role,
        supplier_id=supplier_id if role == "supplier" else None,
        hash=hash_secret(secret),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row, secret


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))))


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key; revoking it again changes nothing (the first revocation time stays)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"API key {key_id!r}: no such key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def authenticate(session: Session, presented: str) -> Caller | None:
    """The caller a presented key stands for, or None when it is malformed, unknown or revoked."""
    m = _KEY.match(presented)
    if m is None:
        return None
    row = session.get(ApiKey, m.group(1), populate_existing=True)
    ok = hmac.compare_digest(row.hash if row else _DUMMY_HASH, hash_secret(presented))
    if row is None or not ok or row.revoked_at is not None:
        return None
    return Caller(row.id, row.name, row.role, row.supplier_id)

"""Suppliers, their certifications and their signing keys.

A supplier's private key is written to a 0600 file and never stored in the database; the
database holds only the public key. Revoking a key or letting a required certificate lapse
stops new events at once; events already recorded keep verifying.

Every key registered or revoked here is also stated in a signed "key" event of the key log
(keylog.py), in the same transaction, so the key's history is anchored like the events it signs.
The key log signs with a key of its own, held by the reserved pseudo-supplier ``KEY_LOG_SUPPLIER``
(role ``registry``), which this module makes on first need.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cradletrace.core import signing
from cradletrace.core.events import KEY_LOG_SUPPLIER, REGISTRY_ROLE, ROLES_FOR_KIND, SUPPLIER_ID
from cradletrace.core.text import check_text
from cradletrace.errors import ConfigError, InvalidInputError, NotAllowedError, NotFoundError, Problem, TraceError
from cradletrace.private import private_dir
from cradletrace.store.models import Certification, Supplier, SupplierKey, utcnow

SUPPLIER_ROLES = ("farm", "plant", "lab", "logistics", "brand")
KEY_LOG_NAME = "cradletrace key log"
KEY_LOG_FILE = f"{KEY_LOG_SUPPLIER}.pem"  # in the keys folder, beside the suppliers' key files


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
    if sid == KEY_LOG_SUPPLIER:
        raise InvalidInputError(
            Problem("id", f"expected another supplier id, got {sid!r} which is reserved for the key log's own signer")
        )
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
    """A fresh key pair for the supplier, its key-log record, then its private key file: the file is
    written last, so a refused record leaves no key file of a key the store does not hold."""
    pair = signing.generate_key_pair()
    key = SupplierKey(
        key_id=pair.key_id,
        supplier_id=supplier_id,
        public_key=base64.b64encode(pair.public_key).decode(),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    _log(session, keys_dir, key, "register")
    return key, write_private_key(keys_dir, supplier_id, pair)


def rotate_key(session: Session, keys_dir: Path, supplier_id: str) -> tuple[SupplierKey, Path]:
    """Give a supplier a new key. Old keys stay valid until revoked."""
    _keyed_supplier(session, supplier_id)
    return _new_key(session, keys_dir, supplier_id)


def register_public_key(session: Session, keys_dir: Path, supplier_id: str, public_key_b64: str) -> SupplierKey:
    """Register a key whose private half only the supplier holds: it signs its own events, and
    no copy of the private key ever reaches this server. Old keys stay valid until revoked.
    ``keys_dir`` holds the key log's key, which signs the key's record."""
    _keyed_supplier(session, supplier_id)
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
    _log(session, keys_dir, key, "register")
    return key


def revoke_key(session: Session, keys_dir: Path, key_id: str) -> SupplierKey:
    """Revoke a key now, with its key-log record (signed with the key log's key from ``keys_dir``);
    a key already revoked stays as it was. The row is locked first (PostgreSQL), so of two revocations
    at once the second waits and then finds it revoked: one revocation, one record."""
    key = session.get(SupplierKey, key_id, with_for_update=True, populate_existing=True)
    if key is None:
        raise NotFoundError(f"key {key_id!r}: no such key")
    if key.supplier_id == KEY_LOG_SUPPLIER:
        raise NotAllowedError(
            f"key {key_id!r} is the key log's own key; expected a supplier's key "
            f"(the key log's key is the server's, in keys/{KEY_LOG_FILE})"
        )
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
        _log(session, keys_dir, key, "revoke")
    return key


def _log(session: Session, keys_dir: Path, key: SupplierKey, action: Literal["register", "revoke"]) -> None:
    from cradletrace import keylog  # keylog records through recording, which imports this module

    keylog.log_key(session, keys_dir, key, action)


def _keyed_supplier(session: Session, supplier_id: str) -> Supplier:
    """The supplier, if it is one whose keys this module hands out or registers."""
    supplier = get_supplier(session, supplier_id)
    if supplier.role == REGISTRY_ROLE:
        raise NotAllowedError(
            f"supplier {supplier_id!r} is the key log's own signer; expected a supplier "
            f"(the key log's key is made by the server, in keys/{KEY_LOG_FILE})"
        )
    return supplier


@dataclass(frozen=True)
class Registry:
    """The key log's signer: its registered key row and private key. ``new``: this call registered
    the key, so its own (self-signed) register record is due in the same transaction."""

    key: SupplierKey
    private: Ed25519PrivateKey
    new: bool


def registry(session: Session, keys_dir: Path) -> Registry:
    """The key log's key: read from ``keys_dir`` (made there on first need), registered under the
    pseudo-supplier ``KEY_LOG_SUPPLIER`` (made on first need). Safe when processes race to be first:
    one key file wins and every process reads it; the rows are inserted with ON CONFLICT DO NOTHING,
    so a process that lost the race reads the winner's rows instead of failing its transaction."""
    private = _registry_private_key(keys_dir)
    raw = signing.public_key_of(private)
    kid = signing.key_id(raw)
    key = session.get(SupplierKey, kid)
    if key is None:
        _insert_once(
            session, Supplier, dict(id=KEY_LOG_SUPPLIER, name=KEY_LOG_NAME, role=REGISTRY_ROLE, created_at=utcnow())
        )
        new = _insert_once(
            session,
            SupplierKey,
            dict(
                key_id=kid, supplier_id=KEY_LOG_SUPPLIER, public_key=base64.b64encode(raw).decode(), created_at=utcnow()
            ),
        )
        key = session.get(SupplierKey, kid, populate_existing=True)
        assert key is not None
        return Registry(key, private, new)
    if key.supplier_id != KEY_LOG_SUPPLIER:
        raise ConfigError(
            f"key log key {keys_dir / KEY_LOG_FILE}: expected a key of {KEY_LOG_SUPPLIER!r}, "
            f"got key {kid} of supplier {key.supplier_id!r}"
        )
    return Registry(key, private, False)


def _insert_once(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """Insert one row unless its primary key is taken (also by a transaction still running, which
    PostgreSQL waits for); True when this call inserted it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = next(iter(table.__table__.primary_key.columns))
    # RETURNING, not the row count: through a session the count of a skipped insert is not reliable.
    done = session.execute(insert(table).values(**values).on_conflict_do_nothing().returning(key))
    return done.first() is not None


def _registry_private_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The key log's private key file, made on first need: written whole (0600) under a name of its
    own, then linked into place, which fails if another process linked its file first; that file is
    then read, so racing processes agree on one key and none reads a half-written file."""
    path = keys_dir / KEY_LOG_FILE
    try:
        if not path.exists():
            _make_registry_key(keys_dir, path)
        pem = path.read_bytes()
    except OSError as exc:  # a keys folder this process may not write or read
        raise ConfigError(f"key log key {path}: {exc.strerror or exc}") from None
    try:
        return signing.load_private_key(pem)
    except TraceError as exc:
        raise ConfigError(f"key log key {path}: {exc}") from None


def _make_registry_key(keys_dir: Path, path: Path) -> None:
    """Write a new key whole under a name of its own, then link it to ``path`` unless another process was first."""
    private_dir(keys_dir)
    pair = signing.generate_key_pair()
    own = keys_dir / f".{KEY_LOG_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pair.private_pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(own, path)
        except FileExistsError:
            pass  # another process was first: its file is the key
    finally:
        own.unlink()


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

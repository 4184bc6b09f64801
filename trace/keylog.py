"""The key log: every supplier key's registration and revocation, as a signed and anchored record.

Without it, which public key is a supplier's is the server's word at the time it is asked. With
it, each change of a key is a "key" event (``core.events.KeyData``) signed by the key log's own
key (``suppliers.registry``) and recorded through ``recording.record_submissions`` in the same
transaction as the change, so nothing is half-stored: a key without its record, or a record of a
key the store does not hold. The anchoring worker then puts it under a root like any event, and
``verification.event_reasons`` checks it like any event. A phone or a proof bundle can so check
that the key a record was signed with was registered before that record's root was anchored, and
not revoked before it (``key_records`` gives what it needs).

What it proves is order in time, on chain; not identity. The key log's key is the operator's: it
says "this server registered key K for supplier S before block N", which an operator who
rewrites history later cannot take back, but which a dishonest operator could have signed about
a key of its own from the start.

Keys registered before the key log existed get their records later (``log_unlogged_keys``, at the
start of every anchoring run), marked ``backfilled`` and dated with the store's own times: those
records are anchored only when they are written, so they prove nothing about earlier blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, and_, exists, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from cradletrace import recording, suppliers
from cradletrace.core import canonical, signing
from cradletrace.core.events import KEY_LOG_SUPPLIER
from cradletrace.store.db import chunks
from cradletrace.store.models import AnchorBatch, EventRow, SupplierKey, utcnow

Action = Literal["register", "revoke"]


def log_key(
    session: Session, keys_dir: Path, key: SupplierKey, action: Action, *, backfilled: bool = False
) -> recording.RecordedEvent:
    """Record, in the caller's transaction, that ``key`` was registered (at its ``created_at``) or
    revoked (at its ``revoked_at``). The key log's key is made and registered first if it is new,
    with its own self-signed register record."""
    signer = suppliers.registry(session, keys_dir)
    if signer.new:
        own = _record(session, signer, signer.key, "register", backfilled=False)
        if key.key_id == signer.key.key_id and action == "register":
            return own
    return _record(session, signer, key, action, backfilled=backfilled)


def _record(
    session: Session, signer: suppliers.Registry, key: SupplierKey, action: Action, *, backfilled: bool
) -> recording.RecordedEvent:
    at = key.created_at if action == "register" else key.revoked_at
    assert at is not None, f"key {key.key_id} has no time to {action} at"
    event: canonical.JsonValue = {
        "kind": "key",
        "supplier": KEY_LOG_SUPPLIER,
        "key": signer.key.key_id,
        "data": {
            "action": action,
            "supplier": key.supplier_id,
            "key_id": key.key_id,
            "public_key": key.public_key,
            "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "backfilled": backfilled,
        },
    }
    signature = signing.sign(signer.private, canonical.canonical_bytes(event))
    [row] = recording.record_submissions(session, [recording.Submission(event, signature)], utcnow(), key_log=True)
    return row


def _logged(action: Action) -> Any:
    return exists().where(
        col(EventRow.kind) == "key", col(EventRow.ref) == col(SupplierKey.key_id), col(EventRow.outcome) == action
    )


def log_unlogged_keys(session: Session, keys_dir: Path) -> int:
    """Write the missing records of keys that changed before the key log existed (or whose record
    went missing): a backfilled register record, and a revoke record if the key is revoked. One
    query (two index lookups per key on ``event.ref``) when nothing is missing; returns how many
    records it wrote, in the caller's transaction. Running it again writes nothing."""
    registered, revoked = _logged("register"), _logged("revoke")
    missing = session.execute(
        select_columns(SupplierKey, registered.label("registered"), revoked.label("revoked"))
        .where(or_(~registered, and_(col(SupplierKey.revoked_at).is_not(None), ~revoked)))
        .order_by(col(SupplierKey.created_at), col(SupplierKey.key_id))
    ).all()
    written = 0
    for key, has_register, has_revoke in missing:
        if not has_register:
            log_key(session, keys_dir, key, "register", backfilled=True)
            written += 1
        if key.revoked_at is not None and not has_revoke:
            log_key(session, keys_dir, key, "revoke", backfilled=True)
            written += 1
    return written


@dataclass(frozen=True)
class KeyAnchor:
    """The anchor batch a key record is under; only ``status`` BatchStatus.CONFIRMED is final."""

    root: str
    leaf_count: int
    chain_id: int
    contract: str
    tx_hash: str | None
    block_number: int | None
    block_time: datetime | None
    status: str


@dataclass(frozen=True)
class KeyRecord:
    """One key-log record with what a verifier needs: the exact stored ``body`` (canonical JSON,
    the bytes the key log signed), its digest and signature, the key log's key that signed it, and
    its Merkle proof (hex siblings) under ``anchor`` (None until it is in a batch).

    ``key_id`` and ``action`` are the store's index of the record; a verifier reads both from
    ``body`` itself."""

    event_id: int
    key_id: str
    action: str
    body: str
    digest: str
    signature: str
    registry_key_id: str
    registry_public_key: str
    proof: tuple[str, ...]
    anchor: KeyAnchor | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (times as ISO 8601 UTC), for a bundle or a page."""
        a = self.anchor
        return {
            "body": self.body,
            "digest": self.digest,
            "signature": self.signature,
            "registry_key_id": self.registry_key_id,
            "registry_public_key": self.registry_public_key,
            "proof": list(self.proof),
            "anchor": None
            if a is None
            else {
                "root": a.root,
                "leaf_count": a.leaf_count,
                "chain_id": a.chain_id,
                "contract": a.contract,
                "tx_hash": a.tx_hash,
                "block_number": a.block_number,
                "block_time": a.block_time.isoformat() if a.block_time else None,
                "status": a.status,
            },
        }


@dataclass(frozen=True)
class KeyHistory:
    """A key's registration record and its revocation record (None while it has none)."""

    registration: KeyRecord | None
    revocation: KeyRecord | None


_COLUMNS = (
    col(EventRow.id),
    col(EventRow.ref),
    col(EventRow.outcome),
    col(EventRow.body),
    col(EventRow.digest),
    col(EventRow.signature),
    col(EventRow.key_id),
    col(SupplierKey.public_key),
    col(EventRow.proof),
    col(AnchorBatch.root),
    col(AnchorBatch.leaf_count),
    col(AnchorBatch.chain_id),
    col(AnchorBatch.contract),
    col(AnchorBatch.tx_hash),
    col(AnchorBatch.block_number),
    col(AnchorBatch.block_time),
    col(AnchorBatch.status),
)


def key_records(db: Session | Connection, key_ids: Iterable[str]) -> dict[str, KeyHistory]:
    """Each of ``key_ids`` -> its registration and revocation records, in one query per 500 keys
    (a scan page asks for the few keys its records were signed with). A key with two records of an
    action (a backfilled one beside a live one, if processes raced) gets the first recorded."""
    wanted = sorted(set(key_ids))
    found: dict[tuple[str, str], KeyRecord] = {}
    for chunk in chunks(wanted):
        rows = db.execute(
            select_columns(*_COLUMNS)
            .join(SupplierKey, col(SupplierKey.key_id) == col(EventRow.key_id))
            .outerjoin(AnchorBatch, col(AnchorBatch.id) == col(EventRow.anchor_id))
            .where(col(EventRow.kind) == "key", col(EventRow.ref).in_(chunk))
            .order_by(col(EventRow.id))
        ).all()
        for r in rows:
            anchor = None if r.root is None else KeyAnchor(*r[9:])
            record = KeyRecord(
                r.id,
                r.ref,
                r.outcome,
                r.body,
                r.digest,
                r.signature,
                r.key_id,
                r.public_key,
                tuple(p for p in (r.proof or "").split(",") if p),
                anchor,
            )
            found.setdefault((record.key_id, record.action), record)
    return {k: KeyHistory(found.get((k, "register")), found.get((k, "revoke"))) for k in wanted}

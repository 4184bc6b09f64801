"""Verifying events: one at a time (``verify``), all at once (``audit``), or from a bundle alone.

An event is VALID when its stored bytes hash to its digest, its signature verifies under its
supplier's key (whose id matches the key), its proof leads from the digest to its batch root,
and the contract holds that root with the same leaf count. A bundle carries all of that, so
anyone can check it against the chain without our database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import Row
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, func, select

from cradletrace.chain.base import Anchor, OnChainRoot
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes, parse_json
from cradletrace.core.events import KEY_LOG_SUPPLIER, problems_of
from cradletrace.core.merkle import ProofWalker
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.events import find_event
from cradletrace.keylog import KeyHistory, KeyRecord, key_records
from cradletrace.store.models import AnchorBatch, EventRow, SupplierKey
from cradletrace.store.states import BatchStatus

BUNDLE_FORMAT = "cradletrace-proof-bundle/2"


VerdictStatus = Literal["VALID", "INVALID", "PENDING"]


@dataclass(frozen=True)
class Verdict:
    """The outcome for one event. ``status`` is VALID, INVALID or PENDING (not anchored yet)."""

    status: VerdictStatus
    reasons: tuple[str, ...] = ()
    event_id: int | None = None
    digest: str = ""
    root: str | None = None
    block_number: int | None = None
    tx_hash: str | None = None
    local_chain: bool = False
    notes: tuple[str, ...] = ()  # said alongside the verdict, changing nothing (a /1 bundle's revoked key)

    @property
    def valid(self) -> bool:
        return self.status == "VALID"


def _root_problems(batch: AnchorBatch, on_chain: OnChainRoot | None) -> list[str]:
    """What is wrong with a confirmed batch's root itself, whichever of its events is asked about."""
    if on_chain is None:
        return [f"root not on chain: contract does not hold root 0x{batch.root}"]
    if on_chain.leaf_count != batch.leaf_count:
        return [f"root on chain with {on_chain.leaf_count} leaves, the store says {batch.leaf_count}"]
    return []


@dataclass(frozen=True)
class _Says:
    """How a failed check reads: of a stored event (verify, audit, scan) or of a bundle. The subject
    differs (and tests and users read these words); the checks do not."""

    content: str
    signature: str
    proof: str


_STORED = _Says(
    "content changed: the stored event no longer hashes to its digest",
    "signature bad: the signature does not verify over the stored event",
    "proof wrong: the proof does not lead from the event's digest to its root",
)
_BUNDLED = _Says(
    "content changed: the event does not hash to the bundle's digest",
    "signature bad: the signature does not verify over the event",
    "proof wrong: the proof does not lead from the digest to the root",
)


def event_reasons(
    message: bytes,
    digest: str,
    key: bytes | str | None,
    signature: str,
    anchored: tuple[str, Sequence[str]] | None,
    proof: str | None,
    walker: ProofWalker,
    says: _Says = _STORED,
    signature_ok: Callable[[bytes, bytes, str], bool] = signing.verify_signature,
    captured: Callable[[bytes, str, bytes], list[str]] | None = None,
) -> list[str]:
    """What is wrong with one event, in check order: the one per-event check behind ``verify``,
    ``audit``, the scan page and bundles, so they cannot drift apart.

    ``message`` is the event's canonical bytes and ``digest`` (hex) what they must hash to;
    ``key`` the supplier's raw public key, or the reason there is none usable (``_public_key``),
    or None to skip signatures (``audit --skip-signatures``); ``anchored`` is None while the event
    has no confirmed root, else the root (hex) and what is wrong with that root itself (on chain
    or not, leaf count); ``proof`` the sibling hashes, hex and comma-separated as stored.
    ``captured``: the check of an event an EPCIS capture stored, whose ``signature`` is the capture's
    reference (epcis/binding.py ``CaptureChecker``: the request signature over the kept body, and this
    event the one mapped from its place in it); without it such an event's signature is bad.
    """
    reasons = []
    if hashlib.sha256(message).hexdigest() != digest:
        reasons.append(says.content)
    if isinstance(key, str):
        reasons.append(key)
    elif key is not None and captured is not None and is_capture_reference(signature):
        reasons.extend(captured(message, signature, key))
    elif key is not None and not signature_ok(key, message, signature):
        reasons.append(says.signature)
    if anchored is not None:
        root, root_reasons = anchored
        if walker.root(digest, proof).hex() != root:
            reasons.append(says.proof)
        reasons.extend(root_reasons)
    return reasons


def _batch_missing(anchor_id: int | None) -> str:
    return f"batch {anchor_id} that anchored this event is missing from the store"


class EventVerifier:
    """Verifies stored events against the chain, remembering only what cannot go stale.

    A root the contract holds stays held (the contract never removes one), so positive root
    lookups are kept; a signature check is kept under the exact (key, bytes, signature) it
    checked, so an edited row is checked afresh. Everything else is recomputed per call.
    Safe to share between threads.
    """

    def __init__(
        self,
        chain: Anchor,
        max_signatures: int = 200_000,
        captured: Callable[[bytes, str, bytes], list[str]] | None = None,
    ) -> None:
        self.chain = chain
        self.captured = captured  # for events an EPCIS capture stored (scan pages): see event_reasons
        self.walker = ProofWalker()
        self._roots: dict[str, OnChainRoot] = {}
        self._signatures: dict[bytes, bool] = {}
        self._max = max_signatures
        self._lock = threading.Lock()

    def root(self, root_hex: str) -> OnChainRoot | None:
        found = self._roots.get(root_hex)
        if found is None:
            found = self.chain.lookup(bytes.fromhex(root_hex))
            if found is not None:
                with self._lock:
                    self._roots[root_hex] = found
        return found

    def signature_ok(self, public_key: bytes, message: bytes, signature: str) -> bool:
        """``signing.verify_signature``, remembered under the exact (key, signature, bytes)."""
        cache_key = hashlib.sha256(b"\n".join((public_key, signature.encode(), message))).digest()
        hit = self._signatures.get(cache_key)
        if hit is None:
            hit = signing.verify_signature(public_key, message, signature)
            with self._lock:
                if len(self._signatures) >= self._max:
                    self._signatures.clear()
                self._signatures[cache_key] = hit
        return hit

    def verify(
        self,
        row: EventRow,
        batch: AnchorBatch | None,
        public_key_b64: str | None,
        captured: Callable[[bytes, str, bytes], list[str]] | None = None,
    ) -> Verdict:
        """The verdict on one stored event, given its batch row and its supplier's public key
        (``captured``: the check of events an EPCIS capture stored, see ``event_reasons``)."""
        confirmed = batch is not None and batch.status == BatchStatus.CONFIRMED
        notes = (UNSIGNED,) if row.signature.startswith("unsigned:") else ()
        reasons = event_reasons(
            row.body.encode("utf-8"),
            row.digest,
            _public_key(public_key_b64, row.key_id),
            row.signature,
            (batch.root, _root_problems(batch, self.root(batch.root))) if batch is not None and confirmed else None,
            row.proof,
            self.walker,
            signature_ok=self.signature_ok,
            captured=captured or self.captured,
        )
        if row.anchor_id is not None and batch is None:
            reasons.append(_batch_missing(row.anchor_id))
        if batch is None or not confirmed:
            status: VerdictStatus = "INVALID" if reasons else "PENDING"
            waiting = "being anchored: the root is prepared, not yet confirmed" if batch else "not anchored yet"
            return Verdict(
                status,
                tuple(reasons or [f"{waiting}; waiting for the next 'cradletrace anchor'"]),
                row.id,
                row.digest,
                local_chain=self.chain.local,
                notes=notes,
            )
        return Verdict(
            "INVALID" if reasons else "VALID",
            tuple(reasons),
            row.id,
            row.digest,
            batch.root,
            batch.block_number,
            batch.tx_hash,
            self.chain.local,
            notes,
        )


def verify_event(session: Session, chain: Anchor | EventVerifier, ref: str) -> Verdict:
    """Verify one event by id or digest (``chain`` may be a shared EventVerifier)."""
    verifier = chain if isinstance(chain, EventVerifier) else EventVerifier(chain)
    row = find_event(session, ref)
    key = session.get(SupplierKey, row.key_id)
    batch = session.get(AnchorBatch, row.anchor_id) if row.anchor_id is not None else None
    return verifier.verify(row, batch, key.public_key if key else None, _captures(lambda: session))


def is_capture_reference(signature: str) -> bool:
    """Whether a signature column holds an EPCIS capture's reference (epcis/binding.py), not a signature."""
    return "epcis-capture:" in signature


# The note on an event captured without a request signature (Settings.epcis_unsigned_capture).
UNSIGNED = (
    "unsigned: captured through the EPCIS REST binding without a request signature, which the operator "
    "allowed; who sent it rests on the API key used, not on the supplier's signature"
)


def _captures(session: Callable[[], Session], fresh: bool = True) -> Callable[[bytes, str, bytes], list[str]]:
    from cradletrace.epcis.binding import CaptureChecker

    return CaptureChecker(session, fresh=fresh)


_AUDIT_CHUNK = 5000


def _public_key(public_key_b64: str | None, key_id: str) -> bytes | str:
    """The raw public key, or the reason no signature by ``key_id`` can verify."""
    if public_key_b64 is None:
        return f"signature bad: supplier key {key_id} is missing from the store"
    pub = base64.b64decode(public_key_b64)
    if signing.key_id(pub) != key_id:
        return f"signature bad: the stored public key does not match key id {key_id}"
    return pub


@dataclass
class AuditReport:
    events_checked: int = 0  # anchored and pending alike
    events_pending: int = 0  # of those, not anchored yet: content and signature checked, no proof yet
    roots_checked: int = 0
    bad_events: list[tuple[int, str, str]] = field(default_factory=list)  # (id, digest, reason)
    problems: list[str] = field(default_factory=list)  # roots, missing leaves

    @property
    def ok(self) -> bool:
        return not self.bad_events and not self.problems


def audit(
    session: Session,
    chain: Anchor,
    check_signatures: bool = True,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> AuditReport:
    """Re-verify every event and every root the contract holds.

    Pending events (not anchored yet, or in a batch not confirmed yet) are checked like
    ``verify`` checks them: content against digest and signature, with no proof to walk yet;
    a tampered pending event is a bad event like any other.

    Events are read in id order in chunks; each chunk is checked in ``workers`` consecutive
    slices (default: one per core) by threads, every check of an event in the thread that owns
    its slice, and the slices' findings are joined in order, so the report is the same whatever
    the worker count. Threads pay because Ed25519 verification (libsodium) lets go of the GIL
    for most of an event's cost; the rest (hash, proof walk, Python) takes turns on the GIL.
    """
    report = AuditReport()
    on_chain = {r.root.hex(): r for r in chain.roots()}
    batches = {b.id: b for b in session.exec(select(AnchorBatch).where(AnchorBatch.contract == chain.contract_address))}
    counts = dict(
        session.exec(
            select(EventRow.anchor_id, func.count())
            .where(col(EventRow.anchor_id).is_not(None))
            .group_by(col(EventRow.anchor_id))
        ).all()
    )
    by_root = {b.root: b for b in batches.values()}
    for root, r in on_chain.items():
        report.roots_checked += 1
        b = by_root.get(root)
        if b is None:
            report.problems.append(
                f"root 0x{root} (block {r.block_number}, {r.leaf_count} leaves) is on chain "
                "but not in the store: all of its leaves are missing"
            )
            continue
        have = counts.get(b.id, 0)
        if have < r.leaf_count:
            report.problems.append(
                f"root 0x{root} (batch {b.id}) has {r.leaf_count} leaves on chain, "
                f"the store has {have}: {r.leaf_count - have} anchored leaves missing from the store"
            )
        elif have > r.leaf_count:
            report.problems.append(
                f"root 0x{root} (batch {b.id}) has {r.leaf_count} leaves on chain, "
                f"the store has {have} events claiming it"
            )
    for b in batches.values():
        if b.status == BatchStatus.CONFIRMED and b.root not in on_chain:
            report.problems.append(f"batch {b.id}: root 0x{b.root} is confirmed in the store but not on chain")
    keys = {k.key_id: k.public_key for k in session.exec(select(SupplierKey))}
    check = _EventChecks(batches, on_chain, keys if check_signatures else None)
    check.captured = _captures(lambda: Session(session.get_bind(), expire_on_commit=False), fresh=False)
    rows = session.connection().execute(  # Core rows: ~2.5 µs a row, the ORM's ~6
        select_columns(
            col(EventRow.id),
            col(EventRow.digest),
            col(EventRow.body),
            col(EventRow.key_id),
            col(EventRow.signature),
            col(EventRow.anchor_id),
            col(EventRow.proof),
        )
        .order_by(col(EventRow.id))
        .execution_options(yield_per=_AUDIT_CHUNK)
    )
    n = max(1, workers or os.cpu_count() or 1) if check_signatures else 1  # without signatures nothing runs off the GIL

    def done(found: list[tuple[int, str, str]], chunk: Sequence[Row[*tuple[Any, ...]]]) -> None:
        report.bad_events.extend(found)
        report.events_checked += len(chunk)
        report.events_pending += sum(1 for r in chunk if check.batches.get(r.anchor_id, ()) is None)
        if progress:
            progress(report.events_checked)

    if n == 1:
        for chunk in rows.partitions():
            done(check(chunk), chunk)
        return report
    with ThreadPoolExecutor(max_workers=n) as pool:
        waiting: tuple[list[Future[list[tuple[int, str, str]]]], Sequence[Row[*tuple[Any, ...]]]] | None = None
        for chunk in rows.partitions():  # the next chunk is read while the threads check this one
            step = -(-len(chunk) // n)
            slices = [pool.submit(check, chunk[i : i + step]) for i in range(0, len(chunk), step)]
            if waiting:
                done([bad for f in waiting[0] for bad in f.result()], waiting[1])
            waiting = slices, chunk
        if waiting:
            done([bad for f in waiting[0] for bad in f.result()], waiting[1])
    return report


class _EventChecks:
    """Everything ``audit`` checks per event, callable on a slice of rows from any thread:
    per-key and per-batch facts are settled once, proofs share their walks above the leaves."""

    def __init__(
        self, batches: dict[int | None, AnchorBatch], on_chain: dict[str, OnChainRoot], keys: dict[str, str] | None
    ) -> None:
        self.keys = keys
        self.walker = ProofWalker()
        # per batch id (None: the event is not in a batch yet): None while unconfirmed, else (root, what is wrong with the root itself)
        self.batches: dict[int | None, tuple[str, list[str]] | None] = {None: None}
        for b in batches.values():
            self.batches[b.id] = (
                None if b.status != BatchStatus.CONFIRMED else (b.root, _root_problems(b, on_chain.get(b.root)))
            )
        self.key_state: dict[str, bytes | str] = {}
        self.captured: Callable[[bytes, str, bytes], list[str]] | None = None

    def _key(self, key_id: str) -> bytes | str:
        """The raw public key, or the reason no signature by ``key_id`` can verify."""
        state = self.key_state.get(key_id)
        if state is None:
            state = self.key_state[key_id] = _public_key((self.keys or {}).get(key_id), key_id)
        return state

    def __call__(self, rows: Sequence[Row[*tuple[Any, ...]]]) -> list[tuple[int, str, str]]:
        """(id, digest, reason) for every problem of ``rows``, in row order then check order
        (``event_reasons``, the same checks and wording as ``verify``)."""
        bad: list[tuple[int, str, str]] = []
        batches, walker, check_signatures = self.batches, self.walker, self.keys is not None
        for eid, digest, body, key_id, signature, anchor_id, proof in rows:
            key = self._key(key_id) if check_signatures else None
            reasons = event_reasons(
                body.encode("utf-8"),
                digest,
                key,
                signature,
                batches.get(anchor_id),
                proof,
                walker,
                captured=self.captured,
            )
            if anchor_id not in batches:
                reasons.append(_batch_missing(anchor_id))
            if reasons:
                bad.extend((eid, digest, reason) for reason in reasons)
        return bad


# -- bundles ---------------------------------------------------------------------------
# docs/proof-bundle.md. /2 carries the exact signed bytes; /1 (still read) carried the event as
# JSON, whose canonical form were the bytes.

BUNDLE_FORMAT_1 = "cradletrace-proof-bundle/1"


def proof_bundle(
    body: str,
    digest: str,
    signature: str,
    supplier_id: str,
    key_id: str,
    public_key: str | None,
    batch: AnchorBatch | None,
    proof: str | None,
    local: bool,
    key: dict[str, Any] | None = None,
    capture: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bundle (/2) of one stored event, from its columns alone: the one spelling of a proof,
    behind ``cradletrace proof``, the API's proof and the scan page's ``data-evidence`` (which the
    phone checks and "Save proof" downloads), so what is checked on the phone is what is saved.

    ``batch`` is the event's anchor batch (only ``root``, ``leaf_count``, ``status``, ``chain_id``,
    ``contract``, ``tx_hash``, ``block_number`` and ``block_time`` are read): until it is confirmed
    the root and leaf count are null and only steps 1-2 can be checked. ``key``: the supplier key's
    own proofs, ``{"registration": bundle, "revocation": bundle or None}`` (key transparency),
    emitted as given. ``capture``: for a record an EPCIS capture request signed (its ``signature`` is
    the capture's reference), that request's signature material (epcis/binding.capture_proofs),
    emitted as given. Pure: no query, so a page of records costs none per record."""
    confirmed = batch is not None and batch.status == BatchStatus.CONFIRMED
    out: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "bytes": base64.b64encode(body.encode("utf-8")).decode("ascii"),
        "digest": "0x" + digest,
        "signature": signature,
        "supplier": {"id": supplier_id, "key_id": key_id, "public_key": public_key},
        "proof": ["0x" + p for p in proof.split(",")] if confirmed and proof else [],
        "root": "0x" + batch.root if batch is not None and confirmed else None,
        "leaf_count": batch.leaf_count if batch is not None and confirmed else None,
        "chain": {
            "chain_id": batch.chain_id if batch is not None else None,
            "contract": batch.contract if batch is not None else None,
            "tx_hash": batch.tx_hash if confirmed and batch is not None else None,
            "block_number": batch.block_number if confirmed and batch is not None else None,
            "block_time": batch.block_time.isoformat()
            if confirmed and batch is not None and batch.block_time
            else None,
            "local_development_chain": local,
        },
    }
    if key is not None:
        out["key"] = key
    if capture is not None:
        out["capture"] = capture
    return out


def key_proofs(history: KeyHistory | None, local: bool) -> dict[str, Any]:
    """A bundle's ``key``: the key log's records of the signing key (keylog.key_records), each as
    a bundle of its own (without ``key``), so a verifier checks them by the same steps."""

    def one(record: KeyRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        a = record.anchor
        batch = (
            None
            if a is None
            else AnchorBatch(
                root=a.root,
                leaf_count=a.leaf_count,
                status=a.status,
                chain_id=a.chain_id,
                contract=a.contract,
                tx_hash=a.tx_hash,
                block_number=a.block_number,
                block_time=a.block_time,
            )
        )
        return proof_bundle(
            record.body,
            record.digest,
            record.signature,
            KEY_LOG_SUPPLIER,
            record.registry_key_id,
            record.registry_public_key,
            batch,
            ",".join(record.proof),
            local,
        )

    return {
        "registration": one(history.registration if history else None),
        "revocation": one(history.revocation if history else None),
    }


def export_bundle(session: Session, chain: Anchor, ref: str) -> dict[str, Any]:
    """Everything needed to verify one anchored event without our database (``proof_bundle``)."""
    row = find_event(session, ref)
    batch = session.get(AnchorBatch, row.anchor_id) if row.anchor_id is not None else None
    if batch is None or batch.status != BatchStatus.CONFIRMED:
        raise NotFoundError(f"event {row.id}: not anchored yet; run 'cradletrace anchor' first")
    key = session.get(SupplierKey, row.key_id)
    if key is None:
        raise NotFoundError(f"event {row.id}: its supplier key {row.key_id} is missing from the store")
    history = key_records(session, [row.key_id]).get(row.key_id)
    from cradletrace.epcis.binding import capture_proofs

    return proof_bundle(
        row.body,
        row.digest,
        row.signature,
        row.supplier_id,
        row.key_id,
        key.public_key,
        batch,
        row.proof,
        chain.local,
        key_proofs(history, chain.local),
        capture_proofs(session, [row.signature], body=True).get(row.signature),
    )


def _hex32(value: object, where: str) -> bytes:
    """32 bytes written as 64 hex digits (0x optional, either case); nothing else, not even spaces."""
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise InvalidInputError(Problem(where, "expected 0x and 64 hex digits"))
    return bytes.fromhex(value.removeprefix("0x"))


_HEX32 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class _BundleSupplier(BaseModel):
    model_config = ConfigDict(strict=True)
    id: str
    key_id: str
    public_key: str


class _BundleChain(BaseModel):
    model_config = ConfigDict(strict=True)
    chain_id: int
    contract: Annotated[str, StringConstraints(pattern=_ADDRESS)]
    tx_hash: str | None = None
    block_number: int | None = None


class _Bundle1(BaseModel):
    """The shape a /1 bundle must have before any of it is trusted to mean something."""

    model_config = ConfigDict(strict=True)
    format: Literal["cradletrace-proof-bundle/1"]
    event: dict[str, Any]
    digest: str
    signature: str
    supplier: _BundleSupplier
    proof: list[str]
    root: str
    leaf_count: int
    chain: _BundleChain


class _BundleChain2(BaseModel):
    """A /2 bundle's chain: null chain id and contract only while the root is (not anchored yet)."""

    model_config = ConfigDict(strict=True)
    chain_id: int | None
    contract: Annotated[str, StringConstraints(pattern=_ADDRESS)] | None
    tx_hash: str | None = None
    block_number: int | None = None


_Base64 = Annotated[str, StringConstraints(pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")]


class _BundleCapture(BaseModel):
    """A /2 bundle's ``capture``: the EPCIS capture request that signed a captured record
    (docs/proof-bundle.md "Captured events"; checked by epcis/binding.check_bundle_capture)."""

    model_config = ConfigDict(strict=True)
    id: int
    event: int
    unsigned: bool
    supplier: str
    key_id: str | None
    public_key: str | None
    media_type: str
    signature: dict[str, Any] | None
    body: _Base64 | None = None
    corrects: dict[str, str] | None = None


class _Bundle2(BaseModel):
    """The shape of a /2 bundle. ``key`` (the key's own proofs) is read as any object for now."""

    model_config = ConfigDict(strict=True)
    format: Literal["cradletrace-proof-bundle/2"]
    bytes: _Base64
    digest: str
    signature: str
    supplier: _BundleSupplier
    proof: list[str]
    root: str | None
    leaf_count: int | None
    chain: _BundleChain2
    key: dict[str, Any] | None = None
    capture: _BundleCapture | None = None


_FORMATS: dict[str, type[BaseModel]] = {BUNDLE_FORMAT_1: _Bundle1, BUNDLE_FORMAT: _Bundle2}


def _check_shape(value: object) -> dict[str, Any]:
    """``value`` as a bundle of a format we read, or InvalidInputError naming every bad field."""
    if not isinstance(value, dict):
        raise InvalidInputError(Problem("bundle", "expected a JSON object"))
    model = _FORMATS.get(value.get("format"))  # type: ignore[arg-type]
    if model is None:
        raise InvalidInputError(
            Problem(
                "bundle.format", f"expected one of {', '.join(map(repr, _FORMATS))}, got {value.get('format')!r:.80}"
            )
        )
    try:
        model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInputError(problems_of(exc, "bundle")) from None
    if value["format"] == BUNDLE_FORMAT and (value["root"] is None) != (value["leaf_count"] is None):
        raise InvalidInputError(Problem("bundle.leaf_count", "expected null exactly when root is null"))
    if (
        value["format"] == BUNDLE_FORMAT
        and value["root"] is not None
        and None
        in (
            value["chain"]["chain_id"],
            value["chain"]["contract"],
        )
    ):
        raise InvalidInputError(Problem("bundle.chain", "expected a chain_id and a contract once root is given"))
    return value


def read_bundle(text: str | bytes) -> dict[str, Any]:
    """Parse a bundle (/1 or /2) and check its shape; every problem names its field."""
    return _check_shape(parse_json(text))


# What a bundle's chain_for gives: the chain holding the bundle's contract, or why there is none
# (another chain id, no code at the address): a reason for an INVALID verdict, not an error.
ChainFor = Callable[[int, str], "Anchor | str"]


def verify_bundle(bundle: dict[str, Any], chain_for: ChainFor, *, key_step: bool = True) -> Verdict:
    """Check a bundle: content, signature and proof offline, then the root on the named chain.

    /2: the signed bytes are the bundle's ``bytes``; the event read from them must name the
    bundle's supplier and key, and (step 5, unless ``key_step`` is False: the key's own records are
    bundles without a ``key``) its ``key`` must prove the key registered in the key log before the
    root's block and not revoked before it (``_key_problems``). A /2 bundle whose root is null (not
    anchored when exported) gets the offline checks and is PENDING at best. /1: the bytes are the
    event's canonical form; its ``key_revoked`` is reported as a note."""
    _check_shape(bundle)
    digest = _hex32(bundle["digest"], "bundle.digest")
    root = _hex32(bundle["root"], "bundle.root") if bundle["root"] is not None else None
    proof = [_hex32(p, f"bundle.proof[{i}]") for i, p in enumerate(bundle["proof"])]
    notes: list[str] = []
    if bundle["format"] == BUNDLE_FORMAT_1:
        message, event = canonical_bytes(bundle["event"]), bundle["event"]
        if bundle["supplier"].get("key_revoked") is True:
            notes.append("the supplier's key was revoked when this bundle was exported")
        first: list[str] = []
    else:
        message = base64.b64decode(bundle["bytes"])
        event, first = _signed_event(message, bundle["supplier"]["id"])
    ch = bundle["chain"]
    chain: Anchor | str | None = None
    anchored: tuple[str, list[str]] | None = None
    if root is not None:
        chain = chain_for(int(ch["chain_id"]), str(ch["contract"]))
        anchored = (root.hex(), [chain] if isinstance(chain, str) else _bundle_root_problems(bundle, chain, root))
    captured: list[str] = []  # notes of a record an EPCIS capture signed (epcis/binding.check_bundle_capture)

    def capture_check(message: bytes, signature: str, key: bytes) -> list[str]:
        from cradletrace.epcis.binding import check_bundle_capture

        reasons, notes = check_bundle_capture(bundle.get("capture"), message, signature, key, bundle["supplier"]["id"])
        captured.extend(notes)
        return reasons

    reasons = event_reasons(
        message,
        digest.hex(),
        _bundle_key(bundle, event),
        str(bundle["signature"]),
        anchored,
        ",".join(p.hex() for p in proof),
        ProofWalker(),
        _BUNDLED,
        captured=capture_check if bundle["format"] == BUNDLE_FORMAT else None,
    )
    reasons[1 if reasons[:1] == [_BUNDLED.content] else 0 : 0] = first  # in check order: after the digest
    if root is None and not reasons and key_step and bundle["format"] == BUNDLE_FORMAT:
        reasons, notes = _key_problems(bundle, chain_for, None)
    if root is None or chain is None:
        return Verdict(
            "INVALID" if reasons else "PENDING",
            tuple(reasons or ["not anchored yet: the bundle has no root; export it again once its batch is confirmed"]),
            None,
            digest.hex(),
            local_chain=bool(ch.get("local_development_chain")),
            notes=(*captured, *notes),
        )
    if not reasons and not isinstance(chain, str) and not chain.verify_leaf(root, digest, proof):
        reasons.append("proof wrong: the contract's verifyLeaf refuses it")
    if not reasons and key_step and bundle["format"] == BUNDLE_FORMAT and not isinstance(chain, str):
        reasons, notes = _key_problems(bundle, chain_for, chain.lookup(root))
    return Verdict(
        "INVALID" if reasons else "VALID",
        tuple(reasons),
        None,
        digest.hex(),
        root.hex(),
        ch.get("block_number"),
        ch.get("tx_hash"),
        chain.local if not isinstance(chain, str) else bool(ch.get("local_development_chain")),
        (*captured, *notes),
    )


def _key_problems(
    bundle: dict[str, Any], chain_for: ChainFor, anchored: OnChainRoot | None
) -> tuple[list[str], list[str]]:
    """Step 5 (key transparency), as docs/proof-bundle.md and the phone's proofcheck.js: the
    bundle's ``key.registration`` is the key log's record registering the key that signed it, on
    chain in a block no later than the record's root (``anchored``; None while not anchored), and
    ``key.revocation``, when there is one, is not on chain before it. A record the log wrote later
    for a key older than the log (``backfilled``) is judged by its own date, and a note says so.
    Returns (reasons, notes)."""
    key = bundle.get("key")
    if not isinstance(key, dict):
        return ["key unproven: expected the key's own proofs (key.registration), got none"], []
    reg, reasons = _key_record(key.get("registration"), "register", bundle, chain_for)
    if reasons:
        return reasons, []
    if reg is None:
        return [f"key unproven: expected the key log's registration of key {bundle['supplier']['key_id']}"], []
    notes: list[str] = []
    if anchored is not None:
        if reg.on_chain is None:
            return [
                f"key unproven: its registration is not anchored, while the record is (block {anchored.block_number})"
            ], []
        if reg.on_chain.block_number > anchored.block_number:
            if not (reg.backfilled and reg.at <= anchored.block_time):
                return [
                    f"key unproven: key {bundle['supplier']['key_id']} was logged in block "
                    f"{reg.on_chain.block_number}, after the record's block {anchored.block_number}"
                ], []
            notes.append("the signing key predates the key log; its registration was logged later")
    rev, reasons = _key_record(key.get("revocation"), "revoke", bundle, chain_for)
    if reasons:
        return reasons, []
    if rev is not None and rev.on_chain is not None:
        before = (
            anchored is None
            or (rev.backfilled and rev.at < anchored.block_time)
            or (not rev.backfilled and rev.on_chain.block_number < anchored.block_number)
        )
        if before:
            where = (
                "this record is not anchored yet"
                if anchored is None
                else f"before the record's block {anchored.block_number}"
            )
            return [f"key revoked: key {bundle['supplier']['key_id']} was revoked, {where}"], []
    return [], notes


@dataclass(frozen=True)
class _KeyFacts:
    on_chain: OnChainRoot | None
    backfilled: bool
    at: datetime


def _key_record(
    value: object, action: str, bundle: dict[str, Any], chain_for: ChainFor
) -> tuple[_KeyFacts | None, list[str]]:
    """One of the key's own records (a /2 bundle without ``key``), checked by steps 1-4 and read:
    the key log's record of ``action`` for the bundle's key. (None, []) when there is none."""
    if value is None:
        return None, []
    where = f"key.{'registration' if action == 'register' else 'revocation'}"
    try:
        verdict = verify_bundle(value, chain_for, key_step=False)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        return None, [f"key unproven: {where}: {exc}"]
    if verdict.status == "INVALID":
        return None, [f"key unproven: {where}: {r}" for r in verdict.reasons]
    record: dict[str, Any] = value  # type: ignore[assignment]
    parsed = parse_json(base64.b64decode(record["bytes"]))  # a JSON object: the digest and signature held
    event: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    sup = bundle["supplier"]
    if (
        event.get("kind") != "key"
        or record["supplier"]["id"] != KEY_LOG_SUPPLIER
        or data.get("action") != action
        or (data.get("supplier"), data.get("key_id"), data.get("public_key"))
        != (sup["id"], sup["key_id"], sup["public_key"])
    ):
        return None, [
            f"key unproven: {where}: expected the key log's record of {action} for key {sup['key_id']} of "
            f"{sup['id']!r}, got a {event.get('kind')!r:.20} record of {record['supplier']['id']!r:.40} about key "
            f"{data.get('key_id')!r:.20} ({data.get('action')!r:.10})"
        ]
    on_chain = None
    if record["root"] is not None:
        chain = chain_for(int(record["chain"]["chain_id"]), str(record["chain"]["contract"]))
        if (record["chain"]["chain_id"], record["chain"]["contract"].lower()) != (
            bundle["chain"]["chain_id"],
            str(bundle["chain"]["contract"]).lower(),
        ) and bundle["root"] is not None:
            return None, [f"key unproven: {where}: anchored on another chain or contract than the record"]
        on_chain = chain.lookup(_hex32(record["root"], f"bundle.{where}.root")) if not isinstance(chain, str) else None
    # Block times are whole seconds: a change within the block's second counts as before it.
    at = datetime.fromisoformat(str(data.get("at"))).replace(microsecond=0)
    return _KeyFacts(on_chain, data.get("backfilled") is True, at), []


def _bundle_root_problems(bundle: dict[str, Any], chain: Anchor, root: bytes) -> list[str]:
    """What is wrong with the bundle's root on ``chain``: not held, or held with another leaf count."""
    found = chain.lookup(root)  # the chain stays open: it belongs to whoever chain_for got it from
    if found is None:
        return [f"root not on chain: contract {bundle['chain']['contract']} does not hold root {bundle['root']}"]
    if found.leaf_count != int(bundle["leaf_count"]):
        return [f"root on chain with {found.leaf_count} leaves, the bundle says {bundle['leaf_count']}"]
    return []


def _signed_event(message: bytes, supplier_id: str) -> tuple[dict[str, Any], list[str]]:
    """The event in a /2 bundle's signed bytes, and what is wrong with it as this supplier's
    event: bytes that are no JSON object, or an event naming another supplier than the bundle."""
    try:
        event = parse_json(message)
    except InvalidInputError:
        event = None
    if not isinstance(event, dict):
        return {}, ["content unreadable: the signed bytes are not a JSON object"]
    if event.get("supplier") != supplier_id:
        return event, [
            f"supplier wrong: the bundle's supplier.id {supplier_id!r} is not the signed event's supplier "
            f"{event.get('supplier')!r:.80}"
        ]
    return event, []


def _bundle_key(bundle: dict[str, Any], event: dict[str, Any]) -> bytes | str:
    """The bundle's raw public key, or why no signature can verify under it: it must be 32 bytes,
    have the supplier's key id, and that id must be the event's ``key``."""
    sup = bundle["supplier"]
    try:
        pub = base64.b64decode(sup["public_key"], validate=True)
    except (ValueError, TypeError, KeyError):
        pub = b""
    if len(pub) != 32 or signing.key_id(pub) != sup.get("key_id") or sup.get("key_id") != event.get("key"):
        return "signature bad: the public key does not match the event's key id"
    return pub


def verify_bundle_on(settings: Settings, bundle: dict[str, Any]) -> Verdict:
    """Verify a bundle against the chain ``settings`` name (embedded file or --rpc-url), with no
    database: the contract is the one the bundle names, on a chain whose id must match."""
    from cradletrace.chain.connect import anchor_at

    opened: list[Anchor] = []
    known: dict[tuple[int, str], Anchor | str] = {}

    def chain_for(chain_id: int, contract: str) -> Anchor | str:
        """One connection per chain and contract (the key's own records are usually on the same)."""
        if (chain_id, contract.lower()) not in known:
            found = known[(chain_id, contract.lower())] = anchor_at(settings, chain_id, contract)
            if not isinstance(found, str):
                opened.append(found)
        return known[(chain_id, contract.lower())]

    try:
        return verify_bundle(bundle, chain_for)
    finally:
        for chain in opened:
            chain.close()


def iter_bad(report: AuditReport) -> Iterator[str]:
    for eid, digest, reason in report.bad_events:
        yield f"event {eid} ({digest[:16]}…): {reason}"
    yield from report.problems

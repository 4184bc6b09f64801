"""Capture jobs of the EPCIS 2.0 REST binding (``POST /epcis/capture``): taken at once, stored whole, run later.

The route checks what is cheap (size, media type, the request signature: httpsig.py) and keeps the
request (``submit``: table ``epcis_capture``, body bytes as received, the signature material), then
answers 202 with the job's URL. A worker (``CaptureWorker``: a thread of each API process) runs each
pending job (``run_job``) all or nothing: the events it stores, their originals and index rows, and
the job's end state are written in ONE transaction. So a process killed mid-job leaves the job
pending, with nothing of it stored, and the next worker runs it again: a job is never lost, never
applied twice. Two workers on one job: the second waits on the first's row lock (PostgreSQL) or on
the store's one writer (SQLite), then finds the job no longer pending and leaves it.

Events stored by a job carry, in their signature column, the job's reference
``epcis-capture:<id>/<n>`` (n: the event's place in the document's eventList): they are signed by the
request signature over the whole body, which verification.py checks again (``check_event``).
A job captured unsigned (``Settings.epcis_unsigned_capture``) writes ``unsigned:epcis-capture:<id>/<n>``
and its events show ``ct:unsigned: true`` in query results.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, or_, update
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from cradletrace import suppliers
from cradletrace.core import canonical, signing
from cradletrace.core.testreport import Limit
from cradletrace.epcis import httpsig
from cradletrace.epcis.capture import Mapped, capture, check_size, map_document, read_document, stored_ids
from cradletrace.epcis.validation import events_of, validate
from cradletrace.errors import (
    InvalidInputError,
    NotAllowedError,
    NotFoundError,
    Problem,
    RequestSignatureError,
    TraceError,
)
from cradletrace.store.models import CaptureState, EpcisCapture, EpcisIndex, EventRow, SupplierKey

log = logging.getLogger("cradletrace.epcis")

REF = re.compile(r"^(unsigned:)?epcis-capture:(\d+)/(\d+)$")
MAX_ATTEMPTS = 5  # a job that keeps failing for an unexpected reason is failed, not retried for ever
VALIDATION = "epcisException:ValidationException"


def reference(capture_id: int, n: int, unsigned: bool) -> str:
    """The signature column of the ``n``-th event a capture stored."""
    return f"{'unsigned:' if unsigned else ''}epcis-capture:{capture_id}/{n}"


def parse_reference(signature: str) -> tuple[int, int, bool] | None:
    """(capture id, place in the eventList, unsigned) of an event stored by a capture, else None."""
    m = REF.match(signature)
    return (int(m.group(2)), int(m.group(3)), m.group(1) is not None) if m else None


def key_lookup(session: Session, supplier_id: str) -> Callable[[str], bytes]:
    """The public key of a keyid, refused (RequestSignatureError naming Signature-Input) unless it is a
    registered, unrevoked key of ``supplier_id``, the supplier the caller's API key acts for."""

    def lookup(key_id: str) -> bytes:
        key = session.get(SupplierKey, key_id)
        why = suppliers.key_refusal(supplier_id, key, key_id)
        if why is None and key is not None and key.revoked_at is not None:
            why = f"key {key_id!r} of supplier {supplier_id!r} was revoked; expected an active key"
        if why:
            raise RequestSignatureError("Signature-Input", f"keyid: {why}")
        assert key is not None
        return base64.b64decode(key.public_key)

    return lookup


def submit(
    session: Session,
    supplier_id: str,
    media_type: str,
    body: bytes,
    material: httpsig.Material | None,
    now: datetime,
) -> int:
    """Keep a capture request as a pending job; returns its id. The caller commits."""
    row = EpcisCapture(
        supplier_id=supplier_id,
        key_id=material.key_id if material else None,
        media_type=media_type,
        body=body,
        signature=material.to_json() if material else None,
        state=CaptureState.PENDING,
        created_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def pending(session: Session, limit: int = 20) -> list[int]:
    """The oldest pending jobs' ids."""
    q = select(EpcisCapture.id).where(EpcisCapture.state == CaptureState.PENDING).order_by(col(EpcisCapture.id))
    return [i for i in session.exec(q.limit(limit)) if i is not None]


def get(session: Session, capture_id: int, supplier_id: str | None = None, body: bool = False) -> EpcisCapture:
    """One job; ``supplier_id``: only that supplier's (another's is as not found). Its body (up to
    the file-size limit) is read only when asked for: a client polling its job does not pull it."""
    q = select(EpcisCapture).where(col(EpcisCapture.id) == capture_id)
    if not body:
        q = q.options(defer(EpcisCapture.body))  # type: ignore[arg-type]
    row = session.exec(q).first()
    if row is None or (supplier_id is not None and row.supplier_id != supplier_id):
        raise NotFoundError(f"capture {capture_id}: no such capture job")
    return row


def page(session: Session, supplier_id: str | None, after: int, per_page: int) -> list[EpcisCapture]:
    """Jobs newest first below ``after`` (0: from the newest); ``supplier_id``: only that supplier's."""
    q = (
        select(EpcisCapture)
        .options(defer(EpcisCapture.body))  # type: ignore[arg-type]
        .order_by(col(EpcisCapture.id).desc())
        .limit(per_page)
    )
    if supplier_id is not None:
        q = q.where(EpcisCapture.supplier_id == supplier_id)
    if after:
        q = q.where(col(EpcisCapture.id) < after)
    return list(session.exec(q))


def job_document(row: EpcisCapture) -> dict[str, Any]:
    """The job as GS1's OpenAPI ``CaptureJob``: running, success, errors (RFC 7807 problems, each
    with the JSON pointer of the event or field at fault in ``pointer``; not in ``instance``, which
    GS1's schema wants an absolute URI; the XML form, whose XSD takes any URI reference, has it there)."""
    errors = json.loads(row.errors) if row.errors else []
    out: dict[str, Any] = {
        "captureID": str(row.id),
        "createdAt": row.created_at.isoformat().replace("+00:00", "Z"),
        "running": row.state == CaptureState.PENDING,
        "success": row.state != CaptureState.FAILED,
        "captureErrorBehaviour": "rollback",
        "errors": [
            {
                "type": VALIDATION,
                "title": "Capture job rejected",
                "status": 400,
                "detail": e["message"],
                "pointer": e["pointer"],
            }
            for e in errors
        ],
        "ct:eventCount": row.event_count,
        "ct:signed": row.key_id is not None,
    }
    if row.finished_at is not None:
        out["finishedAt"] = row.finished_at.isoformat().replace("+00:00", "Z")
    return out


@dataclass(frozen=True)
class Prepared:
    """A job's document, checked and mapped, ready to store."""

    document: dict[str, Any]
    mapped: list[Mapped]


EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
GS1_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def as_document(value: Any) -> Any:
    """A single EPCIS event (``POST /epcis/events``) as the one-event EPCISDocument it is captured as,
    an EPCISQueryDocument (GS1: capture takes those too) as the EPCISDocument of its events
    (deterministic: the same bytes give the same document, so a later check maps it the same way);
    anything else as it is."""
    if isinstance(value, dict) and value.get("type") == "EPCISQueryDocument":
        results = value.get("epcisBody", {}).get("queryResults", {}) if isinstance(value.get("epcisBody"), dict) else {}
        events = results.get("resultsBody", {}).get("eventList") if isinstance(results, dict) else None
        if isinstance(events, list):
            return {
                "@context": value.get("@context", [GS1_CONTEXT]),
                "type": "EPCISDocument",
                "schemaVersion": value.get("schemaVersion", "2.0"),
                "creationDate": value.get("creationDate", "1970-01-01T00:00:00Z"),
                "epcisBody": {"eventList": events},
            }
    if not isinstance(value, dict) or "epcisBody" in value or value.get("type") not in EVENT_TYPES:
        return value
    event = {k: v for k, v in value.items() if k != "@context"}
    return {
        "@context": value.get("@context", [GS1_CONTEXT]),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": value.get("eventTime", "1970-01-01T00:00:00Z"),
        "epcisBody": {"eventList": [event]},
    }


def stored_event(session: Session, capture_id: int) -> dict[str, Any] | None:
    """The EPCIS event a one-event capture (``POST /epcis/events``) stored, as queries return it."""
    refs = [reference(capture_id, 0, False), reference(capture_id, 0, True)]
    q = (
        select(EpcisIndex.body)
        .join(EventRow, col(EventRow.id) == col(EpcisIndex.event_id))
        .where(col(EventRow.signature).in_(refs))
    )
    body = session.exec(q).first()
    return json.loads(body) if body else None


def prepare(session: Session, row: EpcisCapture, limits: Mapping[str, Limit], max_events: int) -> Prepared:
    """Parse, validate and map a job's body (no writes); InvalidInputError names every problem."""
    document = as_document(read_document(row.body, row.media_type))
    if not isinstance(document, dict):
        raise InvalidInputError(Problem("", "expected an EPCISDocument (a JSON object or EPCIS XML)"))
    n = len(events_of(document))
    if n > max_events:
        raise InvalidInputError(Problem("/epcisBody/eventList", f"expected at most {max_events} events, got {n}"))
    check_size(document)
    problems = validate(document)
    if problems:
        raise InvalidInputError(problems)
    key = row.key_id or suppliers.active_key(session, row.supplier_id).key_id
    stored = stored_ids(session, document, row.supplier_id)  # error declarations of stored events: corrections
    return Prepared(document, map_document(document, row.supplier_id, key, limits, stored, generic=True))


def _fail(session: Session, capture_id: int, problems: Sequence[Problem], now: datetime) -> None:
    errors = [{"pointer": p.where, "message": p.message} for p in problems] or [
        {"pointer": "", "message": "capture failed"}
    ]
    session.execute(
        update(EpcisCapture)
        .where(col(EpcisCapture.id) == capture_id, col(EpcisCapture.state) == CaptureState.PENDING)
        .values(state=CaptureState.FAILED, errors=json.dumps(errors, ensure_ascii=False), finished_at=now)
    )
    session.commit()


def _problems(exc: TraceError) -> list[Problem]:
    got = list(getattr(exc, "problems", []))
    return got or [Problem("", str(exc))]


def run_job(
    new_session: Callable[[], Session],
    capture_id: int,
    limits: Mapping[str, Limit],
    max_events: int,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str | None:
    """Run one pending job to its end state, all or nothing; returns that state (None: not pending
    any more, or left pending after a store failure, for the next run)."""
    with new_session() as session:
        started = session.execute(
            update(EpcisCapture)
            .where(col(EpcisCapture.id) == capture_id, col(EpcisCapture.state) == CaptureState.PENDING)
            .values(started_at=now(), attempts=col(EpcisCapture.attempts) + 1)
        )
        session.commit()
        if started.rowcount == 0:  # type: ignore[attr-defined]
            return None
        row = session.get(EpcisCapture, capture_id)
        assert row is not None
        if row.attempts > MAX_ATTEMPTS:
            _fail(session, capture_id, [Problem("", f"capture failed {MAX_ATTEMPTS} times; see the server log")], now())
            return CaptureState.FAILED
        unsigned = row.key_id is None
        try:
            ready = prepare(session, row, limits, max_events)
        except (InvalidInputError, NotAllowedError) as exc:
            session.rollback()
            _fail(session, capture_id, _problems(exc), now())
            return CaptureState.FAILED
        session.rollback()  # nothing written: end the read transaction before the write one
        # The write transaction: first take the job (its row lock, or SQLite's one writer), then the events.
        taken = session.execute(
            update(EpcisCapture)
            .where(col(EpcisCapture.id) == capture_id, col(EpcisCapture.state) == CaptureState.PENDING)
            .values(state=CaptureState.PENDING)
        )
        if taken.rowcount == 0:  # type: ignore[attr-defined]
            session.rollback()
            return None
        places = {where: i for i, (where, _) in enumerate(events_of(ready.document))}
        refs = [reference(capture_id, places[m.where], unsigned) for m in ready.mapped]
        at = now()
        try:
            rows = capture(session, ready.document, ready.mapped, refs, at, limits, captured=True, unsigned=unsigned)
        except (InvalidInputError, NotAllowedError) as exc:
            session.rollback()
            _fail(session, capture_id, _problems(exc), now())
            return CaptureState.FAILED
        session.execute(
            update(EpcisCapture)
            .where(col(EpcisCapture.id) == capture_id)
            .values(state=CaptureState.SUCCESS, finished_at=at, event_count=len(rows), errors=None)
        )
        session.commit()
        return CaptureState.SUCCESS


class CaptureWorker:
    """Runs pending capture jobs: woken by each new job, and every ``interval`` seconds in case
    another process took one or this one was restarted. Any number of processes may run one."""

    def __init__(
        self,
        new_session: Callable[[], Session],
        limits: Callable[[], Mapping[str, Limit]],
        max_events: int,
        interval: float,
    ) -> None:
        self.new_session = new_session
        self.limits = limits
        self.max_events = max_events
        self.interval = interval
        self.wake = threading.Event()

    def run_pending(self) -> int:
        """Run every job pending now; returns how many ended."""
        done = 0
        while True:
            with self.new_session() as session:
                ids = pending(session)
            if not ids:
                return done
            for capture_id in ids:
                if run_job(self.new_session, capture_id, self.limits(), self.max_events) is not None:
                    done += 1
            if len(ids) < 20:
                return done

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_pending()
            except Exception as exc:  # a down store: the jobs stay pending, the next round retries
                log.warning("EPCIS capture worker: %s: %s", type(exc).__name__, str(exc)[:300])
            self.wake.wait(self.interval)
            self.wake.clear()


def document_of(session: Session, row: EpcisCapture) -> dict[str, Any]:
    """What ``GET /epcis/capture/{id}/document`` serves and ``cradletrace epcis verify-capture`` checks:
    the body exactly as received (base64), its media type, the signature material and the public key
    of the key that signed (the key log anchors it: compare it there)."""
    key = session.get(SupplierKey, row.key_id) if row.key_id else None
    return {
        "captureID": str(row.id),
        "supplier": row.supplier_id,
        "mediaType": row.media_type,
        "body": base64.b64encode(row.body).decode("ascii"),
        "sha256": canonical.sha256(row.body).hex(),
        "signature": json.loads(row.signature) if row.signature else None,
        "publicKey": key.public_key if key else None,
        "signed": row.signature is not None,
    }


def check_document(doc: Mapping[str, Any], public_key: bytes | None = None) -> httpsig.Material:
    """Re-check a downloaded capture document offline (``document_of``'s shape): the request signature
    by ``public_key`` (default: the one the document names) over the covered values, and the
    Content-Digest over the body. Raises RequestSignatureError saying what does not hold."""
    if not doc.get("signature"):
        raise RequestSignatureError("Signature", "expected a signed capture; this one was taken unsigned")
    material = httpsig.Material.from_json(json.dumps(doc["signature"]))
    key = public_key if public_key is not None else base64.b64decode(str(doc.get("publicKey") or ""))
    httpsig.recheck(material, base64.b64decode(str(doc["body"])), key)
    return material


def _stored_before(session: Session, capture_id: int, stored: Mapping[str, str]) -> dict[str, str]:
    """``stored`` (eventID or hash -> digest) without the events stored by this capture or after it: the
    store as the capture's job saw it, so a later check maps its error declarations as the job did."""
    if not stored:
        return {}
    own = like_capture(capture_id)
    first = session.exec(select(func.min(EventRow.id)).where(own)).one()
    digests = sorted(set(stored.values()))
    before = set(
        session.exec(select(EventRow.digest).where(col(EventRow.digest).in_(digests), col(EventRow.id) < (first or 0)))
    )
    return {k: v for k, v in stored.items() if v in before}


def like_capture(capture_id: int) -> Any:
    """The SQL condition of the event rows a capture stored (signed or not)."""
    return or_(
        col(EventRow.signature).like(f"epcis-capture:{capture_id}/%"),
        col(EventRow.signature).like(f"unsigned:epcis-capture:{capture_id}/%"),
    )


class CaptureChecker:
    """The signature check of events a capture stored (verification.event_reasons' ``captured``): the
    capture's kept request signature by the event's key over the kept body (re-checked as
    ``verify-capture`` does), and the event's bytes those the profile maps from its place in that body
    (with the packaged analyte limits). A capture is checked and mapped once per body and signature it holds
    (``fresh``: its body is read again for each event, so a changed row is seen at once; an audit, which
    reads every event of a capture in one run, passes False and reads it once). Thread-safe."""

    def __init__(self, new_session: Callable[[], Session], keep: int = 8, fresh: bool = True) -> None:
        self.new_session = new_session
        self.keep = keep
        self.fresh = fresh
        self._done: dict[tuple[int, bytes, bytes], list[bytes] | str] = {}
        self._rows: dict[int, tuple[bytes, str, str | None, str, str | None] | None] = {}
        self._lock = threading.Lock()

    def __call__(self, message: bytes, signature: str, public_key: bytes) -> list[str]:
        ref = parse_reference(signature)
        if ref is None:
            return [f"signature bad: {signature[:60]!r} is no EPCIS capture reference"]
        capture_id, n, unsigned = ref
        if unsigned:
            return []  # nothing to check: verification notes it (verification.UNSIGNED)
        mapped = self._mapped(capture_id, public_key)
        if isinstance(mapped, str):
            return [mapped]
        if n >= len(mapped) or mapped[n] != message:
            return [
                f"signature bad: event {n} of capture {capture_id}'s signed document does not map to this "
                "stored event (the stored event or the kept document changed)"
            ]
        return []

    def _row(self, capture_id: int) -> tuple[bytes, str, str | None, str, str | None] | None:
        if not self.fresh and capture_id in self._rows:
            return self._rows[capture_id]
        with self.new_session() as session:
            row = session.get(EpcisCapture, capture_id)
            got = None if row is None else (row.body, row.media_type, row.signature, row.supplier_id, row.key_id)
        if not self.fresh:
            with self._lock:
                self._rows = {capture_id: got}  # an audit reads events in id order: one capture at a time
        return got

    def _mapped(self, capture_id: int, public_key: bytes) -> list[bytes] | str:
        row = self._row(capture_id)
        if row is None:
            return f"signature bad: capture {capture_id}, whose request signed this event, is missing from the store"
        body, media, signed, supplier, key_id = row
        if signed is None or key_id is None:
            return f"signature bad: capture {capture_id} was taken unsigned"
        cache = (capture_id, public_key, canonical.sha256(body + b"\n" + signed.encode()))  # a changed material too
        with self._lock:
            hit = self._done.get(cache)
        if hit is not None:
            return hit
        got: list[bytes] | str
        try:
            httpsig.recheck(httpsig.Material.from_json(signed), body, public_key)
            document = as_document(read_document(body, media))
            got = mapped_bytes(document, supplier, key_id, corrected(self.new_session, capture_id, document, supplier))
        except RequestSignatureError as exc:
            got = f"signature bad: capture {capture_id}'s request signature: {exc}"
        except InvalidInputError as exc:
            got = f"signature bad: capture {capture_id}'s kept document no longer maps: {exc}"[:500]
        with self._lock:
            if len(self._done) >= self.keep:
                self._done.clear()
            self._done[cache] = got
        return got


def corrected(new_session: Callable[[], Session], capture_id: int, document: Any, supplier: str) -> dict[str, str]:
    """What a kept document's error declarations corrected, the store as the capture's job saw it
    (``_stored_before``): read in a session of its own, nothing kept."""
    with new_session() as session:
        stored = _stored_before(session, capture_id, stored_ids(session, document, supplier))
        session.rollback()
    return stored


def mapped_bytes(document: Any, supplier: str, key_id: str, stored: Mapping[str, str]) -> list[bytes]:
    """The canonical bytes of each event a kept capture document maps to (with the packaged analyte
    limits), in eventList order: what an event row stored by it must be. Behind ``CaptureChecker``
    and a proof bundle's capture check (``check_bundle_capture``), so both map alike."""
    from cradletrace.workspace import default_limits

    return [
        canonical.canonical_bytes(m.event)
        for m in map_document(document, supplier, key_id, default_limits(), stored, generic=True)
    ]


# -- proof bundles of captured events (docs/proof-bundle.md "Captured events") ------------------------


def capture_proofs(
    session: Session | Connection, signatures: Iterable[str], body: bool = False
) -> dict[str, dict[str, Any]]:
    """The bundle ``capture`` object of each capture reference among ``signatures`` (others are left
    out): the capture id, the event's place n, the kept signature material (``Material``), the key
    that signed and its public key, and with ``body`` the request body (base64) and what its error
    declarations corrected (``corrects``), so event n can be mapped again without our store.
    One query for all of them: a scan page asks for its records' at once, without bodies."""
    refs = {s: r for s in signatures if (r := parse_reference(s)) is not None}
    if not refs:
        return {}
    ids = sorted({r[0] for r in refs.values()})
    columns: list[Any] = [
        EpcisCapture.id,
        EpcisCapture.supplier_id,
        EpcisCapture.key_id,
        EpcisCapture.media_type,
        EpcisCapture.signature,
        SupplierKey.public_key,
    ]
    if body:
        columns.append(EpcisCapture.body)
    q = (
        select(*columns)
        .outerjoin(SupplierKey, col(SupplierKey.key_id) == col(EpcisCapture.key_id))
        .where(col(EpcisCapture.id).in_(ids))
    )
    rows = {r[0]: r for r in session.execute(q).all()}
    bind = session.get_bind() if isinstance(session, Session) else session.engine
    out: dict[str, dict[str, Any]] = {}
    for signature, (capture_id, n, unsigned) in refs.items():
        row = rows.get(capture_id)
        if row is None:
            continue  # the capture is gone: the bundle has no material, and its check says so
        got: dict[str, Any] = {
            "id": capture_id,
            "event": n,
            "unsigned": unsigned,
            "supplier": row[1],
            "key_id": row[2],
            "public_key": row[5],
            "media_type": row[3],
            "signature": json.loads(row[4]) if row[4] else None,
        }
        if body:
            got["body"] = base64.b64encode(row[6]).decode("ascii")
            try:
                document = as_document(read_document(row[6], row[3]))
                stored = corrected(partial(Session, bind), capture_id, document, row[1])
            except InvalidInputError:
                stored = {}
            if stored:
                got["corrects"] = stored
        out[signature] = got
    return out


# The note on a verified bundle of a captured event; the phone says the same (proofcheck.js "capture").
CAPTURE_NOTE = (
    "capture: signed as part of supplier {supplier}'s EPCIS capture request {id} (event {n}): its HTTP "
    "Message Signature (RFC 9421, ed25519) verifies under key {key}"
)
NO_BODY = (
    "; the request body is not in this bundle, so its Content-Digest was not checked against a body, nor "
    "that event {n} of it maps to this record (the anchored digest and proof were); 'cradletrace proof' "
    "or GET /epcis/capture/{id}/document give the body"
)
WITH_BODY = "; its Content-Digest matches the body and event {n} of that body maps to exactly this record"


def check_bundle_capture(
    capture: Mapping[str, Any] | None, message: bytes, signature: str, public_key: bytes, supplier: str
) -> tuple[list[str], list[str]]:
    """(reasons, notes) for a bundle's record whose ``signature`` is a capture's reference: the
    bundle's ``capture`` must be that capture, signed by the record's own key (``public_key``, which
    the bundle's key proofs cover), its request signature must verify (``httpsig.recheck_signature``:
    the library rebuilds the RFC 9421 signature base), and when the body is there, its
    Content-Digest must hold and event n of it must map to exactly ``message``. Without the body a
    note says what was not checked; an unsigned capture is noted unsigned, never as signed."""
    ref = parse_reference(signature)
    if ref is None:
        return [f"signature bad: {signature[:60]!r} is no EPCIS capture reference"], []
    capture_id, n, unsigned = ref
    if capture is None:
        return [
            f"signature bad: the record was signed by EPCIS capture {capture_id}'s request, and the bundle "
            "carries no capture (its signature material); expected bundle.capture"
        ], []
    if (capture["id"], capture["event"], capture["unsigned"]) != (capture_id, n, unsigned):
        return [
            f"signature bad: bundle.capture is capture {capture['id']} event {capture['event']}, "
            f"the record names capture {capture_id} event {n}"
        ], []
    if capture["supplier"] != supplier:
        return [f"signature bad: bundle.capture.supplier {capture['supplier']!r} is not the record's {supplier!r}"], []
    notes: list[str] = []
    if unsigned:
        from cradletrace.verification import UNSIGNED

        notes.append(UNSIGNED)
    else:
        own = base64.b64encode(public_key).decode("ascii")
        if capture.get("public_key") != own or not isinstance(capture.get("signature"), dict):
            return [
                "signature bad: bundle.capture: expected the signature material and the record's own key "
                f"{signing.key_id(public_key)} (public_key {own})"
            ], []
        try:
            material = httpsig.Material.from_json(json.dumps(capture["signature"]))
            if material.key_id != signing.key_id(public_key):
                raise RequestSignatureError("Signature-Input", f"expected keyid {signing.key_id(public_key)}")
            httpsig.recheck_signature(material, public_key)
        except (KeyError, TypeError, ValueError) as exc:
            return [f"signature bad: bundle.capture.signature: expected the kept signature material ({exc!r:.80})"], []
        except RequestSignatureError as exc:
            return [f"signature bad: capture {capture_id}'s request signature: {exc}"], []
        notes.append(CAPTURE_NOTE.format(supplier=supplier, id=capture_id, n=n, key=material.key_id))
    body = capture.get("body")
    if body is None:
        if notes and not unsigned:
            notes[-1] += NO_BODY.format(n=n, id=capture_id)
        return [], notes
    raw = base64.b64decode(body)
    try:
        if not unsigned:
            httpsig.recheck(material, raw, public_key)
        mapped = mapped_bytes(
            as_document(read_document(raw, str(capture["media_type"]))),
            supplier,
            str(capture["key_id"] or signing.key_id(public_key)),
            dict(capture.get("corrects") or {}),
        )
    except RequestSignatureError as exc:
        return [f"signature bad: capture {capture_id}'s request signature: {exc}"], []
    except InvalidInputError as exc:
        return [f"signature bad: capture {capture_id}'s body no longer maps: {exc}"[:500]], []
    if n >= len(mapped) or mapped[n] != message:
        return [
            f"signature bad: event {n} of capture {capture_id}'s body does not map to this record "
            "(the record or the body changed)"
        ], []
    if notes and not unsigned:
        notes[-1] += WITH_BODY.format(n=n)
    return [], notes

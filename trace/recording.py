"""Recording supplier events: validate everything, then store everything, or nothing.

A submission is one event or a list. Each item is either signed::

    {"event": {...}, "signature": "<base64 Ed25519 over jcs(event)>"}

or a bare event that ``sign_submissions`` signs with the supplier's key file (and completes:
key id, analyte limits from the limits table). Every problem in a submission is collected and
reported together, each naming its field; one bad event stores nothing.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, tuple_, update
from sqlmodel import Session, col, select

from cradletrace import corrections, custody, suppliers, units
from cradletrace.core import canonical, signing
from cradletrace.core.admission import admission_problems
from cradletrace.core.canonical import JsonValue
from cradletrace.core.events import (
    GENERIC_KIND,
    OPERATOR_KINDS,
    SUBMITTED_KINDS,
    AnyEvent,
    BatchData,
    ColdChainData,
    CommissionData,
    CorrectionData,
    EpcisRecordData,
    KeyData,
    MoveData,
    PackData,
    ReportData,
    SaleData,
    ShipmentData,
    TestReportData,
    lot_of,
    outcome_of,
    parse_event,
)
from cradletrace.core.testreport import Limit, fill_limits
from cradletrace.errors import (
    Conflict,
    InvalidEventError,
    InvalidInputError,
    NotAllowedError,
    Problem,
    StateConflictError,
    TraceError,
)
from cradletrace.store.db import chunks
from cradletrace.store.models import Certification, EventRow, Item, Lot, LotInput, Shipment, Supplier, SupplierKey
from cradletrace.workspace import default_limits

MAX_EVENTS = 10_000
_NOT_SUBMITTED = (
    f"expected one of {', '.join(SUBMITTED_KINDS)}, got {{kind!r}}: key records are written by the server's "
    "key log when a key is registered or revoked, report records by the server when it files a recall report, "
    "epcis records by EPCIS capture (POST /epcis/capture)"
)
_KEY_LOG_ONLY = "expected 'key', 'report' or 'correction': the server's own key records these only"


@dataclass(frozen=True)
class Submission:
    """One submitted event and its signature (None until signed)."""

    event: JsonValue
    signature: str | None


def read_submissions(value: JsonValue) -> list[Submission]:
    """Accept one event or a list; each signed ({"event", "signature"}) or bare."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise InvalidEventError(Problem("events", "expected at least one event, got an empty list"))
    if len(values) > MAX_EVENTS:
        raise InvalidEventError(Problem("events", f"expected at most {MAX_EVENTS} events, got {len(values)}"))
    items: list[Submission] = []
    for i, v in enumerate(values):
        if not isinstance(v, dict):
            raise InvalidEventError(Problem(f"events[{i}]", f"expected an object, got {type(v).__name__}"))
        if "event" in v:
            extra = set(v) - {"event", "signature"}
            if extra:
                raise InvalidEventError(
                    Problem(f"events[{i}]", f"expected only 'event' and 'signature', got {sorted(extra)}")
                )
            sig = v.get("signature")
            if sig is not None and not isinstance(sig, str):
                raise InvalidEventError(Problem(f"events[{i}].signature", "expected base64 text"))
            items.append(Submission(v["event"], sig))
        else:
            items.append(Submission(v, None))
    return items


def sign_submissions(
    items: Iterable[Submission],
    load_key: Callable[[str], tuple[str, bytes]],
    limits: Mapping[str, Limit],
) -> list[Submission]:
    """Sign the bare events with their supplier's key; ``load_key(supplier) -> (key_id, pem)``.

    Test reports get missing analyte limits from ``limits`` first, so the limit each verdict
    rests on is signed and anchored with the event. Already-signed items pass through.
    """
    out: list[Submission] = []
    problems: list[Problem] = []
    keys: dict[str, Any] = {}
    for i, item in enumerate(items):
        if item.signature is not None:
            out.append(item)
            continue
        ev = item.event
        if not isinstance(ev, dict) or not isinstance(ev.get("supplier"), str):
            problems.append(Problem(f"events[{i}].supplier", "expected the id of a registered supplier"))
            continue
        sid = str(ev["supplier"])
        if sid not in keys:
            try:
                kid, pem = load_key(sid)
                keys[sid] = (kid, signing.load_private_key(pem))
            except TraceError as exc:
                keys[sid] = exc
        if isinstance(keys[sid], TraceError):
            problems.append(Problem(f"events[{i}].supplier", str(keys[sid])))
            continue
        kid, private = keys[sid]
        ev = {**ev, "key": kid}
        data = ev.get("data")
        if ev.get("kind") == "test_report" and isinstance(data, dict):
            try:
                ev["data"] = fill_limits(data, limits)
            except InvalidInputError as exc:
                problems.extend(Problem(f"events[{i}].{p.where}", p.message) for p in exc.problems)
                continue
        try:
            out.append(Submission(ev, signing.sign(private, canonical.canonical_bytes(ev))))
        except InvalidInputError as exc:
            problems.extend(Problem(f"events[{i}]{'.' + p.where if p.where else ''}", p.message) for p in exc.problems)
    if problems:
        raise InvalidEventError(problems)
    return out


def key_loader(session: Session, keys_dir: Path) -> Callable[[str], tuple[str, bytes]]:
    """Find a supplier's newest active key and its private key file in ``keys_dir``."""

    def load(supplier_id: str) -> tuple[str, bytes]:
        key = suppliers.active_key(session, supplier_id)
        path = suppliers.private_key_path(keys_dir, supplier_id, key.key_id)
        try:
            return key.key_id, path.read_bytes()
        except FileNotFoundError:
            raise NotAllowedError(
                f"supplier {supplier_id!r}: private key file {path} not found; "
                "expected the key file written by 'supplier add'"
            ) from None

    return load


@dataclass
class _Checked:
    index: int
    body: bytes
    digest: str
    signature: str
    event: AnyEvent


def record_submissions(
    session: Session,
    items: list[Submission],
    now: datetime,
    limits: Mapping[str, Limit] | None = None,
    *,
    key_log: bool = False,
    captured: bool = False,
    index: bool = True,
) -> list[RecordedEvent]:
    """Validate every item against the store and insert them all in the caller's transaction.

    Dates must lie in the window around ``now`` and test-report limits be no looser than
    ``limits`` (default: the packaged table; pass ``Workspace.limits``), see core/admission.py.

    The signature is checked first, from the event's ``supplier`` and ``key`` alone: only a
    correctly signed event is parsed (up to events.MAX_READINGS readings) and checked against the store,
    including its custody rules (custody.py). Raises InvalidEventError / NotAllowedError listing
    every problem; on error nothing is added.

    ``key_log``: the key log (keylog.py) records its "key" events through here, in the transaction
    of the key change they state, and the recall report filer (recall/filings.py) its "report"
    events, in the transaction that files the report, and nothing else; submitted from anywhere
    else such an event is refused, so a key record always stands for a key change this store made
    and a report record for a report this server generated.

    ``captured``: EPCIS capture (epcis/binding.py) records a document whose HTTP request signature
    (RFC 9421) it checked with the key each event names; each item's ``signature`` is then the
    reference of that capture (``epcis-capture:<id>/<i>``), not an Ed25519 signature of the event,
    and only such a capture may record the generic ``epcis`` kind. Every other rule applies.

    ``index``: False leaves the EPCIS query index to the caller, in the same transaction: EPCIS
    capture indexes each event by the original it came in as (epcis.index.use_captured).
    """
    problems: list[Problem] = []
    refused: list[Problem] = []  # not the supplier's to say: "events[i]" (key, role) or the field it is about
    signers = [_claimed_signer(item.event) for item in items]
    known: dict[str, Supplier] = {}
    keys: dict[str, SupplierKey] = {}
    certs: dict[str, list[Certification]] = defaultdict(list)
    for chunk in chunks(sorted({s for s, _, _ in signers if s is not None})):
        known.update((s.id, s) for s in session.exec(select(Supplier).where(col(Supplier.id).in_(chunk))))
        for cert in session.exec(select(Certification).where(col(Certification.supplier_id).in_(chunk))):
            certs[cert.supplier_id].append(cert)
    for chunk in chunks(sorted({k for _, k, _ in signers if k is not None})):
        keys.update((k.key_id, k) for k in session.exec(select(SupplierKey).where(col(SupplierKey.key_id).in_(chunk))))
    pub_cache: dict[str, bytes] = {}

    table = default_limits() if limits is None else limits
    good: list[_Checked] = []
    for i, item in enumerate(items):
        where = f"events[{i}]"
        if item.signature is None:
            problems.append(
                Problem(
                    f"{where}.signature",
                    "expected the supplier's Ed25519 signature, got none "
                    "(record with --sign to sign with the supplier's key file, or use 'cradletrace sign')",
                )
            )
            continue
        sid, kid, kind = signers[i]
        try:
            body = canonical.canonical_bytes(item.event)
        except InvalidInputError as exc:
            problems.extend(_located(exc, where))
            continue
        if sid is None or kid is None:  # nothing names a key to check a signature with; no parse without one
            problems.append(_unnamed_signer(item.event, where, sid))
            continue
        supplier = known.get(sid)
        if supplier is None:
            problems.append(Problem(f"{where}.supplier", f"expected a registered supplier, got {sid!r}"))
            continue
        key = keys.get(kid)
        if key_why := suppliers.key_refusal(sid, key, kid):
            why = suppliers.refusal(supplier, key, kid, certs[sid], kind or "", now.date())
            refused.append(Problem(where, why or key_why))
            continue
        assert key is not None
        if kid not in pub_cache:
            pub_cache[kid] = base64.b64decode(key.public_key)
        if not captured and not signing.verify_signature(pub_cache[kid], body, item.signature):
            problems.append(
                Problem(
                    f"{where}.signature",
                    f"expected a valid signature of this event by key {kid} "
                    f"of supplier {sid!r}; it does not verify (event changed after signing, or wrong key)",
                )
            )
            continue
        # Only now, with the signature good, the full parse (and its cost).
        try:
            event = parse_event(body, where)
            if late := admission_problems(event, body, now, table, where):
                raise InvalidEventError(late)
        except InvalidInputError as exc:
            problems.extend(_located(exc, where))
            continue
        if (event.kind in OPERATOR_KINDS or corrections.by_operator(event)) != key_log or (
            event.kind == GENERIC_KIND and not captured
        ):
            why = _KEY_LOG_ONLY if key_log else _NOT_SUBMITTED.format(kind=event.kind)
            if not key_log and event.kind == corrections.KIND:
                why = "expected a supplier's correction: the operator's are recorded by 'cradletrace correct --as-operator'"
            problems.append(Problem(f"{where}.kind", why))
            continue
        why = suppliers.refusal(supplier, key, kid, certs[sid], event.kind, now.date())
        if why:
            refused.append(Problem(where, why))
            continue
        good.append(_Checked(i, body, canonical.sha256(body).hex(), item.signature, event))

    store_problems, store_refused, lots, ledger = _against_store(session, good, [item.event for item in items], known)
    problems.extend(store_problems)
    refused.extend(store_refused)
    fix_problems, fix_refused, already = corrections.check(session, [(c.index, c.digest, c.event) for c in good])
    problems.extend(fix_problems)
    refused.extend(fix_refused)
    refused.sort(key=lambda p: _order_key(p.where))

    if refused and not problems:
        # The message reads "events[i]: why" per refusal, as ever; its problems name the fields.
        raise NotAllowedError("; ".join(f"{p.where.split('.', 1)[0]}: {p.message}" for p in refused), refused)
    if problems or refused:
        problems.extend(refused)
        problems.sort(key=lambda p: _order_key(p.where))
        raise InvalidEventError(problems)
    if already:  # a second declaration of an event: the store's state, not the input, is in the way
        raise StateConflictError(Conflict.CORRECTED, already)

    stored = _store(session, good, lots, now, ledger, index)
    # A failing test report or cold-chain excursion holds its batch and all it fed, in this transaction.
    from cradletrace.recall.holds import hold_failures

    hold_failures(session, stored, now)
    return stored


def check_unsigned(
    session: Session,
    supplier: Supplier,
    key: SupplierKey | None,
    events: list[JsonValue],
    now: datetime,
    limits: Mapping[str, Limit] | None = None,
) -> list[Problem]:
    """Every problem ``record_submissions`` would find in ``events`` were they signed now by
    ``supplier`` with ``key`` (None: a key not chosen yet, so the key and role rules are left to
    recording), except the signature: for rows checked before anyone signs them (the portal's bulk
    upload, cradletrace.bulk). The same parse, admission rules, references, duplicates and custody,
    against the store and across the list, so a sheet is judged by the rules of the one way in and
    not by a copy of them. Refusals come as problems at ``events[i]``. Stores nothing."""
    table = default_limits() if limits is None else limits
    problems: list[Problem] = []
    good: list[_Checked] = []
    certs = list(session.exec(select(Certification).where(col(Certification.supplier_id) == supplier.id)))
    for i, value in enumerate(events):
        where = f"events[{i}]"
        try:
            body = canonical.canonical_bytes(value)
            event = parse_event(body, where)
            if late := admission_problems(event, body, now, table, where):
                raise InvalidEventError(late)
        except InvalidInputError as exc:
            problems.extend(_located(exc, where))
            continue
        if event.kind == "key" or event.supplier != supplier.id:
            problems.append(
                Problem(f"{where}.kind", _NOT_SUBMITTED)
                if event.kind == "key"
                else Problem(f"{where}.supplier", f"expected {supplier.id!r}, got {event.supplier!r}")
            )
            continue
        why = suppliers.refusal(supplier, key, event.key, certs, event.kind, now.date()) if key is not None else None
        if why:
            problems.append(Problem(where, why))
            continue
        good.append(_Checked(i, body, canonical.sha256(body).hex(), "", event))
    store_problems, refused, _, _ = _against_store(session, good, events, {supplier.id: supplier})
    problems.extend(store_problems)
    problems.extend(refused)
    for found in corrections.check(session, [(c.index, c.digest, c.event) for c in good]):
        problems.extend(found)
    problems.sort(key=lambda p: _order_key(p.where))
    return problems


def _against_store(
    session: Session, good: list[_Checked], events: list[JsonValue], known: Mapping[str, Supplier]
) -> tuple[list[Problem], list[Problem], dict[tuple[str, str], int], units.Ledger]:
    """The rules that need the store, for the checked events ``good`` of a submission ``events``:
    duplicates, references (lots, shipments), serials and custody, against the store and against
    earlier items of the same submission. Problems, refusals (``events[i].data.<field>``: custody),
    the stored lots the events name (gtin, lot) -> id, and the units' ledger (units.load) with the
    accepted packs, moves and sales applied, for ``_store`` to write."""
    problems: list[Problem] = []
    refused: list[Problem] = []
    # Duplicates and references, against the store and against earlier items of this submission.
    seen_digest: dict[str, int] = {}
    for c in good:
        if c.digest in seen_digest:
            problems.append(
                Problem(
                    f"events[{c.index}]", f"expected a new event, got a duplicate of events[{seen_digest[c.digest]}]"
                )
            )
        seen_digest.setdefault(c.digest, c.index)
    stored_digests: set[str] = set()
    for chunk in chunks(list(seen_digest)):
        stored_digests.update(session.exec(select(EventRow.digest).where(col(EventRow.digest).in_(chunk))))
    for c in good:
        if c.digest in stored_digests:
            problems.append(
                Problem(f"events[{c.index}]", f"expected a new event, got a duplicate of stored event {c.digest}")
            )

    wanted_lots: set[tuple[str, str]] = set()
    wanted_shipments: set[str] = set()
    for c in good:
        d = c.event.data
        if isinstance(d, BatchData):
            wanted_lots.add(d.lot_ref.key)
            wanted_lots.update(x.key for x in d.inputs)
        elif isinstance(d, ColdChainData) and d.shipment is not None:
            wanted_shipments.add(d.shipment)
        elif isinstance(d, ShipmentData):
            wanted_shipments.add(d.id)
        lot = lot_of(c.event)
        if lot is not None:
            wanted_lots.add(lot.key)
    lots: dict[tuple[str, str], int] = {}
    makers: dict[tuple[str, str], str] = {}
    for lot_chunk in chunks(sorted(wanted_lots)):
        for lid, g, lotcode, maker in session.exec(
            select(Lot.id, Lot.gtin, Lot.lot, Lot.supplier_id).where(tuple_(Lot.gtin, Lot.lot).in_(lot_chunk))
        ):
            lots[(g, lotcode)] = lid  # type: ignore[assignment]
            makers[(g, lotcode)] = maker
    shipments: set[str] = set()
    for chunk in chunks(sorted(wanted_shipments)):
        shipments.update(session.exec(select(Shipment.id).where(col(Shipment.id).in_(chunk))))

    good_ids = {c.index for c in good}
    refused_lots = {
        k: i for i, k in ((i, _claimed_lot(item)) for i, item in enumerate(events)) if k and i not in good_ids
    }
    refused_shipments = {
        k: i for i, k in ((i, _claimed_shipment(item)) for i, item in enumerate(events)) if k and i not in good_ids
    }

    def missing(kind: str, key: str, refused: dict[Any, int], ref: Any) -> str:
        if ref in refused:
            return f"expected a recorded {kind}, got {key}: it is events[{refused[ref]}] of this submission, which was refused"
        return f"expected a recorded {kind}, got {key} which does not exist"

    new_lots: dict[tuple[str, str], int] = {}
    new_shipments: dict[str, int] = {}
    for c in good:
        where = f"events[{c.index}].data"
        d = c.event.data
        if isinstance(d, BatchData):
            own = d.lot_ref.key
            if own in lots or own in new_lots:
                problems.append(
                    Problem(f"{where}.lot", f"expected a new lot, got {own[0]}/{own[1]} which is already recorded")
                )
            for j, x in enumerate(d.inputs):
                if x.key not in lots and x.key not in new_lots:
                    problems.append(
                        Problem(f"{where}.inputs[{j}]", missing("lot", f"{x.gtin}/{x.lot}", refused_lots, x.key))
                    )
            new_lots.setdefault(own, c.index)
        elif isinstance(d, ShipmentData):
            if d.id in shipments or d.id in new_shipments:
                problems.append(
                    Problem(f"{where}.id", f"expected a new shipment id, got {d.id!r} which is already recorded")
                )
            new_shipments.setdefault(d.id, c.index)
        if isinstance(d, ColdChainData) and d.shipment is not None:
            if d.shipment not in shipments and d.shipment not in new_shipments:
                problems.append(
                    Problem(f"{where}.shipment", missing("shipment", repr(d.shipment), refused_shipments, d.shipment))
                )
        elif not isinstance(
            d, (BatchData, KeyData, ReportData, PackData, MoveData, SaleData, CorrectionData, EpcisRecordData)
        ):  # units name no one lot
            ref = lot_of(c.event)
            assert ref is not None
            if ref.key not in lots and ref.key not in new_lots:
                field = "batch" if isinstance(d, TestReportData) else "lot"
                problems.append(
                    Problem(f"{where}.{field}", missing("lot", f"{ref.gtin}/{ref.lot}", refused_lots, ref.key))
                )

    problems.extend(_serial_problems(session, good))
    goods: list[tuple[int, AnyEvent]] = [
        (c.index, c.event)
        for c in good
        if c.event.kind not in (*OPERATOR_KINDS, GENERIC_KIND) and c.event.kind != corrections.KIND
    ]  # a key event or a correction names no goods, a generic EPCIS record none cradletrace keeps state for
    ledger = units.load(session, goods)
    custody_problems, custody_refused = custody.check(session, goods, known, makers, ledger)
    problems.extend(custody_problems)
    refused.extend(custody_refused)
    return problems, refused, lots, ledger


@dataclass(frozen=True)
class RecordedEvent:
    """One stored event, as ``record_submissions`` returns it (the columns of its event row)."""

    id: int
    digest: str
    kind: str
    supplier_id: str
    key_id: str
    body: str
    signature: str
    gtin: str | None
    lot: str | None
    ref: str | None
    outcome: str | None


def _store(
    session: Session,
    good: list[_Checked],
    lots: dict[tuple[str, str], int],
    now: datetime,
    ledger: units.Ledger,
    index: bool = True,
) -> list[RecordedEvent]:
    """Insert with plain executemany statements: ORM objects cost more than all checks together."""
    values: list[dict[str, Any]] = []
    for c in good:
        ref = lot_of(c.event)
        d = c.event.data
        values.append(
            dict(
                digest=c.digest,
                kind=c.event.kind,
                supplier_id=c.event.supplier,
                key_id=c.event.key,
                body=c.body.decode("utf-8"),
                signature=c.signature,
                recorded_at=now,
                gtin=ref.gtin if ref else None,
                lot=ref.lot if ref else None,
                ref=_ref_of(d),
                outcome=outcome_of(c.event),
            )
        )
    session.execute(insert(EventRow.__table__), values)  # type: ignore[attr-defined]
    ids: dict[str, int] = {}
    for chunk in chunks([v["digest"] for v in values]):
        ids.update(session.execute(select(EventRow.digest, EventRow.id).where(col(EventRow.digest).in_(chunk))).all())
    batches = [(c, c.event.data) for c in good if isinstance(c.event.data, BatchData)]
    if batches:
        session.execute(
            insert(Lot.__table__),  # type: ignore[attr-defined]
            [
                dict(
                    gtin=d.product.gtin,
                    lot=d.lot,
                    product=d.product.name,
                    supplier_id=c.event.supplier,
                    event_id=ids[c.digest],
                )
                for c, d in batches
            ],
        )
        for chunk in chunks([d.lot_ref.key for _, d in batches]):
            lots.update(
                ((g, lo), i)
                for i, g, lo in session.execute(
                    select(Lot.id, Lot.gtin, Lot.lot).where(tuple_(Lot.gtin, Lot.lot).in_(chunk))
                ).all()
            )
    edges = [dict(lot_id=lots[d.lot_ref.key], input_lot_id=lots[x.key]) for _, d in batches for x in d.inputs]
    if edges:
        session.execute(insert(LotInput.__table__), edges)  # type: ignore[attr-defined]
    shipments = [
        dict(
            id=c.event.data.id,
            lot_id=lots[c.event.data.lot.key],
            event_id=ids[c.digest],
            consignee=c.event.data.consignee,
        )
        for c in good
        if isinstance(c.event.data, ShipmentData)
    ]
    if shipments:
        session.execute(insert(Shipment.__table__), shipments)  # type: ignore[attr-defined]
    items = [
        dict(serial=serial, gtin=d.lot.gtin, lot_id=lots[d.lot.key], event_id=ids[c.digest])
        for c in good
        if isinstance(d := c.event.data, CommissionData)
        for serial in d.serials
    ]
    if items:
        session.execute(insert(Item.__table__), items)  # type: ignore[attr-defined]
    units.write(session, ledger, {c.index: ids[c.digest] for c in good}, lots)
    if index:
        from cradletrace.epcis import index as epcis_index  # EPCIS query index, in the same transaction

        epcis_index.add_recorded(
            session, [(ids[v["digest"]], v["body"], v["outcome"], v["supplier_id"], now) for v in values]
        )
    return [
        RecordedEvent(id=ids[v["digest"]], **{k: v[k] for k in RecordedEvent.__dataclass_fields__ if k != "id"})
        for v in values
    ]


def _ref_of(data: object) -> str | None:
    """The event row's ``ref`` (indexed): a shipment's id, the shipment of a cold chain, the key a key
    event is about, the unit a pack or unpack fills or empties, the unit sold, the event a correction
    corrects (corrections.py finds an event's declaration by it)."""
    if isinstance(data, PackData):
        return data.parent.code
    if isinstance(data, SaleData):
        return data.unit.code
    if isinstance(data, ShipmentData):
        return data.id
    if isinstance(data, ColdChainData):
        return data.shipment
    if isinstance(data, KeyData):
        return data.key_id
    if isinstance(data, ReportData):
        return data.sha256
    if isinstance(data, CorrectionData):
        return data.corrects
    return None


def attach_proofs(session: Session, proofs: Sequence[Mapping[str, object]]) -> None:
    """Put still-pending events under an anchor batch: each of ``proofs`` is ``{"id": event id,
    "anchor_id": batch id, "proof": Merkle proof}``. The event table is recording's, so anchoring
    claims its rows here. Only rows with no ``anchor_id`` yet are claimed: a row another worker
    claimed first keeps that claim, and the caller counts what it got."""
    session.execute(
        update(EventRow).where(col(EventRow.anchor_id).is_(None)),
        proofs,
        execution_options={"synchronize_session": False},
    )


def _serial_problems(session: Session, good: list[_Checked]) -> list[Problem]:
    """Serials are unique across the system: against the store and across this submission.

    Repeats inside one event are the event's own rule (core/events.py).
    """
    problems: list[Problem] = []
    first: dict[str, str] = {}
    for c in good:
        if isinstance(c.event.data, CommissionData):
            for j, serial in enumerate(c.event.data.serials):
                where = f"events[{c.index}].data.serials[{j}]"
                if serial in first:
                    problems.append(Problem(where, f"expected a new serial, got {serial!r} again ({first[serial]})"))
                else:
                    first[serial] = where
    taken: set[str] = set()
    for chunk in chunks(list(first)):
        taken.update(session.exec(select(Item.serial).where(col(Item.serial).in_(chunk))))
    problems.extend(
        Problem(first[s], f"expected a new serial, got {s!r} which is already commissioned") for s in sorted(taken)
    )
    return problems


def _claimed_lot(event: JsonValue) -> tuple[str, str] | None:
    """The lot a (possibly invalid) batch event would create, read leniently for error messages."""
    if isinstance(event, dict) and event.get("kind") == "batch" and isinstance(data := event.get("data"), dict):
        product, lot = data.get("product"), data.get("lot")
        if isinstance(product, dict) and isinstance(gtin := product.get("gtin"), str) and isinstance(lot, str):
            return (gtin, lot)
    return None


def _located(exc: InvalidInputError, where: str) -> list[Problem]:
    """The error's problems, each under ``where`` (events[i])."""
    return [
        Problem(p.where if p.where.startswith(where) else f"{where}{'.' + p.where if p.where else ''}", p.message)
        for p in exc.problems
    ]


def _unnamed_signer(event: JsonValue, where: str, sid: str | None) -> Problem:
    if not isinstance(event, dict):
        return Problem(where, f"expected an event object, got {type(event).__name__}")
    field = "key" if sid is not None else "supplier"
    got = event.get(field)
    return Problem(
        f"{where}.{field}",
        f"expected the id of the signing {'key' if sid else 'supplier'} as text, "
        f"got {'nothing' if got is None else type(got).__name__}",
    )


def _claimed_signer(event: JsonValue) -> tuple[str | None, str | None, str | None]:
    """The ``supplier``, ``key`` and ``kind`` an unchecked event names (None where it names no text)."""
    if not isinstance(event, dict):
        return None, None, None
    sid, kid, kind = (event.get(f) for f in ("supplier", "key", "kind"))
    return (
        sid if isinstance(sid, str) else None,
        kid if isinstance(kid, str) else None,
        kind if isinstance(kind, str) else None,
    )


def _claimed_shipment(event: JsonValue) -> str | None:
    if isinstance(event, dict) and event.get("kind") == "shipment" and isinstance(data := event.get("data"), dict):
        sid = data.get("id")
        return sid if isinstance(sid, str) else None
    return None


def _order_key(where: str) -> tuple[int, str]:
    if where.startswith("events["):
        try:
            return int(where[7 : where.index("]")]), where
        except ValueError:
            pass
    return 1 << 30, where


def load_submission(text: str | bytes) -> list[Submission]:
    """Parse a submission file strictly (see canonical.parse_json) into items."""
    return read_submissions(canonical.parse_json(text))

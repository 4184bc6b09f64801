"""Corrections: an event recorded wrongly is declared so by a signed "correction" event (EPCIS
2.0's errorDeclaration, §7.4.1.4), never changed or deleted.

The erroneous event stays in the store and on chain, byte for byte, so every proof issued for it
still verifies; the correction is a record of its own (signed, hashed, anchored like any event)
whose ``data.corrects`` is the erroneous event's digest, stored in the event row's ``ref`` column
(indexed) so readers find an event's declaration with one lookup. ``check`` holds the recording
rules (recording.py calls it); ``declarations`` is what the scan page, traces and exports read.

Only the supplier that recorded an event may correct it (or the operator, with the server's
key-log key: ``declare_as_operator``), once: a second declaration of the same
event is a conflict (409), not a new fact. An event declared ``did_not_occur`` no longer counts:
its test verdict, cold-chain readings and genealogy edges are left out wherever facts are drawn,
and shown struck through beside the declaration that says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from cradletrace.core import canonical, signing
from cradletrace.core.events import KEY_LOG_SUPPLIER, OPERATOR_KINDS, AnyEvent, CorrectionData, parse_event
from cradletrace.errors import NotFoundError, Problem
from cradletrace.store.db import chunks
from cradletrace.store.models import EventRow

if TYPE_CHECKING:
    from cradletrace.recording import RecordedEvent

KIND = "correction"


@dataclass(frozen=True)
class Declaration:
    """One stored correction as readers use it: which event it corrects, why, what replaces it."""

    event_id: int  # the correction's own row
    digest: str  # the correction's own digest
    supplier_id: str
    corrects: str
    reason: str
    declaration_time: str  # ISO 8601, as signed
    corrective: tuple[str, ...]

    @property
    def did_not_occur(self) -> bool:
        return self.reason == "did_not_occur"


def declarations(conn: Connection | Session, digests: Iterable[str]) -> dict[str, Declaration]:
    """The declaration of each of ``digests`` that has one (corrected digest -> declaration)."""
    out: dict[str, Declaration] = {}
    for chunk in chunks(sorted(set(digests))):
        rows = conn.execute(
            select(EventRow.id, EventRow.digest, EventRow.supplier_id, EventRow.body).where(
                EventRow.kind == KIND, col(EventRow.ref).in_(chunk)
            )
        ).all()
        for eid, digest, supplier, body in rows:
            found = declaration_of(int(eid), digest, supplier, body)
            if found is not None:
                out[found.corrects] = found
    return out


def declaration_of(event_id: int, digest: str, supplier_id: str, body: str) -> Declaration | None:
    """The stored correction in ``body`` (None when the body no longer parses: verification shows
    such a row as INVALID, and an unreadable declaration corrects nothing)."""
    try:
        event = parse_event(body.encode("utf-8"), stored=True)
    except Exception:
        return None
    d = event.data
    if not isinstance(d, CorrectionData):
        return None
    return Declaration(
        event_id, digest, supplier_id, d.corrects, d.reason, d.declaration_time.isoformat(), tuple(d.corrective)
    )


def void_event_ids(conn: Connection | Session, ids: Iterable[int]) -> set[int]:
    """Those of the events ``ids`` declared ``did_not_occur``: their facts no longer count."""
    wanted = sorted(set(ids))
    digests: dict[str, int] = {}
    for chunk in chunks(wanted):
        digests.update(
            (d, int(i))
            for i, d in conn.execute(select(EventRow.id, EventRow.digest).where(col(EventRow.id).in_(chunk))).all()
        )
    return {digests[c] for c, dec in declarations(conn, digests).items() if dec.did_not_occur}


def declaration(
    session: Session, event: str | int, reason: str, corrective: Sequence[str | int], at: datetime
) -> dict[str, Any]:
    """The bare correction (to sign with the recorder's key file) of the stored event ``event`` (an id,
    digest or digest prefix, as ``cradletrace verify`` takes), declared at ``at``: the recorder of
    the event is the one who may declare it wrong, so it is the correction's supplier."""
    from cradletrace.events import lookup_event

    def find(ref: str | int, field: str) -> EventRow:
        row = lookup_event(session, ref, field)
        if row is None:
            raise NotFoundError(f"{field}: expected a recorded event (id, digest or digest prefix), got {ref!r}")
        return row

    original = find(event, "event")
    fixes = [find(ref, f"corrective[{i}]").digest for i, ref in enumerate(corrective)]
    data = {"corrects": original.digest, "declaration_time": at.isoformat(), "reason": reason, "corrective": fixes}
    return {"kind": KIND, "supplier": original.supplier_id, "data": data}


def check(
    session: Session, good: Sequence[tuple[int, str, AnyEvent]]
) -> tuple[list[Problem], list[Problem], list[Problem]]:
    """The store rules of the corrections among ``good`` ((index, digest, event) of a submission's
    checked events): problems (the corrected or a corrective event unknown or not a supplier's
    record), refusals (not the corrected event's recorder) and conflicts (already corrected, in the
    store or earlier in this submission), each naming ``events[i].data.<field>``.

    The corrected rows are locked (PostgreSQL) before their declarations are read, so of two
    concurrent corrections of one event the second waits and then finds the first."""
    problems: list[Problem] = []
    refused: list[Problem] = []
    conflicts: list[Problem] = []
    mine = [(i, digest, ev.supplier, ev.data) for i, digest, ev in good if isinstance(ev.data, CorrectionData)]
    if not mine:
        return problems, refused, conflicts
    named = {d.corrects for *_, d in mine} | {x for *_, d in mine for x in d.corrective}
    stored: dict[str, tuple[str, str]] = {}  # digest -> (kind, supplier)
    for chunk in chunks(sorted(named)):
        stored.update(
            (digest, (kind, supplier))
            for digest, kind, supplier in session.execute(
                select(EventRow.digest, EventRow.kind, EventRow.supplier_id)
                .where(col(EventRow.digest).in_(chunk))
                .with_for_update()
            ).all()
        )
    earlier = {digest: (ev.kind, ev.supplier) for _, digest, ev in good}  # this submission's events
    known = declarations(session, {d.corrects for *_, d in mine})
    declared_here: dict[str, int] = {}
    for i, _digest, supplier, d in mine:
        where = f"events[{i}].data"
        original = stored.get(d.corrects)
        if original is None:
            why = (
                "it is an event of this submission: record it first, then correct it"
                if d.corrects in earlier
                else "which does not exist"
            )
            problems.append(
                Problem(f"{where}.corrects", f"expected the digest of a recorded event, got {d.corrects} {why}")
            )
        elif (bad := _uncorrectable(original[0])) is not None:
            problems.append(Problem(f"{where}.corrects", bad))
        elif original[1] != supplier and supplier != KEY_LOG_SUPPLIER:
            refused.append(
                Problem(
                    f"{where}.corrects",
                    f"supplier {supplier!r} may not correct event {d.corrects[:12]}: "
                    f"expected its recorder {original[1]!r}",
                )
            )
        elif d.corrects in known or d.corrects in declared_here:
            by = (
                f"correction {known[d.corrects].digest[:12]}"
                if d.corrects in known
                else f"events[{declared_here[d.corrects]}] of this submission"
            )
            conflicts.append(
                Problem(
                    f"{where}.corrects", f"expected an event not yet corrected, got {d.corrects[:12]}: {by} corrects it"
                )
            )
        declared_here.setdefault(d.corrects, i)
        for j, x in enumerate(d.corrective):
            kind = stored.get(x, earlier.get(x, (None, None)))[0]
            if kind is None:
                problems.append(
                    Problem(
                        f"{where}.corrective[{j}]",
                        f"expected the digest of a recorded event, got {x} which does not exist",
                    )
                )
            elif (bad := _uncorrectable(kind)) is not None:
                problems.append(Problem(f"{where}.corrective[{j}]", bad))
    return problems, refused, conflicts


def by_operator(event: AnyEvent) -> bool:
    """A correction the operator declares, signed by the key log's key (``declare_as_operator``):
    recorded only through that function, as the key log's own records are (recording.py)."""
    return event.kind == KIND and event.supplier == KEY_LOG_SUPPLIER


def declare_as_operator(
    session: Session, keys_dir: Path, event: str | int, reason: str, corrective: Sequence[str | int], at: datetime
) -> RecordedEvent:
    """Record the operator's correction of any stored event (a recorder gone out of business, a
    record that reached the store by mistake): signed with the server's key-log key, as filed
    reports are, in the caller's transaction; the same rules otherwise (once, and never altering
    the event)."""
    from cradletrace import recording, suppliers

    signer = suppliers.registry(session, keys_dir)
    if signer.new:  # the operator's key gets its own register record first, as the key log does
        from cradletrace import keylog

        keylog.log_key(session, keys_dir, signer.key, "register")
    bare = declaration(session, event, reason, corrective, at)
    signed = {**bare, "supplier": KEY_LOG_SUPPLIER, "key": signer.key.key_id}
    signature = signing.sign(signer.private, canonical.canonical_bytes(signed))
    (row,) = recording.record_submissions(session, [recording.Submission(signed, signature)], at, key_log=True)
    return row


def _uncorrectable(kind: str) -> str | None:
    if kind in OPERATOR_KINDS or kind == KIND:
        return (
            f"expected a supplier's record, got a {kind} record: key and report records are the server's, "
            "and corrections are not corrected or corrective (name the events themselves)"
        )
    return None


def epcis_declaration(dec: Declaration, event_ids: Mapping[str, str]) -> dict[str, Any]:
    """The EPCIS ``errorDeclaration`` of a corrected event; ``event_ids`` maps a digest to the EPCIS
    eventID of that event (a corrective event without one keeps its digest as an ``ni:///sha-256;``
    URI, RFC 6920). ``ct:correction`` is the digest of the signed correction record, whose proof
    bundle shows who declared it and that it is anchored."""
    out: dict[str, Any] = {"declarationTime": dec.declaration_time, "reason": dec.reason}
    if dec.corrective:
        out["correctiveEventIDs"] = [event_ids.get(x, f"ni:///sha-256;{x}") for x in dec.corrective]
    out["ct:correction"] = dec.digest
    return out

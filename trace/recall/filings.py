"""Filed recall reports: each generated report kept byte for byte and its digest anchored.

When a report is generated (``documents.render``) it is *filed*, in the caller's transaction:

1. its bytes are kept under ``<data dir>/recall-reports/<sha256>.<pdf|xlsx>``: content-addressed
   (a file's name is its SHA-256, so a stored file can only be the bytes its name says; the same
   bytes twice are one copy), written to a temporary name and renamed, so a reader never sees half
   a file. Only this module writes that folder. Downloading it again gives the same bytes.
2. a "report" event (``core.events.ReportData``: recall, report, format, SHA-256, size, when, by
   whom) is signed with the operator's key, the key log's (``suppliers.registry``), and recorded
   through ``recording.record_submissions`` as the key log records its key events. The anchoring
   worker puts it under the next Merkle root like any event, so the digest gets a proof on chain.

"What was reported can be shown later not to have changed": ``check`` takes a file, hashes it, finds
the report event naming that digest and verifies the event (its content, the operator's signature,
its Merkle proof and root on chain: ``verification.verify_event``). A file changed by one byte has
another digest, which no filed report names: not verified. The same bytes filed twice (a PDF is
rendered in reportlab's invariant mode, so the same facts give the same bytes) are recorded once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from cradletrace import recording, suppliers, verification
from cradletrace.chain.base import Anchor
from cradletrace.core import canonical, signing
from cradletrace.core.events import KEY_LOG_SUPPLIER
from cradletrace.documents import write_once
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import EventRow, utcnow

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
FORMATS = ("pdf", "xlsx")


def folder(data_dir: Path) -> Path:
    return data_dir / "recall-reports"


def _keep(data_dir: Path, body: bytes, fmt: str) -> str:
    digest = hashlib.sha256(body).hexdigest()
    write_once(folder(data_dir), f"{digest}.{fmt}", body)
    return digest


@dataclass(frozen=True)
class Filed:
    """A filed report: its digest and the event that anchors it (``data`` is the event's data)."""

    sha256: str
    event_id: int
    event_digest: str
    in_anchor_batch: bool  # under an anchor batch (its proof is final once the batch is confirmed)
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "event_id": self.event_id,
            "event_digest": self.event_digest,
            "in_anchor_batch": self.in_anchor_batch,
            **self.data,
        }


def _filed(row: EventRow) -> Filed:
    assert row.id is not None and row.ref is not None
    data = json.loads(row.body)["data"]
    return Filed(row.ref, row.id, row.digest, row.anchor_id is not None, data)


def file_report(
    session: Session,
    data_dir: Path,
    keys_dir: Path,
    *,
    recall_id: int,
    report: str,
    fmt: str,
    body: bytes,
    by: str,
    now: datetime,
) -> Filed:
    """Keep ``body`` and record its digest as a signed "report" event, in the caller's transaction
    (commit it to file the report). Bytes already filed keep their first record."""
    digest = _keep(data_dir, body, fmt)
    known = _event(session, digest)
    if known is not None:
        return _filed(known)
    signer = suppliers.registry(session, keys_dir)
    if signer.new:  # the operator's key gets its own register record first, as the key log does
        from cradletrace import keylog

        keylog.log_key(session, keys_dir, signer.key, "register")
    event: canonical.JsonValue = {
        "kind": "report",
        "supplier": KEY_LOG_SUPPLIER,
        "key": signer.key.key_id,
        "data": {
            "recall": recall_id,
            "report": report,
            "format": fmt,
            "sha256": digest,
            "size": len(body),
            "at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "by": by,
        },
    }
    signature = signing.sign(signer.private, canonical.canonical_bytes(event))
    recording.record_submissions(session, [recording.Submission(event, signature)], utcnow(), key_log=True)
    row = _event(session, digest)
    assert row is not None
    return _filed(row)


def _event(session: Session, sha256: str) -> EventRow | None:
    return session.exec(
        select(EventRow).where(EventRow.kind == "report", EventRow.ref == sha256).order_by(col(EventRow.id))
    ).first()


def filed_reports(session: Session, recall_id: int) -> list[Filed]:
    """Every report filed for the recall, oldest first (a recall has a handful)."""
    out = []
    for row in session.exec(select(EventRow).where(EventRow.kind == "report").order_by(col(EventRow.id))):
        f = _filed(row)
        if f.data["recall"] == recall_id:
            out.append(f)
    return out


def last_filed_at(session: Session, recall_id: int, report: str) -> datetime | None:
    """When the last report of this kind was filed for the recall (a status report's period starts there)."""
    times = [
        datetime.fromisoformat(f.data["at"]) for f in filed_reports(session, recall_id) if f.data["report"] == report
    ]
    return max(times) if times else None


def _digest(sha256: str) -> str:
    value = sha256.strip().lower()
    if not SHA256_HEX.match(value):
        raise InvalidInputError(Problem("sha256", f"expected 64 lower-case hex digits, got {sha256[:80]!r}"))
    return value


def read_report(session: Session, data_dir: Path, sha256: str) -> tuple[bytes, Filed]:
    """The stored bytes of the filed report whose SHA-256 is ``sha256``, and its record."""
    digest = _digest(sha256)
    row = _event(session, digest)
    if row is None:
        raise NotFoundError(f"no recall report with SHA-256 {digest} was filed")
    filed = _filed(row)
    try:
        body = (folder(data_dir) / f"{digest}.{filed.data['format']}").read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"recall report {digest} was filed but its file is not in {folder(data_dir)}") from None
    return body, filed


def check(session: Session, chain: Anchor, body: bytes) -> dict[str, Any]:
    """Is ``body`` a report this server filed, unchanged? By its SHA-256 alone (see ``check_digest``)."""
    return check_digest(session, chain, hashlib.sha256(body).hexdigest())


def check_digest(session: Session, chain: Anchor, sha256: str) -> dict[str, Any]:
    """``verified`` is true when a report with this digest was filed and its record is VALID (its
    content, the operator's signature, its proof under a root confirmed on chain); ``status`` is
    the record's verdict (PENDING until the next anchoring run), or NOT FILED. With ``bundle``, the
    record's proof bundle, verifiable with the chain alone (``cradletrace verify-bundle``)."""
    digest = _digest(sha256)
    row = _event(session, digest)
    if row is None:
        return {
            "sha256": digest,
            "verified": False,
            "status": "NOT FILED",
            "reasons": [
                f"no recall report with SHA-256 {digest} was filed here: it is not a report this server "
                "generated, or it was changed after"
            ],
        }
    verdict = verification.verify_event(session, chain, str(row.id))
    out: dict[str, Any] = {
        "sha256": digest,
        "verified": verdict.valid,
        "status": verdict.status,
        "reasons": list(verdict.reasons),
        "filed": _filed(row).to_json(),
        "root": verdict.root,
        "block_number": verdict.block_number,
        "tx_hash": verdict.tx_hash,
        "local_chain": verdict.local_chain,
    }
    if verdict.valid:
        out["bundle"] = verification.export_bundle(session, chain, str(row.id))
    return out


def generate(
    session: Session,
    data_dir: Path,
    keys_dir: Path,
    *,
    recall_id: int,
    report: str,
    fmt: str,
    by: str,
    now: datetime,
    contact: str | None = None,
) -> tuple[bytes, Filed]:
    """Render the report from the recall's ledger now and file it (caller commits). A status
    report covers the time since the last status report filed for the recall."""
    from cradletrace.recall import documents

    if report not in documents.REPORTS:
        raise InvalidInputError(Problem("report", f"expected one of {', '.join(documents.REPORTS)}, got {report!r}"))
    if fmt not in documents.REPORTS[report]:
        made = " or ".join(documents.REPORTS[report])
        raise InvalidInputError(Problem("format", f"expected {made} for the {report} report, got {fmt!r}"))
    since = last_filed_at(session, recall_id, "status") if report == "status" else None
    facts = documents.gather(session, recall_id, now, by, since)
    body = documents.render(facts, report, fmt, contact)
    filed = file_report(
        session, data_dir, keys_dir, recall_id=recall_id, report=report, fmt=fmt, body=body, by=by, now=now
    )
    return body, filed


def filename(recall_id: int, report: str, fmt: str) -> str:
    return f"recall-{recall_id}-{report}.{fmt}"

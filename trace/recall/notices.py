"""Recall notices on chain: the prepare/send/confirm pattern of anchoring/run.py.

A recall's notice is stored ``prepared`` when the recall starts (so the scan page shows the recall
before anything is sent to the chain); ``send_pending_notices`` sends and confirms it. A notice
already on chain (a run killed after sending) is found with ``noticeOf(noticeDigest)`` and only
confirmed; an unreachable chain leaves it prepared.

The notice is the canonical JSON (RFC 8785) of ``{"recall", "lots" ("GTIN/LOT", sorted),
"reason", "severity", "started_at"}``: no names, no contact data. Its SHA-256 is the
``noticeDigest``; the ``lotRef`` sent with it is the SHA-256 of the first lot's ``"GTIN/LOT"``
(UTF-8) in that sorted list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from cradletrace.chain.base import Anchor
from cradletrace.core import canonical
from cradletrace.errors import ChainRevertedError
from cradletrace.store.models import Recall
from cradletrace.store.states import NoticeStatus


def notice_body(
    recall_id: int, lots: Iterable[tuple[str, str]], reason: str, severity: str, started_at: datetime
) -> bytes:
    """The canonical notice (no personal data): what is hashed and anchored."""
    refs = sorted(f"{g}/{lo}" for g, lo in lots)
    return canonical.canonical_bytes(
        {
            "recall": recall_id,
            "lots": [*refs],
            "reason": reason,
            "severity": severity,
            "started_at": started_at.astimezone(UTC).isoformat(),
        }
    )


def lot_ref(lots: Iterable[tuple[str, str]]) -> bytes:
    """SHA-256 of the first (sorted) lot's ``GTIN/LOT``."""
    first = sorted(f"{g}/{lo}" for g, lo in lots)[0]
    return canonical.sha256(first.encode("utf-8"))


@dataclass(frozen=True)
class NoticeResult:
    recall_id: int
    notice_digest: str
    tx_hash: str | None
    block_number: int
    recovered: bool  # True when the notice was already on chain (an interrupted run sent it)


def send_pending_notices(session_factory: Callable[[], Session], chain: Anchor) -> list[NoticeResult]:
    """Send every prepared notice (oldest first) and confirm it. Chain errors propagate and leave
    the notices not yet confirmed ``prepared``; the next run continues."""
    with session_factory() as s:
        ids = [
            int(i)  # type: ignore[arg-type]  # a stored row's id is never None
            for i in s.exec(
                select(Recall.id)
                .where(Recall.notice_status == NoticeStatus.PREPARED, col(Recall.drill).is_(False))
                .order_by(col(Recall.id))
            ).all()
        ]
    out: list[NoticeResult] = []
    for rid in ids:
        with session_factory() as s:
            recall = s.get(Recall, rid)
            assert recall is not None
            if recall.notice_status != NoticeStatus.PREPARED or recall.drill:  # a drill is never on chain
                continue
            digest = bytes.fromhex(recall.notice_digest)
            found = chain.lookup_notice(digest)
            recovered = found is not None
            tx_hash: str | None
            if found is None:
                try:
                    receipt = chain.record_notice(bytes.fromhex(recall.lot_ref), digest)
                    tx_hash, block, when = receipt.tx_hash, receipt.block_number, receipt.block_time
                except ChainRevertedError as exc:
                    if exc.reason != "TraceAnchorNoticeAlreadyRecorded":
                        raise
                    found = chain.lookup_notice(digest)
                    if found is None:
                        raise
                    recovered = True
            if found is not None:
                tx_hash, block, when = found.tx_hash, found.block_number, found.block_time
            recall.notice_status = NoticeStatus.CONFIRMED
            recall.tx_hash = tx_hash
            recall.block_number = block
            recall.block_time = when
            s.add(recall)
            s.commit()
            out.append(NoticeResult(rid, recall.notice_digest, tx_hash, block, recovered))
    return out

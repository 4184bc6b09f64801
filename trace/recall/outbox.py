"""Who is told of a recall, and the outbox their notices wait in.

When a recall starts (or is widened) every consignee site that received a lot of the scope gets
an acknowledgement (``RecallAck``, with one line per lot and the quantity shipped to it) and one
outbox row per channel its partner contact has (``RecallNotice``: e-mail, webhook), all in the
transaction that starts or widens the recall: a crash either keeps the recall and its notices or
neither. ``delivery`` sends them.

A consignee is the ``consignee`` a shipment recorded (a registered supplier); shipments recorded
without one have no one to notify, and the ledger lists them apart. A site without a contact gets
its acknowledgement (staff can read out the link) but no notice: the ledger says "no contact".

The acknowledgement link's token is ``sealer.pseudonym("recall-ack" | salt)``: 128 bits only the
holder of the sealing key can compute, so nothing that opens the link is stored, and a worker
that crashed can send the same link again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from cradletrace.recall import partners
from cradletrace.recall.genealogy import id_set
from cradletrace.sealing import Sealer
from cradletrace.store.models import EventRow, RecallAck, RecallAckLine, RecallNotice, Shipment
from cradletrace.store.states import DeliveryStatus, NoticeChannel

OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


def ack_token(sealer: Sealer, salt: str) -> str:
    return sealer.pseudonym(b"recall-ack\x00" + salt.encode())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def consignments(session: Session, lot_ids: Sequence[int]) -> dict[str, dict[int, tuple[float, str]]]:
    """site (consignee supplier id) -> lot id -> (quantity shipped to it, unit), from the shipment
    events of ``lot_ids``."""
    out: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)
    if not lot_ids:
        return out
    for site, lid, body in session.exec(
        select(Shipment.consignee, Shipment.lot_id, EventRow.body)
        .join(EventRow, col(EventRow.id) == col(Shipment.event_id))
        .where(col(Shipment.lot_id).in_(id_set(session, lot_ids)), col(Shipment.consignee).is_not(None))
    ).all():
        d = json.loads(body)["data"]
        qty, unit = out[str(site)].get(lid, (0.0, str(d["unit"])[:40]))
        out[str(site)][lid] = (qty + float(d["quantity"]), unit)
    return out


def enqueue(session: Session, recall_id: int, lot_ids: Sequence[int], now: datetime) -> int:
    """Acknowledgements and outbox rows for the consignees of ``lot_ids`` (lots new to the recall).
    Returns the number of sites. Call inside the transaction that starts or widens the recall.
    The buyers and subscribers of the lots are told too (consumers.py)."""
    from cradletrace.recall import consumers  # it builds on this module

    consumers.enqueue(session, recall_id, lot_ids, now)
    by_site = consignments(session, lot_ids)
    if not by_site:
        return 0
    sites = sorted(by_site)
    acks = [RecallAck(recall_id=recall_id, site=site, salt=secrets.token_hex(16), created_at=now) for site in sites]
    session.add_all(acks)
    session.flush()
    have = partners.channels(session, sites)
    lines: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for ack in acks:
        assert ack.id is not None
        lines.extend(
            dict(ack_id=ack.id, lot_id=lid, shipped=qty, unit=unit) for lid, (qty, unit) in by_site[ack.site].items()
        )
        email, hook = have.get(ack.site, (False, False))
        notices.extend(
            dict(
                recall_id=recall_id,
                ack_id=ack.id,
                channel=channel,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            for channel, wanted in ((NoticeChannel.EMAIL, email), (NoticeChannel.WEBHOOK, hook))
            if wanted
        )
    session.execute(insert(RecallAckLine), lines)
    if notices:
        session.execute(insert(RecallNotice), notices)
    session.flush()
    return len(sites)


def cancel_open(session: Session, *, recall_id: int | None = None, ack_id: int | None = None, why: str) -> None:
    """Notices not sent yet that no longer need to go: the site answered, or the recall closed."""
    q = update(RecallNotice).where(col(RecallNotice.status).in_(OPEN))
    if recall_id is not None:
        q = q.where(col(RecallNotice.recall_id) == recall_id)
    else:
        q = q.where(col(RecallNotice.ack_id) == ack_id)
    session.execute(q.values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=why[:500]))

"""Buyers of sold goods as pseudonyms, and their contacts for recall notices, sealed.

A sale event (core/events.py ``SaleData``) names its buyer by a pseudonym: HMAC-SHA-256 of the
seller's supplier id and the member id, keyed with the member key. The key lives outside the
database (``CRADLETRACE_MEMBER_KEY`` as 64 hex digits, else ``keys/member.key``, 0600, made on
first use), like the sealing key (sealing.py), so a copy of the store, the chain or an EPCIS
export cannot be turned back into members, nor can guessed member ids be tried against it. The
same member of the same seller always gets the same pseudonym (so a recall can count orders per
buyer); the seller's id is part of the message, so member ids of two brands never collide.

Where a member agreed to be told of a recall, the seller registers a contact with the pseudonym:
it is sealed with the sealing key (AES-256-GCM or SM4-GCM), bound to the pseudonym, and stored in
``buyer_contact``, apart from every signed record. Consent withdrawn (``consent`` false) deletes it;
asking for the pseudonym alone (no consent stated) leaves it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from cradletrace.config import Settings
from cradletrace.core.text import text_problem
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.store.models import BuyerContact

MEMBER_KEY_FILE = "member.key"
MAX_MEMBER_ID = 200
MAX_CONTACT = 500


def member_key(settings: Settings) -> bytes:
    """The pseudonym key: from CRADLETRACE_MEMBER_KEY, else keys/member.key (created 0600 if absent)."""
    return load_or_create_key(Path(settings.keys_dir) / MEMBER_KEY_FILE, settings.member_key)


def pseudonym(key: bytes, supplier: str, member_id: str) -> str:
    """The buyer pseudonym a sale event carries (64 hex digits): HMAC-SHA-256(key, supplier NUL member id)."""
    return hmac.new(key, f"{supplier}\x00{member_id}".encode(), hashlib.sha256).hexdigest()


def _checked(value: str, field: str, limit: int) -> str:
    if not value.strip() or len(value) > limit:
        raise InvalidInputError(Problem(field, f"expected 1-{limit} characters, got {len(value)}"))
    if problem := text_problem(value):
        raise InvalidInputError(Problem(field, problem))
    return value


def register_buyer(
    session: Session,
    key: bytes,
    sealer: Sealer,
    supplier: str,
    member_id: str,
    contact: str | None,
    consent: bool | None,
    now: datetime,
) -> str:
    """The member's pseudonym; with ``consent`` true, its ``contact`` sealed and kept (replacing an
    earlier one); with ``consent`` false, any kept contact deleted; with None, the contact untouched.
    A contact without consent is refused."""
    _checked(member_id, "member_id", MAX_MEMBER_ID)
    if contact is not None:
        _checked(contact, "contact", MAX_CONTACT)
        if consent is not True:
            raise InvalidInputError(
                Problem("consent", "expected true with a contact: a contact is kept only where the member agreed")
            )
    buyer = pseudonym(key, supplier, member_id)
    kept = session.exec(select(BuyerContact.buyer).where(BuyerContact.buyer == buyer)).first() is not None
    if contact is None or not consent:
        if kept and consent is False:
            session.execute(delete(BuyerContact).where(col(BuyerContact.buyer) == buyer))
        return buyer
    values = dict(supplier_id=supplier, contact=sealer.seal(contact.encode("utf-8"), buyer.encode()), consented_at=now)
    if kept:
        session.execute(update(BuyerContact).where(col(BuyerContact.buyer) == buyer).values(values))
    else:
        session.execute(insert(BuyerContact).values(buyer=buyer, **values))
    return buyer


def buyer_contact(session: Session, sealer: Sealer, buyer: str) -> str | None:
    """The contact a member agreed to for recall notices, opened; None where none is kept."""
    row = session.get(BuyerContact, buyer)
    return None if row is None else sealer.open(row.contact, buyer.encode()).decode("utf-8")


def withdraw_contact(session: Session, buyer: str) -> None:
    """The member unsubscribed from recall notices (the one-click link of a notice): consent is
    withdrawn, so the contact is deleted, as ``register_buyer`` with ``consent`` false does."""
    session.execute(delete(BuyerContact).where(col(BuyerContact.buyer) == buyer))

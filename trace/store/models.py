"""Database tables. The event row keeps the exact canonical bytes that were hashed and signed.

Derived columns (lot, verdict, ...) exist for queries only; verification never trusts them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, LargeBinary, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

# The values of the status columns below (re-exported: their one home is states.py).
from cradletrace.store.states import BatchStatus as BatchStatus
from cradletrace.store.states import CaptureState as CaptureState
from cradletrace.store.states import HoldReason as HoldReason
from cradletrace.store.states import NoticeStatus as NoticeStatus
from cradletrace.store.types import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    """A timezone-aware UTC timestamp column; typed Any like sqlmodel's Field, so it can default a datetime field."""
    return Field(sa_column=Column(UtcDateTime(), **kw))


class Meta(SQLModel, table=True):
    """Small settings that all workers share: contract address, chain id, schema version."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Supplier(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=63)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    created_at: datetime = _ts(nullable=False)
    # A lab the operator designated for official control sampling: it may report on any lot.
    official_lab: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class Product(SQLModel, table=True):
    """A GTIN under the operator's control: it belongs to the supplier the operator registered it to.

    Only its owner, or a party the owner named for it (``ProductParty``), may say things about its lots.
    """

    gtin: str = Field(primary_key=True, max_length=14)
    owner_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    name: str = Field(max_length=200)
    registered_at: datetime = _ts(nullable=False)


class ProductParty(SQLModel, table=True):
    """A supplier a product's owner (or the operator) named as ``maker``, ``lab`` or ``carrier`` of
    it: of every lot (``lot`` None) or of one lot. Withdrawn parties are kept, with who and when."""

    __tablename__ = "product_party"

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(foreign_key="product.gtin", index=True, max_length=14)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    role: str = Field(max_length=16)
    lot: str | None = Field(default=None, max_length=20)
    named_by: str = Field(max_length=100)
    named_at: datetime = _ts(nullable=False)
    withdrawn_by: str | None = Field(default=None, max_length=100)
    withdrawn_at: datetime | None = _ts(nullable=True)


class Certification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    scheme: str = Field(max_length=100)
    number: str = Field(max_length=100)
    issuer: str = Field(max_length=200)
    valid_until: date
    required: bool = True


class SupplierKey(SQLModel, table=True):
    __tablename__ = "supplier_key"

    key_id: str = Field(primary_key=True, max_length=16)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    public_key: str = Field(max_length=64)  # base64 of the raw 32-byte Ed25519 key
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)


class AnchorBatch(SQLModel, table=True):
    """One Merkle root; ``status`` is a ``BatchStatus``: prepared (proofs stored, not yet sent), sent, confirmed."""

    __tablename__ = "anchor_batch"

    id: int | None = Field(default=None, primary_key=True)
    root: str = Field(max_length=64, unique=True)
    leaf_count: int
    status: str = Field(max_length=16, index=True)  # a BatchStatus
    contract: str = Field(max_length=42)
    chain_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    block_time: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)
    # The account nonce its transactions use, and every transaction hash signed for it (comma-joined,
    # oldest first): a replacement that was never broadcast must not hide the attempt it replaces.
    nonce: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    tx_hashes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EventRow(SQLModel, table=True):
    __tablename__ = "event"
    __table_args__ = (Index("ix_event_gtin_lot", "gtin", "lot"), Index("ix_event_pending", "anchor_id"))

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    key_id: str = Field(foreign_key="supplier_key.key_id", max_length=16)
    body: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, exactly as hashed
    signature: str = Field(max_length=100)
    recorded_at: datetime = _ts(nullable=False)
    gtin: str | None = Field(default=None, max_length=14)
    lot: str | None = Field(default=None, max_length=20)
    ref: str | None = Field(default=None, max_length=80, index=True)  # shipment id
    outcome: str | None = Field(default=None, max_length=16)
    anchor_id: int | None = Field(default=None, foreign_key="anchor_batch.id")
    proof: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # hex siblings, comma-joined


class Lot(SQLModel, table=True):
    """A production lot, created by its batch event. Genealogy edges hang off it."""

    __table_args__ = (UniqueConstraint("gtin", "lot"),)

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    lot: str = Field(max_length=20)
    product: str = Field(max_length=200)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    event_id: int = Field(foreign_key="event.id")


class LotInput(SQLModel, table=True):
    __tablename__ = "lot_input"

    lot_id: int = Field(foreign_key="lot.id", primary_key=True)
    input_lot_id: int = Field(foreign_key="lot.id", primary_key=True, index=True)


class Shipment(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=80)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    event_id: int = Field(foreign_key="event.id")
    # Who receives custody (a supplier id the recording checked); no foreign key, so that adding
    # the column needs no table rebuild on SQLite. Recorded before revision 0003: None.
    consignee: str | None = Field(default=None, max_length=63)


class ApiKey(SQLModel, table=True):
    """A key for the HTTP API. Only the SHA-256 of the secret is kept; the secret is shown once.

    ``role`` is operator, supplier or quality; a supplier key acts only as ``supplier_id``.
    """

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    supplier_id: str | None = Field(default=None, foreign_key="supplier.id", index=True, max_length=63)
    hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)


class PortalSession(SQLModel, table=True):
    """A supplier's signed-in session on the portal (/supplier). Only SHA-256 of the random session
    id is kept, so a copy of the store cannot be replayed as a cookie; the API key it was opened with
    is looked up on every request, so revoking that key ends the session too."""

    __tablename__ = "portal_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    api_key_id: str = Field(foreign_key="api_key.id", index=True, max_length=16)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    created_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)


class Item(SQLModel, table=True):
    """One serialized retail unit, tied to its lot by the anchored commissioning event.

    Serials are unique across the system (the primary key); scans look items up by
    (gtin, serial), the recall by lot.
    """

    __table_args__ = (Index("ix_item_gtin_serial", "gtin", "serial"),)

    serial: str = Field(primary_key=True, max_length=20)
    gtin: str = Field(max_length=14)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    event_id: int = Field(foreign_key="event.id")


class ScanRecord(SQLModel, table=True):
    """One consumer scan of an item. The coarse location is personal data: sealed (AES-GCM or
    SM4-GCM, key outside the database) and only stored with the scanner's consent."""

    __tablename__ = "scan"

    id: str = Field(primary_key=True, max_length=32)  # random: the page uses it to attach a location
    serial: str = Field(foreign_key="item.serial", index=True, max_length=20)
    scanned_at: datetime = _ts(nullable=False)
    consent: bool = False
    location: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # Pseudonym of the scanning client (scan.history.client_id: a keyed hash, never the address itself),
    # so that the copy rule counts phones, not requests. None for scans made before it was kept.
    client: str | None = Field(default=None, max_length=32)


class Hold(SQLModel, table=True):
    """A lot held automatically after a failed test report or cold-chain excursion (``trigger``).

    A hold whose lot has no recall is a recall *proposal* for quality staff.
    """

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    reason: str = Field(max_length=200)  # a HoldReason
    # No foreign key: a hold (and a recall) must outlive tampering with the event rows; audit reports that.
    trigger_event_id: int = Field(index=True)
    created_at: datetime = _ts(nullable=False)
    released_at: datetime | None = _ts(nullable=True)
    released_by: str | None = Field(default=None, max_length=100)
    release_reason: str | None = Field(default=None, max_length=500)


class Recall(SQLModel, table=True):
    """A recall started by quality staff; its notice (no personal data) is anchored on chain.

    ``notice_status`` is a ``NoticeStatus``: prepared (stored, not yet on chain) or confirmed. Its
    ``RecallState`` is closed once ``closed_at`` is set, active before.
    """

    id: int | None = Field(default=None, primary_key=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    severity: str = Field(max_length=3)  # I, II or III
    trigger_event_id: int | None = Field(default=None)
    trigger_text: str | None = Field(default=None, max_length=200)
    started_by: str = Field(max_length=100)
    started_at: datetime = _ts(nullable=False)
    trigger_at: datetime | None = _ts(nullable=True)
    located_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    closed_by: str | None = Field(default=None, max_length=100)
    close_reason: str | None = Field(default=None, max_length=500)
    notice: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, exactly as hashed
    notice_digest: str = Field(max_length=64, unique=True)
    lot_ref: str = Field(max_length=64)
    notice_status: str = Field(max_length=16, index=True)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    block_time: datetime | None = _ts(nullable=True)
    # A mock recall (drill.py): the same workflow, marked a drill everywhere; never on chain, no scan banner.
    drill: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    # Which regulatory deadlines apply (deadlines.py): "us_107", "cn_measures", comma-joined; China's level 1-3.
    regimes: str | None = Field(default=None, max_length=40)
    cn_level: int | None = Field(default=None)
    # Effectiveness checks (effectiveness.py): the level (A-E), its share of consignees, the seed of the draw.
    check_level: str | None = Field(default=None, max_length=1)
    check_percent: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    check_seed: str | None = Field(default=None, max_length=64)
    checks_planned_at: datetime | None = _ts(nullable=True)


class RecallCheck(SQLModel, table=True):
    """One effectiveness check: a consignee site drawn at random for the recall's level, and what
    staff found when they checked it (reached, notice received, product handled as instructed)."""

    __tablename__ = "recall_check"
    __table_args__ = (UniqueConstraint("recall_id", "site"),)

    id: int | None = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    site: str = Field(max_length=63)
    picked_at: datetime = _ts(nullable=False)
    checked_at: datetime | None = _ts(nullable=True)
    checked_by: str | None = Field(default=None, max_length=100)
    reached: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    notice_received: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    handled: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    note: str | None = Field(default=None, max_length=500)


class RecallMilestone(SQLModel, table=True):
    """A regulatory step staff record as done (e.g. "FDA telephoned at"): deadlines.py puts it
    against its due time."""

    __tablename__ = "recall_milestone"

    id: int | None = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    name: str = Field(max_length=40)
    at: datetime = _ts(nullable=False)
    recorded_at: datetime = _ts(nullable=False)
    recorded_by: str = Field(max_length=100)
    note: str | None = Field(default=None, max_length=500)


class RecallLot(SQLModel, table=True):
    __tablename__ = "recall_lot"

    recall_id: int = Field(foreign_key="recall.id", primary_key=True)
    lot_id: int = Field(foreign_key="lot.id", primary_key=True, index=True)


class PartnerContact(SQLModel, table=True):
    """How a consignee site (a registered supplier) is told of a recall: e-mail addresses and a
    webhook with its signing secret. The addresses and the secret are sealed at rest as scan
    locations are (sealing.py; associated data: the supplier id); the URL is not personal."""

    __tablename__ = "partner_contact"

    supplier_id: str = Field(foreign_key="supplier.id", primary_key=True, max_length=63)
    emails: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # sealed, "\n"-joined
    webhook_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    webhook_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # sealed
    updated_at: datetime = _ts(nullable=False)
    updated_by: str = Field(max_length=100)


class RecallAck(SQLModel, table=True):
    """One consignee site's acknowledgement of a recall (or of a widening of it): its one-time link.

    The link's token is never stored: it is a keyed hash of ``salt`` (sealing key), so a copy of
    the store cannot answer for a site; ``token_hash`` (SHA-256 of the token) finds the row when
    the link is opened and is set when the first notice carrying it is prepared."""

    __tablename__ = "recall_ack"

    id: int | None = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    site: str = Field(max_length=63, index=True)  # the consignee's supplier id
    salt: str = Field(max_length=32)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = _ts(nullable=False)
    answered_at: datetime | None = _ts(nullable=True)
    answered_by: str | None = Field(default=None, max_length=100)
    received: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))


class RecallAckLine(SQLModel, table=True):
    """One lot of an acknowledgement: what was shipped to the site (when the notice was written)
    and what the site answered. A (recall, site, lot) is on exactly one line: a widening only adds
    lots the recall did not cover, so nothing is counted twice."""

    __tablename__ = "recall_ack_line"

    ack_id: int = Field(foreign_key="recall_ack.id", primary_key=True)
    lot_id: int = Field(foreign_key="lot.id", primary_key=True, index=True)
    shipped: float = Field(sa_column=Column(Float, nullable=False))
    unit: str = Field(max_length=40)
    on_hand: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    returned: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    destroyed: float | None = Field(default=None, sa_column=Column(Float, nullable=True))


class RecallNotice(SQLModel, table=True):
    """The outbox: one notice to one site by one channel, written in the transaction that starts
    (or widens) the recall, sent by the delivery worker. ``status`` is a ``DeliveryStatus``; the
    addresses are read from ``partner_contact`` when it is sent, so a corrected address is used by
    the next try."""

    __tablename__ = "recall_outbox"
    __table_args__ = (UniqueConstraint("ack_id", "channel"), Index("ix_recall_outbox_due", "status", "next_attempt_at"))

    id: int | None = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    ack_id: int = Field(foreign_key="recall_ack.id")
    channel: str = Field(max_length=16)  # a NoticeChannel
    status: str = Field(max_length=16)  # a DeliveryStatus
    attempts: int = 0
    created_at: datetime = _ts(nullable=False)
    next_attempt_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class RecallNoticeAttempt(SQLModel, table=True):
    """The delivery log: every try of a notice, with what came back."""

    __tablename__ = "recall_outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="recall_outbox.id", index=True)
    at: datetime = _ts(nullable=False)
    status: str = Field(max_length=16)  # the DeliveryStatus the try left the notice in
    code: int | None = Field(default=None)  # SMTP reply code or HTTP status
    error: str | None = Field(default=None, max_length=500)
    ms: int = 0


class ConsumerSubscription(SQLModel, table=True):
    """A "tell me if this can is recalled" subscription to one lot (GTIN + lot), from a scan page.

    The address is sealed (AES-GCM or SM4-GCM, bound to the row's ``address_key``) and found by
    ``address_key``, a keyed hash of it (sealing.Sealer.pseudonym): one address subscribes once per
    lot, and a copy of the store can neither read nor guess-test it. Active only once confirmed
    (double opt-in); an unsubscribe wipes the sealed address and keeps the key, so a second
    subscription of the same address to the same lot is the same row. The links are tokens made
    from ``salt`` with the sealing key; only their SHA-256 is kept."""

    __tablename__ = "consumer_subscription"
    __table_args__ = (UniqueConstraint("lot_id", "address_key"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    address_key: str = Field(max_length=32, index=True)
    address: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    lang: str = Field(max_length=2)
    salt: str = Field(max_length=32)
    confirm_hash: str = Field(max_length=64, unique=True)
    stop_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts(nullable=False)
    confirmed_at: datetime | None = _ts(nullable=True)
    unsubscribed_at: datetime | None = _ts(nullable=True)


class PersonNotice(SQLModel, table=True):
    """The outbox of e-mails to people (a ``PersonKind``): a subscription's confirmation, a recall
    notice to a buyer (one per buyer per recall) or to a subscriber (one per subscription per
    recall). Sent by the same worker, states and retries as ``RecallNotice``; the address is read
    (and opened) only when it is sent. ``opened_at``: the notice's "read the recall" link was
    followed (its token hash ``read_hash``); ``stop_hash``: a buyer's one-click unsubscribe."""

    __tablename__ = "person_outbox"
    __table_args__ = (
        UniqueConstraint("recall_id", "buyer"),
        UniqueConstraint("recall_id", "subscription_id"),
        Index("ix_person_outbox_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    recall_id: int | None = Field(default=None, foreign_key="recall.id", index=True)
    subscription_id: int | None = Field(default=None, foreign_key="consumer_subscription.id", index=True)
    buyer: str | None = Field(default=None, max_length=64, index=True)
    salt: str = Field(max_length=32)
    read_hash: str | None = Field(default=None, max_length=64, unique=True)
    stop_hash: str | None = Field(default=None, max_length=64, unique=True)
    status: str = Field(max_length=16)  # a DeliveryStatus
    attempts: int = 0
    created_at: datetime = _ts(nullable=False)
    next_attempt_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    opened_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class PersonNoticeAttempt(SQLModel, table=True):
    """The delivery log of ``PersonNotice``: every try, with what came back (no address in it)."""

    __tablename__ = "person_outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="person_outbox.id", index=True)
    at: datetime = _ts(nullable=False)
    status: str = Field(max_length=16)
    code: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=500)
    ms: int = 0


class EpcisEvent(SQLModel, table=True):
    """The EPCIS 2.0 event a cradletrace event was imported from, kept verbatim for export.

    ``hash`` is its CBV 2.0 event hash (``ni:///sha-256;…?ver=CBV2.0``): unique, so the same
    EPCIS event is never captured twice. ``context`` is the document's ``@context`` (JSON), which
    the event's compact IRIs need. Not signed or anchored: the cradletrace event is.
    """

    __tablename__ = "epcis_event"

    hash: str = Field(primary_key=True, max_length=100)
    event_id: int = Field(foreign_key="event.id", unique=True)
    epcis_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the eventID as sent
    body: str = Field(sa_column=Column(Text, nullable=False))  # the EPCIS event as sent (JSON)
    context: str = Field(sa_column=Column(Text, nullable=False))


class EpcisCapture(SQLModel, table=True):
    """A capture job of the EPCIS REST binding (``POST /epcis/capture``): the request body exactly as
    received, its media type and the HTTP message signature that covered it (RFC 9421 over its
    RFC 9530 Content-Digest; JSON: method, target URI, the covered header values, ``Signature-Input``,
    ``Signature``), so anyone can check later who sent which bytes. ``key_id`` None: captured
    unsigned (``Settings.epcis_unsigned_capture``). ``state`` is a ``CaptureState``; ``errors`` the
    problems (JSON pointers) of a failed job. Events it stored point here by their signature column."""

    __tablename__ = "epcis_capture"
    __table_args__ = (Index("ix_epcis_capture_state", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    key_id: str | None = Field(default=None, foreign_key="supplier_key.key_id", max_length=16)
    media_type: str = Field(max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    state: str = Field(max_length=16)  # a CaptureState
    attempts: int = 0
    errors: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    event_count: int | None = None
    created_at: datetime = _ts(nullable=False)
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)


class Unit(SQLModel, table=True):
    """A logistics unit's current state: a pallet (SSCC), a case or a can (GTIN + serial) once a
    pack, move or sale event named it (docs/logistics.md). ``code`` is its Digital Link path
    (``00/<SSCC>``, ``01/<GTIN>/21/<serial>``). ``parent`` is the unit it is in now and
    ``packed_event_id`` the event that put it there (None once unpacked); ``holder`` has custody of it
    (its packer, then whoever received it); ``consignee`` may receive it (set by a ship); the last
    receiving event says where it was last received. Written with each event, in its transaction."""

    code: str = Field(primary_key=True, max_length=41)
    kind: str = Field(max_length=8)  # a UnitKind (states.py)
    lot_id: int | None = Field(default=None, foreign_key="lot.id", index=True)  # a can's lot
    parent: str | None = Field(default=None, max_length=41, index=True)
    packed_event_id: int | None = Field(default=None, foreign_key="event.id")
    holder: str = Field(max_length=63)
    consignee: str | None = Field(default=None, max_length=63)
    gln: str | None = Field(default=None, max_length=13)
    gln_extension: str | None = Field(default=None, max_length=20)
    received_at: datetime | None = _ts(nullable=True)
    received_event_id: int | None = Field(default=None, foreign_key="event.id")
    sold_event_id: int | None = Field(default=None, foreign_key="event.id")


class UnitEvent(SQLModel, table=True):
    """Which events name which unit (a pack's parent and children, a move's units, a sale's unit):
    a unit's path, and a lot's logistics events for export."""

    __tablename__ = "unit_event"

    code: str = Field(primary_key=True, max_length=41)
    event_id: int = Field(foreign_key="event.id", primary_key=True, index=True)


class Sale(SQLModel, table=True):
    """One unit sold: the can or case the sale event names, and each can inside a sold case (with
    its lot, so a recall finds the orders). ``buyer`` is the member's pseudonym, never the member."""

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    code: str = Field(primary_key=True, max_length=41, index=True)
    lot_id: int | None = Field(default=None, foreign_key="lot.id", index=True)
    order_ref: str = Field(max_length=80)
    buyer: str = Field(max_length=64, index=True)
    sold_at: datetime = _ts(nullable=False)


class BuyerContact(SQLModel, table=True):
    """How to reach a member about a recall, kept only where the member agreed: sealed (AES-GCM or
    SM4-GCM, key outside the database, bound to the pseudonym), never in a signed record or export."""

    __tablename__ = "buyer_contact"

    buyer: str = Field(primary_key=True, max_length=64)
    supplier_id: str = Field(foreign_key="supplier.id", index=True, max_length=63)
    contact: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    consented_at: datetime = _ts(nullable=False)


class EpcisIndex(SQLModel, table=True):
    """One row per EPCIS event the repository answers queries with (EPCIS 2.0 query interface).

    Every stored event has exactly one row, keyed by its cradletrace event: a captured event's row
    holds the original it came in as (so a captured event never shows twice), any other event the
    EPCIS form the profile gives it. ``eid`` is its eventID, or its CBV 2.0 hash when it has none.
    Written in the transaction that records or captures the event (cradletrace.epcis.index)."""

    __tablename__ = "epcis_index"
    __table_args__ = (
        Index("ix_epcis_index_page", "record_time", "event_id"),
        Index("ix_epcis_index_event_time", "event_time"),
    )

    # The index is derived from the event: it goes with it (CASCADE), never holds a row back.
    event_id: int = Field(
        primary_key=True, foreign_key="event.id", ondelete="CASCADE", sa_column_kwargs={"autoincrement": False}
    )
    eid: str = Field(sa_column=Column(Text, nullable=False, index=True))
    hash: str = Field(max_length=100)
    type: str = Field(max_length=64, index=True)
    event_time: datetime = _ts(nullable=False)
    record_time: datetime = _ts(nullable=False)
    biz_step: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    disposition: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    read_point: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    biz_location: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    supplier_id: str = Field(max_length=63, index=True)
    error_time: datetime | None = _ts(nullable=True)
    error_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))  # the EPCIS event (JSON)
    context: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # a captured document's


class EpcisIndexValue(SQLModel, table=True):
    """The identifiers an indexed EPCIS event names, one row each, for MATCH_* and EQ_correctiveEventID.

    ``role``: epc (epcList, childEPCs), parent, input, output, class (quantityList, childQuantityList),
    input_class, output_class, corrective. EPCs and classes are kept as canonical GS1 Digital Link
    URIs when they have one (an EPC URN and its Digital Link match alike), else as written."""

    __tablename__ = "epcis_index_value"
    __table_args__ = (Index("ix_epcis_index_value_value", "value", "role", "event_id"),)

    event_id: int = Field(primary_key=True, foreign_key="epcis_index.event_id", ondelete="CASCADE")
    role: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=400)


class EpcisNamedQuery(SQLModel, table=True):
    """A named EPCIS query (GS1's ``POST /queries``): its SimpleEventQuery parameters as JSON
    (``{"EQ_bizStep": ["shipping"]}``), and who made it: a supplier's named query and its
    subscriptions see what that supplier may query (cradletrace.epcis.subscriptions)."""

    __tablename__ = "epcis_named_query"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    params: str = Field(sa_column=Column(Text, nullable=False))
    owner_role: str = Field(max_length=16)
    owner_supplier: str | None = Field(default=None, max_length=63)
    created_by: str = Field(max_length=64)  # the API key's id
    created_at: datetime = _ts(nullable=False)


class EpcisSubscription(SQLModel, table=True):
    """A webhook subscription to a named query: ``stream`` (each new matching event as it is
    recorded) or ``schedule`` (GS1's cron-like fields, JSON). ``viewer`` is the caller's scope when
    it subscribed (its supplier id; None for quality and operator), applied at every delivery.
    ``secret`` is the partner's signatureToken, sealed like partner contacts' secrets."""

    __tablename__ = "epcis_subscription"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=64, unique=True)  # the subscriptionID
    query_id: int = Field(foreign_key="epcis_named_query.id", ondelete="CASCADE", index=True)
    dest: str = Field(max_length=500)
    secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    viewer: str | None = Field(default=None, max_length=63)
    stream: bool = Field(default=False)
    schedule: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    report_if_empty: bool = Field(default=False)
    initial_record_time: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    next_run_at: datetime | None = _ts(nullable=True)  # a scheduled subscription's next tick
    last_notified_at: datetime | None = _ts(nullable=True)  # the last delivery the partner accepted
    # The newest recordTime put in a delivery: later runs look from a little before it (subscriptions.LAG).
    watermark: datetime | None = _ts(nullable=True)


class EpcisSubscriptionEvent(SQLModel, table=True):
    """Which events a subscription has put in a delivery: each goes once (the primary key), and a
    matching event committed late (a long transaction) is still found by what is not here."""

    __tablename__ = "epcis_subscription_event"

    subscription_id: int = Field(primary_key=True, foreign_key="epcis_subscription.id", ondelete="CASCADE")
    event_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    delivery_id: int = Field(foreign_key="epcis_outbox.id", ondelete="CASCADE", index=True)


class EpcisDelivery(SQLModel, table=True):
    """The subscription outbox: one EPCISQueryDocument (``body``, fixed when written, so every try
    sends the same bytes) to one subscription's webhook. ``uid`` is the stable id a receiver
    deduplicates by; ``status`` a ``DeliveryStatus`` as in the recall outbox."""

    __tablename__ = "epcis_outbox"
    __table_args__ = (Index("ix_epcis_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=64, unique=True)
    subscription_id: int = Field(foreign_key="epcis_subscription.id", ondelete="CASCADE", index=True)
    events: int = 0
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)
    attempts: int = 0
    created_at: datetime = _ts(nullable=False)
    next_attempt_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class EpcisDeliveryAttempt(SQLModel, table=True):
    """The subscription delivery log: every try, with what came back."""

    __tablename__ = "epcis_outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="epcis_outbox.id", ondelete="CASCADE", index=True)
    at: datetime = _ts(nullable=False)
    status: str = Field(max_length=16)
    code: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=500)
    ms: int = 0

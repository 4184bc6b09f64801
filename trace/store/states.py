"""The fixed sets of values of status columns and derived states: one home for each spelling.

Each is a ``StrEnum``, so a member IS its stored string: rows written before these enums existed
read back equal to the members (no migration), and JSON, SQL parameters and templates see the
plain text. Columns stay ``str`` in ``models`` (a SQL enum type would need a migration).
"""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    """``AnchorBatch.status``: where a Merkle root is on its way to the chain."""

    PREPARED = "prepared"  # proofs stored, transaction not sent yet
    SENT = "sent"  # a transaction was signed and sent; not final yet
    CONFIRMED = "confirmed"  # the root is on chain, final


class NoticeStatus(StrEnum):
    """``Recall.notice_status``: whether a recall's notice is anchored yet."""

    PREPARED = "prepared"  # stored, sent by the next anchoring run
    CONFIRMED = "confirmed"  # on chain
    DRILL = "drill"  # a mock recall's notice: never sent to the chain (recall/drill.py)


class RecallState(StrEnum):
    """A recall's state as the API reports it (``Recall.closed_at`` set or not)."""

    ACTIVE = "active"
    CLOSED = "closed"


class EventAnchoring(StrEnum):
    """An event's anchoring as the API reports it: no batch yet, batch not confirmed, confirmed."""

    PENDING = "pending"
    PREPARED = "prepared"
    ANCHORED = "anchored"


class HoldReason(StrEnum):
    """``Hold.reason``: why a lot was held automatically. The value is stored and sent by the API;
    pages show their own words for it (``scanner_web/i18n.json``)."""

    FAILED_TEST = "failed test report"
    EXCURSION = "cold-chain excursion"


class UnitKind(StrEnum):
    """``Unit.kind``: what a logistics unit is (docs/logistics.md)."""

    ITEM = "item"  # a commissioned can (GTIN + serial)
    CASE = "case"  # a case (case GTIN + serial), holding cans
    PALLET = "pallet"  # a pallet (SSCC), holding cases and cans


class DeliveryStatus(StrEnum):
    """``RecallNotice.status``: where one notice (an e-mail or a webhook call to a consignee site)
    is on its way out of the outbox (trace/recall/delivery.py)."""

    PENDING = "pending"  # written with the recall (or its widening); not tried yet
    SENDING = "sending"  # claimed by a worker until ``lease_until``; a crashed worker's claim lapses
    RETRYING = "retrying"  # a try failed for a reason that may pass; tried again at ``next_attempt_at``
    SENT = "sent"  # the mail server or the partner's endpoint accepted it
    FAILED = "failed"  # permanent: a bounce (SMTP 5xx), a refusal (HTTP 4xx), no address, or retries ran out
    CANCELLED = "cancelled"  # not sent: the site answered or the recall closed first


class NoticeChannel(StrEnum):
    """``RecallNotice.channel``: how a notice reaches a consignee site."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class DeadlineStatus(StrEnum):
    """A regulatory deadline's state in the recall ledger (trace/recall/deadlines.py)."""

    MET = "met"  # done by its due time
    DUE = "due"  # not done, not yet past due
    LATE = "late"  # done after its due time, or not done and past it


class PersonKind(StrEnum):
    """``PersonNotice.kind``: what an e-mail to a person (not a site) is (trace/recall/consumers.py)."""

    CONFIRM = "confirm"  # the double opt-in mail of a new "tell me if this can is recalled" subscription
    BUYER = "buyer"  # a recall notice to a buyer whose order sold an affected can (one per buyer per recall)
    CONSUMER = "consumer"  # a recall notice to a confirmed subscriber of the lot


class CaptureState(StrEnum):
    """``EpcisCapture.state``: a capture job of the EPCIS REST binding (epcis/binding.py). A job is
    ``pending`` until the transaction that stores its events (or none) also sets its end state, so a
    job interrupted by a crash is still pending and runs again: never lost, never applied twice."""

    PENDING = "pending"  # taken, not finished (``started_at`` set: a worker is on it, or was)
    SUCCESS = "success"  # every event stored, in the job's one transaction
    FAILED = "failed"  # nothing stored; ``errors`` says why

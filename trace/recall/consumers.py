"""Recall notices to people: buyers whose orders sold an affected can, and consumers who asked on a
scan page to be told if their can is recalled (docs/recall.md, "Buyers and consumers").

* **Subscriptions** (``subscribe``): an e-mail address for one lot (GTIN + lot). Double opt-in:
  a confirmation mail with a one-time link, and nothing is sent about recalls until the link is
  followed (``confirm``). The address is sealed at rest (sealing.py, as scan locations are) and
  found by a keyed hash, so one address subscribes once per lot. The page's form carries a token
  (``form_token``) bound to the lot and the hour, so another site cannot post it blind.
* **Notices** (``enqueue``): when a recall starts or widens, one notice per buyer with a kept
  contact (sales.py) whose order sold a can of a lot in the scope, and one per confirmed
  subscription of such a lot, written in the recall's transaction to ``person_outbox``; the
  delivery worker (delivery.py) sends them as it sends the sites' notices: claims, retries,
  bounces, a delivery log, the same crash safety. Drills notify no one (``_silent``).
* **Unsubscribe** in one click (RFC 8058 headers and a link, no login): a subscriber's ends the
  subscription and wipes its sealed address; a buyer's withdraws the consent (sales.py deletes
  the contact).
* **Reach** (``reach``): per recall, notices written, accepted by the mail server (reached) and
  opened. Opened means the notice's "read the recall" link was followed, not a tracking pixel:
  mail clients block remote images by default (so a pixel undercounts) or fetch them all through
  a proxy (so it overcounts), and a pixel reports a reader who never chose to tell us anything.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import formatdate
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from cradletrace import sales
from cradletrace.config import Settings
from cradletrace.core.text import text_problem
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.recall.delivery import Outgoing, due_rows, lease_time
from cradletrace.recall.genealogy import id_set
from cradletrace.recall.outbox import OPEN, token_hash
from cradletrace.sealing import Sealer
from cradletrace.store.models import (
    BuyerContact,
    ConsumerSubscription,
    Lot,
    PersonNotice,
    PersonNoticeAttempt,
    Product,
    Recall,
    RecallLot,
    Sale,
)
from cradletrace.store.states import DeliveryStatus, NoticeChannel, PersonKind

TABLES = (PersonNotice, PersonNoticeAttempt)
MAX_ADDRESS = 254  # RFC 5321's limit for a path
CONFIRM_GAP = timedelta(minutes=10)  # a confirmation mail is not sent again sooner for the same lot
CONFIRMS_PER_HOUR = 5  # confirmation mails to one address per hour, over all lots
FORM_HOURS = 2  # a scan page's subscription form is good for one to two hours
# Header lines up to SMTP's 998: a List-Unsubscribe URL stays on its line (RFC 8058 receivers
# unfold anyway, but some filters compare the raw header).
_UNFOLDED = default.clone(max_line_length=998)
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


# ---------------------------------------------------------------- tokens and addresses


def _token(sealer: Sealer, purpose: str, salt: str) -> str:
    return sealer.pseudonym(f"{purpose}\x00{salt}".encode())


def form_token(sealer: Sealer, gtin: str, lot: str, now: datetime, hours_ago: int = 0) -> str:
    """The hidden token of a scan page's subscription form: lot and hour, keyed. A page from
    another site cannot make one, so it cannot post the form blind (with double opt-in and the
    strict CSP, the public form's defence against cross-site posting)."""
    hour = int(now.timestamp() // 3600) - hours_ago
    return sealer.pseudonym(f"subscribe-form\x00{gtin}\x00{lot}\x00{hour}".encode())


def _form_ok(sealer: Sealer, gtin: str, lot: str, token: str, now: datetime) -> bool:
    return any(secrets.compare_digest(token, form_token(sealer, gtin, lot, now, h)) for h in range(FORM_HOURS))


def normalized(address: str) -> str:
    """The address as kept and compared (lower case: mailboxes are not told apart by case in practice)."""
    a = address.strip().lower()
    if not a or len(a) > MAX_ADDRESS or not _ADDRESS.match(a):
        raise InvalidInputError(Problem("email", "expected an e-mail address such as name@example.com"))
    if bad := text_problem(a):
        raise InvalidInputError(Problem("email", bad))
    return a


def address_key(sealer: Sealer, address: str) -> str:
    return sealer.pseudonym(b"subscriber\x00" + address.encode())


def _bound(key: str) -> bytes:
    return f"consumer_subscription {key}".encode()


# ---------------------------------------------------------------- subscribing


def _lot(session: Session, gtin: str, lot: str) -> Lot:
    row = session.exec(select(Lot).where(Lot.gtin == gtin, Lot.lot == lot)).first()
    if row is None:
        raise NotFoundError(f"lot: expected a recorded lot, got {gtin}/{lot} which does not exist")
    return row


def subscribe(
    session: Session, sealer: Sealer, *, gtin: str, lot: str, address: str, lang: str, form: str, now: datetime
) -> bool:
    """Ask to be told if lot ``gtin``/``lot`` is recalled. Returns whether a confirmation mail was
    queued; the caller answers the same either way, so the form does not tell who is subscribed."""
    from cradletrace.recall.recalls import write_lock

    if not _form_ok(sealer, gtin, lot, form, now):
        raise InvalidInputError(
            Problem("form_token", "expected the form of a scan page opened in the last hour or two; reload the page")
        )
    addr = normalized(address)
    write_lock(session)
    target = _lot(session, gtin, lot)
    key = address_key(sealer, addr)
    sub = session.exec(
        select(ConsumerSubscription).where(
            ConsumerSubscription.lot_id == target.id, ConsumerSubscription.address_key == key
        )
    ).first()
    if sub is not None and sub.confirmed_at is not None and sub.unsubscribed_at is None:
        return False  # already subscribed: nothing to confirm
    if sub is None or sub.unsubscribed_at is not None:
        salt = secrets.token_hex(16)
        values: dict[str, Any] = dict(
            address=sealer.seal(addr.encode(), _bound(key)),
            lang=lang,
            salt=salt,
            confirm_hash=token_hash(_token(sealer, "subscribe-confirm", salt)),
            stop_hash=token_hash(_token(sealer, "subscribe-stop", salt)),
            created_at=now,
            confirmed_at=None,
            unsubscribed_at=None,
        )
        if sub is None:
            assert target.id is not None
            sub = ConsumerSubscription(lot_id=target.id, address_key=key, **values)
            session.add(sub)
            session.flush()
            sub_id = sub.id
        else:
            sub_id = sub.id
            session.execute(update(ConsumerSubscription).where(col(ConsumerSubscription.id) == sub_id).values(values))
    else:
        sub_id = sub.id
    recent = session.exec(
        select(PersonNotice.subscription_id, PersonNotice.created_at)
        .join(ConsumerSubscription, col(ConsumerSubscription.id) == col(PersonNotice.subscription_id))
        .where(
            PersonNotice.kind == PersonKind.CONFIRM,
            ConsumerSubscription.address_key == key,
            col(PersonNotice.created_at) > now - timedelta(hours=1),
        )
    ).all()
    if len(recent) >= CONFIRMS_PER_HOUR or any(s == sub_id and at > now - CONFIRM_GAP for s, at in recent):
        return False
    session.execute(insert(PersonNotice).values(_pending(PersonKind.CONFIRM, now, subscription_id=sub_id)))
    return True


def _pending(kind: PersonKind, now: datetime, **what: Any) -> dict[str, Any]:
    return dict(
        kind=kind,
        salt=secrets.token_hex(16),
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        **what,
    )


@dataclass(frozen=True)
class LotRef:
    gtin: str
    lot: str
    product: str

    @property
    def ref(self) -> str:
        return f"{self.gtin}/{self.lot}"


def _lot_refs(session: Session, lot_ids: Sequence[int]) -> dict[int, LotRef]:
    rows = session.exec(
        select(Lot.id, Lot.gtin, Lot.lot, Product.name)
        .join(Product, col(Product.gtin) == col(Lot.gtin), isouter=True)
        .where(col(Lot.id).in_(list(lot_ids)))
    ).all()
    return {int(i): LotRef(g, lo, name or g) for i, g, lo, name in rows if i is not None}


@dataclass(frozen=True)
class SubscriptionView:
    """What the confirm and unsubscribe pages show: the lot, never the address."""

    kind: str  # a PersonKind: consumer (a subscription) or buyer (a buyer's consent)
    lot: LotRef | None
    confirmed: bool
    stopped: bool


def _by_hash(session: Session, column: Any, token: str) -> ConsumerSubscription | None:
    if len(token) > 100:
        return None
    return session.exec(select(ConsumerSubscription).where(column == token_hash(token))).first()


def _sub_view(session: Session, sub: ConsumerSubscription) -> SubscriptionView:
    return SubscriptionView(
        PersonKind.CONSUMER,
        _lot_refs(session, [sub.lot_id]).get(sub.lot_id),
        sub.confirmed_at is not None,
        sub.unsubscribed_at is not None,
    )


_UNKNOWN = "link: expected the link from our e-mail; this one is not known (or was replaced by a newer one)"


def confirm(session: Session, token: str, now: datetime | None) -> SubscriptionView:
    """The confirmation link: with ``now``, confirms (once; a second time changes nothing); without,
    only looks (the page shows a button, so a mail scanner fetching the link confirms nothing)."""
    sub = _by_hash(session, ConsumerSubscription.confirm_hash, token)
    if sub is None or sub.unsubscribed_at is not None:
        raise NotFoundError(_UNKNOWN)
    if now is not None and sub.confirmed_at is None:
        session.execute(
            update(ConsumerSubscription)
            .where(col(ConsumerSubscription.id) == sub.id, col(ConsumerSubscription.confirmed_at).is_(None))
            .values(confirmed_at=now)
        )
        session.flush()
        session.refresh(sub)
    return _sub_view(session, sub)


def unsubscribe(session: Session, token: str, now: datetime | None) -> SubscriptionView:
    """One-click unsubscribe (RFC 8058), no login: the token is the right. With ``now`` it acts; a
    subscriber's subscription ends and its sealed address is wiped; a buyer's consent to recall
    notices is withdrawn (its contact deleted). Notices not sent yet are cancelled. Again: no change."""
    sub = _by_hash(session, ConsumerSubscription.stop_hash, token)
    if sub is not None:
        if now is not None and sub.unsubscribed_at is None:
            session.execute(
                update(ConsumerSubscription)
                .where(col(ConsumerSubscription.id) == sub.id)
                .values(unsubscribed_at=now, address=None)
            )
            _cancel(session, col(PersonNotice.subscription_id) == sub.id, "not sent: unsubscribed first")
            session.flush()
            session.refresh(sub)
        return _sub_view(session, sub)
    notice = None
    if len(token) <= 100:
        notice = session.exec(select(PersonNotice).where(PersonNotice.stop_hash == token_hash(token))).first()
    if notice is None or notice.buyer is None:
        raise NotFoundError(_UNKNOWN)
    kept = session.get(BuyerContact, notice.buyer) is not None
    if now is not None and kept:
        sales.withdraw_contact(session, notice.buyer)
        _cancel(session, col(PersonNotice.buyer) == notice.buyer, "not sent: the buyer unsubscribed first")
        session.flush()
        kept = False
    return SubscriptionView(PersonKind.BUYER, None, True, not kept)


def _cancel(session: Session, which: Any, why: str) -> None:
    session.execute(
        update(PersonNotice)
        .where(which, col(PersonNotice.status).in_(OPEN))
        .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=why)
    )


# ---------------------------------------------------------------- notices


def _silent(recall: Recall) -> bool:
    """A recall that tells no buyer or consumer: a drill (issue 17's mock recall, recall/drill.py).
    This is the one place that decides it."""
    return recall.drill


def enqueue(session: Session, recall_id: int, lot_ids: Sequence[int], now: datetime) -> tuple[int, int]:
    """Notices for the buyers and confirmed subscribers of ``lot_ids`` (lots new to the recall),
    in the transaction that starts or widens it. One per buyer per recall: a buyer told already
    is not told again when the recall widens. Returns (buyers, subscribers) newly to be told."""
    recall = session.get(Recall, recall_id)
    if recall is None or _silent(recall) or not lot_ids:
        return 0, 0
    lots = id_set(session, lot_ids)
    told = select(PersonNotice.buyer).where(PersonNotice.recall_id == recall_id, col(PersonNotice.buyer).is_not(None))
    buyers = session.exec(
        select(Sale.buyer)
        .join(BuyerContact, col(BuyerContact.buyer) == col(Sale.buyer))
        .where(col(Sale.lot_id).in_(lots), col(Sale.buyer).not_in(told))
        .distinct()
        .order_by(col(Sale.buyer))
    ).all()
    subs = session.exec(
        select(ConsumerSubscription.id).where(
            col(ConsumerSubscription.lot_id).in_(lots),
            col(ConsumerSubscription.confirmed_at).is_not(None),
            col(ConsumerSubscription.unsubscribed_at).is_(None),
        )
    ).all()
    rows = [_pending(PersonKind.BUYER, now, recall_id=recall_id, buyer=b) for b in buyers]
    rows += [_pending(PersonKind.CONSUMER, now, recall_id=recall_id, subscription_id=s) for s in subs]
    if rows:
        session.execute(insert(PersonNotice), rows)
    return len(buyers), len(subs)


def claim(session: Session, sealer: Sealer, settings: Settings, now: datetime, limit: int = 1000) -> list[Outgoing]:
    """Take up to ``limit`` due e-mails to people (delivery.claim's rules), made ready to send."""
    rows: list[PersonNotice] = due_rows(session, PersonNotice, now, limit)
    if not rows:
        return []
    subs = {
        s.id: s
        for s in session.exec(
            select(ConsumerSubscription).where(
                col(ConsumerSubscription.id).in_({r.subscription_id for r in rows if r.subscription_id})
            )
        ).all()
    }
    recalls = {
        r.id: r
        for r in session.exec(
            select(Recall).where(col(Recall.id).in_({r.recall_id for r in rows if r.recall_id}))
        ).all()
    }
    bought: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    buyer_rows = [r for r in rows if r.buyer is not None]
    if buyer_rows:
        for rid, buyer, lid, order in session.exec(
            select(RecallLot.recall_id, Sale.buyer, Sale.lot_id, Sale.order_ref)
            .join(Sale, col(Sale.lot_id) == col(RecallLot.lot_id))
            .where(
                col(RecallLot.recall_id).in_({r.recall_id for r in buyer_rows}),
                col(Sale.buyer).in_({r.buyer for r in buyer_rows}),
            )
            .distinct()
        ).all():
            bought[(int(rid), str(buyer))].append((int(lid or 0), str(order)))
    refs = _lot_refs(session, [s.lot_id for s in subs.values()] + [lid for v in bought.values() for lid, _ in v])
    lease = now + lease_time(settings)
    out: list[Outgoing] = []
    for row in rows:
        assert row.id is not None
        sub = subs.get(row.subscription_id)
        recall = recalls.get(row.recall_id)
        contact = sales.buyer_contact(session, sealer, row.buyer) if row.buyer else None
        why = _why_not(row, sub, recall, contact)
        if why:
            row.status, row.lease_until, row.next_attempt_at, row.last_error = DeliveryStatus.CANCELLED, None, None, why
            session.add(row)
            continue
        read = _token(sealer, "recall-read", row.salt)
        if row.kind == PersonKind.BUYER:
            link = _token(sealer, "buyer-stop", row.salt)
        else:
            assert sub is not None
            purpose = "subscribe-confirm" if row.kind == PersonKind.CONFIRM else "subscribe-stop"
            link = _token(sealer, purpose, sub.salt)
        if row.kind != PersonKind.CONFIRM and row.read_hash is None:
            row.read_hash = token_hash(read)
            row.stop_hash = token_hash(link) if row.kind == PersonKind.BUYER else None
        row.status, row.lease_until, row.attempts = DeliveryStatus.SENDING, lease, row.attempts + 1
        session.add(row)
        if sub is not None:
            assert sub.address is not None
            to = sealer.open(sub.address, _bound(sub.address_key)).decode()
            lots = [(refs[sub.lot_id], "")]
        else:
            found = _ADDRESS.search((contact or "").strip().lower())
            to = found.group(0) if found else ""
            lots = [(refs[lid], order) for lid, order in sorted(bought.get((row.recall_id or 0, row.buyer or ""), []))]
        message = _message(settings, row, recall, sub, lots, to, read, link)
        label = "this subscriber" if sub is not None else "this buyer"
        emails = (to,) if to else ()
        out.append(
            Outgoing(
                notice_id=row.id,
                recall_id=row.recall_id or 0,
                channel=NoticeChannel.EMAIL,
                attempts=row.attempts,
                created_at=row.created_at,
                site=label,
                site_name=label,
                emails=emails,
                webhook_url=None,
                secret=None,
                payload={},
                message=message,
                private=True,
            )
        )
    session.commit()
    return out


def _why_not(
    row: PersonNotice, sub: ConsumerSubscription | None, recall: Recall | None, contact: str | None
) -> str | None:
    """Why a claimed e-mail is no longer to be sent (it is then ``cancelled``), or None."""
    if recall is not None and recall.closed_at is not None:
        return "not sent: the recall was closed first"
    if row.kind == PersonKind.BUYER:
        return None if contact else "not sent: the buyer withdrew consent first"
    if sub is None or sub.unsubscribed_at is not None or sub.address is None:
        return "not sent: unsubscribed first"
    if row.kind == PersonKind.CONFIRM and sub.confirmed_at is not None:
        return "not sent: confirmed already"
    return None


# What a parent should do now, Chinese then English (the mail is in both languages).
_WHAT_TO_DO_ZH = (
    "请立即停止使用这些罐装奶粉,不要再给宝宝食用;请保留包装,按销售方的指引退回或退款。如宝宝有发热、"
    "精神差、喂养困难等不适,请及时就医并告知医生所食用的产品和批次。"
)
_WHAT_TO_DO_EN = (
    "Stop using these cans now and do not feed them to your baby. Keep the packaging and return it as the "
    "seller directs for a refund. If your baby has a fever, is unusually sleepy or feeds poorly, see a doctor "
    "and name the product and lot."
)


def _message(
    settings: Settings,
    row: PersonNotice,
    recall: Recall | None,
    sub: ConsumerSubscription | None,
    lots: Sequence[tuple[LotRef, str]],
    to: str,
    read: str,
    link: str,
) -> EmailMessage:
    """The e-mail of ``row``: plain text, Chinese then English, with stable ids (a repeat after a
    crash carries the same Message-ID and links). ``link``: the confirmation token of a
    confirmation, else the unsubscribe token."""
    origin = settings.ack_origin
    q = "?lang=en" if sub is not None and sub.lang == "en" else ""
    msg = EmailMessage(policy=_UNFOLDED)
    msg["From"] = settings.smtp_from
    if to:
        msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    domain = settings.smtp_from.rpartition("@")[2] or "cradletrace.example"
    msg["Message-ID"] = f"<person-{row.id}.{row.kind}@{domain}>"
    listed = "\n".join(f"  {x.product}: GTIN {x.gtin}, 批号 / lot {x.lot}" + (f" ({o})" if o else "") for x, o in lots)
    if row.kind == PersonKind.CONFIRM:
        assert sub is not None
        url = f"{origin}/subscribe/confirm/{link}{q}"
        msg["Subject"] = "请确认召回提醒订阅 / Please confirm your recall alert"
        msg.set_content(
            f"""您请求在以下产品批次被召回时收到通知:
{listed}
请打开下面的链接并点击"确认"完成订阅。如果不是您本人申请,请忽略本邮件,我们不会再发送任何邮件。
{url}

You asked to be told if this lot is recalled:
{listed}
Open this link and press "Confirm" to start. If you did not ask, ignore this e-mail: nothing more is sent.
{url}
"""
        )
        return msg
    assert recall is not None
    stop_url = f"{origin}/unsubscribe/{link}{q}"
    read_url = f"{origin}/recall-notice/{read}{q}"
    msg["Subject"] = f"产品召回提醒 / Recall alert: {', '.join(sorted({x.product for x, _ in lots}))}"
    msg["List-Unsubscribe"] = f"<{stop_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    why = "您在我们这里购买的" if row.kind == PersonKind.BUYER else "您订阅提醒的"
    whom = "you bought from us" if row.kind == PersonKind.BUYER else "you asked us to watch"
    msg.set_content(
        f"""产品召回提醒(召回编号 {recall.id},{recall.severity} 级)
{why}以下产品批次已被召回:
{listed}
原因:{recall.reason}
{_WHAT_TO_DO_ZH}
查看召回详情:{read_url}
退订:{stop_url}

Recall alert (recall {recall.id}, class {recall.severity})
This lot {whom} is recalled:
{listed}
Reason: {recall.reason}
{_WHAT_TO_DO_EN}
Read the recall: {read_url}
Unsubscribe: {stop_url}
"""
    )
    return msg


# ---------------------------------------------------------------- opened, and reach


@dataclass(frozen=True)
class NoticeView:
    """What the "read the recall" page shows: the recall and the lots, nothing of the person."""

    recall: Recall
    lots: tuple[LotRef, ...]
    kind: str


def read(session: Session, token: str, now: datetime) -> NoticeView:
    """A notice's "read the recall" link was followed: the notice counts as opened (the first time)."""
    notice = None
    if len(token) <= 100:
        notice = session.exec(select(PersonNotice).where(PersonNotice.read_hash == token_hash(token))).first()
    if notice is None or notice.recall_id is None:
        raise NotFoundError(_UNKNOWN)
    if notice.opened_at is None:
        session.execute(
            update(PersonNotice)
            .where(col(PersonNotice.id) == notice.id, col(PersonNotice.opened_at).is_(None))
            .values(opened_at=now)
        )
    recall = session.get(Recall, notice.recall_id)
    assert recall is not None
    if notice.subscription_id is not None:
        sub = session.get(ConsumerSubscription, notice.subscription_id)
        lot_ids = [sub.lot_id] if sub else []
    else:
        lot_ids = [
            int(x)
            for x in session.exec(
                select(Sale.lot_id)
                .join(RecallLot, col(RecallLot.lot_id) == col(Sale.lot_id))
                .where(RecallLot.recall_id == recall.id, Sale.buyer == notice.buyer)
                .distinct()
            ).all()
            if x is not None
        ]
    refs = _lot_refs(session, lot_ids)
    return NoticeView(recall, tuple(sorted(refs.values(), key=lambda x: x.ref)), notice.kind)


def reach(session: Session, recall_id: int) -> dict[str, dict[str, int]]:
    """Per kind (``buyers``, ``consumers``): notices written (``notified``), accepted by the mail
    server (``reached``), opened (the "read the recall" link followed), failed for good."""
    out = {k: {"notified": 0, "reached": 0, "opened": 0, "failed": 0} for k in ("buyers", "consumers")}
    for kind, status, opened, n in session.exec(
        select(PersonNotice.kind, PersonNotice.status, col(PersonNotice.opened_at).is_not(None), func.count())
        .where(PersonNotice.recall_id == recall_id)
        .group_by(col(PersonNotice.kind), col(PersonNotice.status), col(PersonNotice.opened_at).is_not(None))
    ).all():
        c = out["buyers" if kind == PersonKind.BUYER else "consumers"]
        c["notified"] += n
        c["reached"] += n if status == DeliveryStatus.SENT else 0
        c["opened"] += n if opened else 0
        c["failed"] += n if status == DeliveryStatus.FAILED else 0
    return out

"""Sending the recall notice outbox: e-mail over SMTP and signed webhooks, each try logged.

The anchoring worker's pattern (prepare, send, confirm), for messages instead of transactions:

1. **Claim** (one transaction): due notices (``pending``, ``retrying`` whose time came, or
   ``sending`` whose claim lapsed because its worker died) become ``sending`` until
   ``lease_until``. Any number of workers share the outbox: PostgreSQL skips rows another worker
   locked, SQLite serialises the claims.
2. **Send**, outside any transaction, several at once (``notify_parallel``).
3. **Record** (one transaction): ``sent``; ``retrying`` with the next try's time (exponential
   backoff, ``notify_backoff`` doubling up to ``notify_max_backoff``); or ``failed`` for good
   (SMTP 5xx bounce, HTTP 4xx, no address, or tries for ``notify_give_up_hours``). Every try
   adds a row to the delivery log (``recall_outbox_attempt``).

A worker killed between 2 and 3 leaves its notices ``sending``; they are sent again once the
claim lapses, with the same ``Message-ID`` / ``X-Cradletrace-Notice`` so the receiver can tell
a repeat, and with the same link, so an answer is counted once whatever happens (acks.py).
A notice whose site answered, or whose recall closed, before it went is ``cancelled``.

Webhook requests carry ``X-Cradletrace-Timestamp`` (Unix seconds) and
``X-Cradletrace-Signature: v1=<hex HMAC-SHA-256 of "<timestamp>." + body>`` with the partner's
secret; the receiver recomputes it and refuses old timestamps (docs/recall.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from cradletrace.config import Settings
from cradletrace.recall import partners
from cradletrace.recall.clock import iso
from cradletrace.recall.outbox import OPEN, ack_token, token_hash
from cradletrace.sealing import Sealer
from cradletrace.store.models import (
    Lot,
    PartnerContact,
    Recall,
    RecallAck,
    RecallAckLine,
    RecallNotice,
    RecallNoticeAttempt,
    Supplier,
)
from cradletrace.store.states import DeliveryStatus, NoticeChannel

USER_AGENT = "cradletrace-recall-notices/1"
Claimer = Callable[[Session, Sealer, Settings, datetime, int], list["Outgoing"]]


@dataclass(frozen=True)
class Outgoing:
    """One claimed notice, with everything needed to send it (no session needed)."""

    notice_id: int
    recall_id: int
    channel: str
    attempts: int
    created_at: datetime
    site: str
    site_name: str
    emails: tuple[str, ...]
    webhook_url: str | None
    secret: str | None
    payload: dict[str, Any]
    # A notice to a person (consumers.py) comes with its message made, and its address must not
    # reach the store: the delivery log gets the error with the address replaced.
    message: EmailMessage | None = None
    private: bool = False

    @property
    def link(self) -> str:
        return str(self.payload["ack_url"])


@dataclass(frozen=True)
class Tried:
    """What one try came to."""

    status: DeliveryStatus
    code: int | None = None
    error: str | None = None
    ms: int = 0


@dataclass
class DeliveryRun:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    notices: list[tuple[int, DeliveryStatus]] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.sent + self.retrying + self.failed


def lease_time(settings: Settings) -> timedelta:
    return timedelta(seconds=max(60.0, 3 * settings.webhook_timeout, 3 * settings.smtp_timeout))


def due_rows(session: Session, table: Any, now: datetime, limit: int) -> list[Any]:
    """The due rows of an outbox ``table`` (the sites' or the people's), locked for this worker;
    none (and the transaction ended) when there are none."""
    from cradletrace.recall.recalls import write_lock

    due = or_(
        col(table.status).in_(OPEN) & (col(table.next_attempt_at) <= now),
        (col(table.status) == DeliveryStatus.SENDING) & (col(table.lease_until) <= now),
    )
    # A plain read first (index on status, next_attempt_at): an idle outbox costs no write lock.
    if session.exec(select(table.id).where(due).limit(1)).first() is None:
        session.rollback()
        return []
    write_lock(session)
    rows = list(
        session.exec(select(table).where(due).order_by(col(table.id)).limit(limit).with_for_update(skip_locked=True))
    )
    if not rows:
        session.rollback()
    return rows


def claim(session: Session, sealer: Sealer, settings: Settings, now: datetime, limit: int = 1000) -> list[Outgoing]:
    """Take up to ``limit`` due notices for this worker (see the module's step 1); commits."""
    rows: list[RecallNotice] = due_rows(session, RecallNotice, now, limit)
    if not rows:
        return []
    lease = now + lease_time(settings)
    acks = {
        a.id: a for a in session.exec(select(RecallAck).where(col(RecallAck.id).in_({r.ack_id for r in rows}))).all()
    }
    recalls = {
        r.id: r for r in session.exec(select(Recall).where(col(Recall.id).in_({r.recall_id for r in rows}))).all()
    }
    sites = sorted({a.site for a in acks.values()})
    names = dict(session.exec(select(Supplier.id, Supplier.name).where(col(Supplier.id).in_(sites))).all())
    contacts = {
        c.supplier_id: partners.opened(sealer, c)
        for c in session.exec(select(PartnerContact).where(col(PartnerContact.supplier_id).in_(sites))).all()
    }
    lines: dict[int, list[dict[str, Any]]] = {}
    for line, g, lo in session.exec(
        select(RecallAckLine, Lot.gtin, Lot.lot)
        .join(Lot, col(Lot.id) == col(RecallAckLine.lot_id))
        .where(col(RecallAckLine.ack_id).in_(list(acks)))
        .order_by(col(Lot.gtin), col(Lot.lot))
    ).all():
        lines.setdefault(line.ack_id, []).append({"lot": f"{g}/{lo}", "shipped": line.shipped, "unit": line.unit})
    out: list[Outgoing] = []
    for row in rows:
        ack, recall = acks[row.ack_id], recalls[row.recall_id]
        assert ack.id is not None and row.id is not None
        if ack.answered_at is not None or recall.closed_at is not None:  # e.g. a dead worker's lapsed claim
            why = "the site answered" if ack.answered_at is not None else "the recall was closed"
            row.status, row.lease_until, row.next_attempt_at = DeliveryStatus.CANCELLED, None, None
            row.last_error = f"not sent: {why} first"
            session.add(row)
            continue
        token = ack_token(sealer, ack.salt)
        if ack.token_hash is None:
            ack.token_hash = token_hash(token)
            session.add(ack)
        row.status, row.lease_until, row.attempts = DeliveryStatus.SENDING, lease, row.attempts + 1
        session.add(row)
        contact = contacts.get(ack.site)
        payload = {
            "type": "recall.drill" if recall.drill else "recall.notice",
            "drill": recall.drill,
            "notice_id": row.id,
            "recall": {
                "id": recall.id,
                "reason": recall.reason,
                "severity": recall.severity,
                "started_at": iso(recall.started_at),
                "notice_digest": recall.notice_digest,
            },
            "site": {"id": ack.site, "name": names.get(ack.site, ack.site)},
            "lots": lines.get(ack.id, []),
            "ack_url": f"{settings.ack_origin}/ack/{token}",
            "attempt": row.attempts,
        }
        out.append(
            Outgoing(
                row.id,
                row.recall_id,
                row.channel,
                row.attempts,
                row.created_at,
                ack.site,
                names.get(ack.site, ack.site),
                contact.emails if contact else (),
                contact.webhook_url if contact else None,
                contact.webhook_secret if contact else None,
                payload,
            )
        )
    session.commit()
    return out


# ---------------------------------------------------------------- e-mail


def _message(settings: Settings, n: Outgoing) -> EmailMessage:
    p = n.payload
    r = p["recall"]
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(n.emails)
    drill = bool(p.get("drill"))
    mark = "【演练 DRILL】" if drill else ""
    msg["Subject"] = f"{mark}召回通知 / Recall notice {r['id']} (class {r['severity']}): {n.site_name}"
    msg["Date"] = formatdate(localtime=False)
    domain = settings.smtp_from.rpartition("@")[2] or "cradletrace.example"
    msg["Message-ID"] = f"<recall-{r['id']}.notice-{n.notice_id}@{domain}>"
    msg["X-Cradletrace-Notice"] = str(n.notice_id)
    lots = "\n".join(f"  {x['lot']}: {x['shipped']:g} {x['unit']}" for x in p["lots"])
    msg.set_content(
        (DRILL_PREFACE if drill else "")
        + f"""产品召回通知(召回编号 {r["id"]},{r["severity"]} 级)
原因:{r["reason"]}
贵方({n.site_name})收到的以下批次在召回范围内,请立即停止销售并隔离:
{lots}
请通过下面的一次性链接确认收到,并填写在库、已退回、已销毁的数量:
{p["ack_url"]}

Recall notice (recall {r["id"]}, class {r["severity"]})
Reason: {r["reason"]}
These lots shipped to {n.site_name} are recalled: stop selling them and set them aside.
{lots}
Please confirm receipt and report the quantities on hand, returned and destroyed at this one-time link:
{p["ack_url"]}
"""
    )
    return msg


DRILL_PREFACE = """【演练 DRILL】这是一次召回演练(模拟召回),不是真实召回:请勿停止销售,产品无需处理。
请像真实召回一样,通过下面的链接确认并填写数量,以检验召回流程。
This is a recall DRILL (mock recall), not a real recall: do not stop selling, nothing is to be done
with the product. Please answer at the link below as you would in a real recall, to test the process.

"""


def _smtp(settings: Settings) -> smtplib.SMTP:
    host = settings.smtp_host
    assert host is not None
    if settings.smtp_security == "tls":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            host, settings.smtp_port, timeout=settings.smtp_timeout, context=ssl.create_default_context()
        )
    else:
        conn = smtplib.SMTP(host, settings.smtp_port, timeout=settings.smtp_timeout)
        if settings.smtp_security == "starttls":
            conn.starttls(context=ssl.create_default_context())
    if settings.smtp_user and settings.smtp_password:
        conn.login(settings.smtp_user, settings.smtp_password)
    return conn


def _smtp_failure(code: int, text: str) -> Tried:
    """5xx is a bounce (the address or the message is refused for good); 4xx passes."""
    status = DeliveryStatus.FAILED if 500 <= code < 600 else DeliveryStatus.RETRYING
    return Tried(status, code, f"SMTP {code}: {text}"[:500])


def _reply(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


def send_emails(settings: Settings, batch: Sequence[Outgoing]) -> list[Tried]:
    """Send ``batch`` over one SMTP connection; a connection failure leaves the rest retrying."""
    out: list[Tried] = []
    if settings.smtp_host is None:
        return [Tried(DeliveryStatus.RETRYING, None, "e-mail is off: set CRADLETRACE_SMTP_HOST") for _ in batch]
    conn: smtplib.SMTP | None = None
    try:
        for n in batch:
            started = time.monotonic()
            if not n.emails:
                out.append(Tried(DeliveryStatus.FAILED, None, f"no e-mail address in the contact of {n.site}"))
                continue
            try:
                if conn is None:
                    conn = _smtp(settings)
                refused = conn.send_message(n.message or _message(settings, n))
                ms = int((time.monotonic() - started) * 1000)
                if refused:
                    some = "; ".join(f"{a}: {c} {_reply(t)}" for a, (c, t) in refused.items())
                    out.append(Tried(DeliveryStatus.SENT, 250, f"some recipients refused: {some}"[:500], ms))
                else:
                    out.append(Tried(DeliveryStatus.SENT, 250, None, ms))
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [c for c, _ in exc.recipients.values()]
                worst = max(codes) if codes else 550
                text = "; ".join(f"{a}: {_reply(t)}" for a, (_, t) in exc.recipients.items())
                out.append(_smtp_failure(worst, text))
            except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
                # Our own settings (login, From) are refused: not the site's address. Retried until fixed.
                text = f"SMTP {exc.smtp_code} (check CRADLETRACE_SMTP_USER/_PASSWORD/_FROM): {_reply(exc.smtp_error)}"
                out.append(Tried(DeliveryStatus.RETRYING, exc.smtp_code, text[:500]))
                conn = None
            except smtplib.SMTPResponseException as exc:
                out.append(_smtp_failure(exc.smtp_code, _reply(exc.smtp_error)))
            except (OSError, smtplib.SMTPException) as exc:
                out.append(Tried(DeliveryStatus.RETRYING, None, f"SMTP connection: {type(exc).__name__}: {exc}"[:500]))
                conn = None
    finally:
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return out


# ---------------------------------------------------------------- webhooks


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a notice is POSTed to the URL the operator set, never elsewhere


_OPENER = urllib.request.build_opener(_NoRedirect)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA-256 of ``"<timestamp>." + body`` under the partner's secret."""
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def post_webhook(settings: Settings, n: Outgoing) -> Tried:
    if not n.webhook_url or not n.secret:
        return Tried(DeliveryStatus.FAILED, None, f"no webhook in the contact of {n.site}")
    body = json.dumps(n.payload, ensure_ascii=False, separators=(",", ":")).encode()
    extra = {
        "X-Cradletrace-Notice": str(n.notice_id),
        "Idempotency-Key": f"recall-{n.recall_id}-notice-{n.notice_id}",
    }
    return post_signed(settings, n.webhook_url, n.secret, body, extra)


def post_signed(
    settings: Settings,
    url: str,
    secret: str | None,
    body: bytes,
    extra: dict[str, str],
    content_type: str = "application/json",
    signature_header: str = "X-Cradletrace-Signature",
    user_agent: str = USER_AGENT,
) -> Tried:
    """POST ``body`` to ``url`` signed with ``secret`` (``signature``; none without a secret):
    SENT on 2xx, RETRYING on what may pass (5xx, 408, 425, 429, no connection), FAILED on other 4xx.
    Also the EPCIS subscription webhooks' sender (cradletrace.epcis.subscriptions)."""
    started = time.monotonic()
    ts = str(int(time.time()))
    headers = {"Content-Type": content_type, "User-Agent": user_agent, "X-Cradletrace-Timestamp": ts, **extra}
    if secret:
        headers[signature_header] = signature(secret, ts, body)
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(req, timeout=settings.webhook_timeout) as resp:
            resp.read(1024)
            return Tried(DeliveryStatus.SENT, resp.status, None, int((time.monotonic() - started) * 1000))
    except urllib.error.HTTPError as exc:
        ms = int((time.monotonic() - started) * 1000)
        code = exc.code
        passing = code >= 500 or code in (408, 425, 429)
        status = DeliveryStatus.RETRYING if passing else DeliveryStatus.FAILED
        return Tried(status, code, f"HTTP {code} {exc.reason}"[:500], ms)
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, TLS
        ms = int((time.monotonic() - started) * 1000)
        return Tried(DeliveryStatus.RETRYING, None, f"webhook: {type(exc).__name__}: {exc}"[:500], ms)


# ---------------------------------------------------------------- record


def next_try(
    settings: Settings, n: Outgoing, tried: Tried, now: datetime
) -> tuple[DeliveryStatus, datetime | None, str | None]:
    """The notice's state after ``tried``: retrying gives way to failed once the next try would
    fall after ``notify_give_up_hours``."""
    if tried.status != DeliveryStatus.RETRYING:
        return tried.status, None, tried.error
    wait = min(settings.notify_backoff * 2 ** (n.attempts - 1), settings.notify_max_backoff)
    at = now + timedelta(seconds=wait)
    if at > n.created_at + timedelta(hours=settings.notify_give_up_hours):
        why = f"gave up after {n.attempts} tries over {settings.notify_give_up_hours:g} h; last: {tried.error}"
        return DeliveryStatus.FAILED, None, why[:500]
    return DeliveryStatus.RETRYING, at, tried.error


def _scrubbed(n: Outgoing, text: str | None) -> str | None:
    """``text`` without the person's address (an SMTP refusal names the recipient)."""
    if text is None or not n.private:
        return text
    for address in n.emails:
        text = re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)
    return text


def record(
    session: Session,
    settings: Settings,
    done: Sequence[tuple[Outgoing, Tried]],
    now: datetime,
    tables: tuple[Any, Any] = (RecallNotice, RecallNoticeAttempt),
) -> DeliveryRun:
    """Step 3: each notice's state, and its try in the delivery log (``tables``: the outbox and
    its log; the people's outbox has the same columns)."""
    table, log_table = tables
    run = DeliveryRun()
    log = []
    for n, tried in done:
        tried = replace(tried, error=_scrubbed(n, tried.error))
        status, at, error = next_try(settings, n, tried, now)
        session.execute(
            update(table)
            .where(col(table.id) == n.notice_id, col(table.status) == DeliveryStatus.SENDING)
            .values(
                status=status,
                next_attempt_at=at,
                lease_until=None,
                last_error=error,
                sent_at=now if status == DeliveryStatus.SENT else None,
            )
        )
        log.append(dict(notice_id=n.notice_id, at=now, status=status, code=tried.code, error=tried.error, ms=tried.ms))
        run.notices.append((n.notice_id, status))
        if status == DeliveryStatus.SENT:
            run.sent += 1
        elif status == DeliveryStatus.FAILED:
            run.failed += 1
        else:
            run.retrying += 1
    if log:
        session.execute(insert(log_table), log)
    session.commit()
    return run


def deliver_due(
    session_factory: Callable[[], Session],
    sealer: Sealer,
    settings: Settings,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = 1000,
    claimer: Claimer | None = None,
    tables: tuple[Any, Any] = (RecallNotice, RecallNoticeAttempt),
) -> DeliveryRun:
    """One delivery run: claim, send (``notify_parallel`` at once), record. ``claimer`` and
    ``tables``: another outbox of the same shape (consumers.py), the sites' by default."""
    with session_factory() as s:
        batch = (claimer or claim)(s, sealer, settings, now(), limit)
    if not batch:
        return DeliveryRun()
    emails = [n for n in batch if n.channel == NoticeChannel.EMAIL]
    hooks = [n for n in batch if n.channel == NoticeChannel.WEBHOOK]
    width = settings.notify_parallel
    # E-mails go in ``width`` chunks, one SMTP connection each; webhooks one request each.
    chunks = [emails[i::width] for i in range(min(width, len(emails)))]
    done: list[tuple[Outgoing, Tried]] = []
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="cradletrace-notice") as pool:
        mail_futures = [(c, pool.submit(send_emails, settings, c)) for c in chunks]
        hook_futures = [(n, pool.submit(post_webhook, settings, n)) for n in hooks]
        for c, f in mail_futures:
            done.extend(zip(c, f.result(), strict=True))
        done.extend((n, f.result()) for n, f in hook_futures)
    with session_factory() as s:
        return record(s, settings, done, now(), tables)


class NoticeDeliverer:
    """Delivery runs every ``notify_interval`` seconds, or at once when woken (a recall started
    or was widened). Errors of the store are logged by ``say`` and retried by the next run."""

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Session],
        sealer: Callable[[], Sealer],
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sealer = sealer
        self.say = say
        self.wake = threading.Event()

    def run_once(self) -> DeliveryRun:
        from cradletrace.recall import consumers  # the people's outbox (it builds on this module)

        total = DeliveryRun()
        outboxes: list[tuple[Claimer | None, tuple[Any, Any]]] = [
            (None, (RecallNotice, RecallNoticeAttempt)),  # the sites first
            (consumers.claim, consumers.TABLES),
        ]
        while outboxes:  # a large recall takes several claims of 1 000
            claimer, tables = outboxes[0]
            run = deliver_due(self.session_factory, self.sealer(), self.settings, claimer=claimer, tables=tables)
            total.sent, total.retrying, total.failed = (
                total.sent + run.sent,
                total.retrying + run.retrying,
                total.failed + run.failed,
            )
            total.notices.extend(run.notices)
            if run.tried == 0:
                outboxes.pop(0)
        return total

    def loop(self, stop: threading.Event) -> None:
        interval = self.settings.notify_interval
        while not stop.is_set():
            try:
                run = self.run_once()
                if run.tried:
                    self.say(f"recall notices: {run.sent} sent, {run.retrying} retrying, {run.failed} failed")
            except SQLAlchemyError as exc:
                self.say(f"recall notices: store error, will retry: {type(exc).__name__}: {str(exc)[:200]}")
            self.wake.wait(interval)
            self.wake.clear()

"""EPCIS 2.0 named queries and webhook subscriptions (GS1's ``/queries`` REST binding).

A **named query** is a name and SimpleEventQuery parameters (query.py evaluates them), with who
made it: a supplier sees and deletes its own named queries, quality and operator all of them.
Running one (``GET /epcis/queries/{name}/events``) applies the *caller's* visibility.

A **subscription** sends what a named query matches to a partner's webhook (``dest``): each new
matching event as it is recorded (``stream``), or what matched since the last run on a cron-like
``schedule`` (GS1's second, minute, hour, dayOfMonth, month, dayOfWeek fields). It keeps the
subscriber's scope (``viewer``: its supplier id, None for quality and operator) and applies it at
every delivery, so a supplier's subscription never carries what that supplier may not query.

Delivery is an outbox, like the recall notices' (recall/delivery.py, whose sender it reuses):

1. **Enqueue** (one transaction per subscription): the matching events not yet delivered
   (``epcis_subscription_event`` says which went; at most ``BATCH`` a document) become one
   ``epcis_outbox`` row holding the EPCISQueryDocument, fixed there, with a stable ``uid``.
2. **Claim, send, record**: due rows are leased, POSTed outside any transaction, and marked sent,
   retrying (backoff ``epcis_backoff`` doubling up to ``epcis_max_backoff``) or failed (HTTP 410 Gone,
   or ``notify_give_up_hours`` passed); every try is logged in ``epcis_outbox_attempt``.

A process killed anywhere loses nothing: an event is marked delivered only in the transaction that
writes its document to the outbox, and a lapsed lease sends the same document (same ``uid``)
again. Delivery is at least once; the receiver deduplicates by ``X-Cradletrace-Delivery``.

Requests carry ``GS1-Signature: v1=<hex HMAC-SHA-256 of "<X-Cradletrace-Timestamp>." + body>``
under the partner's ``signatureToken`` (recall/delivery.signature, the recall webhooks' scheme).

Latency: recording wakes this process's worker when its transaction commits (wake.py's ``wake_on_commit``,
called by index.add_recorded); events recorded by other processes are found by polling
(``epcis_deliver_interval``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col, select

from cradletrace.config import Settings
from cradletrace.epcis import index, query
from cradletrace.epcis.wake import WAKE
from cradletrace.errors import (
    EpcisNameTakenError,
    EpcisQueryError,
    EpcisSubscriptionError,
    InvalidInputError,
    NotFoundError,
    Problem,
)
from cradletrace.recall.delivery import Tried, due_rows, post_signed
from cradletrace.recall.partners import check_webhook_url
from cradletrace.sealing import Sealer
from cradletrace.store.models import (
    ApiKey,
    EpcisDelivery,
    EpcisDeliveryAttempt,
    EpcisIndex,
    EpcisNamedQuery,
    EpcisSubscription,
    EpcisSubscriptionEvent,
)
from cradletrace.store.states import DeliveryStatus

BATCH = 500  # events in one delivered document at most
# How far before a subscription's newest delivered recordTime the next run looks: an event's
# recordTime is taken when its request starts, and its transaction may commit a little later.
LAG = timedelta(minutes=10)
USER_AGENT = "cradletrace-epcis-subscriptions/1"
SIGNATURE_HEADER = "GS1-Signature"
NAME = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")
SCHEDULE_FIELDS = {  # GS1 field -> (lowest, highest), finest first
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dayOfMonth": (1, 31),
    "dayOfWeek": (1, 7),
    "month": (1, 12),
}
_RANK = {"second": 0, "minute": 1, "hour": 2, "dayOfMonth": 3, "dayOfWeek": 3, "month": 4}


def _bad(where: str, message: str) -> EpcisSubscriptionError:
    return EpcisSubscriptionError(Problem(where, message))


# ---------------------------------------------------------------- who


@dataclass(frozen=True)
class Owner:
    """Who acts: a supplier (its own named queries, its view) or staff (``supplier`` None)."""

    role: str
    supplier: str | None
    key_id: str

    @property
    def viewer(self) -> query.Viewer:
        return query.Viewer(self.supplier)


# ---------------------------------------------------------------- named queries


def parse_params(raw: Any, where: str = "query") -> dict[str, list[str]]:
    """A query definition's ``query`` object as query.py's parameters, checked by it; paging belongs
    to the request, not the definition. Values: a string, a number, true, or a list of strings."""
    if not isinstance(raw, dict):
        raise _bad(where, 'expected an object of SimpleEventQuery parameters, such as {"EQ_bizStep": ["shipping"]}')
    out: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name in query.PAGING:
            raise _bad(f"{where}.{name}", "expected no paging in a query definition; give perPage when running it")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (str, int, float, bool)) and v != "" for v in values):
            raise _bad(f"{where}.{name}", "expected a string or a non-empty list of strings")
        out[name] = ["true" if v is True else str(v) for v in values]
    try:
        query.conditions(out)
    except EpcisQueryError as exc:
        raise EpcisQueryError([Problem(f"{where}.{p.where}", p.message) for p in exc.problems]) from None
    return out


def create_query(session: Session, owner: Owner, body: Any, now: datetime) -> EpcisNamedQuery:
    """Store a named query (``{"name", "query"}``, GS1's QueryDefinition); the caller commits."""
    if not isinstance(body, dict):
        raise _bad("", 'expected a JSON object {"name": ..., "query": {...}}')
    name = body.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise _bad("name", f"expected 1 to 200 letters, digits or . _ ~ -, got {name!r}")
    if "query" not in body:
        raise _bad("query", "expected an object of SimpleEventQuery parameters, got nothing")
    extra = sorted(set(body) - {"name", "query"})
    if extra:
        raise _bad(extra[0], "expected only name and query")
    params = parse_params(body["query"])
    if session.exec(select(EpcisNamedQuery.id).where(EpcisNamedQuery.name == name)).first() is not None:
        raise EpcisNameTakenError(Problem("name", f"expected a new name; {name!r} is taken"))
    row = EpcisNamedQuery(
        name=name,
        params=json.dumps(params, separators=(",", ":")),
        owner_role=owner.role,
        owner_supplier=owner.supplier,
        created_by=owner.key_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def params_of(q: EpcisNamedQuery) -> dict[str, list[str]]:
    out: dict[str, list[str]] = json.loads(q.params)
    return out


def query_json(q: EpcisNamedQuery) -> dict[str, Any]:
    """GS1's QueryDefinition (name, query) and when it was made."""
    return {"name": q.name, "query": params_of(q), "createdAt": q.created_at.isoformat()}


def _mine(owner: Owner) -> Any:
    return True if owner.supplier is None else col(EpcisNamedQuery.owner_supplier) == owner.supplier


def list_queries(session: Session, owner: Owner) -> list[EpcisNamedQuery]:
    """The named queries ``owner`` sees (a supplier its own; staff all), by name."""
    return list(session.exec(select(EpcisNamedQuery).where(_mine(owner)).order_by(col(EpcisNamedQuery.name))))


def get_query(session: Session, owner: Owner, name: str) -> EpcisNamedQuery:
    row = session.exec(select(EpcisNamedQuery).where(EpcisNamedQuery.name == name, _mine(owner))).first()
    if row is None:
        raise NotFoundError(f"named query {name!r}: none you may see has that name")
    return row


def delete_query(session: Session, owner: Owner, name: str) -> None:
    """Remove a named query and, with it, its subscriptions and their undelivered documents."""
    row = get_query(session, owner, name)
    subs = select(EpcisSubscription.id).where(EpcisSubscription.query_id == row.id)
    _forget(session, subs)
    session.execute(delete(EpcisSubscription).where(col(EpcisSubscription.query_id) == row.id))
    session.execute(delete(EpcisNamedQuery).where(col(EpcisNamedQuery.id) == row.id))


def _forget(session: Session, subs: Any) -> None:
    """Delete what hangs on subscriptions (explicitly: SQLite enforces cascades only when asked)."""
    deliveries = select(EpcisDelivery.id).where(col(EpcisDelivery.subscription_id).in_(subs))
    session.execute(delete(EpcisSubscriptionEvent).where(col(EpcisSubscriptionEvent.subscription_id).in_(subs)))
    session.execute(delete(EpcisDeliveryAttempt).where(col(EpcisDeliveryAttempt.delivery_id).in_(deliveries)))
    session.execute(delete(EpcisDelivery).where(col(EpcisDelivery.subscription_id).in_(subs)))


# ---------------------------------------------------------------- schedules


def parse_schedule(raw: Any, where: str = "schedule") -> dict[str, list[int]]:
    """GS1's QuerySchedule: each field a comma list of numbers, ranges ``[a-b]`` (or ``a-b``) and
    steps ``*/n`` or ``a/n``. Fields finer than the finest one given are their lowest value
    ({"hour": "1", "minute": "5"} is 01:05:00 daily); coarser ones are any value. Times are UTC."""
    if not isinstance(raw, dict) or not raw:
        raise _bad(
            where, "expected an object with one field or more of second, minute, hour, dayOfMonth, month, dayOfWeek"
        )
    unknown = sorted(set(raw) - set(SCHEDULE_FIELDS))
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", "expected second, minute, hour, dayOfMonth, month or dayOfWeek")
    finest = min(_RANK[k] for k in raw)
    out: dict[str, list[int]] = {}
    for name, (lo, hi) in SCHEDULE_FIELDS.items():
        if name in raw:
            out[name] = _values(raw[name], lo, hi, f"{where}.{name}")
        elif _RANK[name] < finest:
            out[name] = [lo]
        else:
            out[name] = list(range(lo, hi + 1))
    if next_tick(out, datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise _bad(where, "expected a schedule that comes round; this one never does (such as 31 February)")
    return out


def _values(raw: Any, lo: int, hi: int, where: str) -> list[int]:
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
    if not text:
        raise _bad(where, f'expected a string such as "5", "1,15", "[1-5]" or "*/10" ({lo} to {hi})')
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"\[?(\*|\d+)(?:-(\d+))?\]?(?:/(\d+))?", part)
        if m is None:
            raise _bad(where, f"expected numbers, ranges [a-b] or steps */n from {lo} to {hi}, got {part!r}")
        start = lo if m[1] == "*" else int(m[1])
        end = int(m[2]) if m[2] else (hi if m[1] == "*" or m[3] else start)
        step = int(m[3]) if m[3] else 1
        if not lo <= start <= end <= hi or step < 1:
            raise _bad(where, f"expected values from {lo} to {hi}, got {part!r}")
        out.update(range(start, end + 1, step))
    return sorted(out)


def next_tick(schedule: Mapping[str, Sequence[int]], after: datetime) -> datetime | None:
    """The first whole second after ``after`` the schedule names, within ten years, else None."""
    t = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    until = t + timedelta(days=3660)
    while t < until:
        if t.month not in schedule["month"]:
            t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
        elif t.day not in schedule["dayOfMonth"] or t.isoweekday() not in schedule["dayOfWeek"]:
            t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
        elif t.hour not in schedule["hour"]:
            t = t.replace(minute=0, second=0) + timedelta(hours=1)
        elif t.minute not in schedule["minute"]:
            t = t.replace(second=0) + timedelta(minutes=1)
        elif t.second not in schedule["second"]:
            t += timedelta(seconds=1)
        else:
            return t
    return None


# ---------------------------------------------------------------- subscriptions


def _aad(uid: str) -> bytes:
    return f"epcis_subscription:{uid}:secret".encode()


def _time(raw: Any, where: str) -> datetime:
    t = None
    if isinstance(raw, str):
        try:
            t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            t = None
    if t is None or t.tzinfo is None:
        raise _bad(where, f"expected an RFC 3339 date-time with a time zone (2024-05-01T10:00:00Z), got {raw!r}")
    return t


def create_subscription(
    session: Session, sealer: Sealer, owner: Owner, q: EpcisNamedQuery, body: Any, now: datetime
) -> EpcisSubscription:
    """Subscribe ``dest`` to ``q`` (GS1's QueryScheduleSubscription or QueryStreamSubscription); the
    caller commits. The subscriber's scope is kept with it (see the module's docstring)."""
    if not isinstance(body, dict):
        raise _bad(
            "", 'expected a JSON object such as {"dest": "https://...", "signatureToken": "...", "stream": true}'
        )
    known = {"dest", "signatureToken", "secret", "stream", "schedule", "reportIfEmpty", "initialRecordTime"}
    extra = sorted(set(body) - known)
    if extra:
        raise _bad(extra[0], f"expected only {', '.join(sorted(known))}")
    dest = body.get("dest")
    if not isinstance(dest, str):
        raise _bad("dest", "expected the webhook's URL, such as https://erp.example.com/epcis, got nothing")
    try:
        check_webhook_url(dest, "dest")
    except InvalidInputError as exc:  # the recall contacts' rule for webhook URLs, as GS1's exception
        raise EpcisSubscriptionError(exc.problems) from None
    token_field = "signatureToken" if "signatureToken" in body or "secret" not in body else "secret"
    token = body.get(token_field)
    if not isinstance(token, str) or not 16 <= len(token) <= 200:
        got = f"{len(token)} characters" if isinstance(token, str) else "nothing"
        raise _bad(
            token_field, f"expected the secret the webhook's signatures are made with, 16 to 200 characters, got {got}"
        )
    stream, schedule = body.get("stream"), body.get("schedule")
    if stream is not None and stream is not True:
        raise _bad("stream", "expected true (or leave it out and give a schedule)")
    if (stream is True) == (schedule is not None):
        raise _bad(
            "stream",
            "expected either stream: true (each new event as it is recorded) or a schedule, not both or neither",
        )
    sched = parse_schedule(schedule) if schedule is not None else None
    report = body.get("reportIfEmpty", False)
    if not isinstance(report, bool):
        raise _bad("reportIfEmpty", f"expected true or false, got {report!r}")
    if report and stream:
        raise _bad("reportIfEmpty", "expected it only with a schedule: a stream reports events, never their absence")
    initial = _time(body["initialRecordTime"], "initialRecordTime") if "initialRecordTime" in body else now
    uid = str(uuid.uuid4())
    assert q.id is not None
    row = EpcisSubscription(
        uid=uid,
        query_id=q.id,
        dest=dest,
        secret=sealer.seal(token.encode(), _aad(uid)),
        viewer=owner.supplier,
        stream=stream is True,
        schedule=json.dumps(schedule, separators=(",", ":")) if sched is not None else None,
        report_if_empty=report,
        initial_record_time=initial,
        created_by=owner.key_id,
        created_at=now,
        next_run_at=next_tick(sched, now) if sched is not None else None,
    )
    session.add(row)
    session.flush()
    return row


def subscription_json(sub: EpcisSubscription, query_name: str) -> dict[str, Any]:
    """GS1's subscription answer; never the secret."""
    out: dict[str, Any] = {
        "subscriptionID": sub.uid,
        "queryName": query_name,
        "dest": sub.dest,
        "createdAt": sub.created_at.isoformat(),
        "initialRecordTime": sub.initial_record_time.isoformat(),
    }
    if sub.stream:
        out["stream"] = True
    else:
        out["schedule"] = json.loads(sub.schedule or "{}")
        out["reportIfEmpty"] = sub.report_if_empty
        if sub.next_run_at is not None:
            out["nextRunAt"] = sub.next_run_at.isoformat()
    if sub.last_notified_at is not None:
        out["lastNotifiedAt"] = sub.last_notified_at.isoformat()
    return out


def list_subscriptions(session: Session, q: EpcisNamedQuery) -> list[EpcisSubscription]:
    return list(
        session.exec(
            select(EpcisSubscription).where(EpcisSubscription.query_id == q.id).order_by(col(EpcisSubscription.id))
        )
    )


def get_subscription(session: Session, q: EpcisNamedQuery, uid: str) -> EpcisSubscription:
    row = session.exec(
        select(EpcisSubscription).where(EpcisSubscription.query_id == q.id, EpcisSubscription.uid == uid)
    ).first()
    if row is None:
        raise NotFoundError(f"subscription {uid!r}: query {q.name!r} has none of that id")
    return row


def delete_subscription(session: Session, q: EpcisNamedQuery, uid: str) -> None:
    """Unsubscribe: the subscription and its documents not delivered yet go."""
    row = get_subscription(session, q, uid)
    _forget(session, [row.id])
    session.execute(delete(EpcisSubscription).where(col(EpcisSubscription.id) == row.id))


# ---------------------------------------------------------------- step 1: enqueue


def _matching(session: Session, sub: EpcisSubscription, params: Mapping[str, Sequence[str]]) -> list[EpcisIndex]:
    """Up to BATCH events the subscription matches, may see, and has not delivered, oldest first."""
    since = sub.initial_record_time
    if sub.watermark is not None:
        since = max(since, sub.watermark - LAG)
    sent = select(EpcisSubscriptionEvent.event_id).where(EpcisSubscriptionEvent.subscription_id == sub.id)
    where = [
        *query.conditions(params),
        query.visible(query.Viewer(sub.viewer)),
        col(EpcisIndex.record_time) >= since,
        col(EpcisIndex.event_id).not_in(sent),
    ]
    if "EQ_eventID" in params:
        index.complete(session)
    return list(
        session.exec(
            select(EpcisIndex)
            .where(and_(*where))
            .order_by(col(EpcisIndex.record_time), col(EpcisIndex.event_id))
            .limit(BATCH)
        )
    )


def document(rows: Sequence[EpcisIndex], bodies: Mapping[int, str], name: str, uid: str, now: datetime) -> str:
    """The EPCISQueryDocument a subscription delivers (GS1: queryName and subscriptionID set)."""
    events, context = query.events_of(rows, bodies)
    doc = query.document(query.Page(events, context, None), now)
    doc["epcisBody"]["queryResults"] |= {"queryName": name, "subscriptionID": uid}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _enqueue_one(session: Session, sub: EpcisSubscription, q: EpcisNamedQuery, now: datetime) -> int:
    """Step 1 for one subscription; returns the documents written (the caller commits)."""
    params = params_of(q)
    made = 0
    while True:
        rows = _matching(session, sub, params)
        if not rows and not (made == 0 and not sub.stream and sub.report_if_empty):
            return made
        pending = [r.event_id for r in rows if r.hash == index.PENDING]
        bodies = index.complete(session, pending) if pending else {}
        assert sub.id is not None
        delivery = EpcisDelivery(
            uid=str(uuid.uuid4()),
            subscription_id=sub.id,
            events=len(rows),
            body=document(rows, bodies, q.name, sub.uid, now),
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        if rows:
            session.execute(
                insert(EpcisSubscriptionEvent),
                [dict(subscription_id=sub.id, event_id=r.event_id, delivery_id=delivery_id) for r in rows],
            )
            newest = rows[-1].record_time
            if sub.watermark is None or newest > sub.watermark:
                sub.watermark = newest
                session.execute(
                    update(EpcisSubscription).where(col(EpcisSubscription.id) == sub.id).values(watermark=newest)
                )
        made += 1
        if len(rows) < BATCH:
            return made


def enqueue(session_factory: Callable[[], Session], now: datetime) -> int:
    """Step 1 for every stream subscription and every scheduled one whose tick came; one
    transaction each (two workers at once: the second's insert collides and is rolled back)."""
    with session_factory() as s:
        due = list(
            s.exec(
                select(EpcisSubscription, EpcisNamedQuery)
                .join(EpcisNamedQuery, col(EpcisNamedQuery.id) == col(EpcisSubscription.query_id))
                .where(
                    col(EpcisSubscription.stream)
                    | (col(EpcisSubscription.next_run_at).is_not(None) & (col(EpcisSubscription.next_run_at) <= now)),
                    # A subscription lasts as long as the key that made it: revoking it stops the flow.
                    col(EpcisSubscription.created_by).in_(select(ApiKey.id).where(col(ApiKey.revoked_at).is_(None))),
                )
                .order_by(col(EpcisSubscription.id))
            )
        )
        s.expunge_all()  # plain values from here on (a rollback would expire them)
    made = 0
    for sub, q in due:
        with session_factory() as s:
            try:
                if not sub.stream:  # claim this tick: a worker that lost the race changes nothing
                    sched = json.loads(sub.schedule or "{}")
                    after = next_tick(parse_schedule(sched), now)
                    taken = s.execute(
                        update(EpcisSubscription)
                        .where(
                            col(EpcisSubscription.id) == sub.id, col(EpcisSubscription.next_run_at) == sub.next_run_at
                        )
                        .values(next_run_at=after)
                    )
                    if taken.rowcount != 1:  # type: ignore[attr-defined]
                        s.rollback()
                        continue
                made += _enqueue_one(s, sub, q, now)
                s.commit()
            except (IntegrityError, OperationalError):  # another worker wrote first (SQLite: its snapshot), or it went
                s.rollback()
    return made


# ---------------------------------------------------------------- steps 2 and 3: claim, send, record


@dataclass(frozen=True)
class Outgoing:
    """One claimed document, with everything needed to send it."""

    delivery_id: int
    uid: str
    subscription_id: int
    dest: str
    secret: str
    body: bytes
    attempts: int
    created_at: datetime


@dataclass
class DeliveryRun:
    enqueued: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    deliveries: list[tuple[str, DeliveryStatus]] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.sent + self.retrying + self.failed


def lease_time(settings: Settings) -> timedelta:
    """How long a claim holds: a worker killed mid-send leaves its documents to others after it."""
    return timedelta(seconds=3 * settings.webhook_timeout + 1)


def claim(session: Session, sealer: Sealer, settings: Settings, now: datetime, limit: int = 200) -> list[Outgoing]:
    """Lease due documents to this worker (recall/delivery.due_rows's rules); commits."""
    rows: list[EpcisDelivery] = due_rows(session, EpcisDelivery, now, limit)
    if not rows:
        return []
    subs = {
        s.id: s
        for s in session.exec(
            select(EpcisSubscription).where(col(EpcisSubscription.id).in_({r.subscription_id for r in rows}))
        )
    }
    lease = now + lease_time(settings)
    out = []
    for row in rows:
        sub = subs[row.subscription_id]
        assert row.id is not None
        session.execute(
            update(EpcisDelivery)
            .where(col(EpcisDelivery.id) == row.id)
            .values(status=DeliveryStatus.SENDING, lease_until=lease, attempts=row.attempts + 1)
        )
        secret = sealer.open(sub.secret, _aad(sub.uid)).decode()
        out.append(
            Outgoing(
                row.id,
                row.uid,
                row.subscription_id,
                sub.dest,
                secret,
                row.body.encode(),
                row.attempts + 1,
                row.created_at,
            )
        )
    session.commit()
    return out


def send(settings: Settings, d: Outgoing) -> Tried:
    extra = {
        "X-Cradletrace-Delivery": d.uid,
        "Idempotency-Key": d.uid,
        "GS1-EPCIS-Version": query.EPCIS_VERSION,
        "GS1-CBV-Version": query.CBV_VERSION,
    }
    return post_signed(settings, d.dest, d.secret, d.body, extra, "application/ld+json", SIGNATURE_HEADER, USER_AGENT)


def next_try(
    settings: Settings, d: Outgoing, tried: Tried, now: datetime
) -> tuple[DeliveryStatus, datetime | None, str | None]:
    """A document's state after ``tried`` (see the module's step 2)."""
    # A partner's 4xx is retried too (a receiver being set up, a token being rotated): the events of a
    # document given up on are not sent again. Only 410 Gone ends it at once.
    if tried.status == DeliveryStatus.SENT or tried.code == 410:
        return tried.status, None, tried.error
    at = now + timedelta(seconds=min(settings.epcis_backoff * 2 ** (d.attempts - 1), settings.epcis_max_backoff))
    if at > d.created_at + timedelta(hours=settings.notify_give_up_hours):
        why = f"gave up after {d.attempts} tries over {settings.notify_give_up_hours:g} h; last: {tried.error}"
        return DeliveryStatus.FAILED, None, why[:500]
    return DeliveryStatus.RETRYING, at, tried.error


def record(session: Session, settings: Settings, done: Sequence[tuple[Outgoing, Tried]], now: datetime) -> DeliveryRun:
    """Step 3: each document's state and its try in the delivery log; commits."""
    run = DeliveryRun()
    log = []
    for d, tried in done:
        status, at, error = next_try(settings, d, tried, now)
        session.execute(
            update(EpcisDelivery)
            .where(col(EpcisDelivery.id) == d.delivery_id, col(EpcisDelivery.status) == DeliveryStatus.SENDING)
            .values(
                status=status,
                next_attempt_at=at,
                lease_until=None,
                last_error=error,
                sent_at=now if status == DeliveryStatus.SENT else None,
            )
        )
        if status == DeliveryStatus.SENT:
            session.execute(
                update(EpcisSubscription)
                .where(col(EpcisSubscription.id) == d.subscription_id)
                .values(last_notified_at=now)
            )
        log.append(
            dict(delivery_id=d.delivery_id, at=now, status=status, code=tried.code, error=tried.error, ms=tried.ms)
        )
        run.deliveries.append((d.uid, status))
        run.sent += status == DeliveryStatus.SENT
        run.failed += status == DeliveryStatus.FAILED
        run.retrying += status == DeliveryStatus.RETRYING
    if log:
        session.execute(insert(EpcisDeliveryAttempt), log)
    session.commit()
    return run


def deliver_due(
    session_factory: Callable[[], Session],
    sealer: Sealer,
    settings: Settings,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryRun:
    """One run: enqueue, then claim, send (``notify_parallel`` at once) and record until none is due."""
    enqueued = enqueue(session_factory, now())
    total = DeliveryRun(enqueued=enqueued)
    while True:
        with session_factory() as s:
            batch = claim(s, sealer, settings, now())
        if not batch:
            return total
        with ThreadPoolExecutor(max_workers=settings.notify_parallel, thread_name_prefix="cradletrace-epcis") as pool:
            done = list(zip(batch, pool.map(lambda d: send(settings, d), batch), strict=True))
        with session_factory() as s:
            run = record(s, settings, done, now())
        total.sent, total.retrying, total.failed = (
            total.sent + run.sent,
            total.retrying + run.retrying,
            total.failed + run.failed,
        )
        total.deliveries.extend(run.deliveries)


class SubscriptionDeliverer:
    """Delivery runs when this process commits events (``WAKE``), else every ``interval`` seconds.
    Errors of the store are logged by ``say`` and retried by the next run."""

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Session],
        sealer: Callable[[], Sealer],
        say: Callable[[str], None] = lambda _: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sealer = sealer
        self.say = say
        self.now = now

    def run_once(self) -> DeliveryRun:
        return deliver_due(self.session_factory, self.sealer(), self.settings, self.now)

    def loop(self, stop: threading.Event, interval: float | None = None) -> None:
        wait = self.settings.epcis_deliver_interval if interval is None else interval
        while not stop.is_set():
            WAKE.clear()
            try:
                run = self.run_once()
                if run.tried:
                    self.say(f"epcis subscriptions: {run.sent} sent, {run.retrying} retrying, {run.failed} failed")
            except SQLAlchemyError as exc:
                self.say(f"epcis subscriptions: store error, will retry: {type(exc).__name__}: {str(exc)[:200]}")
            WAKE.wait(wait)

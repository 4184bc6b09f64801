"""Sessions of the supplier portal (``/supplier``): signed in once with a supplier API key, then
held by an opaque random id in a cookie.

Only SHA-256 of the session id is stored (like API keys: 256 random bits need no slow hash), so
the table cannot be replayed as cookies. A session ends when it sits idle past
``portal_idle_minutes``, at the latest ``portal_lifetime_hours`` after signing in, on sign out, and
as soon as the API key it was opened with is revoked (checked on every request, no cache). The
CSRF token of a session is derived from its id, so it is never stored and a copy of the store
does not yield it either. This module owns the ``portal_session`` table.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, or_

from cradletrace.apikeys import Caller
from cradletrace.errors import NotAllowedError, SessionEndedError
from cradletrace.store.models import ApiKey, PortalSession

_CSRF_LABEL = b"cradletrace-portal-csrf:"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: a hash of its id under a label, so it reveals nothing of the id."""
    return hashlib.sha256(_CSRF_LABEL + session_id.encode("utf-8")).hexdigest()


def check_csrf(session_id: str, presented: str | None) -> None:
    """Refuse a state-changing request whose form field or header lacks the session's token."""
    if not presented or not hmac.compare_digest(csrf_token(session_id), presented):
        raise NotAllowedError(
            "not allowed: csrf: expected this session's form token (field 'csrf' or header X-CSRF-Token); "
            "reload the page and try again"
        )


def sign_in(session: Session, caller: Caller, now: datetime, idle: timedelta, lifetime: timedelta) -> str:
    """Open a session for the holder of a supplier API key (``apikeys.authenticate``'s answer; the
    route throttles wrong keys); returns the new session id, for the cookie only. Sessions already
    over their time are swept here, so the table does not grow without bound."""
    if caller.role != "supplier" or caller.supplier_id is None:
        raise NotAllowedError(
            f"not allowed: the supplier portal takes a key with role supplier; this key has role {caller.role}"
        )
    session.exec(
        delete(PortalSession).where(
            or_(col(PortalSession.last_seen_at) < now - idle, col(PortalSession.created_at) < now - lifetime)
        )
    )
    session_id = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            id_hash=_hash(session_id),
            api_key_id=caller.key_id,
            supplier_id=caller.supplier_id,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return session_id


def current(session: Session, session_id: str | None, now: datetime, idle: timedelta, lifetime: timedelta) -> Caller:
    """Who the session acts as, its idle clock restarted; SessionEndedError when there is none live
    (an ended one is deleted on the way)."""
    row = session.get(PortalSession, _hash(session_id), populate_existing=True) if session_id else None
    if row is None:
        raise SessionEndedError("no portal session")
    key = session.get(ApiKey, row.api_key_id, populate_existing=True)
    if (
        key is None
        or key.revoked_at is not None
        or key.role != "supplier"
        or key.supplier_id != row.supplier_id
        or now - row.last_seen_at > idle
        or now - row.created_at > lifetime
    ):
        session.delete(row)
        session.flush()
        raise SessionEndedError("portal session ended")
    row.last_seen_at = now
    session.add(row)
    session.flush()
    return Caller(key.id, key.name, key.role, key.supplier_id)


def sign_out(session: Session, session_id: str | None) -> None:
    """End the session now; signing out of one already ended changes nothing."""
    if session_id:
        session.exec(delete(PortalSession).where(col(PortalSession.id_hash) == _hash(session_id)))
        session.flush()

"""Partner contacts: how a consignee site (a registered supplier) is told of a recall.

Each supplier may have e-mail addresses and one webhook (an https URL, http only for a host on
this machine, and its signing secret). Addresses and the secret are personal or secret, so they
are sealed at rest with the key that seals scan locations (``sealing.py``), bound to the
supplier's id; the URL is kept plain. The operator sets them (``cradletrace partner set``,
``PUT /api/v1/suppliers/{id}/contact``); a secret that is not given is made here and shown once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from cradletrace.config import LOCAL_HOSTS
from cradletrace.core.text import text_problem
from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.sealing import Sealer
from cradletrace.store.models import PartnerContact, Supplier

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
MAX_EMAILS = 10


@dataclass(frozen=True)
class Contact:
    """A partner's contact, opened."""

    supplier_id: str
    emails: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        """What the API shows: never the secret, only whether there is one."""
        return {
            "supplier_id": self.supplier_id,
            "emails": list(self.emails),
            "webhook_url": self.webhook_url,
            "webhook_signed": self.webhook_secret is not None,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


def _aad(supplier_id: str, what: str) -> bytes:
    return f"partner_contact:{supplier_id}:{what}".encode()


def check_webhook_url(url: str, field: str = "webhook_url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(
            Problem(field, f"expected an https URL such as https://erp.example.com/recalls, got {url!r}")
        )
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise InvalidInputError(Problem(field, "expected https; http is allowed only for 127.0.0.1 or localhost"))
    if parts.username or parts.password or parts.fragment or len(url) > 500:
        raise InvalidInputError(
            Problem(field, "expected a URL without credentials or fragment, at most 500 characters")
        )
    return url


def set_contact(
    session: Session,
    sealer: Sealer,
    supplier_id: str,
    *,
    emails: list[str],
    webhook_url: str | None,
    webhook_secret: str | None,
    by: str,
    now: datetime,
) -> tuple[Contact, str | None]:
    """Replace a supplier's contact. Returns it and the webhook secret when one was made here
    (shown once: the partner needs it to check signatures)."""
    if session.get(Supplier, supplier_id) is None:
        raise NotFoundError(f"supplier: expected a registered supplier, got {supplier_id!r} which does not exist")
    problems: list[Problem] = []
    clean = list(dict.fromkeys(e.strip() for e in emails if e.strip()))
    if len(clean) > MAX_EMAILS:
        problems.append(Problem("emails", f"expected at most {MAX_EMAILS} addresses, got {len(clean)}"))
    problems.extend(
        Problem(f"emails[{i}]", f"expected an e-mail address such as quality@site.example, got {e!r}")
        for i, e in enumerate(clean)
        if not EMAIL.match(e) or len(e) > 254
    )
    if webhook_url:
        try:
            check_webhook_url(webhook_url)
        except InvalidInputError as exc:
            problems.extend(exc.problems)
    made: str | None = None
    if webhook_url and not webhook_secret:
        webhook_secret = made = secrets.token_hex(32)
    if webhook_secret is not None and not 16 <= len(webhook_secret) <= 200:
        problems.append(Problem("webhook_secret", f"expected 16 to 200 characters, got {len(webhook_secret)}"))
    if not clean and not webhook_url:
        problems.append(Problem("emails", "expected at least one e-mail address or a webhook_url"))
    if bad := text_problem(by):
        problems.append(Problem("by", bad))
    if problems:
        raise InvalidInputError(problems)
    row = session.get(PartnerContact, supplier_id) or PartnerContact(
        supplier_id=supplier_id, updated_at=now, updated_by=by
    )
    row.emails = sealer.seal("\n".join(clean).encode(), _aad(supplier_id, "emails")) if clean else None
    row.webhook_url = webhook_url or None
    row.webhook_secret = (
        sealer.seal(webhook_secret.encode(), _aad(supplier_id, "secret")) if webhook_url and webhook_secret else None
    )
    row.updated_at, row.updated_by = now, by.strip()[:100]
    session.add(row)
    session.flush()
    return opened(sealer, row), made


def opened(sealer: Sealer, row: PartnerContact) -> Contact:
    sid = row.supplier_id
    emails = sealer.open(row.emails, _aad(sid, "emails")).decode().split("\n") if row.emails else []
    secret = sealer.open(row.webhook_secret, _aad(sid, "secret")).decode() if row.webhook_secret else None
    return Contact(sid, tuple(emails), row.webhook_url, secret, row.updated_at, row.updated_by)


def get_contact(session: Session, sealer: Sealer, supplier_id: str) -> Contact:
    row = session.get(PartnerContact, supplier_id)
    if row is None:
        raise NotFoundError(f"contact: expected a contact set for supplier {supplier_id!r}, got none")
    return opened(sealer, row)


def remove_contact(session: Session, supplier_id: str) -> None:
    row = session.get(PartnerContact, supplier_id)
    if row is None:
        raise NotFoundError(f"contact: expected a contact set for supplier {supplier_id!r}, got none")
    session.delete(row)
    session.flush()


def channels(session: Session, supplier_ids: list[str]) -> dict[str, tuple[bool, bool]]:
    """supplier id -> (has e-mail, has webhook), for those with a contact."""
    if not supplier_ids:
        return {}
    rows = session.exec(
        select(PartnerContact.supplier_id, PartnerContact.emails, PartnerContact.webhook_url).where(
            col(PartnerContact.supplier_id).in_(supplier_ids)
        )
    ).all()
    return {sid: (emails is not None, url is not None) for sid, emails, url in rows}

"""Finding one stored event by the reference a person types: the one rule for every command and route.

``verify``, ``proof``, ``GET /events/{ref}``, ``trace forward --event`` and a recall's trigger or
trace event all name an event the same way, so they all resolve it here. It lives apart from
verification (finding is not verifying, and genealogy must not load signature checks to find a
start) and from recording (the write path).

A reference is, after surrounding spaces and one leading ``0x`` are dropped (hex in any case):

- digits only, at most 18 of them (an id fits a signed 64-bit column): the event with that id;
  when there is none and there are 8 or more digits, the digest prefix below (a digest's first
  characters may all be digits);
- 8 to 64 hex digits (or digits only written after ``0x``): the one event whose digest starts
  with them; a prefix several events share is refused naming them;
- anything else is refused.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from cradletrace.errors import InvalidInputError, NotFoundError, Problem
from cradletrace.store.models import EventRow

MIN_PREFIX = 8  # hex digits of a digest prefix: 4 bytes, one event in ~4 billion by chance
_ID = re.compile(r"\d{1,18}")
MAX_ID = 2**31 - 1
_HEX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},64}}")
_SHOWN = 3  # candidates named when a prefix is ambiguous


def lookup_event(session: Session, ref: str | int, field_name: str = "event") -> EventRow | None:
    """The event ``ref`` names, or None when the store has none.

    Raises InvalidInputError (naming ``field_name``) when ``ref`` is no event reference at all, or
    a digest prefix that names more than one event (the first few are named).
    """
    text = str(ref).strip()
    hexed = text[:2] in ("0x", "0X")
    digits = text[2:].lower() if hexed else text.lower()
    # An id is what the store's id column can hold (PostgreSQL INTEGER); more digits can only be a
    # digest prefix (asking PostgreSQL for a larger id fails instead of finding nothing).
    numeric = not hexed and _ID.fullmatch(digits) is not None
    is_id = numeric and int(digits) <= MAX_ID
    is_digest = _HEX.fullmatch(digits) is not None and (hexed or not digits.isdigit() or numeric or len(digits) == 64)
    if not (is_id or is_digest):
        raise InvalidInputError(
            Problem(
                field_name,
                f"expected an event id or a 64-hex digest (or its first {MIN_PREFIX}+ hex digits, 0x optional), "
                f"got {text!r}",
            )
        )
    row = session.get(EventRow, int(digits)) if is_id else None
    if row is None and is_digest:  # an all-digit prefix is tried after the id of the same digits
        rows = session.exec(
            select(EventRow).where(col(EventRow.digest).startswith(digits)).order_by(col(EventRow.id)).limit(_SHOWN + 1)
        ).all()
        if len(rows) > 1:
            named = ", ".join(f"event {r.id} (0x{r.digest[:16]}…)" for r in rows[:_SHOWN])
            raise InvalidInputError(
                Problem(
                    field_name,
                    f"expected a digest prefix that names one event, got {text!r} which matches several: "
                    f"{named}{', …' if len(rows) > _SHOWN else ''}",
                )
            )
        row = rows[0] if rows else None
    return row


def find_event(session: Session, ref: str | int) -> EventRow:
    """The event ``ref`` names (see ``lookup_event``); NotFoundError when the store has none."""
    row = lookup_event(session, ref)
    if row is None:
        raise NotFoundError(f"event {str(ref).strip().lower().removeprefix('0x')!r}: not in the store")
    return row

"""The wake-up of the EPCIS subscriptions' delivery worker (subscriptions.py): set when this
process commits new events, so a streaming subscription hears of them at once. Its own module
so the index writer (index.py) can call it without importing the delivery machinery."""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlmodel import Session

WAKE = threading.Event()


def _fire(session: Session) -> None:
    session.info.pop("epcis_wake", None)
    WAKE.set()


def wake_on_commit(session: Session) -> None:
    """Wake this process's delivery worker once ``session``'s transaction commits (events in it)."""
    if not session.info.get("epcis_wake"):
        session.info["epcis_wake"] = True
        event.listen(session, "after_commit", _fire, once=True)

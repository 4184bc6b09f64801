"""One process's anchoring worker: it leads (holds the leader lock) or waits its turn.

``cradletrace anchor``, ``cradletrace anchor --watch`` and the anchoring thread of
``cradletrace serve`` all run through ``AnchorWorker``, so any number of them can share one
store: only the leader sends transactions (anchors, then recall notices); the others wait on the
lock (a second at a time), so one of them takes over the moment the leader's session ends. A
leader checks it still holds the lock right before every transaction (``fence``), so one whose
database session was ended stops instead of sending beside its successor.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from cradletrace.anchoring import run as anchoring
from cradletrace.anchoring.leader import leader_lock
from cradletrace.chain.base import Anchor
from cradletrace.config import Settings
from cradletrace.errors import AnchoringBusyError, ChainError, TraceError
from cradletrace.recall import notices as recall_notices
from cradletrace.store.lock import LeaderLock
from cradletrace.store.models import AnchorBatch, Meta
from cradletrace.store.states import BatchStatus

#: A follower waits on the leader lock this long at a time (at most an interval): it leads the
#: moment the leader's session ends, and a stop request is noticed within this time.
LOCK_WAIT = 1.0


@dataclass(frozen=True)
class Run:
    """What one run did: roots that became final, recall notices sent, roots still waiting."""

    anchored: list[anchoring.AnchorResult] = field(default_factory=list)
    notices: list[recall_notices.NoticeResult] = field(default_factory=list)
    waiting: int = 0  # batches sent but not yet mined or not yet ``anchor_confirmations`` deep


#: What a loop reports after each run: the run, or the error that ended it (it is retried).
Outcome = Run | ChainError | AnchoringBusyError | SQLAlchemyError


class AnchorWorker:
    """Anchoring for one process; ``chain`` is called (and may open the chain) only when leading."""

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Session],
        chain: Callable[[], Anchor],
        lock: LeaderLock | None = None,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.chain = chain
        self.lock = lock if lock is not None else leader_lock(settings.store_url)
        self.say = say
        self._looping = False
        self._announced_follower = False
        self._leading = False

    def run_once(self) -> Run:
        """Anchor now if this process leads or can lead; AnchoringBusyError if another one leads."""
        had = self.lock.held
        if not self.lock.acquire():
            raise AnchoringBusyError(
                f"another anchoring worker holds the leader lock ({self.lock.holder()}); "
                "it anchors pending events every interval"
            )
        try:
            return self._run()
        finally:
            if not had and not self._looping:
                self.lock.release()

    def _fence(self) -> None:
        if not self.lock.check():
            raise AnchoringBusyError(
                "this worker lost the leader lock (its database session ended); "
                "it sends nothing more until it leads again"
            )

    def _run(self) -> Run:
        self._log_unlogged_keys()
        self._prepare_ahead()
        chain = self.chain()
        st = self.settings
        anchored = anchoring.anchor_pending(
            self.session_factory,
            chain,
            first_leaves=anchoring.FIRST_LEAVES,
            confirmations=st.anchor_confirmations,
            reorg_window=st.anchor_reorg_window,
            fence=self._fence,
        )
        self._fence()
        notices = recall_notices.send_pending_notices(self.session_factory, chain)
        with self.session_factory() as s:
            waiting = s.exec(
                select(func.count())
                .select_from(AnchorBatch)
                .where(col(AnchorBatch.status).in_((BatchStatus.PREPARED, BatchStatus.SENT)))
            ).one()
        return Run(anchored, notices, int(waiting))

    def _log_unlogged_keys(self) -> None:
        """Records for keys that changed before the key log existed (keylog.log_unlogged_keys), so
        nobody has to remember a step after an upgrade; one indexed query when none is missing.
        A key log key that cannot be read is said, and anchoring goes on without the records."""
        from cradletrace import keylog

        with self.session_factory() as s:
            try:
                if keylog.log_unlogged_keys(s, self.settings.keys_dir):
                    s.commit()
            except TraceError as exc:
                s.rollback()
                self.say(f"key log: {exc}")

    def _prepare_ahead(self) -> None:
        """Commit a bounded batch before opening the chain (anchoring.prepare_ahead)."""
        from cradletrace.workspace import CONTRACT_KEY

        with self.session_factory() as s:
            row = s.get(Meta, CONTRACT_KEY)
            if row is not None:
                info = json.loads(row.value)
                anchoring.prepare_ahead(s, str(info["address"]), int(info["chain_id"]))

    def _lead(self, wait: float = 0.0) -> bool:
        was = self._leading
        now = self.lock.acquire(wait)
        self._leading = now
        if now and not was:
            self.say("leading: this worker anchors")
        elif was and not now:
            self.say("lost the leader lock; waiting to lead again")
        elif not now and not self._announced_follower:
            self.say(f"waiting: another worker leads ({self.lock.holder()})")
        self._announced_follower = not now
        return now

    def loop(
        self,
        interval: float,
        report: Callable[[Outcome], None],
        stop: threading.Event | None = None,
        guard: threading.Lock | None = None,
    ) -> None:
        """Every ``interval`` seconds: lead if possible, and if leading, anchor. Errors are reported
        and the next run retries; the lock is released when the loop ends. ``guard`` is held
        during each run (the API process's lock shared with ``POST /anchor``)."""
        stop = stop or threading.Event()
        guard = guard or threading.Lock()
        self._looping = True
        try:
            while not stop.is_set():
                started = time.monotonic()
                wait = min(interval, LOCK_WAIT)
                leads = True
                try:
                    # A follower waits on the lock outside the guard (POST /anchor is not held up).
                    leads = self.lock.held or self._lead(wait)
                    with guard:
                        outcome: Outcome | None = self._run() if leads and self._lead() else None
                except (ChainError, AnchoringBusyError, SQLAlchemyError) as exc:
                    outcome = exc
                if outcome is not None:
                    report(outcome)
                # A follower asks again at once (its wait on the lock paced it), unless the lock
                # answered early (the store is down): then it waits out the rest.
                stop.wait(max(0.0, (interval if leads else wait) - (time.monotonic() - started)))
        finally:
            self._looping = False
            self._leading = False
            self.lock.release()

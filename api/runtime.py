"""What one API process holds while it runs: the workspace, its chain, the anchoring thread.

The embedded chain file can be open in one process only, so the process opens it once at
startup and every request shares it. Requests run in FastAPI's thread pool; the embedded
provider serializes each JSON-RPC request with its own lock, and ``anchor_lock`` makes whole
anchoring runs (the thread's and ``POST /anchor``'s) one at a time, since two runs in one
process would race for the same pending events. Anything else that sends a transaction
(recall notices) must hold it too: with a signing key on an RPC node, two senders at once
would pick the same nonce.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from sqlalchemy import inspect
from sqlmodel import Session

from cradletrace import anchoring, recalls
from cradletrace.chain.base import Anchor
from cradletrace.config import Settings
from cradletrace.errors import ConfigError
from cradletrace.ratelimit import RateLimiter
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.verification import EventVerifier
from cradletrace.workspace import Workspace

log = logging.getLogger("cradletrace.api")


class Runtime:
    """Opened in the app's lifespan, closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workspace = Workspace(settings)
        self.anchor_lock = threading.Lock()
        self._chain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Check the store, open the chain (and so take the embedded chain's file lock)."""
        try:
            if not inspect(self.workspace.engine).has_table("api_key"):
                raise ConfigError("the store has no api_key table; run 'cradletrace init' once to add the API's tables")
            self.chain()
            if self.settings.anchor_interval > 0:
                self._thread = threading.Thread(target=self._anchor_loop, name="cradletrace-anchoring", daemon=True)
                self._thread.start()
        except BaseException:
            self.workspace.close()
            raise

    def chain(self) -> Anchor:
        """The anchor registry; a JSON-RPC node that was down at startup is retried here."""
        with self._chain_lock:
            return self.workspace.chain()

    @cached_property
    def verifier(self) -> EventVerifier:
        """Shared by all requests: remembers anchored roots and checked signatures."""
        return EventVerifier(self.chain())

    @cached_property
    def sealer(self) -> Sealer:
        st = self.settings
        return Sealer(load_or_create_key(st.keys_dir / "location.key", st.location_key), st.sealing_algorithm)

    @cached_property
    def scan_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.scan_rate_per_minute)

    def session(self) -> Session:
        return Session(self.workspace.engine, expire_on_commit=False)

    def anchor_now(self) -> list[anchoring.AnchorResult]:
        """Anchor pending events, then send prepared recall notices (one sender at a time)."""
        with self.anchor_lock:
            chain = self.chain()
            results = anchoring.anchor_pending(self.session, chain)
            for n in recalls.send_pending_notices(self.session, chain):  # type: ignore[arg-type]
                log.info("recall %d notice 0x%s on chain, block %d", n.recall_id, n.notice_digest, n.block_number)
            return results

    def _anchor_loop(self) -> None:
        interval = self.settings.anchor_interval
        while not self._stop.wait(interval):
            try:
                for r in self.anchor_now():
                    log.info("anchored %d events: root 0x%s block %d", r.leaf_count, r.root, r.block_number)
            except Exception as exc:  # the thread outlives a down store or chain; the next run retries
                log.warning("anchoring failed, will retry in %g s: %s: %s", interval, type(exc).__name__, str(exc)[:300])

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self.anchor_lock:
            self.workspace.close()


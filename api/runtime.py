"""What one API process holds while it runs: the workspace, its chain, the anchoring thread.

The embedded chain file can be open in one process only, so the process opens it once at
startup and every request shares it. Requests run in FastAPI's thread pool; the embedded
provider serializes each JSON-RPC request with its own lock, and ``anchor_lock`` makes whole
anchoring runs (the thread's and ``POST /anchor``'s) one at a time, since two runs in one
process would race for the same pending events. Anything else that sends a transaction
(recall notices) must hold it too: with a signing key on an RPC node, two senders at once
would pick the same nonce. Across processes, only the holder of the leader lock anchors
(``cradletrace.anchoring.worker``): any number of API processes may share one store.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import cached_property

from anyio import Semaphore, to_thread
from sqlalchemy import Engine, inspect
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.anchoring.worker import AnchorWorker, Outcome, Run
from cradletrace.api.ratelimit import RateLimiter
from cradletrace.chain.base import Anchor
from cradletrace.config import Settings
from cradletrace.epcis.binding import CaptureChecker, CaptureWorker
from cradletrace.epcis.subscriptions import SubscriptionDeliverer
from cradletrace.epcis.wake import WAKE
from cradletrace.errors import ConfigError
from cradletrace.recall.delivery import NoticeDeliverer
from cradletrace.sales import member_key
from cradletrace.scan.cache import ViewCache
from cradletrace.scan.postgres import PgScanner
from cradletrace.scan.service import ScanResult, scan_item
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
        self._notice_thread: threading.Thread | None = None
        self._capture_thread: threading.Thread | None = None
        self._epcis_thread: threading.Thread | None = None
        self.scanner: PgScanner | None = None

    def open(self) -> None:
        """Check the store, open the chain (and so take the embedded chain's file lock)."""
        try:
            if not inspect(self.workspace.engine).has_table("api_key"):
                raise ConfigError("the store has no api_key table; run 'cradletrace init' once to add the API's tables")
            self.chain()
            self.anchor_worker  # made once, here: requests and the thread must share its lock  # noqa: B018
            if self.settings.anchor_interval > 0:
                self._thread = threading.Thread(target=self._anchor_loop, name="cradletrace-anchoring", daemon=True)
                self._thread.start()
            if self.settings.notify_interval > 0:  # recall notices to consignee sites (recall/delivery.py)
                self._notice_thread = threading.Thread(
                    target=self.deliverer.loop, args=(self._stop,), name="cradletrace-notices", daemon=True
                )
                self._notice_thread.start()
            if self.settings.epcis_capture_interval > 0:  # EPCIS capture jobs (epcis/binding.py)
                self._capture_thread = threading.Thread(
                    target=self.captures.loop, args=(self._stop,), name="cradletrace-captures", daemon=True
                )
                self._capture_thread.start()
            if self.settings.epcis_deliver_interval > 0:  # EPCIS subscriptions' webhooks (epcis/subscriptions.py)
                self._epcis_thread = threading.Thread(
                    target=self.epcis_deliverer.loop, args=(self._stop,), name="cradletrace-epcis", daemon=True
                )
                self._epcis_thread.start()
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
        return EventVerifier(self.chain(), captured=CaptureChecker(self.session))

    @cached_property
    def sealer(self) -> Sealer:
        st = self.settings
        return Sealer(load_or_create_key(st.keys_dir / "location.key", st.location_key), st.sealing_algorithm)

    @cached_property
    def member_key(self) -> bytes:
        """The key of buyer pseudonyms (sales.py), outside the database like the sealing key."""
        return member_key(self.settings)

    @cached_property
    def views(self) -> ViewCache:
        """Verified views of recently scanned lots, reused while their rows are unchanged."""
        return ViewCache()

    @cached_property
    def scan_engine(self) -> Engine:
        """The store's pool in autocommit mode, for scans (see scan/service.py)."""
        return self.workspace.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def start_scanner(self) -> None:
        """On PostgreSQL, scans run on this loop with their own pool (scan.postgres.PgScanner)."""
        engine = self.workspace.engine
        if engine.dialect.name == "postgresql":
            self.scanner = PgScanner(
                self.scan_engine,
                self.verifier,
                self.views,
                self.sealer,
                self.settings.scan_db_connections,
                timeout=self.settings.db_wait_timeout,
            )
            await self.scanner.open()

    async def stop_scanner(self) -> None:
        if self.scanner is not None:
            await self.scanner.close()

    async def scan(
        self, gtin: str, lot: str, serial: str, now: datetime, client: str | None = None
    ) -> ScanResult | None:
        """One counted scan by ``client`` (scan.history.client_id; scan.service.scan_item), None for a code never issued."""
        if self.scanner is not None:
            return await self.scanner.scan(gtin, lot, serial, now, client)
        return await to_thread.run_sync(
            scan_item, self.scan_engine, self.verifier, self.views, self.sealer, gtin, lot, serial, now, client
        )

    @cached_property
    def scan_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.scan_rate_per_minute)

    @cached_property
    def rpc_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.rpc_rate_per_minute)

    @cached_property
    def chain_facts(self) -> dict[str, object]:
        """What a phone needs to check the anchors itself (the scan page's ``chain``): the chain, the
        contract, and where to send JSON-RPC reads: the configured public endpoints, else this
        server's own read-only /rpc when the chain is the embedded one (none for an external node).
        Fixed for the process's life (the chain is open from ``open``), so made once."""
        chain = self.chain()
        return {
            "chain_id": chain.chain_id,
            "contract": chain.contract_address,
            "local": chain.local,
            "rpc_urls": self.rpc_urls,
        }

    @property
    def rpc_urls(self) -> list[str]:
        """Where a browser sends JSON-RPC reads (a scan page's checks, /verify's prefill)."""
        return list(self.settings.public_rpc_urls) or (["/rpc"] if self.settings.embedded else [])

    @cached_property
    def verify_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.verify_rate_per_minute)

    @cached_property
    def auth_throttle(self) -> RateLimiter:
        """Spent by wrong API keys, per client address (see deps.get_caller)."""
        return RateLimiter(self.settings.auth_failures_per_minute)

    def session(self) -> Session:
        return Session(self.workspace.engine, expire_on_commit=False)

    @cached_property
    def store_slots(self) -> Semaphore:
        """Requests holding a store session at once: one per pooled connection (deps.get_session)."""
        return Semaphore(self.settings.db_pool_size)

    @cached_property
    def anchor_worker(self) -> AnchorWorker:
        """This process's anchoring worker: it anchors only while it holds the leader lock, so
        any number of API processes (and 'cradletrace anchor --watch' workers) share one store."""
        return AnchorWorker(self.settings, self.session, self.chain, say=lambda m: log.info("anchoring: %s", m))

    @cached_property
    def deliverer(self) -> NoticeDeliverer:
        """Sends the recall notice outbox; any number of processes may share it (claims)."""
        return NoticeDeliverer(self.settings, self.session, lambda: self.sealer, say=log.info)

    @cached_property
    def captures(self) -> CaptureWorker:
        """Runs the EPCIS capture jobs (POST /epcis/capture); any number of processes may share them."""
        return CaptureWorker(
            self.session,
            lambda: self.workspace.limits,
            self.settings.epcis_capture_limit,
            self.settings.epcis_capture_interval,
        )

    def wake_captures(self) -> None:
        """A capture job was taken: run it now rather than at the next interval."""
        if self._capture_thread is not None:
            self.captures.wake.set()

    @cached_property
    def epcis_deliverer(self) -> SubscriptionDeliverer:
        """Sends the EPCIS subscriptions' outbox; any number of processes may share it (claims)."""
        return SubscriptionDeliverer(self.settings, self.session, lambda: self.sealer, say=log.info)

    def wake_notices(self) -> None:
        """A recall started or widened: deliver its notices now rather than at the next interval."""
        if self._notice_thread is not None:
            self.deliverer.wake.set()

    def anchor_now(self) -> list[anchoring.AnchorResult]:
        """Anchor pending events, then send prepared recall notices (one sender at a time).

        Raises AnchoringBusyError when another process leads: it anchors within its interval."""
        with self.anchor_lock:
            return self._logged(self.anchor_worker.run_once())

    @staticmethod
    def _logged(run: Run) -> list[anchoring.AnchorResult]:
        for r in run.anchored:
            log.info("anchored %d events: root 0x%s block %d", r.leaf_count, r.root, r.block_number)
        for n in run.notices:
            log.info("recall %d notice 0x%s on chain, block %d", n.recall_id, n.notice_digest, n.block_number)
        return run.anchored

    def _anchor_loop(self) -> None:
        interval = self.settings.anchor_interval

        def report(outcome: Outcome) -> None:
            if isinstance(outcome, Run):
                self._logged(outcome)
            else:  # the thread outlives a down store or chain; the next run retries
                log.warning(
                    "anchoring failed, will retry in %g s: %s: %s", interval, type(outcome).__name__, str(outcome)[:300]
                )

        # The first run waits one interval, as before: startup does not race the first requests.
        while not self._stop.wait(interval):
            try:
                self.anchor_worker.loop(interval, report, self._stop, guard=self.anchor_lock)
            except Exception as exc:  # e.g. a ConfigError (contract gone): logged, the loop starts again
                log.warning(
                    "anchoring stopped, will start again in %g s: %s: %s", interval, type(exc).__name__, str(exc)[:300]
                )

    def close(self) -> None:
        self._stop.set()
        if self._notice_thread is not None:
            self.deliverer.wake.set()
            self._notice_thread.join(timeout=60)
        if self._capture_thread is not None:
            self.captures.wake.set()
            self._capture_thread.join(timeout=60)
        if self._epcis_thread is not None:
            WAKE.set()
            self._epcis_thread.join(timeout=60)
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self.anchor_lock:
            if "anchor_worker" in self.__dict__:
                self.anchor_worker.lock.release()
            self.workspace.close()

"""``GET /metrics`` in the Prometheus text format: HTTP traffic per process, the rest from the store.

Two kinds of figures, so that any number of API workers report the same truth:

* HTTP requests and their durations, by method, route *template* (never the raw path, so scan
  codes do not become label values) and status. Counted in each process; with several workers
  ``cradletrace serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start and
  every worker's scrape sums all of them (prometheus_client's multiprocess mode).
* Events recorded, pending and anchored, the oldest pending event's age, batches, anchoring
  latency and scans: read from the store when scraped, so every worker gives the same answer
  whoever wrote the rows. One scrape runs a few small aggregate queries; the answer is kept
  ``CACHE_SECONDS`` per process so a busy scraper costs the store almost nothing.

A store that does not answer is reported as ``cradletrace_store_up 0``; the HTTP figures are
still served (a scrape must not fail when the thing it watches does).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlmodel import col

from cradletrace.anchoring.run import pending_age
from cradletrace.api.deps import RuntimeDep
from cradletrace.api.runtime import Runtime
from cradletrace.store.models import AnchorBatch, EventRow, ScanRecord
from cradletrace.store.states import BatchStatus

log = logging.getLogger("cradletrace.api")
router = APIRouter(tags=["health"])

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CACHE_SECONDS = 5.0
# The *_created series would double the scrape and tell nobody anything.
disable_created_metrics()  # type: ignore[no-untyped-call]
# The HTTP figures live in a registry of their own: several apps in one process (tests) share
# them, and nothing else in the process can clash with their names.
HTTP_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "cradletrace_http_requests",
    "HTTP requests answered, by route template and status",
    ("method", "route", "status"),
    registry=HTTP_REGISTRY,
)
DURATION = Histogram(
    "cradletrace_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ("method", "route"),
    registry=HTTP_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (called by ``MetricsMiddleware``)."""
    REQUESTS.labels(method, route, str(status)).inc()
    DURATION.labels(method, route).observe(seconds)


class StoreCollector:
    """Figures read from the store at scrape time, cached for ``CACHE_SECONDS``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._at = -CACHE_SECONDS
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._at >= CACHE_SECONDS:
                self._families = self._read()
                self._at = time.monotonic()
            return iter(list(self._families))

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("cradletrace_store_up", "1 when the store answered the last metrics query")
        try:
            families = self._query()
        except Exception as exc:  # reported as a figure; the cause goes to the log only
            log.warning("metrics: store: %s: %s", type(exc).__name__, str(exc)[:200])
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _query(self) -> list[Metric]:
        now = datetime.now(UTC)
        confirmed = col(AnchorBatch.status) == BatchStatus.CONFIRMED
        with self.runtime.session() as s:
            total = s.execute(select(func.count()).select_from(EventRow)).scalar_one()
            waited = pending_age(s, now)
            batches = dict(
                s.execute(select(col(AnchorBatch.status), func.count()).group_by(col(AnchorBatch.status))).all()
            )
            anchored = s.execute(
                select(func.coalesce(func.sum(col(AnchorBatch.leaf_count)), 0)).where(confirmed)
            ).scalar_one()
            last = s.execute(
                select(col(AnchorBatch.id), col(AnchorBatch.block_time))
                .where(confirmed)
                .order_by(col(AnchorBatch.id).desc())
                .limit(1)
            ).first()
            first_of_last = (
                None
                if last is None
                else s.execute(
                    select(func.min(col(EventRow.recorded_at))).where(col(EventRow.anchor_id) == last[0])
                ).scalar_one()
            )
            scans = s.execute(select(func.count()).select_from(ScanRecord)).scalar_one()
        out: list[Metric] = []

        def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> None:
            family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
            family.add_metric(list((labels or {}).values()), value)
            out.append(family)

        recorded = CounterMetricFamily("cradletrace_events_recorded", "Events stored (all workers, from the store)")
        recorded.add_metric([], int(total))
        out.append(recorded)
        gauge("cradletrace_events_pending", "Events not yet in a confirmed anchor", int(total) - int(anchored))
        gauge("cradletrace_events_anchored", "Events in a confirmed anchor", int(anchored))
        by_status = GaugeMetricFamily("cradletrace_anchor_batches", "Anchor batches by status", labels=["status"])
        for status in sorted({*BatchStatus, *batches}):
            by_status.add_metric([str(status)], int(batches.get(status, 0)))
        out.append(by_status)
        gauge(
            "cradletrace_oldest_pending_event_age_seconds",
            "Age of the oldest event not yet under a confirmed root, batched or not (0 when none waits)",
            waited,
        )
        if last is not None and last[1] is not None and first_of_last is not None:
            gauge(
                "cradletrace_anchor_latency_seconds",
                "Last confirmed batch: from its earliest event's recording to its block",
                _seconds(last[1], first_of_last),
            )
        scanned = CounterMetricFamily("cradletrace_scans", "Consumer scans counted (rate() gives the scan rate)")
        scanned.add_metric([], int(scans))
        out.append(scanned)
        return out


def _seconds(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds())


def http_exposition() -> bytes:
    """This process's HTTP figures, or every worker's when running in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(HTTP_REGISTRY)


_collectors: weakref.WeakKeyDictionary[Runtime, StoreCollector] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def _store_collector(runtime: Runtime) -> StoreCollector:
    """One per running app, so its cache outlives a scrape."""
    with _collectors_lock:
        return _collectors.setdefault(runtime, StoreCollector(runtime))


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format 0.0.4",
        }
    },
)
def metrics(runtime: RuntimeDep) -> Response:
    """Public, for a scraper: HTTP requests by route and status, events, anchoring, scans."""
    store = CollectorRegistry(auto_describe=False)
    store.register(_store_collector(runtime))
    return Response(http_exposition() + generate_latest(store), media_type=CONTENT_TYPE)

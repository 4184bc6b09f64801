"""Running the API under uvicorn: one process, or N worker processes sharing one port.

Workers are separate processes started by uvicorn's supervisor from ``app_factory``; each reads
its settings from the environment, so this module writes the resolved ones there first. What a
worker keeps in memory between requests is there for speed only, never for correctness:

* the store and the chain are the truth; every request reads and writes them afresh;
* ``EventVerifier`` remembers roots seen on chain and signatures checked: facts that do not change;
* the scan rate limiter counts per process, so N workers admit up to N x the configured rate from
  one address (the per-address limit still holds within a factor N; put a shared limiter in the
  proxy in front if that matters);
* /metrics HTTP counters are per process but summed over all workers through
  ``PROMETHEUS_MULTIPROC_DIR``; the other figures come from the store.

Forwarded headers: uvicorn's own proxy handling is off (``proxy_headers=False``); the app believes
X-Forwarded-For/-Proto only from ``Settings.trusted_proxies`` (``api/main.py``). Run by hand as
``uvicorn --factory``, pass ``--no-proxy-headers`` too, or uvicorn trusts 127.0.0.1 before the app
sees the request.

More than one process needs a store and a chain that more than one process can open: PostgreSQL
and a JSON-RPC node. The SQLite file and the embedded chain (a file locked by its one process)
admit a single process, so ``--workers N`` refuses them with a message saying what to use instead.
The workers never anchor: ``cradletrace anchor --watch`` runs beside them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cradletrace.api.metrics import MULTIPROC_ENV
from cradletrace.config import Settings
from cradletrace.errors import ConfigError

FACTORY = "cradletrace.api.main:app_factory"


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a multi-process setup over a store or chain that admits one process."""
    if workers <= 1:
        return
    missing = [
        what
        for what, ok in (
            (
                "a PostgreSQL store (--database-url or DATABASE_URL): the SQLite file admits one writer process",
                settings.database_url is not None,
            ),
            (
                "a JSON-RPC node (--rpc-url or CRADLETRACE_RPC_URL): the embedded chain is a file one process holds",
                settings.rpc_url is not None,
            ),
        )
        if not ok
    ]
    if missing:
        raise ConfigError(f"--workers {workers} needs " + " and ".join(missing) + "; or run with --workers 1")


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings()`` in a worker equal ``settings`` (no anchoring thread)."""
    env = {"CRADLETRACE_DATA_DIR": str(settings.data_dir.resolve()), "CRADLETRACE_ANCHOR_INTERVAL": "0"}
    for name, value in (
        ("CRADLETRACE_DATABASE_URL", settings.database_url),
        ("CRADLETRACE_RPC_URL", settings.rpc_url),
        ("CRADLETRACE_LIMITS_FILE", settings.limits_file),
    ):
        if value is not None:
            env[name] = str(value)
    return env


@contextmanager
def multiprocess_metrics() -> Iterator[str]:
    """A fresh directory for prometheus_client's per-worker files, removed when the server stops."""
    path = tempfile.mkdtemp(prefix="cradletrace-metrics-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_workers(settings: Settings, workers: int, host: str, port: int, log_config: dict[str, Any]) -> None:
    """Serve with ``workers`` processes until interrupted (uvicorn's supervisor restarts dead ones)."""
    import uvicorn

    check_workers(settings, workers)
    with multiprocess_metrics() as metrics_dir:
        os.environ.update(worker_env(settings))
        os.environ[MULTIPROC_ENV] = metrics_dir
        uvicorn.run(FACTORY, factory=True, workers=workers, **uvicorn_options(settings, host, port, log_config))


def uvicorn_options(settings: Settings, host: str, port: int, log_config: dict[str, Any]) -> dict[str, Any]:
    """How every ``cradletrace serve`` runs uvicorn, one process or several: no Server header, no
    proxy headers (forwarded addresses are trusted only as docs/security.md says), graceful shutdown."""
    return {
        "host": host,
        "port": port,
        "log_config": log_config,
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": settings.api_shutdown_grace,  # uvicorn waits any number of seconds
    }

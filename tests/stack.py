"""The production shape, for tests and benchmarks: one PostgreSQL store, one JSON-RPC node, N API
workers (``cradletrace serve --workers N``) and an anchoring worker (``cradletrace anchor --watch``),
each a real process on 127.0.0.1, stopped by whoever started it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cradletrace import apikeys, suppliers
from cradletrace.config import Settings
from cradletrace.workspace import init_workspace
from tests.api.conftest import A, B, SUPPLIERS
from tests.nodes import free_port
from tests.servers import CLI, Served, clean_env, running


def prepare(settings: Settings) -> dict[str, str]:
    """Init the store and contract, register the four suppliers, make a key per role: who -> secret."""
    ws, _chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            for sid, name, role, cert in SUPPLIERS:
                suppliers.add_supplier(s, settings.keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
        with ws.session() as s:
            return {"operator": apikeys.create_key(s, "ops", "operator")[1],
                    "quality": apikeys.create_key(s, "qa", "quality")[1],
                    "supplier_a": apikeys.create_key(s, "plant", "supplier", A)[1],
                    "supplier_b": apikeys.create_key(s, "farm", "supplier", B)[1]}


def where(settings: Settings) -> list[str]:
    """The command-line options that point a cradletrace command at ``settings``' store and chain."""
    out = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        out += ["--database-url", settings.database_url]
    if settings.rpc_url:
        out += ["--rpc-url", settings.rpc_url]
    return out


@contextmanager
def serve_workers(settings: Settings, workers: int, cwd: Path, **env: str) -> Iterator[Served]:
    """``cradletrace serve --workers N`` on a free port, up once /healthz answers 200."""
    port = free_port()
    with running([str(CLI), "serve", "--workers", str(workers), "--port", str(port), *where(settings)],
                 cwd, port, env=clean_env(**env), health="/healthz", timeout=120) as served:
        yield served


@contextmanager
def anchor_watch(settings: Settings, interval: float, cwd: Path) -> Iterator[Served]:
    """``cradletrace anchor --watch --interval S`` until the block ends."""
    with running([str(CLI), "anchor", "--watch", "--interval", str(interval), *where(settings)], cwd, None) as served:
        yield served

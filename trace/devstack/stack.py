"""The production shape, for ``scripts/stack``, the tests and the benchmarks: one PostgreSQL store, one
JSON-RPC node, N API workers (``cradletrace serve --workers N``) and an anchoring worker
(``cradletrace anchor --watch``), each a real process on 127.0.0.1, stopped by whoever started it.

``python -m cradletrace.devstack.stack`` (what ``scripts/stack`` runs) starts it all with a throwaway PostgreSQL
cluster and anvil (or the Hardhat node), prints the URLs and keys, and stops everything on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cradletrace import apikeys
from cradletrace.config import Settings
from cradletrace.demo import register_people
from cradletrace.devstack.nodes import free_port
from cradletrace.devstack.processes import CLI, Served, clean_env, running
from cradletrace.workspace import init_workspace


def prepare(settings: Settings) -> dict[str, str]:
    """Init the store and contract, register the demo's four suppliers (certified until 2099) and its
    two products, make a key per role: who -> secret."""
    ws, _chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            register_people(s, settings.keys_dir, "2099-12-31", datetime.now(UTC))
        with ws.session() as s:
            return {
                "operator": apikeys.create_key(s, "ops", "operator")[1],
                "quality": apikeys.create_key(s, "qa", "quality")[1],
                "supplier_a": apikeys.create_key(s, "plant", "supplier", "alps-nutrition")[1],
                "supplier_b": apikeys.create_key(s, "farm", "supplier", "waikato-dairy")[1],
            }


def where(settings: Settings) -> list[str]:
    """The command-line options that point a cradletrace command at ``settings``' store and chain."""
    out = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        out += ["--database-url", settings.database_url]
    if settings.rpc_url:
        out += ["--rpc-url", settings.rpc_url]
    return out


@contextmanager
def serve_workers(settings: Settings, workers: int, cwd: Path, port: int | None = None, **env: str) -> Iterator[Served]:
    """``cradletrace serve --workers N`` on ``port`` (default: a free one), up once /healthz answers 200."""
    port = port or free_port()
    with running(
        [str(CLI), "serve", "--workers", str(workers), "--port", str(port), *where(settings)],
        cwd,
        port,
        env=clean_env(**env),
        health="/healthz",
        timeout=120,
    ) as served:
        yield served


@contextmanager
def anchor_watch(settings: Settings, interval: float, cwd: Path) -> Iterator[Served]:
    """``cradletrace anchor --watch --interval S`` until the block ends."""
    with running([str(CLI), "anchor", "--watch", "--interval", str(interval), *where(settings)], cwd, None) as served:
        yield served


@contextmanager
def evm_node() -> Iterator[str]:
    """anvil when installed, else the Hardhat node (both from node_modules); its URL."""
    from cradletrace.devstack.nodes import ANVIL, start_anvil, start_hardhat_node

    node = start_anvil(free_port()) if ANVIL.exists() else start_hardhat_node(free_port())
    try:
        yield node.url
    finally:
        node.stop()


@contextmanager
def whole_stack(
    data_dir: Path, workers: int = 2, interval: float = 5.0, port: int | None = None, durable: bool = False, **env: str
) -> Iterator[tuple[Settings, dict[str, str], Served, Served]]:
    """PostgreSQL + EVM node + ``serve --workers`` + ``anchor --watch``: (settings, keys, api, anchorer).

    ``durable``: PostgreSQL flushes every commit, as in production (benchmarks)."""
    from cradletrace.devstack.pg import PostgresServer

    with PostgresServer(durable=durable) as pg, evm_node() as rpc_url:
        settings = Settings(data_dir=data_dir, database_url=pg.url, rpc_url=rpc_url)
        keys = prepare(settings)
        with (
            anchor_watch(settings, interval, data_dir.parent) as anchorer,
            serve_workers(settings, workers, data_dir.parent, port, **env) as api,
        ):
            yield settings, keys, api, anchorer


def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile
    import time

    parser = argparse.ArgumentParser(
        prog="scripts/stack", description="Run the whole cradletrace stack locally; Ctrl-C stops it."
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between anchoring runs")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="cradletrace-stack-")) / "data"
    print("starting PostgreSQL, the EVM node, the API workers and the anchoring worker …", flush=True)
    with whole_stack(data_dir, args.workers, args.interval, args.port) as (settings, keys, api, anchorer):
        print(f"store:     {settings.database_url}  (throwaway cluster, deleted on exit)")
        print(f"chain:     {settings.rpc_url}")
        print(f"data dir:  {data_dir}  (supplier signing keys in keys/)")
        print(f"API:       {api.base}/docs   {api.base}/healthz   {api.base}/metrics")
        print(
            f"workers:   {args.workers} x 'cradletrace serve', 1 x 'cradletrace anchor --watch --interval {args.interval:g}'"
        )
        for who, secret in keys.items():
            print(f"key {who:<11} {secret}")
        print("Ctrl-C stops everything.", flush=True)
        shown = {id(api): 0, id(anchorer): 0}
        try:
            while api.proc.poll() is None and anchorer.proc.poll() is None:
                for name, proc in (("api", api), ("anchor", anchorer)):
                    for line in proc.lines[shown[id(proc)] :]:
                        print(f"[{name}] {line}", end="", flush=True)
                    shown[id(proc)] = len(proc.lines)
                time.sleep(0.3)
            print("a process of the stack exited; stopping the rest", flush=True)
        except KeyboardInterrupt:
            print("\nstopping …", flush=True)


if __name__ == "__main__":
    main()

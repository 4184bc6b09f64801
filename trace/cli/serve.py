"""``cradletrace serve`` and ``cradletrace apikey``: the HTTP API and the keys it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, RpcUrl, fail, open_workspace, reported, settings_from, store_session

if TYPE_CHECKING:
    from cradletrace.config import Settings

app = typer.Typer()
apikey_app = typer.Typer(no_args_is_help=True, help="Keys for the HTTP API: operator, supplier or quality.")


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="operator, supplier or quality")],
    name: Annotated[str, typer.Option(help="Who holds the key, for the list")],
    supplier: Annotated[str | None, typer.Option("--supplier", help="The supplier a supplier key acts for")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from cradletrace import apikeys

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws:
        with ws.session() as s:
            row, secret = apikeys.create_key(s, name, role, supplier)
        typer.echo(
            f"API key {row.id} ({row.role}{' of ' + row.supplier_id if row.supplier_id else ''}, {row.name}); "
            "the key, shown only now:"
        )
        typer.echo(secret)


@apikey_app.command("list")
def apikey_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List API keys (never their secrets)."""
    from cradletrace import apikeys

    with store_session(data_dir, database_url) as (_ws, s):
        for k in apikeys.list_keys(s):
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            typer.echo(f"{k.id}  {k.role:<8}  {k.supplier_id or '-':<20}  {state:<24}  {k.name}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Revoke an API key: its next request is refused."""
    from cradletrace import apikeys

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws:
        with ws.session() as s:
            row = apikeys.revoke_key(s, key_id)
        typer.echo(f"API key {row.id} ({row.role}, {row.name}) revoked")


def _demo_keys(settings: Settings) -> list[tuple[str, str]]:
    from sqlmodel import col, select

    from cradletrace import apikeys
    from cradletrace.core.events import REGISTRY_ROLE
    from cradletrace.store.models import Supplier
    from cradletrace.workspace import Workspace

    with Workspace(settings) as ws, ws.session() as s:
        made = [
            ("operator", apikeys.create_key(s, "demo operator", "operator")[1]),
            ("quality", apikeys.create_key(s, "demo quality staff", "quality")[1]),
        ]
        for sid in s.exec(select(Supplier.id).where(Supplier.role != REGISTRY_ROLE).order_by(col(Supplier.id))):
            made.append((f"supplier {sid}", apikeys.create_key(s, f"demo {sid}", "supplier", sid)[1]))
    return made


def _demo_scan_paths(settings: Settings) -> list[str]:
    from sqlmodel import col, select

    from cradletrace.core.labels import ItemCode
    from cradletrace.store.models import Item, Lot
    from cradletrace.workspace import Workspace

    with Workspace(settings) as ws, ws.session() as s:
        rows = s.exec(select(Item.gtin, Lot.lot, Item.serial).join(Lot, col(Lot.id) == col(Item.lot_id)).limit(3)).all()
    return [ItemCode(g, lot, serial).path for g, lot, serial in rows]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the API to the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    anchor_interval: Annotated[
        float,
        typer.Option("--anchor-interval", min=0, help="Seconds between anchoring runs in this process; 0 runs none"),
    ] = 10.0,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API worker processes; more than 1 needs PostgreSQL and "
            "--rpc-url, and anchoring then runs in 'cradletrace anchor --watch'",
        ),
    ] = 1,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Seed the demo story into a fresh data directory "
            "(default ./.cradletrace-demo) and print API keys to try",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Run the HTTP API (and, in the same process, the anchoring worker)."""
    import logging

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from cradletrace.api.main import create_app
    from cradletrace.api.runtime import Runtime
    from cradletrace.api.serving import check_workers, run_workers, uvicorn_options

    if demo and (database_url or rpc_url):
        fail("--demo runs on the embedded defaults; drop --database-url and --rpc-url")
    settings = settings_from(data_dir or (Path(".cradletrace-demo") if demo else None), database_url, rpc_url)
    keys: list[tuple[str, str]] = []
    with reported():
        check_workers(settings, workers)
        if demo:
            from cradletrace.demo import run_demo

            run_demo(settings, typer.echo)
            keys = _demo_keys(settings)
        probe = Runtime(settings.model_copy(update={"anchor_interval": 0.0}))
        probe.open()  # a missing store or a chain held by another process fails here, readably
        probe.close()
    base = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    if keys:
        typer.echo("API keys (demo only; each is shown only now):")
        for who, secret in keys:
            typer.echo(f"  {who:<24} {secret}")
    typer.echo(f"open: {base}/docs  (API documentation; 'Authorize' with a key)")
    typer.echo(f"      {base}/healthz  {base}/metrics")
    if demo:
        typer.echo("scan a pack (what a parent's phone opens):")
        for path in _demo_scan_paths(settings):
            typer.echo(f"      {base}{path}")
        typer.echo(f"      {base}/scan  (camera scanner page)")
    if keys:
        typer.echo(f"try:  curl -H 'Authorization: Bearer {keys[0][1]}' {base}/api/v1/events")
    else:
        typer.echo(
            f"keys: cradletrace apikey create --role operator|supplier|quality --name NAME --data-dir {settings.data_dir}"
        )
    log_config = {
        **LOGGING_CONFIG,
        "loggers": {
            **LOGGING_CONFIG["loggers"],
            "cradletrace": {"handlers": ["default"], "level": logging.INFO, "propagate": False},
        },
    }
    if workers > 1:
        typer.echo(f"{workers} API workers; they do not anchor: run 'cradletrace anchor --watch' beside them")
        with reported():
            run_workers(settings, workers, host, port, log_config)
        return
    app_ = create_app(settings.model_copy(update={"anchor_interval": anchor_interval}))
    uvicorn.run(app_, **uvicorn_options(settings, host, port, log_config))

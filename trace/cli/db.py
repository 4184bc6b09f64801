"""``cradletrace db``: the store's schema revision, and upgrading a store made by an older release.

Every other command refuses a store that is behind the code; only these open it as it is.
"""

from __future__ import annotations

import typer

from cradletrace.cli.options import DataDir, DbUrl, reported, settings_from

app = typer.Typer(
    no_args_is_help=True, help="The store's schema: show its revision, upgrade it after a cradletrace upgrade."
)


@app.command("current")
def current(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print the store's schema revision; exit 1 when it is not the one this cradletrace needs."""
    from cradletrace.store import schema
    from cradletrace.workspace import Workspace

    with reported(), Workspace(settings_from(data_dir, database_url, None), check_schema=False) as ws:
        with ws.engine.connect() as conn:
            stored = schema.stored_revision(conn)
            looks = schema.recognise(conn) if stored is None else stored
        head = schema.head()
        if stored == head:
            typer.echo(f"{head} (head)")
            return
        if stored is None:
            typer.echo(
                f"none recorded (made before schema revisions were kept); its tables are {looks}, "
                f"this cradletrace needs {head}: back up the store, then run '{ws.upgrade_command()}'"
            )
        elif not schema.known(stored):
            typer.echo(f"{stored} (unknown to this cradletrace, whose head is {head}: a newer cradletrace upgraded it)")
        else:
            typer.echo(
                f"{stored} (behind: this cradletrace needs {head}; back up the store, then run '{ws.upgrade_command()}')"
            )
    raise typer.Exit(1)


@app.command("upgrade")
def upgrade(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Bring the store to this cradletrace's schema (back it up first); harmless when already there."""
    from cradletrace.store import schema
    from cradletrace.workspace import Workspace

    with reported(), Workspace(settings_from(data_dir, database_url, None), check_schema=False) as ws:
        done = schema.upgrade(ws.engine)
        typer.echo(f"store: {ws.engine.url.render_as_string(hide_password=True)}")
        if done.stored is None:
            typer.echo(
                f"no schema revision recorded (made before revisions were kept): its tables are {done.start}; stamped"
            )
        if done.start == done.head:
            typer.echo(f"schema: {done.head} (head); nothing to do")
        else:
            typer.echo(f"schema: {done.start} -> {done.head}")

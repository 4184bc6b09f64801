"""The ``cradletrace`` command's root: the app, the everyday commands (init, sign, record, status,
anchor, labels, demo) and the registration of every command group. Thin: parse options, call the
core, print a few readable lines.

Heavy libraries (web3, eth-tester) load only inside the commands that need a chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from cradletrace.cli import serve, verify
from cradletrace.cli.options import (
    DataDir,
    DbUrl,
    Limits,
    RpcUrl,
    chain_label,
    open_workspace,
    read_input,
    reported,
    settings_from,
    store_session,
)

# Command group -> (module of cradletrace.cli, its Typer), in the order --help lists them. A group's
# module is imported and its commands built only when a command line names it (or --help lists
# them all): ``cradletrace dl parse`` loads dl.py, not the nine other groups.
GROUPS: dict[str, tuple[str, str]] = {
    "supplier": ("suppliers", "app"),
    "epcis": ("epcis", "app"),
    "dl": ("dl", "app"),
    "label": ("label", "app"),
    "chain": ("chain", "app"),
    "db": ("db", "app"),
    "product": ("product", "app"),
    "trace": ("trace", "app"),
    "recall": ("recall", "app"),
    "hold": ("recall", "hold_app"),
    "partner": ("partner", "app"),
    "apikey": ("serve", "apikey_app"),
}


class _Commands(MutableMapping[str, Any]):
    """The root's commands: those built, then the groups of ``GROUPS``, each built on first access
    exactly as ``app.add_typer(<its Typer>, name=<group>)`` would have built it."""

    def __init__(self, built: MutableMapping[str, Any]) -> None:
        self._built = dict(built)
        self._order = [*built, *(g for g in GROUPS if g not in built)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in GROUPS:
            module, attribute = GROUPS[name]
            holder = typer.Typer()
            holder.add_typer(getattr(import_module(f"cradletrace.cli.{module}"), attribute), name=name)
            self._built[name] = typer.main.get_group_from_info(
                holder.registered_groups[0],
                pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=app.suggest_commands,
                rich_markup_mode=app.rich_markup_mode,
            )
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        del self._built[name]
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class _Root(TyperGroup):
    """The ``cradletrace`` group, whose command groups load lazily (``_Commands``)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


app = typer.Typer(
    cls=_Root,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help and errors: rich's panels cost ~0.1 s of every start (importing and drawing them),
    # more than the rest of `--help`; 120 columns keep the command summaries whole on a wide terminal.
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
    help="cradletrace: signed supplier events, anchored on an EVM chain, verifiable by anyone.",
)


@app.command()
def init(data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None) -> None:
    """Create the data directory, the store and the anchor contract (running it again is harmless)."""
    from cradletrace.workspace import init_workspace

    settings = settings_from(data_dir, database_url, rpc_url)
    with reported():
        ws, chain = init_workspace(settings)
        with ws:
            typer.echo(f"data directory: {settings.data_dir.resolve()}")
            typer.echo(f"store: {ws.engine.url.render_as_string(hide_password=True)}")
            typer.echo(f"anchoring to: {chain_label(chain)}")
            if ws.replaced_contract:
                typer.echo(
                    f"warning: the contract recorded before ({ws.replaced_contract}) is not on this chain; "
                    "deployed a new one. Roots anchored to the old one cannot be verified here "
                    "('cradletrace audit' lists them).",
                    err=True,
                )


@app.command()
def sign(
    file: Annotated[Path, typer.Argument(help="JSON file of bare events, or - for stdin")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout")] = None,
    limits: Limits = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Sign bare events with their suppliers' key files (fills analyte limits from the limits table)."""
    from cradletrace import recording

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        items = recording.sign_submissions(
            recording.load_submission(read_input(file)), recording.key_loader(s, settings.keys_dir), ws.limits
        )
        text = json.dumps([{"event": i.event, "signature": i.signature} for i in items], ensure_ascii=False, indent=2)
        if out:
            out.write_text(text + "\n", "utf-8")
            typer.echo(f"signed {len(items)} events -> {out}")
        else:
            typer.echo(text)


@app.command()
def record(
    file: Annotated[Path, typer.Argument(help="JSON file: one event or a list, or - for stdin")],
    sign_: Annotated[bool, typer.Option("--sign", help="Sign bare events with the suppliers' key files")] = False,
    limits: Limits = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record signed supplier events: all of them, or none if any is bad."""
    from cradletrace import recording

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        items = recording.load_submission(read_input(file))
        if sign_:
            items = recording.sign_submissions(items, recording.key_loader(s, settings.keys_dir), ws.limits)
        rows = recording.record_submissions(s, items, datetime.now(UTC), ws.limits)
        s.commit()
        for row in rows:
            extra = f"  {row.outcome.upper()}" if row.outcome else ""
            typer.echo(
                f"event {row.id}  {row.kind:<11} {row.gtin or ''}/{row.lot or row.ref or ''}  {row.digest[:16]}…{extra}"
            )
        typer.echo(f"recorded {len(rows)} events; pending until the next 'cradletrace anchor'")


@app.command()
def correct(
    event: Annotated[str, typer.Argument(help="The event recorded wrongly: its id, digest or digest prefix")],
    reason: Annotated[str, typer.Option("--reason", help="did_not_occur, incorrect_data (CBV error reasons) or a URI")],
    corrective: Annotated[
        list[str] | None,
        typer.Option("--corrective", help="An event that corrects it (id, digest or prefix); repeat for more"),
    ] = None,
    as_operator: Annotated[
        bool, typer.Option("--as-operator", help="Declare as the operator, with the server's key-log key")
    ] = False,
    limits: Limits = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Declare a recorded event wrong, the EPCIS way (an error declaration): a new correction event,
    signed with the recorder's key file (or, --as-operator, the server's key-log key) and anchored
    like any other. The event itself is never changed."""
    from cradletrace import corrections, recording

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        now = datetime.now(UTC)
        if as_operator:
            row = corrections.declare_as_operator(s, settings.keys_dir, event, reason, corrective or [], now)
        else:
            bare = corrections.declaration(s, event, reason, corrective or [], now)
            items = recording.sign_submissions(
                recording.read_submissions(bare), recording.key_loader(s, settings.keys_dir), ws.limits
            )
            (row,) = recording.record_submissions(s, items, now, ws.limits)
        s.commit()
        typer.echo(f"event {row.id}  correction  {row.digest[:16]}…  {row.outcome}: corrects {row.ref}")
        typer.echo("recorded 1 event; pending until the next 'cradletrace anchor'")


@app.command()
def status(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Counts: suppliers, events by kind, pending and anchored, and the last anchor."""
    from sqlmodel import col, func, select

    from cradletrace.core.events import REGISTRY_ROLE
    from cradletrace.store.models import AnchorBatch, EventRow, Supplier

    with store_session(data_dir, database_url) as (ws, s):
        typer.echo(f"store: {ws.engine.url.render_as_string(hide_password=True)}")
        real = select(func.count()).where(Supplier.role != REGISTRY_ROLE)  # not the key log's signer
        typer.echo(f"suppliers: {s.exec(real).one()}")
        for kind, n in s.exec(select(EventRow.kind, func.count()).group_by(EventRow.kind).order_by(EventRow.kind)):
            typer.echo(f"events {kind:<11} {n}")
        pending = s.exec(select(func.count()).select_from(EventRow).where(col(EventRow.anchor_id).is_(None))).one()
        typer.echo(f"pending (not yet anchored): {pending}")
        from cradletrace.anchoring.run import pending_age
        from cradletrace.store.states import BatchStatus

        typer.echo(f"oldest pending event waited: {pending_age(s):.0f} s (not yet under a confirmed root)")
        last = s.exec(
            select(AnchorBatch).where(AnchorBatch.status == BatchStatus.CONFIRMED).order_by(col(AnchorBatch.id).desc())
        ).first()
        if last:
            typer.echo(
                f"last root: 0x{last.root[:16]}… {last.leaf_count} events, block {last.block_number}, {last.block_time}"
            )
        stuck = s.exec(
            select(func.count()).select_from(AnchorBatch).where(AnchorBatch.status != BatchStatus.CONFIRMED)
        ).one()
        if stuck:
            typer.echo(f"roots prepared but not confirmed: {stuck} (the next 'cradletrace anchor' finishes them)")
        from cradletrace.anchoring.leader import leader_lock

        typer.echo(f"anchoring leader: {leader_lock(ws.settings.store_url).holder()}")


@app.command()
def anchor(
    watch: Annotated[bool, typer.Option("--watch", help="Keep anchoring every --interval seconds")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between runs with --watch")] = 10.0,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Put all pending events under one Merkle root and record it on chain, then any recall notices.

    Only the worker holding the leader lock anchors; with --watch a worker that does not hold it
    waits and takes over when the leader stops (docs/operations.md)."""
    from cradletrace.cli.anchor import anchor_command

    anchor_command(settings_from(data_dir, database_url, rpc_url), watch, interval)


@app.command()
def labels(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the product")],
    lot: Annotated[str, typer.Argument(help="Lot code, as its batch event recorded it")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many item codes to make")],
    supplier: Annotated[
        str, typer.Option("--supplier", help="Plant or brand commissioning the items; signs with its key file")
    ],
    svg_dir: Annotated[
        Path | None, typer.Option("--svg-dir", help="New directory for one SVG per label (+ codes.csv)")
    ] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="A4 PDF sheet of all labels")] = None,
    zip_: Annotated[Path | None, typer.Option("--zip", help="ZIP of PNG labels (+ codes.csv)")] = None,
    resolver: Annotated[
        str | None,
        typer.Option(
            "--resolver", help="Host the codes point to [env CRADLETRACE_RESOLVER_HOST; default id.cradletrace.example]"
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Commission COUNT serialized items of a lot and print one QR code (GS1 Digital Link) per item.

    Without --svg-dir, --pdf or --zip the codes' URIs are printed, one per line.
    """
    from cradletrace.labels.commission import Output, generate_codes, render
    from cradletrace.labels.render import PdfSheet, PngZip, SvgDir

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        outputs: list[Output] = []
        try:  # paths are checked before any code is commissioned
            if svg_dir:
                outputs.append(SvgDir(svg_dir))
            if pdf:
                outputs.append(PdfSheet(pdf, title=f"cradletrace labels {gtin} / {lot}"))
            if zip_:
                outputs.append(PngZip(zip_))
            with ws.session() as s:
                codes = generate_codes(
                    s,
                    settings.keys_dir,
                    gtin=gtin,
                    lot=lot,
                    count=count,
                    supplier=supplier,
                    resolver=resolver or settings.resolver_host,
                )
        except BaseException:
            for out in outputs:
                out.abort()
            raise
        ids = [r.id for r in codes.events]
        typer.echo(
            f"commissioned {count} items of {gtin}/{lot} by {supplier} in {len(ids)} event"
            f"{'s' if len(ids) > 1 else ''} ({', '.join(map(str, ids))}); pending until the next 'cradletrace anchor'",
            err=not outputs,
        )
        if not outputs:
            typer.echo("\n".join(codes.uris))
            return
        with _progress(count) as advance:
            render(codes.links, outputs, advance)
        for label, path in (("SVG labels", svg_dir), ("PDF sheet", pdf), ("PNG labels", zip_)):
            if path:
                typer.echo(f"{label}: {path}")


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal and the run is long enough to watch."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("labels"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=total < 200 or not console.is_terminal,
    ) as bar:
        task = bar.add_task("labels", total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
def demo(data_dir: DataDir = None) -> None:
    """Run the whole story on a fresh data directory and print what happened."""
    from cradletrace.demo import run_demo

    settings = settings_from(data_dir or Path(".cradletrace-demo"), None, None)
    with reported():
        run_demo(settings, typer.echo)


# verify and serve add top-level commands; the groups load lazily (below), in the order --help lists them.
app.add_typer(verify.app)
app.add_typer(serve.app)

"""``cradletrace verify``, ``audit``, ``proof`` and ``verify-bundle``: checking events and roots
against the chain. Top-level commands: the root app merges this unnamed group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cradletrace.cli.options import (
    DataDir,
    DbUrl,
    RpcUrl,
    read_input,
    reported,
    settings_from,
    store_session,
)

if TYPE_CHECKING:
    from cradletrace.verification import Verdict

app = typer.Typer()


def _print_verdict(v: Verdict) -> None:
    typer.echo(v.status)
    for r in v.reasons:
        typer.echo(f"  {r}")
    for n in v.notes:
        typer.echo(f"  note: {n}")
    if v.root:
        where = "local development chain" if v.local_chain else "chain"
        typer.echo(f"  root 0x{v.root} on {where}, block {v.block_number}, tx {v.tx_hash}")


@app.command()
def verify(
    event: Annotated[str, typer.Argument(help="Event id, digest, or the digest's first 8+ hex digits")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Print VALID, INVALID (with the reasons) or PENDING for one event."""
    from cradletrace.verification import verify_event

    with store_session(data_dir, database_url, rpc_url) as (ws, s):
        v = verify_event(s, ws.chain(), event)
        _print_verdict(v)
        _print_correction(s, event)
        if v.status != "VALID":
            raise typer.Exit(1 if v.status == "INVALID" else 3)


def _print_correction(session: Any, event: str) -> None:
    """The corrected state beside the verdict (corrections.py): a verified event may have been
    declared wrong by its recorder since, and a correction names the event it corrects."""
    from cradletrace.corrections import declaration_of, declarations
    from cradletrace.events import find_event

    row = find_event(session, event)
    fix = declarations(session, [row.digest]).get(row.digest)
    if fix is not None:
        counts = "its facts no longer count" if fix.did_not_occur else "kept, with the corrective events"
        typer.echo(
            f"  corrected: {fix.reason} declared {fix.declaration_time} by event {fix.event_id} ({fix.digest}): {counts}"
        )
        for x in fix.corrective:
            typer.echo(f"  corrective event: {x}")
    own = declaration_of(int(row.id or 0), row.digest, row.supplier_id, row.body) if row.kind == "correction" else None
    if own is not None:
        typer.echo(f"  correction of event {own.corrects}: {own.reason}")


@app.command()
def audit(
    skip_signatures: Annotated[
        bool, typer.Option("--skip-signatures", help="Check hashes, proofs and roots only")
    ] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Re-verify every event (pending ones without a proof yet) and every root on chain; exit 1 if anything is wrong."""
    from cradletrace.verification import audit as run_audit
    from cradletrace.verification import iter_bad

    with store_session(data_dir, database_url, rpc_url) as (ws, s):
        report = run_audit(s, ws.chain(), check_signatures=not skip_signatures)
        for line in iter_bad(report):
            typer.echo(line)
        typer.echo(
            f"audit: {report.events_checked} events ({report.events_pending} pending: content and signature, "
            f"no proof yet), {report.roots_checked} roots on chain checked; "
            + (
                "all consistent"
                if report.ok
                else f"{len(report.bad_events)} bad events, {len(report.problems)} root problems"
            )
        )
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def proof(
    event: Annotated[str, typer.Argument(help="Event id, digest, or the digest's first 8+ hex digits")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Print a proof bundle that verifies without our database (verify-bundle)."""
    from cradletrace.verification import export_bundle

    with store_session(data_dir, database_url, rpc_url) as (ws, s):
        typer.echo(json.dumps(export_bundle(s, ws.chain(), event), ensure_ascii=False, indent=2))


@app.command("verify-bundle")
def verify_bundle_cmd(
    file: Annotated[Path, typer.Argument(help="Bundle from 'cradletrace proof', or - for stdin")],
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Check a proof bundle against the chain alone (embedded chain file or --rpc-url)."""
    from cradletrace.verification import read_bundle, verify_bundle_on

    settings = settings_from(data_dir, None, rpc_url)
    with reported():
        bundle = read_bundle(read_input(file))
        v = verify_bundle_on(settings, bundle)
        _print_verdict(v)
        if not v.valid:
            raise typer.Exit(1)

"""``cradletrace anchor [--watch]``: one anchoring run, or a worker that leads or waits its turn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import typer
from sqlmodel import Session

from cradletrace.anchoring.run import AnchorResult
from cradletrace.anchoring.worker import AnchorWorker, Outcome, Run
from cradletrace.cli.options import chain_label, open_workspace, reported
from cradletrace.recall.notices import NoticeResult

if TYPE_CHECKING:
    from cradletrace.config import Settings


def _stamp() -> str:
    return f"{datetime.now():%H:%M:%S}"


def print_results(results: Sequence[AnchorResult]) -> None:
    for r in results:
        note = " (finished an interrupted run)" if r.recovered else ""
        typer.echo(
            f"anchored {r.leaf_count} events: root 0x{r.root[:16]}… block {r.block_number} "
            f"tx {(r.tx_hash or '?')[:18]}…{note}"
        )


def print_notices(results: Sequence[NoticeResult]) -> None:
    for n in results:
        note = " (already on chain: finished an interrupted run)" if n.recovered else ""
        typer.echo(
            f"recall {n.recall_id} notice 0x{n.notice_digest[:16]}… on chain: block {n.block_number} "
            f"tx {(n.tx_hash or '?')[:18]}…{note}"
        )


def print_run(run: Run, settings: Settings, quiet_if_idle: bool) -> None:
    print_results(run.anchored)
    print_notices(run.notices)
    if run.waiting:
        deep = settings.anchor_confirmations
        typer.echo(
            f"{run.waiting} roots sent but not final yet (final once mined and {deep} blocks deep); "
            "the next run checks them again"
        )
    elif not run.anchored and not run.notices and not quiet_if_idle:
        typer.echo("nothing pending")


def anchor_command(settings: Settings, watch: bool, interval: float) -> None:
    with reported(), open_workspace(settings) as ws:
        worker = AnchorWorker(
            settings,
            lambda: Session(ws.engine, expire_on_commit=False),
            ws.chain,
            say=lambda m: typer.echo(f"{_stamp()} {m}", err=True),
        )
        if not watch:
            print_run(worker.run_once(), settings, quiet_if_idle=False)
            return
        # The chain opens when this worker first leads: a follower holds no embedded chain file,
        # and a store or node that is down now is retried every interval instead of ending it.
        where = f"chain {settings.rpc_url}" if settings.rpc_url else "the embedded chain"
        typer.echo(f"anchoring every {interval:g} s to {where} while this worker leads; Ctrl-C stops")

        opened: list[bool] = []

        def report(outcome: Outcome) -> None:
            if not opened and isinstance(outcome, Run):
                opened.append(True)
                typer.echo(f"{_stamp()} {chain_label(ws.chain())}", err=True)
            if isinstance(outcome, Run):
                print_run(outcome, settings, quiet_if_idle=True)
            else:
                typer.echo(f"{_stamp()} {type(outcome).__name__}, will retry: {str(outcome)[:300]}", err=True)

        try:
            worker.loop(interval, report)
        except KeyboardInterrupt:
            typer.echo("stopped")

"""``cradletrace hold release``, ``recall close`` and ``recall report``: the rest of a recall's life
on the command line (start, list and the hold list are in cli.py). ``register`` adds them to the
``recall`` and ``hold`` groups cli.py defines."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from cradletrace.cliopts import DataDir, DbUrl, open_workspace, reported, settings_from

Reason = Annotated[str, typer.Option("--reason", help="Why (kept with who and when)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def hold_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id (cradletrace hold list)")],
    reason: Reason,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Lift a hold (e.g. a re-test passed): the scan page's hold banner goes; who, when and why are kept."""
    from cradletrace import recalls

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        out = recalls.release_hold(s, hold_id, reason=reason, released_by=_who(), now=datetime.now(timezone.utc))
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"hold {out['id']} on {out['gtin']}/{out['lot']} released by {out['released_by']} at {out['released_at']}: "
               f"{out['release_reason']}")


def recall_close(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    reason: Reason,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """End a recall (goods retrieved or destroyed): scan pages stop warning; who, when and why are kept."""
    from cradletrace import recalls

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        view = recalls.close_recall(s, recall_id, reason=reason, closed_by=_who(), now=datetime.now(timezone.utc))
    out = view.to_json()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"recall {out['id']} closed by {out['closed_by']} at {out['closed_at']}: {out['close_reason']}")


def recall_report(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for recall-ID.json, .csv and .xlsx")] = Path("."),
    formats: Annotated[Optional[list[str]], typer.Option("--format", help="json, csv or xlsx; repeatable (default: all three)")] = None,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Write the recall report: FSMA 204 key data elements per affected lot and shipment, the sites to
    notify, and how many consumers scanned affected packs (counts only)."""
    from cradletrace import recallreport
    from cradletrace.errors import InvalidInputError, Problem

    wanted = formats or list(recallreport.FORMATS)
    with reported():
        bad = [f for f in wanted if f not in recallreport.FORMATS]
        if bad:
            raise InvalidInputError(Problem("format", f"expected json, csv or xlsx, got {', '.join(bad)}"))
        with open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
            report = recallreport.build_report(s, recall_id, datetime.now(timezone.utc))
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in dict.fromkeys(wanted):
            path = out_dir / report.filename(fmt)
            path.write_bytes(report.render(fmt))
            typer.echo(f"{path}")
    c = report.consumers
    typer.echo(f"recall {recall_id}: {len(report.recall.lots)} lots, {len(report.rows)} rows, "
               f"{len(report.sites)} sites to notify; consumers: {c['items_scanned']} items scanned, "
               f"{c['opted_in']} scans with consent (reached through the platform)")


def register(recall_app: typer.Typer, hold_app: typer.Typer) -> None:
    recall_app.command("close")(recall_close)
    recall_app.command("report")(recall_report)
    hold_app.command("release")(hold_release)

"""``cradletrace recall`` and ``cradletrace hold``: a recall's life on the command line (start, list,
close, report) and the automatic holds (list, release)."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cradletrace.cli.options import (
    AsJson,
    DataDir,
    DbUrl,
    RpcUrl,
    open_workspace,
    reported,
    settings_from,
    store_session,
)
from cradletrace.errors import InvalidInputError

if TYPE_CHECKING:
    from cradletrace.config import Settings
    from cradletrace.sealing import Sealer

app = typer.Typer(no_args_is_help=True, help="Start and list recalls (quality staff).")
hold_app = typer.Typer(
    no_args_is_help=True, help="Automatic holds after failed tests and excursions (recall proposals)."
)

Reason = Annotated[str, typer.Option("--reason", help="Why (kept with who and when)")]


def _who() -> str:
    return f"cli:{getpass.getuser()}"


@app.command("start")
def recall_start(
    reason: Annotated[str, typer.Option("--reason", help="Why: shown on every affected pack's scan page")],
    severity: Annotated[str, typer.Option("--severity", help="Recall class: I, II or III")],
    lot: Annotated[
        list[str] | None,
        typer.Option("--lot", help="GTIN/LOT in scope, repeatable (default: the forward trace of --trigger)"),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option("--trigger", help="Triggering event (id or full digest) or a short text"),
    ] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Recall lots at once (scan pages warn immediately); the notice goes on chain with the next 'anchor'."""
    import getpass

    from cradletrace.recall import genealogy, recalls

    with store_session(data_dir, database_url) as (_ws, s):
        if lot:
            scope = [genealogy.parse_gtin_lot(x, "lot") for x in lot]
        elif trigger is not None and (trigger.isdigit() or len(trigger) == 64):
            t = genealogy.trace_forward(s, event=trigger, units=False)
            scope = [x.key for x in t.lots]  # located: by the automatic hold's trace if there was one, else now
        else:
            raise InvalidInputError("lot: expected --lot GTIN/LOT (repeatable) or an event --trigger to trace from")
        r = recalls.start_recall(
            s,
            lots=scope,
            reason=reason,
            severity=severity,
            trigger=trigger,
            started_by=f"cli:{getpass.getuser()}",
            now=datetime.now(UTC),
        )
        view = next(v for v in recalls.list_recalls(s) if v.recall.id == r.id)
        if as_json:
            typer.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2))
            return
        typer.echo(
            f"recall {r.id} started (class {r.severity}) by {r.started_by}: {len(view.lots)} lots; "
            "scan pages show it now"
        )
        for g, lo in view.lots:
            typer.echo(f"  {g}/{lo}")
        typer.echo(f"  clock: {view.clock.text()}")
        typer.echo(f"  notice 0x{r.notice_digest[:16]}… prepared; on chain with the next 'cradletrace anchor'")


@app.command("list")
def recall_list(as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Every recall with its lots, notice status and clock."""
    from cradletrace.recall import recalls

    with store_session(data_dir, database_url) as (_ws, s):
        views = recalls.list_recalls(s)
        if as_json:
            typer.echo(json.dumps([v.to_json() for v in views], ensure_ascii=False, indent=2))
            return
        if not views:
            typer.echo("no recalls")
        for v in views:
            r = v.recall
            typer.echo(
                f"recall {r.id}  class {r.severity}  {r.reason}  by {r.started_by} at {r.started_at:%Y-%m-%d %H:%M:%S}  "
                f"notice {r.notice_status}{' block ' + str(r.block_number) if r.block_number else ''}"
            )
            typer.echo(f"    lots: {', '.join(f'{g}/{lo}' for g, lo in v.lots)}")
            typer.echo(f"    clock: {v.clock.text()}")


@hold_app.command("list")
def hold_list(
    proposals: Annotated[bool, typer.Option("--proposals", help="Only holds no recall covers yet")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Active holds; those without a recall are recall proposals."""
    from cradletrace.recall.holds import list_holds

    with store_session(data_dir, database_url) as (_ws, s):
        holds = list_holds(s, only_proposals=proposals)
        if as_json:
            typer.echo(json.dumps([h.to_json() for h in holds], ensure_ascii=False, indent=2))
            return
        if not holds:
            typer.echo("no holds")
        for h in holds:
            state = f"recall {h.recall_id}" if h.recall_id else "PROPOSED recall (none started)"
            typer.echo(
                f"hold {h.id}  {h.gtin}/{h.lot}  {h.reason} (event {h.trigger_event_id})  {state}  "
                f"clock: {h.clock.text()}"
            )


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id (cradletrace hold list)")],
    reason: Reason,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Lift a hold (e.g. a re-test passed): the scan page's hold banner goes; who, when and why are kept."""
    from cradletrace.recall.holds import release_hold

    with store_session(data_dir, database_url) as (_ws, s):
        out = release_hold(s, hold_id, reason=reason, released_by=_who(), now=datetime.now(UTC))
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"hold {out['id']} on {out['gtin']}/{out['lot']} released by {out['released_by']} at {out['released_at']}: "
        f"{out['release_reason']}"
    )


@app.command("close")
def recall_close(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    reason: Reason,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """End a recall (goods retrieved or destroyed): scan pages stop warning; who, when and why are kept."""
    from cradletrace.recall import recalls

    with store_session(data_dir, database_url) as (_ws, s):
        view = recalls.close_recall(s, recall_id, reason=reason, closed_by=_who(), now=datetime.now(UTC))
    out = view.to_json()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"recall {out['id']} closed by {out['closed_by']} at {out['closed_at']}: {out['close_reason']}")


@app.command("report")
def recall_report(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the files written")] = Path("."),
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="json, csv or xlsx for the sortable spreadsheet (default: all three); pdf or xlsx with --kind",
        ),
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="A regulatory report, repeatable: written, status (PDF, XLSX), plan, summary, display (PDF); "
            "each is filed (kept, and its SHA-256 anchored)",
        ),
    ] = None,
    contact: Annotated[
        str | None, typer.Option("--contact", help="The display notice's 'whom to call' (default: the maker)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Write the recall's sortable spreadsheet (FSMA 204 key data elements per affected lot and
    shipment, the sites to notify, consumer counts only) or, with --kind, its regulatory reports
    generated from the recall's ledger: 21 CFR 107.240 written and status reports, 召回计划,
    召回总结报告, the retail display notice. Check a report file later with `recall report-verify`."""
    from cradletrace.errors import InvalidInputError, Problem
    from cradletrace.recall import report as recallreport

    if kinds:
        _file_reports(recall_id, out_dir, kinds, formats, contact, data_dir, database_url)
        return
    wanted = formats or list(recallreport.FORMATS)
    with reported():
        bad = [f for f in wanted if f not in recallreport.FORMATS]
        if bad:
            raise InvalidInputError(Problem("format", f"expected json, csv or xlsx, got {', '.join(bad)}"))
        with open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
            report = recallreport.build_report(s, recall_id, datetime.now(UTC))
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in dict.fromkeys(wanted):
            path = out_dir / report.filename(fmt)
            path.write_bytes(report.render(fmt))
            typer.echo(f"{path}")
    c = report.consumers
    typer.echo(
        f"recall {recall_id}: {len(report.recall.lots)} lots, {len(report.rows)} rows, "
        f"{len(report.sites)} sites to notify; consumers: {c['items_scanned']} items scanned, "
        f"{c['opted_in']} scans with consent (reached through the platform)"
    )


def _file_reports(
    recall_id: int,
    out_dir: Path,
    kinds: list[str],
    formats: list[str] | None,
    contact: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Generate and file each report of ``kinds`` in each of its formats (or those of ``formats``
    it is made in), in one transaction, then write the files."""
    from cradletrace.recall import documents, filings

    written = []
    with store_session(data_dir, database_url) as (ws, s):
        for kind in dict.fromkeys(kinds):
            made = documents.REPORTS.get(kind, ("pdf",))
            for fmt in [f for f in (formats or made) if f in made] or list(formats or made):
                body, filed = filings.generate(
                    s,
                    ws.settings.data_dir,
                    ws.settings.keys_dir,
                    recall_id=recall_id,
                    report=kind,
                    fmt=fmt,
                    by=_who(),
                    now=datetime.now(UTC),
                    contact=contact,
                )
                written.append((filings.filename(recall_id, kind, fmt), body, filed))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, body, filed in written:
        (out_dir / name).write_bytes(body)
        typer.echo(f"{out_dir / name}  sha256 {filed.sha256}  (record {filed.event_id}, anchored by the next run)")


@app.command("report-verify")
def recall_report_verify(
    file: Annotated[Path, typer.Argument(help="A report file generated with --kind (or downloaded from the API)")],
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Show that a report file is, unchanged, one this server filed: its SHA-256 names a signed record
    whose Merkle proof leads to a root on chain. Exit 1 when it is not verified."""
    from cradletrace.recall import filings

    with reported():
        body = file.read_bytes()
        with open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws, ws.session() as s:
            out = filings.check(s, ws.chain(), body)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        filed = out.get("filed")
        typer.echo(
            f"{file}: sha256 {out['sha256']}: {'VERIFIED' if out['verified'] else 'NOT VERIFIED'} ({out['status']})"
        )
        if filed:
            typer.echo(
                f"  recall {filed['recall']} {filed['report']}.{filed['format']}, filed {filed['at']} by {filed['by']}, "
                f"record {filed['event_id']}"
            )
        if out.get("block_number") is not None:
            typer.echo(f"  root {out['root']} in block {out['block_number']} (tx {out['tx_hash']})")
        for reason in out["reasons"]:
            typer.echo(f"  {reason}")
    if not out["verified"]:
        raise typer.Exit(1)


def _sealer(settings: Settings) -> Sealer:
    from cradletrace.sealing import Sealer, load_or_create_key

    return Sealer(
        load_or_create_key(settings.keys_dir / "location.key", settings.location_key), settings.sealing_algorithm
    )


@app.command("widen")
def recall_widen(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    lot: Annotated[list[str], typer.Option("--lot", help="GTIN/LOT to add, repeatable")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Add lots to an active recall: their consignees get notices (sent by 'recall notify' or 'serve')."""
    from cradletrace.recall import genealogy, recalls

    with store_session(data_dir, database_url) as (_ws, s):
        keys = [genealogy.parse_gtin_lot(x, "lot") for x in lot]
        view, sites = recalls.widen_recall(s, recall_id, lots=keys, by=_who(), now=datetime.now(UTC))
    typer.echo(f"recall {recall_id} now covers {len(view.lots)} lots; {sites} more sites to notify")


@app.command("notify")
def recall_notify(
    watch: Annotated[bool, typer.Option("--watch", help="Keep delivering every --interval seconds")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between runs with --watch")] = 5.0,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Send the recall notices that are due (e-mail, webhooks) and say what came of them."""
    import threading

    from sqlmodel import Session

    from cradletrace.recall.delivery import NoticeDeliverer

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        deliverer = NoticeDeliverer(
            settings.model_copy(update={"notify_interval": interval}),
            lambda: Session(ws.engine, expire_on_commit=False),
            lambda: _sealer(settings),
            say=lambda m: typer.echo(m),
        )
        if watch:
            deliverer.loop(threading.Event())
            return
        run = deliverer.run_once()
    typer.echo(f"recall notices: {run.sent} sent, {run.retrying} retrying, {run.failed} failed")


@app.command("ledger")
def recall_ledger(
    recall_id: Annotated[int, typer.Argument(help="Recall id (cradletrace recall list)")],
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Per site and lot: shipped, answered, on hand, returned, destroyed, unaccounted; the milestones."""
    from cradletrace.recall.ledger import build_ledger

    with store_session(data_dir, database_url) as (_ws, s):
        out = build_ledger(s, recall_id).to_json()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    sites = out["sites"]
    typer.echo(
        f"recall {recall_id}: {sites['total']} sites, {sites['notified']} notified, {sites['answered']} answered"
    )
    for unit, t in out["totals"].items():
        typer.echo(
            f"  {unit}: shipped {t['shipped']:g}, on hand {t['on_hand']:g}, returned {t['returned']:g}, "
            f"destroyed {t['destroyed']:g}, unaccounted {t['unaccounted']:g}"
        )
    for m in out["milestones"]:
        typer.echo(f"  {m['name']:<17} {m['at'] or '-'}")
    if out["drill"]:
        typer.echo("  DRILL (mock recall): not on chain, not on scan pages, no consumer notice")
    for d in out["deadlines"]:
        typer.echo(f"  {d['regime']:<11} {d['name']:<19} due {d['due']}  done {d['done'] or '-'}  {d['status']}")
    e = out["effectiveness"]
    if e["level"]:
        typer.echo(
            f"  effectiveness level {e['level']} ({e['percent']:g} %): {e['checked']}/{e['drawn']} checked, "
            f"{e['effective']} effective"
        )
        for c in e["checks"]:
            state = "not checked" if c["checked_at"] is None else ("effective" if c["effective"] else "NOT effective")
            typer.echo(f"    {c['site']:<20} {state}")


@app.command("drill")
def recall_drill(
    lot: Annotated[str, typer.Argument(help="GTIN/LOT to run the drill on (traced forward as a real recall)")],
    reason: Annotated[str | None, typer.Option("--reason", help="Shown to consignees (default: mock recall)")] = None,
    severity: Annotated[str, typer.Option("--severity", help="Recall class to rehearse: I, II or III")] = "I",
    regime: Annotated[
        list[str] | None, typer.Option("--regime", help="us_107 or cn_measures; repeatable (default both)")
    ] = None,
    cn_level: Annotated[int | None, typer.Option("--cn-level", help="食品召回管理办法 level 1-3")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Run a mock recall on LOT: the same workflow (locate, start, notices with ack links, ledger,
    close), marked a drill everywhere: no chain notice, no scan banner, no consumer notice, no holds."""
    from cradletrace.recall import drill, genealogy, recalls

    with store_session(data_dir, database_url) as (_ws, s):
        r, scope = drill.start_drill(
            s,
            trace_lot=genealogy.parse_gtin_lot(lot, "lot"),
            by=_who(),
            clock=lambda: datetime.now(UTC),
            reason=reason,
            severity=severity,
            regimes=regime,
            cn_level=cn_level,
        )
        assert r.id is not None
        view = recalls.get_recall(s, r.id)
    if as_json:
        typer.echo(json.dumps({**view.to_json(), "scope": scope.to_json()}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"DRILL {r.id} started by {r.started_by}: {len(view.lots)} lots; notices say DRILL / 演练")
    typer.echo(f"  clock: {view.clock.text()}")
    typer.echo(
        f"  notices go with 'cradletrace recall notify' or the API's delivery thread; result: recall drill-report {r.id}"
    )


@app.command("drill-report")
def recall_drill_report(
    recall_id: Annotated[int, typer.Argument(help="Recall (drill) id")],
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """A drill's result for auditors: its timings and its percent accounted (at close)."""
    from cradletrace.recall import drill

    with store_session(data_dir, database_url) as (_ws, s):
        rep = drill.drill_report(s, recall_id, datetime.now(UTC))
    typer.echo(json.dumps(rep, ensure_ascii=False, indent=2) if as_json else drill.report_text(rep))


@app.command("checks")
def recall_checks(
    recall_id: Annotated[int, typer.Argument(help="Recall id")],
    level: Annotated[str, typer.Option("--level", help="21 CFR 7.42(b)(3) level: A, B, C, D or E")],
    percent: Annotated[float | None, typer.Option("--percent", help="Level B only: share of consignees")] = None,
    seed: Annotated[str | None, typer.Option("--seed", help="The draw's seed (default random; stored)")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Draw the consignee sites to check for effectiveness, at random with a recorded seed."""
    from cradletrace.recall import effectiveness

    with store_session(data_dir, database_url) as (_ws, s):
        out = effectiveness.plan_checks(
            s, recall_id, level=level, percent=percent, seed=seed, by=_who(), now=datetime.now(UTC)
        )
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"recall {recall_id}: level {out['level']} ({out['percent']:g} %), seed {out['seed']}")
    for c in out["checks"]:
        typer.echo(f"  check {c['site']}")


@app.command("check")
def recall_check(
    recall_id: Annotated[int, typer.Argument(help="Recall id")],
    site: Annotated[str, typer.Argument(help="A drawn consignee site (supplier id)")],
    reached: Annotated[bool, typer.Option("--reached/--not-reached", help="The site was reached")],
    received: Annotated[bool, typer.Option("--received/--not-received", help="It had the recall notice")],
    handled: Annotated[bool, typer.Option("--handled/--not-handled", help="Product handled as instructed")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record what an effectiveness check found at a drawn site."""
    from cradletrace.recall import effectiveness

    with store_session(data_dir, database_url) as (_ws, s):
        out = effectiveness.record_check(
            s,
            recall_id,
            site,
            reached=reached,
            notice_received=received,
            handled=handled,
            note=note,
            by=_who(),
            now=datetime.now(UTC),
        )
    typer.echo(f"recall {recall_id}: {out['checked']}/{out['drawn']} checked, {out['effective']} effective")


@app.command("milestone")
def recall_milestone(
    recall_id: Annotated[int, typer.Argument(help="Recall id")],
    name: Annotated[
        str,
        typer.Argument(help="fda_telephoned, fda_written_report, fda_status_report, cn_plan_reported or cn_announced"),
    ],
    at: Annotated[str | None, typer.Option("--at", help="When (ISO 8601 with offset; default now)")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record a regulatory step as done (e.g. FDA telephoned): the ledger shows it met or late."""
    from cradletrace.errors import Problem
    from cradletrace.recall import recalls

    with store_session(data_dir, database_url) as (_ws, s):
        when = None
        if at is not None:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise InvalidInputError(Problem("at", f"expected an ISO 8601 time, got {at!r}")) from None
        row = recalls.record_milestone(s, recall_id, name=name, at=when, note=note, by=_who(), now=datetime.now(UTC))
    typer.echo(f"recall {recall_id}: {row.name} at {row.at.isoformat()} recorded by {row.recorded_by}")

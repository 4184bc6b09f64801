"""The ``cradletrace`` command. Thin: parse options, call the core, print a few readable lines.

Heavy libraries (web3, eth-tester) load only inside the commands that need a chain.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from cradletrace.cli_epcis import app as epcis_app
from cradletrace.cli_dl import app as dl_app
from cradletrace.cli_chain import app as chain_app
from cradletrace.cli_db import app as db_app
from cradletrace.cli_product import app as product_app
from cradletrace.cliopts import DataDir, DbUrl, Limits, RpcUrl, chain_label, settings_from, open_workspace, fail, reported
from cradletrace.config import Settings
from cradletrace.errors import InvalidInputError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="cradletrace: signed supplier events, anchored on an EVM chain, verifiable by anyone.")
supplier_app = typer.Typer(no_args_is_help=True, help="Register suppliers, their certificates and keys.")
app.add_typer(supplier_app, name="supplier")
app.add_typer(epcis_app, name="epcis")
app.add_typer(dl_app, name="dl")
app.add_typer(chain_app, name="chain")
app.add_typer(db_app, name="db")
app.add_typer(product_app, name="product")


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
                typer.echo(f"warning: the contract recorded before ({ws.replaced_contract}) is not on this chain; "
                           "deployed a new one. Roots anchored to the old one cannot be verified here "
                           "('cradletrace audit' lists them).", err=True)


@supplier_app.command("add")
def supplier_add(
    name: Annotated[str, typer.Option(help="Supplier name")],
    role: Annotated[str, typer.Option(help="farm, plant, lab, logistics or brand")],
    cert: Annotated[Optional[list[str]], typer.Option(help="'SCHEME;NUMBER;ISSUER;YYYY-MM-DD[;optional]', repeatable")] = None,
    supplier_id: Annotated[Optional[str], typer.Option("--id", help="Supplier id (default: from the name)")] = None,
    official_lab: Annotated[bool, typer.Option("--official-lab", help="A lab designated for official control "
                                                                       "sampling: it may report on any lot")] = False,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Register a supplier and generate its Ed25519 key (private key file mode 0600)."""
    from cradletrace import products, suppliers

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        certs = [suppliers.CertificationIn.parse(c) for c in cert or []]
        if official_lab:  # before the key file is written
            products.check_official_lab(supplier_id or suppliers.slug(name), role)
        with ws.session() as s:
            sup, key, path = suppliers.add_supplier(s, settings.keys_dir, name, role, certs, supplier_id)
            if official_lab:
                products.set_official_lab(s, sup.id)
        typer.echo(f"supplier {sup.id} ({sup.role}{', official lab' if official_lab else ''}) registered with key {key.key_id}")
        typer.echo(f"private key: {path} (mode 0600; keep it with the supplier, never in the database)")


@supplier_app.command("list")
def supplier_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List suppliers with their keys and certificates."""
    from sqlmodel import select

    from cradletrace.store.models import Certification, Supplier, SupplierKey

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        for sup in s.exec(select(Supplier).order_by(Supplier.id)):
            typer.echo(f"{sup.id}  {sup.role:<9}  {sup.name}{'  (official lab)' if sup.official_lab else ''}")
            for k in s.exec(select(SupplierKey).where(SupplierKey.supplier_id == sup.id)):
                typer.echo(f"    key {k.key_id}  {'revoked ' + k.revoked_at.isoformat() if k.revoked_at else 'active'}")
            for c in s.exec(select(Certification).where(Certification.supplier_id == sup.id)):
                typer.echo(f"    cert {c.scheme} {c.number} ({c.issuer}) valid until {c.valid_until}{'' if c.required else ' (optional)'}")


@supplier_app.command("official-lab")
def supplier_official_lab(
    supplier_id: str,
    off: Annotated[bool, typer.Option("--off", help="Stop the designation")] = False,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Designate a lab for official control sampling (it may report on any lot), or --off."""
    from cradletrace import products

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        sup = products.set_official_lab(s, supplier_id, not off)
        typer.echo(f"{sup.id} is {'an' if sup.official_lab else 'no longer an'} official lab")


@supplier_app.command("rotate-key")
def supplier_rotate_key(supplier_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Give a supplier a new key; new events are signed with it."""
    from cradletrace import suppliers

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        key, path = suppliers.rotate_key(s, settings.keys_dir, supplier_id)
        typer.echo(f"new key {key.key_id} for {supplier_id}: {path}")


@supplier_app.command("register-key")
def supplier_register_key(supplier_id: str, public_key: Annotated[str, typer.Argument(help="Base64 of the raw 32-byte Ed25519 public key")],
                          data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Register a public key the supplier made itself (its private key never comes here)."""
    from cradletrace import suppliers

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        key = suppliers.register_public_key(s, supplier_id, public_key)
        typer.echo(f"key {key.key_id} registered for {supplier_id}; it signs with its own private key")


@supplier_app.command("revoke-key")
def supplier_revoke_key(key_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Revoke a key at once: it can sign no new events; events it signed still verify."""
    from cradletrace import suppliers

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        key = suppliers.revoke_key(s, key_id)
        typer.echo(f"key {key.key_id} of {key.supplier_id} revoked")


def _read(file: Path) -> bytes:
    return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()


@app.command()
def sign(
    file: Annotated[Path, typer.Argument(help="JSON file of bare events, or - for stdin")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of stdout")] = None,
    limits: Limits = None, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Sign bare events with their suppliers' key files (fills analyte limits from the limits table)."""
    from cradletrace import recording

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        items = recording.sign_items(recording.load_submission(_read(file)), recording.key_loader(s, settings.keys_dir), ws.limits)
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
    limits: Limits = None, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Record signed supplier events: all of them, or none if any is bad."""
    from cradletrace import recording

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        items = recording.load_submission(_read(file))
        if sign_:
            items = recording.sign_items(items, recording.key_loader(s, settings.keys_dir), ws.limits)
        rows = recording.record_items(s, items, datetime.now(timezone.utc), ws.limits)
        s.commit()
        for row in rows:
            extra = f"  {row.outcome.upper()}" if row.outcome else ""
            typer.echo(f"event {row.id}  {row.kind:<11} {row.gtin or ''}/{row.lot or row.ref or ''}  {row.digest[:16]}…{extra}")
        typer.echo(f"recorded {len(rows)} events; pending until the next 'cradletrace anchor'")


@app.command()
def status(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Counts: suppliers, events by kind, pending and anchored, and the last anchor."""
    from sqlmodel import col, func, select

    from cradletrace.store.models import AnchorBatch, EventRow, Supplier

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        typer.echo(f"store: {ws.engine.url.render_as_string(hide_password=True)}")
        typer.echo(f"suppliers: {s.exec(select(func.count()).select_from(Supplier)).one()}")
        for kind, n in s.exec(select(EventRow.kind, func.count()).group_by(EventRow.kind).order_by(EventRow.kind)):
            typer.echo(f"events {kind:<11} {n}")
        pending = s.exec(select(func.count()).select_from(EventRow).where(col(EventRow.anchor_id).is_(None))).one()
        typer.echo(f"pending (not yet anchored): {pending}")
        from cradletrace.anchoring import pending_age

        typer.echo(f"oldest pending event waited: {pending_age(s):.0f} s (not yet under a confirmed root)")
        last = s.exec(select(AnchorBatch).where(AnchorBatch.status == "confirmed").order_by(col(AnchorBatch.id).desc())).first()
        if last:
            typer.echo(f"last root: 0x{last.root[:16]}… {last.leaf_count} events, block {last.block_number}, {last.block_time}")
        stuck = s.exec(select(func.count()).select_from(AnchorBatch).where(AnchorBatch.status != "confirmed")).one()
        if stuck:
            typer.echo(f"roots prepared but not confirmed: {stuck} (the next 'cradletrace anchor' finishes them)")
        from cradletrace.leader import leader_lock

        typer.echo(f"anchoring leader: {leader_lock(ws.settings.store_url).holder()}")


@app.command()
def anchor(
    watch: Annotated[bool, typer.Option("--watch", help="Keep anchoring every --interval seconds")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between runs with --watch")] = 10.0,
    data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None,
) -> None:
    """Put all pending events under one Merkle root and record it on chain, then any recall notices.

    Only the worker holding the leader lock anchors; with --watch a worker that does not hold it
    waits and takes over when the leader stops (docs/operations.md)."""
    from cradletrace.cli_anchor import anchor_command

    anchor_command(settings_from(data_dir, database_url, rpc_url), watch, interval)


def _print_verdict(v) -> None:  # type: ignore[no-untyped-def]
    typer.echo(v.status)
    for r in v.reasons:
        typer.echo(f"  {r}")
    if v.root:
        where = "local development chain" if v.local_chain else "chain"
        typer.echo(f"  root 0x{v.root} on {where}, block {v.block_number}, tx {v.tx_hash}")


@app.command()
def verify(
    event: Annotated[str, typer.Argument(help="Event id or digest")],
    data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None,
) -> None:
    """Print VALID, INVALID (with the reasons) or PENDING for one event."""
    from cradletrace.verification import verify_event

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws, ws.session() as s:
        v = verify_event(s, ws.chain(), event)
        _print_verdict(v)
        if v.status != "VALID":
            raise typer.Exit(1 if v.status == "INVALID" else 3)


@app.command()
def audit(
    skip_signatures: Annotated[bool, typer.Option("--skip-signatures", help="Check hashes, proofs and roots only")] = False,
    data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None,
) -> None:
    """Re-verify every event (pending ones without a proof yet) and every root on chain; exit 1 if anything is wrong."""
    from cradletrace.verification import audit as run_audit, iter_bad

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws, ws.session() as s:
        report = run_audit(s, ws.chain(), check_signatures=not skip_signatures)
        for line in iter_bad(report):
            typer.echo(line)
        typer.echo(f"audit: {report.events_checked} events ({report.events_pending} pending: content and signature, "
                   f"no proof yet), {report.roots_checked} roots on chain checked; "
                   + ("all consistent" if report.ok else f"{len(report.bad_events)} bad events, {len(report.problems)} root problems"))
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def proof(
    event: Annotated[str, typer.Argument(help="Event id or digest")],
    data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None,
) -> None:
    """Print a proof bundle that verifies without our database (verify-bundle)."""
    from cradletrace.verification import export_bundle

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws, ws.session() as s:
        typer.echo(json.dumps(export_bundle(s, ws.chain(), event), ensure_ascii=False, indent=2))


@app.command("verify-bundle")
def verify_bundle_cmd(
    file: Annotated[Path, typer.Argument(help="Bundle from 'cradletrace proof', or - for stdin")],
    data_dir: DataDir = None, rpc_url: RpcUrl = None,
) -> None:
    """Check a proof bundle against the chain alone (embedded chain file or --rpc-url)."""
    from cradletrace.verification import read_bundle, verify_bundle_on

    settings = settings_from(data_dir, None, rpc_url)
    with reported():
        bundle = read_bundle(_read(file))
        v = verify_bundle_on(settings, bundle)
        _print_verdict(v)
        if not v.valid:
            raise typer.Exit(1)


@app.command()
def labels(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the product")],
    lot: Annotated[str, typer.Argument(help="Lot code, as its batch event recorded it")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many item codes to make")],
    supplier: Annotated[str, typer.Option("--supplier", help="Plant or brand commissioning the items; signs with its key file")],
    svg_dir: Annotated[Optional[Path], typer.Option("--svg-dir", help="New directory for one SVG per label (+ codes.csv)")] = None,
    pdf: Annotated[Optional[Path], typer.Option("--pdf", help="A4 PDF sheet of all labels")] = None,
    zip_: Annotated[Optional[Path], typer.Option("--zip", help="ZIP of PNG labels (+ codes.csv)")] = None,
    resolver: Annotated[Optional[str], typer.Option("--resolver", help="Host the codes point to [env CRADLETRACE_RESOLVER_HOST; default id.cradletrace.example]")] = None,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Commission COUNT serialized items of a lot and print one QR code (GS1 Digital Link) per item.

    Without --svg-dir, --pdf or --zip the codes' URIs are printed, one per line.
    """
    from cradletrace.labelprint import PdfSheet, PngZip, SvgDir
    from cradletrace.labels import Output, generate_codes, render

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
                codes = generate_codes(s, settings.keys_dir, gtin=gtin, lot=lot, count=count, supplier=supplier,
                                       resolver=resolver or settings.resolver_host)
        except BaseException:
            for out in outputs:
                out.abort()
            raise
        ids = [r.id for r in codes.events]
        typer.echo(f"commissioned {count} items of {gtin}/{lot} by {supplier} in {len(ids)} event"
                   f"{'s' if len(ids) > 1 else ''} ({', '.join(map(str, ids))}); pending until the next 'cradletrace anchor'",
                   err=not outputs)
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
    with Progress(TextColumn("labels"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  disable=total < 200 or not console.is_terminal) as bar:
        task = bar.add_task("labels", total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
def demo(data_dir: DataDir = None) -> None:
    """Run the whole story on a fresh data directory and print what happened."""
    from cradletrace.demo import run_demo

    settings = settings_from(data_dir or Path(".cradletrace-demo"), None, None)
    with reported():
        run_demo(settings, typer.echo)


# -- genealogy --------------------------------------------------------------------------

trace_app = typer.Typer(no_args_is_help=True, help="Trace a problem forward to items and sites, or an item back to its inputs.")
app.add_typer(trace_app, name="trace")
AsJson = Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON")]


def _lot_line(lot) -> str:  # type: ignore[no-untyped-def]
    return " -> ".join(f"{g}/{lo}" for g, lo in lot.path)


@trace_app.command("forward")
def trace_forward_cmd(
    lot: Annotated[Optional[str], typer.Option("--lot", help="Start from this lot: GTIN/LOT")] = None,
    supplier: Annotated[Optional[str], typer.Option("--supplier", help="Start from every lot of this supplier")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Start from a test report or cold-chain record (id or digest)")] = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Start from lots produced at this site (name), with --from/--to")] = None,
    date_from: Annotated[Optional[datetime], typer.Option("--from", formats=["%Y-%m-%d"], help="First production day (with --site)")] = None,
    date_to: Annotated[Optional[datetime], typer.Option("--to", formats=["%Y-%m-%d"], help="Last production day (with --site)")] = None,
    items: Annotated[int, typer.Option("--items", min=0, max=100_000, help="Also list the first N affected item serials")] = 0,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Every lot, item, shipment and site downstream of a lot, supplier, event or production window."""
    from cradletrace import genealogy

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        window = None
        if site is not None or date_from is not None or date_to is not None:
            if site is None or date_from is None or date_to is None:
                raise InvalidInputError("site/from/to: expected --site, --from and --to together")
            window = (site, date_from.date(), date_to.date())
        t = genealogy.trace_forward(s, lot=genealogy.parse_lot(lot) if lot is not None else None,
                                    supplier=supplier, event=event, site_window=window)
        serials = genealogy.affected_items(s, t.lot_ids, limit=items) if items else []
        if as_json:  # the same JSON as GET /api/v1/trace/forward
            typer.echo(json.dumps(genealogy.trace_json(t, serials if items else None), ensure_ascii=False, indent=2))
            return
        what = f"{t.start.kind} {t.start.value}" + (f" ({t.start.event_kind}, {t.start.outcome})" if t.start.event_kind else "")
        typer.echo(f"forward from {what}: {len(t.lots)} lots, {t.items} items, {len(t.shipments)} shipments, "
                   f"{len(t.sites)} sites now, {t.scanned_items} items scanned by consumers ({t.scans} scans)")
        for x in t.lots:
            typer.echo(f"  {x.gtin}/{x.lot}  {x.product}  [{x.supplier_id}]  items {x.items}, scanned {x.scanned_items}, "
                       f"shipments {x.shipments}{', now at ' + x.now_at if x.now_at else ''}")
            typer.echo(f"      path: {_lot_line(x)}")
        for sh in t.shipments:
            typer.echo(f"  shipment {sh.id}  {sh.gtin}/{sh.lot}  {sh.from_site} -> {sh.to_site}  {sh.shipped_at}")
        if t.sites:
            typer.echo("  sites now: " + "; ".join(t.sites))
        for serial, gtin, lotcode in serials:
            typer.echo(f"  item {serial}  {gtin}/{lotcode}")


@trace_app.command("backward")
def trace_backward_cmd(
    serial: Annotated[Optional[str], typer.Option("--serial", help="Start from this item serial")] = None,
    lot: Annotated[Optional[str], typer.Option("--lot", help="Start from this lot: GTIN/LOT")] = None,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Every input lot, supplier, test report and cold-chain record behind an item or a lot."""
    from cradletrace import genealogy

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        t = genealogy.trace_backward(s, serial=serial, lot=genealogy.parse_lot(lot) if lot is not None else None)
        if as_json:  # the same JSON as GET /api/v1/trace/backward
            typer.echo(json.dumps(genealogy.trace_json(t), ensure_ascii=False, indent=2))
            return
        typer.echo(f"backward from {t.start.kind} {t.start.value}: {len(t.lots)} lots, {len(t.suppliers)} suppliers, "
                   f"{len(t.test_reports)} test reports, {len(t.cold_chain)} cold-chain records")
        for x in t.lots:
            typer.echo(f"  {x.gtin}/{x.lot}  {x.product}  [{x.supplier_id}]")
            typer.echo(f"      path: {_lot_line(x)}")
        for sup in t.suppliers:
            typer.echo(f"  supplier {sup.id} ({sup.role})  {sup.name}")
        for r in t.test_reports:
            typer.echo(f"  test report {r.event_id}  {r.gtin}/{r.lot}  {r.lab}  {(r.verdict or '?').upper()}")
        for r in t.cold_chain:
            subject = f"shipment {r.shipment}" if r.shipment else f"lot {r.gtin}/{r.lot}"
            typer.echo(f"  cold chain {r.event_id}  {subject}  logger {r.logger}  {(r.verdict or '?').upper()}")


# -- holds and recalls -------------------------------------------------------------------

recall_app = typer.Typer(no_args_is_help=True, help="Start and list recalls (quality staff).")
app.add_typer(recall_app, name="recall")
hold_app = typer.Typer(no_args_is_help=True, help="Automatic holds after failed tests and excursions (recall proposals).")
app.add_typer(hold_app, name="hold")
__import__("cradletrace.cli_recall").cli_recall.register(recall_app, hold_app)  # hold release, recall close/report


@recall_app.command("start")
def recall_start(
    reason: Annotated[str, typer.Option("--reason", help="Why: shown on every affected pack's scan page")],
    severity: Annotated[str, typer.Option("--severity", help="Recall class: I, II or III")],
    lot: Annotated[Optional[list[str]], typer.Option("--lot", help="GTIN/LOT in scope, repeatable "
                                                     "(default: the forward trace of --trigger)")] = None,
    trigger: Annotated[Optional[str], typer.Option("--trigger", help="Triggering event (id or digest) or a short text")] = None,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Recall lots at once (scan pages warn immediately); the notice goes on chain with the next 'anchor'."""
    import getpass

    from cradletrace import genealogy, recalls

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        if lot:
            scope = [genealogy.parse_lot(x, "lot") for x in lot]
        elif trigger is not None and (trigger.isdigit() or len(trigger) == 64):
            t = genealogy.trace_forward(s, event=trigger)
            scope = [x.key for x in t.lots]  # located: by the automatic hold's trace if there was one, else now
        else:
            raise InvalidInputError("lot: expected --lot GTIN/LOT (repeatable) or an event --trigger to trace from")
        r = recalls.start_recall(s, lots=scope, reason=reason, severity=severity, trigger=trigger,
                                 started_by=f"cli:{getpass.getuser()}", now=datetime.now(timezone.utc))
        view = next(v for v in recalls.list_recalls(s) if v.recall.id == r.id)
        if as_json:
            typer.echo(json.dumps(view.to_json(), ensure_ascii=False, indent=2))
            return
        typer.echo(f"recall {r.id} started (class {r.severity}) by {r.started_by}: {len(view.lots)} lots; "
                   "scan pages show it now")
        for g, lo in view.lots:
            typer.echo(f"  {g}/{lo}")
        typer.echo(f"  clock: {view.clock.text()}")
        typer.echo(f"  notice 0x{r.notice_digest[:16]}… prepared; on chain with the next 'cradletrace anchor'")


@recall_app.command("list")
def recall_list(as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Every recall with its lots, notice status and clock."""
    from cradletrace import recalls

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        views = recalls.list_recalls(s)
        if as_json:
            typer.echo(json.dumps([v.to_json() for v in views], ensure_ascii=False, indent=2))
            return
        if not views:
            typer.echo("no recalls")
        for v in views:
            r = v.recall
            typer.echo(f"recall {r.id}  class {r.severity}  {r.reason}  by {r.started_by} at {r.started_at:%Y-%m-%d %H:%M:%S}  "
                       f"notice {r.notice_status}{' block ' + str(r.block_number) if r.block_number else ''}")
            typer.echo(f"    lots: {', '.join(f'{g}/{lo}' for g, lo in v.lots)}")
            typer.echo(f"    clock: {v.clock.text()}")


@hold_app.command("list")
def hold_list(
    proposals: Annotated[bool, typer.Option("--proposals", help="Only holds no recall covers yet")] = False,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Active holds; those without a recall are recall proposals."""
    from cradletrace import recalls

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
        holds = recalls.list_holds(s, only_proposals=proposals)
        if as_json:
            typer.echo(json.dumps([h.to_json() for h in holds], ensure_ascii=False, indent=2))
            return
        if not holds:
            typer.echo("no holds")
        for h in holds:
            state = f"recall {h.recall_id}" if h.recall_id else "PROPOSED recall (none started)"
            typer.echo(f"hold {h.id}  {h.gtin}/{h.lot}  {h.reason} (event {h.trigger_event_id})  {state}  "
                       f"clock: {h.clock.text()}")


# -- API keys and the HTTP server ------------------------------------------------------

apikey_app = typer.Typer(no_args_is_help=True, help="Keys for the HTTP API: operator, supplier or quality.")
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="operator, supplier or quality")],
    name: Annotated[str, typer.Option(help="Who holds the key, for the list")],
    supplier: Annotated[Optional[str], typer.Option("--supplier", help="The supplier a supplier key acts for")] = None,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from cradletrace import apikeys

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws:
        with ws.session() as s:
            row, secret = apikeys.create_key(s, name, role, supplier)
        typer.echo(f"API key {row.id} ({row.role}{' of ' + row.supplier_id if row.supplier_id else ''}, {row.name}); "
                   "the key, shown only now:")
        typer.echo(secret)


@apikey_app.command("list")
def apikey_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List API keys (never their secrets)."""
    from cradletrace import apikeys

    with reported(), open_workspace(settings_from(data_dir, database_url, None)) as ws, ws.session() as s:
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
    from cradletrace.store.models import Supplier
    from cradletrace.workspace import Workspace

    with Workspace(settings) as ws, ws.session() as s:
        made = [("operator", apikeys.create_key(s, "demo operator", "operator")[1]),
                ("quality", apikeys.create_key(s, "demo quality staff", "quality")[1])]
        for sid in s.exec(select(Supplier.id).order_by(col(Supplier.id))):
            made.append((f"supplier {sid}", apikeys.create_key(s, f"demo {sid}", "supplier", sid)[1]))
    return made


def _demo_scan_paths(settings: Settings) -> list[str]:
    from sqlmodel import select

    from cradletrace.core.labels import ItemCode
    from cradletrace.store.models import Item, Lot
    from cradletrace.workspace import Workspace

    with Workspace(settings) as ws, ws.session() as s:
        rows = s.exec(select(Item.gtin, Lot.lot, Item.serial).join(Lot, Lot.id == Item.lot_id).limit(3)).all()
    return [ItemCode(g, lot, serial).path for g, lot, serial in rows]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the API to the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    anchor_interval: Annotated[float, typer.Option(
        "--anchor-interval", min=0, help="Seconds between anchoring runs in this process; 0 runs none")] = 10.0,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes; more than 1 needs PostgreSQL and "
                                         "--rpc-url, and anchoring then runs in 'cradletrace anchor --watch'")] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo story into a fresh data directory "
                                       "(default ./.cradletrace-demo) and print API keys to try")] = False,
    data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None,
) -> None:
    """Run the HTTP API (and, in the same process, the anchoring worker)."""
    import logging

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from cradletrace.api.main import create_app
    from cradletrace.api.runtime import Runtime
    from cradletrace.api.serving import check_workers, run_workers

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
        typer.echo(f"keys: cradletrace apikey create --role operator|supplier|quality --name NAME --data-dir {settings.data_dir}")
    log_config = {**LOGGING_CONFIG, "loggers": {**LOGGING_CONFIG["loggers"], "cradletrace": {
        "handlers": ["default"], "level": logging.INFO, "propagate": False}}}
    if workers > 1:
        typer.echo(f"{workers} API workers; they do not anchor: run 'cradletrace anchor --watch' beside them")
        with reported():
            run_workers(settings, workers, host, port, log_config)
        return
    app_ = create_app(settings.model_copy(update={"anchor_interval": anchor_interval}))
    uvicorn.run(app_, host=host, port=port, log_config=log_config, server_header=False, proxy_headers=False,
                timeout_graceful_shutdown=settings.api_shutdown_grace)  # type: ignore[arg-type]  # a float works


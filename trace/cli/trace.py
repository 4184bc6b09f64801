"""``cradletrace trace forward|backward``: the genealogy on the command line, with the same JSON as
``GET /api/v1/trace/...``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cradletrace.cli.options import AsJson, DataDir, DbUrl, store_session
from cradletrace.errors import InvalidInputError

if TYPE_CHECKING:
    from cradletrace.recall.genealogy import TracedLot
    from cradletrace.recall.unittrace import UnitReach

app = typer.Typer(
    no_args_is_help=True, help="Trace a problem forward to items and sites, or an item back to its inputs."
)


def _lot_line(lot: TracedLot) -> str:
    return " -> ".join(f"{g}/{lo}" for g, lo in lot.path)


@app.command("forward")
def trace_forward_cmd(
    lot: Annotated[str | None, typer.Option("--lot", help="Start from this lot: GTIN/LOT")] = None,
    supplier: Annotated[str | None, typer.Option("--supplier", help="Start from every lot of this supplier")] = None,
    event: Annotated[
        str | None,
        typer.Option(
            "--event", help="Start from a test report or cold-chain record (id, digest or its first 8+ hex digits)"
        ),
    ] = None,
    site: Annotated[
        str | None, typer.Option("--site", help="Start from lots produced at this site (name), with --from/--to")
    ] = None,
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First production day (with --site)")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last production day (with --site)")
    ] = None,
    items: Annotated[
        int, typer.Option("--items", min=0, max=100_000, help="Also list the first N affected item serials")
    ] = 0,
    orders: Annotated[
        bool,
        typer.Option(
            "--orders",
            help="Also list the orders that sold affected cans, with buyer pseudonyms (what quality staff see)",
        ),
    ] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Every lot, item, shipment and site downstream of a lot, supplier, event or production window."""
    from cradletrace.recall import genealogy

    with store_session(data_dir, database_url) as (_ws, s):
        window = None
        if site is not None or date_from is not None or date_to is not None:
            if site is None or date_from is None or date_to is None:
                raise InvalidInputError("site/from/to: expected --site, --from and --to together")
            window = (site, date_from.date(), date_to.date())
        t = genealogy.trace_forward(
            s,
            lot=genealogy.parse_gtin_lot(lot) if lot is not None else None,
            supplier=supplier,
            event=event,
            site_window=window,
        )
        serials = genealogy.affected_items(s, t.lot_ids, limit=items) if items else []
        if as_json:  # the same JSON as GET /api/v1/trace/forward
            out = genealogy.trace_json(t, serials if items else None, orders=orders)
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        what = f"{t.start.kind} {t.start.value}" + (
            f" ({t.start.event_kind}, {t.start.outcome})" if t.start.event_kind else ""
        )
        typer.echo(
            f"forward from {what}: {len(t.lots)} lots, {t.items} items, {len(t.shipments)} shipments, "
            f"{len(t.sites)} sites now, {t.scanned_items} items scanned by consumers ({t.scans} scans)"
        )
        for x in t.lots:
            typer.echo(
                f"  {x.gtin}/{x.lot}  {x.product}  [{x.supplier_id}]  items {x.items}, scanned {x.scanned_items}, "
                f"shipments {x.shipments}{', now at ' + x.now_at if x.now_at else ''}"
            )
            typer.echo(f"      path: {_lot_line(x)}")
        for sh in t.shipments:
            typer.echo(f"  shipment {sh.id}  {sh.gtin}/{sh.lot}  {sh.from_site} -> {sh.to_site}  {sh.shipped_at}")
        if t.sites:
            typer.echo("  sites now: " + "; ".join(t.sites))
        _units_lines(t.units, orders)
        for serial, gtin, lotcode in serials:
            typer.echo(f"  item {serial}  {gtin}/{lotcode}")


def _units_lines(u: UnitReach, orders: bool) -> None:
    c = u.counts()
    typer.echo(
        f"  logistics: {c['packed_items']} cans packed, in {c['cases']} cases ({c['sold_cases']} sold) "
        f"on {c['pallets']} pallets; {c['sold_items']} cans sold in {c['orders']} orders"
    )
    for x in (*u.pallets, *u.cases):
        r = x.last_received
        where = (
            f"last received {r.at} at GLN {r.gln}{'/' + r.extension if r.extension else ''} ({r.name or r.supplier})"
            if r
            else "never received"
        )
        typer.echo(
            f"  {x.kind} {x.code}  {x.cans} cans{' on ' + x.parent if x.parent else ''}  {where}"
            f"{'  SOLD' if x.sold else ''}"
        )
    if orders:
        for o in u.orders:
            typer.echo(f"  order {o.order}  {o.seller}  {o.sold_at}  {o.items} cans  buyers {', '.join(o.buyers)}")


@app.command("backward")
def trace_backward_cmd(
    serial: Annotated[str | None, typer.Option("--serial", help="Start from this item serial")] = None,
    lot: Annotated[str | None, typer.Option("--lot", help="Start from this lot: GTIN/LOT")] = None,
    case: Annotated[
        str | None, typer.Option("--case", help="Start from a case: GTIN/SERIAL or its Digital Link URI")
    ] = None,
    sscc: Annotated[
        str | None, typer.Option("--sscc", help="Start from a pallet: its SSCC (18 digits) or Digital Link URI")
    ] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Every input lot, supplier, test report and cold-chain record behind an item, a lot, or the cans
    of a case or pallet."""
    from cradletrace.recall import genealogy, unittrace

    with store_session(data_dir, database_url) as (_ws, s):
        given = [k for k, v in (("serial", serial), ("lot", lot), ("case", case), ("sscc", sscc)) if v is not None]
        if len(given) != 1:
            raise InvalidInputError(
                f"serial/lot/case/sscc: expected exactly one of --serial, --lot, --case and --sscc, got {len(given)}"
            )
        unit = unittrace.unit_code(case or sscc or "", given[0], given[0]) if case or sscc else None
        t = genealogy.trace_backward(
            s,
            serial=serial,
            lot=genealogy.parse_gtin_lot(lot) if lot is not None else None,
            unit=unit,
            unit_field=given[0],
        )
        if as_json:  # the same JSON as GET /api/v1/trace/backward
            typer.echo(json.dumps(genealogy.trace_json(t), ensure_ascii=False, indent=2))
            return
        typer.echo(
            f"backward from {t.start.kind} {t.start.value}: {len(t.lots)} lots, {len(t.suppliers)} suppliers, "
            f"{len(t.test_reports)} test reports, {len(t.cold_chain)} cold-chain records"
        )
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

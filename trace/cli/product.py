"""``cradletrace product ...``: register GTINs to their owners and name who may speak for them
(makers, labs, carriers); the rules that use them are in custody.py. Operator commands: the
command line acts on the store directly, as the operator."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, store_session

app = typer.Typer(
    no_args_is_help=True, help="Register products (GTINs) to their owners and name their makers, labs and carriers."
)

GtinArg = Annotated[str, typer.Argument(help="The product's GTIN (14 digits)")]
SupplierArg = Annotated[str, typer.Argument(help="Supplier id")]
PartyRoleOpt = Annotated[str, typer.Option("--as", help="maker, lab or carrier")]
LotOpt = Annotated[str | None, typer.Option("--lot", help="Only this lot (default: every lot of the product)")]


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def _scope(lot: str | None) -> str:
    return f"lot {lot}" if lot else "every lot"


@app.command("add")
def product_add(
    gtin: GtinArg,
    owner: Annotated[str, typer.Option(help="The supplier that owns the GTIN")],
    name: Annotated[str, typer.Option(help="Product name")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Register a GTIN to its owner: only the owner, or a maker it names, makes lots of it."""
    from cradletrace import products

    with store_session(data_dir, database_url) as (_ws, s):
        p = products.add_product(s, gtin, owner, name, datetime.now(UTC))
        typer.echo(f"product {p.gtin} ({p.name}) registered to {p.owner_id}")


@app.command("list")
def product_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List products with their owners and current parties."""
    from cradletrace import products

    with store_session(data_dir, database_url) as (_ws, s):
        for view in products.list_products(s):
            p = view.product
            typer.echo(f"{p.gtin}  owner {p.owner_id}  {p.name}")
            for party in view.parties:
                typer.echo(f"    {party.role:<7}  {party.supplier_id}  {_scope(party.lot)}")


@app.command("name")
def product_name(
    gtin: GtinArg,
    supplier_id: SupplierArg,
    role: PartyRoleOpt,
    lot: LotOpt = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Name a supplier as maker, lab or carrier of the product (of every lot, or of --lot)."""
    from cradletrace import products

    with store_session(data_dir, database_url) as (_ws, s):
        party = products.name_party(s, gtin, supplier_id, role, lot, _who(), datetime.now(UTC))
        typer.echo(f"{party.supplier_id} is {party.role} of {party.gtin} ({_scope(party.lot)})")


@app.command("withdraw")
def product_withdraw(
    gtin: GtinArg,
    supplier_id: SupplierArg,
    role: PartyRoleOpt,
    lot: LotOpt = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Withdraw a party from now on; what it recorded before stays recorded."""
    from cradletrace import products

    with store_session(data_dir, database_url) as (_ws, s):
        party = products.withdraw_party(s, gtin, supplier_id, role, lot, _who(), datetime.now(UTC))
        typer.echo(f"{party.supplier_id} is no longer {party.role} of {party.gtin} ({_scope(party.lot)})")

"""``cradletrace supplier``: register suppliers, their certificates and keys (operator commands)."""

from __future__ import annotations

from typing import Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, open_workspace, reported, settings_from, store_session

app = typer.Typer(no_args_is_help=True, help="Register suppliers, their certificates and keys.")


@app.command("add")
def supplier_add(
    name: Annotated[str, typer.Option(help="Supplier name")],
    role: Annotated[str, typer.Option(help="farm, plant, lab, logistics or brand")],
    cert: Annotated[
        list[str] | None, typer.Option(help="'SCHEME;NUMBER;ISSUER;YYYY-MM-DD[;optional]', repeatable")
    ] = None,
    supplier_id: Annotated[str | None, typer.Option("--id", help="Supplier id (default: from the name)")] = None,
    official_lab: Annotated[
        bool,
        typer.Option("--official-lab", help="A lab designated for official control sampling: it may report on any lot"),
    ] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
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
        typer.echo(
            f"supplier {sup.id} ({sup.role}{', official lab' if official_lab else ''}) registered with key {key.key_id}"
        )
        typer.echo(f"private key: {path} (mode 0600; keep it with the supplier, never in the database)")


@app.command("list")
def supplier_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List suppliers with their keys and certificates (not the key log's own signer)."""
    from sqlmodel import select

    from cradletrace.core.events import REGISTRY_ROLE
    from cradletrace.store.models import Certification, Supplier, SupplierKey

    with store_session(data_dir, database_url) as (_ws, s):
        for sup in s.exec(select(Supplier).where(Supplier.role != REGISTRY_ROLE).order_by(Supplier.id)):
            typer.echo(f"{sup.id}  {sup.role:<9}  {sup.name}{'  (official lab)' if sup.official_lab else ''}")
            for k in s.exec(select(SupplierKey).where(SupplierKey.supplier_id == sup.id)):
                typer.echo(f"    key {k.key_id}  {'revoked ' + k.revoked_at.isoformat() if k.revoked_at else 'active'}")
            for c in s.exec(select(Certification).where(Certification.supplier_id == sup.id)):
                typer.echo(
                    f"    cert {c.scheme} {c.number} ({c.issuer}) valid until {c.valid_until}{'' if c.required else ' (optional)'}"
                )


@app.command("official-lab")
def supplier_official_lab(
    supplier_id: str,
    off: Annotated[bool, typer.Option("--off", help="Stop the designation")] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Designate a lab for official control sampling (it may report on any lot), or --off."""
    from cradletrace import products

    with store_session(data_dir, database_url) as (_ws, s):
        sup = products.set_official_lab(s, supplier_id, not off)
        typer.echo(f"{sup.id} is {'an' if sup.official_lab else 'no longer an'} official lab")


@app.command("rotate-key")
def supplier_rotate_key(supplier_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Give a supplier a new key; new events are signed with it."""
    from cradletrace import suppliers

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        key, path = suppliers.rotate_key(s, settings.keys_dir, supplier_id)
        typer.echo(f"new key {key.key_id} for {supplier_id}: {path}")


@app.command("register-key")
def supplier_register_key(
    supplier_id: str,
    public_key: Annotated[str, typer.Argument(help="Base64 of the raw 32-byte Ed25519 public key")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Register a public key the supplier made itself (its private key never comes here)."""
    from cradletrace import suppliers

    with store_session(data_dir, database_url) as (ws, s):
        key = suppliers.register_public_key(s, ws.settings.keys_dir, supplier_id, public_key)
        typer.echo(f"key {key.key_id} registered for {supplier_id}; it signs with its own private key")


@app.command("revoke-key")
def supplier_revoke_key(key_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Revoke a key at once: it can sign no new events; events it signed still verify."""
    from cradletrace import suppliers

    with store_session(data_dir, database_url) as (ws, s):
        key = suppliers.revoke_key(s, ws.settings.keys_dir, key_id)
        typer.echo(f"key {key.key_id} of {key.supplier_id} revoked")

"""``cradletrace partner``: where a consignee site's recall notices go (e-mail, signed webhook).
The addresses and the webhook secret are sealed in the store (trace/recall/partners.py)."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from cradletrace.cli.options import AsJson, DataDir, DbUrl, settings_from, store_session
from cradletrace.cli.recall import _sealer

app = typer.Typer(no_args_is_help=True, help="Partner contacts for recall notices (operator).")

Supplier = Annotated[str, typer.Argument(help="Supplier id of the consignee site")]


@app.command("set")
def partner_set(
    supplier_id: Supplier,
    email: Annotated[list[str] | None, typer.Option("--email", help="Address for notices, repeatable")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="https URL notices are POSTed to")] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="Webhook HMAC secret (default: one is made and shown once)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Set (replace) a supplier's contact."""
    from cradletrace.recall import partners

    settings = settings_from(data_dir, database_url, None)
    with store_session(data_dir, database_url) as (_ws, s):
        contact, made = partners.set_contact(
            s,
            _sealer(settings),
            supplier_id,
            emails=email or [],
            webhook_url=webhook,
            webhook_secret=secret,
            by=f"cli:{getpass.getuser()}",
            now=datetime.now(UTC),
        )
    typer.echo(
        f"contact of {supplier_id}: {', '.join(contact.emails) or 'no e-mail'}; webhook {contact.webhook_url or '-'}"
    )
    if made:
        typer.echo(f"webhook secret (shown once; give it to the partner to check signatures): {made}")


@app.command("show")
def partner_show(
    supplier_id: Supplier, as_json: AsJson = False, data_dir: DataDir = None, database_url: DbUrl = None
) -> None:
    """A supplier's contact (never the secret)."""
    from cradletrace.recall import partners

    settings = settings_from(data_dir, database_url, None)
    with store_session(data_dir, database_url) as (_ws, s):
        out = partners.get_contact(s, _sealer(settings), supplier_id).to_json()
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2) if as_json else f"{supplier_id}: {out}")


@app.command("remove")
def partner_remove(supplier_id: Supplier, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Forget a supplier's contact."""
    from cradletrace.recall import partners

    with store_session(data_dir, database_url) as (_ws, s):
        partners.remove_contact(s, supplier_id)
    typer.echo(f"contact of {supplier_id} removed")

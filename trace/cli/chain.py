"""``cradletrace chain``: the anchoring account (address, funds, nonces) and the contract's roles."""

from __future__ import annotations

from typing import Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, RpcUrl, chain_label, open_workspace, reported, settings_from

app = typer.Typer(no_args_is_help=True, help="The anchoring account and who may anchor (contract roles).")
Role = Annotated[str, typer.Option("--role", help="anchorer, recaller or admin")]
Address = Annotated[str, typer.Argument(help="0x… account address")]


@app.command("account")
def account_cmd(data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None) -> None:
    """Show the account that signs anchors: address, balance, nonces and roles (fund it before it runs dry)."""
    from cradletrace.chain.roles import account

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws:
        chain = ws.chain()
        acc = account(chain)
        typer.echo(chain_label(chain))
        typer.echo(
            f"account {acc.address}: balance {acc.balance_wei / 10**18:.6f} (native coin), "
            f"roles {', '.join(acc.roles) or 'none'}"
        )
        waiting = acc.pending_nonce - acc.next_nonce
        typer.echo(f"nonce {acc.next_nonce}" + (f"; {waiting} transactions waiting in the pool" if waiting else ""))


@app.command("roles")
def roles_cmd(address: Address, data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None) -> None:
    """Show which of the contract's roles ADDRESS holds."""
    from cradletrace.chain.roles import roles_of

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws:
        typer.echo(f"{address}: {', '.join(roles_of(ws.chain(), address)) or 'no roles'}")


def _change(grant: bool, role: str, address: str, data_dir: DataDir, database_url: DbUrl, rpc_url: RpcUrl) -> None:
    from cradletrace.chain.roles import change_role

    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws:
        tx, block, _ = change_role(ws.chain(), grant, role, address)
        typer.echo(
            f"{'granted' if grant else 'revoked'} {role} {'to' if grant else 'from'} {address}: block {block} tx {tx}"
        )


@app.command("grant")
def grant_cmd(
    address: Address, role: Role, data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None
) -> None:
    """Give ADDRESS a role (signed by the current anchoring account, which must be admin)."""
    _change(True, role, address, data_dir, database_url, rpc_url)


@app.command("revoke")
def revoke_cmd(
    address: Address, role: Role, data_dir: DataDir = None, database_url: DbUrl = None, rpc_url: RpcUrl = None
) -> None:
    """Take a role from ADDRESS (e.g. the old anchor key after a rotation)."""
    _change(False, role, address, data_dir, database_url, rpc_url)

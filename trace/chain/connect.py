"""Opening the configured chain: the embedded EVM file, or a JSON-RPC node by URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cradletrace.config import Settings
from cradletrace.errors import ConfigError

if TYPE_CHECKING:
    from web3 import Web3

    from cradletrace.chain.web3anchor import Web3Anchor


@dataclass
class Connection:
    w3: Web3
    sender: str
    private_key: str | None
    where: str
    local: bool
    close: Callable[[], None]


def connect(settings: Settings) -> Connection:
    """Connect to the chain the settings name; the embedded one is opened (and locked) here."""
    if settings.rpc_url is None:
        from cradletrace.chain.embedded import open_embedded_chain

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        emb = open_embedded_chain(settings.chain_file)
        return Connection(emb.w3, emb.accounts[0], None, f"embedded chain {settings.chain_file}", True, emb.close)
    from web3 import HTTPProvider, Web3

    from cradletrace.chain.web3anchor import translated

    where = settings.rpc_url
    w3 = Web3(HTTPProvider(where, request_kwargs={"timeout": settings.rpc_timeout}))
    if settings.anchor_key:
        sender = w3.eth.account.from_key(settings.anchor_key).address
    else:
        with translated("list node accounts", where):
            accounts = w3.eth.accounts
        if not accounts:
            raise ConfigError(f"chain at {where} has no unlocked account; set CRADLETRACE_ANCHOR_KEY")
        sender = accounts[0]
    return Connection(w3, sender, settings.anchor_key, where, False, lambda: None)


def anchor_at(settings: Settings, chain_id: int, address: str, deploy_block: int = 0) -> Web3Anchor:
    """The contract at ``address``, refusing a chain whose id is not ``chain_id``."""
    from cradletrace.chain.web3anchor import Web3Anchor, has_code

    conn = connect(settings)
    try:
        anchor = Web3Anchor(conn.w3, address, conn.sender, private_key=conn.private_key, local=conn.local,
                            where=conn.where, deploy_block=deploy_block, on_close=conn.close,
                            receipt_timeout=max(settings.rpc_timeout, 10.0))
        if anchor.chain_id != chain_id:
            raise ConfigError(f"expected chain id {chain_id}, but {conn.where} is chain id {anchor.chain_id}")
        if not has_code(conn.w3, address, conn.where):
            raise ConfigError(f"expected the anchor contract at {address} on {conn.where}, found no code there")
    except BaseException:
        conn.close()
        raise
    return anchor

"""Opening the configured chain: the embedded EVM file, or a JSON-RPC node by URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cradletrace.config import Settings
from cradletrace.errors import ConfigError

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import HTTPProvider, Web3

    from cradletrace.chain.web3anchor import Web3Anchor


@dataclass
class Connection:
    w3: Web3
    sender: ChecksumAddress
    private_key: str | None
    where: str
    local: bool
    close: Callable[[], None]


def connect(settings: Settings) -> Connection:
    """Connect to the chain the settings name; the embedded one is opened (and locked) here."""
    if settings.rpc_url is None:
        from cradletrace.chain.embedded import open_embedded_chain

        emb = open_embedded_chain(settings.chain_file)
        return Connection(emb.w3, emb.accounts[0], None, f"embedded chain {settings.chain_file}", True, emb.close)
    from web3 import Web3

    from cradletrace.chain.web3anchor import translated

    where = settings.rpc_url
    w3 = Web3(http_provider(settings, where))
    if settings.anchor_key:
        sender = w3.eth.account.from_key(settings.anchor_key).address
    else:
        with translated("list node accounts", where):
            accounts = w3.eth.accounts
        if not accounts:
            raise ConfigError(f"chain at {where} has no unlocked account; set CRADLETRACE_ANCHOR_KEY")
        sender = accounts[0]
    return Connection(w3, sender, settings.anchor_key, where, False, lambda: None)


def http_provider(settings: Settings, url: str) -> HTTPProvider:
    """A JSON-RPC provider that retries with exponential backoff when the node does not answer.

    web3's retry covers reads; raw-transaction sends are retried too, since a signed
    transaction sent twice is the same transaction (the node answers "already known", which
    Web3Anchor takes as success). ``eth_sendTransaction`` (the node signs) is not retried."""
    import requests
    from web3 import HTTPProvider
    from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration

    retry = ExceptionRetryConfiguration(
        errors=(ConnectionError, requests.ConnectionError, requests.HTTPError, requests.Timeout),
        retries=settings.rpc_retries,
        backoff_factor=settings.rpc_backoff,
        method_allowlist=[*REQUEST_RETRY_ALLOWLIST, "eth_sendRawTransaction"],
    )
    return HTTPProvider(url, request_kwargs={"timeout": settings.rpc_timeout}, exception_retry_configuration=retry)


def anchor_on(conn: Connection, settings: Settings, address: str, deploy_block: int) -> Web3Anchor:
    """The contract at ``address`` over ``conn``, which it closes when it is closed."""
    from cradletrace.chain.web3anchor import Web3Anchor

    return Web3Anchor(
        conn.w3,
        address,
        conn.sender,
        private_key=conn.private_key,
        local=conn.local,
        where=conn.where,
        deploy_block=deploy_block,
        on_close=conn.close,
        receipt_timeout=settings.anchor_receipt_timeout or max(settings.rpc_timeout, 10.0),
    )


def anchor_at(settings: Settings, chain_id: int, address: str, deploy_block: int = 0) -> Web3Anchor | str:
    """The contract at ``address`` on a chain whose id is ``chain_id``, or why the chain the settings
    name is not that (another chain id, no code at the address): a bundle's verdict says so."""
    from cradletrace.chain.web3anchor import has_code

    conn = connect(settings)
    try:
        anchor = anchor_on(conn, settings, address, deploy_block)
        if anchor.chain_id != chain_id:
            conn.close()
            return f"chain wrong: expected chain id {chain_id} (the bundle's), but {conn.where} is chain id {anchor.chain_id}"
        if not has_code(conn.w3, address, conn.where):
            conn.close()
            return f"contract missing: expected the anchor contract at {address} on {conn.where}, found no code there"
    except BaseException:
        conn.close()
        raise
    return anchor

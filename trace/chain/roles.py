"""Who may anchor: the contract's roles, read and changed with the anchoring account.

TraceAnchor uses OpenZeppelin AccessControl: the deployer holds ``DEFAULT_ADMIN_ROLE``,
``ANCHORER_ROLE`` (roots) and ``RECALLER_ROLE`` (recall notices). Rotating the anchor key is
grant (new address), switch ``CRADLETRACE_ANCHOR_KEY``, revoke (old address); see
docs/operations.md. Every change is a transaction signed by the current account, which must
hold the admin role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cradletrace.chain.web3anchor import Web3Anchor, translated
from cradletrace.core.merkle import keccak256
from cradletrace.errors import ChainUnavailableError, ConfigError

CHAIN_ROLES: dict[str, bytes] = {
    "admin": bytes(32),
    "anchorer": keccak256(b"ANCHORER_ROLE"),
    "recaller": keccak256(b"RECALLER_ROLE"),
}


@dataclass(frozen=True)
class Account:
    """The anchoring account as the chain sees it."""

    address: str
    balance_wei: int
    next_nonce: int
    pending_nonce: int
    roles: tuple[str, ...]


def role_id(name: str) -> bytes:
    try:
        return CHAIN_ROLES[name]
    except KeyError:
        raise ConfigError(f"role: expected one of {', '.join(CHAIN_ROLES)}, got {name!r}") from None


def roles_of(chain: Web3Anchor, address: str) -> tuple[str, ...]:
    with translated(f"read the roles of {address}", chain.where):
        who = chain.w3.to_checksum_address(address)
        return tuple(n for n, r in CHAIN_ROLES.items() if chain.contract.functions.hasRole(r, who).call())


def account(chain: Web3Anchor) -> Account:
    """Address, balance, nonces (a gap between them: transactions waiting in the pool) and roles."""
    with translated("read the anchoring account", chain.where):
        eth = chain.w3.eth
        sender = chain.w3.to_checksum_address(chain.sender)
        return Account(
            sender,
            int(eth.get_balance(sender)),
            int(eth.get_transaction_count(sender, "latest")),
            int(eth.get_transaction_count(sender, "pending")),
            roles_of(chain, sender),
        )


def change_role(chain: Web3Anchor, grant: bool, role: str, address: str) -> tuple[str, int, datetime]:
    """grantRole / revokeRole; returns (tx hash, block, block time) once mined."""
    rid = role_id(role)
    with translated("check the address", chain.where):
        who = chain.w3.to_checksum_address(address)
    fn = (chain.contract.functions.grantRole if grant else chain.contract.functions.revokeRole)(rid, who)
    what = f"{'grant' if grant else 'revoke'} {role} {'to' if grant else 'from'} {who}"
    tx_hash = chain.send(fn, what)
    receipt = chain.wait(tx_hash)
    if receipt is None:
        raise ChainUnavailableError(
            f"{what}: transaction {tx_hash} not mined yet; check again with 'cradletrace chain roles'"
        )
    return receipt.tx_hash, receipt.block_number, receipt.block_time

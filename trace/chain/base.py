"""What the rest of cradletrace needs from a chain, and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cradletrace.chain.rpcview import ReadCall


@dataclass(frozen=True)
class OnChainRoot:
    """A root as the contract holds it."""

    root: bytes
    leaf_count: int
    block_number: int
    block_time: datetime
    submitter: str
    tx_hash: str | None = None


@dataclass(frozen=True)
class OnChainNotice:
    """A recall notice as the contract holds it."""

    lot_ref: bytes
    notice_digest: bytes
    block_number: int
    block_time: datetime
    submitter: str
    tx_hash: str | None = None


@dataclass(frozen=True)
class TxReceipt:
    tx_hash: str
    block_number: int
    block_time: datetime


class Anchor(Protocol):
    """An anchor registry on some chain: roots of event batches and recall notices.

    The one seam to the chain: everything outside ``cradletrace.chain`` (anchoring, verification,
    recall notices, the API and the CLI) types against this and uses nothing else of the object
    behind it, so a second chain implementation needs only these members.
    """

    chain_id: int
    contract_address: str
    local: bool  # True for the embedded development chain
    where: str  # where the chain is (an RPC URL or "embedded chain"), for messages

    def anchor(self, root: bytes, leaf_count: int) -> TxReceipt: ...

    def send_anchor(
        self,
        root: bytes,
        leaf_count: int,
        *,
        replacing: str | None = None,
        nonce: int | None = None,
        on_signed: Callable[[str, int], None] | None = None,
    ) -> str: ...

    def wait(self, tx_hash: str, timeout: float | None = None) -> TxReceipt | None: ...

    def tx_state(self, tx_hash: str) -> str: ...

    def nonces(self) -> tuple[int, int]: ...

    def block_number(self) -> int: ...

    def tx_of(self, root: bytes, block: int | None = None) -> str | None: ...

    def lookup(self, root: bytes) -> OnChainRoot | None: ...

    def roots(self) -> list[OnChainRoot]: ...

    def verify_leaf(self, root: bytes, digest: bytes, proof: list[bytes]) -> bool: ...

    def record_notice(self, lot_ref: bytes, notice_digest: bytes) -> TxReceipt: ...

    def lookup_notice(self, notice_digest: bytes) -> OnChainNotice | None: ...

    def read_rpc(self, call: ReadCall) -> object: ...

    def close(self) -> None: ...

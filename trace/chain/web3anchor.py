"""The anchor registry through web3.py: the same code for the embedded EVM and any JSON-RPC node.

Every library error is translated here, so the rest of cradletrace sees only ChainError,
ChainUnavailableError and ChainRevertedError (with the contract's custom error name): eth-tester
raises TransactionFailed with raw revert data, Hardhat and anvil ContractCustomError with
``data``, older nodes ContractLogicError.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cradletrace.chain.base import OnChainNotice, OnChainRoot, TxReceipt
from cradletrace.core.merkle import keccak256
from cradletrace.errors import ChainError, ChainRevertedError, ChainUnavailableError

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress, HexStr
    from web3 import Web3

    from cradletrace.chain.rpcview import ReadCall

DEPLOY_GAS = 3_000_000
#: Gas = estimate x GAS_MARGIN: an estimate holds for the state it ran on, and a root's storage
#: costs the same whatever the state, so a quarter more covers a changed warm/cold access.
GAS_MARGIN = 1.25
#: A replacement pays at least this much more than the transaction it replaces (geth refuses less
#: than +10 %, anvil and Hardhat any increase).
FEE_BUMP = 1.125
TX_UNKNOWN, TX_PENDING, TX_MINED = "unknown", "pending", "mined"
T = TypeVar("T")


@cache
def artifact() -> dict[str, Any]:
    """The committed ABI and bytecode of TraceAnchor (compiled by scripts/compile-contracts.cjs)."""
    text = resources.files("cradletrace").joinpath("contracts/TraceAnchor.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _error_names() -> dict[bytes, str]:
    names = {}
    for item in artifact()["abi"]:
        if item["type"] == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            names[keccak256(sig.encode())[:4]] = item["name"]
    names[keccak256(b"Error(string)")[:4]] = "Error"
    names[keccak256(b"Panic(uint256)")[:4]] = "Panic"
    return names


def _revert_data(exc: BaseException) -> bytes:
    data = getattr(exc, "data", None)
    if data is None and exc.args:
        data = exc.args[0]
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("execution reverted: b"):
        # web3's EthereumTesterProvider re-raises eth-tester's raw revert bytes as their repr.
        try:
            data = ast.literal_eval(data.removeprefix("execution reverted: "))
        except (ValueError, SyntaxError):
            return b""
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return data if isinstance(data, bytes) else b""


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests
    from web3.exceptions import ProviderConnectionError, RequestTimedOut, TimeExhausted

    return (
        requests.RequestException,
        ProviderConnectionError,
        RequestTimedOut,
        TimeExhausted,
        ConnectionError,
        TimeoutError,
    )


def _revert_errors() -> tuple[type[BaseException], ...]:
    from web3.exceptions import ContractLogicError

    errors: list[type[BaseException]] = [ContractLogicError]
    try:
        from eth_tester.exceptions import TransactionFailed

        errors.append(TransactionFailed)
    except ImportError:  # pragma: no cover - eth-tester is a dependency
        pass
    return tuple(errors)


@contextmanager
def translated(what: str, where: str) -> Iterator[None]:
    """Run a chain call, turning library errors into cradletrace's ChainError family."""
    from web3.exceptions import Web3Exception

    try:
        yield
    except ChainError:
        raise
    except _revert_errors() as exc:
        data = _revert_data(exc)
        name = _error_names().get(data[:4], "") if data else ""
        raise ChainRevertedError(f"{what}: the contract refused ({name or str(exc)[:120]})", reason=name) from None
    except _connection_errors() as exc:
        raise ChainUnavailableError(
            f"{what}: chain at {where} did not answer ({type(exc).__name__}: {str(exc)[:160]})"
        ) from None
    except (Web3Exception, ValueError) as exc:
        text = str(exc)
        if "revert" in text.lower():  # Hardhat 3 reports some reverts as Web3RPCError code 3
            name = next((n for n in _error_names().values() if n in text), "")
            raise ChainRevertedError(f"{what}: the contract refused ({name or text[:120]})", reason=name) from None
        raise ChainError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from None


def _hex(tx_hash: Any) -> str:
    return "0x" + bytes(tx_hash).hex()


def _tx(tx_hash: str) -> HexStr:
    """A transaction hash as web3 takes it: a ``_hex`` string under web3's HexStr type (no conversion)."""
    return cast("HexStr", tx_hash)


def _time(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class Web3Anchor:
    """TraceAnchor at ``address`` on the chain behind ``w3``; transactions come from ``sender``."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        sender: ChecksumAddress,
        *,
        private_key: str | None = None,
        local: bool = False,
        where: str = "embedded chain",
        deploy_block: int = 0,
        on_close: Callable[[], None] | None = None,
        receipt_timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self.where = where
        self.local = local
        self.sender = sender
        self.deploy_block = deploy_block
        self._private_key = private_key
        self._on_close = on_close
        self._timeout = receipt_timeout
        with translated("connect", where):
            self.chain_id: int = w3.eth.chain_id
            self.contract_address: str = w3.to_checksum_address(address)
            self.contract = w3.eth.contract(address=self.contract_address, abi=artifact()["abi"])

    # -- sending: nonce, gas, fees, broadcast, receipt ---------------------------------------

    def send(
        self,
        fn: Any,
        what: str,
        *,
        replacing: str | None = None,
        nonce: int | None = None,
        on_signed: Callable[[str, int], None] | None = None,
    ) -> str:
        """Broadcast a call of contract function ``fn``; returns its hash without waiting.

        Nonce: the nonce of the transaction ``replacing`` (stuck in the pool: same nonce, at least
        FEE_BUMP times its fees, so one replaces the other), else ``nonce`` (an earlier attempt
        at it was never broadcast or was dropped), else the account's pending nonce. Gas: the
        node's estimate times GAS_MARGIN; a call the contract would refuse fails in the estimate,
        before any fee is paid. ``on_signed(hash, nonce)`` runs before the broadcast when we sign
        (so the caller can store both first), after it when the node signs (an unlocked
        development account).
        """
        with translated(what, self.where):
            params: dict[str, Any] = {"from": self.sender}
            params["gas"] = math.ceil(int(fn.estimate_gas(params)) * GAS_MARGIN)
            if replacing:
                old = self.w3.eth.get_transaction(_tx(replacing))
                params["nonce"] = int(old["nonce"])
                params.update(self._bumped_fees(old))
            elif nonce is not None:
                params["nonce"] = nonce
            else:
                params["nonce"] = self.w3.eth.get_transaction_count(self.sender, "pending")
            tx = fn.build_transaction(params)
            signed = self.w3.eth.account.sign_transaction(tx, self._private_key) if self._private_key else None
        if signed is None:
            with translated(what, self.where):
                tx_hash = _hex(self.w3.eth.send_transaction(tx))
            if on_signed is not None:
                on_signed(tx_hash, int(params["nonce"]))
            return tx_hash
        tx_hash = _hex(signed.hash)
        if on_signed is not None:
            on_signed(tx_hash, int(params["nonce"]))
        with translated(what, self.where):
            self._broadcast(signed.raw_transaction, tx_hash)
        return tx_hash

    def _broadcast(self, raw: bytes, tx_hash: str) -> None:
        from web3.exceptions import Web3RPCError

        try:
            self.w3.eth.send_raw_transaction(raw)
        except (Web3RPCError, ValueError):
            # A retried send whose first try reached the node is refused in each node's words
            # ("already known", "transaction already imported", "nonce too low", ...): ask
            # whether the node has the transaction instead of parsing them.
            if self.tx_state(tx_hash) != TX_UNKNOWN:
                return
            raise

    def _bumped_fees(self, old: Any) -> dict[str, int]:
        if old.get("maxFeePerGas") is not None:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
            tip = max(math.ceil(int(old["maxPriorityFeePerGas"]) * FEE_BUMP), int(self.w3.eth.max_priority_fee))
            return {
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": max(math.ceil(int(old["maxFeePerGas"]) * FEE_BUMP), 2 * base + tip),
            }
        return {"gasPrice": max(math.ceil(int(old["gasPrice"]) * FEE_BUMP), int(self.w3.eth.gas_price))}

    def wait(self, tx_hash: str, timeout: float | None = None) -> TxReceipt | None:
        """The receipt of ``tx_hash`` once mined, or None if it is not mined within ``timeout``.

        A transaction that reverted raises ChainRevertedError with the contract's error name
        (learnt by replaying it as a call on the block before)."""
        what = f"wait for transaction {tx_hash}"
        with translated(what, self.where):
            from web3.exceptions import TimeExhausted

            try:
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    _tx(tx_hash), timeout=self._timeout if timeout is None else timeout
                )
            except TimeExhausted:
                return None
            if receipt["status"] != 1:
                tx = self.w3.eth.get_transaction(_tx(tx_hash))
                self.w3.eth.call(
                    {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]},
                    block_identifier=receipt["blockNumber"] - 1,
                )
                raise ChainRevertedError(f"{what}: transaction reverted in block {receipt['blockNumber']}")
            block = self.w3.eth.get_block(receipt["blockNumber"])
            return TxReceipt(tx_hash, int(receipt["blockNumber"]), _time(int(block["timestamp"])))

    def tx_state(self, tx_hash: str) -> str:
        """``unknown`` (never broadcast, or dropped), ``pending`` (in the pool) or ``mined``."""
        from web3.exceptions import TransactionNotFound

        with translated(f"look up transaction {tx_hash}", self.where):
            try:
                tx = self.w3.eth.get_transaction(_tx(tx_hash))
            except TransactionNotFound:
                return TX_UNKNOWN
            return TX_PENDING if tx.get("blockNumber") is None else TX_MINED

    def nonces(self) -> tuple[int, int]:
        """The sender's (mined, pending) transaction counts: the next nonce in a block / in the pool."""
        with translated("read the account's nonce", self.where):
            return (
                int(self.w3.eth.get_transaction_count(self.sender, "latest")),
                int(self.w3.eth.get_transaction_count(self.sender, "pending")),
            )

    def block_number(self) -> int:
        with translated("read the block number", self.where):
            return int(self.w3.eth.block_number)

    def _send(self, fn: Any, what: str) -> TxReceipt:
        tx_hash = self.send(fn, what)
        receipt = self.wait(tx_hash)
        if receipt is None:
            raise ChainUnavailableError(
                f"{what}: transaction {tx_hash} not mined within {self._timeout:g} s "
                f"at {self.where}; it may still be mined"
            )
        return receipt

    def anchor(self, root: bytes, leaf_count: int) -> TxReceipt:
        return self._send(self.contract.functions.anchor(root, leaf_count), f"anchor root 0x{root.hex()}")

    def send_anchor(
        self,
        root: bytes,
        leaf_count: int,
        *,
        replacing: str | None = None,
        nonce: int | None = None,
        on_signed: Callable[[str, int], None] | None = None,
    ) -> str:
        """Broadcast ``anchor(root, leafCount)`` (see ``send``); the caller waits for it."""
        return self.send(
            self.contract.functions.anchor(root, leaf_count),
            f"anchor root 0x{root.hex()}",
            replacing=replacing,
            nonce=nonce,
            on_signed=on_signed,
        )

    def lookup(self, root: bytes) -> OnChainRoot | None:
        with translated(f"look up root 0x{root.hex()}", self.where):
            block, ts, count, submitter = self.contract.functions.anchorOf(root).call()
        if block == 0:
            return None
        return OnChainRoot(root, int(count), int(block), _time(int(ts)), str(submitter))

    def tx_of(self, root: bytes, block: int | None = None) -> str | None:
        """The hash of the transaction that anchored ``root`` (from its RootAnchored log).

        With ``block`` (from ``lookup``) only that block is searched: providers limit the
        block range of eth_getLogs."""
        with translated(f"find the transaction of root 0x{root.hex()}", self.where):
            logs = self.contract.events.RootAnchored().get_logs(
                from_block=self.deploy_block if block is None else block,
                to_block="latest" if block is None else block,
                argument_filters={"root": root},
            )
        return "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None

    def roots(self) -> list[OnChainRoot]:
        with translated("list anchored roots", self.where):
            logs = self.contract.events.RootAnchored().get_logs(from_block=self.deploy_block)
            out: list[OnChainRoot] = []
            times: dict[int, datetime] = {}
            for log in logs:
                bn = int(log["blockNumber"])
                if bn not in times:
                    times[bn] = _time(int(self.w3.eth.get_block(bn)["timestamp"]))
                out.append(
                    OnChainRoot(
                        bytes(log["args"]["root"]),
                        int(log["args"]["leafCount"]),
                        bn,
                        times[bn],
                        str(log["args"]["submitter"]),
                        "0x" + bytes(log["transactionHash"]).hex(),
                    )
                )
        return out

    def verify_leaf(self, root: bytes, digest: bytes, proof: list[bytes]) -> bool:
        with translated("verify a leaf on chain", self.where):
            return bool(self.contract.functions.verifyLeaf(root, digest, proof).call())

    def record_notice(self, lot_ref: bytes, notice_digest: bytes) -> TxReceipt:
        return self._send(self.contract.functions.recallNotice(lot_ref, notice_digest), "record recall notice")

    def lookup_notice(self, notice_digest: bytes) -> OnChainNotice | None:
        """A recall notice as the contract holds it (``noticeOf``), with its transaction hash, or None."""
        with translated(f"look up notice 0x{notice_digest.hex()}", self.where):
            ref, block, ts, submitter = self.contract.functions.noticeOf(notice_digest).call()
            if block == 0:
                return None
            logs = self.contract.events.RecallNoticeRecorded().get_logs(
                from_block=self.deploy_block, argument_filters={"noticeDigest": notice_digest}
            )
        tx = "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None
        return OnChainNotice(bytes(ref), notice_digest, int(block), _time(int(ts)), str(submitter), tx)

    def read_rpc(self, call: ReadCall) -> object:
        """One request of the read-only JSON-RPC view (chain/rpcview.py), already checked, in wire form."""
        from cradletrace.chain.rpcview import read

        with translated(f"answer {call.method} for the read-only JSON-RPC view", self.where):
            return read(self.w3, self.contract_address, call)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


def deploy(
    w3: Web3, sender: ChecksumAddress, private_key: str | None = None, where: str = "embedded chain"
) -> tuple[str, int]:
    """Deploy TraceAnchor with ``sender`` as admin; returns (address, block number)."""
    art = artifact()
    with translated("deploy TraceAnchor", where):
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        ctor = factory.constructor(sender)
        if private_key:
            tx = ctor.build_transaction(
                {"from": sender, "gas": DEPLOY_GAS, "nonce": w3.eth.get_transaction_count(sender, "pending")}
            )
            tx_hash = w3.eth.send_raw_transaction(w3.eth.account.sign_transaction(tx, private_key).raw_transaction)
        else:
            tx_hash = ctor.transact({"from": sender, "gas": DEPLOY_GAS})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise ChainError("deploy TraceAnchor: the deployment transaction failed")
        return str(receipt["contractAddress"]), int(receipt["blockNumber"])


def has_code(w3: Web3, address: str, where: str) -> bool:
    with translated("check the contract", where):
        return len(w3.eth.get_code(w3.to_checksum_address(address))) > 0

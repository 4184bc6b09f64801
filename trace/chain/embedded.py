"""The embedded default chain: an in-process EVM whose state lives in one SQLite file.

eth-tester's ``PyEVMBackend`` runs py-evm on an in-memory dict, so everything anchored
is gone when the process exits. py-evm itself only needs a key-value database
(``AtomicDB`` wrapping a ``DatabaseAPI``), so here that database is a table in SQLite:
writes are buffered in memory and flushed in one SQLite transaction per commit, and the
chain is committed after every mined block. Each commit point is a complete chain (head
header, blocks, receipts, transaction index, every state-trie node the head refers to),
so a crash can only lose the blocks mined since the last commit; on reopen the chain
looks as if it had reorganised back to the last commit.

Only one process may open a chain file at a time: ``open_embedded_chain`` takes an
exclusive ``flock`` on ``<file>.lock`` and raises ``EmbeddedChainLockedError`` if another
process (or another open in this process) holds it. The lock dies with its process, so a
crashed owner never leaves a stale lock behind.

The file is in WAL mode: while it is open, and after a crash, ``<file>-wal`` and
``<file>-shm`` beside it are part of it. Copy or back up the chain only while it is closed.

The funded accounts are eth-tester's: private keys 1..10, publicly known. This is a local
development chain; never reuse those keys anywhere else.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from ..errors import ChainError, ConfigError, EmbeddedChainLockedError
from ..private import private_file

if TYPE_CHECKING:
    from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI
    from eth.chains.base import MiningChain
    from eth_keys.datatypes import PrivateKey
    from eth_typing import ChecksumAddress
    from web3 import Web3

__all__ = [
    "ACCOUNT_COUNT",
    "CHAIN_ID",
    "GAS_LIMIT",
    "EmbeddedChain",
    "open_embedded_chain",
]

FORMAT_VERSION = "1"
#: eth-tester's chain id, so tooling written against eth-tester behaves the same here.
CHAIN_ID = 131277322940537
#: Constant per-block gas limit: room for large deployments.
GAS_LIMIT = 30_000_000
ACCOUNT_COUNT = 10
_FORK = "prague"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class _SQLiteKeyValueStore:
    """py-evm's key-value database on one SQLite table, with writes buffered until ``flush``.

    It is duck-typed to py-evm's ``DatabaseAPI`` (item access, ``set``/``exists``/``delete``)
    so this module imports nothing from py-evm until a chain is opened. Reads see the
    buffer first; a deleted key is buffered as ``None``.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        try:
            value = self._pending[key]
        except KeyError:
            row = self._select("SELECT v FROM kv WHERE k = ?", key)
            if row is None:
                raise KeyError(key) from None
            stored: bytes = row[0]
            return stored
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = None

    def __contains__(self, key: bytes) -> bool:
        try:
            return self._pending[key] is not None
        except KeyError:
            return self._select("SELECT 1 FROM kv WHERE k = ?", key) is not None

    def _select(self, sql: str, key: bytes) -> Any:
        try:
            return self._conn.execute(sql, (key,)).fetchone()
        except sqlite3.ProgrammingError as exc:
            raise ChainError(f"embedded chain store unusable ({exc}); expected an open chain") from exc

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        try:
            return self[key]
        except KeyError:
            return default

    def set(self, key: bytes, value: bytes) -> None:
        self[key] = value

    def exists(self, key: bytes) -> bool:
        return key in self

    def delete(self, key: bytes) -> None:
        self._pending[key] = None

    def flush(self, meta: dict[str, str] | None = None) -> None:
        """Write the buffer (and ``meta`` rows) in one SQLite transaction, or nothing.

        The buffer is cleared only after COMMIT succeeded, so a failed flush can be retried.
        """
        if not self._pending and not meta:
            return
        upserts = [(k, v) for k, v in self._pending.items() if v is not None]
        deletes = [(k,) for k, v in self._pending.items() if v is None]
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", upserts)
            conn.executemany("DELETE FROM kv WHERE k = ?", deletes)
            if meta:
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._pending.clear()


class EmbeddedChain:
    """An open embedded chain: ``w3`` talks to it like to any node, in process.

    Every mined block is committed to disk before the call that mined it returns (unless
    opened with ``autocommit=False``); ``commit()`` forces a write, ``close()`` commits and
    releases the file. Usable as a context manager. Requests through ``w3`` are serialized
    by a lock, so one chain may be shared by the threads of one process.
    """

    def __init__(
        self,
        *,
        path: Path,
        w3: Web3,
        accounts: list[ChecksumAddress],
        genesis_hash: str,
        store: _SQLiteKeyValueStore,
        conn: sqlite3.Connection,
        lock_fd: int,
        request_lock: threading.RLock,
    ) -> None:
        self.path = path
        self.w3 = w3
        self.accounts = accounts
        self.chain_id = CHAIN_ID
        #: Identifies this chain among other embedded chains with the same chain id.
        self.genesis_hash = genesis_hash
        self._store = store
        self._conn = conn
        self._lock_fd = lock_fd
        self._request_lock = request_lock
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def commit(self) -> None:
        """Durably write everything changed since the last commit (all of it or none)."""
        with self._request_lock:
            if self._closed:
                raise ChainError(f"embedded chain {self.path} is closed; expected an open chain")
            _commit_store(self.path, self._store)

    def close(self) -> None:
        """Commit, then release the file and its lock. Transactions not yet mined are lost."""
        with self._request_lock:
            if self._closed:
                return
            try:
                self.commit()
            finally:
                self._closed = True
                self._conn.close()
                os.close(self._lock_fd)

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_embedded_chain(path: Path, *, autocommit: bool = True) -> EmbeddedChain:
    """Open (or create, with a funded genesis) the embedded chain stored in ``path``.

    With ``autocommit`` every mined block is on disk before the sending call returns;
    without it nothing reaches the file until ``commit()`` or ``close()``.
    """
    path = private_file(Path(path))  # the state of the anchoring account: 0600, like a key
    lock_fd = _acquire_lock(path)
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path)
        store = _SQLiteKeyValueStore(conn)
        chain, keys, genesis_hash = _load_or_create_chain(path, conn, store)
        on_change = functools.partial(_commit_store, path, store) if autocommit else None
        request_lock = threading.RLock()
        w3, accounts = _build_web3(chain, keys, on_change, request_lock)
        return EmbeddedChain(
            path=path,
            w3=w3,
            accounts=accounts,
            genesis_hash=genesis_hash,
            store=store,
            conn=conn,
            lock_fd=lock_fd,
            request_lock=request_lock,
        )
    except BaseException:
        if conn is not None:
            conn.close()
        os.close(lock_fd)
        raise


def _commit_store(path: Path, store: _SQLiteKeyValueStore) -> None:
    try:
        store.flush()
    except sqlite3.Error as exc:
        raise ChainError(f"could not commit embedded chain {path}: {exc}") from exc


def _acquire_lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise EmbeddedChainLockedError(
            f"embedded chain {path} is already open (lock {lock_path} held by pid {holder}); "
            "expected no other opener: only one process may use an embedded chain at a time"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # Threads are serialized by the chain's request lock, not by sqlite3's check.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables - {"kv", "meta"}:
                # Most likely the settings point at another database, e.g. the event store.
                raise ConfigError(
                    f"embedded chain file {path}: expected only the tables kv and meta, found {sorted(tables)}"
                )
            # WAL: a commit is one fsync of the log; synchronous=FULL makes it durable.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"embedded chain file {path}: expected an SQLite database, got error: {exc}") from exc
    return conn


def _load_or_create_chain(
    path: Path, conn: sqlite3.Connection, store: _SQLiteKeyValueStore
) -> tuple[MiningChain, tuple[PrivateKey, ...], str]:
    from eth.db.atomic import AtomicDB
    from eth_tester.backends.pyevm.main import (
        generate_genesis_state_for_keys,
        get_default_account_keys,
        get_default_genesis_params,
    )

    chain_class = _chain_class()
    keys: tuple[PrivateKey, ...] = get_default_account_keys(quantity=ACCOUNT_COUNT)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    base_db: AtomicDatabaseAPI = AtomicDB(store)  # type: ignore[arg-type]

    if "genesis_hash" not in meta:
        if conn.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is not None:
            raise ConfigError(
                f"embedded chain file {path}: expected an empty or complete chain, "
                "found chain data without a genesis record"
            )
        genesis_params = get_default_genesis_params(overrides={"gas_limit": GAS_LIMIT})
        genesis_state = generate_genesis_state_for_keys(keys)
        genesis_chain = chain_class.from_genesis(base_db, genesis_params, genesis_state)
        chain = cast("MiningChain", genesis_chain)
        genesis_hash = _genesis_hash(chain)
        store.flush(
            {
                "format": FORMAT_VERSION,
                "fork": _FORK,
                "chain_id": str(CHAIN_ID),
                "genesis_hash": genesis_hash,
            }
        )
        return chain, keys, genesis_hash

    expected = {"format": FORMAT_VERSION, "fork": _FORK, "chain_id": str(CHAIN_ID)}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise ConfigError(f"embedded chain file {path}: expected {key}={value}, found {meta.get(key)}")
    chain = chain_class(base_db)
    genesis_hash = _genesis_hash(chain)
    if genesis_hash != meta["genesis_hash"]:
        raise ConfigError(f"embedded chain file {path}: expected genesis {meta['genesis_hash']}, found {genesis_hash}")
    return chain, keys, genesis_hash


def _genesis_hash(chain: MiningChain) -> str:
    from eth_typing import BlockNumber

    return chain.get_canonical_block_header_by_number(BlockNumber(0)).hash.hex()


@functools.cache
def _chain_class() -> type[MiningChain]:
    """The chain eth-tester's ``setup_tester_chain`` builds, with the fork pinned here.

    Pinned so that a py-evm upgrade changing eth-tester's default fork cannot change the
    rules of a chain already on disk.
    """
    from eth.abc import VirtualMachineAPI
    from eth.chains.base import MiningChain
    from eth.vm.forks.prague import PragueVM
    from eth_typing import BlockNumber

    class EmbeddedTesterChain(MiningChain):
        chain_id = CHAIN_ID
        vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = ((BlockNumber(0), PragueVM),)

        def create_header_from_parent(self, parent_header: BlockHeaderAPI, **header_params: Any) -> BlockHeaderAPI:
            # A constant gas limit, as in eth-tester.
            header_params["gas_limit"] = parent_header.gas_limit
            return super().create_header_from_parent(parent_header, **header_params)

        def get_transaction_builder(self) -> Any:
            return self.get_vm().get_transaction_builder()

    return EmbeddedTesterChain


def _build_web3(
    chain: MiningChain,
    keys: tuple[PrivateKey, ...],
    on_change: Callable[[], None] | None,
    request_lock: threading.RLock,
) -> tuple[Web3, list[ChecksumAddress]]:
    from eth_tester import EthereumTester
    from eth_utils.address import to_checksum_address
    from web3 import Web3

    backend = _backend_class()(chain, keys, on_change)
    tester = EthereumTester(backend=backend, auto_mine_transactions=True)
    w3 = Web3(_provider_class()(tester, request_lock))
    accounts = [to_checksum_address(key.public_key.to_canonical_address()) for key in keys]
    return w3, accounts


@functools.cache
def _provider_class() -> type[Any]:
    """``EthereumTesterProvider`` taking a lock per request: py-evm is not thread-safe."""
    from web3.providers.eth_tester import EthereumTesterProvider

    class SerializedEthereumTesterProvider(EthereumTesterProvider):
        def __init__(self, ethereum_tester: Any, request_lock: threading.RLock) -> None:
            super().__init__(ethereum_tester)
            self._request_lock = request_lock

        def make_request(self, method: Any, params: Any) -> Any:
            with self._request_lock:
                return super().make_request(method, params)

    return SerializedEthereumTesterProvider


@functools.cache
def _backend_class() -> type[Any]:
    """eth-tester's ``PyEVMBackend`` over an existing chain, committing after each change.

    Every path that mines or rewrites the head (``mine_blocks``, which auto-mining and
    ``time_travel`` go through, ``revert_to_snapshot``, ``apply_withdrawals``) calls
    ``on_change`` afterwards. Transactions get the wall-clock time they were sent at:
    eth-tester stamps a block when its predecessor is mined, which after an idle hour
    would date a new anchor an hour early.
    """
    from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
    from eth_tester.backends.pyevm.main import (
        ZERO_ADDRESS,
        PyEVMBackend,
        _get_transaction_by_hash,
    )
    from eth_tester.backends.pyevm.serializers import (
        serialize_transaction,
        serialize_transaction_receipt,
    )
    from eth_typing import Hash32

    class PersistentPyEVMBackend(PyEVMBackend):  # type: ignore[misc]
        def __init__(
            self,
            chain: MiningChain,
            account_keys: tuple[PrivateKey, ...],
            on_change: Callable[[], None] | None,
        ) -> None:
            # PyEVMBackend.__init__ would build a throwaway in-memory genesis chain.
            self.chain = chain
            self.account_keys = account_keys
            self._on_change = on_change
            self._time_travelling = False

        def _changed(self) -> None:
            if self._on_change is not None:
                self._on_change()

        def _stamp_pending_block(self) -> None:
            header = self.chain.header
            now = int(time.time())
            if header.gas_used == 0 and not self._time_travelling and now > header.timestamp:
                self.chain.set_header_timestamp(now)

        def _locate(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
            # eth-tester scans every block back from the head for each lookup, which
            # makes eth_getLogs quadratic in chain length; py-evm keeps an index.
            try:
                number, index = self.chain.chaindb.get_transaction_index(Hash32(transaction_hash))
                if number < self.chain.header.block_number:
                    block = self.chain.get_canonical_block_by_number(number)
                    if index < len(block.transactions):
                        transaction = block.transactions[index]
                        if transaction.hash == transaction_hash:
                            return block, transaction, index
            except EVMTransactionNotFound:
                pass
            # Pending transactions and anything the index misses: eth-tester's scan.
            found: tuple[Any, Any, int] = _get_transaction_by_hash(self.chain, transaction_hash)
            return found

        def get_transaction_by_hash(self, transaction_hash: bytes) -> dict[str, Any]:
            block, transaction, index = self._locate(transaction_hash)
            is_pending = block.number == self.chain.header.block_number
            serialized: dict[str, Any] = serialize_transaction(block, transaction, index, is_pending)
            return serialized

        def get_transaction_receipt(self, transaction_hash: bytes) -> dict[str, Any]:
            block, transaction, index = self._locate(transaction_hash)
            is_pending = block.number == self.chain.header.block_number
            return serialize_transaction_receipt(  # type: ignore[no-any-return]
                block,
                block.get_receipts(self.chain.chaindb),
                transaction,
                index,
                is_pending,
                self.chain.get_vm(),
            )

        def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
            raise ChainError("an embedded chain cannot be reset to genesis; expected a fresh file instead")

        def send_raw_transaction(self, raw_transaction: bytes) -> bytes:
            self._stamp_pending_block()
            result: bytes = super().send_raw_transaction(raw_transaction)
            return result

        def send_signed_transaction(self, *args: Any, **kwargs: Any) -> bytes:
            self._stamp_pending_block()
            result: bytes = super().send_signed_transaction(*args, **kwargs)
            return result

        def send_transaction(self, transaction: dict[str, Any]) -> bytes:
            self._stamp_pending_block()
            result: bytes = super().send_transaction(transaction)
            return result

        def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = ZERO_ADDRESS) -> tuple[bytes, ...]:
            self._stamp_pending_block()
            hashes: tuple[bytes, ...] = super().mine_blocks(num_blocks, coinbase)
            self._changed()
            return hashes

        def time_travel(self, to_timestamp: int) -> int:
            self._time_travelling = True
            try:
                result: int = super().time_travel(to_timestamp)
            finally:
                self._time_travelling = False
            return result

        def revert_to_snapshot(self, snapshot: bytes) -> None:
            super().revert_to_snapshot(snapshot)
            self._changed()

        def apply_withdrawals(self, withdrawals_list: list[dict[str, Any]]) -> None:
            super().apply_withdrawals(withdrawals_list)
            self._changed()

    return PersistentPyEVMBackend

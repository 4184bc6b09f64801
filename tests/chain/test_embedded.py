"""The embedded chain keeps its state across processes, crashes and torn commits.

Each restart happens in a fresh interpreter (``python -c``), so nothing can survive in
memory: what the next process sees is what the file holds.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3.types import Wei

from cradletrace.chain import embedded
from cradletrace.chain.embedded import (
    EmbeddedChain,
    open_embedded_chain,
)
from cradletrace.errors import ChainError, ConfigError, EmbeddedChainLockedError

STORED_TOPIC = keccak(text="Stored(uint256)")
# A 0x string: with web3 8 and eth-tester 0.14, a HexBytes topic filter silently matches
# nothing (raw bytes and 0x strings work).
STORED_TOPIC_HEX = "0x" + STORED_TOPIC.hex()
INITIAL_VALUE = 42
SET_GAS = 60_000

# Runtime of a hand-assembled storage contract. Empty calldata: return slot 0.
# Any calldata: slot 0 = calldata[0:32]; emit LOG1(data=value, topic=Stored(uint256)).
RUNTIME = (
    bytes.fromhex("36600f5760005460005260206000f3")  # get, ends at 0x0e
    + bytes.fromhex("5b60003580600055600052")  # 0x0f: set
    + b"\x7f"
    + STORED_TOPIC
    + bytes.fromhex("60206000a100")
)
# Constructor: slot 0 = 42, emit Stored(42), then return RUNTIME, which starts at byte 59.
INIT_CODE = (
    bytes([0x60, INITIAL_VALUE, 0x60, 0x00, 0x55])  # sstore(0, 42)
    + bytes([0x60, INITIAL_VALUE, 0x60, 0x00, 0x52])  # mstore(0, 42)
    + b"\x7f"
    + STORED_TOPIC
    + bytes.fromhex("60206000a1")  # log1(0, 32, topic)
    + bytes([0x60, len(RUNTIME), 0x80, 0x60, 59, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    + RUNTIME
)
assert INIT_CODE.index(RUNTIME) == 59

# Helpers shared by the child processes, which import nothing from this test module.
CHILD_PRELUDE = """
import json, os, signal, sys
from pathlib import Path
from cradletrace.chain.embedded import open_embedded_chain

def value(w3, addr):
    return int.from_bytes(w3.eth.call({"to": addr, "data": b""}), "big")

def set_value(chain, addr, v):
    h = chain.w3.eth.send_transaction(
        {"from": chain.accounts[0], "to": addr, "data": v.to_bytes(32, "big"), "gas": 60000}
    )
    return chain.w3.eth.wait_for_transaction_receipt(h)

def deploy(chain):
    h = chain.w3.eth.send_transaction(
        {"from": chain.accounts[0], "data": bytes.fromhex(sys.argv[2]), "gas": 200000}
    )
    return chain.w3.eth.wait_for_transaction_receipt(h)["contractAddress"]

def report(obj):
    print(json.dumps(obj), flush=True)
"""


def run_child(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE + body, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("{", "["))]
    assert lines, f"child printed no report; rc={proc.returncode} stderr={proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def deploy(chain: EmbeddedChain) -> ChecksumAddress:
    tx = chain.w3.eth.send_transaction({"from": chain.accounts[0], "data": INIT_CODE, "gas": 200_000})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return address


def set_value(chain: EmbeddedChain, address: ChecksumAddress, value: int) -> Any:
    tx = chain.w3.eth.send_transaction(
        {
            "from": chain.accounts[0],
            "to": address,
            "data": value.to_bytes(32, "big"),
            "gas": SET_GAS,
        }
    )
    return chain.w3.eth.wait_for_transaction_receipt(tx)


def stored(chain: EmbeddedChain, address: ChecksumAddress) -> int:
    return int.from_bytes(chain.w3.eth.call({"to": address, "data": b""}), "big")


def logged_values(chain: EmbeddedChain, address: ChecksumAddress) -> list[int]:
    logs = chain.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": address, "topics": [STORED_TOPIC_HEX]}
    )
    return [int.from_bytes(log["data"], "big") for log in logs]


def test_state_survives_reopen_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with open_embedded_chain(path) as chain:
        w3 = chain.w3
        genesis = chain.genesis_hash
        address = deploy(chain)
        set_receipt = set_value(chain, address, 7)
        transfer = w3.eth.send_transaction({"from": chain.accounts[0], "to": chain.accounts[1], "value": Wei(12_345)})
        w3.eth.wait_for_transaction_receipt(transfer)
        before = {
            "block": w3.eth.block_number,
            "nonce": w3.eth.get_transaction_count(chain.accounts[0]),
            "balance0": w3.eth.get_balance(chain.accounts[0]),
            "balance1": w3.eth.get_balance(chain.accounts[1]),
        }
        accounts = list(chain.accounts)
    assert before["block"] == 3 and before["nonce"] == 3
    assert set_receipt["blockNumber"] == 2 and len(set_receipt["logs"]) == 1

    child = run_child(
        """
chain = open_embedded_chain(Path(sys.argv[1]))
w3 = chain.w3
addr, set_tx = sys.argv[3], sys.argv[4]
old = w3.eth.get_transaction_receipt(set_tx)
out = {
    "accounts": chain.accounts,
    "genesis": chain.genesis_hash,
    "block": w3.eth.block_number,
    "value": value(w3, addr),
    "nonce": w3.eth.get_transaction_count(chain.accounts[0]),
    "balance0": w3.eth.get_balance(chain.accounts[0]),
    "balance1": w3.eth.get_balance(chain.accounts[1]),
    "old_receipt": [old["status"], old["blockNumber"], old["logs"][0]["data"].hex()],
}
receipt = set_value(chain, addr, 8)
tx = w3.eth.get_transaction(receipt["transactionHash"])
logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": addr})
out.update(
    new_tx=[receipt["status"], receipt["blockNumber"], tx["nonce"]],
    logs=[[log["blockNumber"], int.from_bytes(log["data"], "big")] for log in logs],
    stamps=[w3.eth.get_block(n)["timestamp"] for n in range(w3.eth.block_number + 1)],
)
chain.close()
report(out)
""",
        str(path),
        INIT_CODE.hex(),
        address,
        set_receipt["transactionHash"].to_0x_hex(),
    )
    assert child.returncode == 0, child.stderr[-3000:]
    seen = last_json(child)

    assert seen["accounts"] == accounts
    assert seen["genesis"] == genesis
    assert seen["block"] == before["block"]
    assert seen["value"] == 7
    assert seen["nonce"] == before["nonce"]
    assert [seen["balance0"], seen["balance1"]] == [before["balance0"], before["balance1"]]
    assert seen["old_receipt"] == [1, 2, (7).to_bytes(32, "big").hex()]
    assert seen["new_tx"] == [1, before["block"] + 1, before["nonce"]]
    assert seen["logs"] == [[1, INITIAL_VALUE], [2, 7], [before["block"] + 1, 8]]
    stamps = seen["stamps"]
    assert all(a < b for a, b in itertools.pairwise(stamps)), stamps
    assert abs(stamps[-1] - time.time()) < 60

    # And what the child did is on disk for the next opener.
    with open_embedded_chain(path) as chain:
        assert stored(chain, address) == 8
        assert chain.w3.eth.block_number == before["block"] + 1
        assert chain.w3.eth.get_transaction_count(chain.accounts[0]) == before["nonce"] + 1


def test_sigkill_keeps_committed_blocks_and_drops_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    # Autocommit: a receipt in hand means the block is on disk, close() or not.
    first = run_child(
        """
chain = open_embedded_chain(Path(sys.argv[1]))
addr = deploy(chain)
set_value(chain, addr, 7)
report({"address": addr, "block": chain.w3.eth.block_number})
os.kill(os.getpid(), signal.SIGKILL)
""",
        str(path),
        INIT_CODE.hex(),
    )
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    address = last_json(first)["address"]

    # Without autocommit, a mined but uncommitted block dies with the process.
    second = run_child(
        """
chain = open_embedded_chain(Path(sys.argv[1]), autocommit=False)
addr = sys.argv[3]
receipt = set_value(chain, addr, 99)
w3 = chain.w3
report({"status": receipt["status"], "value": value(w3, addr), "block": w3.eth.block_number})
os.kill(os.getpid(), signal.SIGKILL)
""",
        str(path),
        INIT_CODE.hex(),
        address,
    )
    assert second.returncode == -signal.SIGKILL, second.stderr[-3000:]
    assert last_json(second) == {"status": 1, "value": 99, "block": 3}

    with open_embedded_chain(path) as chain:
        assert chain.w3.eth.block_number == 2
        assert stored(chain, address) == 7
        assert chain.w3.eth.get_transaction_count(chain.accounts[0]) == 2
        receipt = set_value(chain, address, 5)
        assert receipt["status"] == 1 and receipt["blockNumber"] == 3
        assert chain.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == 2
        assert logged_values(chain, address) == [INITIAL_VALUE, 7, 5]


def test_kill_inside_commit_transaction_leaves_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    child = run_child(
        """
chain = open_embedded_chain(Path(sys.argv[1]), autocommit=False)
addr = deploy(chain)
chain.commit()
for v in range(100, 110):
    set_value(chain, addr, v)
conn = chain._conn
# A tiny page cache makes SQLite spill uncommitted pages into the WAL before dying.
conn.execute("PRAGMA cache_size=1")
calls = []
def die_mid_transaction():
    calls.append(1)
    if conn.in_transaction and len(calls) > 20:
        report({"address": addr, "killed_in_transaction": True})
        os.kill(os.getpid(), signal.SIGKILL)
    return 0
conn.set_progress_handler(die_mid_transaction, 50)
chain.commit()
report({"address": addr, "killed_in_transaction": False})
""",
        str(path),
        INIT_CODE.hex(),
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    seen = last_json(child)
    assert seen["killed_in_transaction"] is True

    with open_embedded_chain(path) as chain:
        assert chain.w3.eth.block_number == 1
        assert stored(chain, seen["address"]) == INITIAL_VALUE
        assert logged_values(chain, seen["address"]) == [INITIAL_VALUE]
        receipt = set_value(chain, seen["address"], 3)
        assert receipt["blockNumber"] == 2
        assert stored(chain, seen["address"]) == 3


def test_lock_refuses_a_second_opener(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    chain = open_embedded_chain(path)
    try:
        child = run_child(
            """
from cradletrace.errors import EmbeddedChainLockedError
try:
    open_embedded_chain(Path(sys.argv[1]))
except EmbeddedChainLockedError as exc:
    report({"refused": str(exc)})
else:
    report({"refused": None})
""",
            str(path),
        )
        assert child.returncode == 0, child.stderr[-3000:]
        refused = last_json(child)["refused"]
        assert refused is not None and str(os.getpid()) in refused

        with pytest.raises(EmbeddedChainLockedError, match="already open"):
            open_embedded_chain(path)
        assert isinstance(EmbeddedChainLockedError("x"), ChainError)
        # The refused opener must not have broken the owner's lock or chain.
        assert chain.w3.eth.block_number == 0
    finally:
        chain.close()

    with open_embedded_chain(path) as again:
        assert again.w3.eth.block_number == 0
    with pytest.raises(ChainError, match="closed"):
        chain.commit()


def test_rejects_a_file_that_is_not_a_chain(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    path.write_bytes(b"not a database at all, just some bytes" * 100)
    with pytest.raises(ConfigError, match="expected an SQLite database"):
        open_embedded_chain(path)
    other = tmp_path / "store.sqlite"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    wrong_tables = r"expected only the tables kv and meta, found \['events'\]"
    with pytest.raises(ConfigError, match=wrong_tables):
        open_embedded_chain(other)
    with closing(sqlite3.connect(other)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    # The failed open released its lock.
    path.unlink()
    with open_embedded_chain(path) as chain:
        assert chain.w3.eth.get_block("latest")["gasLimit"] == 30_000_000
        assert len(chain.accounts) == 10
        assert chain.w3.eth.get_balance(chain.accounts[9]) == 10**24


def test_a_transaction_is_stamped_with_the_time_it_was_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # eth-tester dates a block when its predecessor is mined; after an idle hour an
    # anchor would carry a time an hour too early.
    with open_embedded_chain(tmp_path / "chain.sqlite") as chain:
        address = deploy(chain)
        an_hour_later = time.time() + 3600
        monkeypatch.setattr(embedded, "time", SimpleNamespace(time=lambda: an_hour_later))
        receipt = set_value(chain, address, 1)
        assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == int(an_hour_later)


def test_threads_share_one_chain(tmp_path: Path) -> None:
    with open_embedded_chain(tmp_path / "chain.sqlite") as chain:
        address = deploy(chain)
        with ThreadPoolExecutor(max_workers=4) as pool:
            receipts = list(pool.map(lambda v: set_value(chain, address, v), range(1, 21)))
        assert [r["status"] for r in receipts] == [1] * 20
        assert sorted(r["blockNumber"] for r in receipts) == list(range(2, 22))
        assert sorted(logged_values(chain, address)[1:]) == list(range(1, 21))

"""Local EVM JSON-RPC nodes (anvil, Hardhat 3) for ``scripts/stack``, the tests and the benchmarks.

Both binaries come from node_modules (installed by scripts/setup-node); nothing is downloaded.
Nodes listen on a free loopback port only, and `stop()` always reaps the process, so a failed
test never leaves a node behind. The pytest fixtures over them live in tests/nodes.py. The
binaries are looked up in the checkout's node_modules (this package runs from a checkout).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
ANVIL = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
HARDHAT = NODE_BIN / "hardhat"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_LOG_TAIL = 4000


class NodeStartError(RuntimeError):
    """A local EVM node did not start or did not answer eth_chainId in time."""


def node_env() -> dict[str, str]:
    """Return the environment with node_modules/.bin first on PATH, so `node` is Node 22."""
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(url: str, method: str, params: Sequence[object] = (), timeout: float = 5.0) -> object:
    """Call one JSON-RPC method and return its result; raise on a JSON-RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.load(response)
    if "error" in reply:
        raise RuntimeError(f"{method} failed at {url}: {reply['error']}")
    return reply["result"]


class EvmNode:
    """A running local node: `.url` to connect to, `.stop()` to end it (safe to call twice)."""

    def __init__(self, name: str, url: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.name = name
        self.url = url
        self._process = process
        self._log = log

    def output(self) -> str:
        """Return the tail of what the node printed on stdout and stderr."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-_LOG_TAIL:]

    def stop(self) -> None:
        """Terminate the node's process group, kill it if it lingers, and reap it."""
        if self._process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._process.wait()
        if not self._log.closed:
            self._log.close()

    def _signal(self, sig: signal.Signals) -> None:
        # The node runs in its own session (start_new_session), so its group id is its pid:
        # this reaches children such a launcher may spawn, and nothing else.
        try:
            os.killpg(self._process.pid, sig)
        except ProcessLookupError:
            pass

    def __repr__(self) -> str:
        return f"EvmNode({self.name!r}, {self.url!r}, pid={self._process.pid})"


def _start(name: str, argv: Sequence[str], port: int, timeout: float) -> EvmNode:
    log = tempfile.TemporaryFile(prefix=f"cradletrace-{name}-")  # noqa: SIM115 (the node outlives this call; stop() closes it)
    process = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env=node_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    node = EvmNode(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_ready(node, process, timeout)
    except BaseException:
        node.stop()
        raise
    return node


def _wait_until_ready(node: EvmNode, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NodeStartError(
                f"{node.name} exited with code {process.returncode} before answering eth_chainId "
                f"at {node.url}; its output:\n{node.output()}"
            )
        try:
            rpc(node.url, "eth_chainId", timeout=2.0)
            return
        except (OSError, urllib.error.URLError, ValueError, RuntimeError) as err:
            last_error = repr(err)
        time.sleep(0.2)
    raise NodeStartError(
        f"{node.name} did not answer eth_chainId at {node.url} within {timeout:.0f} s "
        f"(last error: {last_error}); its output:\n{node.output()}"
    )


def _require(path: Path) -> None:
    if not path.exists():
        raise NodeStartError(f"{path} is missing: run `bash scripts/setup-node` first")


def start_anvil(port: int, *, timeout: float = START_TIMEOUT, state: Path | None = None) -> EvmNode:
    """Start anvil on 127.0.0.1:`port` and return once it answers eth_chainId. With ``state``, anvil
    keeps its chain in that file (``--state``), so a node started again on it continues the chain."""
    _require(ANVIL)
    argv = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    if state is not None:
        argv += ["--state", str(state)]
    return _start("anvil", argv, port, timeout)


def start_hardhat_node(port: int, *, timeout: float = START_TIMEOUT) -> EvmNode:
    """Start `hardhat node` (Hardhat 3 on Node 22) on 127.0.0.1:`port`; return once it answers."""
    _require(HARDHAT)
    _require(NODE_BIN / "node")
    # node_modules/.bin/hardhat is what `npx hardhat` runs; calling it directly (its shebang finds
    # Node 22 first on PATH) keeps one process to stop instead of an npx/npm chain.
    argv = [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)]
    return _start("hardhat node", argv, port, timeout)

"""A read-only JSON-RPC view of the anchoring chain, for phones that check a scan page's anchors
themselves (issue 14) when that chain is the embedded one, which has no endpoint of its own.

Only what such a check needs is served: the chain id, the head, block headers (transaction
hashes only) and ``eth_call`` of TraceAnchor's view functions (anchorOf, isAnchored, verifyLeaf,
noticeOf) at our contract. Every request is checked here before the chain is touched, so a
request outside that list costs nothing and changes nothing: an unknown method is -32601, a
known one with other parameters (another address, another function, a full block) -32602.
Answers are in the wire format a node uses (quantities and data as 0x hex), so any JSON-RPC
client reads them as it would a node's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from cradletrace.core.merkle import keccak256
from cradletrace.errors import ChainError, RpcRefusedError

if TYPE_CHECKING:
    from web3 import Web3

METHODS = ("eth_chainId", "eth_blockNumber", "eth_getBlockByNumber", "eth_call")
VIEW_FUNCTIONS = ("anchorOf", "isAnchored", "verifyLeaf", "noticeOf")
#: Requests in one batch: a page checks a handful of roots and notices at once.
MAX_BATCH = 20
#: Sibling hashes in one verifyLeaf proof: a tree of 2**64 leaves, far beyond any batch.
MAX_PROOF = 64
#: Characters of a string request id (it is echoed back).
MAX_ID = 256
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, SERVER_ERROR = -32600, -32601, -32602, -32000
_QUANTITY = re.compile(r"0x(0|[1-9a-f][0-9a-f]{0,15})")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ENVELOPE = {"jsonrpc", "method", "params", "id"}
_CALL_KEYS = {"to", "data", "input"}


@dataclass(frozen=True)
class ReadCall:
    """One request that passed the checks: ``method`` of METHODS at ``block`` (None: the latest),
    with ``data`` the calldata of an ``eth_call``."""

    method: str
    block: int | None = None
    data: bytes = b""


@cache
def view_selectors() -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """Selector -> (name, argument types) of the contract's view functions we serve, from its ABI."""
    from cradletrace.chain.web3anchor import artifact

    out: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    for item in artifact()["abi"]:
        if item["type"] == "function" and item["name"] in VIEW_FUNCTIONS and item["stateMutability"] == "view":
            types = tuple(str(i["type"]) for i in item["inputs"])
            out[keccak256(f"{item['name']}({','.join(types)})".encode())[:4]] = (str(item["name"]), types)
    return out


def _params(what: str, message: str) -> RpcRefusedError:
    return RpcRefusedError(INVALID_PARAMS, f"{what}: {message}")


def _block(value: object, what: str) -> int | None:
    if value == "latest":
        return None
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value, 16)
    raise _params(what, f'expected "latest" or a block number as a hex quantity such as "0x1a", got {value!r:.80}')


def _calldata(value: object) -> bytes:
    """The calldata, if it calls one of the served view functions with well-formed arguments."""
    from eth_abi.abi import decode, encode

    if not isinstance(value, str) or not _DATA.fullmatch(value):
        raise _params("params[0].data", "expected calldata as 0x-prefixed hex bytes")
    data = bytes.fromhex(value[2:])
    served = view_selectors().get(data[:4])
    if served is None:
        raise _params("params[0].data", f"expected a call of one of TraceAnchor's {', '.join(VIEW_FUNCTIONS)}")
    name, types = served
    try:
        args = decode(types, data[4:])
    except Exception:  # eth_abi raises several kinds for malformed input
        args = None
    if args is None or encode(types, args) != data[4:]:
        raise _params("params[0].data", f"expected the arguments of {name}({','.join(types)}), ABI-encoded")
    if name == "verifyLeaf" and len(args[2]) > MAX_PROOF:
        raise _params("params[0].data", f"expected a proof of at most {MAX_PROOF} hashes, got {len(args[2])}")
    return data


def check_call(method: object, params: object, contract: str) -> ReadCall:
    """The request as a ReadCall, or RpcRefusedError saying what is not served."""
    if method not in METHODS:
        raise RpcRefusedError(
            METHOD_NOT_FOUND,
            f"method {str(method)[:80]!r} not served: this read-only view answers {', '.join(METHODS)}",
        )
    params = [] if params is None else params
    if not isinstance(params, list):
        raise _params("params", "expected an array")
    if method in ("eth_chainId", "eth_blockNumber"):
        if params:
            raise _params("params", f"expected none for {method}")
        return ReadCall(str(method))
    if method == "eth_getBlockByNumber":
        if len(params) != 2 or params[1] is not False:
            raise _params("params", "expected [block, false]: blocks are served with transaction hashes only")
        return ReadCall(str(method), _block(params[0], "params[0]"))
    if not 1 <= len(params) <= 2:
        raise _params("params", "expected [call, block] or [call]")
    call = params[0]
    if not isinstance(call, dict) or not set(call) <= _CALL_KEYS:
        raise _params("params[0]", f"expected an object with only {', '.join(sorted(_CALL_KEYS))}")
    if not isinstance(call.get("to"), str) or call["to"].lower() != contract.lower():
        raise _params("params[0].to", f"expected the anchor contract {contract}")
    if "data" in call and "input" in call and call["data"] != call["input"]:
        raise _params("params[0].input", "expected the same calldata as params[0].data")
    data = _calldata(call.get("data", call.get("input")))
    return ReadCall("eth_call", _block(params[1], "params[1]") if len(params) == 2 else None, data)


def _error(request_id: object, code: int, message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _valid_id(value: object) -> bool:
    """A string of at most MAX_ID characters, an integer of at most 64 bits, or null: echoed back as it came."""
    if isinstance(value, str):
        return len(value) <= MAX_ID
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**64)


def _one(read: Callable[[ReadCall], object], contract: str, request: object) -> dict[str, object] | None:
    if not isinstance(request, dict) or not _valid_id(request.get("id")):
        return _error(
            None,
            INVALID_REQUEST,
            f"expected a JSON-RPC request object with an id of at most {MAX_ID} characters or 64 bits",
        )
    request_id = request.get("id")
    if request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str) or not set(request) <= _ENVELOPE:
        return _error(
            request_id, INVALID_REQUEST, 'expected a JSON-RPC 2.0 request: {"jsonrpc": "2.0", "method", "params", "id"}'
        )
    if "id" not in request:
        return None  # a notification: nothing to answer, and a read-only view has nothing to do
    try:
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": read(check_call(request["method"], request.get("params"), contract)),
        }
    except RpcRefusedError as exc:
        return _error(request_id, exc.code, str(exc))
    except ChainError:
        return _error(request_id, SERVER_ERROR, "the chain could not answer this request")


def answer(read: Callable[[ReadCall], object], contract: str, body: object) -> object | None:
    """The JSON-RPC answer to ``body`` (one request or a batch of at most MAX_BATCH), each request
    checked and then read with ``read``; None when there is nothing to send back (notifications)."""
    if not isinstance(body, list):
        return _one(read, contract, body)
    if not body or len(body) > MAX_BATCH:
        return _error(None, INVALID_REQUEST, f"expected a batch of 1 to {MAX_BATCH} requests, got {len(body)}")
    answers = [a for a in (_one(read, contract, r) for r in body) if a is not None]
    return answers or None


def wire(value: object) -> object:
    """A web3 result in the JSON-RPC wire format: integers as hex quantities, bytes as 0x data."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(k): wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    raise TypeError(f"no JSON-RPC form for {type(value).__name__}")


def read(w3: Web3, contract: str, call: ReadCall) -> object:
    """Do ``call`` (checked by ``check_call``) through ``w3`` and answer as a node would."""
    from web3.exceptions import BlockNotFound

    block: Any = "latest" if call.block is None else call.block
    if call.method == "eth_chainId":
        return wire(int(w3.eth.chain_id))
    if call.method == "eth_blockNumber":
        return wire(int(w3.eth.block_number))
    if call.method == "eth_getBlockByNumber":
        try:
            return wire(w3.eth.get_block(block, False))
        except BlockNotFound:
            return None  # as a node answers for a block it does not have
    if call.block is not None and call.block > int(w3.eth.block_number):
        raise RpcRefusedError(SERVER_ERROR, "header not found")  # as geth answers a call at a future block
    return wire(bytes(w3.eth.call({"to": w3.to_checksum_address(contract), "data": call.data}, block)))

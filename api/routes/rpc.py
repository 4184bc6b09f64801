"""``POST /rpc``: the embedded chain's read-only JSON-RPC view (chain/rpcview.py) for phones.

A phone checks a scan page's anchors itself by calling TraceAnchor over JSON-RPC (issue 14).
A real network has public endpoints for that (CRADLETRACE_PUBLIC_RPC_URLS); the embedded
development chain has none, so this server answers the few reads the check needs, same origin,
no key, rate-limited per client address like the scans. With an external node it is 404: the
phone must ask the public endpoints, never this server, for the chain's word.
"""

from __future__ import annotations

import json

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cradletrace.api.deps import RuntimeDep, client_address, json_body
from cradletrace.api.errors import ApiError, responses, too_many
from cradletrace.chain.rpcview import answer

router = APIRouter(tags=["chain"])
RATE_LIMITED = "too many JSON-RPC requests from this address; slow down"
NOT_HERE = (
    "no JSON-RPC view here: the chain is an external node; expected the phone to use the public "
    "endpoints in the scan page's chain.rpc_urls"
)


@router.post(
    "/rpc",
    responses={200: {"description": "JSON-RPC 2.0 answer(s)"}, **responses(404, 413, 422, 429)},
    summary="Read-only JSON-RPC view of the embedded chain",
)
async def rpc(request: Request, runtime: RuntimeDep) -> Response:
    """JSON-RPC 2.0, single or batch: eth_chainId, eth_blockNumber, eth_getBlockByNumber (no full
    transactions) and eth_call of TraceAnchor's view functions at our contract; nothing else."""
    if not runtime.settings.embedded:
        raise ApiError(404, NOT_HERE)
    wait = runtime.rpc_limiter.check(client_address(request))
    if wait:
        raise too_many(RATE_LIMITED, wait)
    body = await json_body(request)
    chain = await to_thread.run_sync(runtime.chain)
    out = await to_thread.run_sync(answer, chain.read_rpc, chain.contract_address, body)
    if out is None:
        return Response(status_code=204)  # notifications only
    return Response(json.dumps(out), media_type="application/json")

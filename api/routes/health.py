"""Liveness with substance: can this process reach its store and its chain right now?"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy import text

from cradletrace.api.deps import RuntimeDep
from cradletrace.api.errors import responses
from cradletrace.api.models import ChainHealth, Health, StoreHealth

router = APIRouter(prefix="/health", tags=["health"])
# ``/healthz`` is the same check at the root, where load balancers and orchestrators look.
root_router = APIRouter(tags=["health"])
_RESPONSES = {
    503: {"model": Health, "description": "Store or chain unreachable"},
    **{k: v for k, v in responses().items() if k != 503},
}
log = logging.getLogger("cradletrace.api")


@router.get("", response_model=Health, responses=_RESPONSES)
@root_router.get("/healthz", response_model=Health, responses=_RESPONSES)
def health(runtime: RuntimeDep, response: Response) -> Health:
    """Public. 200 when the store answers a query and the chain answers a contract call, else 503."""
    store = StoreHealth(ok=False)
    try:
        with runtime.session() as s:
            s.execute(text("SELECT 1"))
        store.ok = True
    except Exception as exc:  # reported as a flag; the cause goes to the log only
        log.warning("health: store: %s: %s", type(exc).__name__, str(exc)[:200])
    chain = ChainHealth(ok=False)
    try:
        anchor = runtime.chain()
        anchor.lookup(bytes(32))
        chain = ChainHealth(ok=True, chain_id=anchor.chain_id, contract=anchor.contract_address, local=anchor.local)
    except Exception as exc:
        log.warning("health: chain: %s: %s", type(exc).__name__, str(exc)[:200])
    ok = store.ok and chain.ok
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "unavailable", store=store, chain=chain)

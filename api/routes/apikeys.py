"""API keys (operator): create one (its secret is in that response only), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cradletrace import apikeys
from cradletrace.api.deps import OperatorDep, SessionDep
from cradletrace.api.errors import responses
from cradletrace.api.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=responses(401, 403, 404, 422))
def create_key(body: ApiKeyCreate, session: SessionDep, caller: OperatorDep, response: Response) -> ApiKeyCreated:
    """Create a key; a supplier key needs ``supplier_id`` and acts only as that supplier."""
    row, secret = apikeys.create_key(session, body.name, body.role, body.supplier_id)
    session.commit()
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(key=ApiKeyPublic.model_validate(row, from_attributes=True), secret=secret)


@router.get("", response_model=list[ApiKeyPublic], responses=responses(401, 403))
def list_keys(session: SessionDep, caller: OperatorDep) -> list[ApiKeyPublic]:
    """Every key, revoked ones included; secrets are never shown again."""
    return [ApiKeyPublic.model_validate(k, from_attributes=True) for k in apikeys.list_keys(session)]


@router.post("/{key_id}/revoke", response_model=ApiKeyPublic, responses=responses(401, 403, 404, 422))
def revoke_key(key_id: str, session: SessionDep, caller: OperatorDep) -> ApiKeyPublic:
    """Revoke a key; its next request is refused with 401."""
    row = apikeys.revoke_key(session, key_id)
    session.commit()
    return ApiKeyPublic.model_validate(row, from_attributes=True)

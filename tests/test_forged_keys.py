"""A weak public key can be registered nowhere, and an event forged under one is INVALID
everywhere (recording, verify, audit, bundles), even one put into an old store by hand."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from cradletrace import recording, suppliers
from cradletrace.cli import app
from cradletrace.core import signing
from cradletrace.core.canonical import canonical_bytes, sha256
from cradletrace.core.events import KEY_LOG_SUPPLIER
from cradletrace.errors import InvalidEventError, InvalidInputError
from cradletrace.store.models import EventRow, SupplierKey
from cradletrace.verification import audit, export_bundle, read_bundle, verify_bundle_on, verify_event
from cradletrace.workspace import Workspace
from tests.anchoring.test_anchoring import anchor
from tests.conftest import NOW
from tests.core.test_weak_keys import NON_CANONICAL, SMALL_ORDER

IDENTITY = bytes.fromhex(SMALL_ORDER[0])
FORGED_SIGNATURE = base64.b64encode(IDENTITY + bytes(32)).decode()  # R = identity, S = 0


@pytest.mark.parametrize("encoding", SMALL_ORDER + NON_CANONICAL)
def test_weak_keys_are_refused_at_registration(workspace: Workspace, encoding: str) -> None:
    public = base64.b64encode(bytes.fromhex(encoding)).decode()
    with workspace.session() as s, pytest.raises(InvalidInputError) as info:
        suppliers.register_public_key(s, workspace.settings.keys_dir, "waikato-dairy", public)
    assert info.value.field == "public_key" and ("small order" in str(info.value) or "non-canonical" in str(info.value))
    with workspace.session() as s:
        keys = s.exec(select(SupplierKey).where(SupplierKey.supplier_id != KEY_LOG_SUPPLIER)).all()
        assert len(keys) == 4  # the fixture's four, nothing more


def test_cli_register_key_refuses_the_identity_key(workspace: Workspace) -> None:
    workspace.close()
    db = ["--database-url", workspace.settings.database_url] if workspace.settings.database_url else []
    result = CliRunner().invoke(
        app,
        [
            "supplier",
            "register-key",
            "waikato-dairy",
            base64.b64encode(IDENTITY).decode(),
            "--data-dir",
            str(workspace.settings.data_dir),
            *db,
        ],
    )
    assert result.exit_code != 0 and "public_key" in result.output and "small order" in result.output, result.output


def test_an_event_forged_under_the_identity_key_is_invalid_everywhere(workspace: Workspace, events) -> None:  # type: ignore[no-untyped-def]
    kid = signing.key_id(IDENTITY)
    with workspace.session() as s:  # an old store that accepted the key
        s.add(
            SupplierKey(
                key_id=kid,
                supplier_id="waikato-dairy",
                public_key=base64.b64encode(IDENTITY).decode(),
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    event = copy.deepcopy(events[0])
    event["key"] = kid
    with workspace.session() as s, pytest.raises(InvalidEventError) as info:
        recording.record_submissions(s, [recording.Submission(event, FORGED_SIGNATURE)], NOW)
    assert info.value.field == "events[0].signature"

    body = canonical_bytes(event)
    with workspace.session() as s:  # put in by hand, as the old OpenSSL fallback let it in
        row = EventRow(
            digest=sha256(body).hex(),
            kind="batch",
            supplier_id="waikato-dairy",
            key_id=kid,
            body=body.decode(),
            signature=FORGED_SIGNATURE,
            recorded_at=NOW,
            gtin=event["data"]["product"]["gtin"],
            lot=event["data"]["lot"],
        )
        s.add(row)
        s.flush()
        eid = row.id
    anchor(workspace)
    with workspace.session() as s:
        v = verify_event(s, workspace.chain(), str(eid))
        assert v.status == "INVALID" and v.reasons == (
            "signature bad: the signature does not verify over the stored event",
        )
        report = audit(s, workspace.chain())
        assert [(i, why) for i, _, why in report.bad_events] == [(eid, v.reasons[0])]
        bundle = export_bundle(s, workspace.chain(), str(eid))
    workspace.close()
    verdict = verify_bundle_on(workspace.settings, read_bundle(json.dumps(bundle)))
    assert (
        verdict.status == "INVALID" and "signature bad: the signature does not verify over the event" in verdict.reasons
    )

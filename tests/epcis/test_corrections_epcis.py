"""Corrections the EPCIS way (EPCIS 2.0 §7.4.1.4), on SQLite and PostgreSQL: the erroneous event
re-sent with an errorDeclaration becomes a signed correction of the stored event; exports and
queries then carry the declaration on the original, which keeps its eventID."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from cradletrace.epcis import query, validation, xml
from cradletrace.epcis.capture import import_document
from cradletrace.epcis.export import export_lot
from cradletrace.errors import Conflict, InvalidEpcisError, StateConflictError
from cradletrace.store.models import EventRow
from cradletrace.workspace import Workspace
from tests.conftest import NOW

LAB = "canterbury-lab"
RAW_A, RAW_B, BATCH, PASSING, FAILING, SHIPMENT, COLD = range(7)
DECLARED = "2026-11-25T13:00:00+00:00"


def _events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["epcisBody"]["eventList"]  # type: ignore[no-any-return]


def _declaration(doc: dict[str, Any], event: dict[str, Any], **err: Any) -> bytes:
    """A document of ``event`` (from ``doc``) re-sent with an errorDeclaration."""
    sent = copy.deepcopy(event)
    sent["errorDeclaration"] = {"declarationTime": DECLARED, **err}
    out = {**doc, "epcisBody": {"eventList": [sent]}}
    assert validation.validate(out) == []
    return json.dumps(out).encode()


def _query(ws: Workspace, **params: str) -> list[str]:
    with ws.session() as s:
        page = query.run(s, {k: [v] for k, v in params.items()}, query.Viewer(None))
        s.commit()
    assert validation.validate(query.document(page, NOW)) == []  # the declaration as GS1's schema has it
    return [e["eventID"] for e in page.events]


def test_an_error_declaration_round_trips_and_is_queryable(
    workspace: Workspace, record: Callable[..., Any], events: list[dict[str, Any]]
) -> None:
    rows = record(events)
    with workspace.session() as s:
        before = export_lot(s, "IF-0001", NOW)
    by_digest = dict(zip([r.digest for r in rows if r.lot == "IF-0001" or r.ref == "PCC-2026-0042"], _events(before)))
    failing, passing = by_digest[rows[FAILING].digest], by_digest[rows[PASSING].digest]
    assert failing["disposition"] == "non_conformant"

    text = _declaration(before, failing, reason="did_not_occur", correctiveEventIDs=[passing["eventID"]])
    with workspace.session() as s:
        (fix,) = import_document(s, workspace.settings.keys_dir, workspace.limits, text, LAB, NOW)
        s.commit()
        kept = s.exec(select(EventRow).where(EventRow.digest == rows[FAILING].digest)).one()
    data = json.loads(fix.body)["data"]
    assert (fix.kind, data["corrects"], data["reason"], data["corrective"]) == (
        "correction",
        rows[FAILING].digest,
        "did_not_occur",
        [rows[PASSING].digest],
    )
    assert kept.body == rows[FAILING].body  # the original is never changed

    with workspace.session() as s:
        after = export_lot(s, "IF-0001", NOW)
    assert validation.validate(after) == []
    out = [e for e in _events(after) if e["eventID"] == failing["eventID"]]  # same eventID: the hash leaves it out
    assert [e["errorDeclaration"] for e in out] == [
        {
            "declarationTime": DECLARED,
            "reason": "did_not_occur",
            "correctiveEventIDs": [passing["eventID"]],
            "ct:correction": fix.digest,
        }
    ]
    assert sum("errorDeclaration" in e for e in _events(after)) == 1
    as_xml = xml.parse(xml.to_xml(after))  # XML out (Accept: application/xml) keeps it, valid against the XSD
    assert xml.xsd_problems(as_xml) == []
    back = [e for e in _events(xml.to_json(as_xml)) if "errorDeclaration" in e]
    assert [e["errorDeclaration"]["correctiveEventIDs"] for e in back] == [[passing["eventID"]]]

    assert _query(workspace, EXISTS_errorDeclaration="") == [failing["eventID"]]
    assert _query(workspace, EQ_errorReason="https://ref.gs1.org/cbv/ER-did_not_occur") == [failing["eventID"]]
    assert _query(workspace, EQ_errorReason="incorrect_data") == []
    assert _query(workspace, EQ_correctiveEventID=passing["eventID"]) == [failing["eventID"]]
    assert _query(workspace, GE_errorDeclarationTime="2026-11-25T12:30:00Z") == [failing["eventID"]]

    other = _declaration(before, failing, reason="incorrect_data")
    with pytest.raises(StateConflictError) as again:  # declared twice: the store's state is in the way
        with workspace.session() as s:
            import_document(s, workspace.settings.keys_dir, workspace.limits, other, LAB, NOW)
    assert again.value.kind is Conflict.CORRECTED
    assert [p.where for p in again.value.problems] == ["/epcisBody/eventList/0"]
    assert "data.corrects" in again.value.problems[0].message


def test_a_declaration_of_an_unknown_event_or_corrective_is_named_by_pointer(
    workspace: Workspace, record: Callable[..., Any], events: list[dict[str, Any]]
) -> None:
    rows = record(events)
    with workspace.session() as s:
        doc = export_lot(s, "IF-0001", NOW)
    failing = _events(doc)[[r.digest for r in rows if r.lot == "IF-0001"].index(rows[FAILING].digest)]
    unknown = copy.deepcopy(failing)
    unknown["eventID"] = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    unknown["eventTime"] = "2026-11-20T00:00:00Z"  # another event: another hash
    bad = [
        (_declaration(doc, unknown, reason="incorrect_data"), "/epcisBody/eventList/0/errorDeclaration"),
        (
            _declaration(doc, failing, reason="incorrect_data", correctiveEventIDs=["urn:uuid:0"]),
            "/epcisBody/eventList/0/errorDeclaration/correctiveEventIDs/0",
        ),
        (_declaration(doc, failing), "/epcisBody/eventList/0/errorDeclaration/reason"),
    ]
    for text, where in bad:
        with pytest.raises(InvalidEpcisError) as caught:
            with workspace.session() as s:
                import_document(s, workspace.settings.keys_dir, workspace.limits, text, LAB, NOW)
        assert [p.where for p in caught.value.problems] == [where]

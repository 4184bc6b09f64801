"""The EPCIS index row of a captured event: written once, by the original, whatever came first.

Capture records with ``record_submissions(index=False)`` and then ``index.use_captured`` writes the
original's rows; ``use_captured`` must still replace an entry the profile gave the event (a caller
that recorded with the index on), never leave two rows or a stale value behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from cradletrace import recording
from cradletrace.epcis import index
from cradletrace.store.models import EpcisIndex, EpcisIndexValue
from cradletrace.workspace import Workspace
from tests.conftest import NOW

ORIGINAL = {
    "type": "ObjectEvent",
    "eventID": "urn:uuid:00000000-0000-4000-8000-000000000018",
    "eventTime": "2026-11-20T08:00:00Z",
    "eventTimeZoneOffset": "+00:00",
    "action": "OBSERVE",
    "epcList": ["https://id.gs1.org/01/09421902960018/21/CAN-1"],
    "bizStep": "https://ref.gs1.org/cbv/BizStep-inspecting",
}


def _rows(workspace: Workspace, event_id: int) -> tuple[list[Any], set[tuple[str, str]]]:
    with workspace.session() as s:
        rows = list(s.exec(select(EpcisIndex.eid, EpcisIndex.biz_step).where(EpcisIndex.event_id == event_id)))
        values = set(
            s.exec(select(EpcisIndexValue.role, EpcisIndexValue.value).where(col(EpcisIndexValue.event_id) == event_id))
        )
    return rows, values


def test_use_captured_replaces_the_profiles_entry_and_index_false_writes_none(
    workspace: Workspace,
    events: list[dict[str, object]],
    sign: Callable[[list[dict[str, object]]], list[recording.Submission]],
) -> None:
    items = sign(events[:2])
    with workspace.session() as s:
        indexed = recording.record_submissions(s, items[:1], NOW)  # the profile's entry
        bare = recording.record_submissions(s, items[1:], NOW, index=False)  # none
        s.commit()
    (first,), (second,) = indexed, bare
    assert len(_rows(workspace, first.id)[0]) == 1
    assert _rows(workspace, second.id) == ([], set())

    with workspace.session() as s:
        index.use_captured(
            s,
            [
                (e.id, ORIGINAL, f"ni:///sha-256;{i}?ver=CBV2.0", e.supplier_id, NOW)
                for i, e in enumerate((first, second))
            ],
            "[]",
        )
        s.commit()
    for e in (first, second):
        rows, values = _rows(workspace, e.id)
        assert rows == [(ORIGINAL["eventID"], "inspecting")]
        assert values == {("epc", "https://id.gs1.org/01/09421902960018/21/CAN-1")}

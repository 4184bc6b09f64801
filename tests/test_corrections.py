"""Corrections (EPCIS error declarations): the event kind's own rules and the recording rules, on
SQLite and on PostgreSQL. The original stays as it was; only its recorder corrects it, once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from cradletrace import corrections, recording
from cradletrace.core import canonical
from cradletrace.core.events import CorrectionData, parse_event
from cradletrace.errors import Conflict, InvalidEventError, NotAllowedError, StateConflictError
from cradletrace.store.models import EventRow
from cradletrace.workspace import Workspace
from tests.conftest import NOW

Events = list[dict[str, Any]]
Record = Callable[..., list[recording.RecordedEvent]]
RAW_A, RAW_B, BATCH, PASSING, FAILING, SHIPMENT, COLD = range(7)
LAB = "canterbury-lab"


def correction(
    supplier: str, corrects: str, reason: str = "did_not_occur", corrective: list[str] | None = None
) -> dict[str, Any]:
    """An unsigned correction, declared an hour after NOW."""
    return {
        "kind": "correction",
        "supplier": supplier,
        "data": {
            "corrects": corrects,
            "declaration_time": (NOW + timedelta(hours=1)).isoformat(),
            "reason": reason,
            "corrective": corrective or [],
        },
    }


def test_a_correction_parses_and_its_own_rules_name_the_field() -> None:
    good = correction(LAB, "a" * 64, "incorrect_data", ["b" * 64]) | {"key": "0" * 16}
    event = parse_event(canonical.canonical_bytes(good))
    assert isinstance(event.data, CorrectionData) and not event.data.did_not_occur
    uri = copy.deepcopy(good)
    uri["data"]["reason"] = "https://example.com/er/mislabelled"
    assert parse_event(canonical.canonical_bytes(uri)).data.reason == uri["data"]["reason"]  # type: ignore[union-attr]
    cases = [
        ("reason", "oops", "events[0].data.reason", "did_not_occur or incorrect_data"),
        ("corrective", ["a" * 64], "events[0].data.corrective[0]", "the corrected event itself"),
        ("corrective", ["b" * 64, "b" * 64], "events[0].data.corrective[1]", "each event once"),
        ("corrects", "A" * 64, "events[0].data.corrects", "pattern"),
    ]
    for field, value, where, said in cases:
        bad = copy.deepcopy(good)
        bad["data"][field] = value
        with pytest.raises(InvalidEventError) as exc:
            parse_event(canonical.canonical_bytes(bad), "events[0]")
        assert [(p.where, said in p.message) for p in exc.value.problems] == [(where, True)], exc.value.problems


def test_the_recorder_corrects_its_event_and_the_original_is_kept(
    workspace: Workspace, events: Events, record: Record
) -> None:
    rows = record(events)
    failing = rows[FAILING]
    fixed = copy.deepcopy(events[FAILING])
    fixed["data"]["analytes"][0]["value"] = 0  # the lab's corrected result: no detection
    (redo,) = record([fixed])
    (fix,) = record([correction(LAB, failing.digest, "incorrect_data", [redo.digest])])
    assert (fix.kind, fix.ref, fix.outcome) == ("correction", failing.digest, "incorrect_data")
    with workspace.session() as s:
        kept = s.exec(select(EventRow).where(EventRow.digest == failing.digest)).one()
        assert kept.body == failing.body  # never changed
        found = corrections.declarations(s, [failing.digest, redo.digest])
    assert list(found) == [failing.digest]
    assert found[failing.digest].corrective == (redo.digest,) and not found[failing.digest].did_not_occur


def test_only_the_recorder_corrects_once_and_only_what_exists(
    workspace: Workspace, events: Events, record: Record
) -> None:
    rows = record(events)
    report = rows[PASSING].digest
    with pytest.raises(NotAllowedError) as refused:  # the plant may not unsay the lab's report
        record([correction("alps-nutrition", report)])
    assert [p.where for p in refused.value.problems] == ["events[0].data.corrects"]
    assert "expected its recorder 'canterbury-lab'" in str(refused.value)
    with pytest.raises(InvalidEventError) as unknown:
        record([correction(LAB, "e" * 64, corrective=["f" * 64])])
    assert sorted(p.where for p in unknown.value.problems) == [
        "events[0].data.corrective[0]",
        "events[0].data.corrects",
    ]
    with pytest.raises(StateConflictError) as twice_here:  # two declarations in one submission
        record([correction(LAB, report), correction(LAB, report, "incorrect_data")])
    assert twice_here.value.kind is Conflict.CORRECTED
    assert [p.where for p in twice_here.value.problems] == ["events[1].data.corrects"]
    (first,) = record([correction(LAB, report)])
    with pytest.raises(StateConflictError) as again:
        record([correction(LAB, report, "incorrect_data")])
    assert [p.where for p in again.value.problems] == ["events[0].data.corrects"]
    assert first.digest[:12] in again.value.problems[0].message
    with pytest.raises(InvalidEventError) as of_correction:  # a correction is not itself corrected
        record([correction(LAB, first.digest)])
    assert "a correction record" in of_correction.value.problems[0].message
    with workspace.session() as s:
        assert s.exec(select(EventRow).where(EventRow.kind == "correction")).all() == [
            s.exec(select(EventRow).where(EventRow.digest == first.digest)).one()
        ]

"""Recording refuses what core/admission.py refuses, on SQLite and PostgreSQL, and stores nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlmodel import func, select

from cradletrace.errors import InvalidEventError
from cradletrace.store.models import EventRow
from cradletrace.workspace import Workspace

BATCH, REPORT, COLD = 2, 3, 6


def _count(ws: Workspace) -> int:
    with ws.session() as s:
        return int(s.exec(select(func.count()).where(EventRow.kind != "key")).one())  # the suppliers' events


def test_a_report_with_a_looser_limit_than_the_table_is_refused(
    workspace: Workspace, events: list[Any], record: Any
) -> None:
    evs = copy.deepcopy(events)
    evs[REPORT]["data"]["analytes"][1] = {
        "name": "melamine",
        "category": "contaminant",
        "value": 2_500,
        "unit": "mg/kg",
        "limit": 3_000,
        "method": "LC-MS/MS",
    }
    with pytest.raises(InvalidEventError) as info:
        record(evs)
    [problem] = info.value.problems
    assert (
        problem.where == "events[3].data.analytes[1].limit"
        and "at most 1 mg/kg, the legal limit for melamine" in problem.message
    )
    assert _count(workspace) == 0


def test_implausible_dates_are_refused(workspace: Workspace, events: list[Any], record: Any) -> None:
    evs = copy.deepcopy(events)
    evs[BATCH]["data"]["produced_on"], evs[BATCH]["data"]["expires_on"] = "9999-12-30", "9999-12-31"
    for r in evs[COLD]["data"]["readings"][2:]:
        r["at"] = "2999" + r["at"][4:]
    with pytest.raises(InvalidEventError) as info:
        record(evs)
    wheres = [p.where for p in info.value.problems]  # (and the events that needed the refused batch)
    assert wheres[0] == "events[2].data.produced_on" and "events[6].data.readings[2].at" in wheres
    assert _count(workspace) == 0

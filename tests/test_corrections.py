"""Corrections (EPCIS error declarations): the event kind's own rules and the recording rules, on
SQLite and on PostgreSQL. The original stays as it was; only its recorder corrects it, once."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from cradletrace import corrections, recording, suppliers
from cradletrace.cli import app
from cradletrace.cli.verify import _print_correction
from cradletrace.core import canonical, signing
from cradletrace.core.events import KEY_LOG_SUPPLIER, CorrectionData, parse_event
from cradletrace.errors import Conflict, InvalidEventError, NotAllowedError, StateConflictError
from cradletrace.recall import genealogy
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


def test_a_batch_that_did_not_occur_is_no_genealogy_edge_and_traces_say_so(
    workspace: Workspace, events: Events, record: Record
) -> None:
    rows = record(events)
    milk = (rows[RAW_A].gtin, rows[RAW_A].lot)
    formula = (rows[BATCH].gtin, "IF-0001")
    with workspace.session() as s:
        before = genealogy.trace_forward(s, lot=milk)
        assert [lot.key for lot in before.lots] == [milk, formula]
    (fix,) = record([correction("alps-nutrition", rows[BATCH].digest)])
    record([correction(LAB, rows[FAILING].digest, "incorrect_data")])
    with workspace.session() as s:
        forward = genealogy.trace_json(genealogy.trace_forward(s, lot=milk))
        backward = genealogy.trace_json(genealogy.trace_backward(s, lot=formula))
    assert [(lot["gtin"], lot["lot"]) for lot in forward["lots"]] == [milk]  # the batch no longer consumed it
    assert [(lot["gtin"], lot["lot"]) for lot in backward["lots"]] == [formula]  # nor stands behind it
    said = [{"gtin": formula[0], "lot": formula[1], "reason": "did_not_occur", "correction": fix.digest}]
    assert forward["not_followed"] == said and backward["not_followed"] == said
    assert sorted((r["verdict"], r["corrected"]) for r in backward["test_reports"]) == [
        ("fail", "incorrect_data"),
        ("pass", None),
    ]


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_the_correct_command_signs_with_the_recorders_key_file_and_refuses_twice(
    workspace: Workspace, events: Events, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = record(events)
    runner = CliRunner()
    where = ["--data-dir", str(workspace.settings.data_dir)]
    failing, passing = str(rows[FAILING].id), rows[PASSING].digest[:12]  # an id, a digest prefix
    bad = runner.invoke(app, ["correct", failing, "--reason", "oops", *where])
    assert bad.exit_code == 2 and "events[0].data.reason" in bad.stderr, bad.output
    unknown = runner.invoke(app, ["correct", failing, "--reason", "incorrect_data", "--corrective", "999999", *where])
    assert unknown.exit_code == 2 and "corrective[0]" in unknown.stderr, unknown.output
    done = runner.invoke(app, ["correct", failing, "--reason", "incorrect_data", "--corrective", passing, *where])
    assert done.exit_code == 0, done.output
    assert f"incorrect_data: corrects {rows[FAILING].digest}" in done.stdout
    again = runner.invoke(app, ["correct", failing, "--reason", "did_not_occur", *where])
    assert again.exit_code == 2 and "events[0].data.corrects" in again.stderr and "not yet corrected" in again.stderr
    with workspace.session() as s:
        (fix,) = s.exec(select(EventRow).where(EventRow.kind == "correction")).all()
    assert (fix.supplier_id, fix.ref) == (LAB, rows[FAILING].digest)  # the recorder's own key signed it
    assert json.loads(fix.body)["data"]["corrective"] == [rows[PASSING].digest]
    with workspace.session() as s:  # what 'verify' prints below the verdict (the chain is this test's, so no process)
        _print_correction(s, failing)
        _print_correction(s, str(fix.id))
    said = capsys.readouterr().out
    assert "corrected: incorrect_data declared" in said and f"corrective event: {rows[PASSING].digest}" in said
    assert f"correction of event {rows[FAILING].digest}: incorrect_data" in said


def test_the_operator_corrects_any_record_with_the_key_log_key_and_only_so(
    workspace: Workspace, events: Events, record: Record
) -> None:
    rows = record(events)
    keys = workspace.settings.keys_dir
    with workspace.session() as s:
        row = corrections.declare_as_operator(s, keys, rows[COLD].digest[:12], "did_not_occur", [], NOW)
        s.commit()
    assert (row.kind, row.supplier_id, row.ref) == ("correction", KEY_LOG_SUPPLIER, rows[COLD].digest)
    with workspace.session() as s, pytest.raises(StateConflictError):  # once, whoever declares
        corrections.declare_as_operator(s, keys, str(rows[COLD].id), "incorrect_data", [], NOW)
    with pytest.raises(StateConflictError):
        record([correction("pacific-cold", rows[COLD].digest, "incorrect_data")])
    forged = json.loads(row.body) | {"data": {**json.loads(row.body)["data"], "corrects": rows[SHIPMENT].digest}}
    with workspace.session() as s:  # signed by the key-log key, but sent the suppliers' way: refused
        signer = suppliers.registry(s, keys)
        sent = recording.Submission(forged, signing.sign(signer.private, canonical.canonical_bytes(forged)))
        with pytest.raises(InvalidEventError) as caught:
            recording.record_submissions(s, [sent], NOW)
    assert [p.where for p in caught.value.problems] == ["events[0].kind"]
    assert "--as-operator" in caught.value.problems[0].message

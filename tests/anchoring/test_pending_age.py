"""The age of the oldest pending event (issue 19): in ``/metrics`` and ``cradletrace status``, counting
events in a prepared or sent batch as pending until their root is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from cradletrace.anchoring import run as anchoring
from cradletrace.api.main import create_app
from cradletrace.cli import app
from cradletrace.workspace import Workspace
from tests.anchoring.test_anchoring import anchor, raw_lots
from tests.conftest import NOW


def age_in_metrics(ws: Workspace) -> float:
    ws.close()  # the app opens the store (and, if it must, the embedded chain) itself
    with TestClient(create_app(ws.settings)) as client:
        text = client.get("/metrics").text
    [line] = [x for x in text.splitlines() if x.startswith("cradletrace_oldest_pending_event_age_seconds ")]
    return float(line.split()[1])


def age_in_status(ws: Workspace) -> str:
    db = ["--database-url", ws.settings.database_url] if ws.settings.database_url else []
    result = CliRunner().invoke(app, ["status", "--data-dir", str(ws.settings.data_dir), *db])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("oldest pending event waited: ")]
    return line


def test_pending_age_counts_unbatched_and_unconfirmed_events_and_is_zero_when_all_are_confirmed(
    workspace, record, events
) -> None:
    anchor(workspace)  # the key log's records of the fixture's keys
    with workspace.session() as s:
        assert anchoring.oldest_pending(s) is None and anchoring.pending_age(s) == 0.0
    record(events[:3], now=NOW)
    record(raw_lots(events, 2), now=NOW + timedelta(seconds=40))
    later = NOW + timedelta(seconds=90)
    with workspace.session() as s:
        assert anchoring.oldest_pending(s) == NOW
        assert anchoring.pending_age(s, later) == 90.0

    with Session(workspace.engine, expire_on_commit=False) as s:  # batched, not yet sent: still pending
        batch = anchoring.prepare_batch(s, workspace.chain())
        assert batch is not None and batch.leaf_count == 5
        s.commit()
    with workspace.session() as s:
        assert anchoring.pending_age(s, later) == 90.0

    anchor(workspace)
    record(raw_lots(events, 1, "RM-late"), now=NOW + timedelta(seconds=60))
    with workspace.session() as s:
        assert anchoring.pending_age(s, later) == 30.0  # only the late event waits
    anchor(workspace)
    with workspace.session() as s:
        assert anchoring.oldest_pending(s) is None and anchoring.pending_age(s, later) == 0.0


def test_metrics_and_status_report_the_oldest_pending_events_age(workspace, record, events) -> None:
    record(events[:2], now=NOW)
    with Session(workspace.engine, expire_on_commit=False) as s:  # a batch stuck before its root is confirmed
        assert anchoring.prepare_batch(s, workspace.chain()) is not None
        s.commit()
    expected = (datetime.now(UTC) - NOW).total_seconds()
    line = age_in_status(workspace)
    assert line.endswith(" s (not yet under a confirmed root)") and abs(float(line.split()[4]) - expected) < 5
    assert abs(age_in_metrics(workspace) - expected) < 5


def test_metrics_and_status_report_zero_when_nothing_waits(workspace, record, events) -> None:
    record(events[:2], now=NOW)
    anchor(workspace)
    assert age_in_status(workspace) == "oldest pending event waited: 0 s (not yet under a confirmed root)"
    assert age_in_metrics(workspace) == 0.0

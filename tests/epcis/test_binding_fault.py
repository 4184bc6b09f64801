"""A capture job survives kill -9: a real ``cradletrace serve`` on 127.0.0.1 takes a signed capture of
a few thousand events, is killed (SIGKILL) while its worker runs the job, and is started again: the
job ends in success with each event stored exactly once (or failed whole), never half stored."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from cradletrace.config import Settings
from cradletrace.devstack.nodes import free_port
from cradletrace.devstack.processes import CLI, clean_env, running
from cradletrace.epcis import httpsig
from cradletrace.store.models import CaptureState, EpcisCapture, EpcisEvent, EpcisIndex, EventRow
from cradletrace.workspace import Workspace
from tests.api.conftest import A, key_file, open_site

EVENTS = 3000


def _document(n: int) -> bytes:
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": "2026-12-01T10:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"urn:epc:id:sgtin:0614141.107346.K{i}"],
            "action": "OBSERVE",
            "bizStep": "inspecting",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
        }
        for i in range(n)
    ]
    return json.dumps(
        {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-12-01T00:00:00Z",
            "epcisBody": {"eventList": events},
        }
    ).encode()


def _stored(s: Session, capture_id: int) -> tuple[int, int]:
    """(event rows, distinct event rows) the capture stored."""
    ref = col(EventRow.signature).like(f"epcis-capture:{capture_id}/%")
    total = s.exec(select(func.count()).select_from(EventRow).where(ref)).one()
    distinct = s.exec(select(func.count(func.distinct(EventRow.signature))).where(ref)).one()
    return int(total), int(distinct)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_mid_job_then_restart_stores_every_event_exactly_once(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("postgres_url")) if store == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    with open_site(settings) as site:
        api_key = site.secrets["supplier_a"]
    key_id, pem = key_file(settings, A)
    body = _document(EVENTS)
    env = clean_env(CRADLETRACE_EPCIS_CAPTURE_INTERVAL="0.2", **({"DATABASE_URL": url} if url else {}))
    argv = [str(CLI), "serve", "--data-dir", str(settings.data_dir), "--anchor-interval", "0", "--port"]
    ws = Workspace(settings)
    try:
        port = free_port()
        with running([*argv, str(port)], tmp_path, port, env=env) as served:
            url = f"{served.base}/epcis/capture"
            headers = {
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                **httpsig.sign("POST", url, "application/json", body, key_id, pem),
            }
            with urllib.request.urlopen(urllib.request.Request(url, body, headers, method="POST"), timeout=60) as r:
                assert r.status == 202
                capture_id = int(r.headers["Location"].rsplit("/", 1)[1])
            deadline = time.monotonic() + 30
            while True:  # the worker has the job: started, not finished
                with ws.session() as s:
                    job = s.get(EpcisCapture, capture_id)
                    assert job is not None
                    if job.started_at is not None and job.state == CaptureState.PENDING:
                        break
                    assert job.state == CaptureState.PENDING, "the job ended before it could be killed"
                assert time.monotonic() < deadline, served.output
                time.sleep(0.01)
            served.proc.kill()  # SIGKILL: no cleanup of any kind
            served.proc.wait(timeout=30)
        with ws.session() as s:
            job = s.get(EpcisCapture, capture_id)
            assert job is not None and job.state == CaptureState.PENDING and job.finished_at is None
            assert _stored(s, capture_id) == (0, 0)  # nothing of a job half done
        port = free_port()
        with running([*argv, str(port)], tmp_path, port, env=env) as served:
            deadline = time.monotonic() + 120
            while True:
                with ws.session() as s:
                    job = s.get(EpcisCapture, capture_id)
                    assert job is not None
                    if job.state != CaptureState.PENDING:
                        break
                assert time.monotonic() < deadline, served.output
                time.sleep(0.2)
        with ws.session() as s:
            job = s.get(EpcisCapture, capture_id)
            assert job is not None and job.state == CaptureState.SUCCESS, job.errors
            assert job.attempts == 2 and job.event_count == EVENTS
            assert _stored(s, capture_id) == (EVENTS, EVENTS)
            ids = select(EventRow.id).where(col(EventRow.signature).like(f"epcis-capture:{capture_id}/%"))
            assert (
                s.exec(select(func.count()).select_from(EpcisEvent).where(col(EpcisEvent.event_id).in_(ids))).one()
                == EVENTS
            )
            assert (
                s.exec(select(func.count()).select_from(EpcisIndex).where(col(EpcisIndex.event_id).in_(ids))).one()
                == EVENTS
            )
    finally:
        ws.close()

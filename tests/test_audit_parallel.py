"""The full audit over a 10 000-event store, checked by threads: a tampered event anywhere (event
7 000, a chunk's first row, the last row) is still reported, in the same order and words as a
single-worker run, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from bench import bench_core as bc
from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.devstack.pg import PostgresServer
from cradletrace.verification import AuditReport, audit
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchoring import anchor

N = 10_000
KEYS = len(bc.SUPPLIER_SPECS) + 1  # the key log's records of the suppliers' keys and its own: events too
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SIG_BAD = "signature bad: the signature does not verify over the stored event"


def _sql(ws: Workspace, statement: str, **params: Any) -> None:
    with ws.engine.begin() as conn:
        assert conn.execute(text(statement), params).rowcount == 1


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tampered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, list[tuple[int, str, str]]]]:
    """10 000 recorded, anchored events, five of them tampered; the problems a correct audit lists."""
    url = None
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    ws, _ = init_workspace(Settings(data_dir=tmp_path_factory.mktemp("audit") / "data", database_url=url))
    with ws:
        bc.add_suppliers(ws, NOW)
        items = bc.sign_all(ws, bc.synthetic_events(N))
        for part in bc.chunks(items, 1000):
            with ws.session() as s:
                recording.record_submissions(s, part, NOW)
        anchor(ws)
        with ws.engine.connect() as conn:
            rows = [
                tuple(r) for r in conn.execute(text('SELECT id, digest, signature, proof FROM "event" ORDER BY id'))
            ]
        assert len(rows) == N + KEYS
        (e1, d1, _, _), (e5k, d5k, _, p5k), (e7k, d7k, _, _), (elast, dlast, _, _) = (
            rows[1],
            rows[5000],
            rows[6999],
            rows[-1],
        )
        _sql(ws, 'UPDATE "event" SET signature = :s WHERE id = :i', s=rows[0][2], i=e7k)  # another event's signature
        _sql(ws, 'UPDATE "event" SET body = replace(body, \'"kind"\', \'"kind" \') WHERE id = :i', i=e1)
        _sql(ws, 'UPDATE "event" SET proof = :p WHERE id = :i', p=p5k[::-1], i=e5k)  # first row of the second chunk
        _sql(ws, 'UPDATE "event" SET signature = :s WHERE id = :i', s="not base64!", i=elast)
        expected = [
            (e1, d1, "content changed: the stored event no longer hashes to its digest"),
            (e1, d1, SIG_BAD),
            (e5k, d5k, "proof wrong: the proof does not lead from the event's digest to its root"),
            (e7k, d7k, SIG_BAD),
            (elast, dlast, SIG_BAD),
        ]
        yield ws, expected
    if url is not None:
        server.drop_database(url.rsplit("/", 1)[1])


def _audit(ws: Workspace, **kw: Any) -> tuple[AuditReport, list[int]]:
    seen: list[int] = []
    with ws.session() as s:
        return audit(s, ws.chain(), progress=seen.append, **kw), seen


def test_a_tampered_signature_at_event_7000_of_10000_is_reported(
    tampered: tuple[Workspace, list[tuple[int, str, str]]],
) -> None:
    ws, expected = tampered
    report, seen = _audit(ws)  # the default: one thread per core
    assert report.bad_events == expected and report.problems == []
    assert report.events_checked == N + KEYS and seen == [5000, 10_000, N + KEYS] and report.roots_checked == 1
    quick, _ = _audit(ws, check_signatures=False)  # a replaced signature is what only the full audit sees
    assert quick.bad_events == [b for b in expected if b[2] != SIG_BAD]


@pytest.mark.parametrize("workers", [2, 3])
def test_threads_report_exactly_what_one_worker_reports(
    tampered: tuple[Workspace, list[tuple[int, str, str]]], workers: int
) -> None:
    ws, expected = tampered
    one, seen_one = _audit(ws, workers=1)
    many, seen_many = _audit(ws, workers=workers)
    assert one == many and seen_one == seen_many
    assert one.bad_events == expected

"""Backup and restore as docs/operations.md describes it: pg_dump, pg_restore into a new database,
one anchoring run, audit. Real PostgreSQL client tools against the test server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.verification import audit
from cradletrace.workspace import Workspace, init_workspace
from tests.anchoring.test_anchoring import add_suppliers, anchor, record_into, stored_batches, tx_count, verdicts

pytestmark = pytest.mark.postgres


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_restore_finishes_an_interrupted_batch_and_audit_names_the_roots_lost_since_the_backup(
    tmp_path: Path, postgres_server, postgres_url, events
) -> None:
    bin_ = postgres_server.pg_bin
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    dump = tmp_path / "cradletrace.dump"
    ws, _ = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events[:3])
        anchor(ws)
        record_into(ws, events[3:5])
        with Session(ws.engine, expire_on_commit=False) as s:  # a batch prepared, not sent, at backup time
            interrupted = anchoring.prepare_batch(s, ws.chain())
            assert interrupted is not None
            s.commit()
        subprocess.run(
            [str(bin_ / "pg_dump"), "--format=custom", f"--file={dump}", libpq(postgres_url)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        anchor(ws)  # after the backup: the interrupted batch is sent, then more events under a third root
        record_into(ws, events[5:])
        [lost] = anchor(ws)
        chain = ws.chain()
        sent = tx_count(chain)

    restored_url = postgres_server.create_database()
    subprocess.run(
        [str(bin_ / "pg_restore"), f"--dbname={libpq(restored_url)}", str(dump)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with Workspace(settings.model_copy(update={"database_url": restored_url})) as back:
        [(batch_id, status)] = [(b.id, b.status) for b in stored_batches(back) if b.status != "confirmed"]
        assert (batch_id, status) == (interrupted.id, "prepared")

        [r] = anchor(back)  # step 3: the root is already on chain; confirmed, not sent again

        assert (r.batch_id, r.recovered) == (interrupted.id, True)
        assert tx_count(back.chain()) == sent
        assert set(verdicts(back).values()) == {"VALID"}  # all 5 events the backup holds
        with back.session() as s:
            report = audit(s, back.chain())
        assert list(report.problems) == [
            f"root 0x{lost.root} (block {lost.block_number}, 2 leaves) is on chain but not in the store: "
            "all of its leaves are missing"
        ]
        assert report.bad_events == []

"""Smaller first commits (issue 19): a run's first batch is bounded, and it is prepared and committed
before the chain is opened, so a worker killed while opening the chain has still made progress."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cradletrace.anchoring import run as anchoring
from cradletrace.anchoring.worker import AnchorWorker
from cradletrace.errors import ChainUnavailableError
from cradletrace.workspace import Workspace
from tests.anchoring.test_anchoring import anchor, raw_lots, stored_batches, stored_events
from tests.conftest import KEY_RECORDS


def test_a_runs_batches_grow_from_first_leaves_by_four(workspace, record, events) -> None:
    record(raw_lots(events, 23))
    results = anchor(workspace, first_leaves=2, max_leaves=10)
    assert [r.leaf_count for r in results] == [2, 8, 10, 8]  # 23 events and the key log's 5 records
    assert {b.status for b in stored_batches(workspace)} == {"confirmed"}


def test_prepare_ahead_cuts_one_bounded_batch_for_the_contract_already_in_use(
    workspace: Workspace, record, events
) -> None:
    chain = workspace.chain()
    record(events[:2])
    with Session(workspace.engine) as s:  # no batch yet: which contract is in use is not proven
        assert anchoring.prepare_ahead(s, chain.contract_address, chain.chain_id) is None
    anchor(workspace)
    record(raw_lots(events, 9))
    with Session(workspace.engine) as s:
        assert (
            anchoring.prepare_ahead(s, chain.contract_address.lower(), chain.chain_id + 1, 4) is None
        )  # another chain
        assert anchoring.prepare_ahead(s, "0x" + "11" * 20, chain.chain_id, 4) is None  # another contract
        batch = anchoring.prepare_ahead(s, chain.contract_address.lower(), chain.chain_id, 4)
        assert batch is not None and (batch.leaf_count, batch.status, batch.contract) == (
            4,
            "prepared",
            chain.contract_address,
        )
    with Session(workspace.engine) as s:
        assert anchoring.prepare_ahead(s, chain.contract_address, chain.chain_id, 4) is None  # one is open
    [first, rest] = anchor(workspace)
    assert (first.batch_id, first.leaf_count, first.recovered) == (batch.id, 4, True) and rest.leaf_count == 5


def test_a_worker_that_dies_opening_the_chain_has_committed_its_first_batch(
    workspace: Workspace, record, events
) -> None:
    record(events[:2])
    anchor(workspace)
    record(raw_lots(events, anchoring.FIRST_LEAVES + 20))

    def unreachable() -> anchoring.Anchor:
        raise ChainUnavailableError("the node did not answer (the worker was killed here)")

    worker = AnchorWorker(workspace.settings, workspace.session, unreachable)  # type: ignore[arg-type]
    with pytest.raises(ChainUnavailableError):
        worker.run_once()
    batches = stored_batches(workspace)
    assert [(b.status, b.leaf_count) for b in batches] == [
        ("confirmed", 2 + KEY_RECORDS),
        ("prepared", anchoring.FIRST_LEAVES),
    ]
    assert sum(e.anchor_id == batches[1].id for e in stored_events(workspace)) == anchoring.FIRST_LEAVES

    [sent, rest] = anchor(workspace)
    assert (sent.batch_id, sent.recovered, rest.leaf_count) == (batches[1].id, True, 20)

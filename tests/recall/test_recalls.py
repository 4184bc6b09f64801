"""Holds, recalls and recall notices: automatic hold on a failing report or an excursion (and on
what the batch fed), proposals, starting a recall (all-or-nothing), the scan page warning at once,
the notice anchored through the contract, an unreachable chain, a crash after sending, the clock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner, Result
from web3 import HTTPProvider, Web3

from cradletrace import products
from cradletrace.chain.web3anchor import Web3Anchor, artifact
from cradletrace.cli import app as cli_app
from cradletrace.config import Settings
from cradletrace.core import canonical
from cradletrace.demo import _gtin
from cradletrace.devstack import nodes
from cradletrace.errors import ChainUnavailableError, Conflict, InvalidInputError, StateConflictError
from cradletrace.recall import holds, notices, recalls
from cradletrace.recall.clock import Clock
from cradletrace.recall.recalls import start_recall
from cradletrace.recall.status import lot_status
from cradletrace.scanner_web.pages import strings
from cradletrace.store.models import Hold, Lot, Recall
from cradletrace.workspace import Workspace
from tests.api.conftest import A, commission, open_site
from tests.conftest import NOW

FORMULA = _gtin("9421902960101")
MIX = _gtin("9421902960202")


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    """conftest's, with the plant's toddler mix (made from its formula) registered to it."""
    with workspace.session() as s:
        products.add_product(s, MIX, A, "Toddler mix", NOW)
    return workspace


IF1 = (FORMULA, "IF-0001")
DOWN = (MIX, "MX-0001")


def downstream(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch that consumes IF-0001: what the formula batch fed."""
    batch = copy.deepcopy(next(e for e in events if e["kind"] == "batch" and e["supplier"] == A))
    batch["data"]["product"] = {"gtin": MIX, "name": "Toddler mix"}
    batch["data"]["lot"] = "MX-0001"
    batch["data"]["inputs"] = [{"gtin": FORMULA, "lot": "IF-0001", "quantity": 100, "unit": "cans"}]
    return batch


def factory(ws: Workspace) -> Callable[[], Session]:
    return lambda: Session(ws.engine, expire_on_commit=False)


def held(ws: Workspace) -> list[tuple[str, str, str, int]]:
    with ws.session() as s:
        return [(h.gtin, h.lot, h.reason, h.trigger_event_id) for h in holds.list_holds(s)]


def recall(s: Session, **kw: Any) -> Recall:
    """start_recall of IF-0001, class I, for "Cronobacter", no trigger, by "qa" at NOW; ``kw`` changes any of them."""
    usual: dict[str, Any] = {
        "lots": [IF1],
        "reason": "Cronobacter",
        "severity": "I",
        "trigger": None,
        "started_by": "qa",
        "now": NOW,
    }
    return start_recall(s, **{**usual, **kw})


def story_with_downstream(record: Callable[..., Any], events: list[dict[str, Any]]) -> dict[str, int]:
    """Raw lots, IF-0001, passing report, MX-0001 (fed by IF-0001), then the failing report, shipment, excursion."""
    record(events[:4])
    record([downstream(events)])
    [failing] = record([events[4]], NOW + timedelta(minutes=1))
    rows = record(events[5:], NOW + timedelta(minutes=2))
    cold = next(r for r in rows if r.kind == "cold_chain")
    assert (failing.outcome, cold.outcome) == ("fail", "excursion")
    return {"failing": failing.id, "cold": cold.id}


def test_failing_report_and_excursion_hold_the_batch_and_what_it_fed(workspace, events, record) -> None:
    record(events[:4])
    record([downstream(events)])
    assert held(workspace) == []  # passing report: nothing held
    [failing] = record([events[4]], NOW + timedelta(minutes=1))
    assert sorted(held(workspace)) == sorted(
        [(*IF1, "failed test report", failing.id), (*DOWN, "failed test report", failing.id)]
    )
    rows = record(events[5:], NOW + timedelta(minutes=2))
    cold = next(r for r in rows if r.kind == "cold_chain")
    assert sorted(h for h in held(workspace) if h[3] == cold.id) == sorted(
        [(*IF1, "cold-chain excursion", cold.id), (*DOWN, "cold-chain excursion", cold.id)]
    )
    with workspace.session() as s:
        props = holds.proposals(s)
        assert len(props) == 4 and all(p.recall_id is None for p in props)
        h = next(p for p in props if p.trigger_event_id == failing.id)
        assert h.clock.to_located == timedelta(0) and h.clock.within_rule  # located in the recording transaction


def test_a_refused_submission_holds_nothing(workspace, events, record) -> None:
    record(events[:4])
    bad = copy.deepcopy(events[4])
    bad["data"]["batch"]["lot"] = "NOPE"
    with pytest.raises(InvalidInputError):
        record([bad])
    assert held(workspace) == []


def test_the_demo_holds_if_0001(tmp_path: Path) -> None:
    from cradletrace.demo import run_demo

    settings = Settings(data_dir=tmp_path / "demo")
    run_demo(settings, lambda _line: None)
    with Workspace(settings) as ws, ws.session() as s:
        reasons = {(h.lot, h.reason) for h in holds.proposals(s)}
    assert reasons == {("IF-0001", "failed test report"), ("IF-0001", "cold-chain excursion")}


def test_start_recall_marks_lots_and_keeps_the_clock(workspace, events, record) -> None:
    ids = story_with_downstream(record, events)
    started = NOW + timedelta(minutes=30)
    with workspace.session() as s:
        r = recall(
            s,
            lots=[IF1, DOWN],
            reason="Cronobacter detected",
            trigger=str(ids["failing"]),
            started_by="qa-anna",
            now=started,
        )
        rid = r.id
    with workspace.session() as s:
        r = s.get(Recall, rid)
        assert (r.started_by, r.severity, r.notice_status, r.tx_hash) == ("qa-anna", "I", "prepared", None)
        notice = canonical.parse_json(r.notice)
        assert notice == {
            "recall": rid,
            "lots": [f"{FORMULA}/IF-0001", f"{MIX}/MX-0001"],
            "reason": "Cronobacter detected",
            "severity": "I",
            "started_at": started.isoformat(),
        }
        assert r.notice_digest == canonical.sha256(r.notice.encode()).hex()
        assert r.lot_ref == canonical.sha256(f"{FORMULA}/IF-0001".encode()).hex()
        [view] = recalls.list_recalls(s)
        assert view.lots == tuple(sorted([IF1, DOWN]))
        clock = view.clock
        assert clock.to_located == timedelta(0)  # the automatic hold located them when the report was recorded
        assert clock.to_started == timedelta(minutes=29) and clock.within_rule
        assert clock.to_json()["within_two_hours"] is True and "within the 2 h rule" in clock.text()
        assert holds.proposals(s) == []  # every held lot is now under recall
        lid = s.exec(select(Lot.id).where(Lot.lot == "IF-0001")).one()
        status = lot_status(s, lid)
        assert status.recall is not None and status.recall["severity"] == "I" and status.recall["do_not_use"]
        assert status.hold is not None


def test_the_clock_flags_a_late_recall() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    late = Clock(t, t + timedelta(minutes=10), t + timedelta(hours=2, seconds=1))
    assert late.within_rule is False and "OVER" in late.text()
    assert Clock(t, t, t + timedelta(hours=2)).within_rule is True
    assert Clock(None, t, t).within_rule is None


def test_refusals_name_the_problem_and_store_nothing(workspace, events, record) -> None:
    story_with_downstream(record, events)

    def refused(**kw: Any) -> str:
        # A lot already under recall is a state conflict (409 in the API), not an input error.
        with workspace.session() as s, pytest.raises((InvalidInputError, StateConflictError)) as exc:
            recall(s, **{"reason": "r", "severity": "II", **kw})
        kinds.append(getattr(exc.value, "kind", None))
        return str(exc.value)

    kinds: list[Conflict | None] = []

    assert "at least one lot" in refused(lots=[])
    assert f"{FORMULA}/NOPE which does not exist" in refused(lots=[IF1, (FORMULA, "NOPE")])
    assert "I, II or III" in refused(severity="IV")
    with workspace.session() as s:
        assert s.exec(select(Recall)).all() == []
        recall(s, reason="first", severity="II", trigger="customer complaint")
    message = refused(lots=[DOWN, IF1])
    assert f"lot {FORMULA}/IF-0001 is already under active recall" in message and "MX-0001" not in message
    assert kinds == [None, None, None, Conflict.RECALLED]  # input errors first, then the state conflict
    with workspace.session() as s:
        [only] = s.exec(select(Recall)).all()  # all-or-nothing: MX-0001 was not recalled either
        assert only.trigger_text == "customer complaint" and only.trigger_at is None
        [view] = recalls.list_recalls(s)
        assert view.lots == (IF1,)


def test_notice_is_anchored_through_the_contract_once(workspace, events, record) -> None:
    ids = story_with_downstream(record, events)
    with workspace.session() as s:
        r = recall(s, lots=[IF1, DOWN], trigger=str(ids["failing"]), now=NOW + timedelta(minutes=5))
        rid, digest, ref = r.id, bytes.fromhex(r.notice_digest), bytes.fromhex(r.lot_ref)
    chain = workspace.chain()
    assert chain.lookup_notice(digest) is None
    [done] = notices.send_pending_notices(factory(workspace), chain)
    assert (done.recall_id, done.recovered) == (rid, False)
    on_chain = chain.lookup_notice(digest)
    assert on_chain is not None and on_chain.lot_ref == ref and on_chain.block_number == done.block_number
    assert on_chain.submitter == chain.sender and on_chain.tx_hash == done.tx_hash
    noticed = chain.contract.functions.noticeOf(digest).call()
    assert noticed[0] == ref and noticed[1] == done.block_number
    logs = chain.contract.events.RecallNoticeRecorded().get_logs(from_block=0)
    assert [(bytes(x["args"]["lotRef"]), bytes(x["args"]["noticeDigest"])) for x in logs] == [(ref, digest)]
    with workspace.session() as s:
        r = s.get(Recall, rid)
        assert (r.notice_status, r.tx_hash, r.block_number) == ("confirmed", done.tx_hash, done.block_number)
    assert notices.send_pending_notices(factory(workspace), chain) == []


def test_crash_after_send_is_recovered_without_sending_twice(workspace, events, record) -> None:
    story_with_downstream(record, events)
    with workspace.session() as s:
        r = recall(s)
        rid, digest, ref = r.id, bytes.fromhex(r.notice_digest), bytes.fromhex(r.lot_ref)
    chain = workspace.chain()
    sent = chain.record_notice(ref, digest)  # the run sent it, then died before confirming
    count = chain.w3.eth.get_transaction_count(chain.sender)
    [done] = notices.send_pending_notices(factory(workspace), chain)
    assert done.recovered and done.tx_hash == sent.tx_hash and done.block_number == sent.block_number
    assert chain.w3.eth.get_transaction_count(chain.sender) == count  # nothing sent again
    assert len(chain.contract.events.RecallNoticeRecorded().get_logs(from_block=0)) == 1
    with workspace.session() as s:
        assert s.get(Recall, rid).notice_status == "confirmed"


def unreachable(chain: Web3Anchor) -> Web3Anchor:
    """The same contract behind a JSON-RPC URL where nothing listens (a real connection refusal)."""
    down = copy.copy(chain)
    down.w3 = Web3(HTTPProvider(f"http://127.0.0.1:{nodes.free_port()}", request_kwargs={"timeout": 3}))
    down.contract = down.w3.eth.contract(address=chain.contract_address, abi=artifact()["abi"])
    down.where = "an unreachable node"
    return down


def test_unreachable_chain_leaves_the_notice_prepared_and_a_later_run_confirms(workspace, events, record) -> None:
    story_with_downstream(record, events)
    with workspace.session() as s:
        rid = recall(s).id
    with pytest.raises(ChainUnavailableError):
        notices.send_pending_notices(factory(workspace), unreachable(workspace.chain()))
    with workspace.session() as s:
        r = s.get(Recall, rid)
        assert (r.notice_status, r.tx_hash) == ("prepared", None)
        assert lot_status(s, s.exec(select(Lot.id).where(Lot.lot == "IF-0001")).one()).recall is not None
    [done] = notices.send_pending_notices(factory(workspace), workspace.chain())
    assert done.recall_id == rid and not done.recovered
    with workspace.session() as s:
        assert s.get(Recall, rid).notice_status == "confirmed"


def test_unreachable_rpc_settings_leave_the_notice_prepared(workspace, events, record, tmp_path: Path) -> None:
    """The CLI pointed at a node that does not answer: the anchor run fails, the recall stays, prepared."""
    story_with_downstream(record, events)
    with workspace.session() as s:
        rid = recall(s).id
    st = workspace.settings
    args = ["anchor", "--data-dir", str(st.data_dir), "--rpc-url", f"http://127.0.0.1:{nodes.free_port()}"]
    if st.database_url:
        args += ["--database-url", st.database_url]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code != 0 and "did not answer" in result.output, result.output
    with workspace.session() as s:
        assert s.get(Recall, rid).notice_status == "prepared"


def test_scan_shows_hold_then_recall_at_once_in_json_and_html(tmp_path: Path) -> None:
    zh, en = strings()["zh"], strings()["en"]
    settings = Settings(data_dir=tmp_path / "data")
    with open_site(settings, scan_rate_per_minute=0, anchor_interval=0) as site:  # records the demo story: IF-0001 held
        [can] = commission(settings, "IF-0001", 1, gtin=FORMULA)
        client: TestClient = site.client
        body = client.get(can.path, headers={"Accept": "application/json"}).json()
        assert body["recall"] is None and body["hold"]["reason"] == "failed test report"
        page = client.get(can.path).text
        assert 'class="banner hold" id="hold-banner-1"' in page and zh["hold_banner"] in page

        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        chain = runtime.chain()
        sent_before = chain.w3.eth.get_transaction_count(chain.sender)
        with runtime.session() as s:
            r = recall(s, reason="Cronobacter spp. detected", now=datetime.now(UTC))
            s.commit()
            digest = bytes.fromhex(r.notice_digest)
        body = client.get(can.path, headers={"Accept": "application/json"}).json()
        assert body["recall"]["reason"] == "Cronobacter spp. detected" and body["recall"]["severity"] == "I"
        assert body["recall"]["notice_status"] == "prepared" and body["recall"]["do_not_use"] is True
        assert chain.w3.eth.get_transaction_count(chain.sender) == sent_before  # shown before any chain call
        page = client.get(can.path).text
        assert 'class="banner recall" id="recall-banner-1"' in page and zh["recall_banner"] in page
        assert "Cronobacter spp. detected" in page and 'id="hold-banner-2"' in page
        page_en = client.get(can.path, params={"lang": "en"}).text
        assert en["recall_banner"] in page_en and "Do not use" in page_en and f"{en['recall_severity']}: I" in page_en

        anchored = client.post("/api/v1/anchor", headers=site.auth("operator"))
        assert anchored.status_code == 200, anchored.text
        assert chain.lookup_notice(digest) is not None
        assert (
            client.get(can.path, headers={"Accept": "application/json"}).json()["recall"]["notice_status"]
            == "confirmed"
        )


START_BOTH = (
    *("recall", "start", "--lot", f"{FORMULA}/IF-0001", "--lot", f"{MIX}/MX-0001"),
    *("--reason", "Cronobacter", "--severity", "I"),
)


def cli(ws: Workspace) -> Callable[..., Result]:
    """Run the CLI on this workspace: the arguments given, then its --data-dir (and --database-url)."""
    st = ws.settings
    base = ["--data-dir", str(st.data_dir)] + (["--database-url", st.database_url] if st.database_url else [])
    return lambda *a: CliRunner().invoke(cli_app, [*a, *base])


def test_cli_recall_start_list_and_hold_list(workspace, events, record) -> None:
    ids = story_with_downstream(record, events)
    run = cli(workspace)
    out = run("hold", "list", "--proposals")
    assert out.exit_code == 0, out.output
    assert "PROPOSED" in out.output and "MX-0001" in out.output and "clock:" in out.output
    out = run(*START_BOTH, "--trigger", str(ids["failing"]))
    assert out.exit_code == 0, out.output
    assert "recall 1 started (class I)" in out.output and "2 lots" in out.output and "2 h rule" in out.output
    out = run("recall", "start", "--lot", f"{MIX}/MX-0001", "--reason", "again", "--severity", "II")
    assert out.exit_code == 2 and f"lot {MIX}/MX-0001 is already under active recall 1" in out.output
    out = run("recall", "start", "--lot", f"{FORMULA}/NOPE", "--reason", "x", "--severity", "I")
    assert out.exit_code == 2 and "does not exist" in out.output
    out = run("recall", "list")
    assert out.exit_code == 0 and "notice prepared" in out.output and "clock:" in out.output
    workspace.close()  # the embedded chain file: one opener at a time (the CLI opens it now)
    out = run("anchor")
    assert out.exit_code == 0, out.output
    assert "recall 1 notice" in out.output
    out = run("recall", "list")
    assert "notice confirmed" in out.output
    out = run("hold", "list", "--proposals")
    assert "no holds" in out.output


@pytest.mark.node
def test_notice_waits_for_a_stopped_node_and_is_sent_when_it_returns(
    anvil_with_state, tmp_path, database_url, events
) -> None:
    """A real node stopped (anvil) and started again from its state."""
    from cradletrace.workspace import init_workspace
    from tests.anchoring.test_anchoring import add_suppliers, record_into

    start = anvil_with_state
    node = start()
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, rpc_url=node.url, rpc_timeout=5)
    ws, chain = init_workspace(settings)
    with ws:
        add_suppliers(ws)
        record_into(ws, events)
        with ws.session() as s:
            rid = recall(s, now=datetime.now(UTC)).id
        node.stop()
        with pytest.raises(ChainUnavailableError):
            notices.send_pending_notices(factory(ws), chain)
        with ws.session() as s:
            assert s.get(Recall, rid).notice_status == "prepared"
            assert len(s.exec(select(Hold)).all()) == 2  # failing report and excursion, IF-0001
        start()
        [done] = notices.send_pending_notices(factory(ws), chain)
        assert done.recall_id == rid
        with ws.session() as s:
            assert s.get(Recall, rid).notice_status == "confirmed"


def test_cli_recall_from_a_trigger_event_takes_the_forward_trace_as_scope(workspace, events, record) -> None:
    ids = story_with_downstream(record, events)
    run = cli(workspace)
    out = run(
        "recall",
        "start",
        "--reason",
        "Cronobacter",
        "--severity",
        "class I",
        "--trigger",
        str(ids["failing"]),
        "--json",
    )
    assert out.exit_code == 0, out.output
    import json

    body = json.loads(out.output)
    assert body["lots"] == [f"{FORMULA}/IF-0001", f"{MIX}/MX-0001"] and body["severity"] == "I"
    assert body["started_by"].startswith("cli:") and body["notice_status"] == "prepared"
    assert body["clock"]["to_located_s"] == 0  # located by the automatic hold when the report was recorded
    assert body["clock"]["trigger_at"] is not None and body["clock"]["to_started_s"] is not None
    out = run("recall", "start", "--reason", "x", "--severity", "I")
    assert out.exit_code == 2 and "expected --lot" in out.output


def test_cli_hold_release_recall_close_and_report(workspace, events, record, tmp_path: Path) -> None:
    """The rest of a recall on the command line, on both stores: release a hold once, write the three
    report files (readable by csv and openpyxl), close the recall once."""
    import csv
    import json

    from openpyxl import load_workbook

    from cradletrace.recall.report import COLUMNS

    story_with_downstream(record, events)
    run = cli(workspace)
    hold = json.loads(run("hold", "list", "--json").output)[0]
    out = run("hold", "release", str(hold["id"]), "--reason", "re-test passed")
    assert out.exit_code == 0 and f"hold {hold['id']} on " in out.output and "released by cli:" in out.output, (
        out.output
    )
    out = run("hold", "release", str(hold["id"]), "--reason", "again")
    assert out.exit_code == 2 and f"hold {hold['id']} was already released" in out.output
    assert run("hold", "release", "999", "--reason", "x").exit_code == 2
    assert run(*START_BOTH).exit_code == 0
    out = run("recall", "report", "1", "--out", str(tmp_path / "r"))
    assert out.exit_code == 0, out.output
    assert "2 lots, 3 rows, 1 sites to notify" in out.output  # two batch rows and IF-0001's shipment
    rows = json.loads((tmp_path / "r" / "recall-1.json").read_text("utf-8"))["rows"]
    with open(tmp_path / "r" / "recall-1.csv", encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert (
        [(r["Critical Tracking Event"], r["Lot"]) for r in table]
        == [(r["cte"], r["lot"]) for r in rows]
        == [("transformation", "IF-0001"), ("transformation", "MX-0001"), ("shipping", "IF-0001")]
    )
    sheet = load_workbook(tmp_path / "r" / "recall-1.xlsx")["Traceability"]
    assert [c.value for c in sheet[1]] == [h for _, h, _ in COLUMNS] and sheet.max_row == 4
    assert sheet.cell(4, 6).value == 4200 and sheet.cell(4, 15).value == "PCC-2026-0042"
    out = run("recall", "report", "1", "--format", "pdf")
    assert out.exit_code == 2 and "format: expected json, csv or xlsx, got pdf" in out.output
    out = run("recall", "close", "1", "--reason", "retrieved")
    assert out.exit_code == 0 and "recall 1 closed by cli:" in out.output
    out = run("recall", "close", "1", "--reason", "again")
    assert out.exit_code == 2 and "recall 1 was already closed" in out.output
    assert json.loads(run("recall", "list", "--json").output)[0]["status"] == "closed"

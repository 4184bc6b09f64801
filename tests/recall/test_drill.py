"""Mock recalls, effectiveness checks and regulatory deadlines over real parts (SMTP server,
webhook receiver, the API; SQLite and PostgreSQL): a drill runs the recall workflow marked as a
drill everywhere and reports its timings; checks are drawn reproducibly and their outcomes land in
the ledger; each deadline is met, due or late against a clock the test sets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select
from typer.testing import CliRunner

from cradletrace.api.errors import ALREADY_PLANNED, ALREADY_RECALLED
from cradletrace.cli import app as cli_app
from cradletrace.recall import deadlines, effectiveness, notices
from cradletrace.recall.ledger import build_ledger
from cradletrace.recall.status import lot_status
from cradletrace.store.models import Hold, Lot, Recall
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, Site
from tests.recall.notify_kit import Hooks
from tests.recall.test_notices import IF1, answer, contact, deliver, ledger, link, world  # noqa: F401  (fixture)

P = "/api/v1"


class _NoChain:
    """Stands where the chain would: any use of it fails the test (a drill never reaches the chain)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the chain was used ({name}) for a drill")


def _cli(site: Site, *args: str) -> Any:
    store = ["--database-url", site.settings.database_url] if site.settings.database_url else []
    return CliRunner().invoke(cli_app, [*args, "--data-dir", str(site.settings.data_dir), *store])


def test_a_drill_runs_the_workflow_marked_as_a_drill_everywhere(world: tuple[Site, list[Any], Hooks]) -> None:
    site, mail, hooks = world
    q = site.auth("quality")
    contact(site, "north-dc", emails=["quality@north.example"], webhook_url=hooks.url("/north"))
    contact(site, "east-dc", webhook_url=hooks.url("/east"), webhook_secret="e" * 32)
    contact(site, "south-dc", emails=["qa@south.example"])
    contact(site, "west-dc", emails=["qa@west.example"])
    with Workspace(site.settings) as ws, ws.session() as s:
        holds_before = [(h.id, h.released_at) for h in s.exec(select(Hold))]
    r = site.client.post(
        f"{P}/recalls", headers=q, json={"reason": "Mock recall Q4", "severity": "I", "drill": True, "trace_lot": IF1}
    )
    assert r.status_code == 201, r.text
    d = r.json()
    rid = d["id"]
    assert d["drill"] is True and d["notice_status"] == "drill" and d["lots"] == [IF1]
    assert (
        d["clock"]["within_two_hours"] is True and d["clock"]["trigger_at"] is not None
    )  # counted from the drill's start
    no_lot = site.client.post(f"{P}/recalls", headers=q, json={"reason": "x", "severity": "I", "drill": True})
    assert no_lot.status_code == 422 and no_lot.json()["problems"][0]["field"] == "trace_lot"
    twice = site.client.post(
        f"{P}/recalls", headers=q, json={"reason": "x", "severity": "I", "drill": True, "trace_lot": IF1}
    )
    assert twice.status_code == 409 and twice.json()["detail"] == ALREADY_RECALLED  # one drill of a lot at a time

    with Workspace(site.settings) as ws, ws.session() as s:
        lot_id = s.exec(select(Lot.id).where(Lot.gtin == FORMULA, Lot.lot == "IF-0001")).one()
        assert lot_status(s, lot_id).recall is None  # the scan page shows no recall banner for a drill
        assert [(h.id, h.released_at) for h in s.exec(select(Hold))] == holds_before  # no holds made or lifted
        assert notices.send_pending_notices(ws.session, _NoChain()) == []  # type: ignore[arg-type]  # no chain notice
        assert s.get(Recall, rid).notice_status == "drill"  # type: ignore[union-attr]

    first = deliver(site)
    assert first.sent == 5
    [m] = [x for x in mail if x["To"] == "quality@north.example"]
    assert "演练 DRILL" in m["Subject"]
    body = m.get_content()
    assert "这是一次召回演练" in body and "not a real recall" in body and "do not stop selling" in body
    [note] = hooks.bodies("/north")
    assert note["type"] == "recall.drill" and note["drill"] is True
    token = link(body)
    page = site.client.get(f"/ack/{token}?lang=en")
    assert page.status_code == 200 and 'id="ack-drill"' in page.text and "DRILL" in page.text
    assert "not a real recall" in page.text
    assert "演练" in site.client.get(f"/ack/{token}").text
    assert answer(site, token, [(IF1, 0, 900, 100)]).status_code == 200

    # A real recall of the same lot is not blocked by the drill, and the drill is not in its way.
    real = site.client.post(f"{P}/recalls", headers=q, json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]})
    assert real.status_code == 201 and real.json()["drill"] is False
    with Workspace(site.settings) as ws, ws.session() as s:
        assert lot_status(s, lot_id).recall["id"] == real.json()["id"]  # type: ignore[index]
    assert (
        site.client.post(f"{P}/recalls/{real.json()['id']}/close", headers=q, json={"reason": "test"}).status_code
        == 200
    )

    closed = site.client.post(f"{P}/recalls/{rid}/close", headers=q, json={"reason": "drill over"})
    assert closed.status_code == 200
    rep = site.client.get(f"{P}/recalls/{rid}/drill-report", headers=q).json()
    assert rep["drill"] is True and rep["status"] == "closed" and rep["accounted_at_close"] is True
    t = rep["timings"]
    assert 0 <= t["located"]["after_s"] <= t["started"]["after_s"] <= t["all_notified"]["after_s"]
    assert t["all_acknowledged"]["at"] is None and t["recall_closed"]["at"] is not None
    assert rep["percent_accounted"] == {"cans": 50.0}  # north's 1000 of 2000 cans answered for
    assert rep["sites"]["total"] == 4 and rep["sites"]["answered"] == 1
    led = ledger(site, rid)
    assert led["drill"] is True
    text = _cli(site, "recall", "drill-report", str(rid))
    assert text.exit_code == 0, text.output
    assert (
        f"DRILL (mock recall) {rid}  closed" in text.output and "accounted at close: 50 % of 2000 cans" in text.output
    )


def test_the_drill_command_runs_a_drill(world: tuple[Site, list[Any], Hooks]) -> None:
    site, _mail, _hooks = world
    out = _cli(site, "recall", "drill", IF1, "--json")
    assert out.exit_code == 0, out.output
    import json

    d = json.loads(out.output)
    assert d["drill"] is True and d["scope"]["traced"][0] == IF1 and d["regimes"] == ["us_107", "cn_measures"]
    assert d["cn_level"] == 1


def test_effectiveness_checks_are_drawn_reproducibly_and_recorded(world: tuple[Site, list[Any], Hooks]) -> None:
    site, _mail, _hooks = world
    q = site.auth("quality")
    rid = site.client.post(
        f"{P}/recalls", headers=q, json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]}
    ).json()["id"]
    b = site.client.post(f"{P}/recalls/{rid}/checks", headers=q, json={"level": "B"})
    assert b.status_code == 422 and b.json()["problems"][0]["field"] == "percent"
    plan = site.client.post(
        f"{P}/recalls/{rid}/checks", headers=q, json={"level": "B", "percent": 50, "seed": "audit-7"}
    )
    assert plan.status_code == 200, plan.text
    p = plan.json()
    sites = ["east-dc", "north-dc", "south-dc", "west-dc"]
    drawn = [c["site"] for c in p["checks"]]
    assert drawn == effectiveness.draw(sites, 50, "audit-7") and len(drawn) == 2  # the seed redraws the same sites
    assert effectiveness.draw(list(reversed(sites)), 50, "audit-7") == drawn  # whatever order they come in
    assert (p["level"], p["percent"], p["seed"]) == ("B", 50.0, "audit-7")
    again = site.client.post(f"{P}/recalls/{rid}/checks", headers=q, json={"level": "A"})
    assert again.status_code == 409 and again.json()["detail"] == ALREADY_PLANNED
    undrawn = next(s for s in sites if s not in drawn)
    assert (
        site.client.put(
            f"{P}/recalls/{rid}/checks/{undrawn}",
            headers=q,
            json={"reached": True, "notice_received": True, "handled": True},
        ).status_code
        == 404
    )
    ok = site.client.put(
        f"{P}/recalls/{rid}/checks/{drawn[0]}",
        headers=q,
        json={"reached": True, "notice_received": True, "handled": True, "note": "on the phone"},
    )
    assert ok.status_code == 200, ok.text
    cli = _cli(site, "recall", "check", str(rid), drawn[1], "--reached", "--not-received", "--not-handled")
    assert cli.exit_code == 0 and "2/2 checked, 1 effective" in cli.output, cli.output
    e = ledger(site, rid)["effectiveness"]
    assert (e["drawn"], e["checked"], e["effective"], e["share_effective"]) == (2, 2, 1, 0.5)
    by_site = {c["site"]: c for c in e["checks"]}
    assert by_site[drawn[0]]["effective"] is True and by_site[drawn[1]]["effective"] is False
    assert by_site[drawn[0]]["checked_by"] and by_site[drawn[0]]["note"] == "on the phone"
    assert effectiveness.draw(sites, 10, "x") == effectiveness.draw(sites, 2, "x")  # C and D: at least one site
    assert len(effectiveness.draw(sites, 100, "x")) == 4 and effectiveness.draw(sites, 0, "x") == []


START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # a Friday


def _facts(**kw: Any) -> deadlines.Facts:
    base: dict[str, Any] = dict(
        regimes=deadlines.REGIMES,
        cn_level=1,
        known_at=START - timedelta(hours=3),
        started_at=START,
        closed_at=None,
        recorded={},
    )
    return deadlines.Facts(**(base | kw))


def _status(f: deadlines.Facts, now: datetime) -> dict[str, str]:
    return {d["name"]: d["status"] for d in deadlines.deadlines(f, now)}


def test_deadlines_are_met_due_or_late_against_the_clock() -> None:
    s = _status(_facts(), START + timedelta(hours=1))
    assert s == {
        "fda_telephone": "due",
        "fda_written_report": "due",
        "fda_status_report": "due",
        "cn_start": "met",
        "cn_plan_report": "due",
        "cn_complete": "due",
    }
    s = _status(_facts(recorded={"fda_telephoned": [START + timedelta(hours=2)]}), START + timedelta(hours=25))
    assert s["fda_telephone"] == "met" and s["cn_plan_report"] == "late"  # 24 h from knowing the risk: gone
    s = _status(_facts(recorded={"fda_telephoned": [START + timedelta(hours=30)]}), START + timedelta(days=15))
    assert s["fda_telephone"] == "late" and s["fda_written_report"] == "late"
    # China level 3: 72 h to start; started 80 h after knowing the risk is late.
    late_start = _facts(cn_level=3, known_at=START - timedelta(hours=80))
    assert _status(late_start, START)["cn_start"] == "late"
    # Level 1 finishes within 10 working days of the announcement: Friday + 10 working days = Friday two weeks on.
    [done] = [
        d for d in deadlines.deadlines(_facts(recorded={"cn_announced": [START]}), START) if d["name"] == "cn_complete"
    ]
    assert done["due"] == (START + timedelta(days=14)).isoformat() and done["counted_from"] == "announcement"
    closed = _status(_facts(closed_at=START + timedelta(days=13)), START + timedelta(days=20))
    assert closed["cn_complete"] == "met" and closed["fda_status_report"] == "met"
    # Status reports every 14 days after the last one.
    reports = {"fda_written_report": [START + timedelta(days=10)], "fda_status_report": [START + timedelta(days=23)]}
    [st] = [d for d in deadlines.deadlines(_facts(recorded=reports), START) if d["name"] == "fda_status_report"]
    assert st["due"] == (START + timedelta(days=37)).isoformat() and st["reports"] == 1
    assert [d["name"] for d in deadlines.deadlines(_facts(regimes=("cn_measures",)), START)] == [
        "cn_start",
        "cn_plan_report",
        "cn_complete",
    ]


def test_recorded_milestones_put_deadlines_in_the_ledger(world: tuple[Site, list[Any], Hooks]) -> None:
    site, _mail, _hooks = world
    q = site.auth("quality")
    r = site.client.post(
        f"{P}/recalls",
        headers=q,
        json={"reason": "Cronobacter", "severity": "II", "lots": [IF1], "regimes": ["us_107"]},
    )
    assert r.status_code == 201 and r.json()["regimes"] == ["us_107"] and r.json()["cn_level"] == 2
    rid = r.json()["id"]
    bad = site.client.post(
        f"{P}/recalls/{rid}/milestones", headers=q, json={"name": "fda_telephoned", "at": "2001-01-01T00:00:00+00:00"}
    )
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "at"
    ok = site.client.post(f"{P}/recalls/{rid}/milestones", headers=q, json={"name": "fda_telephoned"})
    assert ok.status_code == 201, ok.text
    cli = _cli(site, "recall", "milestone", str(rid), "fda_written_report")
    assert cli.exit_code == 0, cli.output
    with Workspace(site.settings) as ws, ws.session() as s:
        started = s.get(Recall, rid).started_at  # type: ignore[union-attr]
        soon = {d["name"]: d for d in build_ledger(s, rid, started + timedelta(hours=1)).to_json()["deadlines"]}
        later = {d["name"]: d for d in build_ledger(s, rid, started + timedelta(days=40)).to_json()["deadlines"]}
    assert soon["fda_telephone"]["status"] == "met" and soon["fda_written_report"]["status"] == "met"
    assert soon["fda_status_report"]["status"] == "due" and later["fda_status_report"]["status"] == "late"
    assert set(soon) == {"fda_telephone", "fda_written_report", "fda_status_report"}
    book = _cli(site, "recall", "ledger", str(rid))
    assert "us_107      fda_telephone" in book.output and "met" in book.output

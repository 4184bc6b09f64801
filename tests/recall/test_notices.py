"""Recall notices end to end over real parts: a recall starts and every consignee site is told
at once, by e-mail (a real SMTP server, aiosmtpd) and signed webhook (a real HTTP receiver that
checks the HMAC); a bounce fails for good, a receiver that is down is retried with backoff and
recovers; sites answer through their one-time links; the ledger counts it all; a widening
notifies the new sites while the old links keep working; two staff close at once and one wins.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cradletrace.api.errors import ALREADY_ANSWERED, ALREADY_CLOSED
from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from cradletrace.recall import delivery
from cradletrace.recall.outbox import ack_token
from cradletrace.store.models import RecallAck, RecallNotice
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, Site
from tests.recall.notify_kit import Hooks, add_sites, new_lot, notify_site, record, shipments, verify

P = API_PREFIX
IF1, IF2 = f"{FORMULA}/IF-0001", f"{FORMULA}/IF-N2"
SITES = {"north-dc": 1000.0, "south-dc": 500.0, "east-dc": 300.0, "west-dc": 200.0}


@pytest.fixture
def world(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Site, list[Any], Hooks]]:
    """The demo site (SQLite, and PostgreSQL) with five consignee sites, four of which IF-0001 was
    shipped to; a real SMTP server and webhook receiver."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    with notify_site(settings, SITES) as world:
        add_sites(settings, ["new-dc"])
        yield world


def contact(site: Site, sid: str, **body: Any) -> Any:
    r = site.client.put(f"{P}/suppliers/{sid}/contact", headers=site.auth("operator"), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def runtime(site: Site) -> Any:
    return site.client.app.state.runtime  # type: ignore[attr-defined]


def deliver(site: Site, after: timedelta = timedelta(0)) -> delivery.DeliveryRun:
    rt = runtime(site)
    return delivery.deliver_due(rt.session, rt.sealer, rt.settings, now=lambda: datetime.now(UTC) + after)


def link(text: str) -> str:
    m = re.search(r"http://testserver/ack/([0-9a-f]{32})", text)
    assert m, text
    return m.group(1)


def ledger(site: Site, rid: int) -> Any:
    r = site.client.get(f"{P}/recalls/{rid}/ledger", headers=site.auth("quality"))
    assert r.status_code == 200, r.text
    return r.json()


def answer(
    site: Site, token: str, lines: list[tuple[str, float, float, float]], who: str = "Li Wei, store manager"
) -> Any:
    body = {
        "received": True,
        "answered_by": who,
        "lines": [{"lot": lot, "on_hand": h, "returned": r, "destroyed": d} for lot, h, r, d in lines],
    }
    return site.client.post(f"{P}/ack/{token}", json=body)


def test_notices_acknowledgements_widening_and_the_ledger(world: tuple[Site, list[Any], Hooks]) -> None:
    site, mail, hooks = world
    q = site.auth("quality")
    made = contact(site, "north-dc", emails=["quality@north.example"], webhook_url=hooks.url("/north"))
    secret = made["webhook_secret"]
    assert len(secret) == 64 and made["webhook_signed"] is True
    shown = site.client.get(f"{P}/suppliers/north-dc/contact", headers=site.auth("operator")).json()
    assert shown["webhook_secret"] is None and shown["emails"] == ["quality@north.example"]  # shown once only
    contact(site, "south-dc", emails=["bounce@south.example"])
    contact(site, "east-dc", webhook_url=hooks.url("/east"), webhook_secret="e" * 32)
    hooks.down["/east"] = 1  # east's endpoint is down for the first try
    contact(site, "new-dc", emails=["qa@new.example"])
    # west-dc has no contact: it gets an acknowledgement but no notice.

    r = site.client.post(f"{P}/recalls", headers=q, json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    with Workspace(site.settings) as ws, ws.session() as s:
        rows = s.exec(select(RecallNotice.channel, RecallAck.site).join(RecallAck)).all()
        assert sorted(rows) == [
            ("email", "north-dc"),
            ("email", "south-dc"),
            ("webhook", "east-dc"),
            ("webhook", "north-dc"),
        ]  # written with the recall, in its transaction
    first = deliver(site)
    assert (first.sent, first.retrying, first.failed) == (2, 1, 1)

    [m] = mail
    assert m["To"] == "quality@north.example" and "Recall notice" in m["Subject"]
    token_north = link(m.get_content())
    [(_, headers, body)] = [g for g in hooks.got if g[0] == "/north"]
    assert verify(secret, headers, body) and not verify("x" * 64, headers, body)
    note = hooks.bodies("/north")[0]
    assert note["ack_url"].endswith(token_north) and note["lots"] == [{"lot": IF1, "shipped": 1000.0, "unit": "cans"}]
    assert headers["idempotency-key"] == f"recall-{rid}-notice-{note['notice_id']}"

    log = {(n["site"], n["channel"]): n for n in site.client.get(f"{P}/recalls/{rid}/notices", headers=q).json()}
    bounced = log[("south-dc", "email")]
    assert bounced["status"] == "failed" and "550" in bounced["last_error"] and bounced["next_attempt_at"] is None
    east = log[("east-dc", "webhook")]
    assert east["status"] == "retrying" and east["tries"][0]["code"] == 500
    assert datetime.fromisoformat(east["next_attempt_at"]) > datetime.now(UTC)
    assert deliver(site).tried == 0  # nothing is due yet: nothing sent twice
    later = deliver(site, timedelta(hours=1))  # an hour later the endpoint is back
    assert (later.sent, later.retrying, later.failed) == (1, 0, 0)
    east = {(n["site"], n["channel"]): n for n in site.client.get(f"{P}/recalls/{rid}/notices", headers=q).json()}[
        ("east-dc", "webhook")
    ]
    assert [t["status"] for t in east["tries"]] == ["retrying", "sent"] and east["status"] == "sent"
    [e1, e2] = hooks.bodies("/east")
    assert e1["ack_url"] == e2["ack_url"] and e1["notice_id"] == e2["notice_id"]  # the same notice, the same link

    # The acknowledgement page and its refusals.
    page = site.client.get(f"/ack/{token_north}?lang=en")
    assert page.status_code == 200 and IF1 in page.text and "1000 cans" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    too_many = answer(site, token_north, [(IF1, 0, 900, 200)])
    assert too_many.status_code == 422
    [p] = too_many.json()["problems"]
    assert p["field"] == "lines[0].returned" and "1000 cans shipped" in p["message"]
    assert answer(site, token_north, [(IF1, 100, 700, 150)]).status_code == 200
    again = answer(site, token_north, [(IF1, 0, 1000, 0)])
    assert again.status_code == 409 and again.json()["detail"] == ALREADY_ANSWERED
    assert "already answered" in again.json()["problems"][0]["message"]
    assert site.client.get(f"/ack/{'0' * 32}").status_code == 404

    with Workspace(site.settings) as ws, ws.session() as s:
        salts = {a.site: a.salt for a in s.exec(select(RecallAck))}
    token_east = ack_token(runtime(site).sealer, salts["east-dc"])
    assert answer(site, token_east, [(IF1, 0, 300, 0)]).status_code == 200

    # Widening while notices are out: a new lot shipped to north (already told) and to new-dc.
    new_lot(site.settings, "IF-N2")
    record(site.settings, shipments("IF-N2", {"north-dc": 50.0, "new-dc": 70.0}))
    w = site.client.post(f"{P}/recalls/{rid}/widen", headers=q, json={"lots": [IF2]})
    assert w.status_code == 200, w.text
    assert w.json()["sites_notified"] == 2 and w.json()["lots"] == [IF1, IF2]
    again_widen = site.client.post(f"{P}/recalls/{rid}/widen", headers=q, json={"lots": [IF2]})
    assert again_widen.status_code == 422 and "covers them all" in again_widen.text
    assert deliver(site).sent == 3  # north e-mail + webhook for the new lot, new-dc e-mail
    north_new = link(mail[-2 if mail[-1]["To"] == "qa@new.example" else -1].get_content())
    assert north_new != token_north
    assert site.client.get(f"/ack/{token_north}?lang=en").status_code == 200  # the old link still works (answered)
    assert answer(site, north_new, [(IF2, 0, 50, 0)]).status_code == 200

    book = ledger(site, rid)
    rows = {(x["site"], x["lot"]): x for x in book["rows"]}
    n1 = rows[("north-dc", IF1)]
    assert (n1["shipped"], n1["on_hand"], n1["returned"], n1["destroyed"], n1["unaccounted"]) == (
        1000,
        100,
        700,
        150,
        50,
    )
    assert rows[("east-dc", IF1)]["unaccounted"] == 0 and rows[("north-dc", IF2)]["unaccounted"] == 0
    assert rows[("west-dc", IF1)]["acknowledged"] is False and rows[("west-dc", IF1)]["unaccounted"] == 200
    assert book["totals"]["cans"] == {
        "shipped": 2120.0,
        "on_hand": 100.0,
        "returned": 1050.0,
        "destroyed": 150.0,
        "unaccounted": 50 + 500 + 200 + 70.0,
    }
    sites = book["sites"]
    assert (sites["total"], sites["answered"], sites["share_answered"]) == (5, 2, 0.4)
    assert sites["without_contact"] == ["west-dc"] and sites["notices"]["failed"] == 1
    ms = {m["name"]: m for m in book["milestones"]}
    assert ms["started"]["at"] and ms["all_notified"]["at"] is None and ms["recall_closed"]["at"] is None
    assert ms["started"]["within_two_hours"] is True

    # Two staff close at once: one wins, the other is told it is closed; nothing more is sent or answered.
    answers: list[Any] = []
    barrier = threading.Barrier(2)

    def close(who: str) -> None:
        barrier.wait()
        answers.append(site.client.post(f"{P}/recalls/{rid}/close", headers=q, json={"reason": f"all back ({who})"}))

    threads = [threading.Thread(target=close, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert next(a for a in answers if a.status_code == 409).json()["detail"] == ALREADY_CLOSED
    with Workspace(site.settings) as ws, ws.session() as s:  # a link exists once a notice carried it
        assert s.exec(select(RecallAck).where(RecallAck.site == "west-dc")).one().token_hash is None
        assert {n.status for n in s.exec(select(RecallNotice))} <= {"sent", "failed"}
    token_south = ack_token(runtime(site).sealer, salts["south-dc"])
    late = answer(site, token_south, [(IF1, 0, 500, 0)])
    assert late.status_code == 409 and late.json()["detail"] == ALREADY_CLOSED and "closed" in late.text
    closed_page = site.client.get(f"/ack/{token_south}?lang=en")
    assert closed_page.status_code == 200 and "This recall is closed" in closed_page.text
    assert ledger(site, rid)["milestones"][-1]["at"] is not None


def test_the_ack_page_form_refuses_then_records_in_zh(world: tuple[Site, list[Any], Hooks]) -> None:
    site, mail, _ = world
    contact(site, "north-dc", emails=["quality@north.example"])
    r = site.client.post(
        f"{P}/recalls", headers=site.auth("quality"), json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]}
    )
    assert r.status_code == 201
    deliver(site)
    token = link(mail[0].get_content())
    form = {
        "lang": "zh",
        "received": "yes",
        "answered_by": "王芳",
        "lines[0].on_hand": "0",
        "lines[0].returned": "2000",
        "lines[0].destroyed": "0",
    }
    bad = site.client.post(f"/ack/{token}", data=form)
    assert bad.status_code == 422 and "1000 cans" in bad.text and 'value="2000"' in bad.text  # kept as typed
    ok = site.client.post(f"/ack/{token}", data=form | {"lines[0].returned": "1000"})
    assert ok.status_code == 200 and "已记录您的确认" in ok.text
    twice = site.client.post(f"/ack/{token}", data=form | {"lines[0].returned": "1000"})
    assert twice.status_code == 409 and "此链接已提交过确认" in twice.text


def test_contacts_are_checked_and_sealed(world: tuple[Site, list[Any], Hooks]) -> None:
    site, _, _ = world
    op = site.auth("operator")
    bad = site.client.put(
        f"{P}/suppliers/north-dc/contact",
        headers=op,
        json={"emails": ["not-an-address"], "webhook_url": "http://erp.example.com/x"},
    )
    assert bad.status_code == 422
    fields = {p["field"] for p in bad.json()["problems"]}
    assert {"emails[0]", "webhook_url"} <= fields
    assert (
        site.client.put(f"{P}/suppliers/nobody/contact", headers=op, json={"emails": ["a@b.example"]}).status_code
        == 404
    )
    assert site.client.put(f"{P}/suppliers/north-dc/contact", headers=site.auth("quality"), json={}).status_code == 403
    contact(
        site,
        "north-dc",
        emails=["secret.person@north.example"],
        webhook_secret="s" * 20,
        webhook_url="https://erp.north.example/r",
    )
    with Workspace(site.settings) as ws:
        raw = ws.engine.raw_connection()
        try:
            dump = "\n".join(str(row) for row in raw.execute("SELECT * FROM partner_contact").fetchall())  # type: ignore[attr-defined]
        finally:
            raw.close()
    assert "secret.person" not in dump and "s" * 20 not in dump and "erp.north.example" in dump


def test_the_command_line_sets_contacts_delivers_and_prints_the_ledger(world: tuple[Site, list[Any], Hooks]) -> None:
    from typer.testing import CliRunner

    from cradletrace.cli import app

    site, mail, hooks = world
    data = str(site.settings.data_dir)
    store = ["--database-url", site.settings.database_url] if site.settings.database_url else []
    env = {
        "CRADLETRACE_SMTP_HOST": "127.0.0.1",
        "CRADLETRACE_SMTP_PORT": str(site.client.app.state.runtime.settings.smtp_port),
    }  # type: ignore[attr-defined]
    env |= {"CRADLETRACE_SMTP_SECURITY": "none", "CRADLETRACE_ACK_BASE_URL": "http://testserver"}
    cli = CliRunner()
    made = cli.invoke(
        app,
        [
            "partner",
            "set",
            "north-dc",
            "--email",
            "qa@north.example",
            "--webhook",
            hooks.url("/n"),
            "--data-dir",
            data,
            *store,
        ],
    )
    assert made.exit_code == 0, made.output
    assert "webhook secret (shown once" in made.output
    bad = cli.invoke(app, ["partner", "set", "north-dc", "--email", "nope", "--data-dir", data, *store])
    assert bad.exit_code == 2 and "emails[0]: expected an e-mail address" in bad.output
    r = site.client.post(
        f"{P}/recalls", headers=site.auth("quality"), json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]}
    )
    assert r.status_code == 201
    sent = cli.invoke(app, ["recall", "notify", "--data-dir", data, *store], env=env)
    assert sent.exit_code == 0 and "2 sent, 0 retrying, 0 failed" in sent.output, sent.output
    assert len(mail) == 1 and len(hooks.got) == 1
    again = cli.invoke(app, ["recall", "notify", "--data-dir", data, *store], env=env)
    assert "0 sent, 0 retrying, 0 failed" in again.output  # nothing twice
    book = cli.invoke(app, ["recall", "ledger", str(r.json()["id"]), "--data-dir", data, *store])
    assert book.exit_code == 0 and "4 sites, 1 notified, 0 answered" in book.output
    assert "cans: shipped 2000, on hand 0, returned 0, destroyed 0, unaccounted 2000" in book.output


def test_a_worker_killed_after_claiming_leaves_its_notices_to_the_next_one(
    world: tuple[Site, list[Any], Hooks],
) -> None:
    site, mail, hooks = world
    contact(site, "north-dc", emails=["quality@north.example"], webhook_url=hooks.url("/north"))
    contact(site, "south-dc", emails=["qa@south.example"])
    r = site.client.post(
        f"{P}/recalls", headers=site.auth("quality"), json={"reason": "Cronobacter", "severity": "I", "lots": [IF1]}
    )
    assert r.status_code == 201
    rt = runtime(site)
    with rt.session() as s:  # a worker claims everything, then dies before sending (or before recording)
        claimed = delivery.claim(s, rt.sealer, rt.settings, datetime.now(UTC))
    assert len(claimed) == 3 and {n.attempts for n in claimed} == {1}
    assert deliver(site).tried == 0  # its claim holds: no second worker sends beside it
    with Workspace(site.settings) as ws, ws.session() as s:  # meanwhile south answers by its link
        south = s.exec(select(RecallAck).where(RecallAck.site == "south-dc")).one()
    token_south = ack_token(rt.sealer, south.salt)
    assert answer(site, token_south, [(IF1, 0, 500, 0)]).status_code == 200
    later = deliver(site, timedelta(minutes=5))  # the claim lapsed: the next worker sends what is still due
    assert (later.sent, later.retrying, later.failed) == (2, 0, 0)
    [m] = mail
    assert link(m.get_content()) == link(str(claimed[0].payload["ack_url"]))  # the link the dead worker had
    assert (
        m["Message-ID"] == f"<recall-1.notice-{claimed[0].notice_id}@cradletrace.example>" or m["X-Cradletrace-Notice"]
    )
    with Workspace(site.settings) as ws, ws.session() as s:
        states = {(a.site, n.channel): n.status for n, a in s.exec(select(RecallNotice, RecallAck).join(RecallAck))}
    assert states == {
        ("north-dc", "email"): "sent",
        ("north-dc", "webhook"): "sent",
        ("south-dc", "email"): "cancelled",
    }
    assert hooks.bodies("/north")[0]["attempt"] == 2


def test_the_link_token_never_reaches_the_access_log() -> None:
    from cradletrace.api.logs import redact

    token = "0123456789abcdef" * 2
    assert redact(f"/ack/{token}?lang=en") == "/ack/<token>?lang=en"
    assert redact(f"{P}/ack/{token}") == f"{P}/ack/<token>"

"""Recall notices to people over real parts (a real SMTP server, aiosmtpd; SQLite and PostgreSQL):
a parent subscribes to a can's lot from its scan page, confirms through the mailed link (double
opt-in), is told when the lot is recalled (RFC 8058 headers), unsubscribes in one click and is
not told of the next recall; an unconfirmed subscription gets nothing; the same address twice is
one subscription; each buyer whose order sold an affected can gets one notice; the ledger counts
reached and opened; no address is in the store, the delivery log, the logs or the report in clear.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from cradletrace import apikeys, suppliers
from cradletrace.api.logs import redact
from cradletrace.api.main import API_PREFIX
from cradletrace.config import Settings
from cradletrace.store.db import SQLITE_NAME
from cradletrace.store.models import BuyerContact, ConsumerSubscription
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, A, Site, commission, open_site, signed
from tests.recall.notify_kit import new_lot, smtp_server
from tests.recall.test_notices import ledger, runtime
from tests.test_logistics import CASE_GTIN, PLANT_GLN, STORE_GLN

P = API_PREFIX
BRAND = "mama-brand"
IF1 = f"{FORMULA}/IF-0001"
PARENT, OTHER, BOUNCE = "Parent.One@Example.org", "never.confirms@example.org", "bounce@parents.example"
BUYERS = {"m-1": "buyer.one@example.net", "m-2": "buyer.two@example.net"}
SECRETS = [PARENT.lower(), OTHER, BOUNCE, *BUYERS.values()]


@pytest.fixture
def world(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Site, list[EmailMessage], list[Any]]]:
    """The demo site with a brand that sold cans of IF-0001 to three members (two agreed to recall
    notices), and a real SMTP server; returns the site, the mail received and the cans."""
    with smtp_server() as (port, mail):
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
        over = dict(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            notify_interval=0,
            ack_base_url="http://testserver",
            scan_rate_per_minute=0,
        )
        with open_site(settings, **over) as site:
            cans = commission(settings, "IF-0001", 5)
            sell(site, [c.serial for c in cans])
            yield site, mail, cans


def _post(site: Site, who: str, events: list[dict[str, Any]]) -> None:
    body = json.dumps(signed(site.settings, events)).encode()
    r = site.client.post(f"{P}/events", headers=site.auth(who), content=body)
    assert r.status_code == 201, r.text


def sell(site: Site, serials: list[str]) -> None:
    """The plant packs four cans in a case and ships it to the brand, which receives and unpacks
    it and sells them: two cans to m-1 (one order), one each to m-2 and m-3 (m-3 keeps no contact)."""
    with Workspace(site.settings) as ws, ws.session() as s:
        cert = suppliers.CertificationIn.parse("BRC;B-1;SGS;2027-12-31")
        suppliers.add_supplier(s, site.settings.keys_dir, "Mama Brand", "brand", [cert], BRAND)
        site.secrets["brand"] = apikeys.create_key(s, "brand", "supplier", BRAND)[1]
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    case = {"gtin": CASE_GTIN, "serial": "SUB-1"}
    children = [{"gtin": FORMULA, "serial": c} for c in serials[:4]]
    ship = {"action": "ship", "units": [case], "at": at, "from_place": {"gln": PLANT_GLN}, "consignee": BRAND}
    _post(
        site,
        "supplier_a",
        [
            {"kind": "pack", "supplier": A, "data": {"parent": case, "children": children, "at": at}},
            {"kind": "move", "supplier": A, "data": ship},
        ],
    )
    receive = {"action": "receive", "units": [case], "at": at, "to_place": {"gln": STORE_GLN}}
    pseudonyms = {}
    for member in ("m-1", "m-2", "m-3"):
        body: dict[str, Any] = {"member_id": member}
        if member in BUYERS:
            body |= {"contact": BUYERS[member], "consent": True}
        r = site.client.post(f"{P}/buyers", headers=site.auth("brand"), json=body)
        assert r.status_code == 200, r.text
        pseudonyms[member] = r.json()["buyer"]
    sales = [("m-1", "WEB-1"), ("m-1", "WEB-1"), ("m-2", "WEB-2"), ("m-3", "WEB-3")]
    _post(
        site,
        "brand",
        [
            {"kind": "move", "supplier": BRAND, "data": receive},
            {"kind": "unpack", "supplier": BRAND, "data": {"parent": case, "children": children, "at": at}},
            *(
                {
                    "kind": "sale",
                    "supplier": BRAND,
                    "data": {"unit": can, "order": order, "buyer": pseudonyms[m], "sold_at": at},
                }
                for can, (m, order) in zip(children, sales, strict=True)
            ),
        ],
    )


def deliver(site: Site) -> Any:
    """One run of the delivery worker over both outboxes (the sites' and the people's)."""
    return runtime(site).deliverer.run_once()


def subscribe(site: Site, path: str, address: str, lang: str = "en", token: str | None = None) -> Any:
    page = site.client.get(f"{path}?lang={lang}")
    assert page.status_code == 200 and 'id="sub-form"' in page.text
    found = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    form = {**found, "email": address}
    if token is not None:
        form["form_token"] = token
    return site.client.post("/subscribe", data=form)


def link(msg: EmailMessage, route: str) -> str:
    m = re.search(rf"http://testserver/{route}/([0-9a-f]{{32}})", msg.get_content())
    assert m, msg.get_content()
    return m.group(1)


def to(mail: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in mail if m["To"] == address]


def recall(site: Site, reason: str = "Cronobacter sakazakii") -> int:
    r = site.client.post(
        f"{P}/recalls", headers=site.auth("quality"), json={"reason": reason, "severity": "I", "lots": [IF1]}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def close(site: Site, rid: int) -> None:
    r = site.client.post(f"{P}/recalls/{rid}/close", headers=site.auth("quality"), json={"reason": "all returned"})
    assert r.status_code == 200, r.text


def test_subscribe_confirm_notify_unsubscribe_and_buyers(
    world: tuple[Site, list[EmailMessage], list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    site, mail, cans = world
    caplog.set_level(logging.DEBUG)
    can = cans[4].path
    # A form without the page's token, or posted from another site's page, is refused.
    assert subscribe(site, can, PARENT, token="0" * 32).status_code == 422
    cross = site.client.post("/subscribe", data={"email": PARENT}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert subscribe(site, can, "not an address").status_code == 422
    # The same address twice (another case, another can of the lot): one subscription, one mail.
    assert subscribe(site, can, PARENT).status_code == 202
    assert subscribe(site, cans[3].path, PARENT.upper(), lang="zh").status_code == 202
    assert subscribe(site, can, OTHER).status_code == 202
    assert subscribe(site, can, BOUNCE).status_code == 202  # its mail server refuses it: failed for good
    with Workspace(site.settings) as ws, ws.session() as s:
        assert len(s.exec(select(ConsumerSubscription)).all()) == 3
    run = deliver(site)
    assert (run.sent, run.failed) == (2, 1)
    assert len(to(mail, PARENT.lower())) == 1 and len(to(mail, OTHER)) == 1
    token = link(to(mail, PARENT.lower())[0], "subscribe/confirm")
    # Following the link shows a button (a mail scanner's GET confirms nothing); pressing it confirms.
    shown = site.client.get(f"/subscribe/confirm/{token}?lang=en")
    assert shown.status_code == 200 and 'id="sub-confirm"' in shown.text
    done = site.client.post(f"/subscribe/confirm/{token}", data={"lang": "en"})
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    assert site.client.post(f"/subscribe/confirm/{token}").status_code == 200  # again: no change
    assert site.client.get(f"/subscribe/confirm/{'f' * 32}").status_code == 404
    assert subscribe(site, can, PARENT).status_code == 202  # subscribed already: the same answer, no mail
    mail.clear()

    rid = recall(site)
    run = deliver(site)
    assert run.sent == 3 and run.failed == 0  # one subscriber, two buyers (m-3 kept no contact)
    assert to(mail, OTHER) == []  # never confirmed: nothing
    (notice,) = to(mail, PARENT.lower())
    unsubscribe = link(notice, "unsubscribe")
    assert notice["List-Unsubscribe"] == f"<http://testserver/unsubscribe/{unsubscribe}?lang=en>"
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "IF-0001" in notice.get_content() and "Cronobacter" in notice.get_content()
    for member, address in BUYERS.items():
        (got,) = to(mail, address)  # one per buyer per recall, not one per can
        assert "IF-0001" in got.get_content() and got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert ("WEB-1" in got.get_content()) == (member == "m-1")
    assert deliver(site).tried == 0  # nothing sent twice

    counts = ledger(site, rid)
    assert counts["buyers"] == {"notified": 2, "reached": 2, "opened": 0, "failed": 0}
    assert counts["consumers"] == {"notified": 1, "reached": 1, "opened": 0, "failed": 0}
    read = site.client.get(f"/recall-notice/{link(notice, 'recall-notice')}?lang=en")
    assert read.status_code == 200 and "Cronobacter" in read.text and "IF-0001" in read.text
    site.client.get(f"/recall-notice/{link(notice, 'recall-notice')}")  # twice: opened once
    assert ledger(site, rid)["consumers"]["opened"] == 1

    # One click (RFC 8058): the mail client's POST, no login, no page.
    r = site.client.post(
        f"/unsubscribe/{unsubscribe}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and 'data-state="done_unsubscribe"' in r.text
    buyer_one = to(mail, BUYERS["m-1"])[0]
    assert site.client.post(f"/unsubscribe/{link(buyer_one, 'unsubscribe')}").status_code == 200
    with Workspace(site.settings) as ws, ws.session() as s:
        sub = s.exec(select(ConsumerSubscription).where(col(ConsumerSubscription.confirmed_at).is_not(None))).one()
        assert sub.unsubscribed_at is not None and sub.address is None  # the sealed address is wiped
        assert len(s.exec(select(BuyerContact)).all()) == 1  # m-1 withdrew consent
    close(site, rid)
    mail.clear()
    rid2 = recall(site, "Salmonella")
    assert deliver(site).sent == 1
    assert [m["To"] for m in mail] == [BUYERS["m-2"]]  # the unsubscribed parent and buyer get nothing
    assert ledger(site, rid2)["consumers"]["notified"] == 0

    # Nothing personal in clear: the store's rows (and the SQLite file's bytes), the logs, the report.
    report = site.client.get(f"{P}/recalls/{rid}/report", headers=site.auth("quality"))
    csv = site.client.get(f"{P}/recalls/{rid}/report?format=csv", headers=site.auth("quality"))
    notices = site.client.get(f"{P}/recalls/{rid}/notices", headers=site.auth("quality"))
    exported = report.text + csv.text + notices.text + json.dumps(ledger(site, rid))
    # Everything the server logged (the test's own mail server, aiosmtpd's "mail.log", is the receiver).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail"))
    for secret in SECRETS:
        assert secret not in exported.lower() and secret not in logged.lower()
    assert not _in_store(site, SECRETS)
    for route in ("subscribe/confirm", "unsubscribe", "recall-notice"):
        assert redact(f"/{route}/{token}?lang=en") == f"/{route}/<token>?lang=en"


def _in_store(site: Site, secrets: list[str]) -> list[str]:
    """The secrets found in clear anywhere in the store: every text column of every table on
    PostgreSQL, the database file's bytes on SQLite."""
    if site.settings.database_url is None:
        raw = (site.settings.data_dir / SQLITE_NAME).read_bytes().lower()
        for extra in ("-wal", "-journal"):
            side = site.settings.data_dir / (SQLITE_NAME + extra)
            raw += side.read_bytes().lower() if side.exists() else b""
        return [s for s in secrets if s.encode() in raw]
    found = []
    with Workspace(site.settings) as ws, ws.session() as s:
        tables = s.execute(
            text("select table_name from information_schema.tables where table_schema = current_schema()")
        )
        for (table,) in tables.all():
            dump = " ".join(str(row) for row in s.execute(text(f'select * from "{table}"')).all()).lower()
            found += [f"{table}: {x}" for x in secrets if x in dump]
    return found


def test_widening_tells_the_added_lots_subscribers_and_no_buyer_twice(
    world: tuple[Site, list[EmailMessage], list[Any]],
) -> None:
    site, mail, _ = world
    new_lot(site.settings, "IF-N2")
    other = commission(site.settings, "IF-N2", 1)[0].path
    assert subscribe(site, other, PARENT).status_code == 202
    assert deliver(site).sent == 1
    token = link(to(mail, PARENT.lower())[0], "subscribe/confirm")
    assert site.client.post(f"/subscribe/confirm/{token}").status_code == 200
    mail.clear()
    rid = recall(site)
    assert deliver(site).sent == 2 and sorted(m["To"] for m in mail) == sorted(BUYERS.values())
    mail.clear()
    r = site.client.post(f"{P}/recalls/{rid}/widen", headers=site.auth("quality"), json={"lots": [f"{FORMULA}/IF-N2"]})
    assert r.status_code == 200, r.text
    assert deliver(site).sent == 1 and [m["To"] for m in mail] == [PARENT.lower()]
    assert "IF-N2" in mail[0].get_content()
    assert ledger(site, rid)["buyers"]["notified"] == 2 and ledger(site, rid)["consumers"]["notified"] == 1


def test_a_drill_tells_no_buyer_or_subscriber_and_the_real_recall_does(
    world: tuple[Site, list[EmailMessage], list[Any]],
) -> None:
    """A mock recall runs the site workflow only: buyers and confirmed subscribers of the lot hear
    nothing of it (consumers._silent), and the same people are told of a real recall after it."""
    site, mail, cans = world
    assert subscribe(site, cans[4].path, PARENT).status_code == 202
    assert deliver(site).sent == 1
    token = link(to(mail, PARENT.lower())[0], "subscribe/confirm")
    assert site.client.post(f"/subscribe/confirm/{token}").status_code == 200
    mail.clear()
    r = site.client.post(
        f"{P}/recalls",
        headers=site.auth("quality"),
        json={"reason": "mock recall", "severity": "I", "trace_lot": IF1, "drill": True},
    )
    assert r.status_code == 201, r.text
    drill = int(r.json()["id"])
    deliver(site)
    people = {PARENT.lower(), *BUYERS.values()}
    assert not [m["To"] for m in mail if m["To"] in people]
    assert ledger(site, drill)["buyers"]["notified"] == 0 and ledger(site, drill)["consumers"]["notified"] == 0
    close(site, drill)
    mail.clear()
    recall(site)
    deliver(site)
    assert people <= {m["To"] for m in mail}

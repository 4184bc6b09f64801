"""A whole-farm recall's notices (issue 17, "Scale"): every consignee site told by e-mail and by
signed webhook within 60 s of the recall starting, on this machine.

A store with ``--lots`` formula lots, each shipped to ``--per-lot`` of ``--sites`` consignee sites
(each site with an e-mail address and a webhook), a real SMTP server (aiosmtpd) and a real HTTP
receiver on 127.0.0.1. The recall of every lot is started through the API's code path
(``start_recall``: the outbox written in its transaction), then the delivery worker runs until
every notice is sent.

Figure: recall start -> every notice sent (seconds), against the 60 s target; also the ledger's time.
Reference, measured in the same run: the same number of e-mails and webhook calls sent straight
(the same threads, smtplib and urllib, no store, no outbox), so the ratio is what the outbox,
the claims and the delivery log cost.

    .venv/bin/python bench/bench_recall_notices.py [--sites 500] [--lots 1500] [--per-lot 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for the tests' SMTP server and webhook receiver

from sqlmodel import Session, col, func, select

from cradletrace import recording, suppliers
from cradletrace.config import Settings
from cradletrace.recall import delivery, partners, recalls
from cradletrace.recall.ledger import build_ledger
from cradletrace.sealing import Sealer, load_or_create_key
from cradletrace.store.models import RecallNotice
from cradletrace.store.states import DeliveryStatus
from cradletrace.workspace import init_workspace
from tests.api.conftest import FORMULA, SUPPLIERS
from tests.conftest import add_demo_suppliers
from tests.recall.notify_kit import _demo_batch, shipments, smtp_server, webhook_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--lots", type=int, default=1500)
    parser.add_argument("--per-lot", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, smtp_server() as (port, mail), webhook_server() as hooks:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            ack_base_url="https://recall.example",
        )
        ws, _chain = init_workspace(settings)
        sealer = Sealer(load_or_create_key(settings.keys_dir / "location.key"), settings.sealing_algorithm)
        sites = [f"site-{i:04d}" for i in range(args.sites)]
        t = time.perf_counter()
        with ws:
            with ws.session() as s:
                add_demo_suppliers(s, settings.keys_dir, SUPPLIERS)
                cert = suppliers.CertificationIn.parse("HACCP;H-1;BV;2099-12-31")
                for sid in sites:
                    suppliers.add_supplier(s, settings.keys_dir, f"Store {sid}", "logistics", [cert], sid)
                now = datetime.now(UTC)
                for sid in sites:
                    partners.set_contact(
                        s,
                        sealer,
                        sid,
                        emails=[f"qa@{sid}.example"],
                        webhook_url=hooks.url(f"/{sid}"),
                        webhook_secret=None,
                        by="bench",
                        now=now,
                    )
            events = []
            base = _demo_batch()
            for i in range(args.lots):
                batch = {**base, "data": {**base["data"], "lot": f"B{i:05d}", "inputs": []}}
                events.append(batch)
                to = {sites[(i * args.per_lot + k) % len(sites)]: 100.0 for k in range(args.per_lot)}
                events.extend(shipments(f"B{i:05d}", to))
            with ws.session() as s:
                items = recording.sign_submissions(
                    recording.read_submissions(events), recording.key_loader(s, settings.keys_dir), ws.limits
                )  # type: ignore[arg-type]
                recording.record_submissions(s, items, datetime.now(UTC))
            print(
                f"store: {args.sites} sites, {args.lots} lots, {args.lots * args.per_lot} shipments "
                f"(built in {time.perf_counter() - t:.1f} s)"
            )
            factory = lambda: Session(ws.engine, expire_on_commit=False)  # noqa: E731
            lots = [(FORMULA, f"B{i:05d}") for i in range(args.lots)]
            started = time.perf_counter()
            with ws.session() as s:
                r = recalls.start_recall(
                    s,
                    lots=lots,
                    reason="Cronobacter",
                    severity="I",
                    trigger=None,
                    started_by="bench",
                    now=datetime.now(UTC),
                )
                rid = r.id
            written = time.perf_counter() - started
            deliverer = delivery.NoticeDeliverer(settings, factory, lambda: sealer)
            run = deliverer.run_once()
            total = time.perf_counter() - started
            with factory() as s:
                left = s.exec(
                    select(func.count())
                    .select_from(RecallNotice)
                    .where(col(RecallNotice.status) != DeliveryStatus.SENT)
                ).one()
            assert rid is not None
            t = time.perf_counter()
            with factory() as s:
                book = build_ledger(s, rid).to_json()
            ledger_s = time.perf_counter() - t
            assert book["sites"]["notified"] == args.sites, book["sites"]
        # Reference: the same messages straight out, same threads, no store.
        msgs = list(mail)
        got = len(hooks.got)
        sample = delivery.Outgoing(
            0,
            0,
            "email",
            1,
            datetime.now(UTC),
            "x",
            "x",
            ("qa@x.example",),
            hooks.url("/ref"),
            "s" * 32,
            {
                "recall": {"id": 0, "reason": "r", "severity": "I"},
                "lots": [{"lot": "x", "shipped": 1, "unit": "cans"}],
                "ack_url": "https://recall.example/ack/x",
                "notice_id": 0,
            },
        )
        t = time.perf_counter()
        width = settings.notify_parallel
        with ThreadPoolExecutor(max_workers=width) as pool:
            mails = [
                pool.submit(delivery.send_emails, settings, [sample] * (args.sites // width + 1)) for _ in range(width)
            ]
            posts = [pool.submit(delivery.post_webhook, settings, sample) for _ in range(args.sites)]
            for f in mails + posts:
                f.result()
        reference = time.perf_counter() - t
    print(f"recall {rid}: outbox of {run.sent + left} notices written in {written:.2f} s with the recall")
    print(f"{'figure: start -> all sent':<34} {total:7.2f} s  ({run.sent} sent, {left} not sent; target 60 s)")
    print(f"{'reference: same messages straight':<34} {reference:7.2f} s  (ratio {total / reference:.1f}x)")
    print(f"{'ledger (' + str(len(book['rows'])) + ' rows)':<34} {ledger_s * 1000:7.0f} ms (target 200 ms)")
    print(f"mail received: {len(msgs)}, webhook calls received: {got}")


if __name__ == "__main__":
    main()

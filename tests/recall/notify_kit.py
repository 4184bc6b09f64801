"""Real parts for the recall notice tests: an SMTP server (aiosmtpd) and a webhook receiver
(http.server) on 127.0.0.1, started and stopped by the test; consignee sites and shipments to them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from cradletrace import recording, suppliers
from cradletrace.config import Settings
from cradletrace.demo import story
from cradletrace.workspace import Workspace
from tests.api.conftest import FORMULA, Site, open_site

PLANT = "alps-nutrition"


class _Handler:
    """Takes mail, refusing ``bounce@...`` recipients with 550 (a bounce)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bounce@"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, _class=EmailMessage, policy=default))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[EmailMessage]]]:
    handler = _Handler()
    with socket.socket() as probe:  # aiosmtpd checks its server by connecting to the port it was given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.messages
    finally:
        controller.stop()


@dataclass
class Hooks:
    """What the webhook receiver got; ``down`` paths answer 500 that many more times."""

    port: int = 0
    got: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    down: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(b) for p, _, b in self.got if p == path]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a partner does with a notice: recompute the HMAC over "<timestamp>." + body."""
    ts = headers["x-cradletrace-timestamp"]
    want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers["x-cradletrace-signature"])


@contextmanager
def webhook_server() -> Iterator[Hooks]:
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hooks.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if hooks.down.get(self.path, 0) > 0:
                hooks.down[self.path] -= 1
                self.send_response(500)
            else:
                self.send_response(200 if self.path != "/gone" else 410)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # a 500-site recall's calls come 16 at a time; the default 5 refuses some

    server = Server(("127.0.0.1", 0), Handler)
    hooks.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def notify_site(settings: Settings, sites: dict[str, float]) -> Iterator[tuple[Site, list[EmailMessage], Hooks]]:
    """The demo site with consignee sites ``sites`` (id -> cans of IF-0001 shipped there), a real
    SMTP server and webhook receiver, notices delivered only when a test says so."""
    with smtp_server() as (port, mail), webhook_server() as hooks:
        overrides = dict(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            notify_interval=0,
            ack_base_url="http://testserver",
            scan_rate_per_minute=0,
        )
        with open_site(settings, **overrides) as site:
            add_sites(settings, list(sites))
            record(settings, shipments("IF-0001", sites))
            yield site, mail, hooks


def add_sites(settings: Settings, ids: list[str]) -> None:
    with Workspace(settings) as ws, ws.session() as s:
        for sid in ids:
            cert = suppliers.CertificationIn.parse("HACCP;H-1;BV;2099-12-31")
            suppliers.add_supplier(s, settings.keys_dir, f"Site {sid}", "logistics", [cert], sid)
        s.commit()


def _demo_batch() -> dict[str, Any]:
    return next(e for e in story(datetime.now(UTC)) if e["kind"] == "batch" and e["data"]["lot"] == "IF-0001")  # type: ignore[index,call-overload]


def record(settings: Settings, events: list[dict[str, Any]]) -> None:
    with Workspace(settings) as ws, ws.session() as s:
        items = recording.sign_submissions(
            recording.read_submissions(events), recording.key_loader(s, settings.keys_dir), ws.limits
        )  # type: ignore[arg-type]
        recording.record_submissions(s, items, datetime.now(UTC))


def new_lot(settings: Settings, lot: str) -> None:
    """Another formula lot by the plant (a copy of the demo's IF-0001 batch)."""
    batch = copy.deepcopy(_demo_batch())
    batch["data"]["lot"] = lot
    record(settings, [batch])


def shipments(lot: str, to: dict[str, float], tag: str = "S") -> list[dict[str, Any]]:
    """The plant ships ``lot`` to each consignee site its quantity of cans."""
    batch = _demo_batch()
    now = datetime.now(UTC)
    return [
        {
            "kind": "shipment",
            "supplier": PLANT,
            "data": {
                "id": f"{tag}-{lot}-{site}",
                "lot": {"gtin": FORMULA, "lot": lot},
                "quantity": qty,
                "unit": "cans",
                "from_site": batch["data"]["site"],
                "to_site": {"name": f"Site {site}", "address": "1 Dock Rd", "lat": 31.2, "lon": 121.5},
                "shipped_at": (now - timedelta(hours=1)).isoformat(),
                "consignee": site,
            },
        }
        for site, qty in to.items()
    ]

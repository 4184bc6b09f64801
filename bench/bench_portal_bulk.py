"""How long the portal's bulk upload takes for 10 000 shipment rows (issue 15: "10 000 rows signed
and submitted in <= 60 s in headless Chromium on this machine"): headless Chromium against the app
served by uvicorn on localhost (real HTTP, SQLite store), signed in as the demo plant with its key
imported into the browser.

Figures, as the page measures them (portal-bulk.js's ``data-timings``): upload and check (the XLSX
posted, read with openpyxl and every row judged by recording.check_unsigned, the answer parsed);
then, from "Sign all valid rows" to the last answer, the wall time, of which signing (canonical.js
bytes and WebCrypto Ed25519 per event) and submitting (POST /supplier/events, one submission of 500
after another, overlapping with the signing of the next). Reference, in the same run: the Python
verifier (libsodium, signing.verify_signature) checking the same 10 000 stored signatures, and
the ratio of the two.

    .venv/bin/python bench/bench_portal_bulk.py [--rows 10000] [--per 500]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for the tests' site and browser helpers

from openpyxl import load_workbook
from sqlmodel import col, select

from cradletrace import bulk
from cradletrace.api.main import create_app
from cradletrace.config import Settings
from cradletrace.core import signing
from cradletrace.devstack.nodes import free_port
from cradletrace.store.models import EventRow, Lot, SupplierKey
from cradletrace.workspace import Workspace
from tests.api.conftest import A, open_site
from tests.browser import CHROMIUM, FLAGS

TIMEOUT_MS = 300_000


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app on http://localhost:<port> (uvicorn in a thread of this process) until the block ends."""
    import uvicorn

    port = free_port()
    app = create_app(settings.model_copy(update={"auth_failures_per_minute": 1_000_000}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the server did not start (see above)")
        time.sleep(0.05)
    try:
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def sheet(rows: int, lot: Lot) -> bytes:
    """The shipment template with ``rows`` shipments of ``lot``, times without an offset (the page's zone)."""
    from datetime import datetime, timedelta

    wb = load_workbook(io.BytesIO(bulk.template("shipment", 500)))
    ws = wb.worksheets[0]
    base = {c.key: c.example for c in bulk.SHIPMENT_COLUMNS if c.example is not None}
    keys = [c.key for c in bulk.SHIPMENT_COLUMNS]
    start = datetime(2026, 3, 1, 8, 0)
    for n in range(rows):
        row = {
            **base,
            "id": f"BENCH-{n:06d}",
            "lot.gtin": lot.gtin,
            "lot.lot": lot.lot,
            "quantity": 1 + n % 997,
            "shipped_at": start + timedelta(minutes=n),
            "received_at": None,
            "customs.cleared_at": start + timedelta(minutes=n, hours=20),
        }
        for i, key in enumerate(keys, 1):
            ws.cell(row=bulk.FIRST_ROW + n, column=i, value=row[key])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def run(browser: Any, base: str, secret: str, pem: str, xlsx: bytes) -> dict[str, Any]:
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/supplier?lang=en")
    page.fill("#key", secret)
    page.click("#signin")
    page.locator("#records-section").wait_for()
    page.goto(f"{base}/supplier/keys?lang=en")
    page.fill("#pem", pem)
    page.click("#import-key")
    page.locator("#key-status[data-key-id]").wait_for()
    page.goto(f"{base}/supplier/bulk?lang=en")
    page.wait_for_selector("body[data-form-ready]")
    page.set_input_files("#bulk-file", files=[{"name": "bench.xlsx", "mimeType": bulk.XLSX_TYPE, "buffer": xlsx}])
    page.fill("#bulk-zone", "Asia/Shanghai")
    page.click("#bulk-check")
    page.locator("#bulk-result[data-checked]").wait_for()
    counts = page.inner_text("#bulk-counts")
    if page.is_disabled("#bulk-sign"):
        problems = page.locator("#bulk-problems li").all_inner_texts()[:5]
        raise SystemExit(f"nothing to sign: {counts} {page.inner_text('#bulk-status')} {problems}")
    started = time.perf_counter()
    page.click("#bulk-sign")
    page.locator("#bulk-status[data-done]").wait_for()
    wall = time.perf_counter() - started
    status = page.locator("#bulk-status")
    out = {
        "counts": counts,
        "stored": int(status.get_attribute("data-stored") or 0),
        "refused": int(status.get_attribute("data-refused") or 0),
        "timings": json.loads(status.get_attribute("data-timings") or "{}"),
        "wall": wall,
    }
    page.context.close()
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--per", type=int, default=500, help="events per submission (portal_bulk_per_submission)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        settings = Settings(data_dir=Path(tmp) / "data", portal_bulk_per_submission=args.per)
        with open_site(settings) as site:  # the demo store, suppliers and keys; its app closes with it
            secret = site.secrets["supplier_a"]
        [pem_file] = settings.keys_dir.glob(f"{A}.*.pem")
        with Workspace(settings) as ws, ws.session() as s:
            lot = s.exec(select(Lot).where(Lot.supplier_id == A)).first()
            assert lot is not None
        t = time.perf_counter()
        xlsx = sheet(args.rows, lot)
        print(f"{args.rows} shipment rows, XLSX {len(xlsx) / 1e6:.2f} MB (written in {time.perf_counter() - t:.1f} s)")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            with served(settings) as base:
                out = run(browser, base, secret, pem_file.read_text(), xlsx)
        finally:
            browser.close()
        assert out["stored"] == args.rows and out["refused"] == 0, out
        key_id = pem_file.name.split(".")[1]
        with Workspace(settings) as ws, ws.session() as s:
            key = s.get(SupplierKey, key_id)
            assert key is not None
            public = base64.b64decode(key.public_key)
            rows = s.exec(select(EventRow.body, EventRow.signature).where(col(EventRow.ref).startswith("BENCH-"))).all()
        assert len(rows) == args.rows
        t = time.perf_counter()
        assert all(signing.verify_signature(public, body.encode(), sig) for body, sig in rows)
        reference = time.perf_counter() - t
    tm = out["timings"]
    print(out["counts"])
    print(f"upload + check (server reads and judges every row, page shows them): {tm['check'] / 1000:6.2f} s")
    print(
        f"sign all valid rows and submit, wall:                                {out['wall']:6.2f} s"
        f"  (page's own: {tm['total'] / 1000:.2f} s)"
    )
    print(f"  of which signing (canonical.js + WebCrypto Ed25519):              {tm['sign'] / 1000:6.2f} s")
    print(
        f"  of which waiting on POST /supplier/events ({args.rows // args.per} x {args.per}):              {tm['submit'] / 1000:6.2f} s"
    )
    total = tm["check"] / 1000 + out["wall"]
    print(f"upload, check, sign and submit, all:                                  {total:6.2f} s (budget 60 s)")
    print(
        f"reference: Python verifying the same {len(rows)} signatures (libsodium):       {reference:6.2f} s"
        f" ({len(rows) / reference:,.0f}/s); ratio {total / reference:.0f}x"
    )


if __name__ == "__main__":
    main()

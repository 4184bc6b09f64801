"""The recall report's XLSX against its CSV (issue 17, "Scale": every spreadsheet the product writes
takes at most 5× its CSV's time, measured in the same run).

The rows are a whole-farm recall's (bench_trace.py's farm case: ~1 500 lots, ~15 000 shipments,
500 sites: ``--lots`` transformation rows and ``--shipments`` shipping rows with every FSMA 204
column filled, dates as the store gives them), built in memory so that only the writers are timed:
``RecallReport.csv_bytes`` and ``RecallReport.xlsx_bytes`` (trace/spreadsheet.py, XlsxWriter in
constant-memory mode), each the median of ``--repeat`` runs taken in turn, and for reference the same workbook
written by openpyxl's write-only mode (what the product used before, ~5 µs a cell).

    .venv/bin/python bench/bench_recall_report.py [--lots 1544] [--shipments 15000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cradletrace.recall.recalls import RecallView
from cradletrace.recall.report import COLUMNS, SITE_COLUMNS, RecallReport, _row
from cradletrace.spreadsheet import NUMBER_FORMATS, typed
from cradletrace.store.models import Recall

TARGET = 5.0


def farm_report(lots: int, shipments: int, sites: int = 500, seed: int = 17) -> RecallReport:
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    keys = [("06901234567892", f"F{i:06d}") for i in range(lots)]
    rows = [
        _row(
            "transformation",
            g,
            lo,
            "Stage 1 infant formula 800 g",
            rng.randint(2_000, 20_000),
            "can",
            i + 1,
            f"{rng.getrandbits(256):064x}",
            location="Alps Nutrition plant, Hall 2",
            transformation_date=(date(2026, 10, 1) + timedelta(days=i % 30)).isoformat(),
            reference_document_type="Batch record",
            reference_document_number=f"{g}/{lo}",
            items=rng.randint(50, 150),
            items_scanned=rng.randint(0, 20),
            consumers_opted_in=rng.randint(0, 5),
        )
        for i, (g, lo) in enumerate(keys)
    ]
    for n in range(shipments):
        g, lo = keys[n % lots]
        shipped = t0 + timedelta(minutes=7 * n)
        rows.append(
            _row(
                "shipping",
                g,
                lo,
                "Stage 1 infant formula 800 g",
                rng.randint(10, 400),
                "can",
                lots + n + 1,
                f"{rng.getrandbits(256):064x}",
                ship_from_location="Alps Nutrition plant, Hall 2, 1 Dairy Road",
                ship_to_location=f"Retail site {n % sites:03d}, {n % 97} Market Street",
                ship_date=shipped.isoformat(),
                receive_date=(shipped + timedelta(hours=20)).isoformat(),
                reference_document_type="Shipment (consignment)",
                reference_document_number=f"SH-{n:07d}",
                customs_declaration=None if n % 3 else f"CD{n:010d}",
            )
        )
    site_rows = tuple(
        {
            "site": f"Retail site {s:03d}",
            "address": f"{s % 97} Market Street",
            "country": "CN",
            "lots": ", ".join(f"{g}/{lo}" for g, lo in keys[s : s + 3]),
            "shipments": shipments // sites,
            "quantity": float(rng.randint(1_000, 9_000)),
            "unit_of_measure": "can",
            "last_received": (t0 + timedelta(days=s % 20)).isoformat(),
        }
        for s in range(sites)
    )
    recall = Recall(
        id=1,
        reason="Cronobacter sakazakii in finished product",
        severity="I",
        trigger_text="lab report",
        started_by="quality",
        started_at=t0,
        located_at=t0,
        notice_digest="0" * 64,
        notice_status="confirmed",
    )
    consumers = {"items_scanned": 1, "scans": 2, "opted_in": 0, "how": "through the platform"}
    return RecallReport(RecallView(recall, tuple(keys)), tuple(rows), site_rows, consumers, t0)


def openpyxl_bytes(report: RecallReport) -> bytes:
    """The same three sheets as openpyxl's write-only mode wrote them before (reference only)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for name, columns, rows in (
        ("Traceability", COLUMNS, report.rows),
        ("Sites to notify", SITE_COLUMNS, report.sites),
    ):
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        ws.append([h for _, h, _ in columns])
        for r in rows:
            line: list[Any] = []
            for key, _, kind in columns:
                value = typed(r[key], kind)
                if kind in NUMBER_FORMATS and value is not None:
                    cell = WriteOnlyCell(ws, value)
                    cell.number_format = NUMBER_FORMATS[kind]
                    value = cell
                line.append(value)
            ws.append(line)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def median_times(fns: list[Callable[[], bytes]], repeat: int) -> list[tuple[float, int]]:
    """Each function's median time and output size, the functions run in turn ``repeat`` times:
    interleaved, so a change in the machine's load falls on all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    sizes = [0] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            sizes[i] = len(fn())
            times[i].append(time.perf_counter() - t)
    return [(statistics.median(t), n) for t, n in zip(times, sizes, strict=True)]


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lots", type=int, default=1544)
    ap.add_argument("--shipments", type=int, default=15000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-openpyxl", action="store_true", help="skip the openpyxl reference")
    a = ap.parse_args(argv)
    report = farm_report(a.lots, a.shipments)
    cells = len(report.rows) * len(COLUMNS) + len(report.sites) * len(SITE_COLUMNS)
    print(f"recall report: {len(report.rows)} rows × {len(COLUMNS)} columns, {len(report.sites)} sites ({cells} cells)")
    fns: list[Callable[[], bytes]] = [report.csv_bytes, report.xlsx_bytes]
    if not a.no_openpyxl:
        fns.append(lambda: openpyxl_bytes(report))
    timed = median_times(fns, a.repeat)
    (csv_s, csv_n), (xlsx_s, xlsx_n) = timed[:2]
    out = {"csv_s": csv_s, "xlsx_s": xlsx_s, "ratio": xlsx_s / csv_s}
    print(f"CSV   {csv_s:7.3f} s  {csv_n / 1e6:6.2f} MB")
    print(
        f"XLSX  {xlsx_s:7.3f} s  {xlsx_n / 1e6:6.2f} MB  "
        f"(XlsxWriter, constant memory; {xlsx_s / cells * 1e6:.2f} µs a cell)"
    )
    print(f"XLSX / CSV = {out['ratio']:.2f}× (target ≤ {TARGET:g}×: {'met' if out['ratio'] <= TARGET else 'NOT met'})")
    if not a.no_openpyxl:
        old_s, old_n = timed[2]
        out["openpyxl_s"] = old_s
        print(
            f"openpyxl write-only, for reference: {old_s:7.3f} s  {old_n / 1e6:6.2f} MB  ({old_s / csv_s:.1f}× the CSV)"
        )
    return out


if __name__ == "__main__":
    main()

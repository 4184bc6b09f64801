"""bench/bench_recall_report.py runs (at a small scale) and its workbook is the recall spreadsheet's."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from openpyxl import load_workbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_recall_report


def test_the_bench_times_csv_and_xlsx_of_the_same_rows() -> None:
    out = bench_recall_report.main(["--lots", "20", "--shipments", "100", "--repeat", "1"])
    assert set(out) == {"csv_s", "xlsx_s", "ratio", "openpyxl_s"} and out["ratio"] > 0
    report = bench_recall_report.farm_report(5, 10, sites=3)
    sheet = load_workbook(io.BytesIO(report.xlsx_bytes()))["Traceability"]
    assert sheet.max_row == 16 and sheet["A2"].value == "transformation" and sheet["A7"].value == "shipping"
    assert bench_recall_report.openpyxl_bytes(report)[:2] == b"PK"

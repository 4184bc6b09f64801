"""Benchmark of label printing (issue 3, "Benchmarks"): prints figures, not pass/fail.

    .venv/bin/python bench/bench_labels.py              # 10 000 labels (~1 min)
    .venv/bin/python bench/bench_labels.py --count 1000 # smoke run

Targets: at least 1 000 SVG labels/s, and a 10 000-label PDF in at most 30 s.

What is measured, on one lot of a plant with its key file, in a fresh SQLite store:

1. commissioning: ``labels.generate_codes`` (serials from ``secrets``, signing, validation,
   uniqueness checks, event + item inserts) and the commit.
2. QR encoding alone (``labels.qr_symbol``: zxing-cpp, error correction M).
3. SVG labels/s: encode + ``label_svg``, in memory and as files (``SvgDir``, one file per label).
4. the PDF sheet of all labels (``PdfSheet``), encode included; the ZIP of PNGs (``PngZip``).
5. all three outputs in one pass, as ``cradletrace labels`` does, and the command itself
   end to end (process start, commissioning, rendering).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cradletrace import products, recording, suppliers
from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.labels.commission import generate_codes, qr_symbol, render
from cradletrace.labels.render import PdfSheet, PngZip, SvgDir, label_svg
from cradletrace.workspace import Workspace

GTIN = "9421902960101" + str(gtin_check_digit("9421902960101"))
LOT = "IF-2026-0001"
PLANT = "alps-nutrition"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def setup(data_dir: Path) -> Settings:
    """A store with one plant and one formula lot; no chain (commissioning never touches it)."""
    settings = Settings(data_dir=data_dir)
    now = datetime.now(UTC)
    with Workspace(settings, create=True) as ws:
        ws.create_schema()
        with ws.session() as s:
            suppliers.add_supplier(
                s,
                settings.keys_dir,
                "Southern Alps Nutrition",
                "plant",
                [suppliers.CertificationIn.parse(f"ISO 22000;FSSC-1;SGS;{(now + timedelta(days=365)).date()}")],
                PLANT,
            )
        batch = {
            "kind": "batch",
            "supplier": PLANT,
            "data": {
                "product": {"gtin": GTIN, "name": "Stage 1 infant formula 800 g"},
                "lot": LOT,
                "produced_on": now.date().isoformat(),
                "expires_on": (now + timedelta(days=540)).date().isoformat(),
                "quantity": 10_000,
                "unit": "cans",
                "site": {"name": "Dryer 2", "address": "45 Kahu Rd, Christchurch", "lat": -43.5, "lon": 172.6},
            },
        }
        with ws.session() as s:
            products.register_story(s, [batch], now)
            items = recording.sign_submissions(
                recording.read_submissions([batch]), recording.key_loader(s, settings.keys_dir), {}
            )
            recording.record_submissions(s, items, now)
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args(argv)
    n = args.count
    print(
        f"cradletrace label benchmark: {n} labels; {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores; command: {shlex.join(['.venv/bin/python', 'bench/bench_labels.py', *(argv or sys.argv[1:])])}"
    )
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as tmp:
        out = Path(tmp)
        settings = setup(out / "data")
        with Workspace(settings) as ws:
            codes = None

            def commission() -> None:
                nonlocal codes
                with ws.session() as s:
                    codes = generate_codes(
                        s,
                        settings.keys_dir,
                        gtin=GTIN,
                        lot=LOT,
                        count=n,
                        supplier=PLANT,
                        resolver=settings.resolver_host,
                    )

            t = timed(commission)
        assert codes is not None
        links = codes.links
        rows.append(("commission (serials, sign, record, commit)", f"{t:6.2f} s   {n / t:8.0f} items/s"))
        t = timed(lambda: [qr_symbol(x.uri) for x in links])
        rows.append(("QR encode only (zxing-cpp, EC level M)", f"{t:6.2f} s   {n / t:8.0f} codes/s"))
        t = timed(lambda: [label_svg(x, qr_symbol(x.uri)) for x in links])
        rows.append(("SVG labels, in memory (encode + SVG)", f"{t:6.2f} s   {n / t:8.0f} labels/s"))
        t = timed(lambda: render(links, [SvgDir(out / "svg")]))
        rows.append(
            ("SVG labels, one file each (--svg-dir)", f"{t:6.2f} s   {n / t:8.0f} labels/s   (target >= 1 000/s)")
        )
        t = timed(lambda: render(links, [PdfSheet(out / "labels.pdf")]))
        size = (out / "labels.pdf").stat().st_size
        rows.append(
            (
                f"PDF sheet, {n} labels (--pdf)",
                f"{t:6.2f} s   {n / t:8.0f} labels/s   {size / 1e6:.1f} MB (target <= 30 s for 10 000)",
            )
        )
        t = timed(lambda: render(links, [PngZip(out / "labels.zip")]))
        size = (out / "labels.zip").stat().st_size
        rows.append((f"ZIP of {n} PNG labels (--zip)", f"{t:6.2f} s   {n / t:8.0f} labels/s   {size / 1e6:.1f} MB"))
        t = timed(lambda: render(links, [SvgDir(out / "svg2"), PdfSheet(out / "all.pdf"), PngZip(out / "all.zip")]))
        rows.append(("SVG + PDF + ZIP in one pass", f"{t:6.2f} s   {n / t:8.0f} labels/s"))

        cli = Path(sys.executable).parent / "cradletrace"
        cmd = [
            str(cli),
            "labels",
            GTIN,
            LOT,
            "--count",
            str(n),
            "--supplier",
            PLANT,
            "--data-dir",
            str(settings.data_dir),
            "--svg-dir",
            str(out / "svg3"),
            "--pdf",
            str(out / "cli.pdf"),
            "--zip",
            str(out / "cli.zip"),
        ]
        t = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
        rows.append(
            (
                f"cradletrace labels --count {n} --svg-dir --pdf --zip",
                f"{t:6.2f} s   {n / t:8.0f} labels/s   (end to end)",
            )
        )
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()

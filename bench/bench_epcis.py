"""Benchmark of EPCIS 2.0 capture and export: prints figures, not pass/fail.

    .venv/bin/python bench/bench_epcis.py                  # 10 000-event documents (~1 min)
    .venv/bin/python bench/bench_epcis.py --events 1000    # smaller documents (smoke run)
    .venv/bin/python bench/bench_epcis.py --reference 0    # skip the slow all-Python validation

The documents are the repo's own profile examples (tests/vectors/epcis/profile: farm, plant,
lab) repeated until they hold ``--events`` events (10 000, the most a capture accepts); every
copy gets its own lot numbers, shipment id and event ids, so each event has its own CBV hash:

* "farm": the farm's two raw-milk batches (ObjectEvent commissioning), importable as one supplier;
* "mixed": all seven profile events (Object, Transformation, Aggregation, Association events with
  ILMD, sensor reports, extensions), for validate, hash and map.

Timed: ``validation.validate`` (jsonschema_rs + CBV lists), the all-Python reference path it replaced
(``jsonschema`` over ``--reference`` events, as a rate), ``document_hashes`` (CBV 2.0 event
hashes), ``map_document`` (profile mapping), the whole ``import_document`` on SQLite (parse,
validate, map, hash, sign, record, keep the originals; one transaction) and ``export_lot``.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.bench_core

from bench.bench_core import Row, Stopwatch, fmt_s, machine_info, print_table
from cradletrace import products, suppliers
from cradletrace.config import Settings
from cradletrace.core.canonical import parse_json
from cradletrace.core.epcishash import document_hashes
from cradletrace.demo import FORMULA, MILK
from cradletrace.epcis import validation
from cradletrace.epcis.capture import import_document, map_document
from cradletrace.epcis.export import export_lot
from cradletrace.workspace import init_workspace

PROFILE = ROOT / "tests" / "vectors" / "epcis" / "profile"
# The suppliers the profile examples are written for (as in tests/conftest.py).
SUPPLIERS = [
    ("waikato-dairy", "Waikato Dairy Farm", "farm", "GAP;NZGAP-77812;AsureQuality;2027-12-31"),
    ("alps-nutrition", "Southern Alps Nutrition", "plant", "ISO 22000;FSSC-C129;SGS;2027-12-31"),
    ("canterbury-lab", "Canterbury Food Lab", "lab", "ISO/IEC 17025;IANZ-1284;IANZ;2027-12-31"),
]
FORMULA_LOT = "94219029601016/IF-E001"  # made by the plant example from the farm's first two lots


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def profile(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((PROFILE / f"{name}.jsonld").read_text("utf-8"))
    return value


def _copy(event: dict[str, Any], k: int, i: int) -> dict[str, Any]:
    """Copy ``k`` of a profile event: its own lots, shipment and event id (copy 0 is the original)."""
    if k == 0:
        return copy.deepcopy(event)
    text = json.dumps(event, ensure_ascii=False)
    for old, new in (("RM-E", f"RM{k:05d}E"), ("IF-E", f"IF{k:05d}E"), ("ALPS-E-", f"ALPS{k:05d}-")):
        text = text.replace(old, new)
    out: dict[str, Any] = json.loads(text)
    if "eventID" in out:
        out["eventID"] = f"urn:uuid:{uuid.UUID(int=k << 16 | i)}"
    return out


def build(names: list[str], n: int) -> dict[str, Any]:
    """A valid EPCISDocument of ``n`` events: the named profile documents' events, repeated."""
    docs = [profile(x) for x in names]
    events = [e for d in docs for e in d["epcisBody"]["eventList"]]
    terms: dict[str, str] = {}
    for d in docs:
        terms.update({k: v for part in d["@context"] if isinstance(part, dict) for k, v in part.items()})
    out = {**docs[0], "@context": [docs[0]["@context"][0], terms]}
    out["epcisBody"] = {
        "eventList": [_copy(events[j % len(events)], j // len(events), j % len(events)) for j in range(n)]
    }
    return out


def timed(fn: Any, *args: Any) -> tuple[Any, Stopwatch]:
    with Stopwatch() as sw:
        value = fn(*args)
    return value, sw


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=10_000, help="events per document (default 10000, the capture limit)")
    p.add_argument(
        "--reference",
        type=int,
        default=500,
        help="events validated with the all-Python jsonschema path, for comparison (default 500; 0 skips)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp directory (its path is printed)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    n = args.events
    cmd = " ".join(shlex.quote(x) for x in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print("cradletrace EPCIS benchmark")
    print(f"command : .venv/bin/python {cmd}")
    for line in machine_info():
        print(line)
    from importlib.metadata import version

    print(
        f"epcis   : jsonschema {version('jsonschema')}, jsonschema-rs {version('jsonschema-rs')}; {n:,} events per document"
    )
    rows: list[Row] = []
    started = time.perf_counter()
    now = datetime.now(UTC)
    texts = {
        name: json.dumps(build(parts, n), ensure_ascii=False).encode()
        for name, parts in (("farm", ["farm"]), ("mixed", ["farm", "plant", "lab"]))
    }
    docs = {name: parse_json(t) for name, t in texts.items()}
    for name, t in texts.items():
        rows.append(
            Row(
                "documents",
                f"{name}: {n:,} events",
                f"{len(t) / 2**20:,.1f} MiB",
                "",
                f"{len(t) / n:,.0f} B/event of JSON",
            )
        )

    validation.validate(docs["farm"]["epcisBody"]["eventList"][0])  # compile both validators outside the timings
    for name, doc in docs.items():
        log(f"validate {name}")
        problems, sw = timed(validation.validate, doc)
        assert problems == [], problems[:3]
        rows.append(
            Row.rate(
                "validate (schema + formats + CBV lists)",
                f"{name}: validation.validate",
                n,
                sw.wall,
                "",
                f"{fmt_s(sw.wall)} for the document; {sw.note()}",
            )
        )
    if args.reference:
        for name, doc in docs.items():
            m = min(args.reference, n)
            part = {**doc, "epcisBody": {"eventList": doc["epcisBody"]["eventList"][:m]}}
            log(f"reference all-Python validation of {m:,} {name} events")
            problems, sw = timed(validation.schema_problems_full, part)
            assert problems == [], problems[:3]
            rows.append(
                Row.rate(
                    "validate (schema + formats + CBV lists)",
                    f"{name}: jsonschema only (the old path)",
                    m,
                    sw.wall,
                    "",
                    f"{m:,} events in {fmt_s(sw.wall)}; {n:,} would take ~{fmt_s(n * sw.wall / m)}; {sw.note()}",
                )
            )
        bad = copy.deepcopy(docs["mixed"])
        for i in range(0, n, max(1, n // 10)):
            bad["epcisBody"]["eventList"][i]["eventTime"] = "yesterday"
        log("validate mixed with 10 broken events")
        problems, sw = timed(validation.validate, bad)
        rows.append(
            Row.took(
                "validate (schema + formats + CBV lists)",
                "mixed, 10 events broken",
                sw.wall,
                "",
                f"{len(problems)} problems; jsonschema explains only the faulted events; {sw.note()}",
            )
        )

    for name, doc in docs.items():
        log(f"hash {name}")
        hashes, sw = timed(document_hashes, doc)
        assert len(set(hashes)) == n
        rows.append(
            Row.rate(
                "CBV 2.0 event hashes", f"{name}: document_hashes", n, sw.wall, "", f"{fmt_s(sw.wall)}; {sw.note()}"
            )
        )

    tmp = Path(tempfile.mkdtemp(prefix="cradletrace-bench-epcis-"))
    try:
        settings = Settings(data_dir=tmp / "data")
        ws, _chain = init_workspace(settings)
        with ws:
            with ws.session() as s:
                for sid, name, role, cert in SUPPLIERS:
                    suppliers.add_supplier(
                        s, settings.keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid
                    )
                # the products the examples speak about, and the lab named for the formula
                products.add_product(s, MILK, "waikato-dairy", "Raw cow's milk, chilled", now)
                products.add_product(s, FORMULA, "alps-nutrition", "Stage 1 infant formula 800 g", now)
                products.name_party(s, FORMULA, "canterbury-lab", "lab", None, "alps-nutrition", now)
            for name, doc in docs.items():
                log(f"map {name}")
                mapped, sw = timed(map_document, doc, "waikato-dairy", "0" * 16, ws.limits)
                rows.append(
                    Row.rate(
                        "map (profile: EPCIS -> cradletrace events)",
                        f"{name}: map_document",
                        n,
                        sw.wall,
                        "",
                        f"{fmt_s(sw.wall)}; kinds "
                        + ", ".join(sorted({m.event["kind"] for m in mapped}))
                        + f"; {sw.note()}",
                    )
                )

            log("import farm on SQLite")
            with ws.session() as s, Stopwatch() as sw:
                recorded = import_document(s, settings.keys_dir, ws.limits, texts["farm"], "waikato-dairy", now)
                s.commit()
            assert len(recorded) == n
            rows.append(
                Row.rate(
                    "import (one transaction, SQLite)",
                    f"farm: import_document, {n:,} events",
                    n,
                    sw.wall,
                    "",
                    f"{fmt_s(sw.wall)}: parse, validate, map, hash, sign, record, keep originals, commit; {sw.note()}",
                )
            )
            with ws.session() as s:
                for name, sid in (("plant", "alps-nutrition"), ("lab", "canterbury-lab")):
                    import_document(
                        s, settings.keys_dir, ws.limits, (PROFILE / f"{name}.jsonld").read_bytes(), sid, now
                    )
                s.commit()
            for lot in ("RM-E1", FORMULA_LOT):
                log(f"export {lot}")
                with ws.session() as s, Stopwatch() as sw:
                    out = export_lot(s, lot, now)
                k = len(out["epcisBody"]["eventList"])
                rows.append(
                    Row.took(
                        "export (a lot's history as EPCIS)",
                        f"export_lot {lot}",
                        sw.wall,
                        "",
                        f"{k} event{'s' if k != 1 else ''} out of a store of {n + 5:,}; {sw.note()}",
                    )
                )
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print_table(rows)
    print(
        f"wall time {time.perf_counter() - started:,.0f} s; figures, not pass/fail; the machine is shared, "
        f"so each 'other processes busy' note says how much it was disturbed"
    )
    return rows


if __name__ == "__main__":
    main()

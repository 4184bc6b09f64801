"""Where does the time per recorded event go? CPU time per phase of ``recording.record_submissions``.

    .venv/bin/python bench/profile_record.py [--events N] [--cprofile]

Times each step record_submissions does per event on its own (CPU time of this process, so other
load on the machine matters little; cyclic GC off), then record_submissions itself on a fresh SQLite
store (GC on); the difference is the store part (ORM objects, flush, queries), bookkeeping
and collector time.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import io
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_core as bc
from sqlmodel import select

from cradletrace import recording
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.core.events import lot_of, outcome_of, parse_event
from cradletrace.store.models import SupplierKey
from cradletrace.workspace import init_workspace


def cpu(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--submission", type=int, default=1000)
    p.add_argument("--dump", default="", help="with --cprofile: also write the raw profile here (pstats)")
    p.add_argument("--cprofile", action="store_true", help="also cProfile record_submissions (top 40 by own time)")
    a = p.parse_args()
    n = a.events
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cradletrace-prof-") as tmp:
        ws, _ = init_workspace(Settings(data_dir=Path(tmp) / "d"))
        with ws:
            bc.add_suppliers(ws, now)
            items = bc.sign_all(ws, bc.synthetic_events(n))
            gc.collect()
            gc.freeze()  # the harness's submitted events are not the recorder's heap (see bench_core)
            with ws.session() as s:
                pubs = {k.key_id: base64.b64decode(k.public_key) for k in s.exec(select(SupplierKey))}
            gc.disable()  # phases alone, without collector pauses landing in whichever phase runs
            bodies: list[bytes] = []
            events: list = []  # type: ignore[type-arg]
            phases: dict[str, float] = {}
            phases["canonical_bytes (JCS of the submitted dict)"] = cpu(
                lambda: bodies.extend(canonical.canonical_bytes(it.event) for it in items)
            )
            phases["parse_event (pydantic validate_json, strict)"] = cpu(
                lambda: events.extend(parse_event(b) for b in bodies)
            )
            phases["sha256 + hex"] = cpu(lambda: [canonical.sha256(b).hex() for b in bodies])
            phases["verify_signature (b64 + key load + Ed25519 verify)"] = cpu(
                lambda: [
                    signing.verify_signature(pubs[e.key], b, it.signature) for e, b, it in zip(events, bodies, items)
                ]
            )
            phases["lot_of + outcome_of (LotRef models, cold-chain summary, verdicts)"] = cpu(
                lambda: [(lot_of(e), outcome_of(e)) for e in events]
            )
            phases["lot_of alone x3 (record_submissions calls it ~3 times per event)"] = cpu(
                lambda: [(lot_of(e), lot_of(e), lot_of(e)) for e in events]
            )

            gc.enable()
            bodies.clear()
            events.clear()
            gc.collect()
            prof = cProfile.Profile() if a.cprofile else None
            t_wall = time.perf_counter()
            t_cpu = time.process_time()
            if prof:
                prof.enable()
            for chunk in bc.chunks(items, a.submission):
                with ws.session() as s:
                    recording.record_submissions(s, chunk, now)
            if prof:
                prof.disable()
            total_cpu = time.process_time() - t_cpu
            total_wall = time.perf_counter() - t_wall

    def per(x: float) -> float:
        return float(1e6 * x / n)

    print(f"{n:,} events, submissions of {a.submission:,}, SQLite; CPU µs per event (this process)")
    accounted = 0.0
    for name, secs in phases.items():
        print(f"  {per(secs):8.1f} µs  {name}")
        if not name.startswith("lot_of alone"):
            accounted += secs
    print(
        f"  {per(total_cpu):8.1f} µs  record_submissions total{' (under cProfile)' if prof else ''} "
        f"-> {n / total_cpu:,.0f} events per CPU-second; wall {n / total_wall:,.0f}/s"
    )
    print(f"  {per(total_cpu - accounted):8.1f} µs  remainder: store (ORM rows, flush, lookups) and bookkeeping")
    if prof:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).strip_dirs()
        st.sort_stats("tottime").print_stats(40)
        st.sort_stats("cumulative").print_stats(40)
        print(buf.getvalue())
        if a.dump:
            prof.dump_stats(a.dump)


if __name__ == "__main__":
    main()

"""``cradletrace demo``: the whole story on a fresh data directory, told in a few lines.

A New Zealand dairy farm supplies two raw-milk lots to a formula plant; the plant makes one
batch of infant formula from them; a lab reports one passing and one failing test; a carrier's
logger records one temperature excursion on the way to Shanghai, where customs clears the
shipment. Everything is signed, anchored, verified, tampered with, and caught.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from cradletrace import products, recording, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.config import Settings
from cradletrace.core.canonical import JsonValue
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.events import ColdChainData, parse_event
from cradletrace.errors import ConfigError
from cradletrace.labels.commission import generate_codes
from cradletrace.recall import holds
from cradletrace.store.models import EventRow
from cradletrace.verification import audit, export_bundle, verify_bundle_on, verify_event
from cradletrace.workspace import Workspace, init_workspace

DEMO_ITEMS = 3
OURS = {
    "cradletrace.sqlite",
    "cradletrace.sqlite-wal",
    "cradletrace.sqlite-shm",
    "chain.sqlite",
    "chain.sqlite.lock",
    "keys",
    "bundle.json",
}


def _gtin(body13: str) -> str:
    return body13 + str(gtin_check_digit(body13))


def _fresh(path: Path) -> None:
    if path.exists():
        stray = {p.name for p in path.iterdir()} - OURS
        if stray:
            raise ConfigError(
                f"{path} holds files that are not cradletrace's ({', '.join(sorted(stray)[:3])}); "
                "expected an empty or demo directory"
            )
        shutil.rmtree(path)


MILK, FORMULA = _gtin("9421902960001"), _gtin("9421902960101")


def register_products(session: Session, now: datetime) -> None:
    """The demo's products and who may speak for them: the farm owns its milk, the plant its formula
    and names the lab that tests it and the carrier that moves it."""
    products.add_product(session, MILK, "waikato-dairy", "Raw cow's milk, chilled", now)
    products.add_product(session, FORMULA, "alps-nutrition", "Stage 1 infant formula 800 g", now)
    products.name_party(session, FORMULA, "canterbury-lab", "lab", None, "alps-nutrition", now)
    products.name_party(session, FORMULA, "pacific-cold", "carrier", None, "alps-nutrition", now)


def register_people(session: Session, keys_dir: Path, until: str, now: datetime) -> list[tuple[str, str, str, str]]:
    """The demo's four suppliers (certified until ``until``, an ISO date) and its products: who they
    are as (id, name, role, certification). ``scripts/stack`` seeds its store with the same people."""
    people = [
        ("waikato-dairy", "Waikato Dairy Farm", "farm", f"GAP;NZGAP-77812;AsureQuality;{until}"),
        ("alps-nutrition", "Southern Alps Nutrition", "plant", f"ISO 22000;FSSC-C129;SGS;{until}"),
        ("canterbury-lab", "Canterbury Food Lab", "lab", f"ISO/IEC 17025;IANZ-1284;IANZ;{until}"),
        ("pacific-cold", "Pacific Cold Chain", "logistics", f"HACCP;HACCP-5521;Bureau Veritas;{until}"),
    ]
    for sid, name, role, cert in people:
        suppliers.add_supplier(session, keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
    register_products(session, now)
    return people


def story(now: datetime) -> list[JsonValue]:
    """The demo's events, unsigned, in the order they are recorded."""
    milk, formula = MILK, FORMULA
    farm_site: JsonValue = {
        "name": "Waikato Dairy, shed 3",
        "address": "1208 Te Rapa Rd, Hamilton 3200, New Zealand",
        "lat": -37.7394,
        "lon": 175.2215,
        "country": "NZ",
    }
    plant_site: JsonValue = {
        "name": "Southern Alps Nutrition, dryer 2",
        "address": "45 Kahu Rd, Christchurch 8042, New Zealand",
        "lat": -43.5336,
        "lon": 172.6033,
        "country": "NZ",
    }
    shanghai: JsonValue = {
        "name": "Shanghai bonded warehouse 7",
        "address": "88 Fute North Rd, Pudong, Shanghai, China",
        "lat": 31.3402,
        "lon": 121.6030,
        "country": "CN",
    }
    d = (now - timedelta(days=20)).date()
    t0 = now - timedelta(days=9)

    def day(n: int) -> str:
        return (d + timedelta(days=n)).isoformat()

    def at(m: int) -> str:
        return (t0 + timedelta(minutes=m)).isoformat(timespec="seconds")

    raw: list[JsonValue] = [
        {
            "kind": "batch",
            "supplier": "waikato-dairy",
            "data": {
                "product": {"gtin": milk, "name": "Raw cow's milk, chilled"},
                "lot": lot,
                "produced_on": day(0),
                "expires_on": day(3),
                "quantity": qty,
                "unit": "kg",
                "site": farm_site,
                "inputs": [],
            },
        }
        for lot, qty in (("RM-A1", 18500), ("RM-B2", 17250))
    ]
    batch: JsonValue = {
        "kind": "batch",
        "supplier": "alps-nutrition",
        "data": {
            "product": {"gtin": formula, "name": "Stage 1 infant formula 800 g"},
            "lot": "IF-0001",
            "produced_on": day(1),
            "expires_on": day(1 + 540),
            "quantity": 4200,
            "unit": "cans",
            "site": plant_site,
            "inputs": [
                {"gtin": milk, "lot": "RM-A1", "quantity": 18500, "unit": "kg"},
                {"gtin": milk, "lot": "RM-B2", "quantity": 17250, "unit": "kg"},
            ],
        },
    }
    lab: JsonValue = {
        "name": "Canterbury Food Lab",
        "accreditation": {"scheme": "ISO/IEC 17025 (IANZ)", "number": "IANZ-1284"},
    }

    def report(sampled: int, analytes: list[JsonValue], doc: str) -> JsonValue:
        return {
            "kind": "test_report",
            "supplier": "canterbury-lab",
            "data": {
                "batch": {"gtin": formula, "lot": "IF-0001"},
                "lab": lab,
                "sampled_on": day(sampled),
                "reported_on": day(sampled + 2),
                "analytes": analytes,
                "document": {"sha256": doc, "uri": f"https://lab.example/reports/{sampled}.pdf"},
            },
        }

    passing = report(
        2,
        [
            {
                "name": "lead",
                "category": "heavy_metal",
                "value": 0.004,
                "unit": "mg/kg",
                "method": "ICP-MS (GB 5009.12)",
            },
            {"name": "melamine", "category": "contaminant", "value": 0.05, "unit": "mg/kg", "method": "LC-MS/MS"},
            {"name": "aflatoxin M1", "category": "mycotoxin", "value": 0.01, "unit": "µg/kg", "method": "HPLC-FLD"},
            {
                "name": "Salmonella",
                "category": "microbiology",
                "value": 0,
                "unit": "detections/25 g",
                "method": "ISO 6579-1",
            },
            {  # a three-class sampling plan: every sample unit's result, the verdict the plan's
                "name": "aerobic plate count",
                "category": "microbiology",
                "plan": {"n": 5, "c": 2, "m": 1000, "M": 10000},
                "results": [300, 1500, 800, 2200, 450],
                "unit": "CFU/g",
                "method": "GB 4789.2-2022",
            },
        ],
        "4f2a" * 16,
    )
    failing = report(
        3,
        [
            {
                "name": "Cronobacter spp.",
                "category": "microbiology",
                "value": 1,
                "unit": "detections/10 g",
                "method": "ISO 22964",
            },
        ],
        "9c1e" * 16,
    )
    shipment: JsonValue = {
        "kind": "shipment",
        "supplier": "pacific-cold",
        "data": {
            "id": "PCC-2026-0042",
            "lot": {"gtin": formula, "lot": "IF-0001"},
            "quantity": 4200,
            "unit": "cans",
            "from_site": plant_site,
            "to_site": shanghai,
            "shipped_at": at(0),
            "received_at": at(600 * 6),
            "customs": {
                "declaration_number": "223320261000004217",
                "port": "Shanghai Yangshan (CNYSN)",
                "cleared_at": at(600 * 5),
                "origin_country": "NZ",
            },
        },
    }
    temps = [4.1, 4.3, 4.0, 4.6, 5.2, 7.9, 9.4, 10.1, 8.6, 6.2, 4.8, 4.2, 4.0, 3.9]
    cold: JsonValue = {
        "kind": "cold_chain",
        "supplier": "pacific-cold",
        "data": {
            "shipment": "PCC-2026-0042",
            "logger": {"id": "TT4-88123", "model": "TempTale 4"},
            "range": {"min_c": 2, "max_c": 8},
            "readings": [{"at": at(15 * i), "c": c} for i, c in enumerate(temps)],
        },
    }
    return [*raw, batch, passing, failing, shipment, cold]


def run_demo(settings: Settings, say: Callable[[str], None]) -> None:
    _fresh(settings.data_dir)
    now = datetime.now(UTC)
    ws, chain = init_workspace(settings)
    with ws:
        say(f"cradletrace demo in {settings.data_dir.resolve()}")
        say(
            f"  chain: local development chain (in-process EVM, not a public network), contract {chain.contract_address}"
        )
        with ws.session() as s:
            people = register_people(s, settings.keys_dir, (now + timedelta(days=365)).date().isoformat(), now)
        say(
            "  1. four suppliers registered, each with its own Ed25519 key: "
            + ", ".join(f"{p[0]} ({p[2]})" for p in people)
        )
        say(
            f"     products: milk {MILK} (owner waikato-dairy), formula {FORMULA} (owner alps-nutrition, "
            "lab canterbury-lab, carrier pacific-cold)"
        )
        with ws.session() as s:
            items = recording.sign_submissions(
                recording.read_submissions(story(now)), recording.key_loader(s, settings.keys_dir), ws.limits
            )
            rows = list(recording.record_submissions(s, items, now, ws.limits))
            batch_row = next(r for r in rows if r.kind == "batch" and r.lot == "IF-0001")
            codes = generate_codes(
                s,
                settings.keys_dir,
                gtin=str(batch_row.gtin),
                lot="IF-0001",
                count=DEMO_ITEMS,
                supplier="alps-nutrition",
                resolver=settings.resolver_host,
                limits=ws.limits,
                now=now,
            )
            rows += codes.events
        by_kind = {r.kind: r for r in rows}
        say(
            f"  2. recorded {len(rows)} signed events: raw milk lots RM-A1 and RM-B2, formula batch IF-0001 made from both, "
            f"{DEMO_ITEMS} cans commissioned with one code each"
        )
        reports = [r for r in rows if r.kind == "test_report"]
        say(
            f"  3. test reports for IF-0001: {', '.join(r.outcome.upper() for r in reports if r.outcome)} "
            "(Cronobacter detected in 10 g; limit: absence) — verdicts computed from values and limits"
        )
        cold = parse_event(by_kind["cold_chain"].body.encode()).data
        assert isinstance(cold, ColdChainData)
        summ = cold.summary()
        say(
            f"  4. cold chain PCC-2026-0042: {summ.min_c:g}–{summ.max_c:g} °C, {summ.seconds_out_of_range / 60:.0f} min above 8 °C, "
            f"mean kinetic {summ.mean_kinetic_c:.1f} °C -> {summ.verdict.upper()}"
        )
        with ws.session() as s:
            held = holds.proposals(s)
        say(
            f"     -> IF-0001 put on hold automatically ({'; '.join(sorted({h.reason for h in held}))}): "
            "recall proposed ('cradletrace hold list'), scan pages show the hold"
        )
        say("  5. shipment Christchurch -> Shanghai, customs declaration 223320261000004217 cleared at Yangshan")
        results = anchoring.anchor_pending(lambda: _session(ws), chain)
        for r in results:
            say(
                f"  6. anchored {r.leaf_count} events under one Merkle root 0x{r.root[:16]}… in block {r.block_number}, tx {(r.tx_hash or '')[:18]}…"
            )
        with ws.session() as s:
            verdicts = [verify_event(s, chain, str(r.id)) for r in rows]
            rep = audit(s, chain)
        say(
            f"  7. verified {sum(v.valid for v in verdicts)}/{len(verdicts)} events VALID against the chain; "
            f"audit: {'all consistent' if rep.ok else 'PROBLEMS'}"
        )
        failing = next(r for r in reports if r.outcome == "fail")
        with ws.session() as s:
            row = s.get(EventRow, failing.id)
            assert row is not None
            original = row.body
            row.body = original.replace('"value":1', '"value":0')
            s.add(row)
        with ws.session() as s:
            v = verify_event(s, chain, str(failing.id))
            say(
                f"  8. someone edits the failing result to 'not detected' in the database: verify says {v.status} — {v.reasons[0]}"
            )
            row = s.get(EventRow, failing.id)
            assert row is not None
            row.body = original
            s.add(row)
        with ws.session() as s:
            bundle = export_bundle(s, chain, str(failing.id))
        path = settings.data_dir / "bundle.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n", "utf-8")
    # The bundle is checked by a fresh reader with only the chain, not our database.

    v = verify_bundle_on(settings, bundle)
    say(f"  9. proof bundle for the failing report -> {path}; checked with the chain alone: {v.status}")
    say(f"a parent scans: {codes.uris[0]}")
    say(
        f"try: cradletrace verify {failing.id} --data-dir {settings.data_dir} ; "
        f"cradletrace verify-bundle {path} --data-dir {settings.data_dir}"
    )


def _session(ws: Workspace) -> Session:
    return Session(ws.engine, expire_on_commit=False)

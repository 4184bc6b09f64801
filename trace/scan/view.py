"""What a parent sees when scanning a pack: everything recorded about its batch, each record
verified against the chain at the time of the scan.

One function, ``scan_view``, gathers the batch, the farms and lots behind it, its test reports,
cold-chain records and shipments, and the verdict on every one of those events. The page and
the JSON answer are both rendered from its result. The rows behind it are read by ``queries``;
verified views are kept between scans by ``cache``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlmodel import Session, select

from cradletrace.core.chart import temperature_chart_svg
from cradletrace.core.coldchain import ColdChainSummary, Reading
from cradletrace.core.events import (
    AnyEvent,
    BatchData,
    ColdChainData,
    CorrectionData,
    ShipmentData,
    TestReportData,
    parse_event,
)
from cradletrace.errors import NotFoundError
from cradletrace.scan.queries import Rows, ScanLot, fetch_rows
from cradletrace.store.models import AnchorBatch, EventRow, Lot
from cradletrace.store.states import BatchStatus
from cradletrace.verification import EventVerifier, Verdict, key_proofs, proof_bundle


@dataclass(frozen=True)
class Record:
    """One verified event: its data (the validated model), who recorded it, and the verdict."""

    event_id: int
    kind: str
    digest: str
    supplier: str
    supplier_role: str
    data: Any
    verdict: Verdict
    # The record's proof bundle (verification.proof_bundle), as base64 of its JSON: what a phone
    # checks itself (scanner_web/static/phonecheck.js) and "Save proof" downloads, so the parent
    # need not take the server's verdict on trust.
    evidence: str = ""
    anchored: bool = False  # the bundle has a root: "Save proof" is offered


@dataclass(frozen=True)
class ColdChainRecord(Record):
    summary: ColdChainSummary | None = None
    chart_svg: str = ""


@dataclass
class ScanView:
    gtin: str
    lot: str
    serial: str | None
    product: str
    batch: Record
    origin: list[Record] = field(default_factory=list)  # the input lots' batch events (farms, ingredients)
    tests: list[Record] = field(default_factory=list)
    cold_chain: list[ColdChainRecord] = field(default_factory=list)
    shipments: list[Record] = field(default_factory=list)
    # Events of this batch whose stored body no longer parses (so INVALID): nothing of them can be
    # shown, but they must still count against "all verified".
    unreadable: list[Record] = field(default_factory=list)
    # The corrections (corrections.py) of the records shown, by the digest of the record each
    # corrects: shown beside it, verified like it.
    corrections: dict[str, Record] = field(default_factory=dict)

    @property
    def records(self) -> list[Record]:
        return [
            self.batch,
            *self.origin,
            *self.tests,
            *self.cold_chain,
            *self.shipments,
            *self.unreadable,
            *self.corrections.values(),
        ]

    def void(self, record: Record) -> bool:
        """The record was declared ``did_not_occur``: its verdict and readings no longer count."""
        fix = self.corrections.get(record.digest)
        return fix is not None and isinstance(fix.data, CorrectionData) and fix.data.did_not_occur

    @property
    def all_verified(self) -> bool:
        return all(r.verdict.valid for r in self.records)

    @property
    def any_invalid(self) -> bool:
        return any(r.verdict.status == "INVALID" for r in self.records)

    @property
    def failed_tests(self) -> list[Record]:
        return [r for r in self.tests if r.data.verdict == "fail" and not self.void(r)]

    @property
    def excursions(self) -> list[ColdChainRecord]:
        return [
            r
            for r in self.cold_chain
            if r.summary is not None and r.summary.verdict == "excursion" and not self.void(r)
        ]


def build_view(rows: Rows, verifier: EventVerifier, lot: ScanLot, serial: str | None = None) -> ScanView:
    """Verify every row and sort the records into the page's sections."""
    pending, unreadable = read_records(rows, verifier)
    own = next((rec for rec in pending if rec.event_id == lot.event_id), None)
    if own is None:
        raise NotFoundError(f"lot {lot.gtin}/{lot.lot}: its batch event cannot be read")
    view = ScanView(gtin=lot.gtin, lot=lot.lot, serial=serial, product=lot.product, batch=own, unreadable=unreadable)
    for rec in pending:
        if rec is own:
            continue
        if isinstance(rec.data, CorrectionData):
            view.corrections[rec.data.corrects] = rec
        elif isinstance(rec.data, BatchData):
            view.origin.append(rec)
        elif isinstance(rec.data, TestReportData):
            view.tests.append(rec)
        elif isinstance(rec, ColdChainRecord):
            view.cold_chain.append(rec)
        elif isinstance(rec.data, ShipmentData):
            view.shipments.append(rec)
    return view


def read_records(rows: Rows, verifier: EventVerifier) -> tuple[list[Record], list[Record]]:
    """Every row verified, with its proof bundle: the records that read (cold-chain ones with their
    summary and chart), and those whose stored body no longer parses. Shared by the can's page and
    the pallet and case pages (logistics.py), so a record is verified and shown the same way."""
    pending: list[Record] = []
    unreadable: list[Record] = []
    keys = dict(rows.keys)
    captures = dict(rows.captures)
    for (
        eid,
        kind,
        digest,
        supplier_id,
        key_id,
        body,
        signature,
        anchor_id,
        proof,
        bid,
        root,
        leaf_count,
        status,
        tx_hash,
        block_number,
        chain_id,
        contract,
        block_time,
        public_key,
        sup_name,
        sup_role,
    ) in rows.events:
        row = EventRow(
            id=eid,
            kind=kind,
            digest=digest,
            supplier_id=supplier_id,
            key_id=key_id,
            body=body,
            signature=signature,
            anchor_id=anchor_id,
            proof=proof,
        )
        batch = (
            None
            if bid is None
            else AnchorBatch(  # the columns verify and the bundle read
                id=bid,
                root=root,
                leaf_count=leaf_count,
                status=status,
                tx_hash=tx_hash,
                block_number=block_number,
                chain_id=chain_id,
                contract=contract,
                block_time=block_time,
            )
        )
        verdict = verifier.verify(row, batch, public_key)
        read = _read(body) if verdict.status != "INVALID" else _lenient(body)
        common = dict(
            event_id=eid,
            kind=kind,
            digest=digest,
            supplier=sup_name or supplier_id,
            supplier_role=sup_role or "",
            data=read.event.data if read else None,
            verdict=verdict,
            evidence=_evidence(
                proof_bundle(
                    body,
                    digest,
                    signature,
                    supplier_id,
                    key_id,
                    public_key,
                    batch,
                    proof,
                    verifier.chain.local,
                    key_proofs(keys.get(key_id), verifier.chain.local),
                    captures.get(signature),
                )
            ),
            anchored=batch is not None and batch.status == BatchStatus.CONFIRMED,
        )
        if read is None:
            unreadable.append(Record(**common))
        elif read.summary is not None:
            pending.append(ColdChainRecord(**common, summary=read.summary, chart_svg=read.chart_svg))
        else:
            pending.append(Record(**common))
    return pending, unreadable


def _evidence(bundle: dict[str, Any]) -> str:
    """The page's ``data-evidence``: base64 of the bundle's JSON, the very file "Save proof" saves."""
    return base64.b64encode(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode(
        "ascii"
    )


def scan_view(session: Session, verifier: EventVerifier, gtin: str, lot: str, serial: str | None = None) -> ScanView:
    """Everything about lot ``gtin``/``lot``, every event verified. NotFoundError if the lot is unknown."""
    row = session.exec(select(Lot).where(Lot.gtin == gtin, Lot.lot == lot)).first()
    if row is None:
        raise NotFoundError(f"lot {gtin}/{lot}: not registered")
    ref = ScanLot(int(row.id or 0), row.gtin, row.lot, row.product, row.event_id)
    return build_view(fetch_rows(session.connection(), ref), verifier, ref, serial)


@dataclass(frozen=True)
class _Read:
    event: AnyEvent
    summary: ColdChainSummary | None = None
    chart_svg: str = ""


@lru_cache(maxsize=1024)  # bodies of ~150 lots; a long cold-chain log is ~100 KB
def _read(body: str) -> _Read:
    """The event in ``body`` and what is drawn from it. A pure function of the stored text, so it
    is kept across scans: an edited row is another key and is read afresh (and verified anyway)."""
    event = parse_event(body.encode("utf-8"), stored=True)
    if not isinstance(event.data, ColdChainData):
        return _Read(event)
    d = event.data
    chart = temperature_chart_svg(
        [Reading(r.at, r.c) for r in d.readings], d.range.min_c, d.range.max_c, f"logger {d.logger.id}"
    )
    return _Read(event, d.summary(), chart)


def _lenient(body: str) -> _Read | None:
    """A tampered event is still shown (marked INVALID) when it still parses; otherwise it is
    listed as unreadable."""
    try:
        return _read(body)
    except Exception:
        return None


def view_json(view: ScanView) -> dict[str, Any]:
    """The JSON answer: the same facts as the page, machine-readable."""

    def rec(r: Record) -> dict[str, Any]:
        out = {
            "event_id": r.event_id,
            "kind": r.kind,
            "digest": r.digest,
            "supplier": r.supplier,
            "supplier_role": r.supplier_role,
            "data": json.loads(r.data.model_dump_json()) if r.data is not None else None,
            "integrity": {
                "status": r.verdict.status,
                "reasons": list(r.verdict.reasons),
                "root": r.verdict.root,
                "block": r.verdict.block_number,
                "tx": r.verdict.tx_hash,
                "local_development_chain": r.verdict.local_chain,
            },
        }
        fix = view.corrections.get(r.digest)
        if fix is not None and isinstance(fix.data, CorrectionData):  # the corrected state, and the link to both
            out["corrected_by"] = {
                "digest": fix.digest,
                "reason": fix.data.reason,
                "declaration_time": fix.data.declaration_time.isoformat(),
                "corrective": list(fix.data.corrective),
                "counts": not fix.data.did_not_occur,
            }
        if isinstance(r.data, TestReportData):
            out["verdict"] = None if view.void(r) else r.data.verdict  # a report that did not occur gives none
        if isinstance(r, ColdChainRecord) and r.summary is not None:
            s = r.summary
            out["summary"] = {
                "min_c": s.min_c,
                "max_c": s.max_c,
                "mean_kinetic_c": s.mean_kinetic_c,
                "minutes_out_of_range": round(s.seconds_out_of_range / 60, 1),
                "verdict": s.verdict,
            }
        return out

    return {
        "gtin": view.gtin,
        "lot": view.lot,
        "serial": view.serial,
        "product": view.product,
        "all_verified": view.all_verified,
        "batch": rec(view.batch),
        "origin": [rec(r) for r in view.origin],
        "test_reports": [rec(r) for r in view.tests],
        "cold_chain": [rec(r) for r in view.cold_chain],
        "shipments": [rec(r) for r in view.shipments],
        "unreadable": [rec(r) for r in view.unreadable],
        "corrections": [rec(r) for r in view.corrections.values()],
    }

"""What a parent sees when scanning a pack: everything recorded about its batch, each record
verified against the chain at the time of the scan.

One function, ``scan_view``, gathers the batch, the farms and lots behind it, its test reports,
cold-chain records and shipments, and the verdict on every one of those events. The page and
the JSON answer are both rendered from its result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, or_, select

from cradletrace.core.chart import temperature_chart_svg
from cradletrace.core.coldchain import ColdChainSummary, Reading
from cradletrace.core.events import BatchData, ColdChainData, ShipmentData, TestReportData, parse_event
from cradletrace.errors import NotFoundError
from cradletrace.store.models import AnchorBatch, EventRow, Lot, LotInput, Shipment, Supplier, SupplierKey
from cradletrace.verification import EventVerifier, Verdict


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

    @property
    def records(self) -> list[Record]:
        return [self.batch, *self.origin, *self.tests, *self.cold_chain, *self.shipments]

    @property
    def all_verified(self) -> bool:
        return all(r.verdict.valid for r in self.records)

    @property
    def any_invalid(self) -> bool:
        return any(r.verdict.status == "INVALID" for r in self.records)

    @property
    def failed_tests(self) -> list[Record]:
        return [r for r in self.tests if r.data.verdict == "fail"]

    @property
    def excursions(self) -> list[ColdChainRecord]:
        return [r for r in self.cold_chain if r.summary is not None and r.summary.verdict == "excursion"]


def scan_view(session: Session, verifier: EventVerifier, gtin: str, lot: str, serial: str | None = None) -> ScanView:
    """Everything about lot ``gtin``/``lot``, every event verified. NotFoundError if the lot is unknown."""
    lot_row = session.exec(select(Lot).where(Lot.gtin == gtin, Lot.lot == lot)).first()
    if lot_row is None:
        raise NotFoundError(f"lot {gtin}/{lot}: not registered")
    input_ids = session.exec(select(LotInput.input_lot_id).where(LotInput.lot_id == lot_row.id)).all()
    shipment_ids = session.exec(select(Shipment.id).where(Shipment.lot_id == lot_row.id)).all()
    origin_event_ids = session.exec(select(Lot.event_id).where(col(Lot.id).in_(input_ids))).all() if input_ids else []
    conditions = [and_lot(gtin, lot), col(EventRow.id).in_([lot_row.event_id, *origin_event_ids])]
    if shipment_ids:
        conditions.append((EventRow.kind == "cold_chain") & col(EventRow.ref).in_(shipment_ids))
    rows = session.exec(select(EventRow).where(or_(*conditions)).order_by(col(EventRow.id))).all()
    batches = {b.id: b for b in session.exec(select(AnchorBatch).where(
        col(AnchorBatch.id).in_({r.anchor_id for r in rows if r.anchor_id is not None})))}
    keys = {k.key_id: k.public_key for k in session.exec(select(SupplierKey).where(
        col(SupplierKey.key_id).in_({r.key_id for r in rows})))}
    suppliers = {s.id: s for s in session.exec(select(Supplier).where(col(Supplier.id).in_({r.supplier_id for r in rows})))}

    view: ScanView | None = None
    pending: list[tuple[EventRow, Record]] = []
    for row in rows:
        verdict = verifier.verify(row, batches.get(row.anchor_id) if row.anchor_id is not None else None,
                                  keys.get(row.key_id))
        event = parse_event(row.body.encode("utf-8")) if verdict.status != "INVALID" else _lenient(row)
        sup = suppliers.get(row.supplier_id)
        common = dict(event_id=row.id or 0, kind=row.kind, digest=row.digest, supplier=sup.name if sup else row.supplier_id,
                      supplier_role=sup.role if sup else "", data=event.data if event else None, verdict=verdict)
        if event is None:
            continue
        if isinstance(event.data, ColdChainData):
            d = event.data
            summary = d.summary()
            chart = temperature_chart_svg([Reading(r.at, r.c) for r in d.readings], d.range.min_c, d.range.max_c,
                                          f"logger {d.logger.id}")
            pending.append((row, ColdChainRecord(**common, summary=summary, chart_svg=chart)))  # type: ignore[arg-type]
        else:
            pending.append((row, Record(**common)))  # type: ignore[arg-type]
    own = next((rec for row, rec in pending if row.id == lot_row.event_id), None)
    if own is None:
        raise NotFoundError(f"lot {gtin}/{lot}: its batch event cannot be read")
    view = ScanView(gtin=gtin, lot=lot, serial=serial, product=lot_row.product, batch=own)
    for row, rec in pending:
        if rec is own:
            continue
        if isinstance(rec.data, BatchData):
            view.origin.append(rec)
        elif isinstance(rec.data, TestReportData):
            view.tests.append(rec)
        elif isinstance(rec, ColdChainRecord):
            view.cold_chain.append(rec)
        elif isinstance(rec.data, ShipmentData):
            view.shipments.append(rec)
    return view


def and_lot(gtin: str, lot: str) -> Any:
    return (EventRow.gtin == gtin) & (EventRow.lot == lot)


def _lenient(row: EventRow) -> Any:
    """A tampered event is still shown (marked INVALID) when it still parses; otherwise skipped."""
    try:
        return parse_event(row.body.encode("utf-8"))
    except Exception:  # noqa: BLE001 - a tampered body may be anything; it is reported, not shown
        return None


def view_json(view: ScanView) -> dict[str, Any]:
    """The JSON answer: the same facts as the page, machine-readable."""
    def rec(r: Record) -> dict[str, Any]:
        out = {"event_id": r.event_id, "kind": r.kind, "digest": r.digest, "supplier": r.supplier,
               "supplier_role": r.supplier_role, "data": json.loads(r.data.model_dump_json()),
               "integrity": {"status": r.verdict.status, "reasons": list(r.verdict.reasons), "root": r.verdict.root,
                             "block": r.verdict.block_number, "tx": r.verdict.tx_hash,
                             "local_development_chain": r.verdict.local_chain}}
        if isinstance(r.data, TestReportData):
            out["verdict"] = r.data.verdict
        if isinstance(r, ColdChainRecord) and r.summary is not None:
            s = r.summary
            out["summary"] = {"min_c": s.min_c, "max_c": s.max_c, "mean_kinetic_c": s.mean_kinetic_c,
                              "minutes_out_of_range": round(s.seconds_out_of_range / 60, 1), "verdict": s.verdict}
        return out
    return {
        "gtin": view.gtin, "lot": view.lot, "serial": view.serial, "product": view.product,
        "all_verified": view.all_verified, "batch": rec(view.batch), "origin": [rec(r) for r in view.origin],
        "test_reports": [rec(r) for r in view.tests], "cold_chain": [rec(r) for r in view.cold_chain],
        "shipments": [rec(r) for r in view.shipments],
    }

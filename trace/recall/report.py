"""The recall's sortable traceability spreadsheet: every affected lot and every movement of it.

Not the infant formula recall report: FSMA 204's Food Traceability List does not include infant
formula, so this is the traceability data in FSMA 204's sortable-spreadsheet form, kept because
regulators and partners read it that way. The infant formula recall's own reports (21 CFR 107.240
written and status reports, 召回计划 / 召回总结报告, the retail notice) are ``documents.py``.

One row per affected lot and movement, with the key data elements of the FDA FSMA 204 model
(21 CFR part 1 subpart S): a *transformation* row per lot (where and when it was made, how much)
and a *shipping* row per shipment of it (ship-from, ship-to, ship date, reference document).
Around the rows: the downstream sites to notify (every ship-to site of an affected lot) and the
consumers who scanned affected packs. Consumers' locations stay sealed in the store and there is
no contact data in clear: the report gives counts and says they are reached through the platform
(the recall banner on their next scan of the pack).

Three forms of the same ``RecallReport``: JSON, CSV (the rows; UTF-8 with BOM so spreadsheet
programs read Chinese site names) and XLSX (FSMA 204's "electronic sortable spreadsheet": header
row, autofilter, frozen header, numbers and dates as typed cells; sheets for rows, sites, summary).
Everything is read per set of lots (bound as one parameter), never per item, so a large recall costs
a few queries; the XLSX is written row by row (``cradletrace.spreadsheet``, XlsxWriter).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from cradletrace import spreadsheet
from cradletrace.recall.genealogy import id_set
from cradletrace.recall.recalls import RecallView, get_recall
from cradletrace.store.models import EventRow, Item, Lot, RecallLot, ScanRecord, Shipment

STANDARD = "FDA FSMA 204 key data elements (21 CFR part 1, subpart S): transformation and shipping"
CONSUMERS_NOTE = (
    "Consumers are not contacted directly from this report: their approximate locations stay "
    "encrypted in the store and no contact details are held in clear. Every affected pack shows "
    "the recall on its scan page at once, so they are reached through the platform on their next "
    "scan; those who opted in can be notified through the platform by quality staff."
)
FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": spreadsheet.CONTENT_TYPE,
}

# (key, header, kind): kind says how the XLSX cell is typed (str, num, date, datetime).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cte", "Critical Tracking Event", "str"),
    ("traceability_lot_code", "Traceability Lot Code", "str"),
    ("gtin", "GTIN", "str"),
    ("lot", "Lot", "str"),
    ("product_description", "Product Description", "str"),
    ("quantity", "Quantity", "num"),
    ("unit_of_measure", "Unit of Measure", "str"),
    ("location", "Location (Transformation)", "str"),
    ("transformation_date", "Date Transformation Completed", "date"),
    ("ship_from_location", "Ship-From Location", "str"),
    ("ship_to_location", "Ship-To Location", "str"),
    ("ship_date", "Ship Date (UTC)", "datetime"),
    ("receive_date", "Receive Date (UTC)", "datetime"),
    ("reference_document_type", "Reference Document Type", "str"),
    ("reference_document_number", "Reference Document Number", "str"),
    ("customs_declaration", "Customs Declaration", "str"),
    ("items", "Serialized Items", "num"),
    ("items_scanned", "Items Scanned by Consumers", "num"),
    ("consumers_opted_in", "Scans with Consent (opted in)", "num"),
    ("event_id", "Record (cradletrace event id)", "num"),
    ("event_digest", "Record Digest (SHA-256, anchored)", "str"),
)
SITE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("site", "Site", "str"),
    ("address", "Address", "str"),
    ("country", "Country", "str"),
    ("lots", "Affected Lots", "str"),
    ("shipments", "Shipments Received", "num"),
    ("quantity", "Quantity Received", "num"),
    ("unit_of_measure", "Unit of Measure", "str"),
    ("last_received", "Last Received (UTC)", "datetime"),
)


def tlc(gtin: str, lot: str) -> str:
    """The traceability lot code as a GS1 element string: unique across brands, scannable."""
    return f"(01){gtin}(10){lot}"


@dataclass(frozen=True)
class RecallReport:
    recall: RecallView
    rows: tuple[dict[str, Any], ...]
    sites: tuple[dict[str, Any], ...]
    consumers: dict[str, Any]
    generated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "standard": STANDARD,
            "generated_at": self.generated_at.isoformat(),
            "recall": self.recall.to_json(),
            "rows": [_plain(r) for r in self.rows],
            "sites_to_notify": [_plain(s) for s in self.sites],
            "consumers": self.consumers,
            "counts": {"lots": len(self.recall.lots), "rows": len(self.rows), "sites": len(self.sites)},
        }

    def json_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2).encode("utf-8")

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow([h for _, h, _ in COLUMNS])
        for r in self.rows:
            w.writerow(["" if r[k] is None else _csv_text(_plain_value(r[k])) for k, _, _ in COLUMNS])
        return ("\ufeff" + out.getvalue()).encode("utf-8")

    def xlsx_bytes(self) -> bytes:
        """Three sheets (rows, sites, the recall), written by ``spreadsheet.xlsx_bytes`` (XlsxWriter,
        constant memory): a farm-wide recall's 16 000 rows in a few times its CSV's time."""
        v = self.recall.to_json()
        clock = v["clock"]
        summary = (
            ("Recall", v["id"]),
            ("Reason", v["reason"]),
            ("Class", v["severity"]),
            ("Status", v["status"]),
            ("Started by", v["started_by"]),
            ("Started at (UTC)", self.recall.recall.started_at),
            ("Trigger", v["trigger_event_id"] if v["trigger_event_id"] is not None else v["trigger_text"]),
            ("Seconds from trigger to located", clock["to_located_s"]),
            ("Seconds from trigger to started", clock["to_started_s"]),
            ("Within the two-hour rule", clock["within_two_hours"]),
            ("Lots", ", ".join(v["lots"])),
            ("Notice digest (SHA-256)", v["notice_digest"]),
            ("Notice status", v["notice_status"]),
            ("Notice transaction", v["tx_hash"]),
            ("Consumers: items scanned", self.consumers["items_scanned"]),
            ("Consumers: scans", self.consumers["scans"]),
            ("Consumers: scans with consent (opted in)", self.consumers["opted_in"]),
            ("How consumers are reached", self.consumers["how"]),
            ("Standard", STANDARD),
            ("Generated at (UTC)", self.generated_at),
        )
        return spreadsheet.xlsx_bytes(
            (
                spreadsheet.Table("Traceability", COLUMNS, self.rows),
                spreadsheet.Table("Sites to notify", SITE_COLUMNS, self.sites),
                spreadsheet.Pairs("Recall", summary),
            )
        )

    def render(self, fmt: str) -> bytes:
        if fmt == "json":
            return self.json_bytes()
        if fmt == "csv":
            return self.csv_bytes()
        if fmt == "xlsx":
            return self.xlsx_bytes()
        raise ValueError(fmt)

    def filename(self, fmt: str) -> str:
        return f"recall-{self.recall.recall.id}.{fmt}"


FORMULA_STARTS = spreadsheet.FORMULA_STARTS


def _csv_text(value: Any) -> Any:
    """The usual defence for CSV, which has no cell types: a leading apostrophe on such text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _plain_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (date, datetime)) else v


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain_value(v) for k, v in row.items()}


def _utc_iso(text: str | None) -> str | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC).isoformat()


def build_report(session: Session, recall_id: int, now: datetime) -> RecallReport:
    """Read the recall's lots, their batch records, shipments, items and scans: four queries, each
    binding the recall's lots as one parameter (``genealogy.id_set``), whatever the recall's size."""
    view = get_recall(session, recall_id)
    lot_ids = sorted(
        int(i) for i in session.exec(select(RecallLot.lot_id).where(RecallLot.recall_id == recall_id)).all()
    )
    lots: dict[int, tuple[str, str, str, int, str, str]] = {}
    for lid, g, lo, product, eid, digest, body in session.execute(
        select_columns(
            col(Lot.id),
            col(Lot.gtin),
            col(Lot.lot),
            col(Lot.product),
            col(EventRow.id),
            col(EventRow.digest),
            col(EventRow.body),
        )
        .join(EventRow, col(EventRow.id) == col(Lot.event_id))
        .where(col(Lot.id).in_(id_set(session, lot_ids)))
    ).all():
        lots[int(lid)] = (g, lo, product, int(eid), digest, body)
    items: dict[int, int] = dict(
        session.exec(
            select(Item.lot_id, func.count())
            .where(col(Item.lot_id).in_(id_set(session, lot_ids)))
            .group_by(col(Item.lot_id))
        ).all()
    )
    scanned: dict[int, tuple[int, int, int]] = {}
    for lid, codes, n, consented in session.exec(
        select(
            Item.lot_id,
            func.count(func.distinct(ScanRecord.serial)),
            func.count(),
            func.sum(case((col(ScanRecord.consent).is_(True), 1), else_=0)),
        )
        .join(Item, col(Item.serial) == col(ScanRecord.serial))
        .where(col(Item.lot_id).in_(id_set(session, lot_ids)))
        .group_by(col(Item.lot_id))
    ).all():
        scanned[int(lid)] = (int(codes), int(n), int(consented or 0))

    rows: list[dict[str, Any]] = []
    for lid in sorted(lots, key=lambda i: lots[i][:2]):
        g, lo, product, eid, digest, body = lots[lid]
        d = json.loads(body)["data"]
        codes, _, consented = scanned.get(lid, (0, 0, 0))
        rows.append(
            _row(
                "transformation",
                g,
                lo,
                product,
                d["quantity"],
                d["unit"],
                eid,
                digest,
                location=d["site"]["name"],
                transformation_date=d["produced_on"],
                reference_document_type="Batch record",
                reference_document_number=f"{g}/{lo}",
                items=items.get(lid, 0),
                items_scanned=codes,
                consumers_opted_in=consented,
            )
        )
    shipping: list[dict[str, Any]] = []
    sites: dict[str, dict[str, Any]] = {}
    for sid, lid, eid, digest, body in session.execute(
        select_columns(
            col(Shipment.id), col(Shipment.lot_id), col(EventRow.id), col(EventRow.digest), col(EventRow.body)
        )
        .join(EventRow, col(EventRow.id) == col(Shipment.event_id))
        .where(col(Shipment.lot_id).in_(id_set(session, lot_ids)))
    ).all():
        g, lo, product = lots[int(lid)][:3]
        d = json.loads(body)["data"]
        customs = d.get("customs") or {}
        shipping.append(
            _row(
                "shipping",
                g,
                lo,
                product,
                d["quantity"],
                d["unit"],
                int(eid),
                digest,
                ship_from_location=_place(d["from_site"]),
                ship_to_location=_place(d["to_site"]),
                ship_date=_utc_iso(d["shipped_at"]),
                receive_date=_utc_iso(d.get("received_at")),
                reference_document_type="Shipment (consignment)",
                reference_document_number=sid,
                customs_declaration=customs.get("declaration_number"),
            )
        )
        to = d["to_site"]
        site = sites.setdefault(
            to["name"],
            {
                "site": to["name"],
                "address": to.get("address"),
                "country": to.get("country"),
                "lots": set(),
                "shipments": 0,
                "quantity": 0.0,
                "units": set(),
                "last_received": None,
            },
        )
        site["lots"].add(f"{g}/{lo}")
        site["shipments"] += 1
        site["quantity"] += float(d["quantity"])
        site["units"].add(d["unit"])
        received = _utc_iso(d.get("received_at"))
        if received and (site["last_received"] is None or received > site["last_received"]):
            site["last_received"] = received
    shipping.sort(key=lambda r: (r["ship_date"], r["reference_document_number"]))
    site_rows = tuple(
        {
            **{k: v for k, v in s.items() if k != "units"},
            "lots": ", ".join(sorted(s["lots"])),
            "unit_of_measure": ", ".join(sorted(s["units"])),
        }
        for s in (sites[k] for k in sorted(sites))
    )
    consumers = {
        "items_scanned": sum(v[0] for v in scanned.values()),
        "scans": sum(v[1] for v in scanned.values()),
        "opted_in": sum(v[2] for v in scanned.values()),
        "how": CONSUMERS_NOTE,
    }
    return RecallReport(view, tuple(rows + shipping), site_rows, consumers, now)


def _place(site: dict[str, Any]) -> str:
    return ", ".join(str(x) for x in (site["name"], site.get("address")) if x)


def _row(
    cte: str, gtin: str, lot: str, product: str, quantity: Any, unit: str, event_id: int, digest: str, **kdes: Any
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(k for k, _, _ in COLUMNS)
    row.update(
        cte=cte,
        traceability_lot_code=tlc(gtin, lot),
        gtin=gtin,
        lot=lot,
        product_description=product,
        quantity=quantity,
        unit_of_measure=unit,
        event_id=event_id,
        event_digest=digest,
        **kdes,
    )
    return row

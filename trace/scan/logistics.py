"""What a scan of a logistics label shows: a pallet's or case's contents, path, cold chain and the
holds and recalls of the lots inside (for logistics staff); the case and pallet a can travelled in
(on its public page, city-level only); and a place named by its GLN.

The state comes from the tables ``units.py`` writes (``unit``, ``unit_event``); the path and the
cold-chain records are verified against the chain like every record of the can's page
(``view.read_records``). A place's name and address are not in the logistics records (those name a
GLN only): they come from the newest production-lot or lot-shipment record whose site carries that
GLN (``Site.gln``), read through ``PlaceBook``, which reads each such event once per process.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, tuple_
from sqlalchemy import select as select_columns
from sqlmodel import col

from cradletrace.core.events import MoveData, PackData, Place
from cradletrace.recall.status import LotStatus, lot_status
from cradletrace.scan.places import City, nearest_city
from cradletrace.scan.queries import fetch_events
from cradletrace.scan.view import ColdChainRecord, Record, read_records
from cradletrace.store.db import chunks
from cradletrace.store.models import EventRow, Lot, Shipment, Unit, UnitEvent
from cradletrace.store.states import UnitKind
from cradletrace.verification import EventVerifier

# -- places: a GLN's name and city, from the sites of signed records ---------------------------------


@dataclass(frozen=True)
class SiteName:
    """A site as a production-lot or shipment record describes it (the newest one naming the GLN)."""

    name: str
    address: str
    lat: float
    lon: float
    country: str | None

    @property
    def city(self) -> City | None:
        """The listed city nearest the site: what a public page may say of where a unit was."""
        return nearest_city(self.lat, self.lon)


class PlaceBook:
    """GLN (and extension) -> the site recorded for it. Reads the batch and shipment events added
    since its last look (one primary-key range query, ``id > last``), so after the first look a page
    pays next to nothing; an event is never edited in place (a tampered body is only read again by a
    new process), and a place's name is shown, never trusted for a decision."""

    def __init__(self) -> None:
        self.last = 0
        self.sites: dict[tuple[str, str | None], SiteName] = {}
        self.lock = threading.Lock()

    def site(self, conn: Connection, gln: str, extension: str | None = None) -> SiteName | None:
        self.catch_up(conn)
        return self.get(gln, extension)

    def get(self, gln: str, extension: str | None = None) -> SiteName | None:
        """The site known for the place as of the last ``catch_up``."""
        return self.sites.get((gln, extension)) or self.sites.get((gln, None))

    def catch_up(self, conn: Connection) -> None:
        """Read the batch and shipment events stored since the last look: one query for the
        newest event id, and when there are new events one more over their id range."""
        newest = int(conn.execute(_NEWEST).scalar() or 0)
        with self.lock:
            if newest <= self.last:
                return
            rows = conn.execute(_SITES, {"last": self.last, "newest": newest}).all()
            self.last = newest
            for _, body in rows:
                self._read(body)

    def _read(self, body: str) -> None:
        try:
            data = json.loads(body)["data"]
        except (ValueError, KeyError, TypeError):
            return
        for key in ("site", "from_site", "to_site"):
            s = data.get(key) if isinstance(data, dict) else None
            if isinstance(s, dict) and isinstance(s.get("gln"), str):
                try:
                    found = SiteName(
                        str(s["name"]), str(s["address"]), float(s["lat"]), float(s["lon"]), s.get("country")
                    )
                except (KeyError, TypeError, ValueError):
                    continue
                self.sites[(s["gln"], s.get("gln_extension"))] = found
                self.sites.setdefault((s["gln"], None), found)


_NEWEST = select_columns(func.max(col(EventRow.id)))
_SITES = (
    select_columns(col(EventRow.id), col(EventRow.body))
    .where(
        col(EventRow.id) > bindparam("last"),
        col(EventRow.id) <= bindparam("newest"),
        col(EventRow.kind).in_(("batch", "shipment")),
        col(EventRow.body).contains('"gln":'),
    )
    .order_by(col(EventRow.id))
)


_BOOKS: weakref.WeakKeyDictionary[Engine, PlaceBook] = weakref.WeakKeyDictionary()
_BOOKS_LOCK = threading.Lock()


def place_book(conn: Connection) -> PlaceBook:
    """The place book of the store ``conn`` belongs to (one per engine, so per store)."""
    with _BOOKS_LOCK:
        return _BOOKS.setdefault(conn.engine, PlaceBook())


@dataclass(frozen=True)
class PlaceShown:
    """A GLN place as a page shows it: the GLN and extension, and the recorded site if any."""

    gln: str
    extension: str | None
    site: SiteName | None

    def as_json(self, public: bool = False) -> dict[str, Any]:
        city = self.site.city if self.site is not None else None
        where = {"city": city.name, "city_zh": city.name_zh, "country": city.country} if city else None
        if public:
            return {"location": where}
        return {
            "gln": self.gln,
            "extension": self.extension,
            "name": self.site.name if self.site else None,
            "location": where,
        }


def shown_place(conn: Connection, place: Place | None) -> PlaceShown | None:
    """``place`` with its site as the place book knows it (the caller brought the book up to date)."""
    if place is None:
        return None
    return PlaceShown(place.gln, place.extension, place_book(conn).get(place.gln, place.extension))


# -- the case and pallet a can travelled in (its public page) ---------------------------------------


@dataclass(frozen=True)
class Carrier:
    """A case or pallet a can was packed in: its code, and where it was last received, as a city
    (no GLN, no site name, no holder, no order: a consumer's page says only which city)."""

    kind: str  # UnitKind: case or pallet
    code: str  # the Digital Link path, 00/<SSCC> or 01/<GTIN>/21/<serial>
    city: City | None
    received_on: str | None  # YYYY-MM-DD of the last receiving

    def as_json(self) -> dict[str, Any]:
        c = self.city
        return {
            "kind": self.kind,
            "code": self.code,
            "last_location": {"city": c.name, "city_zh": c.name_zh, "country": c.country} if c else None,
            "received_on": self.received_on,
        }


_TRAVELLED = (
    select_columns(col(Unit.code), col(Unit.kind), col(Unit.gln), col(Unit.gln_extension), col(Unit.received_at))
    .where(
        col(Unit.code).in_(
            select_columns(col(EventRow.ref))
            .join(UnitEvent, col(UnitEvent.event_id) == col(EventRow.id))
            .where(col(UnitEvent.code) == bindparam("code"), col(EventRow.kind) == "pack")
        )
    )
    .order_by(col(Unit.kind), col(Unit.code))
)


def travelled_in(conn: Connection, gtin: str, serial: str) -> list[Carrier]:
    """The cases and pallets the can ``gtin``/``serial`` was ever packed in (the parents of the pack
    events that name it, directly or inside a case), case first, then pallet; one indexed lookup."""
    code = f"01/{gtin}/21/{serial}"
    rows = conn.execute(_TRAVELLED, {"code": code}).all()
    out = []
    book = place_book(conn)
    if any(r.gln for r in rows):
        book.catch_up(conn)
    for unit_code, kind, gln, extension, received_at in rows:
        site = book.get(gln, extension) if gln else None
        out.append(
            Carrier(
                kind, unit_code, site.city if site else None, received_at.date().isoformat() if received_at else None
            )
        )
    return out


# -- a pallet's or case's page (logistics staff) ----------------------------------------------------


@dataclass
class Content:
    """One unit inside a pallet or case: a case (with its cans) or a can (with its lot)."""

    code: str
    kind: str
    lot_id: int | None = None  # a can's lot
    lot: tuple[str, str] | None = None  # (GTIN, lot) of a can
    product: str | None = None
    sold: bool = False
    inside: list[Content] = field(default_factory=list)

    @property
    def serial(self) -> str:
        return self.code.rsplit("/", 1)[-1]

    @property
    def groups(self) -> list[tuple[tuple[str, str], str, list[Content]]]:
        """The cans inside, by lot: ((GTIN, lot), product, cans), so a page names each lot once."""
        return lot_groups(self.inside)


def lot_groups(items: list[Content]) -> list[tuple[tuple[str, str], str, list[Content]]]:
    by_lot: dict[tuple[str, str], list[Content]] = {}
    for c in items:
        if c.lot is not None:
            by_lot.setdefault(c.lot, []).append(c)
    return [(lot, cans[0].product or "", cans) for lot, cans in by_lot.items()]


@dataclass(frozen=True)
class Step:
    """One pack, unpack or move of the unit's path: a verified record and what it says."""

    record: Record
    action: str  # pack, unpack, ship, receive
    at: datetime
    place: PlaceShown | None
    to_place: PlaceShown | None = None
    count: int = 0  # units packed or moved


@dataclass(frozen=True)
class LotFlag:
    gtin: str
    lot: str
    product: str
    status: LotStatus


@dataclass
class UnitPage:
    """Everything a logistics label's page shows. ``handlers``: the suppliers who signed its path,
    held it or may receive it (a supplier key of one of them may read the page)."""

    code: str
    kind: str
    holder: str
    consignee: str | None
    last_place: PlaceShown | None
    received_at: datetime | None
    sold: bool
    contents: list[Content]
    path: list[Step]
    cold_chain: list[ColdChainRecord]
    flags: list[LotFlag]
    unreadable: list[Record]
    handlers: frozenset[str]

    @property
    def cans(self) -> int:
        def count(items: list[Content]) -> int:
            return sum(1 if c.kind == UnitKind.ITEM else count(c.inside) for c in items)

        return count(self.contents)

    @property
    def cases(self) -> int:
        return sum(1 for c in self.contents if c.kind == UnitKind.CASE)

    @property
    def groups(self) -> list[tuple[tuple[str, str], str, list[Content]]]:
        """The cans directly inside (not in a case), by lot."""
        return lot_groups(self.contents)

    @property
    def records(self) -> list[Record]:
        return [*(s.record for s in self.path), *self.cold_chain, *self.unreadable]

    @property
    def all_verified(self) -> bool:
        return all(r.verdict.valid for r in self.records)

    @property
    def any_invalid(self) -> bool:
        return any(r.verdict.status == "INVALID" for r in self.records)


def unit_kind(conn: Connection, code: str) -> str | None:
    """The kind of the unit ``code`` (a UnitKind), None when no logistics record names it."""
    found = conn.execute(select_columns(col(Unit.kind)).where(col(Unit.code) == code)).scalar()
    return None if found is None else str(found)


def unit_page(conn: Connection, verifier: EventVerifier, code: str) -> UnitPage | None:
    """The page of the pallet or case ``code``, every record verified; None when none is held."""
    unit = conn.execute(_UNIT, {"code": code}).first()
    if unit is None or unit.kind == UnitKind.ITEM:
        return None
    contents, lot_ids = _contents(conn, code)
    lots: dict[int, tuple[str, str, str]] = {
        int(i or 0): (g, lo, p) for i, g, lo, p in conn.execute(_LOTS, {"ids": sorted(lot_ids)})
    }
    for c in _walk(contents):
        if c.lot_id is not None:
            g, lo, p = lots[c.lot_id]
            c.lot, c.product = (g, lo), p
    path_ids: list[int] = [int(i) for i in conn.execute(_PATH, {"code": code}).scalars()]
    cold_ids = _cold_chain_ids(conn, lots)
    rows = fetch_events(conn, sorted({*path_ids, *cold_ids}))
    records, unreadable = read_records(rows, verifier)
    signers = {row[3] for row in rows.events if row[0] in set(path_ids)}  # the path's suppliers (ids)
    book = place_book(conn)
    book.catch_up(conn)
    path: list[Step] = []
    cold: list[ColdChainRecord] = []
    for rec in records:
        if isinstance(rec, ColdChainRecord):
            cold.append(rec)
        elif isinstance(rec.data, PackData):
            d = rec.data
            path.append(Step(rec, rec.kind, d.at, shown_place(conn, d.place), count=len(d.children)))
        elif isinstance(rec.data, MoveData):
            m = rec.data
            path.append(
                Step(
                    rec,
                    m.action,
                    m.at,
                    shown_place(conn, m.from_place if m.action == "ship" else m.to_place),
                    shown_place(conn, m.to_place) if m.action == "ship" else None,
                    len(m.units),
                )
            )
    flags = [
        LotFlag(g, lo, p, status)
        for i, (g, lo, p) in sorted(lots.items(), key=lambda x: x[1])
        if (status := lot_status(conn, i)).recall is not None or status.hold is not None
    ]
    handlers = {unit.holder, *([unit.consignee] if unit.consignee else []), *signers}
    last = PlaceShown(unit.gln, unit.gln_extension, book.get(unit.gln, unit.gln_extension))
    return UnitPage(
        code=code,
        kind=unit.kind,
        holder=unit.holder,
        consignee=unit.consignee,
        last_place=last if unit.gln else None,
        received_at=unit.received_at,
        sold=unit.sold_event_id is not None,
        contents=contents,
        path=path,
        cold_chain=cold,
        flags=flags,
        unreadable=unreadable,
        handlers=frozenset(handlers),
    )


_UNIT = select_columns(
    col(Unit.code),
    col(Unit.kind),
    col(Unit.holder),
    col(Unit.consignee),
    col(Unit.gln),
    col(Unit.gln_extension),
    col(Unit.received_at),
    col(Unit.sold_event_id),
).where(col(Unit.code) == bindparam("code"))
_LOTS = select_columns(col(Lot.id), col(Lot.gtin), col(Lot.lot), col(Lot.product)).where(
    col(Lot.id).in_(bindparam("ids", expanding=True))
)
_PATH = (
    select_columns(col(UnitEvent.event_id))
    .where(col(UnitEvent.code) == bindparam("code"))
    .order_by(col(UnitEvent.event_id))
)
_CHILDREN = (
    select_columns(col(Unit.code), col(Unit.kind), col(Unit.lot_id), col(Unit.parent), col(Unit.sold_event_id))
    .where(col(Unit.parent).in_(bindparam("parents", expanding=True)))
    .order_by(col(Unit.code))
)
_SHIPMENTS = select_columns(col(Shipment.id)).where(col(Shipment.lot_id).in_(bindparam("ids", expanding=True)))
_COLD_CHAIN = select_columns(col(EventRow.id)).where(
    col(EventRow.kind) == "cold_chain",
    tuple_(EventRow.gtin, EventRow.lot).in_(bindparam("lots", expanding=True))
    | col(EventRow.ref).in_(bindparam("shipments", expanding=True)),
)


def _walk(items: list[Content]) -> list[Content]:
    out: list[Content] = []
    for c in items:
        out.append(c)
        out.extend(_walk(c.inside))
    return out


def _contents(conn: Connection, code: str) -> tuple[list[Content], set[int]]:
    """What is inside ``code`` now, level by level (a pallet's cases, then their cans), each can
    with its lot id and whether it was sold, and the ids of those lots."""
    top: list[Content] = []
    by_code: dict[str, Content] = {}
    lot_ids: set[int] = set()
    wanted = [code]
    while wanted:
        level: list[str] = []
        for chunk in chunks(wanted):
            for child, kind, lot_id, parent, sold in conn.execute(_CHILDREN, {"parents": chunk}):
                c = Content(child, kind, lot_id, sold=sold is not None)
                if lot_id is not None:
                    lot_ids.add(int(lot_id))
                (top if parent == code else by_code[str(parent)].inside).append(c)
                by_code[child] = c
                level.append(child)
        wanted = level
    return top, lot_ids


def _cold_chain_ids(conn: Connection, lots: dict[int, tuple[str, str, str]]) -> list[int]:
    """The cold-chain records of the lots inside: recorded for a lot, or for one of its shipments
    (as the can's page finds them, queries.shown_ids)."""
    if not lots:
        return []
    shipments = conn.execute(_SHIPMENTS, {"ids": sorted(lots)}).scalars().all()
    keys = [(g, lo) for g, lo, _ in lots.values()]
    return [int(i or 0) for i in conn.execute(_COLD_CHAIN, {"lots": keys, "shipments": list(shipments)}).scalars()]


def may_read(page_handlers: frozenset[str], role: str, supplier_id: str | None) -> bool:
    """Who reads a pallet's or case's contents: operator and quality staff any; a supplier's key
    (a plant, brand or logistics provider) the units it packed, moved, holds or may receive."""
    return role in ("operator", "quality") or (role == "supplier" and supplier_id in page_handlers)


def unit_json(page: UnitPage) -> dict[str, Any]:
    """The pallet's or case's page as JSON: the same facts."""

    def content(c: Content) -> dict[str, Any]:
        out: dict[str, Any] = {"code": c.code, "kind": c.kind}
        if c.lot is not None:
            out |= {"gtin": c.lot[0], "lot": c.lot[1], "product": c.product, "serial": c.serial, "sold": c.sold}
        if c.inside:
            out["contents"] = [content(x) for x in c.inside]
        return out

    def step(s: Step) -> dict[str, Any]:
        return {
            "event_id": s.record.event_id,
            "action": s.action,
            "at": s.at.isoformat(),
            "by": s.record.supplier,
            "place": s.place.as_json() if s.place else None,
            "to_place": s.to_place.as_json() if s.to_place else None,
            "units": s.count,
            "integrity": s.record.verdict.status,
        }

    return {
        "code": page.code,
        "kind": page.kind,
        "holder": page.holder,
        "last_received": {
            "place": page.last_place.as_json() if page.last_place else None,
            "at": page.received_at.isoformat() if page.received_at else None,
        },
        "sold": page.sold,
        "counts": {"cases": page.cases, "cans": page.cans},
        "contents": [content(c) for c in page.contents],
        "path": [step(s) for s in page.path],
        "cold_chain": [
            {
                "event_id": r.event_id,
                "logger": r.data.logger.id,
                "verdict": r.summary.verdict if r.summary else None,
                "integrity": r.verdict.status,
            }
            for r in page.cold_chain
        ],
        "lots": [{"gtin": f.gtin, "lot": f.lot, "recall": f.status.recall, "hold": f.status.hold} for f in page.flags],
        "all_verified": page.all_verified,
    }


# -- a place (414) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacePage:
    """A GLN place: its recorded site, and (for staff) what was last received there, as counts."""

    place: PlaceShown
    received: dict[str, int]  # UnitKind -> units whose last receiving was here
    last_received_at: datetime | None


def place_page(conn: Connection, gln: str, extension: str | None, holder: str | None = None) -> PlacePage | None:
    """The place ``gln`` (``extension``): None when neither a site record nor a receiving names it.
    ``holder``: count only the units that supplier holds (a supplier key sees its own goods)."""
    site = place_book(conn).site(conn, gln, extension)
    where = [col(Unit.gln) == gln]
    if extension is not None:
        where.append(col(Unit.gln_extension) == extension)
    if holder is not None:
        where.append(col(Unit.holder) == holder)
    rows = conn.execute(
        select_columns(col(Unit.kind), func.count(), func.max(col(Unit.received_at)))
        .where(*where)
        .group_by(col(Unit.kind))
    ).all()
    if site is None and not rows and holder is None:
        return None
    counts = Counter({str(k): int(n) for k, n, _ in rows})
    last = max((t for _, _, t in rows if t is not None), default=None)
    return PlacePage(PlaceShown(gln, extension, site), dict(counts), last)


def place_known(conn: Connection, gln: str, extension: str | None) -> bool:
    """Whether the place is registered here: a site record or a receiving names it."""
    if place_book(conn).site(conn, gln, extension) is not None:
        return True
    where = [col(Unit.gln) == gln] + ([col(Unit.gln_extension) == extension] if extension is not None else [])
    return conn.execute(select_columns(col(Unit.code)).where(*where).limit(1)).first() is not None

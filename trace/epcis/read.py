"""Reading EPCIS 2.0 events as cradletrace events: the inbound half of the profile in profile.py.

Each rule of the table there is one function here; a missing piece is named by the JSON pointer
where it was expected, so a sender can fix its document without knowing cradletrace's shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cradletrace.core.testreport import Limit, fill_limits
from cradletrace.epcis.profile import (
    CT,
    DL,
    GEO,
    ORDER,
    UNIT,
    day,
    parse_item,
    parse_lot,
    parse_place,
    parse_unit,
)
from cradletrace.epcis.validation import expand, term
from cradletrace.errors import InvalidInputError, MappingError, Problem


class _Reader:
    """Reads one EPCIS event with the document's prefixes; collects what is missing."""

    def __init__(self, event: Mapping[str, Any], prefixes: Mapping[str, str], where: str) -> None:
        self.e, self.known, self.where = event, prefixes, where
        self.problems: list[Problem] = []

    def ct(self, obj: Any, name: str) -> Any:
        """The value of extension ``ct:name`` in ``obj`` (however its key is written), or None."""
        if isinstance(obj, dict):
            for k, v in obj.items():
                if expand(k, self.known) == CT + name:
                    return v
        return None

    def plain(self, obj: Any) -> Any:
        """An extension object back to cradletrace keys (inverse of ``ct_obj``)."""
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                full = expand(k, self.known)
                if full.startswith(CT):
                    out[full[len(CT) :]] = self.plain(v)
            return out
        return obj

    def miss(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.where + path, message))

    def step(self) -> str | None:
        return term(self.e.get("bizStep"), "bizStep", self.known)[0]

    def site(self, obj: Any, path: str) -> dict[str, Any] | None:
        m = GEO.match(obj.get("id", "")) if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
        if m is None:
            self.miss(
                path,
                "expected a location with id geo:<lat>,<lon> and ct:name, ct:address (cradletrace needs "
                "where it happened; an SGLN alone does not say)",
            )
            return None
        return {**self.plain(obj), "lat": float(m.group(1)), "lon": float(m.group(2))}

    def lots(self) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for field in ("quantityList", "childQuantityList", "outputQuantityList"):
            for q in self.e.get(field) or []:
                if (ref := parse_lot(q.get("epcClass"))) is not None:
                    out.append((*ref, q))
        return out

    def one_lot(self) -> tuple[str, str, dict[str, Any]] | None:
        lots = self.lots()
        if len(lots) != 1:
            self.miss(
                "/quantityList",
                f"expected exactly one lot (an LGTIN epcClass: {DL}/01/<GTIN>/10/<lot> or "
                f"urn:epc:class:lgtin:...), got {len(lots)}",
            )
            return None
        return lots[0]

    def unit(self, q: Mapping[str, Any]) -> str | None:
        given = self.ct(self.e, "unit")
        if isinstance(given, str):
            return given
        uom = q.get("uom")
        return UNIT.get(uom, uom) if isinstance(uom, str) else None

    def need(self, value: Any, path: str, what: str) -> Any:
        if value is None:
            self.miss(path, f"expected {what}, got nothing")
        return value


def kind_of(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> str | None:
    """The cradletrace kind an EPCIS event maps to (first rule of the module table), or None."""
    reports = [r for el in event.get("sensorElementList") or [] for r in el.get("sensorReport") or []]
    if any("chemicalSubstance" in r or "microorganism" in r for r in reports):
        return "test_report"
    if any(term(r.get("type"), "measurementType", prefixes)[0] == "Temperature" and "value" in r for r in reports):
        return "cold_chain"
    step = term(event.get("bizStep"), "bizStep", prefixes)[0]
    lots = any(
        parse_lot(q.get("epcClass")) is not None
        for f in ("quantityList", "childQuantityList")
        for q in event.get(f) or []
        if isinstance(q, dict)
    )
    if event.get("type") == "AggregationEvent" and event.get("action") in ("ADD", "DELETE") and not lots:
        return "pack" if event["action"] == "ADD" else "unpack"
    if step in ("shipping", "receiving") and event.get("epcList") and not event.get("quantityList"):
        return "move"
    if step == "shipping":
        return "shipment"
    if step == "retail_selling":
        return "sale"
    if event.get("type") == "ObjectEvent" and event.get("action") == "ADD":
        return "commission" if event.get("epcList") else ("batch" if event.get("quantityList") else None)
    if event.get("type") == "TransformationEvent":
        return "batch"
    return None


def from_epcis(
    event: Mapping[str, Any],
    prefixes: Mapping[str, str],
    where: str,
    supplier: str,
    key: str,
    limits: Mapping[str, Limit],
) -> dict[str, Any]:
    """The bare cradletrace event (not yet signed) for one valid EPCIS event.

    Raises MappingError naming, by JSON pointer, each thing cradletrace needs and did not find.
    """
    r = _Reader(event, prefixes, where)
    kind = kind_of(event, prefixes)
    data: dict[str, Any] | None = None
    if "errorDeclaration" in event:
        r.miss(
            "/errorDeclaration",
            "expected the erroneous event as recorded, re-sent with its errorDeclaration (EPCIS 2.0 §7.4.1.4): "
            "its eventID or CBV 2.0 hash names no event this repository holds",
        )
    elif kind is None:
        r.miss(
            "",
            f"expected an event cradletrace records (batch, test report, cold chain, shipment, commissioning, "
            f"packing, unpacking, shipping or receiving units, a sale; see the EPCIS profile), got a {event.get('type')} with action {event.get('action')!r} and bizStep "
            f"{event.get('bizStep')!r}",
        )
    elif kind == "batch":
        data = _batch(r)
    elif kind == "commission":
        data = _commission(r)
    elif kind == "shipment":
        data = _shipment(r)
    elif kind == "test_report":
        data = _test_report(r, limits)
    elif kind in ("pack", "unpack"):
        data = _pack(r)
    elif kind == "move":
        data = _move(r)
    elif kind == "sale":
        data = _sale(r)
    else:
        data = _cold_chain(r)
    if r.problems or data is None:
        raise MappingError(r.problems)
    return {"kind": kind, "supplier": supplier, "key": key, "data": data}


def _batch(r: _Reader) -> dict[str, Any] | None:
    e = r.e
    main = (e.get("outputQuantityList") if e.get("type") == "TransformationEvent" else e.get("quantityList")) or []
    refs = [(parse_lot(q.get("epcClass")), q) for q in main]
    ilmd = e.get("ilmd") or {}
    name = r.need(r.ct(ilmd, "productName"), "/ilmd", "ct:productName (the product's name, which EPCIS does not carry)")
    expires = ilmd.get("cbvmda:itemExpirationDate") or ilmd.get("cbvmda:bestBeforeDate")
    r.need(expires, "/ilmd", "cbvmda:itemExpirationDate (or cbvmda:bestBeforeDate)")
    site = r.site(e.get("bizLocation"), "/bizLocation")
    if len(refs) != 1 or refs[0][0] is None:
        r.miss(
            "/outputQuantityList" if e.get("type") == "TransformationEvent" else "/quantityList",
            f"expected exactly one lot made (an LGTIN epcClass with its quantity), got {len(refs)} entries",
        )
        return None
    (gtin, lot), q = refs[0]  # type: ignore[misc]
    r.need(q.get("quantity"), "/quantityList/0/quantity", "the quantity made")
    inputs = []
    odd = r.ct(e, "inputUnits") or {}
    for i, x in enumerate(e.get("inputQuantityList") or []):
        ref = parse_lot(x.get("epcClass"))
        if ref is None:
            r.miss(f"/inputQuantityList/{i}/epcClass", f"expected an input lot (LGTIN), got {x.get('epcClass')!r}")
            continue
        entry: dict[str, Any] = {"gtin": ref[0], "lot": ref[1]}
        if "quantity" in x:
            entry["quantity"] = x["quantity"]
        unit = odd.get(x.get("epcClass")) if isinstance(odd, dict) else None
        unit = unit or (UNIT.get(x["uom"], x["uom"]) if "uom" in x else None)
        if unit:
            entry["unit"] = unit
        inputs.append(entry)
    if r.problems:
        return None
    return {
        "product": {"gtin": gtin, "name": name},
        "lot": lot,
        "produced_on": day(e["eventTime"]),
        "expires_on": expires,
        "quantity": q["quantity"],
        "unit": r.unit(q) or "units",
        "site": site,
        "inputs": inputs,
    }


def _commission(r: _Reader) -> dict[str, Any] | None:
    items = [parse_item(u) for u in r.e.get("epcList") or []]
    bad = [i for i, x in enumerate(items) if x is None]
    for i in bad:
        r.miss(f"/epcList/{i}", "expected an SGTIN (Digital Link .../01/<GTIN>/21/<serial> or urn:epc:id:sgtin:...)")
    good = [x for x in items if x is not None]
    gtins = {x[0] for x in good}
    lot = (
        r.ct(r.e.get("ilmd"), "lotNumber")
        or (r.e.get("ilmd") or {}).get("cbvmda:lotNumber")
        or next((x[2] for x in good if x[2]), None)
    )
    r.need(lot, "/ilmd", "cbvmda:lotNumber (the lot the items belong to)")
    if len(gtins) > 1:
        r.miss("/epcList", f"expected items of one GTIN, got {len(gtins)}")
    if r.problems:
        return None
    return {
        "lot": {"gtin": gtins.pop(), "lot": lot},
        "serials": [x[1] for x in good],
        "commissioned_at": r.e["eventTime"],
    }


def _shipment(r: _Reader) -> dict[str, Any] | None:
    e = r.e
    sid = r.ct(e, "shipmentID") or next((t.get("bizTransaction") for t in e.get("bizTransactionList") or []), None)
    r.need(sid, "", "ct:shipmentID (or a business transaction naming the shipment)")
    ref = r.one_lot()
    sites = [r.site(r.ct(e, f), "/" + f) for f in ("fromSite", "toSite")]
    if r.problems or ref is None:
        return None
    gtin, lot, q = ref
    r.need(q.get("quantity"), "/quantityList/0/quantity", "the quantity shipped")
    if r.problems:
        return None
    out: dict[str, Any] = {
        "id": sid,
        "lot": {"gtin": gtin, "lot": lot},
        "quantity": q["quantity"],
        "unit": r.unit(q) or "units",
        "from_site": sites[0],
        "to_site": sites[1],
        "shipped_at": e["eventTime"],
    }
    if (received := r.ct(e, "receivedAt")) is not None:
        out["received_at"] = received
    if (customs := r.ct(e, "customs")) is not None:
        out["customs"] = r.plain(customs)
    # Only ct:documents: certificationInfo and bol transactions carry a link without the SHA-256
    # a signed document needs, so they are not documents of their own.
    if (documents := r.ct(e, "documents")) is not None:
        out["documents"] = [r.plain(x) for x in documents] if isinstance(documents, list) else documents
    return out


def _plan_unit(
    a: dict[str, Any], own: dict[str, Any], analytes: list[dict[str, Any]], value: Any
) -> dict[str, Any] | None:
    """One sample unit's report of a sampling-plan analyte: a new plan analyte for its first unit,
    else None after adding its result (placed by ct:resultIndex, then document order) to the one
    with the same name, plan, unit and method. parse_event then checks there are n of them."""
    a = {k: v for k, v in a.items() if k != "value"} | {"plan": own["plan"]}
    index = own.get("resultIndex")
    for seen in analytes:
        if "results" in seen and {k: v for k, v in seen.items() if k != "results"} == a:
            seen["results"].append((index if isinstance(index, int) else len(seen["results"]), value))
            return None
    return a | {"results": [(index if isinstance(index, int) else 0, value)]}


def _test_report(r: _Reader, limits: Mapping[str, Limit]) -> dict[str, Any] | None:
    e = r.e
    ref = r.one_lot()
    analytes: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    for i, el in enumerate(e.get("sensorElementList") or []):
        for j, rep in enumerate(el.get("sensorReport") or []):
            field = (
                "microorganism"
                if "microorganism" in rep
                else ("chemicalSubstance" if "chemicalSubstance" in rep else None)
            )
            if field is None:
                continue
            meta = meta or el.get("sensorMetadata") or {}
            at = f"/sensorElementList/{i}/sensorReport/{j}"
            own = r.plain(rep)
            uri = str(rep[field])
            a: dict[str, Any] = {
                "name": own.get("name") or unquote(uri.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]),
                "category": own.get("category") or ("microbiology" if field == "microorganism" else "contaminant"),
                "value": r.need(rep.get("value"), at + "/value", "the measured value"),
                "unit": r.need(own.get("unit") or rep.get("uom"), at + "/uom", "a unit (uom or ct:unit)"),
                "method": r.need(
                    own.get("method") or (el.get("sensorMetadata") or {}).get("dataProcessingMethod"),
                    at,
                    "ct:method (or sensorMetadata.dataProcessingMethod)",
                ),
            }
            for k in ("limit", "min"):
                if k in own:
                    a[k] = own[k]
            first = _plan_unit(a, own, analytes, rep.get("value")) if "plan" in own else a
            if first is not None:  # a plan's later units join its first (one report per unit, profile.py)
                analytes.append(first)
    for a in analytes:
        if "results" in a:
            a["results"] = [x for _, x in sorted(a["results"], key=lambda p: p[0])]
    lab = r.plain(r.ct(e, "lab")) if r.ct(e, "lab") is not None else None
    cert = e.get("certificationInfo")
    cert = cert[0] if isinstance(cert, list) and cert else cert
    if lab is None and isinstance(cert, str):
        lab = {
            "name": (re.sub(r"^[a-z]+://", "", cert).split("/")[0] or cert)[:200],
            "accreditation": {"scheme": "certificationInfo", "number": cert[:200]},
        }
    r.need(lab, "", "ct:lab (name, accreditation) or certificationInfo")
    sha = r.need(r.ct(meta, "documentSha256"), "/sensorElementList/0/sensorMetadata", "ct:documentSha256 of the report")
    uri = meta.get("rawData") or r.ct(meta, "documentURI")
    r.need(uri, "/sensorElementList/0/sensorMetadata/rawData", "the report document's URI")
    sampled = meta.get("time") or meta.get("startTime") or e["eventTime"]
    if r.problems or ref is None:
        return None
    data: dict[str, Any] = {
        "batch": {"gtin": ref[0], "lot": ref[1]},
        "lab": lab,
        "sampled_on": day(sampled),
        "reported_on": day(e["eventTime"]),
        "analytes": analytes,
        "document": {"sha256": sha, "uri": uri},
    }
    try:
        return fill_limits(data, limits)
    except InvalidInputError as exc:
        r.problems.extend(
            Problem(r.where + "/sensorElementList", f"cradletrace {p.where}: {p.message}") for p in exc.problems
        )
        return None


def _celsius(value: float, uom: object) -> float | None:
    if uom in (None, "CEL"):
        return value
    if uom == "FAH":
        return round((value - 32) * 5 / 9, 6)
    if uom == "KEL":
        return round(value - 273.15, 6)
    return None


def _cold_chain(r: _Reader) -> dict[str, Any] | None:
    e = r.e
    readings: list[tuple[str, float]] = []
    logger = rng = None
    for i, el in enumerate(e.get("sensorElementList") or []):
        meta = el.get("sensorMetadata") or {}
        logger = logger or r.ct(meta, "logger")
        rng = rng or r.ct(meta, "range")
        for j, rep in enumerate(el.get("sensorReport") or []):
            if term(rep.get("type"), "measurementType", r.known)[0] != "Temperature" or "value" not in rep:
                continue
            at = f"/sensorElementList/{i}/sensorReport/{j}"
            when = rep.get("time") or meta.get("time")
            c = _celsius(rep["value"], rep.get("uom"))
            if when is None:
                r.miss(at + "/time", "expected the time of the reading (here or in sensorMetadata.time)")
            elif c is None:
                r.miss(at + "/uom", f"expected CEL, FAH or KEL, got {rep.get('uom')!r}")
            else:
                readings.append((when, c))
            if logger is None and isinstance(rep.get("deviceID"), str):
                logger = {"ct:id": rep["deviceID"][:200]}
        if logger is None and isinstance(meta.get("deviceID"), str):
            logger = {"ct:id": meta["deviceID"][:200]}
    r.need(logger, "/sensorElementList/0/sensorMetadata", "ct:logger (or a deviceID)")
    r.need(rng, "/sensorElementList/0/sensorMetadata", "ct:range (min_c, max_c: the allowed temperatures)")
    shipment = r.ct(e, "shipmentID")
    ref = None if shipment is not None else r.one_lot()
    if r.problems or (shipment is None and ref is None):
        return None
    readings.sort(key=lambda x: datetime.fromisoformat(x[0].replace("Z", "+00:00")))
    data: dict[str, Any] = {
        "logger": r.plain(logger),
        "range": r.plain(rng),
        "readings": [{"at": at, "c": c} for at, c in readings],
    }
    if shipment is not None:
        data["shipment"] = shipment
    else:
        assert ref is not None
        data["lot"] = {"gtin": ref[0], "lot": ref[1]}
    return data


_UNIT = "an SSCC or SGTIN (Digital Link …/00/<SSCC> or …/01/<GTIN>/21/<serial>, or urn:epc:id:sscc:… / sgtin:…)"
_PLACE = "a GLN (urn:epc:id:sgln:… or Digital Link …/414/<GLN>[/254/<extension>])"


def _units(r: _Reader, field: str) -> list[dict[str, str]]:
    out = []
    for i, uri in enumerate(r.e.get(field) or []):
        unit = parse_unit(uri)
        if unit is None:
            r.miss(f"/{field}/{i}", f"expected {_UNIT}, got {str(uri)[:80]!r}")
        else:
            out.append(unit)
    if not r.e.get(field):
        r.miss(f"/{field}", f"expected at least one unit ({_UNIT}), got none")
    return out


def _place(r: _Reader, candidates: list[tuple[str, Any]]) -> dict[str, str] | None:
    """The first of ``candidates`` (path, URI) present, read as a GLN; a present one that is not a GLN is a problem."""
    for path, uri in candidates:
        if uri is None:
            continue
        place = parse_place(uri)
        if place is None:
            r.miss(path, f"expected {_PLACE}, got {str(uri)[:80]!r}")
        return place
    return None


def _location(r: _Reader, name: str) -> tuple[str, Any]:
    obj = r.e.get(name)
    return f"/{name}/id", obj.get("id") if isinstance(obj, dict) else None


def _listed(r: _Reader, field: str, key: str) -> tuple[str, Any]:
    for i, x in enumerate(r.e.get(field) or []):
        if isinstance(x, dict) and term(x.get("type"), "sourceDestType", r.known)[0] == "location":
            return f"/{field}/{i}/{key}", x.get(key)
    return f"/{field}", None


def _pack(r: _Reader) -> dict[str, Any] | None:
    parent = parse_unit(r.e.get("parentID"))
    if parent is None:
        r.miss("/parentID", f"expected the case or pallet packed ({_UNIT}), got {str(r.e.get('parentID'))[:80]!r}")
    children = _units(r, "childEPCs")
    place = _place(r, [_location(r, "bizLocation"), _location(r, "readPoint")])
    if r.problems:
        return None
    out: dict[str, Any] = {"parent": parent, "children": children, "at": r.e["eventTime"]}
    if place is not None:
        out["place"] = place
    return out


def _move(r: _Reader) -> dict[str, Any] | None:
    shipping = r.step() == "shipping"
    units = _units(r, "epcList")
    here = [_location(r, "readPoint"), _location(r, "bizLocation")]
    source = _place(r, [_listed(r, "sourceList", "source"), *(here if shipping else [])])
    destination = _place(r, [_listed(r, "destinationList", "destination"), *([] if shipping else here[::-1])])
    if shipping and source is None:
        r.need(None, "/sourceList", f"the place shipped from: a location source or readPoint, {_PLACE}")
    if not shipping and destination is None:
        r.need(
            None, "/bizLocation", f"the place received at: bizLocation, readPoint or a location destination, {_PLACE}"
        )
    consignee = r.ct(r.e, "consignee")
    if r.problems:
        return None
    out: dict[str, Any] = {"action": "ship" if shipping else "receive", "units": units, "at": r.e["eventTime"]}
    if source is not None:
        out["from_place"] = source
    if destination is not None:
        out["to_place"] = destination
    if consignee is not None and shipping:
        out["consignee"] = consignee
    return out


def _sale(r: _Reader) -> dict[str, Any] | None:
    units = _units(r, "epcList")
    if len(r.e.get("epcList") or []) > 1:
        r.miss("/epcList", f"expected the one can or case sold, got {len(r.e['epcList'])} (one sale event each)")
    deals = [t for t in r.e.get("bizTransactionList") or [] if isinstance(t, dict)]
    deal = next((t for t in deals if term(t.get("type"), "bizTransactionType", r.known)[0] == "po"), None)
    deal = deal or (deals[0] if deals else None)
    order = r.need(
        deal.get("bizTransaction") if deal else None,
        "/bizTransactionList",
        "the order: a business transaction (type po)",
    )
    buyer = r.need(r.ct(r.e, "buyer"), "", "ct:buyer, the member's pseudonym (POST /api/v1/buyers)")
    if r.problems:
        return None
    ref = unquote(order[len(ORDER) :]) if order.startswith(ORDER) else order
    return {"unit": units[0], "order": ref, "buyer": buyer, "sold_at": r.e["eventTime"]}


_ERROR_REASON_PREFIXES = ("https://ref.gs1.org/cbv/ER-", "cbv:ER-", "urn:epcglobal:cbv:er:")


def correction_from_epcis(
    event: Mapping[str, Any], where: str, supplier: str, key: str, corrects: str, ids: Mapping[str, str]
) -> dict[str, Any]:
    """The bare cradletrace correction of an erroneous event re-sent with its ``errorDeclaration``
    (EPCIS 2.0 §7.4.1.4), the event already found as the stored event of digest ``corrects``.
    ``ids`` maps the eventIDs (and CBV hashes) this repository knows to the digests of their
    cradletrace events, for ``correctiveEventIDs``. A reason is needed: cradletrace decides by it
    whether the event's facts still count (did_not_occur) or were only wrong (incorrect_data)."""
    err = event["errorDeclaration"]
    problems: list[Problem] = []
    reason = err.get("reason")
    if isinstance(reason, str):
        reason = next((reason[len(p) :] for p in _ERROR_REASON_PREFIXES if reason.startswith(p)), reason)
    else:
        problems.append(
            Problem(
                f"{where}/errorDeclaration/reason",
                "expected a reason (did_not_occur, incorrect_data or a URI): cradletrace needs it to know "
                "whether the event's facts still count",
            )
        )
    corrective: list[str] = []
    for i, eid in enumerate(err.get("correctiveEventIDs") or []):
        if eid in ids:
            corrective.append(ids[eid])
        else:
            problems.append(
                Problem(
                    f"{where}/errorDeclaration/correctiveEventIDs/{i}",
                    f"expected the eventID of an event this repository holds or this document captures, got {eid!r}",
                )
            )
    if problems:
        raise MappingError(problems)
    data = {
        "corrects": corrects,
        "declaration_time": err["declarationTime"],
        "reason": reason,
        "corrective": corrective,
    }
    return {"kind": "correction", "supplier": supplier, "key": key, "data": data}

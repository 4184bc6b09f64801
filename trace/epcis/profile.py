"""The cradletrace EPCIS profile: one EPCIS 2.0 event <-> one cradletrace event, both ways.

Pure functions, no store. Standard EPCIS/CBV fields carry what they can; what cradletrace needs
and EPCIS has no slot for travels in extension properties of the namespace
``https://ns.cradletrace.org/epcis/`` (prefix ``ct``). Which cradletrace kind an event becomes
is read from its content, whatever its EPCIS type (ObjectEvent, AggregationEvent,
TransformationEvent, AssociationEvent), first rule that fits:

===============  ==========================================================================
kind             EPCIS
===============  ==========================================================================
test_report      sensor reports naming a ``chemicalSubstance`` or ``microorganism``: one analyte
                 each (value, ``ct:unit`` or uom, ``ct:limit`` or the limits table, ``ct:method``
                 or ``dataProcessingMethod``); lab from ``ct:lab`` or ``certificationInfo``;
                 sampled = ``sensorMetadata.time``, reported = ``eventTime``; report document =
                 ``sensorMetadata.rawData`` + ``ct:documentSha256``
cold_chain       ``Temperature`` sensor reports with a value (CEL, FAH or KEL); logger ``ct:logger``
                 or ``deviceID``; allowed range ``ct:range``; subject the lot, or ``ct:shipmentID``
shipment         bizStep ``shipping``: id ``ct:shipmentID`` (or the first business transaction),
                 lot and quantity from the quantity list, sites ``ct:fromSite``/``ct:toSite``,
                 shipped = ``eventTime``, ``ct:receivedAt``, ``ct:customs``, documents
                 ``ct:documents`` (kind, sha256, uri, title); export also lists certificates'
                 links in ``certificationInfo`` and bills of lading as ``bol`` transactions
commission       ObjectEvent ADD with an ``epcList`` of SGTINs of one GTIN; lot ``cbvmda:lotNumber``
batch            ObjectEvent ADD with a quantity list, or TransformationEvent (inputs = input
                 quantity list); lot, quantity from the (output) quantity element; product name
                 ``ilmd.ct:productName``; expiry ``ilmd.cbvmda:itemExpirationDate``; produced on
                 the ``eventTime`` date; site ``bizLocation`` (``geo:lat,lon`` + ``ct:name``, ...)
pack / unpack    AggregationEvent ADD / DELETE of units (no lot in its quantity lists): parent
                 ``parentID`` (SSCC or case SGTIN), children ``childEPCs`` (SGTINs), at
                 ``eventTime``, place ``bizLocation`` (or ``readPoint``) as a GLN; bizStep
                 ``packing`` / ``unpacking`` on export
move             bizStep ``shipping`` or ``receiving`` with an ``epcList`` of SSCCs or SGTINs and
                 no quantity list: action ship / receive, at ``eventTime``; from = the
                 ``location`` source (else, shipping, ``readPoint``/``bizLocation``), to = the
                 ``location`` destination (else, receiving, ``bizLocation``/``readPoint``), each a
                 GLN (``urn:epc:id:sgln:…`` or ``…/414/<GLN>[/254/<ext>]``); ``ct:consignee``
sale             bizStep ``retail_selling``: the one SGTIN of its ``epcList``, the order from its
                 business transaction (``po``; ours are ``ct`` URIs ``…/order/<ref>``), the buyer's
                 pseudonym ``ct:buyer``; sold at ``eventTime``. Nothing else of the buyer exists
===============  ==========================================================================

An event with an ``errorDeclaration`` is not a fact of its own: capture maps it to a correction
of the stored event it re-sends (read.correction_from_epcis, corrections.py), and export gives a
corrected event its declaration back (``ct:correction`` names the signed correction). Export writes the computed verdicts, never taken from input: a test report's
disposition is ``conformant`` / ``non_conformant``; a recall is an ObjectEvent with bizStep
``holding`` and disposition ``recalled`` (``recall_event``). A quantity without a UN/ECE code we
know (KGM, GRM, TNE, LTR, MLT) keeps its unit in ``ct:unit`` (inputs: ``ct:inputUnits``).

Identifiers are GS1 Digital Link URIs (``https://id.gs1.org/01/<GTIN>/10/<lot>``,
``.../21/<serial>``, ``.../00/<SSCC>``, ``.../414/<GLN>/254/<ext>``) or EPC URNs
(``urn:epc:class:lgtin:…``, ``urn:epc:id:sgtin:…``, ``urn:epc:id:sscc:…``, ``urn:epc:id:sgln:…``);
export writes Digital Link. Every field of the original EPCIS event that this table does not name is
kept verbatim with the stored original and exported back unchanged (see capture.py).
This module writes EPCIS (``to_epcis``); read.py reads it (``from_epcis``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.epcisids import to_digital_link
from cradletrace.epcis.validation import is_uri

CT = "https://ns.cradletrace.org/epcis/"
DL = "https://id.gs1.org"
CONTEXT: list[Any] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ct": CT}]
UOM = {"kg": "KGM", "g": "GRM", "t": "TNE", "L": "LTR", "mL": "MLT"}  # UN/ECE Rec. 20 codes
UNIT = {v: k for k, v in UOM.items()}
_DL_CLASS = re.compile(r"^https?://[^/]+(?:/[^?#]*)?/01/(\d{14})/10/([^/?#]+)$")
_DL_ITEM = re.compile(r"^https?://[^/]+(?:/[^?#]*)?/01/(\d{14})(?:/10/([^/?#]+))?/21/([^/?#]+)$")
_URN_CLASS = re.compile(r"^urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)$")
_URN_ITEM = re.compile(r"^urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)$")
GEO = re.compile(r"^geo:(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)(?:[,;].*)?$")
_DL_SSCC = re.compile(r"^https?://[^/]+(?:/[^?#]*)?/00/(\d{18})$")
_DL_GLN = re.compile(r"^https?://[^/]+(?:/[^?#]*)?/414/(\d{13})(?:/254/([^/?#]+))?$")
ORDER = CT + "order/"


# -- identifiers ----------------------------------------------------------------------------


def lot_uri(gtin: str, lot: str) -> str:
    return f"{DL}/01/{gtin}/10/{quote(lot, safe='')}"


def item_uri(gtin: str, serial: str) -> str:
    return f"{DL}/01/{gtin}/21/{quote(serial, safe='')}"


def _urn_gtin(company: str, item: str) -> str:
    body = item[:1] + company + item[1:]
    return body + str(gtin_check_digit(body)) if len(body) == 13 else ""


def parse_lot(uri: object) -> tuple[str, str] | None:
    """(GTIN, lot) of an LGTIN class, as Digital Link or EPC URN; None for anything else."""
    if not isinstance(uri, str):
        return None
    if m := _DL_CLASS.match(uri):
        return m.group(1), unquote(m.group(2))
    if (m := _URN_CLASS.match(uri)) and (g := _urn_gtin(m.group(1), m.group(2))):
        return g, unquote(m.group(3))
    return None


def parse_item(uri: object) -> tuple[str, str, str | None] | None:
    """(GTIN, serial, lot or None) of an SGTIN, as Digital Link or EPC URN."""
    if not isinstance(uri, str):
        return None
    if m := _DL_ITEM.match(uri):
        return m.group(1), unquote(m.group(3)), unquote(m.group(2)) if m.group(2) else None
    if (m := _URN_ITEM.match(uri)) and (g := _urn_gtin(m.group(1), m.group(2))):
        return g, unquote(m.group(3)), None
    return None


def unit_uri(unit: Mapping[str, str]) -> str:
    """A unit of a pack, move or sale event as Digital Link: ``…/00/<SSCC>`` or ``…/01/<GTIN>/21/<serial>``."""
    return f"{DL}/00/{unit['sscc']}" if "sscc" in unit else item_uri(unit["gtin"], unit["serial"])


def parse_unit(uri: object) -> dict[str, str] | None:
    """A pallet (``{"sscc"}``) or a can or case (``{"gtin", "serial"}``) from an SSCC or SGTIN as
    Digital Link (any host) or EPC URN; None for anything else."""
    if (item := parse_item(uri)) is not None:
        return {"gtin": item[0], "serial": item[1]}
    m = _DL_SSCC.match(_canonical(uri))
    return {"sscc": m.group(1)} if m else None


def _canonical(uri: object) -> str:
    """An EPC URN as its Digital Link URI; a URI that is not one of those, as it is."""
    if not isinstance(uri, str):
        return ""
    return (to_digital_link(uri) or uri) if uri.startswith("urn:epc:") else uri


def place_uri(place: Mapping[str, str]) -> str:
    """A place as Digital Link: ``…/414/<GLN>``, with ``/254/<extension>`` for a sub-location."""
    ext = place.get("extension")
    return f"{DL}/414/{place['gln']}" + (f"/254/{quote(ext, safe='')}" if ext else "")


def parse_place(uri: object) -> dict[str, str] | None:
    """``{"gln"[, "extension"]}`` of an SGLN (``urn:epc:id:sgln:…``) or a ``…/414/<GLN>[/254/<ext>]`` URI."""
    m = _DL_GLN.match(_canonical(uri))
    if m is None:
        return None
    return {"gln": m.group(1)} | ({"extension": unquote(m.group(2))} if m.group(2) else {})


# -- small conversions -----------------------------------------------------------------------


def _offset(ts: str) -> str:
    off = datetime.fromisoformat(ts.replace("Z", "+00:00")).utcoffset()
    minutes = int(off.total_seconds() // 60) if off is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _when(value: str) -> dict[str, str]:
    ts = f"{value}T00:00:00Z" if len(value) == 10 else value
    return {"eventTime": ts, "eventTimeZoneOffset": _offset(ts)}


def day(ts: str) -> str:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).date().isoformat()


def ct_obj(value: Any) -> Any:
    """A cradletrace object with every key in the ct namespace (nested too), for an extension."""
    if isinstance(value, dict):
        return {f"ct:{k}": ct_obj(v) for k, v in value.items()}
    return value


def _quantity(gtin: str, lot: str, quantity: float | None, unit: str | None) -> dict[str, Any]:
    q: dict[str, Any] = {"epcClass": lot_uri(gtin, lot)}
    if quantity is not None:
        q["quantity"] = quantity
    if unit in UOM:
        q["uom"] = UOM[unit]
    return q


def location(site: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": f"geo:{site['lat']},{site['lon']}",
        **ct_obj({k: v for k, v in site.items() if k not in ("lat", "lon")}),
    }


# -- cradletrace -> EPCIS --------------------------------------------------------------------

# A shipment's documents that are certificates in CBV's sense (certificationInfo: "references to
# certificates"): what a plain EPCIS reader should find there besides ct:documents.
CERTIFICATE_KINDS = ("health_certificate", "certificate_of_analysis")


def _shipment_documents(documents: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A shipment's documents in EPCIS: all of them exactly in ``ct:documents`` (what read.py takes
    back); for readers that know only the standard, certificates' links in ``certificationInfo``
    and bills of lading as ``bol`` business transactions (their link as the transaction's id)."""
    out: dict[str, Any] = {"ct:documents": [ct_obj(dict(doc)) for doc in documents]}
    if certificates := [doc["uri"] for doc in documents if doc["kind"] in CERTIFICATE_KINDS]:
        out["certificationInfo"] = certificates
    if bols := [doc["uri"] for doc in documents if doc["kind"] == "bill_of_lading"]:
        out["bizTransactionList"] = [{"type": "bol", "bizTransaction": uri} for uri in bols]
    return out


def to_epcis(event: Mapping[str, Any], outcome: str | None = None) -> dict[str, Any]:
    """The EPCIS 2.0 event for a (valid) cradletrace event; no eventID (that is its hash)."""
    kind, d = event["kind"], event["data"]
    out: dict[str, Any]
    if kind == "batch":
        q = _quantity(d["product"]["gtin"], d["lot"], d["quantity"], d["unit"])
        ilmd = {
            "cbvmda:lotNumber": d["lot"],
            "cbvmda:itemExpirationDate": d["expires_on"],
            "ct:productName": d["product"]["name"],
        }
        if d["inputs"]:
            out = {
                "type": "TransformationEvent",
                **_when(d["produced_on"]),
                "inputQuantityList": [
                    _quantity(x["gtin"], x["lot"], x.get("quantity"), x.get("unit")) for x in d["inputs"]
                ],
                "outputQuantityList": [q],
            }
            odd = {
                lot_uri(x["gtin"], x["lot"]): x["unit"] for x in d["inputs"] if x.get("unit") and x["unit"] not in UOM
            }
            if odd:
                out["ct:inputUnits"] = odd
        else:
            out = {"type": "ObjectEvent", **_when(d["produced_on"]), "action": "ADD", "quantityList": [q]}
        out |= {"bizStep": "commissioning", "disposition": "active", "bizLocation": location(d["site"]), "ilmd": ilmd}
        if d["unit"] not in UOM:
            out["ct:unit"] = d["unit"]
    elif kind == "commission":
        out = {
            "type": "ObjectEvent",
            **_when(d["commissioned_at"]),
            "action": "ADD",
            "epcList": [item_uri(d["lot"]["gtin"], s) for s in d["serials"]],
            "bizStep": "commissioning",
            "disposition": "active",
            "ilmd": {"cbvmda:lotNumber": d["lot"]["lot"]},
        }
    elif kind == "shipment":
        out = {
            "type": "ObjectEvent",
            **_when(d["shipped_at"]),
            "action": "OBSERVE",
            "quantityList": [_quantity(d["lot"]["gtin"], d["lot"]["lot"], d["quantity"], d["unit"])],
            "bizStep": "shipping",
            "disposition": "in_transit",
            "sourceList": [{"type": "location", "source": location(d["from_site"])["id"]}],
            "destinationList": [{"type": "location", "destination": location(d["to_site"])["id"]}],
            "ct:shipmentID": d["id"],
            "ct:fromSite": location(d["from_site"]),
            "ct:toSite": location(d["to_site"]),
        }
        if d["unit"] not in UOM:
            out["ct:unit"] = d["unit"]
        if d.get("received_at"):
            out["ct:receivedAt"] = d["received_at"]
        if d.get("customs"):
            out["ct:customs"] = ct_obj(d["customs"])
        if d.get("documents"):
            out |= _shipment_documents(d["documents"])
    elif kind == "test_report":
        reports = []
        for a in d["analytes"]:
            field = "microorganism" if a["category"] == "microbiology" else "chemicalSubstance"
            head = {
                "type": "Count" if field == "microorganism" else "MassConcentration",
                field: f"{CT}analyte/{quote(a['name'], safe='')}",
            }
            if "results" in a:  # a sampling plan: one sensorReport per sample unit, each with the plan
                own = ct_obj({k: v for k, v in a.items() if k != "results"})
                reports += [{**head, "value": x, **own, "ct:resultIndex": j} for j, x in enumerate(a["results"])]
            else:
                reports.append({**head, "value": a["value"], **ct_obj(a)})
        meta = {"time": f"{d['sampled_on']}T00:00:00Z", "ct:documentSha256": d["document"]["sha256"]}
        meta |= (
            {"rawData": d["document"]["uri"]}
            if is_uri(d["document"]["uri"])
            else {"ct:documentURI": d["document"]["uri"]}
        )
        out = {
            "type": "ObjectEvent",
            **_when(d["reported_on"]),
            "action": "OBSERVE",
            "quantityList": [_quantity(d["batch"]["gtin"], d["batch"]["lot"], None, None)],
            "bizStep": "inspecting",
            "sensorElementList": [{"sensorMetadata": meta, "sensorReport": reports}],
            "ct:lab": ct_obj(d["lab"]),
        }
        if outcome:
            out["disposition"] = "conformant" if outcome == "pass" else "non_conformant"
    elif kind == "cold_chain":
        readings = [{"type": "Temperature", "time": r["at"], "value": r["c"], "uom": "CEL"} for r in d["readings"]]
        meta = {"ct:logger": ct_obj(d["logger"]), "ct:range": ct_obj(d["range"])}
        out = {
            "type": "ObjectEvent",
            **_when(d["readings"][-1]["at"]),
            "action": "OBSERVE",
            "bizStep": "sensor_reporting",
            "sensorElementList": [{"sensorMetadata": meta, "sensorReport": readings}],
        }
        if d.get("lot"):
            out["quantityList"] = [_quantity(d["lot"]["gtin"], d["lot"]["lot"], None, None)]
        else:
            out |= {"epcList": [], "ct:shipmentID": d["shipment"]}
    elif kind in ("pack", "unpack"):
        out = {
            "type": "AggregationEvent",
            **_when(d["at"]),
            "parentID": unit_uri(d["parent"]),
            "childEPCs": [unit_uri(c) for c in d["children"]],
            "action": "ADD" if kind == "pack" else "DELETE",
            "bizStep": "packing" if kind == "pack" else "unpacking",
            "disposition": "in_progress",
        }
        if d.get("place"):
            out |= {"readPoint": {"id": place_uri(d["place"])}, "bizLocation": {"id": place_uri(d["place"])}}
    elif kind == "move":
        shipping = d["action"] == "ship"
        out = {
            "type": "ObjectEvent",
            **_when(d["at"]),
            "epcList": [unit_uri(u) for u in d["units"]],
            "action": "OBSERVE",
            "bizStep": "shipping" if shipping else "receiving",
            "disposition": "in_transit" if shipping else "in_progress",
        }
        here = d["from_place"] if shipping else d["to_place"]
        out["readPoint"] = {"id": place_uri(here)}
        if not shipping:
            out["bizLocation"] = {"id": place_uri(here)}
        if d.get("from_place"):
            out["sourceList"] = [{"type": "location", "source": place_uri(d["from_place"])}]
        if d.get("to_place"):
            out["destinationList"] = [{"type": "location", "destination": place_uri(d["to_place"])}]
        if d.get("consignee"):
            out["ct:consignee"] = d["consignee"]
    elif kind == "sale":
        out = {
            "type": "ObjectEvent",
            **_when(d["sold_at"]),
            "epcList": [unit_uri(d["unit"])],
            "action": "OBSERVE",
            "bizStep": "retail_selling",
            "disposition": "retail_sold",
            "bizTransactionList": [{"type": "po", "bizTransaction": ORDER + quote(d["order"], safe="")}],
            "ct:buyer": d["buyer"],
        }
    else:
        raise ValueError(f"kind: expected a cradletrace event kind, got {kind!r}")
    return out


def recall_event(gtin: str, lot: str, recall_id: int, reason: str, severity: str, started_at: str) -> dict[str, Any]:
    """A recall of one lot as EPCIS: disposition ``recalled``."""
    return {
        "type": "ObjectEvent",
        **_when(started_at),
        "action": "OBSERVE",
        "quantityList": [_quantity(gtin, lot, None, None)],
        "bizStep": "holding",
        "disposition": "recalled",
        "ct:recall": ct_obj({"id": recall_id, "reason": reason, "severity": severity}),
    }

"""EPCIS XML <-> the JSON-LD document the rest of cradletrace.epcis consumes.

Partners still exchange EPCIS 1.2 and 2.0 XML; capture, hashing and export all work on the
JSON-LD form, so XML is converted at the edge and nothing downstream knows it came as XML.

In: an EPCIS 2.0 document (namespace ``urn:epcglobal:epcis:xsd:2``) is validated against GS1's
XSDs (vendored in data/epcis/xsd, schema loaded once); an EPCIS 1.2 document (namespace
``urn:epcglobal:epcis:xsd:1``) has no XSD here, so the converter checks its structure (known
event types, required fields, the action) and the JSON schema checks the result as it checks any
JSON-LD document. 1.2 ``<extension>``/``<baseExtension>`` wrappers are flattened: what they carry
(quantityList, sourceList, ilmd, eventID, errorDeclaration, TransformationEvent) is the same field
in 2.0. Extension elements keep their namespace: a ``prefix:name`` key, the prefix in ``@context``.
The SBDH header and master data are not carried over (they are not events).

Parsing is safe: no DTD loading, no entity expansion, no network, no huge trees, a size cap; a
document that declares entities (XXE, billion laughs) is refused outright.

Out: ``to_xml`` writes an EPCIS 2.0 XML document in the XSD's element order, valid against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.resources import as_file, files
from typing import Any, cast

from lxml import etree

from cradletrace.errors import InvalidEpcisError, Problem

EPCIS2 = "urn:epcglobal:epcis:xsd:2"
EPCIS1 = "urn:epcglobal:epcis:xsd:1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MEDIA_TYPES = ("application/xml", "text/xml")
MAX_XML_BYTES = 64 * 1024 * 1024  # the same order as the JSON capture limit: 10 000 events with sensor data

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
_TEXT = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "certificationInfo", "action", "bizStep")
_TEXT2 = ("disposition", "parentID", "transformationID")
_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_PAIRS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
_NUMBERS = frozenset({"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"})
_WRAPPERS = frozenset({"extension", "baseExtension"})
# Namespaces the standard EPCIS 2.0 JSON-LD context declares (XML often writes cbvmda without its colon).
_STANDARD = {
    "urn:epcglobal:cbv:mda:": "cbvmda",
    "urn:epcglobal:cbv:mda": "cbvmda",
    "https://gs1.org/voc/": "gs1",
    "https://ref.gs1.org/cbv/": "cbv",
    "https://ref.gs1.org/epcis/": "epcis",
}
# Where a bare CBV word goes in XML (the URN form GS1's XML examples use).
_URN = {
    "bizStep": "urn:epcglobal:cbv:bizstep:",
    "disposition": "urn:epcglobal:cbv:disp:",
    "bizTransaction": "urn:epcglobal:cbv:btt:",
    "source": "urn:epcglobal:cbv:sdt:",
    "destination": "urn:epcglobal:cbv:sdt:",
    "reason": "urn:epcglobal:cbv:er:",
}

# Element order of each event type in EPCglobal-epcis-2_0.xsd (after the common head).
_HEAD = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration", "certificationInfo")
_TAIL = ("sourceList", "destinationList", "sensorElementList", "persistentDisposition")
_ORDER: dict[str, tuple[str, ...]] = {
    "ObjectEvent": (
        *("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList"),
        *("quantityList", *_TAIL, "ilmd"),
    ),
    "AggregationEvent": (
        *("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation"),
        *("bizTransactionList", "childQuantityList", *_TAIL),
    ),
    "TransactionEvent": (
        *("bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition"),
        *("readPoint", "bizLocation", "quantityList", *_TAIL),
    ),
    "TransformationEvent": (
        *("inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList", "transformationID"),
        *("bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList", *_TAIL, "ilmd"),
    ),
    "AssociationEvent": (
        *("parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition"),
        *("readPoint", "bizLocation", "bizTransactionList", *_TAIL),
    ),
}


def is_xml(media_type: str | None, data: bytes | str = b"") -> bool:
    """True for an XML media type, or (no type given: a file) a body that starts like XML."""
    if media_type:
        return media_type.split(";")[0].strip().lower() in MEDIA_TYPES
    head = data[:64].lstrip() if isinstance(data, bytes) else data[:64].lstrip().encode()
    return head.startswith((b"<", b"\xef\xbb\xbf<"))


# -- parsing and validation -----------------------------------------------------------------


def parse(data: bytes | str) -> etree._Element:
    """The root element of a well-formed document; refuses oversize input and any entity declaration."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_XML_BYTES:
        raise InvalidEpcisError(Problem("", f"expected an XML document of at most {MAX_XML_BYTES} bytes"))
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidEpcisError(Problem(f"line {exc.lineno}", f"expected well-formed XML: {exc.msg}")) from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in cast(Any, dtd).iterentities()):  # stubs lack it
        raise InvalidEpcisError(Problem("DOCTYPE", "expected no entity declarations (refused: XXE / entity expansion)"))
    for el in root.iter(etree.Entity):
        raise InvalidEpcisError(Problem(f"line {el.sourceline}", "expected no entity references"))
    return root


@cache
def _schema() -> etree.XMLSchema:
    """GS1's EPCIS 2.0 XSD; its imports are resolved from the vendored folder, never the network."""
    with as_file(files("cradletrace").joinpath("data", "epcis", "xsd")) as folder:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        doc = etree.parse(str(folder / "EPCglobal-epcis-2_0.xsd"), parser)
        return etree.XMLSchema(doc)


def xsd_problems(root: etree._Element) -> list[Problem]:
    """Every XSD error, each naming its line and element path."""
    schema = _schema()
    if schema.validate(root):
        return []
    return [Problem(f"line {e.line} {e.path}", e.message) for e in cast(Iterable[Any], schema.error_log)]


# -- XML -> JSON-LD -------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _ns(el: etree._Element) -> str | None:
    return etree.QName(el).namespace


def _where(el: etree._Element) -> str:
    return f"line {el.sourceline} <{_local(el)}>"


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


def _bare(name: str) -> Any:
    """A reader that gives a CBV URN (``urn:epcglobal:cbv:bizstep:receiving``) as its bare word, the
    JSON-LD form; the CBV 2.0 event hash treats both as the same value."""
    prefix = _URN[name]
    return lambda el: _text(el).removeprefix(prefix)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements, with no-namespace extension/baseExtension wrappers (EPCIS 1.2) flattened."""
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if _ns(child) is None and _local(child) in _WRAPPERS:
            yield from _elements(child)
        else:
            yield child


class _Reader:
    """One document's conversion: collects the extension namespaces and the problems."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.namespaces: dict[str, str] = {}
        self.problems: list[Problem] = []

    def key(self, qname: etree.QName, el: etree._Element) -> str:
        ns = qname.namespace
        if ns is None:
            return qname.localname
        if ns in _STANDARD:  # the EPCIS 2.0 context declares it: the JSON-LD form uses its prefix undeclared
            return f"{_STANDARD[ns]}:{qname.localname}"
        prefix = next((p for p, u in (el.nsmap or {}).items() if u == ns and p), None)
        prefix = prefix or next((p for p, u in self.namespaces.items() if u == ns), None)
        if prefix is None or self.namespaces.get(prefix, ns) != ns:
            prefix = f"ns{len(self.namespaces) + 1}"
        self.namespaces[prefix] = ns
        return f"{prefix}:{qname.localname}"

    def ext(self, el: etree._Element) -> Any:
        """An extension element's value: its text, or an object of its children (repeats: a list)."""
        kids = list(_elements(el))
        if not kids:
            return _text(el)
        out: dict[str, Any] = {}
        for child in kids:
            self.put(out, self.key(etree.QName(child), child), self.ext(child))
        return out

    @staticmethod
    def put(out: dict[str, Any], key: str, value: Any) -> None:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]

    def attrs(self, el: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in el.attrib.items():
            q = etree.QName(name)
            if q.namespace == XSI:
                continue
            if q.namespace is None and q.localname in _NUMBERS:
                try:
                    out[q.localname] = _number(value)
                except ValueError:
                    self.problems.append(Problem(_where(el), f"expected a number in {q.localname}, got {value!r}"))
            elif q.namespace is None and q.localname == "type" and el.tag == "sensorReport":
                out["type"] = value.removeprefix("gs1:")  # the JSON-LD form: a bare term of the GS1 vocabulary
            elif q.namespace is None and q.localname == "booleanValue":
                out[q.localname] = value.strip() in ("true", "1")
            else:
                out[self.key(q, el)] = value
        return out

    def object(self, el: etree._Element, known: Mapping[str, Any]) -> dict[str, Any]:
        """Standard children by ``known[name](child)``, namespaced ones as extensions."""
        out: dict[str, Any] = {}
        for child in _elements(el):
            name = _local(child)
            if _ns(child) is None and name in known:
                self.put(out, name, known[name](child))
            elif _ns(child) is None:
                self.problems.append(Problem(_where(child), f"expected no {name} element inside {_local(el)}"))
            else:
                self.put(out, self.key(etree.QName(child), child), self.ext(child))
        return out

    def quantity(self, el: etree._Element) -> dict[str, Any]:
        out = self.object(el, {"epcClass": _text, "quantity": _text, "uom": _text})
        if out.get("quantity") == "":  # xsi:nil: no quantity stated
            del out["quantity"]
        if "quantity" in out:
            try:
                out["quantity"] = _number(out["quantity"])
            except ValueError:
                self.problems.append(Problem(_where(el), f"expected a number in quantity, got {out['quantity']!r}"))
        return out

    def sensor_element(self, el: etree._Element) -> dict[str, Any]:
        out = self.object(el, {"sensorMetadata": self.attrs, "sensorReport": self.attrs})
        if isinstance(out.get("sensorReport"), dict):
            out["sensorReport"] = [out["sensorReport"]]
        return out

    def error_declaration(self, el: etree._Element) -> dict[str, Any]:
        out = self.object(
            el,
            {
                "declarationTime": _text,
                "reason": _bare("reason"),
                "correctiveEventIDs": lambda c: [_text(i) for i in _elements(c)],
            },
        )
        return out

    def persistent(self, el: etree._Element) -> dict[str, Any]:
        out: dict[str, list[str]] = {}
        for child in _elements(el):
            out.setdefault(_local(child), []).append(_text(child).removeprefix(_URN["disposition"]))
        return out

    def event(self, el: etree._Element) -> dict[str, Any]:
        kind = _local(el)

        def pairs(name: str) -> Any:
            item = _PAIRS[name]
            return lambda c: [
                {
                    **({"type": i.get("type", "").removeprefix(_URN[item])} if i.get("type") is not None else {}),
                    item: _text(i),
                }
                for i in _elements(c)
            ]

        def listed(c: etree._Element) -> list[str]:
            return [_text(i) for i in _elements(c)]

        known: dict[str, Any] = dict.fromkeys((*_TEXT, *_TEXT2), _text)
        known.update(dict.fromkeys(_EPC_LISTS, listed))
        known.update({name: (lambda c: [self.quantity(i) for i in _elements(c)]) for name in _QUANTITY_LISTS})
        known.update({name: pairs(name) for name in _PAIRS})
        known.update(bizStep=_bare("bizStep"), disposition=_bare("disposition"))
        known.update(
            readPoint=lambda c: self.object(c, {"id": _text}),
            bizLocation=lambda c: self.object(c, {"id": _text}),
            sensorElementList=lambda c: [self.sensor_element(i) for i in _elements(c)],
            persistentDisposition=self.persistent,
            errorDeclaration=self.error_declaration,
            ilmd=lambda c: self.object(c, {}),
        )
        body = self.object(el, known)
        if self.version == EPCIS1:
            self.check_structure(el, kind, body)
        return {"type": kind, **body}

    def check_structure(self, el: etree._Element, kind: str, body: Mapping[str, Any]) -> None:
        """EPCIS 1.2 has no XSD here: the fields every event needs, and the action's values."""
        need = ["eventTime", "eventTimeZoneOffset"] + ([] if kind == "TransformationEvent" else ["action"])
        if kind == "TransactionEvent":
            need.append("bizTransactionList")
        for name in need:
            if name not in body:
                self.problems.append(Problem(_where(el), f"expected a {name} element in {kind}"))
        if "action" in body and body["action"] not in ("ADD", "OBSERVE", "DELETE"):
            self.problems.append(Problem(_where(el), f"expected action ADD, OBSERVE or DELETE, got {body['action']!r}"))

    def events(self, event_list: etree._Element) -> list[dict[str, Any]]:
        out = []
        for child in _elements(event_list):
            if _ns(child) is None and _local(child) in EVENT_TYPES:
                out.append(self.event(child))
            else:
                self.problems.append(
                    Problem(_where(child), f"expected an event ({', '.join(EVENT_TYPES)}), got {_local(child)}")
                )
        return out


def to_json(root: etree._Element) -> dict[str, Any]:
    """The JSON-LD EPCISDocument of a parsed XML document (2.0 checked against the XSD first)."""
    version = _ns(root)
    if _local(root) != "EPCISDocument" or version not in (EPCIS1, EPCIS2):
        raise InvalidEpcisError(
            Problem(
                _where(root),
                f"expected an EPCISDocument in namespace {EPCIS2} (EPCIS 2.0) or {EPCIS1} (EPCIS 1.2), "
                f"got {{{version}}}{_local(root)}",
            )
        )
    if version == EPCIS2:
        problems = xsd_problems(root)
        if problems:
            raise InvalidEpcisError(problems)
    reader = _Reader(version)
    body = next((c for c in root if isinstance(c.tag, str) and _local(c) == "EPCISBody"), None)
    event_list = None if body is None else next((c for c in body if _local(c) == "EventList"), None)
    if body is None:
        reader.problems.append(Problem(_where(root), "expected an EPCISBody element"))
    events = [] if event_list is None else reader.events(event_list)
    if root.get("creationDate") is None:
        reader.problems.append(Problem(_where(root), "expected a creationDate attribute"))
    if reader.problems:
        raise InvalidEpcisError(reader.problems)
    context: list[Any] = [CONTEXT_URL, *({p: u} for p, u in sorted(reader.namespaces.items()))]
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": root.get("creationDate"),
        "epcisBody": {"eventList": events},
    }


def load(data: bytes | str) -> dict[str, Any]:
    """Parse, validate and convert an EPCIS 1.2 or 2.0 XML document to its JSON-LD form."""
    return to_json(parse(data))


# -- JSON-LD -> XML -------------------------------------------------------------------------


def _prefixes(context: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in context if isinstance(context, list) else [context]:
        if isinstance(item, dict):
            out.update({k: v for k, v in item.items() if isinstance(v, str) and not k.startswith("@")})
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Writer:
    def __init__(self, prefixes: Mapping[str, str]) -> None:
        self.prefixes = dict(prefixes)

    def qname(self, key: str) -> str | None:
        """``{namespace}local`` of a ``prefix:local`` key; None for a key we cannot place."""
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.prefixes and local and not local.startswith("/"):
            return f"{{{self.prefixes[prefix]}}}{local}"
        return None

    def add(self, parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
        el = etree.SubElement(parent, tag)
        if text is not None:
            el.text = _scalar(text)
        return el

    def ext(self, parent: etree._Element, key: str, value: Any, nested: bool = False) -> None:
        """An extension element; inside one, a key without a prefix is an element in no namespace
        (as GS1's WithExtension examples nest them)."""
        tag = self.qname(key) or (key if nested and ":" not in key and key.isidentifier() else None)
        if tag is None:
            return
        for item in value if isinstance(value, list) else [value]:
            el = etree.SubElement(parent, tag)
            if isinstance(item, dict):
                for k, v in item.items():
                    self.ext(el, k, v, nested=True)
            else:
                el.text = _scalar(item)

    def exts(self, parent: etree._Element, obj: Mapping[str, Any], skip: tuple[str, ...] = ()) -> None:
        for k, v in obj.items():
            if k not in skip and ":" in k:
                self.ext(parent, k, v)

    def attrs(self, el: etree._Element, obj: Mapping[str, Any]) -> None:
        for k, v in obj.items():
            if isinstance(v, dict | list):
                continue
            if k == "type" and isinstance(v, str) and ":" not in v:
                v = "gs1:" + v  # a bare measurement type is a term of the GS1 web vocabulary
            tag = k if ":" not in k else self.qname(k)
            if tag is not None:
                el.set(tag, _scalar(v))

    def field(self, ev: etree._Element, name: str, value: Any) -> None:
        if name in _EPC_LISTS:
            holder = self.add(ev, name)
            for epc in value:
                self.add(holder, "epc", epc)
        elif name in _QUANTITY_LISTS:
            holder = self.add(ev, name)
            for q in value:
                qe = self.add(holder, "quantityElement")
                for k in ("epcClass", "quantity", "uom"):
                    if k in q:
                        self.add(qe, k, q[k])
        elif name in _PAIRS:
            holder = self.add(ev, name)
            for item in value:
                el = self.add(holder, _PAIRS[name], item.get(_PAIRS[name]))
                if "type" in item:
                    el.set("type", _urn(_PAIRS[name], item["type"]))
        elif name in ("readPoint", "bizLocation"):
            el = self.add(ev, name)
            self.add(el, "id", value.get("id"))
            self.exts(el, value)
        elif name == "sensorElementList":
            holder = self.add(ev, name)
            for element in value:
                se = self.add(holder, "sensorElement")
                if "sensorMetadata" in element:
                    self.attrs(self.add(se, "sensorMetadata"), element["sensorMetadata"])
                for report in element.get("sensorReport", []):
                    self.attrs(self.add(se, "sensorReport"), report)
                self.exts(se, element)
        elif name == "persistentDisposition":
            el = self.add(ev, name)
            for k in ("unset", "set"):
                for v in value.get(k, []):
                    self.add(el, k, _urn("disposition", v))
        elif name == "errorDeclaration":
            el = self.add(ev, name)
            if "declarationTime" in value:
                self.add(el, "declarationTime", value["declarationTime"])
            if "reason" in value:
                self.add(el, "reason", _urn("reason", value["reason"]))
            if "correctiveEventIDs" in value:
                ids = self.add(el, "correctiveEventIDs")
                for i in value["correctiveEventIDs"]:
                    self.add(ids, "correctiveEventID", i)
            self.exts(el, value)
        elif name == "ilmd":
            el = self.add(ev, name)
            self.exts(el, value)
        else:
            self.add(ev, name, _urn(name, value) if name in _URN else value)

    def event(self, parent: etree._Element, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind not in _ORDER:
            raise InvalidEpcisError(Problem("/type", f"expected one of {', '.join(EVENT_TYPES)}, got {kind!r}"))
        saved = self.prefixes
        if "@context" in event:
            self.prefixes = {**saved, **_prefixes(event["@context"])}
        ev = self.add(parent, kind)
        for name in (*_HEAD, *_ORDER[kind]):
            if name in event:
                self.field(ev, name, event[name])
        self.exts(ev, event)
        self.prefixes = saved


def _urn(name: str, value: Any) -> Any:
    """A bare CBV word (``receiving``) in the URN form the XML bindings use."""
    if isinstance(value, str) and name in _URN and ":" not in value and value:
        return _URN[name] + value
    return value


def to_xml(document: Mapping[str, Any]) -> bytes:
    """An EPCIS 2.0 XML document of a JSON-LD EPCISDocument (extension keys whose prefix the
    @context does not declare, and un-prefixed keys outside the standard, have no XML form: left out)."""
    prefixes = {"gs1": "https://gs1.org/voc/", "cbvmda": "urn:epcglobal:cbv:mda:"}
    prefixes.update(_prefixes(document.get("@context")))
    nsmap: dict[str | None, str] = {"epcis": EPCIS2, **{p: u for p, u in prefixes.items() if p != "epcis"}}
    root = etree.Element(f"{{{EPCIS2}}}EPCISDocument", nsmap=nsmap)  # type: ignore[arg-type]
    root.set("schemaVersion", "2.0")
    root.set("creationDate", str(document.get("creationDate", "")))
    body = etree.SubElement(root, "EPCISBody")
    event_list = etree.SubElement(body, "EventList")
    writer = _Writer(prefixes)
    for event in document.get("epcisBody", {}).get("eventList", []):
        writer.event(event_list, event)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


QUERY2 = "urn:epcglobal:epcis-query:xsd:2"


def to_query_xml(document: Mapping[str, Any]) -> bytes:
    """An EPCISQueryDocument (JSON-LD, query.document) as EPCIS 2.0 XML: its events written as
    ``to_xml`` writes a document's, under ``EPCISBody/epcisq:QueryResults/resultsBody/EventList``."""
    results = document.get("epcisBody", {}).get("queryResults", {})
    events = results.get("resultsBody", {}).get("eventList", [])
    plain = etree.fromstring(to_xml({**document, "epcisBody": {"eventList": events}}))
    nsmap = {**plain.nsmap, "epcisq": QUERY2}
    root = etree.Element(f"{{{QUERY2}}}EPCISQueryDocument", nsmap=nsmap)  # type: ignore[arg-type]
    for k, v in plain.attrib.items():
        root.set(k, v)
    body = etree.SubElement(root, "EPCISBody")
    qr = etree.SubElement(body, f"{{{QUERY2}}}QueryResults")
    etree.SubElement(qr, "queryName").text = str(results.get("queryName", "SimpleEventQuery"))
    rb = etree.SubElement(qr, "resultsBody")
    rb.append(plain.find("EPCISBody/EventList"))  # type: ignore[arg-type]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def capture_job_xml(job: Mapping[str, Any]) -> bytes:
    """A capture job (binding.job_document, GS1's CaptureJob) as EPCIS 2.0 XML: ``epcis:EPCISCaptureJob``."""
    root = etree.Element(f"{{{EPCIS2}}}EPCISCaptureJob", nsmap={"epcis": EPCIS2})
    root.set("running", "true" if job["running"] else "false")
    root.set("success", "true" if job["success"] else "false")
    root.set("captureID", str(job["captureID"]))
    etree.SubElement(root, "captureErrorBehaviour").text = str(job["captureErrorBehaviour"])
    for name in ("createdAt", "finishedAt"):
        if job.get(name):
            etree.SubElement(root, name).text = str(job[name])
    if job.get("errors"):
        errors = etree.SubElement(root, "errors")
        for e in job["errors"]:
            error = etree.SubElement(errors, "error")
            for name, key in (
                ("type", "type"),
                ("title", "title"),
                ("status", "status"),
                ("detail", "detail"),
                ("instance", "pointer"),
            ):
                if e.get(key) is not None:
                    etree.SubElement(error, name).text = str(e[key])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))

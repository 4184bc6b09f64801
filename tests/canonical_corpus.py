"""The shared canonical-bytes corpus (tests/vectors/canonical-corpus.json): what canonical.py writes,
which the browser's canonical.js must write byte for byte (scanner_web/static/canonical.js).

Its inputs are JSON text, read by ``parse_json`` here and by ``JSON.parse`` there, so a number
means the same double on both sides; the expected text and SHA-256 come from canonical.py.
``documents`` are the demo's story (one event of every kind at least) and edge cases;
``refused`` are texts both sides must refuse, with the path canonical.js names.
Write it again with ``.venv/bin/python -m tests.canonical_corpus`` after changing this file;
tests/core/test_canonical_corpus.py fails while the committed file and canonical.py disagree.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cradletrace.core import signing
from cradletrace.core.canonical import MAX_DEPTH, JsonValue, canonical_bytes, parse_json
from cradletrace.core.events import KEY_LOG_SUPPLIER, KINDS
from cradletrace.core.labels import serial_from_bytes
from cradletrace.core.testreport import fill_limits
from cradletrace.demo import FORMULA, story
from cradletrace.workspace import default_limits

CORPUS = Path(__file__).resolve().parent / "vectors" / "canonical-corpus.json"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # the story's clock, fixed so the corpus is too


def private_key(name: str) -> Ed25519PrivateKey:
    """A fixed key per name (its seed is SHA-256 of the name): test data, never a real key."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def key_id(name: str) -> str:
    return signing.key_id(signing.public_key_of(private_key(name)))


def events() -> list[tuple[str, dict[str, Any]]]:
    """(name, unsigned event) for the demo's story plus a commissioning, a key-log record and a filed
    recall report's record, each
    with the key id of its supplier's fixed key and its test reports' limits filled in, as signed."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i, raw in enumerate(story(NOW)):
        event: dict[str, Any] = dict(raw)  # type: ignore[arg-type]
        event = {"kind": event["kind"], "supplier": event["supplier"], "key": key_id(event["supplier"]), **event}
        if event["kind"] == "test_report":  # as recording.sign_submissions fills them in before signing
            event["data"] = fill_limits(event["data"], default_limits())
        out.append((f"demo-{i}-{event['kind']}", event))
    serials = [serial_from_bytes(hashlib.sha256(f"serial {i}".encode()).digest()[:10]) for i in range(5)]
    out.append(
        (
            "commission",
            {
                "kind": "commission",
                "supplier": "alps-nutrition",
                "key": key_id("alps-nutrition"),
                "data": {
                    "lot": {"gtin": FORMULA, "lot": "IF-0001"},
                    "serials": serials,
                    "commissioned_at": "2026-02-20T08:15:00+13:00",
                },
            },
        )
    )
    case = {"gtin": "14219029601010", "serial": "CASE/0001"}  # the formula case: indicator 1, check digit 0
    pallet = {"sscc": "194219029600000014"}
    plant, at = "alps-nutrition", "2026-02-21T10:00:00+13:00"
    logistics = [  # the logistics records (docs/logistics.md): a GLN with a sub-location, an SSCC, a pseudonym
        ("pack", plant, {"parent": case, "children": [{"gtin": FORMULA, "serial": s} for s in serials[:2]], "at": at}),
        ("unpack", plant, {"parent": case, "children": [{"gtin": FORMULA, "serial": serials[1]}], "at": at}),
        (
            "move",
            "pacific-cold",
            {
                "action": "receive",
                "units": [pallet],
                "at": "2026-02-25T16:40:00+08:00",
                "from_place": {"gln": "9421902960000"},
                "to_place": {"gln": "6901234000016", "extension": "COLD-2"},
            },
        ),
        ("sale", "mama-brand", {"unit": case, "order": "WEB-2026-000117", "buyer": "5f" * 32, "sold_at": at}),
    ]
    for kind, supplier, data in logistics:
        out.append((kind, {"kind": kind, "supplier": supplier, "key": key_id(supplier), "data": data}))
    story_digests = [hashlib.sha256(canonical_bytes(e)).hexdigest() for _, e in out[:7]]
    declared = {  # the lab declares its failing report wrong (trace/corrections.py), naming the retest
        "corrects": story_digests[4],
        "declaration_time": "2026-03-01T10:00:00+13:00",
        "reason": "incorrect_data",
        "corrective": [story_digests[3]],
    }
    lab = "canterbury-lab"
    out.append(("correction", {"kind": "correction", "supplier": lab, "key": key_id(lab), "data": declared}))
    public = signing.public_key_of(private_key("alps-nutrition"))
    out.append(
        (
            "key-register",
            {
                "kind": "key",
                "supplier": KEY_LOG_SUPPLIER,
                "key": key_id(KEY_LOG_SUPPLIER),
                "data": {
                    "action": "register",
                    "supplier": "alps-nutrition",
                    "key_id": signing.key_id(public),
                    "public_key": base64.b64encode(public).decode(),
                    "at": "2026-02-01T00:00:00Z",
                    "backfilled": False,
                },
            },
        )
    )
    out.append(
        (
            "report-filed",
            {
                "kind": "report",
                "supplier": KEY_LOG_SUPPLIER,
                "key": key_id(KEY_LOG_SUPPLIER),
                "data": {
                    "recall": 1,
                    "report": "written",
                    "format": "pdf",
                    "sha256": hashlib.sha256(b"%PDF-1.4 report").hexdigest(),
                    "size": 15,
                    "at": "2026-03-01T09:30:00Z",
                    "by": "quality",
                },
            },
        )
    )
    out.append(("epcis-generic", _generic()))
    return out


def _generic() -> dict[str, Any]:
    """A generic ``epcis`` record (an EPCIS event the profile has no kind for, kept whole: docs/epcis.md)."""
    from cradletrace.core.epcishash import event_hash

    context = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-02-21T10:00:00+13:00",
        "eventTimeZoneOffset": "+13:00",
        "epcList": ["urn:epc:id:sgtin:4219029.960101.0001"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {"id": "urn:epc:id:sgln:4219029.60000.0"},
    }
    return {
        "kind": "epcis",
        "supplier": "alps-nutrition",
        "key": key_id("alps-nutrition"),
        "data": {"hash": event_hash(event, context), "event": event, "context": context},
    }


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# (name, JSON text). Written as text, not built from Python values, so that what is parsed is
# exactly what both sides read: escapes, exponents, unsorted keys, integers beyond 2^53.
EDGE_CASES: list[tuple[str, str]] = [
    ("text-chinese", '{"name":"婴儿配方奶粉 一段 800克","note":"批次 IF-0001 已检验，合格","unit":"罐"}'),
    ("text-emoji-non-bmp", '{"emoji":"🍼👶🏽","flag":"🇳🇿","math":"𝔘𝔫𝔦𝔠𝔬𝔡𝔢","escaped":"\\ud83d\\ude00"}'),
    ("text-combining-marks", '{"nfd":"e\\u0301","nfc":"\\u00e9","hangul":"\\u1100\\u1161","zwj":"👩\\u200d🍼"}'),
    (
        "keys-utf16-order",  # code-point order would put the emoji key last; JCS sorts UTF-16 units
        '{"b":1,"a":2,"A":3,"aa":4,"":5,"é":6,"e":7,"€":8,"😀":9,"דּ":10,"中":11,"\\u0080":12,"\\r":13,"1":14}',
    ),
    (
        "keys-nested-order",
        '{"z":{"b":[{"y":1,"x":2}],"a":null},"m":[{"😀":1,"中":2}],"a":{"\\ud800\\udc00":0,"\\uffff":1}}',
    ),
    ("keys-javascript-names", '{"__proto__":{"a":1},"toJSON":"x","constructor":null,"hasOwnProperty":[]}'),
    (
        "numbers-exponents",
        "[1e21,1E21,1e20,100000000000000000000,1e-7,1e-6,0.000001,1e+30,-1.5e-7,2e-3,4.50,0.1,0.2,0.30000000000000004]",
    ),
    ("numbers-zero", "[0,-0,0.0,-0.0,0e10,-0e-10]"),
    ("numbers-extremes", "[5e-324,-5e-324,1.7976931348623157e308,-1.7976931348623157e308,2.2250738585072014e-308]"),
    (
        "numbers-integers",
        "[123456789012,9007199254740991,-9007199254740991,9007199254740992,9007199254740993,"
        "-9007199254740992,18446744073709551616,1.0,100.0,-100.0,333333333.33333329]",
    ),
    ("numbers-in-event", '{"quantity":18500,"lat":-37.7394,"lon":175.2215,"c":4.1,"value":0.004,"max_c":8}'),
    ("empty-object", "{}"),
    ("empty-array", "[]"),
    ("empty-mixed", '{"a":{},"b":[],"c":[{}],"d":[[]],"e":""}'),
    ("nesting", '{"a":[1,{"b":[2,{"c":[3,{"d":{}}]}]}],"e":[[[[[true]]]]]}'),
    (f"nesting-{MAX_DEPTH}-levels", _nested(MAX_DEPTH)),
    (
        "escapes-control",
        '"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u007f\\u0080\\u009f"',
    ),
    ("escapes-quote-backslash", '{"q":"say \\"hi\\"","b":"C:\\\\path\\\\","s":"a\\/b","both":"\\\\\\""}'),
    ("escapes-line-separators", '{"ls":"\\u2028","ps":"\\u2029","bom":"\\ufeff","nbsp":"\\u00a0"}'),
    ("sentinel-lookalike", '["\\u0000F1.5\\u0000",1.5,"F1.5","\\\\u0000F1.5\\\\u0000"]'),
    ("scalar-string", '"婴儿 🍼"'),
    ("scalar-number", "1e21"),
    ("scalar-literals", "[true,false,null]"),
]

# (name, JSON text, the path canonical.js names): refused by canonical.py and by canonical.js.
REFUSED: list[tuple[str, str, str]] = [
    ("lone-high-surrogate", '{"note":"\\ud800"}', "note"),
    ("lone-low-surrogate", '{"data":{"names":["ok","x\\udc00"]}}', "data.names[1]"),
    ("reversed-surrogates", '["\\udc00\\ud83d"]', "[0]"),
    ("lone-surrogate-key", '{"data":{"\\ud83d":1}}', 'data["\\ud83d"]'),
    ("number-too-large", '{"data":{"readings":[{"c":4.1},{"c":1e400}]}}', "data.readings[1].c"),
    ("number-too-small", "[-1e400]", "[0]"),
    ("integer-of-400-digits", "[" + "9" * 400 + "]", "[0]"),
    (f"nesting-{MAX_DEPTH + 1}-levels", _nested(MAX_DEPTH + 1), "[0]" * MAX_DEPTH),
]


def _document(name: str, text: str) -> dict[str, str]:
    canonical = canonical_bytes(parse_json(text))
    return {
        "name": name,
        "input": text,
        "canonical": canonical.decode("utf-8"),
        "sha256": hashlib.sha256(canonical).hexdigest(),
    }


def build() -> dict[str, JsonValue]:
    """The corpus as canonical.py makes it today."""
    documents = [_document(name, json.dumps(event, ensure_ascii=False)) for name, event in events()]
    documents += [_document(name, text) for name, text in EDGE_CASES]
    kinds = {json.loads(d["input"])["kind"] for d in documents[: len(events())]}
    assert kinds == set(KINDS), f"the corpus needs every event kind, has {sorted(kinds)}"
    return {
        "note": (
            "Canonical bytes (RFC 8785) as trace/core/canonical.py writes them, for canonical.js to match byte "
            "for byte. 'input' is JSON text (parse_json / JSON.parse); 'canonical' is its JCS text, whose UTF-8 "
            "is the bytes; 'sha256' is over those bytes. 'refused' inputs are refused by both, 'where' is the "
            "path canonical.js names. Generated by tests/canonical_corpus.py; do not edit by hand."
        ),
        "documents": documents,  # type: ignore[dict-item]
        "refused": [{"name": n, "input": t, "where": w} for n, t, w in REFUSED],  # type: ignore[dict-item]
    }


def render(corpus: dict[str, JsonValue]) -> str:
    return json.dumps(corpus, ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    CORPUS.write_text(render(build()), "utf-8")
    print(f"wrote {CORPUS}")

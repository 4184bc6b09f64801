"""The constrained canonical GS1 Digital Link form of an identifier, as the CBV 2.0 event hash wants it.

The event hash (``epcishash``) writes every GS1 identifier the same way whichever syntax an
event used: EPC URIs (``urn:epc:id:sgtin:...``), EPC class URIs (``urn:epc:class:lgtin:...``),
EPC pattern URIs (``urn:epc:idpat:...``) and GS1 Digital Link URIs on any host all become
``https://id.gs1.org/<AI>/<key>...`` with the finest level of identification and no query
string (CBV 2.0 event hash rules 17 and 18).

The acceptance rules, fixed string offsets and character sets follow the reference
implementation (github.com/RalphTro/epcis-event-hash-generator, release 1.9.3) exactly, odd
corners included (for example a GRAI with a 12-digit company prefix must be written with three
dots, and a Digital Link serial holding ``%`` escapes is left as it is), because a hash that
differs from everybody else's in a corner is worse than a corner that is slightly odd.
Changing anything here changes event hashes that partners have already stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# One character of an EPC URI component (GS1 EPC Tag Data Standard, table I.3.1-1).
_EPC_CHAR = (
    r"(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!')(*+,.0-9:;=A-Za-z_-])"
)
# One character of a CPI component reference.
_CPI_CHAR = r"(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])"
# One character of a Digital Link path value the output may hold (no '%', '/', '#' ...).
_DL_CHAR = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]"


_TWO_DOTS = r"\.\."


def _cp_ref(digits: int, empty_ref: str = r"\.") -> str:
    """Company prefix (6-12 digits) '.' reference, ``digits`` digits in all; ``empty_ref`` when the reference is empty."""
    alts = [rf"\d{{{cp}}}\.\d{{{digits - cp}}}" for cp in range(6, 12) if digits - cp > 0]
    alts.append(rf"\d{{12}}\.\d{{{digits - 12}}}" if digits > 12 else r"\d{12}" + empty_ref)
    return "(?:" + "|".join(alts) + ")"


def _cp_chars(total: int, char: str) -> str:
    """Company prefix (6-12 digits) '.' then 1..(total - prefix length) characters."""
    return "(?:" + "|".join(rf"\d{{{cp}}}\.{char}{{1,{total - cp}}}" for cp in range(6, 13)) + ")"


def _escape(value: str) -> str:
    """Percent-encode the characters GS1 Digital Link needs escaped that an EPC URI may carry bare."""
    for char, code in (
        ("!", "%21"),
        ("(", "%28"),
        (")", "%29"),
        ("*", "%2A"),
        ("+", "%2B"),
        (",", "%2C"),
        (":", "%3A"),
    ):
        value = value.replace(char, code)
    return value


def check_digit(digits: str) -> str:
    """GS1 mod-10 check digit (GS1 General Specifications 7.9.1): weights 3,1,3,... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def _keyed(digits: str) -> str:
    return digits + check_digit(digits)


_ID = "https://id.gs1.org/"
# (pattern, length of the scheme prefix, builder(uri, company prefix, index of the first '.'))
_Builder = Callable[[str, str, int], str]


def _gtin(uri: str, cp: str, dot: int) -> str:
    item = uri[dot + 1 : dot + 1 + 13 - len(cp)]
    return _keyed(item[:1] + cp + item[1:])


def _twelve(uri: str, cp: str, dot: int) -> str:
    return cp + uri[dot + 1 : dot + 1 + 12 - len(cp)]


def _sgln(uri: str, cp: str, dot: int) -> str:
    gln, extension = _keyed(_twelve(uri, cp, dot)), uri[30:]
    return f"{_ID}414/{gln}" if extension == "0" else f"{_ID}414/{gln}/254/{_escape(extension)}"


def _cpi(uri: str, cp: str, dot: int) -> str:
    last = uri.rfind(".")
    return f"{_ID}8010/{_escape(cp + uri[dot + 1 : last])}/8011/{uri[last + 1 :]}"


_EPC: list[tuple[str, int, _Builder]] = [
    (
        rf"urn:epc:id:sgtin:{_cp_ref(13)}\.{_EPC_CHAR}{{1,20}}",
        17,
        lambda u, cp, d: f"{_ID}01/{_gtin(u, cp, d)}/21/{_escape(u[32:])}",
    ),
    (rf"urn:epc:id:sscc:{_cp_ref(17)}", 16, lambda u, cp, d: f"{_ID}00/{_keyed(u[d + 1] + cp + u[d + 2 :])}"),
    (rf"urn:epc:id:sgln:{_cp_ref(12)}\.{_EPC_CHAR}{{1,20}}", 16, _sgln),
    (
        rf"urn:epc:id:grai:{_cp_ref(12, _TWO_DOTS)}\.{_EPC_CHAR}{{1,16}}",
        16,
        lambda u, cp, d: f"{_ID}8003/{_keyed('0' + _twelve(u, cp, d))}{_escape(u[30:])}",
    ),
    (rf"urn:epc:id:giai:{_cp_chars(30, _EPC_CHAR)}", 16, lambda u, cp, d: f"{_ID}8004/{cp}{_escape(u[d + 1 :])}"),
    (rf"urn:epc:id:gsrn:{_cp_ref(17)}", 16, lambda u, cp, d: f"{_ID}8018/{_keyed(cp + u[d + 1 :])}"),
    (rf"urn:epc:id:gsrnp:{_cp_ref(17)}", 17, lambda u, cp, d: f"{_ID}8017/{_keyed(cp + u[d + 1 :])}"),
    (
        rf"urn:epc:id:gdti:{_cp_ref(12, _TWO_DOTS)}{_EPC_CHAR}{{1,20}}",
        16,
        lambda u, cp, d: f"{_ID}253/{_keyed(_twelve(u, cp, d))}{_escape(u[30:])}",
    ),
    (rf"urn:epc:id:cpi:{_cp_chars(30, _CPI_CHAR)}\.\d{{1,12}}", 15, _cpi),
    (
        rf"urn:epc:id:sgcn:{_cp_ref(12)}\.\d{{1,12}}",
        16,
        lambda u, cp, d: f"{_ID}255/{_keyed(_twelve(u, cp, d))}{u[30:]}",
    ),
    (rf"urn:epc:id:ginc:{_cp_chars(30, _EPC_CHAR)}", 16, lambda u, cp, d: f"{_ID}401/{cp}{_escape(u[d + 1 :])}"),
    (rf"urn:epc:id:gsin:{_cp_ref(16)}", 16, lambda u, cp, d: f"{_ID}402/{_keyed(cp + u[d + 1 :])}"),
    (
        rf"urn:epc:id:itip:{_cp_ref(13)}\.\d{{2}}\.\d{{2}}\.{_EPC_CHAR}{{1,20}}",
        16,
        lambda u, cp, d: f"{_ID}8006/{_gtin(u, cp, d)}{u[31:33]}{u[34:36]}/21/{_escape(u[37:])}",
    ),
    (
        rf"urn:epc:id:upui:{_cp_ref(13)}\.{_EPC_CHAR}{{1,28}}",
        16,
        lambda u, cp, d: f"{_ID}01/{_gtin(u, cp, d)}/235/{_escape(u[31:])}",
    ),
    (rf"urn:epc:id:pgln:{_cp_ref(12)}", 16, lambda u, cp, d: f"{_ID}417/{_keyed(_twelve(u, cp, d))}"),
    (
        rf"urn:epc:class:lgtin:{_cp_ref(13)}\.{_EPC_CHAR}{{1,20}}",
        20,
        lambda u, cp, d: f"{_ID}01/{_gtin(u, cp, d)}/10/{_escape(u[35:])}",
    ),
    (rf"urn:epc:idpat:sgtin:{_cp_ref(13)}\.\*", 20, lambda u, cp, d: f"{_ID}01/{_gtin(u, cp, d)}"),
    (
        rf"urn:epc:idpat:grai:{_cp_ref(12, _TWO_DOTS)}\.\*",
        19,
        lambda u, cp, d: f"{_ID}8003/{_keyed('0' + _twelve(u, cp, d))}",
    ),
    (rf"urn:epc:idpat:gdti:{_cp_ref(12, _TWO_DOTS)}\.\*", 19, lambda u, cp, d: f"{_ID}253/{_keyed(_twelve(u, cp, d))}"),
    (rf"urn:epc:idpat:sgcn:{_cp_ref(12, _TWO_DOTS)}\.\*", 19, lambda u, cp, d: f"{_ID}255/{_keyed(_twelve(u, cp, d))}"),
    (
        rf"urn:epc:idpat:cpi:{_cp_chars(30, _CPI_CHAR)}\.\*",
        18,
        lambda u, cp, d: f"{_ID}8010/{_escape(cp + u[d + 1 : u.rfind('.')])}",
    ),
    (
        rf"urn:epc:idpat:itip:{_cp_ref(13)}\.\d{{2}}\.\d{{2}}\.\*",
        19,
        lambda u, cp, d: f"{_ID}8006/{_gtin(u, cp, d)}{u[34:36]}{u[37:39]}",
    ),
    (rf"urn:epc:idpat:upui:{_cp_ref(13)}\.\*", 19, lambda u, cp, d: f"{_ID}01/{_gtin(u, cp, d)}"),
]
_EPC_COMPILED = [(re.compile(p + r"\Z"), n, b) for p, n, b in _EPC]

_PRIMARY = "01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004"
_SHORT_NAMES = "gtin|itip|cpid|gln|party|gsrnp|gsrn|gcn|sscc|gdti|ginc|gsin|grai|giai"
# A Digital Link URI on any host: a primary key segment before any query or fragment.
_DL = re.compile(rf"https?:[^?#]*/(?:{_PRIMARY}|{_SHORT_NAMES})/\d{{4}}[^/]+")
_SHORT_TO_AI = (
    ("gtin", "01"),
    ("itip", "8006"),
    ("cpid", "8010"),
    ("gln", "414"),
    ("party", "417"),
    ("gsrnp", "8017"),
    ("gsrn", "8018"),
    ("gcn", "255"),
    ("sscc", "00"),
    ("gdti", "253"),
    ("ginc", "401"),
    ("gsin", "402"),
    ("grai", "8003"),
    ("giai", "8004"),
    ("cpv", "22"),
    ("lot", "10"),
    ("ser", "21"),
)
# Note the unescaped dots: the reference treats any character there as the canonical host.
_CANONICAL_HOST = re.compile(rf"https://id.gs1.org/(?:{_PRIMARY})/\d{{4}}[^/]+")
# Which key a URI on another host is re-rooted at: the first of these it contains, in this order.
_REROOT_ORDER = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")
_V = _DL_CHAR
_CPV_LAST = re.compile(rf"https://id.gs1.org/(?:8006/\d{{18}}|01/\d{{14}})/22/{_V}{{0,20}}\Z")
_CPV_MIDDLE = re.compile(
    r"https://id.gs1.org/(?:8006/\d{18}|01/\d{14})/22/[/\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20}\Z"
)
_LOT_AND_SERIAL = re.compile(rf"https://id.gs1.org/(?:8006/\d{{18}}|01/\d{{14}})/10/{_V}{{0,20}}/21/{_V}{{0,20}}\Z")
_VALID = [
    re.compile("https://id.gs1.org/" + p + r"\Z")
    for p in (
        r"00/\d{18}",
        rf"01/\d{{14}}/21/{_V}{{0,20}}",
        rf"01/\d{{14}}/10/{_V}{{0,20}}",
        r"01/\d{14}",
        rf"01/\d{{14}}/235/{_V}{{0,28}}",
        rf"253/\d{{13}}{_V}{{0,17}}",
        r"255/\d{13}\d{0,12}",
        rf"401/{_V}{{0,30}}",
        r"402/\d{17}",
        r"414/\d{13}",
        rf"414/\d{{13}}/254/{_V}{{0,20}}",
        r"417/\d{13}",
        rf"8003/\d{{14}}{_V}{{0,16}}",
        rf"8004/{_V}{{0,30}}",
        rf"8006/\d{{18}}/21/{_V}{{0,20}}",
        rf"8006/\d{{18}}/10/{_V}{{0,20}}",
        r"8006/\d{18}",
        r"8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}/8011/\d{0,12}",
        r"8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}",
        r"8017/\d{18}",
        r"8018/\d{18}",
    )
]


def _from_digital_link(uri: str) -> str | None:
    if not _DL.match(uri):
        return None
    uri = uri.split("?", 1)[0]
    for short, ai in _SHORT_TO_AI:
        uri = uri.replace(f"/{short}/", f"/{ai}/")
    if not _CANONICAL_HOST.match(uri):
        for ai in _REROOT_ORDER:
            at = uri.find(f"/{ai}/")
            if at != -1:
                uri = "https://id.gs1.org" + uri[at:]
                break
    if not re.match(r"https://id.gs1.org/01/\d{14}", uri):
        for digits, pad in ((13, "0"), (12, "00"), (8, "000000")):
            if re.match(rf"https://id.gs1.org/01/\d{{{digits}}}", uri):
                uri = uri.replace("/01/", "/01/" + pad)
                break
    cpv = uri[uri.find("/22/") + 4 :]
    if _CPV_LAST.match(uri):
        uri = uri[: uri.find("/22/")] + cpv[cpv.find("/") : -1]
    if _CPV_MIDDLE.match(uri):
        uri = uri[: uri.find("/22/")] + cpv[cpv.find("/") :]
    if _LOT_AND_SERIAL.match(uri):
        after_lot = uri[uri.find("/10/") + 4 :]
        uri = uri[: uri.find("/10/")] + after_lot[after_lot.find("/") :]
    return uri if any(p.match(uri) for p in _VALID) else None


def to_digital_link(value: str) -> str | None:
    """The constrained canonical Digital Link URI for an EPC/EPC class/EPC pattern/Digital Link URI, else None."""
    dot = value.find(".")
    if dot < 0 or not value.startswith(("urn:epc:", "http")):
        return None
    for pattern, prefix_len, build in _EPC_COMPILED:
        if pattern.match(value):
            return build(value, value[prefix_len:dot], dot)
    return _from_digital_link(value)

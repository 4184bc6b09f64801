"""GS1 Digital Link URIs for every GS1 primary key: read them, check every rule, write them.

::

    https://<any host>[/<prefix>]/<key AI>/<value>[/<qualifier AI>/<value>...][?<AI>=<value>&…&linkType=…][#…]

    /01/<GTIN>[/22/<cpv>][/10/<lot>][/21/<serial>]  or  /01/<GTIN>/235/<TPX>       a pack, a lot, a product
    /00/<SSCC>                                                                      a pallet or case
    /414/<GLN>[/254/<extension>]                                                    a place

The printed code is not the only form a phone, a printer or another resolver sends: a GTIN-13
instead of the GTIN-14, a lot written ``IF%2F0002``, expiry and weight in the query string, another
resolver's host, ``/gtin/`` instead of ``/01/``. All of them name the same thing, so all of them
parse to the same ``Link``; what breaks a rule of the GS1 Digital Link URI Syntax standard is
refused with the rule named (``21: serial longer than 20 characters``), since a scanner, a
printer's proof or an operator needs to know what to fix.

Every rule comes from GS1's Barcode Syntax Dictionary (``core/gs1syntax.py``), the one AI table:
which AIs are primary keys (``dlpkey``) and their key qualifiers in order (a sequence each, any of
them left out, alternatives never mixed: 01 takes 22, 10, 21 or 235), which AIs may be data
attributes in the query (flag ``?``), each value's character set, length and check digit or other
check. On top of the dictionary: a GTIN of 8, 12 or 13 digits is read as its GTIN-14; values are
percent-decoded (a ``/`` inside a lot is ``%2F``) and ASCII; each AI at most once; the path's
primary key is the first segment that names one. Query parameters that are not AIs (``linkType``,
``context``, ``lang``, a tracking tag) pass through untouched, as the standard says; a fragment is
the client's own and ignored. Compressed URIs are refused with a message that says so.
``compose`` always writes numeric AIs, qualifiers in the dictionary's order, attributes in AI order.

The path keys the scan page reads on every request have a fast path (a plain segment needs one
regular expression), so parsing stays at a few microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.gs1syntax import CHARSETS, Entry, dictionary, value_problem
from cradletrace.errors import InvalidInputError, Problem

__all__ = ["CHARSETS", "GTIN", "Link", "ai_entry", "check_value", "compose", "parse", "parse_path", "primary_keys"]

GTIN = "01"
# Names in messages where the dictionary's title (upper-case, abbreviated) reads badly.
NAMES = {
    "00": "SSCC",
    "01": "GTIN",
    "10": "lot",
    "11": "production date",
    "12": "due date",
    "13": "packaging date",
    "15": "best before date",
    "16": "sell by date",
    "17": "expiry date",
    "21": "serial",
    "22": "consumer product variant",
    "235": "third-party serial extension (TPX)",
    "254": "GLN extension",
    "414": "GLN",
    "415": "pay-to GLN",
    "417": "party GLN",
    "8011": "CPID serial",
    "8017": "GSRN (provider)",
    "8018": "GSRN (recipient)",
    "8019": "service relation instance number",
    "8020": "payment reference",
}
# Convenience alphas: GS1 Digital Link: URI Syntax 1.2 (section 6, its ABNF grammar: gtin-code =
# "01" / %s"gtin", lower case only). Version 1.4 dropped them, but codes printed with them are in
# the field, so they are read; compose writes numeric AIs only.
PRIMARY_ALPHAS = {
    "gtin": "01",
    "itip": "8006",
    "gmn": "8013",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
}
QUALIFIER_ALPHAS = {
    "cpv": "22",
    "lot": "10",
    "ser": "21",
    "cpsn": "8011",
    "glnx": "254",
    "refno": "8020",
    "srin": "8019",
}
ATTRIBUTE_ALPHAS = {"exp": "17", "expdt": "7003"}

# A path segment that needs no decoding: characters of a set that RFC 3986 allows unescaped there.
_PLAIN = {"X": r"[!&'()*+,\-.0-9:;=A-Z_a-z]", "N": "[0-9]"}
_PCHAR = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*")
_QCHAR = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"(https?)://([^/?#]+)", re.IGNORECASE)


def _fail(where: str, message: str) -> InvalidInputError:
    return InvalidInputError(Problem(where, message))


def _shown(value: str, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# -- the table --------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def ai_entry(ai: str) -> Entry | None:
    """The syntax dictionary's entry of application identifier ``ai`` ("17", "3103", ...), None when
    GS1 has no such AI."""
    return dictionary().get(ai) if 2 <= len(ai) <= 4 and ai.isascii() and ai.isdigit() else None


@lru_cache(maxsize=1024)
def name_of(ai: str) -> str:
    entry = ai_entry(ai)
    return NAMES.get(ai) or (entry.title if entry else ai)


@lru_cache(maxsize=1)
def primary_keys() -> Mapping[str, tuple[tuple[str, ...], ...]]:
    """Each GS1 Digital Link primary key and its qualifier sequences, from the dictionary's ``dlpkey``."""
    return {ai: e.dlpkey for ai, e in dictionary().items() if e.dlpkey is not None}


@lru_cache(maxsize=64)
def _qualifiers_of(key: str) -> frozenset[str]:
    return frozenset(ai for alt in primary_keys().get(key, ()) for ai in alt)


@lru_cache(maxsize=1)
def _key_segments() -> Mapping[str, str]:
    """Path segment -> the primary key it names: every key's AI and its convenience alpha."""
    keys = primary_keys()
    return {**{ai: ai for ai in keys}, **{alpha: ai for alpha, ai in PRIMARY_ALPHAS.items() if ai in keys}}


@lru_cache(maxsize=256)
def _plain(ai: str) -> re.Pattern[str] | None:
    """When it matches a raw segment, the segment is a valid value of ``ai`` as it stands."""
    entry = ai_entry(ai)
    if entry is None or len(entry.components) != 1 or entry.components[0].linters:
        return None
    c = entry.components[0]
    chars = _PLAIN.get(c.charset)
    return re.compile(f"{chars}{{{c.min_length},{c.max_length}}}") if chars else None


def _sequences(alternatives: tuple[tuple[str, ...], ...]) -> str:
    return " or ".join(", ".join(alt) for alt in alternatives)


# -- the value ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One GS1 Digital Link, checked: its primary key, key qualifiers, data attributes, other parameters.

    A GTIN (``key`` 01) is always 14 digits. ``qualifiers`` are (AI, value) pairs in the
    dictionary's order for the key, ``attributes`` in AI order; ``params`` the query parameters
    that are not AIs (``linkType``, ``lang``, ...) in the order given.
    """

    key: str
    value: str
    qualifiers: tuple[tuple[str, str], ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    def qualifier(self, ai: str) -> str | None:
        return next((v for k, v in self.qualifiers if k == ai), None)

    @property
    def gtin(self) -> str | None:
        return self.value if self.key == GTIN else None

    @property
    def cpv(self) -> str | None:
        return self.qualifier("22")

    @property
    def lot(self) -> str | None:
        return self.qualifier("10")

    @property
    def serial(self) -> str | None:
        return self.qualifier("21")

    @property
    def key_name(self) -> str:
        """What the key is called: GTIN, SSCC, GLN, GRAI, ..."""
        return name_of(self.key)

    @property
    def ais(self) -> dict[str, str]:
        """Every AI and its value: the key, its qualifiers, then the data attributes."""
        return {self.key: self.value, **dict(self.qualifiers), **dict(self.attributes)}

    @property
    def element_string(self) -> str:
        """The GS1 element string as printed under a barcode: ``(01)…(10)…(21)…(17)…``."""
        return "".join(f"({ai}){value}" for ai, value in self.ais.items())

    @property
    def path(self) -> str:
        """``/<key>/<value>[/<qualifier>/<value>...]``, every character outside RFC 3986 unreserved escaped."""
        return "".join(f"/{ai}/{quote(value, safe='')}" for ai, value in ((self.key, self.value), *self.qualifiers))

    @property
    def query(self) -> str:
        pairs = [*self.attributes, *self.params]
        keep = {k for k, _ in self.params}  # "linkType=gs1:pip" reads better than gs1%3Apip
        return "&".join(f"{quote(k, safe='')}={quote(v, safe=':' if k in keep else '')}" for k, v in pairs)

    def uri(self, resolver: str = "https://id.gs1.org") -> str:
        """The full URI under ``resolver`` (an origin, optionally with a path prefix)."""
        query = self.query
        return resolver.rstrip("/") + self.path + (f"?{query}" if query else "")

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


# -- reading --------------------------------------------------------------------------------------


def _decoded(ai: str, raw: str, grammar: re.Pattern[str] = _PCHAR) -> str:
    if not grammar.fullmatch(raw):
        bad = re.search(r"%(?![0-9A-Fa-f]{2})", raw)
        what = (
            f"bad percent-escape {_shown(raw[bad.start() : bad.start() + 3])}"
            if bad
            else f"character {next(ch for ch in raw if not grammar.fullmatch(ch))!r} must be percent-encoded"
        )
        raise _fail(ai, f"{what} in {_shown(raw)}")
    if "%" not in raw:
        return raw
    data = unquote_to_bytes(raw)
    if not data.isascii():
        raise _fail(ai, f"not ASCII after percent-decoding {_shown(raw)}: GS1 values are ASCII")
    return data.decode("ascii")


def check_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 as its GTIN-14, its check digit checked."""
    if not (value.isascii() and value.isdigit() and len(value) in (8, 12, 13, 14)):
        raise _fail(GTIN, f"GTIN must be 8, 12, 13 or 14 digits, got {_shown(value)}")
    gtin = value.zfill(14)
    expected = gtin_check_digit(gtin[:13])
    if int(gtin[13]) != expected:
        raise _fail(GTIN, f"check digit is {gtin[13]}, expected {expected}")
    return gtin


def check_value(ai: str, value: str) -> str:
    """``value`` when it is a valid value of ``ai`` (a GTIN as its GTIN-14); else the error names the AI and rule."""
    if ai == GTIN:
        return check_gtin(value)
    entry = ai_entry(ai)
    if entry is None:
        raise _fail(ai, "not a GS1 Application Identifier")
    problem = value_problem(entry, value, name_of(ai))
    if problem:
        raise _fail(ai, problem)
    return value


def _value(ai: str, raw: str) -> str:
    plain = _plain(ai)
    if plain is not None and plain.fullmatch(raw):
        return raw  # the common case: nothing to decode, nothing else to check
    return check_value(ai, _decoded(ai, raw))


def parse_path(path: str, query: str = "") -> Link:
    """Read ``/<key>/<value>[/<qualifier>/<value>...]`` (after any path prefix) and an optional raw query."""
    segments = path.split("/")
    named = _key_segments()
    if len(segments) > 1 and segments[1] in named:
        keys = segments[1:]  # no path prefix: the common case
    else:
        start = next((i for i in range(1, len(segments)) if segments[i] in named), None)
        if start is None:
            raise _no_primary(segments)
        keys = segments[start:]
    key = named[keys[0]]
    if len(keys) < 2 or not keys[1]:
        raise _fail(key, f"no value after /{keys[0]}/")
    value = check_gtin(_decoded(key, keys[1])) if key == GTIN else _value(key, keys[1])
    alternatives = primary_keys()[key]
    found: list[tuple[str, str]] = []
    seen: list[str] = []
    for i in range(2, len(keys), 2):
        code = keys[i]
        if not code:
            where = "trailing '/'" if i == len(keys) - 1 else "empty segment ('//')"
            raise _fail("path", f"{where} in {_shown('/' + '/'.join(keys))}")
        ai = QUALIFIER_ALPHAS.get(code, code)
        _check_qualifier(key, alternatives, seen, ai, code)
        if i + 1 == len(keys) or not keys[i + 1]:
            raise _fail(ai, f"no value after /{code}/")
        found.append((ai, _value(ai, keys[i + 1])))
        seen.append(ai)
    attributes, params = parse_query(query, key) if query else ((), ())
    return Link(key, value, tuple(found), attributes, params)


def _check_qualifier(key: str, alternatives: tuple[tuple[str, ...], ...], seen: list[str], ai: str, code: str) -> None:
    """Refuse qualifier ``ai`` (written ``code``) after ``seen``, naming the rule: not one of the
    key's, twice, out of the dictionary's order, or mixing two of its alternative sequences."""
    if not seen and ai in alternatives[0]:
        return  # the first qualifier of the first sequence: nothing can be out of order yet
    allowed = [alt for alt in alternatives if ai in alt]
    if not allowed:
        raise _not_a_qualifier(key, alternatives, ai, code)
    if ai in seen:
        raise _fail("path", f"{ai} given twice: each key qualifier at most once")
    if not seen:
        return
    together = [alt for alt in allowed if all(s in alt for s in seen)]
    if not together:
        raise _fail(
            "path", f"{ai} after {seen[-1]}: the key qualifiers of {key} are {_sequences(alternatives)}, never mixed"
        )
    order = together[0]
    if order.index(ai) < order.index(seen[-1]):
        raise _fail("path", f"{ai} after {seen[-1]}: key qualifiers must be in the order {', '.join(order)}")


def _no_primary(segments: list[str]) -> InvalidInputError:
    first = next((s for s in segments if s), "")
    if first.lower() in PRIMARY_ALPHAS:
        return _fail("path", f"/{first}/: convenience alphas are written in lower case (/{first.lower()}/)")
    if len([s for s in segments if s]) == 1 and re.fullmatch(r"[A-Za-z0-9_-]{8,}", first):
        return _fail("path", "compressed GS1 Digital Link URIs are not supported; expected /01/<GTIN>")
    return _fail(
        "path",
        "no primary key: expected /01/<GTIN> (or another GS1 key such as /00/<SSCC> or /414/<GLN>) in the path, "
        f"got {_shown('/'.join(segments))}",
    )


def _not_a_qualifier(key: str, alternatives: tuple[tuple[str, ...], ...], ai: str, code: str) -> InvalidInputError:
    is_ai = code.isdigit() and ai_entry(ai) is not None
    if not any(alternatives):
        hint = "data attributes go in the query string" if is_ai else "a '/' inside a value is written %2F"
        return _fail("path", f"{key} ({name_of(key)}) takes no key qualifiers, got /{code}/ ({hint})")
    listed = _sequences(alternatives)
    if is_ai:
        return _fail("path", f"{ai} is not a key qualifier of {key} ({listed}); data attributes go in the query string")
    return _fail(
        "path",
        f"{_shown(code)} is not a key qualifier of {key}: expected {listed} (a '/' inside a value is written %2F)",
    )


def parse_query(query: str, key: str = GTIN) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Split a raw query string into checked data attributes (AI order) and other parameters."""
    own = _qualifiers_of(key)
    attributes: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        ai = ATTRIBUTE_ALPHAS.get(raw_key, raw_key)
        if not ai.isdigit():
            params.append((_text(raw_key), _text(raw_value)))
            continue
        if ai == key:
            raise _fail(ai, f"primary key in the query string; it belongs in the path (/{key}/<{name_of(key)}>)")
        if ai in own:
            raise _fail(ai, f"key qualifier in the query string; it belongs in the path (/{ai}/...)")
        if ai in attributes:
            raise _fail(ai, "given twice in the query string")
        attributes[ai] = _attribute(ai, _decoded(ai, raw_value, _QCHAR))
    return tuple(sorted(attributes.items())), tuple(params)


def _attribute(ai: str, value: str) -> str:
    entry = ai_entry(ai)
    if entry is not None and not entry.dl_attribute:
        raise _fail(ai, f"{name_of(ai)} is not a GS1 Digital Link data attribute (GS1's syntax dictionary)")
    return check_value(ai, value)


def _text(raw: str) -> str:
    """A pass-through parameter's value, percent-decoded as UTF-8. Never an error: a tracking
    parameter some app appended (even in another encoding) must not make a good code unreadable."""
    return unquote_to_bytes(raw).decode("utf-8", errors="replace") if "%" in raw else raw


def parse(uri: str) -> Link:
    """Read a whole URI: http or https, any host (not checked), optional path prefix, path, query;
    a fragment is ignored."""
    m = _SCHEME.match(uri)
    if not m:
        raise _fail("uri", f"expected http:// or https:// and a host, got {_shown(uri)}")
    rest = uri[m.end() :].split("#", 1)[0]
    path, _, query = rest.partition("?")
    if not path:
        raise _fail("path", "no primary key: expected /01/<GTIN> after the host (or another GS1 key: /00/<SSCC>, ...)")
    return parse_path(path, query)


# -- writing --------------------------------------------------------------------------------------


def _pairs(given: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(given.items() if isinstance(given, Mapping) else given)


def compose(
    value: str,
    *,
    key: str = GTIN,
    cpv: str | None = None,
    lot: str | None = None,
    serial: str | None = None,
    qualifiers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    attributes: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Link:
    """A checked ``Link`` of primary key ``key`` (a GTIN by default, which may be short) with its
    qualifiers (``cpv``, ``lot``, ``serial`` for a GTIN's 22, 10, 21) put in the dictionary's
    order; ``.uri(resolver)`` writes it."""
    alternatives = primary_keys().get(key)
    if alternatives is None:
        raise _fail(key, f"not a GS1 Digital Link primary key: expected one of {', '.join(primary_keys())}")
    given = [*_pairs(qualifiers), *((ai, v) for ai, v in (("22", cpv), ("10", lot), ("21", serial)) if v is not None)]
    seen: list[str] = []
    for ai, _ in given:
        if ai in seen:
            raise _fail(ai, "given twice")
        if not any(ai in alt for alt in alternatives):
            raise _not_a_qualifier(key, alternatives, ai, ai)
        seen.append(ai)
    order = next((alt for alt in alternatives if all(ai in alt for ai in seen)), None)
    if order is None:
        raise _fail("path", f"the key qualifiers of {key} are {_sequences(alternatives)}, never mixed")
    checked = tuple((ai, check_value(ai, v)) for ai, v in sorted(given, key=lambda p: order.index(p[0])))
    found: dict[str, str] = {}
    for ai, v in _pairs(attributes):
        if ai == key or ai in seen or any(ai in alt for alt in alternatives):
            raise _fail(ai, "a key or key qualifier, not a data attribute: pass it as the value or a qualifier")
        if ai in found:
            raise _fail(ai, "given twice")
        found[ai] = _attribute(ai, v)
    extra = _pairs(params)
    for name, _ in extra:
        if name.isdigit():
            raise _fail(name, "an AI is a data attribute, not a parameter")
    return Link(key, check_value(key, value), checked, tuple(sorted(found.items())), tuple(extra))

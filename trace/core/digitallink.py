"""GS1 Digital Link URIs with a GTIN: read them, check every rule, write them.

::

    https://<any host>[/<prefix>]/01/<GTIN>[/22/<cpv>][/10/<lot>][/21/<serial>][?17=YYMMDD&3103=…&linkType=…]

The printed code is not the only form a phone, a printer or another resolver sends: a GTIN-13
instead of the GTIN-14, a lot written ``IF%2F0002``, expiry and weight in the query string, another
resolver's host. All of them name the same item, so all of them parse to the same ``Link``; what
breaks a rule of the GS1 Digital Link URI Syntax standard is refused with the rule named
(``21: serial longer than 20 characters``), since a scanner, a printer's proof or an operator needs
to know what to fix.

Rules checked: primary key 01 with a GTIN of 8, 12, 13 or 14 digits (read as GTIN-14) and its check
digit; key qualifiers 22, 10, 21 in that order, each at most once, any of them left out; values
percent-decoded (a ``/`` inside a lot is ``%2F``), ASCII only, in the character set and length of
their AI; data attributes as numeric AIs in the query string, once each, never a key or a key
qualifier; dates real dates. Other query parameters (``linkType``, ``context``, ``lang`` and the
like) are passed through untouched. Compressed URIs and the deprecated alphabetic path names
(``/gtin/``, ``/lot/``, ``/ser/``) are refused with a message that says so.

The AI formats (character set, length, pattern) come from biip's copy of the GS1 General
Specifications table rather than from a second table here. The table is read from biip's own data
file, without importing biip: its package loads the GS1 prefix tables too (~0.15 s), which would
make ``cradletrace dl parse`` wait on data that parsing never uses. The path keys the scan page
reads on every request have a fast path (a plain segment needs one regular expression), so parsing
stays at a few microseconds.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from cradletrace.core.codes import gtin_check_digit
from cradletrace.errors import InvalidInputError, Problem

PRIMARY = "01"
QUALIFIERS = ("22", "10", "21")  # the order GS1 Digital Link fixes for a GTIN's key qualifiers
PATH_AIS = (PRIMARY, *QUALIFIERS)
NAMES = {
    "01": "GTIN",
    "22": "consumer product variant",
    "10": "lot",
    "21": "serial",
    "11": "production date",
    "12": "due date",
    "13": "packaging date",
    "15": "best before date",
    "16": "sell by date",
    "17": "expiry date",
}
# GS1 AI encodable character sets: 82 (most text AIs), 39 (e.g. AI 8010), 64 (base64url, AI 8030).
CHARSETS = {
    "N": ("digits", frozenset("0123456789")),
    "X": (
        "GS1 character set 82",
        frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"),
    ),
    "Y": ("GS1 character set 39", frozenset("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    "Z": ("GS1 character set 64", frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz=")),
}
# Day 00 ("end of the month") is allowed only in these dates (GS1 syntax dictionary: yymmd0).
DAY_ZERO = frozenset({"11", "12", "13", "15", "16", "17"})
DEPRECATED_NAMES = {"gtin": "01", "cpv": "22", "lot": "10", "ser": "21"}

# A path segment that needs no decoding and is a valid lot/serial/cpv: CSET 82 characters that
# RFC 3986 allows unescaped in a path segment. Anything else takes the slow, explaining path.
_PLAIN_X20 = re.compile(r"[!&'()*+,\-.0-9:;=A-Z_a-z]{1,20}")
_PCHAR = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*")
_QCHAR = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"(https?)://([^/?#]+)", re.IGNORECASE)
_DATE_TOKENS = re.compile(r"YYYY|YY|MM|DD|hh|mm|ss")
_FORMAT_PART = re.compile(r"([NXYZ])(\.\.)?(\d+)")


def _fail(where: str, message: str) -> InvalidInputError:
    return InvalidInputError(Problem(where, message))


def _shown(value: str, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# -- the AI table (biip's) -----------------------------------------------------------------------


@dataclass(frozen=True)
class AiFormat:
    """What one AI's value may be: character set, length range, exact pattern, date layout."""

    ai: str
    name: str
    format: str  # as GS1 writes it, e.g. "N6" or "X..20" (the AI's own digits left out)
    charset: str  # N, X, Y or Z when every part of the value has the same set, else ""
    min_length: int
    max_length: int
    pattern: re.Pattern[str]
    date: str  # "YYMMDD", "YYMMDDhh[mm[ss]]", ... or "" when the value is no date

    def problem(self, value: str) -> str | None:
        """None when ``value`` is a valid value of this AI, else the rule it breaks."""
        if not value:
            return "empty value"
        if self.charset:
            label, allowed = CHARSETS[self.charset]
            bad = next((ch for ch in value if ch not in allowed), None)
            if bad is not None:
                what = "must be digits" if self.charset == "N" else f"character {bad!r} not in {label}"
                return f"{self.name} {what}, got {_shown(value)}"
            unit = "digits" if self.charset == "N" else "characters"
            problem = self._length_problem(value, unit)
            if problem:
                return problem
        if not self.pattern.fullmatch(value):
            return f"{self.name} {_shown(value)} does not have the format {self.format}"
        if self.date:
            return _date_problem(self, value)
        return None

    def _length_problem(self, value: str, unit: str) -> str | None:
        if self.min_length == self.max_length and len(value) != self.min_length:
            return f"{self.name} must be {self.min_length} {unit}, got {len(value)}"
        if len(value) > self.max_length:
            return f"{self.name} longer than {self.max_length} {unit} (got {len(value)})"
        if len(value) < self.min_length:
            return f"{self.name} shorter than {self.min_length} {unit} (got {len(value)})"
        return None


def _date_problem(spec: AiFormat, value: str) -> str | None:
    fields: dict[str, int] = {}
    at = 0
    for token in _DATE_TOKENS.findall(spec.date):
        if at >= len(value):
            break
        if token in fields:  # a second date (AI 7007 YYMMDD[YYMMDD]) is checked on its own
            problem = _date_problem(
                AiFormat(spec.ai, spec.name, spec.format, "N", 6, 6, spec.pattern, "YYMMDD"), value[at : at + 6]
            )
            if problem:
                return problem
            break
        fields[token] = int(value[at : at + len(token)])
        at += len(token)
    year = fields.get("YYYY", 2000 + fields.get("YY", 0))  # 2000+YY: leap years right for any YY in use
    month, day = fields.get("MM", 1), fields.get("DD", 1)
    if not 1 <= month <= 12:
        return f"{spec.name} {value} is not a date: month {month:02d}"
    last = calendar.monthrange(year, month)[1]
    if not (1 <= day <= last or (day == 0 and spec.ai in DAY_ZERO)):
        return f"{spec.name} {value} is not a date: day {day:02d} in month {month:02d} (1-{last})"
    if fields.get("hh", 0) > 23 or fields.get("mm", 0) > 59 or fields.get("ss", 0) > 59:
        return f"{spec.name} {value} is not a time of day"
    return None


BIIP_TABLE = ("gs1_application_identifiers", "_application_identifiers.json")  # inside the biip package


@lru_cache(maxsize=1)
def _ai_table() -> dict[str, dict[str, str]]:
    """biip's GS1 AI table by AI: each entry's ``ai``, ``description``, ``format`` and ``pattern``.

    Read as data (the file ``biip.gs1_application_identifiers`` loads) because importing biip
    loads all of its tables; ``find_spec`` locates the package without running it. Loaded on the
    first value that needs a format: a plain path (``/01/<GTIN>/10/<lot>``) never does."""
    spec = find_spec("biip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("biip is not installed: the GS1 AI table comes from it")
    path = Path(next(iter(spec.submodule_search_locations)), *BIIP_TABLE)
    table = {entry["ai"]: entry for entry in json.loads(path.read_text("utf-8"))}
    if any(ai not in table for ai in (*QUALIFIERS, *DAY_ZERO)):  # pragma: no cover
        raise ImportError(f"biip's GS1 AI table ({path}) lacks an AI this module relies on")
    return table


def _spec_of(entry: Mapping[str, str]) -> AiFormat:
    value_format = entry["format"].split("+", 1)[1] if "+" in entry["format"] else ""
    parts = _FORMAT_PART.findall(value_format)
    optional = value_format.index("[") if "[" in value_format else len(value_format)
    lengths = [
        (int(n), bool(dots), m.start() < optional)
        for (_, dots, n), m in zip(parts, _FORMAT_PART.finditer(value_format))
    ]
    sets = {kind for kind, _, _ in parts}
    value_pattern = entry["pattern"].removeprefix("^" + entry["ai"]).removesuffix("$")
    date = re.search(r"\((Y[YMDhms\[\]]*)\)", entry["description"])
    name = NAMES.get(entry["ai"]) or entry["description"].split(" (")[0]
    return AiFormat(
        ai=entry["ai"],
        name=name,
        format=value_format,
        charset=sets.pop() if len(sets) == 1 and not re.search(r"[^NXYZ.\d\[\]+]", value_format) else "",
        min_length=sum(1 if dots else n for n, dots, required in lengths if required),
        max_length=sum(n for n, _, _ in lengths),
        pattern=re.compile(value_pattern),
        date=date.group(1) if date else "",
    )


@lru_cache(maxsize=1024)
def ai_format(ai: str) -> AiFormat | None:
    """The format of application identifier ``ai`` ("17", "3103", ...), None when GS1 has no such AI."""
    if not (2 <= len(ai) <= 4 and ai.isascii() and ai.isdigit()):
        return None
    entry = _ai_table().get(ai)  # GS1 AIs are prefix-free: an exact key is the only match
    return _spec_of(entry) if entry is not None else None


# -- the value ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One GS1 Digital Link with a GTIN, checked: the path keys, the data attributes, other parameters.

    ``gtin`` is always 14 digits. ``attributes`` are (AI, value) pairs in AI order; ``params`` the
    query parameters that are not AIs (``linkType``, ``lang``, ...) in the order given.
    """

    gtin: str
    cpv: str | None = None
    lot: str | None = None
    serial: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    @property
    def ais(self) -> dict[str, str]:
        """Every AI and its value: 01, then 22, 10, 21 as present, then the data attributes."""
        keys = {"01": self.gtin, "22": self.cpv, "10": self.lot, "21": self.serial}
        return {**{ai: v for ai, v in keys.items() if v is not None}, **dict(self.attributes)}

    @property
    def element_string(self) -> str:
        """The GS1 element string as printed under a barcode: ``(01)…(10)…(21)…(17)…``."""
        return "".join(f"({ai}){value}" for ai, value in self.ais.items())

    @property
    def path(self) -> str:
        """``/01/<gtin>[/22/..][/10/..][/21/..]``, every character outside RFC 3986 unreserved escaped."""
        return "".join(f"/{ai}/{quote(value, safe='')}" for ai, value in self.ais.items() if ai in PATH_AIS)

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
        raise _fail("01", f"GTIN must be 8, 12, 13 or 14 digits, got {_shown(value)}")
    gtin = value.zfill(14)
    expected = gtin_check_digit(gtin[:13])
    if int(gtin[13]) != expected:
        raise _fail("01", f"check digit is {gtin[13]}, expected {expected}")
    return gtin


def check_value(ai: str, value: str) -> str:
    """``value`` when it is a valid value of ``ai``; else the error names the AI and the rule."""
    if ai == PRIMARY:
        return check_gtin(value)
    spec = ai_format(ai)
    if spec is None:
        raise _fail(ai, "not a GS1 Application Identifier")
    problem = spec.problem(value)
    if problem:
        raise _fail(ai, problem)
    return value


def _qualifier(ai: str, raw: str) -> str:
    if _PLAIN_X20.fullmatch(raw):
        return raw  # the common case: nothing to decode, nothing else to check
    return check_value(ai, _decoded(ai, raw))


def parse_path(path: str, query: str = "") -> Link:
    """Read ``/01/<GTIN>[/22/..][/10/..][/21/..]`` (after any path prefix) and an optional raw query."""
    segments = path.split("/")
    try:
        start = segments.index(PRIMARY, 1)
    except ValueError:
        raise _no_primary(segments) from None
    keys = segments[start:]
    if len(keys) < 2 or not keys[1]:
        raise _fail("01", "no value after /01/")
    gtin = check_gtin(_decoded("01", keys[1]))
    found: dict[str, str] = {}
    last = -1
    for i in range(2, len(keys), 2):
        ai = keys[i]
        if not ai:
            where = "trailing '/'" if i == len(keys) - 1 else "empty segment ('//')"
            raise _fail("path", f"{where} in {_shown('/' + '/'.join(keys))}")
        if ai not in QUALIFIERS:
            raise _not_a_qualifier(ai)
        if ai in found:
            raise _fail("path", f"{ai} given twice: each key qualifier at most once")
        rank = QUALIFIERS.index(ai)
        if rank < last:
            raise _fail("path", f"{ai} after {QUALIFIERS[last]}: key qualifiers must be in the order 22, 10, 21")
        last = rank
        if i + 1 == len(keys) or not keys[i + 1]:
            raise _fail(ai, f"no value after /{ai}/")
        found[ai] = _qualifier(ai, keys[i + 1])
    attributes, params = parse_query(query) if query else ((), ())
    return Link(gtin, found.get("22"), found.get("10"), found.get("21"), attributes, params)


def _no_primary(segments: list[str]) -> InvalidInputError:
    first = next((s for s in segments if s), "")
    if first.lower() in DEPRECATED_NAMES:
        return _fail("path", f"/{first}/ is a deprecated alphabetic name; write /{DEPRECATED_NAMES[first.lower()]}/")
    if len([s for s in segments if s]) == 1 and re.fullmatch(r"[A-Za-z0-9_-]{8,}", first):
        return _fail("path", "compressed GS1 Digital Link URIs are not supported; expected /01/<GTIN>")
    return _fail("path", f"no primary key: expected /01/<GTIN> in the path, got {_shown('/'.join(segments))}")


def _not_a_qualifier(ai: str) -> InvalidInputError:
    if ai.lower() in DEPRECATED_NAMES:
        return _fail("path", f"/{ai}/ is a deprecated alphabetic name; write /{DEPRECATED_NAMES[ai.lower()]}/")
    if ai_format(ai) is not None:
        return _fail("path", f"{ai} is not a key qualifier of 01 (22, 10, 21); data attributes go in the query string")
    return _fail(
        "path",
        f"{_shown(ai)} is not a key qualifier of 01: expected 22, 10 or 21 (a '/' inside a value is written %2F)",
    )


def parse_query(query: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Split a raw query string into checked data attributes (AI order) and other parameters."""
    attributes: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        if raw_key.isdigit():
            if raw_key in PATH_AIS:
                where = "the path (/01/<GTIN>)" if raw_key == PRIMARY else f"the path (/{raw_key}/...)"
                kind = "primary key" if raw_key == PRIMARY else "key qualifier"
                raise _fail(raw_key, f"{kind} in the query string; it belongs in {where}")
            if raw_key in attributes:
                raise _fail(raw_key, "given twice in the query string")
            attributes[raw_key] = check_value(raw_key, _decoded(raw_key, raw_value, _QCHAR))
        else:
            params.append((_text(raw_key), _text(raw_value)))
    return tuple(sorted(attributes.items())), tuple(params)


def _text(raw: str) -> str:
    """A pass-through parameter's value, percent-decoded as UTF-8. Never an error: a tracking
    parameter some app appended (even in another encoding) must not make a good code unreadable."""
    return unquote_to_bytes(raw).decode("utf-8", errors="replace") if "%" in raw else raw


def parse(uri: str) -> Link:
    """Read a whole URI: http or https, any host (not checked), optional path prefix, path, query."""
    m = _SCHEME.match(uri)
    if not m:
        raise _fail("uri", f"expected http:// or https:// and a host, got {_shown(uri)}")
    rest = uri[m.end() :]
    if "#" in rest:
        raise _fail("uri", f"a fragment is not part of a GS1 Digital Link URI, got {_shown(rest[rest.index('#') :])}")
    path, _, query = rest.partition("?")
    if not path:
        raise _fail("path", "no primary key: expected /01/<GTIN> after the host")
    return parse_path(path, query)


# -- writing --------------------------------------------------------------------------------------


def compose(
    gtin: str,
    *,
    cpv: str | None = None,
    lot: str | None = None,
    serial: str | None = None,
    attributes: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Link:
    """A checked ``Link`` from its parts (the GTIN may be short); ``.uri(resolver)`` writes it."""
    pairs = list(attributes.items() if isinstance(attributes, Mapping) else attributes)
    extra = list(params.items() if isinstance(params, Mapping) else params)
    found: dict[str, str] = {}
    for ai, value in pairs:
        if ai in PATH_AIS:
            raise _fail(ai, "a key or key qualifier, not a data attribute: pass it as gtin, cpv, lot or serial")
        if ai in found:
            raise _fail(ai, "given twice")
        found[ai] = check_value(ai, value)
    for key, _ in extra:
        if key.isdigit():
            raise _fail(key, "an AI is a data attribute, not a parameter")
    keys = {ai: check_value(ai, v) for ai, v in (("22", cpv), ("10", lot), ("21", serial)) if v is not None}
    return Link(
        check_gtin(gtin), keys.get("22"), keys.get("10"), keys.get("21"), tuple(sorted(found.items())), tuple(extra)
    )

"""GS1's Barcode Syntax Dictionary, read as data: every AI's format, check digit and Digital Link role.

The dictionary (``data/gs1-syntax-dictionary/``, vendored from GS1 with its Apache-2.0 licence) is
the one table cradletrace takes GS1 Application Identifier rules from, so a new GS1 release is a
file copy, not a code change. Its grammar, from the file's own header::

    AIs  [Flags]  Specification  [Attributes...]  [# Title]

    AIs            one AI or a range (3100-3105)
    Flags          "*" fixed length, no FNC1 needed; "?" may be a GS1 Digital Link data attribute
    Specification  components, each Type[,linter...]: N (digits), X (set 82), Y (set 39), Z (base64url)
                   with a length (N6) or a maximum (X..20); "[...]" optional; a linter names a check
                   (csum: GS1 mod-10 check digit, yymmd0: a date whose day may be 00, ...)
    Attributes     req=01+21,02 (needs one of the groups), ex=255,37 (never with), dlpkey (a Digital
                   Link primary key) or dlpkey=22,10,21|235 (its key qualifiers: ordered sequences,
                   optional each, alternatives separated by "|", never mixed)

Linters this module does not run are listed in ``UNCHECKED`` (each needs a table of its own: GS1
Company Prefixes, ISO country and currency codes, IBAN, coupon layouts) rather than passing silently.
Parsing is pure (text in, entries out); ``dictionary()`` reads the packaged file once.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from cradletrace.core.codes import gtin_check_digit

DATA_FILE = "data/gs1-syntax-dictionary/gs1-syntax-dictionary.txt"
# GS1 AI encodable character sets: 82 (most text AIs), 39 (e.g. AI 8010), 64 (base64url, AI 8030).
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
CHARSETS = {
    "N": ("digits", frozenset("0123456789")),
    "X": ("GS1 character set 82", frozenset(CSET82)),
    "Y": ("GS1 character set 39", frozenset("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    "Z": ("GS1 character set 64", frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz=")),
}
_COMPONENT = re.compile(r"(\[)?([NXYZ])(\.\.)?(\d+)(\])?((?:,\w+)*)")
_AIS = re.compile(r"(\d{2,4})(?:-(\d{2,4}))?")


def _shown(value: str, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


@dataclass(frozen=True)
class Component:
    """One part of an AI's value: its character set, its length or maximum, and the checks it takes."""

    charset: str  # N, X, Y or Z
    min_length: int
    max_length: int
    optional: bool
    linters: tuple[str, ...]

    @property
    def format(self) -> str:
        size = f"{self.charset}{'..' if self.min_length != self.max_length else ''}{self.max_length}"
        return f"[{size}]" if self.optional else size


@dataclass(frozen=True)
class Entry:
    """One AI of the dictionary.

    ``dlpkey`` is None unless the AI is a GS1 Digital Link primary key; then it holds the allowed
    qualifier sequences (``(("22", "10", "21"), ("235",))`` for 01; ``((),)`` for a key without any).
    """

    ai: str
    title: str
    fixed: bool  # flag "*": predefined length, no FNC1 separator needed
    dl_attribute: bool  # flag "?": may be a GS1 Digital Link data attribute (in the query string)
    components: tuple[Component, ...]
    dlpkey: tuple[tuple[str, ...], ...] | None = None
    req: tuple[tuple[str, ...], ...] = ()
    ex: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        return " ".join(c.format for c in self.components)

    @property
    def min_length(self) -> int:
        return sum(c.min_length for c in self.components if not c.optional)

    @property
    def max_length(self) -> int:
        return sum(c.max_length for c in self.components)

    @property
    def charset(self) -> str:
        """N, X, Y or Z when every component has the same set, else ""."""
        sets = {c.charset for c in self.components}
        return sets.pop() if len(sets) == 1 else ""

    @property
    def linters(self) -> frozenset[str]:
        return frozenset(name for c in self.components for name in c.linters)


def parse_line(line: str) -> list[Entry]:
    """The entries of one dictionary line (several for a range such as 3100-3105); [] for a comment."""
    body, _, title = line.partition("#")
    tokens = body.split()
    if not tokens:
        return []
    ais = _AIS.fullmatch(tokens[0])
    if not ais:
        raise ValueError(f"GS1 syntax dictionary: expected an AI or a range of AIs, got {tokens[0]!r}")
    rest = tokens[1:]
    flags = rest.pop(0) if rest and not _COMPONENT.fullmatch(rest[0]) and "=" not in rest[0] else ""
    if flags.isalpha():  # an attribute such as "dlpkey", not flags
        rest.insert(0, flags)
        flags = ""
    components: list[Component] = []
    attributes: dict[str, str] = {}
    for token in rest:
        m = _COMPONENT.fullmatch(token)
        if m and not attributes:
            opened, charset, dots, size, closed, linters = m.groups()
            if bool(opened) != bool(closed):
                raise ValueError(f"GS1 syntax dictionary: unbalanced brackets in {token!r} ({tokens[0]})")
            n = int(size)
            components.append(
                Component(charset, 1 if dots else n, n, bool(opened), tuple(x for x in linters.split(",") if x))
            )
        else:
            key, _, value = token.partition("=")
            attributes[key] = value
    if not components:
        raise ValueError(f"GS1 syntax dictionary: {tokens[0]} has no specification")
    dlpkey = None
    if "dlpkey" in attributes:
        value = attributes["dlpkey"]
        dlpkey = tuple(tuple(alt.split(",")) for alt in value.split("|")) if value else ((),)
    first, last = ais.group(1), ais.group(2) or ais.group(1)
    shared = (
        title.strip(),
        "*" in flags,
        "?" in flags,
        tuple(components),
        dlpkey,
        tuple(tuple(group.split("+")) for group in attributes["req"].split(",")) if "req" in attributes else (),
        tuple(attributes["ex"].split(",")) if "ex" in attributes else (),
    )
    return [Entry(str(n).zfill(len(first)), *shared) for n in range(int(first), int(last) + 1)]


def parse_dictionary(text: str) -> dict[str, Entry]:
    """Every AI of a dictionary file, by AI, in the file's (lexical) order."""
    return {entry.ai: entry for line in text.splitlines() for entry in parse_line(line)}


@lru_cache(maxsize=1)
def dictionary() -> Mapping[str, Entry]:
    """The packaged dictionary, parsed on first use (about a millisecond)."""
    return parse_dictionary(files("cradletrace").joinpath(DATA_FILE).read_text("utf-8"))


# -- checks: the linters ----------------------------------------------------------------------------


def _csum(part: str) -> str | None:
    expected = gtin_check_digit(part[:-1])  # GS1 mod-10, the same for every key length
    return None if int(part[-1]) == expected else f"check digit is {part[-1]}, expected {expected}"


CSUMALPHA_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83)


def check_character_pair(body: str) -> str:
    """The GS1 check character pair of ``body`` (GS1 General Specifications 7.9.5, used by GMN 8013):
    each character's value in set 82 times a prime, 2 for the last and rising leftwards, modulo 1021,
    written as two characters of a 32-character set."""
    total = sum(CSET82.index(ch) * p for ch, p in zip(reversed(body), _PRIMES)) % 1021
    return CSUMALPHA_CHARS[total >> 5] + CSUMALPHA_CHARS[total & 31]


def _csumalpha(part: str) -> str | None:
    if len(part) < 3 or len(part) - 2 > len(_PRIMES):
        return f"a check character pair needs 1-{len(_PRIMES)} characters before it, got {len(part) - 2}"
    expected = check_character_pair(part[:-2])
    return None if part[-2:] == expected else f"check characters are {part[-2:]}, expected {expected}"


def _date(value: str, year_digits: int, day_zero: bool) -> str | None:
    year = int(value[:year_digits]) + (2000 if year_digits == 2 else 0)  # 20YY: leap years right for any YY
    month, day = int(value[year_digits : year_digits + 2]), int(value[year_digits + 2 :])
    layout = "YYMMDD" if year_digits == 2 else "YYYYMMDD"
    if not 1 <= month <= 12 or day > 31:
        return f"{value} does not have the format N{len(value)} ({layout}): month {month:02d}, day {day:02d}"
    last = calendar.monthrange(year, month)[1]
    if not (1 <= day <= last or (day == 0 and day_zero)):
        return f"{value} is not a date: day {day:02d} in month {month:02d} (1-{last})"
    return None


def _in_range(low: int, high: int, what: str) -> Callable[[str], str | None]:
    return lambda part: None if low <= int(part) <= high else f"{part} is not {what} ({low}-{high})"


def _piece_of_total(part: str) -> str | None:
    piece, total = int(part[: len(part) // 2]), int(part[len(part) // 2 :])
    return None if 1 <= piece <= total else f"{part}: piece {piece} of {total} (expected 1 <= piece <= total)"


def _position_in_sequence(part: str) -> str | None:
    m = re.fullmatch(r"([1-9])/([1-9])", part)
    return None if m and m.group(1) <= m.group(2) else f"{part!r} is not a position in a sequence such as 1/2"


def _percent_encoded(part: str) -> str | None:
    bad = re.search(r"%(?![0-9A-Fa-f]{2})", part)
    return f"bad percent-escape in {_shown(part)}" if bad else None


LINTERS: dict[str, Callable[[str], str | None]] = {
    "csum": _csum,
    "csumalpha": _csumalpha,
    "yymmd0": lambda p: _date(p, 2, True),
    "yymmdd": lambda p: _date(p, 2, False),
    "yyyymmdd": lambda p: _date(p, 4, False),
    "hhmi": lambda p: None if int(p[:2]) <= 23 and int(p[2:]) <= 59 else f"{p} is not a time of day (hhmm)",
    "hh": _in_range(0, 23, "an hour"),
    "mi": _in_range(0, 59, "a minute"),
    "ss": _in_range(0, 59, "a second"),
    "zero": lambda p: None if set(p) == {"0"} else f"{p} must be 0",
    "nonzero": lambda p: None if set(p) != {"0"} else f"{p} must not be zero",
    "nozeroprefix": lambda p: None if len(p) == 1 or p[0] != "0" else f"{p} must not start with 0",
    "hasnondigit": lambda p: None if not p.isdigit() else f"{p} must contain a character other than a digit",
    "yesno": lambda p: None if p in "01" else f"{p} must be 0 (no) or 1 (yes)",
    "hyphen": lambda p: None if p == "-" else f"{p!r} must be '-'",
    "winding": lambda p: None if p in "019" else f"{p} is not a winding direction (0, 1 or 9)",
    "iso5218": lambda p: None if p in "0129" else f"{p} is not an ISO/IEC 5218 sex code (0, 1, 2 or 9)",
    "latitude": _in_range(0, 1_800_000_000, "a latitude"),
    "longitude": _in_range(0, 3_600_000_000, "a longitude"),
    "pieceoftotal": _piece_of_total,
    "posinseqslash": _position_in_sequence,
    "pcenc": _percent_encoded,
    "importeridx": lambda p: None if re.fullmatch(r"[-0-9A-Za-z_]", p) else f"{p!r} is not an importer index",
}
# Linters not run, each with why: they need tables this module does not hold. A value is checked for
# its character set and length only in these components.
UNCHECKED: dict[str, str] = {
    "gcppos1": "needs GS1's Company Prefix length table",
    "gcppos2": "needs GS1's Company Prefix length table",
    "iso3166": "needs the ISO 3166 country list",
    "iso3166999": "needs the ISO 3166 country list",
    "iso3166alpha2": "needs the ISO 3166 country list",
    "iso4217": "needs the ISO 4217 currency list",
    "iban": "needs the IBAN country formats",
    "couponcode": "needs the North American coupon layout",
    "couponposoffer": "needs the North American coupon layout",
    "packagetype": "needs the UN/ECE package type list",
    "mediatype": "needs GS1's AIDC media type list",
}


# -- a value against its entry ----------------------------------------------------------------------


def _length_problem(name: str, value: str, low: int, high: int, unit: str) -> str | None:
    if low == high and len(value) != low:
        return f"{name} must be {low} {unit}, got {len(value)}"
    if len(value) > high:
        return f"{name} longer than {high} {unit} (got {len(value)})"
    if len(value) < low:
        return f"{name} shorter than {low} {unit} (got {len(value)})"
    return None


def _charset_problem(name: str, charset: str, part: str, where: str = "") -> str | None:
    label, allowed = CHARSETS[charset]
    bad = next((ch for ch in part if ch not in allowed), None)
    if bad is None:
        return None
    what = "must be digits" if charset == "N" else f"character {bad!r} not in {label}"
    return f"{name}{where} {what}, got {_shown(part)}"


def split(entry: Entry, value: str, name: str) -> tuple[list[str], str | None]:
    """``value`` cut into its components' parts, or the length rule it breaks."""
    parts: list[str] = []
    at = 0
    for c in entry.components:
        if at >= len(value) and c.optional:
            break
        part = value[at : at + c.max_length]
        if len(part) < c.min_length:
            unit = "digits" if c.charset == "N" else "characters"
            return parts, f"{name} {_shown(value)}: {c.format} at character {at + 1} needs {c.min_length} {unit}"
        parts.append(part)
        at += len(part)
    if at < len(value):
        return parts, f"{name} longer than {entry.max_length} characters (got {len(value)})"
    return parts, None


def value_problem(entry: Entry, value: str, name: str) -> str | None:
    """None when ``value`` is a valid value of ``entry``'s AI, else the rule it breaks, naming it ``name``."""
    if not value:
        return "empty value"
    charset = entry.charset
    if charset:  # one set for the whole value: checked, and measured, as one
        problem = _charset_problem(name, charset, value) or _length_problem(
            name, value, entry.min_length, entry.max_length, "digits" if charset == "N" else "characters"
        )
        if problem:
            return problem
    elif len(value) < entry.min_length:
        return f"{name} shorter than {entry.min_length} characters (got {len(value)})"
    parts, problem = split(entry, value, name)
    if problem:
        return problem
    at = 0
    for c, part in zip(entry.components, parts):
        if not charset:
            problem = _charset_problem(name, c.charset, part, f" characters {at + 1}-{at + len(part)}")
            if problem:
                return problem
        at += len(part)
        for linter in c.linters:
            check = LINTERS.get(linter)
            problem = check(part) if check else None
            if problem:
                # a check-digit message stands alone ("check digit is 4, expected 3"): the field names the AI
                return f"{name} {problem}" if not problem.startswith("check ") else problem
    return None

"""Codes on the pack: GS1 Digital Link URIs and the random serials inside them.

One code per retail unit::

    https://<resolver>/01/<GTIN-14>/10/<lot>/21/<serial>

Lot (AI 10) and serial (AI 21) are GS1 character set 82 values; in the URI path every
character outside RFC 3986's unreserved set is percent-encoded, as GS1 Digital Link 1.x
requires (so ``LOT/7`` is written ``LOT%2F7``). Parsing takes any GS1-valid serial, so a
foreign or forged code reads as "not registered" rather than as a malformed URI; commissioning
takes only serials of this module's alphabet, long enough to carry at least 64 random bits.

Serials are Crockford base32 (digits and capitals without I, L, O and U): every character is
in CSET 82, none can be mistaken for another when read off a pack and typed, and each carries
5 bits, so 80 random bits fit in 16 characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from cradletrace.core import codes
from cradletrace.errors import InvalidInputError, Problem

SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MIN_SERIAL_BITS = 64
SERIAL_BYTES = 10  # what the label generator draws: 80 bits, 16 characters
MIN_SERIAL_CHARS = -(-MIN_SERIAL_BITS // 5)  # 13
MAX_SERIAL_CHARS = 20  # GS1 AI 21
_SERIAL = re.compile(f"[{SERIAL_ALPHABET}]{{{MIN_SERIAL_CHARS},{MAX_SERIAL_CHARS}}}")
# What a person typing a serial gets wrong: case, group separators, look-alike letters.
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})

# RFC 3986 pchar: unreserved, percent-encoded, sub-delims, ':' and '@'.
_PCHAR = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DEFAULT_SCHEME = "https"
# (AI, part name) in the order GS1 Digital Link fixes for the path.
_PATH_PARTS = (("01", "gtin"), ("10", "lot"), ("21", "serial"))


def _fail(part: str, message: str) -> InvalidInputError:
    return InvalidInputError(Problem(part, message))


def _shown(value: str, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# -- serials --------------------------------------------------------------------------------


def serial_from_bytes(random: bytes) -> str:
    """Write ``random`` (8 to 12 bytes from a CSPRNG) as a serial of 13 to 20 characters.

    The caller supplies the bytes so this stays pure and testable; the mapping is one-to-one,
    so the serial carries every bit it was given.
    """
    bits = len(random) * 8
    if not MIN_SERIAL_BITS <= bits <= MAX_SERIAL_CHARS * 5:
        raise _fail(
            "random", f"expected {MIN_SERIAL_BITS // 8} to {MAX_SERIAL_CHARS * 5 // 8} random bytes, got {len(random)}"
        )
    value = int.from_bytes(random, "big")
    chars = -(-bits // 5)
    return "".join(SERIAL_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(chars)))


def serial_problem(value: str) -> str | None:
    """None when ``value`` is a serial this system issues, else what is wrong with it."""
    if not _SERIAL.fullmatch(value):
        return (
            f"expected {MIN_SERIAL_CHARS}-{MAX_SERIAL_CHARS} characters of 0-9 and A-Z without I, L, O, U "
            f"(at least {MIN_SERIAL_BITS} random bits), got {_shown(value)}"
        )
    return None


# Randomness checks for commissioning. Each bound is set so that a serial of the label
# generator (16 characters, 80 bits from a CSPRNG) fails it with probability below 1e-14, so
# it never refuses what the generator made, and anything typed or counted fails it at once.
MAX_PATTERN_RUN = 11  # characters in a row that repeat or count up or down by one: P(>= 12) < 2e-15
MIN_DISTINCT = 3  # distinct characters in one serial: P(<= 2 of 32 in 16) < 3e-17
MIN_GAP = 1 << 32  # between neighbouring serials of one event, as numbers: P(closer) < 2^-47


_DIGIT = {ch: i for i, ch in enumerate(SERIAL_ALPHABET)}
_AS_BASE32 = str.maketrans(SERIAL_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTUV")  # int(..., 32)'s digits


def serial_value(serial: str) -> int:
    """The number a serial writes in base 32 (its random bits, for serials of this module)."""
    return int(serial.translate(_AS_BASE32), 32)


def _pattern_run(serial: str) -> int:
    """The longest stretch of characters that repeat or count up or down by one."""
    best = run = 1
    step = None
    prev = _DIGIT[serial[0]]
    for ch in serial[1:]:
        d = _DIGIT[ch] - prev
        prev += d
        if -1 <= d <= 1:
            run = run + 1 if d == step else 2
            best = max(best, run)
        else:
            run = 1
        step = d
    return best


def issued_serial_problem(value: str) -> str | None:
    """None when ``value`` could have come from the label generator, else why not.

    Beyond ``serial_problem`` (the alphabet, and enough characters for 64 random bits), a
    serial of random bits has no long run of one character or of counting characters and uses
    more than two distinct characters.
    """
    problem = serial_problem(value)
    if problem:
        return problem
    run = _pattern_run(value)
    if run > MAX_PATTERN_RUN:
        return (
            f"expected a random serial from the label generator, got {_shown(value)} with {run} characters in a "
            f"row that repeat or count by one (at most {MAX_PATTERN_RUN})"
        )
    if len(set(value)) < MIN_DISTINCT:
        return (
            f"expected a random serial from the label generator, got {_shown(value)} made of "
            f"{len(set(value))} distinct characters (at least {MIN_DISTINCT})"
        )
    return None


def serial_sequence_problem(serials: Sequence[str]) -> tuple[int, str] | None:
    """(index, why) for the first serial of one commissioning event that continues a sequence.

    Random serials lie far apart: neighbours closer than 2^32 as numbers, or three in a row
    with equal steps (an arithmetic progression: ...0001, ...0002, ...0003, or any stride),
    were counted, not drawn.
    """
    values = [serial_value(s) for s in serials]
    for i in range(1, len(values)):
        if len(serials[i]) != len(serials[i - 1]):
            continue
        if abs(values[i] - values[i - 1]) < MIN_GAP:
            return i, (
                f"expected a random serial from the label generator, got {serials[i]} which is within 2^32 of "
                f"serials[{i - 1}] ({serials[i - 1]}): sequential serials can be guessed"
            )
        if (
            i >= 2
            and len(serials[i - 2]) == len(serials[i])
            and values[i] - values[i - 1] == values[i - 1] - values[i - 2]
        ):
            return i, (
                f"expected a random serial from the label generator, got {serials[i]} which continues the "
                f"equal steps of serials[{i - 2}] and serials[{i - 1}]: serials in a progression can be guessed"
            )
    return None


def normalise_serial(typed: str) -> str:
    """A serial as a person typed it (any case, spaces or hyphens, O for 0, I or L for 1)."""
    value = typed.strip().upper().translate(_TYPED)
    problem = serial_problem(value)
    if problem:
        raise _fail("serial", problem)
    return value


# -- Digital Link ---------------------------------------------------------------------------


def _gs1_value(part: str, value: str) -> None:
    problem = codes.lot_problem(value)
    if problem:
        raise _fail(part, problem)


@dataclass(frozen=True)
class ItemCode:
    """The GS1 keys of one retail unit: GTIN-14, lot and serial. Always valid once built."""

    gtin: str
    lot: str
    serial: str

    def __post_init__(self) -> None:
        problem = codes.gtin_problem(self.gtin)
        if problem:
            raise _fail("gtin", problem)
        _gs1_value("lot", self.lot)
        _gs1_value("serial", self.serial)

    @property
    def path(self) -> str:
        """``/01/<gtin>/10/<lot>/21/<serial>`` with lot and serial percent-encoded."""
        return f"/01/{self.gtin}/10/{quote(self.lot, safe='')}/21/{quote(self.serial, safe='')}"


@dataclass(frozen=True)
class DigitalLink(ItemCode):
    """An item code under a resolver origin such as ``https://id.cradletrace.example``."""

    resolver: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if resolver_origin(self.resolver) != self.resolver:
            raise _fail(
                "resolver",
                f"expected a normalised origin such as 'https://id.example.com', "
                f"got {_shown(self.resolver)} (use resolver_origin)",
            )

    @property
    def uri(self) -> str:
        return self.resolver + self.path

    @property
    def code(self) -> ItemCode:
        return ItemCode(self.gtin, self.lot, self.serial)


def resolver_origin(value: str) -> str:
    """``host``, ``host:port`` or ``http(s)://host[:port]`` as a lower-case origin (https by default)."""
    text = value.strip()
    m = _SCHEME.match(text)
    scheme = m.group(1).lower() if m else _DEFAULT_SCHEME
    rest = text[m.end() :] if m else text
    if "://" in rest:
        raise _fail("resolver", f"expected scheme http or https, got {_shown(value)}")
    rest = rest.removesuffix("/")
    host, sep, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host.lower()
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise _fail(
            "resolver", f"expected a host name such as id.example.com (no path, query or user), got {_shown(value)}"
        )
    if sep and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536 and not port.startswith("0")):
        raise _fail("resolver", f"expected a port 1-65535 after ':', got {_shown(port)}")
    return f"{scheme}://{host}{sep}{port}"


def build_uri(resolver: str, gtin: str, lot: str, serial: str) -> str:
    """The Digital Link URI of one item; ``resolver`` as ``resolver_origin`` accepts it."""
    return DigitalLink(gtin, lot, serial, resolver_origin(resolver)).uri


def _decoded(part: str, raw: str) -> str:
    if not _PCHAR.fullmatch(raw):
        raise _fail(part, f"expected a percent-encoded GS1 value, got {_shown(raw)}")
    try:
        value = unquote_to_bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise _fail(part, f"expected GS1 characters (ASCII), got {_shown(raw)}") from None
    return value


def _gtin14(raw: str) -> str:
    """GTIN-8, -12, -13 or -14 as the 14 digits GS1 compares (leading zeros change no check digit)."""
    value = _decoded("gtin", raw)
    if not (value.isascii() and value.isdigit() and len(value) in (8, 12, 13, 14)):
        raise _fail("gtin", f"expected a GTIN of 8, 12, 13 or 14 digits, got {_shown(value)}")
    return value.zfill(14)


def parse_path(path: str) -> ItemCode:
    """Read ``/01/<GTIN>/10/<lot>/21/<serial>``; errors name the part at fault (gtin, lot, serial, path)."""
    if not path.startswith("/"):
        raise _fail("path", f"expected a path starting with /01/, got {_shown(path)}")
    segments = path[1:].split("/")
    values: dict[str, str] = {}
    for i, (ai, part) in enumerate(_PATH_PARTS):
        where = segments[2 * i : 2 * i + 2]
        if not where or where[0] != ai:
            got = _shown(f"/{where[0]}") if where else "nothing"
            after = "at the start" if i == 0 else f"after the {_PATH_PARTS[i - 1][1]}"
            raise _fail(part, f"expected /{ai}/<{part}> {after}, got {got}")
        if len(where) < 2 or not where[1]:
            raise _fail(part, f"expected a value after /{ai}/, got nothing")
        values[part] = _gtin14(where[1]) if part == "gtin" else _decoded(part, where[1])
    if len(segments) > 2 * len(_PATH_PARTS):
        raise _fail("path", f"expected nothing after the serial, got {_shown('/' + '/'.join(segments[6:]))}")
    return ItemCode(values["gtin"], values["lot"], values["serial"])


def parse_uri(uri: str) -> DigitalLink:
    """Read a Digital Link URI as ``build_uri`` writes it; errors name the part at fault."""
    m = _SCHEME.match(uri)
    if not m:
        raise _fail("resolver", f"expected a URI starting with https:// or http://, got {_shown(uri)}")
    for mark, part in (("#", "fragment"), ("?", "query")):
        if mark in uri:
            raise _fail(part, f"expected no {part} in an item code, got {_shown(uri[uri.index(mark) :])}")
    slash = uri.find("/", m.end())
    if slash < 0:
        raise _fail("path", f"expected /01/<GTIN>/10/<lot>/21/<serial> after the host, got nothing in {_shown(uri)}")
    resolver = resolver_origin(uri[:slash])
    code = parse_path(uri[slash:])
    return DigitalLink(code.gtin, code.lot, code.serial, resolver)


# What a person copies off a pack: the three HRI lines, "(01) <GTIN> (10) <lot> (21) <serial>",
# with ASCII or full-width brackets (a Chinese keyboard types the latter) and any spacing.
_HRI = re.compile(
    r"[(（]\s*01\s*[)）]\s*([0-9 ]+?)\s*[(（]\s*10\s*[)）]\s*(\S+)\s*[(（]\s*21\s*[)）]\s*(.+)", re.DOTALL
)


def parse_typed(text: str) -> ItemCode:
    """Read a code as a person pastes or types it: a Digital Link URI under any host (query and
    fragment ignored), its path alone, or the human-readable lines printed under the QR.

    Only the typed serial is normalised (``normalise_serial``): a link is taken as it is, since a
    scanner or a copy-paste does not mistype.
    """
    value = text.strip()
    hri = _HRI.fullmatch(value)
    if hri:
        gtin, lot, serial = hri.groups()
        return ItemCode(_gtin14(gtin.replace(" ", "")), lot, normalise_serial(serial))
    m = _SCHEME.match(value)
    rest = value[m.end() :] if m else value
    if not rest.startswith("/"):
        slash = rest.find("/")
        if slash < 0:
            raise _fail(
                "path",
                f"expected a link with /01/<GTIN>/10/<lot>/21/<serial> or the lines (01) (10) (21), "
                f"got {_shown(value)}",
            )
        rest = rest[slash:]
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    if path.endswith("/") and path.count("/") == 2 * len(_PATH_PARTS) + 1:
        path = path[:-1]  # a slash after the serial, as some link shorteners and chat apps add
    return parse_path(path)

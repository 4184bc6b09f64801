"""Canonical JSON (RFC 8785, JCS) and the SHA-256 event digest.

The digest of an event is ``sha256(jcs(event))``: the same on every machine and in every
language that implements RFC 8785. ``json.dumps`` with sorted keys agrees with JCS only for
values made of strings, safe integers, booleans and null whose keys stay in the Basic
Multilingual Plane. Floats are written in ECMAScript form by ``es_number`` and spliced into
the C encoder's output through a sentinel string (NUL never survives JSON escaping
unchanged, and strings holding NUL take the slow path). Astral-plane keys, whose JCS order
differs from code-point order, go through the reference ``rfc8785`` encoder.

Recording canonicalises every submitted event, so ``canonical_bytes`` first tries ``_fast``:
orjson's sorted-key output, accepted only when it provably is the text above (see there), with
its float tokens rewritten in ECMAScript form; anything it cannot vouch for takes the path above.
"""

from __future__ import annotations

import hashlib
import json
import re

import orjson
import rfc8785

from cradletrace.errors import CanonicalizationError, Problem

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

MAX_DEPTH = 32
_MAX_SAFE_INT = 2**53 - 1
_MAX_INT_DIGITS = 309  # the largest double, 1.8e308, has 309 digits
_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


_FLOAT, _SLOW = 1, 2
_SENTINEL = re.compile(r'"\\u0000F([-+.e0-9]+)\\u0000"')


def es_number(value: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite float (RFC 8785 section 3.2.2.3)."""
    if value == 0:
        return "0"
    text = repr(value)
    if "e" not in text:  # repr is plain decimal for 1e-4 <= |v| < 1e16, where ES agrees
        return text[:-2] if text.endswith(".0") else text
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    n = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = (digits if k == 1 else digits[0] + "." + digits[1:]) + ("e+" if e > 0 else "e-") + str(abs(e))
    return sign + out


def _kind(value: object, depth: int = 0) -> int:
    """0: plain json; 1: has floats (sentinel path); 2: needs rfc8785. Raises on values JCS forbids."""
    t = type(value)
    if depth >= MAX_DEPTH and (t is dict or t is list):
        raise CanonicalizationError(Problem("", f"expected at most {MAX_DEPTH} levels of nesting"))
    if t is str:
        return _SLOW if "\x00" in value else 0  # type: ignore[operator]
    if t is dict:
        flags = 0
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise CanonicalizationError(Problem("", f"expected string keys, got {key!r}"))
            if (not key.isascii() and ("\x00" in key or any(ord(ch) > 0xFFFF for ch in key))) or "\x00" in key:
                flags |= _SLOW
            flags |= _kind(item, depth + 1)
        return flags
    if t is list:
        flags = 0
        for item in value:  # type: ignore[attr-defined]
            flags |= _kind(item, depth + 1)
        return flags
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise CanonicalizationError(Problem("", f"expected a finite number, got {value}"))
        return _FLOAT
    if t is bool or value is None:
        return 0
    if t is int:
        if abs(value) > _MAX_SAFE_INT:  # type: ignore[arg-type]
            raise CanonicalizationError(Problem("", f"expected an integer within ±(2^53-1), got {value}"))
        return 0
    raise CanonicalizationError(Problem("", f"expected a JSON value, got {t.__name__}"))


def _mark_floats(value: JsonValue) -> JsonValue:
    if isinstance(value, float):
        return f"\x00F{es_number(value)}\x00"
    if isinstance(value, dict):
        return {k: _mark_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_floats(v) for v in value]
    return value


# orjson refuses (TypeError) what has no JSON form here: non-string keys, integers beyond ±(2^53-1),
# str/int/dict/list subclasses, dates, dataclasses, lone surrogates, nesting past 254 levels.
_FAST_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_STRING_SPLIT = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")')  # a string, escapes and all, as one part
_ASTRAL = re.compile(rb"[\xf0-\xf4]")  # lead byte of a character beyond U+FFFF, where JCS key order differs
_FLOATS = re.compile(rb"[0-9][.e]")
_FLOAT_TOKEN = re.compile(rb"-?[0-9]+(?:\.[0-9]+(?:e[-+]?[0-9]+)?|e[-+]?[0-9]+)")
_BRACKETS_ONLY = re.compile(rb"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(rb"[\[{][\]}]")


def _es_token(match: re.Match[bytes]) -> bytes:
    return es_number(float(match.group())).encode()


def _fast(value: JsonValue) -> bytes | None:
    """The canonical bytes of ``value`` through orjson, or None where this path cannot vouch for them.

    orjson with sorted keys writes what the C encoder above writes (same escapes, keys in code-point
    order, which is JCS order inside the BMP) except for floats, NaN/Infinity (null), and types it
    serialises natively that are not JSON values (tuples, UUIDs, enums). So: no astral characters or
    NUL anywhere; parsed back it equals ``value`` (NaN != null, a tuple != a list, a UUID != its
    text); at most MAX_DEPTH - 1 levels (the limit itself is the slow path's to judge); every float
    token, found outside strings, rewritten by ``es_number`` from the double it stands for (orjson
    writes the shortest round-tripping digits, so ``float(token)`` is the value itself).
    """
    try:
        out = orjson.dumps(value, option=_FAST_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    if b"\\" in out:  # an escape: a quote may sit inside a string
        if b"\\u0000" in out:
            return None
        parts, glue = _STRING_SPLIT.split(out), b""  # outside, "string", outside, ..., outside
    else:  # every quote opens or closes a string
        parts, glue = out.split(b'"'), b'"'  # outside, string, outside, ..., outside
    if not out.isascii() and _ASTRAL.search(out) is not None:
        return None
    outside = b'"'.join(parts[0::2])  # '"' occurs only in strings, so it keeps the parts apart
    brackets = _BRACKETS_ONLY.sub(b"", outside)
    for _ in range(MAX_DEPTH - 1):  # each pass removes the innermost level everywhere
        if not brackets:
            break
        brackets = _EMPTY_PAIR.sub(b"", brackets)
    if brackets or orjson.loads(out) != value:
        return None
    if _FLOATS.search(outside) is None:
        return out
    parts[0::2] = _FLOAT_TOKEN.sub(_es_token, outside).split(b'"')
    return glue.join(parts)


def canonical_bytes(value: JsonValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``value``."""
    fast = _fast(value)
    if fast is not None:
        return fast
    return _canonical_bytes(value)


def _canonical_bytes(value: JsonValue) -> bytes:
    """The reference path: checks every value (``_kind``), then the C encoder or ``rfc8785``."""
    flags = _kind(value)
    try:
        if flags == 0:
            return _encoder.encode(value).encode("utf-8")
        if flags == _FLOAT:
            return _SENTINEL.sub(r"\1", _encoder.encode(_mark_floats(value))).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(Problem("", "expected valid Unicode text, got a lone surrogate")) from exc
    try:
        return rfc8785.dumps(value)
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(Problem("", "expected valid Unicode text, got a lone surrogate")) from exc
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(Problem("", f"expected a JSON value with a canonical form: {exc}")) from exc


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_of(value: JsonValue) -> bytes:
    """SHA-256 of the canonical form: the event digest that becomes a Merkle leaf."""
    return hashlib.sha256(canonical_bytes(value)).digest()


def _reject_duplicate_keys(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for key, item in pairs:
        if key in out:
            raise CanonicalizationError(Problem(key, "expected each key once, got it twice"))
        out[key] = item
    return out


def _reject_constant(name: str) -> JsonValue:
    raise CanonicalizationError(Problem("", f"expected a finite number, got {name}"))


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"[\[{][\]}]")


def _too_deep(text: str) -> bool:
    """True when containers nest deeper than MAX_DEPTH. Found with regular expressions, not
    recursion: C json can overflow the C stack on hostile depth before any limit trips."""
    skeleton = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        reduced = _INNERMOST.sub("", skeleton)  # each pass peels one level everywhere
        if reduced == skeleton:
            return False
        skeleton = reduced
    return _INNERMOST.search(skeleton) is not None


def _parse_int(text: str) -> int | float:
    # As JavaScript's JSON.parse does: beyond 2^53 an integer is a double. This keeps the
    # canonical text of a large whole float (1e20 -> "100000000000000000000") readable again.
    # An integer beyond every double is Infinity there, which JSON cannot carry; refuse it before
    # Python's int() refuses it (over 4 300 digits) or float() overflows, as a finite-number problem.
    digits = len(text) - text.startswith("-")
    if digits > _MAX_INT_DIGITS:
        raise CanonicalizationError(Problem("", f"expected a finite number, got an integer of {digits} digits"))
    value = int(text)
    if abs(value) <= _MAX_SAFE_INT:
        return value
    try:
        return float(value)
    except OverflowError:
        raise CanonicalizationError(
            Problem("", f"expected a finite number, got an integer of {digits} digits")
        ) from None


def parse_json(text: str | bytes) -> JsonValue:
    """Parse strict JSON: UTF-8 only, no duplicate keys, no NaN/Infinity, no lone surrogates,
    no trailing data, bounded depth."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalizationError(
                Problem("", f"expected UTF-8 text, got byte 0x{text[exc.start]:02x} at offset {exc.start}")
            ) from None
    if _too_deep(text):
        raise CanonicalizationError(Problem("", f"expected at most {MAX_DEPTH} levels of nesting"))
    try:
        value: JsonValue = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant, parse_int=_parse_int
        )
    except json.JSONDecodeError as exc:
        raise CanonicalizationError(
            Problem(f"line {exc.lineno} column {exc.colno}", f"expected valid JSON: {exc.msg}")
        ) from exc
    except RecursionError as exc:
        raise CanonicalizationError(Problem("", "expected a shallower JSON document")) from exc
    if "\\ud" in text.lower():  # only an escape can smuggle in a lone surrogate
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise CanonicalizationError(
                Problem("", "expected valid Unicode text, got a lone surrogate escape")
            ) from None
    _kind(value)
    return value

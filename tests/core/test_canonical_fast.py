"""``canonical._fast`` (orjson) gives exactly the reference path's bytes, or declines.

Recording canonicalises every event through the fast path; one byte of difference would change a
digest and fail every signature made by other implementations, so equality is checked on random
JSON values, on every float shape, and on the values the fast path must leave to the reference.
"""

from __future__ import annotations

import enum
import random
import struct
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cradletrace.core import canonical
from cradletrace.core.canonical import MAX_DEPTH, _canonical_bytes, _fast, canonical_bytes
from cradletrace.errors import CanonicalizationError
from tests.core.test_canonical import json_values, tricky_text

SAFE = 2**53 - 1
bmp_text = st.text(st.characters(codec="utf-8", max_codepoint=0xFFFF, blacklist_characters="\x00"), max_size=12).filter(
    lambda s: "\\u0000" not in s
)
# (text holding a backslash and "u0000" is left to the reference too: it reads like an escaped NUL)
bmp_text |= tricky_text.filter(lambda s: "\x00" not in s and "\\u0000" not in s and all(ord(c) <= 0xFFFF for c in s))
bmp_values = st.recursive(
    st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.floats(allow_nan=False, allow_infinity=False) | bmp_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(bmp_text, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fast_path_equals_the_reference_or_declines(value: Any) -> None:
    fast = _fast(value)
    assert fast is None or fast == _canonical_bytes(value)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(bmp_values)
def test_fast_path_takes_bmp_values_and_gives_the_reference_bytes(value: Any) -> None:
    """Without astral characters or NUL the fast path must answer (else it is dead weight) and agree."""
    fast = _fast(value)
    assert fast is not None
    assert fast == _canonical_bytes(value)


def test_every_float_shape_is_written_in_ecmascript_form() -> None:
    """Random bit patterns (every exponent), integral floats, the decimal/exponent edges of both
    orjson and ECMAScript, signed zeros, in objects and lists, next to number-like strings."""
    rnd = random.Random(18)
    floats = [struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    floats = [f for f in floats if f == f and abs(f) != float("inf")]
    floats += [float(i) for i in range(-50, 50)] + [0.0, -0.0, 4.0, 1e16, 1e21, 1e-6, 1e-7, 1e-5, 1e15 + 0.5]
    floats += [10.0**e for e in range(-30, 30)] + [2.0**53, 2.0**53 + 2, 9.999999999999999e20, 5e-324]
    floats += [round(rnd.uniform(-40, 60), rnd.randint(0, 3)) for _ in range(5_000)]
    for i in range(0, len(floats), 50):
        chunk = floats[i : i + 50]
        value = {"t": chunk, "s": ["1.0", "4.0e+5", '"2.0"', "\\"], "m": {str(f): f for f in chunk[:5]}}
        assert _fast(value) == _canonical_bytes(value), chunk


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        {"a": (1, 2)},
        {"a": float("nan")},
        {"a": [float("inf")]},
        {"a": uuid.UUID(int=7)},
        {"a": Color.RED},
        {"a": 2**53},
        {1: "a"},
        {"a": "\ud800"},
        {"\U0001f600": 1, "\uffff": 2},
        {"a": "x\x00y"},
    ],
)
def test_fast_path_leaves_non_json_and_special_values_to_the_reference(value: Any) -> None:
    """The same bytes or the same refusal as the reference path, whichever it gives."""
    assert _fast(value) is None
    try:
        expected: bytes | str = _canonical_bytes(value)
    except CanonicalizationError as exc:
        expected = str(exc)
    try:
        got: bytes | str = canonical_bytes(value)
    except CanonicalizationError as exc:
        got = str(exc)
    assert got == expected


def test_nesting_limit_is_the_reference_paths_to_judge() -> None:
    def nest(levels: int) -> Any:
        inner: Any = {"k": 1.5}
        for _ in range(levels - 1):
            inner = [inner]
        return inner

    assert _fast(nest(MAX_DEPTH - 1)) == _canonical_bytes(nest(MAX_DEPTH - 1))
    assert _fast(nest(MAX_DEPTH)) is None
    assert canonical_bytes(nest(MAX_DEPTH)) == _canonical_bytes(nest(MAX_DEPTH))
    with pytest.raises(CanonicalizationError, match=f"at most {MAX_DEPTH} levels"):
        canonical.canonical_bytes(nest(MAX_DEPTH + 1))

"""Canonical JSON (RFC 8785) and the event digest, checked against the reference ``rfc8785``."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cradletrace.core.canonical import MAX_DEPTH, canonical_bytes, digest_of, es_number, parse_json
from cradletrace.errors import CanonicalizationError, InvalidInputError

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "canonical.json").read_text("utf-8"))
SAFE = 2**53 - 1

# Text the float fast path could confuse with its own "\u0000F<number>\u0000" sentinel.
TRICKY_FRAGMENTS = [
    "\x00",
    "F",
    "1.5",
    "-2e+30",
    "\\",
    "\\u0000",
    "u0000",
    '"',
    '\\"',
    "\\\\",
    "e",
    "+",
    ".",
    "\x01",
    "\x1f",
    "\x7f",
    "\u2028",
    "\ufeff",
    "\U0001f600",
    "é",
]
tricky_text = st.lists(st.sampled_from(TRICKY_FRAGMENTS), max_size=8).map("".join)
text = (
    st.text(st.characters(codec="utf-8"), max_size=12)
    | tricky_text
    | st.sampled_from(["\x00F1.5\x00", "\\u0000F1.5\\u0000", '"\\u0000F1.5\\u0000"', "\x00F1e+30\x00", "F1.5"])
)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | finite | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
    max_leaves=25,
)
# Values whose canonical text re-parses to the same JSON value (see the 2^53 note below).
roundtrip_floats = finite.filter(lambda f: f != int(f) or abs(f) <= SAFE)
roundtrip_values = st.recursive(
    st.none() | st.booleans() | st.integers(-SAFE, SAFE) | roundtrip_floats | text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
    max_leaves=25,
)


def _shuffled(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with every object's keys inserted in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


def _nest(levels: int, inner: Any) -> Any:
    for _ in range(levels):
        inner = [inner]
    return inner


# ---- agreement with the reference encoder -------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_canonical_bytes_equals_reference_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@given(st.lists(tricky_text | finite, max_size=8), st.dictionaries(tricky_text, finite | tricky_text, max_size=5))
def test_sentinel_lookalike_text_next_to_floats_is_encoded_like_the_reference(
    items: list[Any], obj: dict[str, Any]
) -> None:
    value: Any = {"items": items, "obj": obj, "f": 1.5}
    assert canonical_bytes(value) == rfc8785.dumps(value)


@given(json_values, st.randoms(use_true_random=False))
def test_key_order_never_changes_the_hash(value: Any, rnd: random.Random) -> None:
    assert canonical_bytes(_shuffled(value, rnd)) == canonical_bytes(value)
    assert digest_of(_shuffled(value, rnd)) == digest_of(value)


@settings(max_examples=300)
@given(roundtrip_values)
def test_digest_survives_a_round_trip_through_the_canonical_text(value: Any) -> None:
    text_ = canonical_bytes(value)
    assert digest_of(json.loads(text_)) == digest_of(value)
    assert canonical_bytes(parse_json(text_)) == text_


@pytest.mark.parametrize("value", [2.0**53, 1e20, -1e20, {"quantity": 9007199254740994.0}])
def test_canonical_text_of_a_big_integral_float_parses_back(value: Any) -> None:
    # canonical_bytes(1e20) == b"100000000000000000000"; parse_json of that text is an int > 2^53-1
    # and is refused, so a bundle holding such an event cannot be verified (verification.read_bundle).
    text_ = canonical_bytes(value)
    assert canonical_bytes(parse_json(text_)) == text_


# ---- pinned vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["documents"], ids=lambda v: v["name"])
def test_pinned_document_vectors(vector: dict[str, str]) -> None:
    expected = vector["canonical"].encode("utf-8")
    assert hashlib.sha256(expected).hexdigest() == vector["sha256"]
    assert canonical_bytes(json.loads(vector["input"])) == expected
    assert canonical_bytes(parse_json(vector["input"])) == expected
    assert canonical_bytes(parse_json(vector["input"].encode("utf-8"))) == expected
    assert digest_of(json.loads(vector["input"])).hex() == vector["sha256"]


@pytest.mark.parametrize("vector", VECTORS["numbers"], ids=lambda v: v["ieee754"])
def test_rfc8785_appendix_b_numbers(vector: dict[str, str]) -> None:
    value = struct.unpack(">d", bytes.fromhex(vector["ieee754"]))[0]
    assert es_number(value) == vector["canonical"]
    assert canonical_bytes([value]) == f"[{vector['canonical']}]".encode()


# ---- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (100.0, "100"),
        (-100.0, "-100"),
        (0.5, "0.5"),
        (1e-4, "0.0001"),
        (1.5e-5, "0.000015"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e15, "1000000000000000"),
        (1e16, "10000000000000000"),
        (1.2345e16, "12345000000000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.7976931348623157e308, "-1.7976931348623157e+308"),
        (2.0**53, "9007199254740992"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_es_number_edge_floats(value: float, expected: str) -> None:
    assert es_number(value) == expected
    assert rfc8785.dumps(value).decode() == expected


@settings(max_examples=500)
@given(finite)
def test_es_number_equals_reference_for_any_finite_float(value: float) -> None:
    assert es_number(value) == rfc8785.dumps(value).decode()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1.0, True),  # JCS numbers are IEEE doubles: 1 and 1.0 are one value
        (0, -0.0, True),
        (1, "1", False),  # the web3 cache-key collision STYLE.md warns about
        (1, True, False),
        (0, False, False),
        (None, "null", False),
        ({"a": 1}, {"a": [1]}, False),
        ([], {}, False),
        ("", None, False),
    ],
)
def test_distinct_values_have_distinct_digests(a: Any, b: Any, same: bool) -> None:
    assert (digest_of(a) == digest_of(b)) is same


def test_digest_is_sha256_of_the_canonical_bytes() -> None:
    value: Any = {"b": 1.5, "a": ["x", None, True]}
    assert canonical_bytes(value) == b'{"a":["x",null,true],"b":1.5}'
    assert digest_of(value) == hashlib.sha256(b'{"a":["x",null,true],"b":1.5}').digest()


@pytest.mark.parametrize("value", [SAFE, -SAFE, 0, [SAFE, -SAFE]])
def test_safe_integers_at_the_boundary_are_accepted(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


# ---- values with no canonical form --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (SAFE + 1, "expected an integer within ±(2^53-1), got 9007199254740992"),
        (-(SAFE + 1), "expected an integer within ±(2^53-1)"),
        ({"n": 10**30}, "expected an integer within ±(2^53-1)"),
        ([1.5, 2**64], "expected an integer within ±(2^53-1)"),
        (float("nan"), "expected a finite number, got nan"),
        (float("inf"), "expected a finite number, got inf"),
        ([1, float("-inf")], "expected a finite number, got -inf"),
        ({1: "a"}, "expected string keys, got 1"),
        ({None: "a"}, "expected string keys, got None"),
        ((1, 2), "expected a JSON value, got tuple"),
        ({1, 2}, "expected a JSON value, got set"),
        (b"bytes", "expected a JSON value, got bytes"),
        ({"a": object()}, "expected a JSON value, got object"),
        (_nest(MAX_DEPTH + 1, 1), "expected at most 32 levels of nesting"),
        ({"a": _nest(MAX_DEPTH, "x")}, "expected at most 32 levels of nesting"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: Any, fragment: str) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonical_bytes(value)
    assert fragment in str(info.value)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "a\udfffb",
        ["x", "\udc00", 1.5],  # float fast path
        {"\ud800": 1},
        {"k": "\ud83d"},
        "\x00\ud800",  # NUL sends the value to the reference encoder
        ["\x00", {"v": "\udbff"}],
        pytest.param(
            {"\ud800\x00": 1},
        ),
        pytest.param(
            {"\U0001f600": 1, "\udc00": 2},  # astral key sends it to the reference encoder
        ),
    ],
)
def test_lone_surrogates_are_refused_with_canonicalization_error(value: Any) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonical_bytes(value)
    assert "expected" in str(info.value)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert canonical_bytes(_nest(MAX_DEPTH, 1)) == b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    assert canonical_bytes(_nest(MAX_DEPTH - 1, {})) == b"[" * (MAX_DEPTH - 1) + b"{}" + b"]" * (MAX_DEPTH - 1)


@pytest.mark.parametrize("inner", [[], {}])
def test_nesting_beyond_the_limit_is_refused_whatever_is_innermost(inner: Any) -> None:
    # _nest(32, []) is 33 nested arrays; _nest(33, 1) (also 33 arrays) is refused.
    with pytest.raises(CanonicalizationError, match="at most 32 levels"):
        canonical_bytes(_nest(MAX_DEPTH, inner))


# ---- parse_json -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "b": [true, null, 1.5]}', {"a": 1, "b": [True, None, 1.5]}),
        ("  [1]\n", [1]),
        ('"\\u00e9\\ud83d\\ude00"', "é\U0001f600"),
        (b'{"a":"\xc3\xa9"}', {"a": "é"}),
        ("9007199254740991", SAFE),
        ("-9007199254740991", -SAFE),
        ("1e300", 1e300),
        ('{"a": {"a": 1}}', {"a": {"a": 1}}),  # same key at different levels is fine
    ],
)
def test_parse_json_accepts_strict_json(text: str | bytes, expected: Any) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ('{"a": 1, "a": 2}', "a", "expected each key once, got it twice"),
        ('{"x": {"lot": 1, "lot": 1}}', "lot", "expected each key once"),
        ('[{"k": 1}, {"k": 2, "k": 3}]', "k", "expected each key once"),
        ("NaN", "", "expected a finite number, got NaN"),
        ('{"c": Infinity}', "", "expected a finite number, got Infinity"),
        ("[-Infinity]", "", "expected a finite number, got -Infinity"),
        ("1e400", "", "expected a finite number, got inf"),
        # Integers beyond every double: int() refused them over 4 300 digits and float() overflowed below
        # that, so every JSON route answered 500.
        ('{"q": ' + "1" * 5000 + "}", "", "expected a finite number, got an integer of 5000 digits"),
        ("[-" + "9" * 400 + "]", "", "expected a finite number, got an integer of 400 digits"),
        ("9" * 309, "", "expected a finite number, got an integer of 309 digits"),
        ("{} x", "line 1 column 4", "expected valid JSON: Extra data"),
        ('{"a":1}{"b":2}', "line 1 column 8", "expected valid JSON: Extra data"),
        ("[1] [2]", "line 1 column 5", "expected valid JSON"),
        ("", "line 1 column 1", "expected valid JSON: Expecting value"),
        ("{'a': 1}", "line 1 column 2", "expected valid JSON"),
        ("[1,]", "line 1 column 4", "expected valid JSON"),
        ('"\\x41"', "line 1 column 2", "expected valid JSON: Invalid \\escape"),
        (b'"\xff"', "", "expected UTF-8 text"),
        (b'{"a": "\xc3"}', "", "expected UTF-8 text"),
        pytest.param(b'"\xed\xa0\x80"', "", "expected UTF-8 text"),  # an encoded surrogate is not UTF-8
        ("[" * 33 + "1" + "]" * 33, "", "expected at most 32 levels of nesting"),
        ('{"a":' * 40 + "1" + "}" * 40, "", "expected at most 32 levels of nesting"),
        ("[" * 100_000 + "]" * 100_000, "", "expected at most 32 levels of nesting"),
        pytest.param('{"a":1}'.encode("utf-16-le"), "line 1 column 2", "expected valid JSON"),
        pytest.param('{"a":1}'.encode("utf-16"), "", "expected UTF-8 text"),
        pytest.param('{"a":1}'.encode("utf-32"), "", "expected UTF-8 text"),
        pytest.param('"\\ud800"', "", "expected"),
    ],
)
def test_parse_json_refuses_bad_input_naming_the_problem(text: str | bytes, where: str, fragment: str) -> None:
    with pytest.raises(CanonicalizationError) as info:
        parse_json(text)
    assert info.value.problems[0].where == where
    assert fragment in info.value.problems[0].message


@pytest.mark.parametrize("text", ["9007199254740992", "-9007199254740993", "100000000000000000000"])
def test_integers_beyond_2_53_parse_as_doubles_like_javascript(text: str) -> None:
    value = parse_json(text)
    assert isinstance(value, float)
    assert parse_json(canonical_bytes(value)) == value

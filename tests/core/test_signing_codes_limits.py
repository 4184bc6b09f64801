"""Supplier signatures, GS1 codes, and the limits table that test-report verdicts rest on."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core import codes, signing
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.testreport import Limit, analyte_passes, fill_limits, parse_limits_table, report_verdict
from cradletrace.errors import InvalidInputError

# ---- signing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair() -> signing.KeyPair:
    return signing.generate_key_pair()


@pytest.fixture(scope="module")
def other() -> signing.KeyPair:
    return signing.generate_key_pair()


MESSAGE = canonical_bytes({"kind": "batch", "data": {"lot": "L1", "quantity": 1.5}})


def test_sign_verify_round_trip(pair: signing.KeyPair) -> None:
    private = signing.load_private_key(pair.private_pem)
    assert signing.public_key_of(private) == pair.public_key
    sig = signing.sign(private, MESSAGE)
    assert len(base64.b64decode(sig, validate=True)) == 64
    assert signing.verify_signature(pair.public_key, MESSAGE, sig)


PAIR_FOR_HYPOTHESIS = signing.generate_key_pair()  # Hypothesis does not mix with function fixtures


@given(st.binary(max_size=200))
def test_any_message_round_trips(message: bytes) -> None:
    private = signing.load_private_key(PAIR_FOR_HYPOTHESIS.private_pem)
    assert signing.verify_signature(PAIR_FOR_HYPOTHESIS.public_key, message, signing.sign(private, message))


def _flip_b64(sig: str, byte: int) -> str:
    raw = bytearray(base64.b64decode(sig))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "case",
    [
        "wrong key",
        "altered message",
        "appended byte",
        "flipped signature bit",
        "garbage base64",
        "empty signature",
        "url-safe alphabet",
        "truncated signature",
        "short public key",
        "empty public key",
    ],
)
def test_verify_refuses(case: str, pair: signing.KeyPair, other: signing.KeyPair) -> None:
    sig = signing.sign(signing.load_private_key(pair.private_pem), MESSAGE)
    public, message = pair.public_key, MESSAGE
    if case == "wrong key":
        public = other.public_key
    elif case == "altered message":
        message = MESSAGE.replace(b"1.5", b"2.5")
    elif case == "appended byte":
        message = MESSAGE + b" "
    elif case == "flipped signature bit":
        sig = _flip_b64(sig, 10)
    elif case == "garbage base64":
        sig = "not base64!!"
    elif case == "empty signature":
        sig = ""
    elif case == "url-safe alphabet":
        sig = base64.urlsafe_b64encode(b"\xfb\xff" * 32).decode()  # '-' and '_' are not standard base64
    elif case == "truncated signature":
        sig = base64.b64encode(base64.b64decode(sig)[:63]).decode()
    elif case == "short public key":
        public = public[:31]
    elif case == "empty public key":
        public = b""
    assert signing.verify_signature(public, message, sig) is False


def test_key_id_is_16_hex_of_sha256_of_the_raw_public_key(pair: signing.KeyPair) -> None:
    assert len(pair.public_key) == 32
    assert pair.key_id == signing.key_id(pair.public_key) == hashlib.sha256(pair.public_key).hexdigest()[:16]
    assert len(pair.key_id) == 16 and all(ch in "0123456789abcdef" for ch in pair.key_id)
    assert signing.key_id(b"\x00" * 32) == "66687aadf862bd77"


def test_two_key_pairs_differ(pair: signing.KeyPair, other: signing.KeyPair) -> None:
    assert pair.public_key != other.public_key and pair.key_id != other.key_id


@pytest.mark.parametrize(
    ("pem", "fragment"),
    [
        (b"", "expected an unencrypted PEM Ed25519 private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "expected an unencrypted PEM"),
        (
            generate_private_key(SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "expected an Ed25519 private key, got",
        ),
    ],
)
def test_load_private_key_refuses(pem: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        signing.load_private_key(pem)
    assert info.value.field == "key" and fragment in str(info.value)


def test_load_private_key_refuses_an_encrypted_key(pair: signing.KeyPair) -> None:
    key = signing.load_private_key(pair.private_pem)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidInputError, match="expected an unencrypted PEM"):
        signing.load_private_key(encrypted)


@pytest.mark.parametrize(
    ("text", "length", "fragment"),
    [
        ("@@@@", 4, "expected base64 text"),
        ("AAA", 2, "expected base64 text"),  # missing padding
        ("AAAA", 4, "expected 4 bytes once base64-decoded, got 3"),
        (base64.b64encode(b"x" * 31).decode(), 32, "expected 32 bytes once base64-decoded, got 31"),
    ],
)
def test_decode_b64_refuses(text: str, length: int, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        signing.decode_b64(text, "supplier.public_key", length)
    assert info.value.field == "supplier.public_key" and fragment in str(info.value)


def test_decode_b64_accepts() -> None:
    assert signing.decode_b64(base64.b64encode(b"k" * 32).decode(), "k", 32) == b"k" * 32


# ---- GS1 codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gtin",
    [
        "00012345600012",
        "09501101530003",
        "06901234567892",
        "00614141999996",
        "10614141000415",
        "04006381333931",
        "00000000000000",
    ],
)
def test_valid_gtins(gtin: str) -> None:
    assert codes.gtin_problem(gtin) is None
    assert codes.gtin_check_digit(gtin[:13]) == int(gtin[13])


@pytest.mark.parametrize(
    ("gtin", "fragment"),
    [
        ("00012345600013", "expected check digit 2 for GTIN 0001234560001…, got 3"),
        ("09501101530000", "expected check digit 3"),
        ("06901234567891", "expected check digit 2"),
        ("90501101530003", "expected check digit"),  # first digit mistyped
        ("09501101350003", "expected check digit"),  # adjacent transposition 53 -> 35
        ("9501101530003", "expected a GTIN-14 of 14 digits, got '9501101530003'"),  # GTIN-13 not padded
        ("009501101530003", "expected a GTIN-14 of 14 digits"),
        ("", "expected a GTIN-14 of 14 digits, got ''"),
        ("0950110153000a", "expected a GTIN-14 of 14 digits"),
        (" 9501101530003", "expected a GTIN-14 of 14 digits"),
        ("0950110153000\n", "expected a GTIN-14 of 14 digits"),
        ("0950110153000³", "expected a GTIN-14 of 14 digits"),  # str.isdigit() says yes to '³'
        ("٠٩٥٠١١٠١٥٣٠٠٠٣", "expected a GTIN-14 of 14 digits"),  # Arabic-Indic digits
        ("-9501101530003", "expected a GTIN-14 of 14 digits"),
    ],
)
def test_invalid_gtins(gtin: str, fragment: str) -> None:
    problem = codes.gtin_problem(gtin)
    assert problem is not None and fragment in problem


@given(st.text("0123456789", min_size=13, max_size=13), st.integers(0, 9))
def test_exactly_one_check_digit_is_valid(body: str, digit: int) -> None:
    valid = codes.gtin_problem(body + str(digit)) is None
    assert valid == (digit == codes.gtin_check_digit(body))


@pytest.mark.parametrize("lot", ["A", "L2026-001", "A" * 20, "0", "!\"%&'()*+,-./:;<=>?_", "lot_7/b", "MILK-7"])
def test_valid_lots(lot: str) -> None:
    assert codes.lot_problem(lot) is None


@pytest.mark.parametrize(
    "lot",
    [
        "",
        "A" * 21,
        "L 1",
        "L#1",
        "L@1",
        "L$1",
        "LÖT",
        "L\t1",
        "L~1",
        "L[1]",
        "L\\1",
        "L`1",
        "L|1",
        "L{1}",
        "L\x00",
        "\nL1",
        pytest.param("L1\n"),
        pytest.param("A" * 20 + "\n"),
    ],
)
def test_invalid_lots(lot: str) -> None:
    problem = codes.lot_problem(lot)
    assert problem is not None and problem.startswith("expected 1-20 GS1 characters") and repr(lot) in problem


# ---- limits table and test-report verdicts -----------------------------------------------------


@pytest.fixture(scope="module")
def shipped_table() -> dict[str, Any]:
    text = resources.files("cradletrace").joinpath("data/limits-infant-formula.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def limits(shipped_table: dict[str, Any]) -> dict[str, Limit]:
    return parse_limits_table(shipped_table)


def test_shipped_table_parses_with_a_source_for_every_entry(
    shipped_table: dict[str, Any], limits: dict[str, Limit]
) -> None:
    assert len(limits) == len(shipped_table["limits"])  # no two entries share a (lower-case) name
    for key, limit in limits.items():
        assert key == limit.name.lower()
        assert limit.source.strip(), limit.name
        assert limit.unit.strip() and limit.category
        assert limit.max >= 0
        assert limit.min is None or limit.min <= limit.max


@pytest.mark.parametrize(
    ("name", "unit", "maximum"),
    [
        ("lead", "mg/kg", 0.02),
        ("cadmium", "mg/kg", 0.01),
        ("aflatoxin m1", "µg/kg", 0.025),
        ("melamine", "mg/kg", 1.0),
        ("cronobacter spp.", "detections/10 g", 0.0),
        ("salmonella", "detections/25 g", 0.0),
    ],
)
def test_shipped_table_values(limits: dict[str, Limit], name: str, unit: str, maximum: float) -> None:
    assert (limits[name].unit, limits[name].max) == (unit, maximum)


def test_shipped_table_categories_are_ones_events_accept(limits: dict[str, Limit]) -> None:
    allowed = {"heavy_metal", "microbiology", "mycotoxin", "additive", "contaminant", "nutrient"}
    assert {limit.category for limit in limits.values()} <= allowed


def test_fill_limits_fills_missing_limits_from_the_table(limits: dict[str, Limit]) -> None:
    data: dict[str, Any] = {
        "batch": {"gtin": "09501101530003", "lot": "L1"},
        "analytes": [
            {"name": "Lead", "category": "heavy_metal", "value": 0.004, "unit": "mg/kg", "method": "ICP-MS"},
            {"name": "Salmonella", "category": "microbiology", "value": 0, "method": "ISO 6579-1"},
        ],
    }
    before = json.dumps(data, sort_keys=True)
    filled: Any = fill_limits(data, limits)
    assert json.dumps(data, sort_keys=True) == before  # the input is not modified
    assert filled["batch"] == data["batch"]
    assert filled["analytes"][0] == {**data["analytes"][0], "limit": 0.02}
    assert filled["analytes"][1] == {**data["analytes"][1], "unit": "detections/25 g", "limit": 0.0}


def test_fill_limits_keeps_explicit_limits(limits: dict[str, Limit]) -> None:
    explicit = {
        "name": "lead",
        "category": "heavy_metal",
        "value": 0.004,
        "unit": "µg/kg",
        "limit": 10,
        "method": "ICP-MS",
    }
    unknown_with_limit = {
        "name": "nitrate",
        "category": "contaminant",
        "value": 1,
        "unit": "mg/kg",
        "limit": 50,
        "method": "IC",
    }
    data: dict[str, Any] = {"analytes": [explicit, unknown_with_limit]}
    assert fill_limits(data, limits)["analytes"] == [explicit, unknown_with_limit]


def test_fill_limits_adds_a_table_minimum() -> None:
    table = {"vitamin d": Limit("vitamin D", "nutrient", "µg/100 g", 12.5, "Reg. (EU) 2016/127", min=5.0)}
    data: dict[str, Any] = {"analytes": [{"name": "Vitamin D", "value": 9.0, "unit": "µg/100 g"}]}
    filled: Any = fill_limits(data, table)
    assert filled["analytes"][0] == {"name": "Vitamin D", "value": 9.0, "unit": "µg/100 g", "limit": 12.5, "min": 5.0}


@pytest.mark.parametrize(
    ("analyte", "where", "fragment"),
    [
        (
            {"name": "unobtainium", "value": 1, "unit": "mg/kg"},
            "data.analytes[1].limit",
            "expected a limit: the limits table has none for 'unobtainium'",
        ),
        (
            {"name": "lead", "value": 1, "unit": "µg/kg"},
            "data.analytes[1].unit",
            "expected 'mg/kg' to use the table limit for 'lead', got 'µg/kg'",
        ),
        (
            {"name": "aflatoxin M1", "value": 0.01, "unit": "μg/kg"},
            "data.analytes[1].unit",  # Greek mu, not micro sign
            "expected 'µg/kg' to use the table limit for 'aflatoxin M1'",
        ),
    ],
)
def test_fill_limits_refuses(limits: dict[str, Limit], analyte: dict[str, Any], where: str, fragment: str) -> None:
    data: dict[str, Any] = {"analytes": [{"name": "lead", "value": 0.001, "unit": "mg/kg"}, analyte]}
    with pytest.raises(InvalidInputError) as info:
        fill_limits(data, limits)
    assert info.value.field == where
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({}, "limits"),
        ({"limits": []}, "limits"),
        ({"limits": {"lead": 1}}, "limits"),
        ({"limits": ["lead"]}, "limits[0]"),
        ({"limits": [{"name": "lead", "category": "heavy_metal", "unit": "mg/kg", "max": 0.02}]}, "limits[0].source"),
        (
            {"limits": [{"name": "lead", "category": "heavy_metal", "unit": "mg/kg", "max": "0.02", "source": "s"}]},
            "limits[0].max",
        ),
        (
            {"limits": [{"name": "lead", "category": "heavy_metal", "unit": "mg/kg", "max": True, "source": "s"}]},
            "limits[0].max",
        ),
        ({"limits": [{"category": "heavy_metal", "unit": "mg/kg", "max": 1, "source": "s"}]}, "limits[0].name"),
    ],
)
def test_parse_limits_table_refuses(table: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_limits_table(table)
    assert info.value.field == where
    assert "expected" in str(info.value)


@pytest.mark.parametrize(
    ("value", "limit", "minimum", "passes"),
    [
        (0.02, 0.02, None, True),
        (0.0200001, 0.02, None, False),
        (0, 0, None, True),
        (1, 0, None, False),
        (5, 12.5, 5, True),
        (4.999, 12.5, 5, False),
        (12.5, 12.5, 5, True),
        (12.6, 12.5, 5, False),
    ],
)
def test_analyte_passes(value: float, limit: float, minimum: float | None, passes: bool) -> None:
    assert analyte_passes(value, limit, minimum) is passes
    assert report_verdict([(value, limit, minimum)]) == ("pass" if passes else "fail")

"""Codes on the pack: Digital Link URIs, serials, and the commissioning event that registers them."""

from __future__ import annotations

import os
import re
import string
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core import codes, events
from cradletrace.core.admission import admission_problems
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import lot_of, outcome_of, parse_event
from cradletrace.core.labels import (
    MIN_SERIAL_BITS,
    SERIAL_ALPHABET,
    DigitalLink,
    ItemCode,
    build_uri,
    issued_serial_problem,
    normalise_serial,
    parse_path,
    parse_uri,
    resolver_origin,
    serial_from_bytes,
    serial_problem,
    serial_sequence_problem,
    serial_value,
)
from cradletrace.errors import InvalidEventError, InvalidInputError, Problem

GTIN = "09501101530003"
HOST = "https://id.cradletrace.example"
SERIAL = "7K3MZ9QX1VWD4HPA"
OTHER = "Q4N8ZC2W7TJ5GX0M"  # typed from a serial the label generator drew
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


# ---- Digital Link: build and parse --------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolver", "gtin", "lot", "serial", "uri"),
    [
        ("id.cradletrace.example", GTIN, "L2026-001", SERIAL, f"{HOST}/01/{GTIN}/10/L2026-001/21/{SERIAL}"),
        ("https://ID.Cradletrace.Example/", GTIN, "L2026-001", SERIAL, f"{HOST}/01/{GTIN}/10/L2026-001/21/{SERIAL}"),
        ("http://localhost:8000", GTIN, "A_b.c", "1", f"http://localhost:8000/01/{GTIN}/10/A_b.c/21/1"),
        ("127.0.0.1:8080", GTIN, "x", "y", f"https://127.0.0.1:8080/01/{GTIN}/10/x/21/y"),
        # GS1 Digital Link 1.x: everything outside RFC 3986 "unreserved" is percent-encoded, upper-case hex.
        ("id.cradletrace.example", GTIN, "WPC/22", "S#1".replace("#", "?"), f"{HOST}/01/{GTIN}/10/WPC%2F22/21/S%3F1"),
        (
            "id.cradletrace.example",
            GTIN,
            "!\"%&'()*+,",
            "/:;<=>?",
            f"{HOST}/01/{GTIN}/10/%21%22%25%26%27%28%29%2A%2B%2C/21/%2F%3A%3B%3C%3D%3E%3F",
        ),
    ],
)
def test_build_uri(resolver: str, gtin: str, lot: str, serial: str, uri: str) -> None:
    assert build_uri(resolver, gtin, lot, serial) == uri
    link = parse_uri(uri)
    assert (link.gtin, link.lot, link.serial, link.uri) == (gtin, lot, serial, uri)
    assert parse_path(link.path) == ItemCode(gtin, lot, serial) == link.code


cset82_text = st.text(alphabet=CSET82, min_size=1, max_size=20)


@given(cset82_text, cset82_text)
def test_round_trip_any_gs1_lot_and_serial(lot: str, serial: str) -> None:
    uri = build_uri("id.cradletrace.example", GTIN, lot, serial)
    path = uri.removeprefix(HOST)
    assert re.fullmatch(r"(/[A-Za-z0-9\-._~%]+)+", path), path  # only unreserved characters and escapes
    assert parse_uri(uri) == DigitalLink(GTIN, lot, serial, HOST)


@pytest.mark.parametrize(
    ("uri", "gtin"),
    [
        (f"{HOST}/01/9501101530003/10/L/21/S", GTIN),  # GTIN-13 (EAN-13) is read as its GTIN-14
        (f"{HOST}/01/96385074/10/L/21/S", "00000096385074"),  # GTIN-8
        (f"{HOST}/01/{GTIN}/10/L%2f1/21/S", GTIN),  # lower-case hex is still the same character
    ],
)
def test_parse_normalises(uri: str, gtin: str) -> None:
    link = parse_uri(uri)
    assert link.gtin == gtin
    assert parse_uri(link.uri) == link


@pytest.mark.parametrize(
    ("uri", "part", "message"),
    [
        ("ftp://x.example/01/" + GTIN, "resolver", "expected a URI starting with https:// or http://"),
        ("https://bad_host.example/01/" + GTIN + "/10/L/21/S", "resolver", "expected a host name"),
        ("https://user@x.example/01/" + GTIN + "/10/L/21/S", "resolver", "expected a host name"),
        ("https://x.example:99999/01/" + GTIN + "/10/L/21/S", "resolver", "expected a port 1-65535"),
        ("https://x.example", "path", "expected /01/<GTIN>/10/<lot>/21/<serial> after the host"),
        ("https://x.example/", "gtin", "expected /01/<gtin> at the start, got '/'"),
        ("https://x.example/00/" + GTIN + "/10/L/21/S", "gtin", "expected /01/<gtin> at the start, got '/00'"),
        ("https://x.example/01/09501101530004/10/L/21/S", "gtin", "expected check digit 3"),
        ("https://x.example/01/0950110153000/10/L/21/S", "gtin", "expected check digit"),  # GTIN-13, wrong check digit
        ("https://x.example/01/123/10/L/21/S", "gtin", "expected a GTIN of 8, 12, 13 or 14 digits, got '123'"),
        ("https://x.example/01/0950110153000X/10/L/21/S", "gtin", "expected a GTIN of 8, 12, 13 or 14 digits"),
        ("https://x.example/01/" + GTIN, "lot", "expected /10/<lot> after the gtin, got nothing"),
        ("https://x.example/01/" + GTIN + "/22/V/10/L/21/S", "lot", "expected /10/<lot> after the gtin, got '/22'"),
        ("https://x.example/01/" + GTIN + "/10//21/S", "lot", "expected a value after /10/, got nothing"),
        ("https://x.example/01/" + GTIN + "/10/L%ZZ/21/S", "lot", "expected a percent-encoded GS1 value, got 'L%ZZ'"),
        ("https://x.example/01/" + GTIN + "/10/L%/21/S", "lot", "expected a percent-encoded GS1 value"),
        ("https://x.example/01/" + GTIN + "/10/%C3%A9/21/S", "lot", "expected GS1 characters (ASCII)"),
        (
            "https://x.example/01/" + GTIN + "/10/%23/21/S",
            "lot",
            "expected 1-20 GS1 characters",
        ),  # '#' is not in CSET 82
        ("https://x.example/01/" + GTIN + "/10/" + "L" * 21 + "/21/S", "lot", "expected 1-20 GS1 characters"),
        ("https://x.example/01/" + GTIN + "/10/L", "serial", "expected /21/<serial> after the lot, got nothing"),
        ("https://x.example/01/" + GTIN + "/10/L/21/", "serial", "expected a value after /21/, got nothing"),
        ("https://x.example/01/" + GTIN + "/10/L/21/a b", "serial", "expected a percent-encoded GS1 value"),
        ("https://x.example/01/" + GTIN + "/10/L/21/%20", "serial", "expected 1-20 GS1 characters"),
        ("https://x.example/01/" + GTIN + "/10/L/21/S/", "path", "expected nothing after the serial, got '/'"),
        ("https://x.example/01/" + GTIN + "/10/L/21/S/17/270101", "path", "expected nothing after the serial"),
        ("https://x.example/01/" + GTIN + "/10/L/21/S?linkType=all", "query", "expected no query"),
        ("https://x.example/01/" + GTIN + "/10/L/21/S#top", "fragment", "expected no fragment"),
    ],
)
def test_parse_refuses_naming_the_part(uri: str, part: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_uri(uri)
    assert info.value.field == part
    assert message in str(info.value)


@pytest.mark.parametrize(("path", "part"), [("01/" + GTIN + "/10/L/21/S", "path"), ("", "path"), ("/01", "gtin")])
def test_parse_path_refuses(path: str, part: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_path(path)
    assert info.value.field == part


@pytest.mark.parametrize(
    ("args", "part"),
    [
        (("id.example", "09501101530004", "L", "S"), "gtin"),
        (("id.example", GTIN, "", "S"), "lot"),
        (("id.example", GTIN, "L\u00e9", "S"), "lot"),
        (("id.example", GTIN, "L", "S" * 21), "serial"),
        (("id.example", GTIN, "L", "S#"), "serial"),
        (("id.example/gs1", GTIN, "L", "S"), "resolver"),
        (("ws://id.example", GTIN, "L", "S"), "resolver"),
        (("", GTIN, "L", "S"), "resolver"),
    ],
)
def test_build_refuses_naming_the_part(args: tuple[str, str, str, str], part: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        build_uri(*args)
    assert info.value.field == part


def test_digital_link_wants_a_normalised_resolver() -> None:
    with pytest.raises(InvalidInputError, match="resolver"):
        DigitalLink(GTIN, "L", "S", "id.cradletrace.example")
    assert resolver_origin("HTTPS://Id.Cradletrace.Example") == HOST


# ---- serials -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("random", "serial"),
    [
        (bytes(8), "0" * 13),
        (bytes(10), "0" * 16),
        (b"\xff" * 8, "F" + "Z" * 12),  # 64 bits: the first of 13 characters carries 4
        (b"\xff" * 10, "Z" * 16),
        (b"\xff" * 12, "1" + "Z" * 19),  # 96 bits in 20 characters, the GS1 maximum for AI 21
        (bytes.fromhex("00443214c74254b635cf"), "0123456789ABCDEF"),
        (bytes.fromhex("8ca74adaf8ceb7cefbe0"), "HJKMNPQRSTVWXYZ0"),
    ],
)
def test_serial_vectors(random: bytes, serial: str) -> None:
    assert serial_from_bytes(random) == serial


@pytest.mark.parametrize("size", [0, 7, 13, 32])
def test_serial_wants_64_to_96_bits(size: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        serial_from_bytes(bytes(size))
    assert info.value.field == "random"
    assert f"got {size}" in str(info.value)


@given(st.binary(min_size=8, max_size=12))
def test_serial_keeps_every_bit_in_a_typable_gs1_alphabet(random: bytes) -> None:
    serial = serial_from_bytes(random)
    assert len(serial) == -(-len(random) * 8 // 5)
    assert set(serial) <= set(SERIAL_ALPHABET) and not set(serial) & set("ILOU" + string.ascii_lowercase)
    assert codes.lot_problem(serial) is None  # GS1 CSET 82, at most 20 characters
    assert serial_problem(serial) is None
    back = 0
    for ch in serial:
        back = back * 32 + SERIAL_ALPHABET.index(ch)
    assert back == int.from_bytes(random, "big")  # one-to-one: no entropy lost


def test_random_serials_are_unique_and_uniform() -> None:
    serials = [serial_from_bytes(os.urandom(10)) for _ in range(20_000)]
    assert len(set(serials)) == len(serials)
    counts = Counter(ch for s in serials for ch in s)
    expected = 16 * len(serials) / 32
    chi2 = sum((counts[ch] - expected) ** 2 / expected for ch in SERIAL_ALPHABET)
    assert chi2 < 80, chi2  # 31 degrees of freedom: p < 1e-6 for a fair source
    assert len(SERIAL_ALPHABET) == 32 and MIN_SERIAL_BITS <= 16 * 5


@pytest.mark.parametrize(
    ("typed", "serial"),
    [
        ("7k3m-z9qx-1vwd-4hpa", SERIAL),
        (" 7K3M Z9QX IVWD 4HPA ", SERIAL),  # I read as 1
        ("7K3MZ9QXLVWD4HPA", SERIAL),  # L read as 1
        ("O0000000000000", "00000000000000"),  # O read as 0
    ],
)
def test_normalise_typed_serial(typed: str, serial: str) -> None:
    assert normalise_serial(typed) == serial


@pytest.mark.parametrize("typed", ["", "7K3MZ9QX", "7K3MZ9QX1VWD4HPU", "Z" * 21, "7K3MZ9QX1VWD4HP#"])
def test_normalise_refuses(typed: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalise_serial(typed)
    assert info.value.field == "serial"


# ---- the commissioning event ---------------------------------------------------------------------


def commission(**data: Any) -> dict[str, Any]:
    body = {
        "lot": {"gtin": GTIN, "lot": "L2026-001"},
        "serials": [SERIAL, OTHER],
        "commissioned_at": "2026-11-25T12:00:00+08:00",
        **data,
    }
    return {"kind": "commission", "supplier": "alps-nutrition", "key": "0123456789abcdef", "data": body}


def test_commission_event_parses() -> None:
    event = parse_event(canonical_bytes(commission()))
    assert isinstance(event, events.CommissionEvent)
    assert event.data.serials == [SERIAL, OTHER]
    assert event.data.commissioned_at == datetime(2026, 11, 25, 4, tzinfo=UTC)
    ref = lot_of(event)
    assert ref is not None and ref.key == (GTIN, "L2026-001")
    assert outcome_of(event) is None
    assert events.ROLES_FOR_KIND["commission"] == ("plant", "brand")


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"serials": []}, "event.data.serials", "at least 1 item"),
        (
            {"serials": [SERIAL, OTHER, SERIAL]},
            "event.data.serials[2]",
            f"expected each serial once, got {SERIAL} again (serials[0])",
        ),
        (
            {"serials": [SERIAL, "0123456789abcdef"]},
            "event.data.serials[1]",
            "expected 13-20 characters of 0-9 and A-Z",
        ),
        ({"serials": ["12345"]}, "event.data.serials[0]", "at least 64 random bits"),
        ({"serials": [SERIAL + "UU"]}, "event.data.serials[0]", "without I, L, O, U"),
        ({"serials": [7]}, "event.data.serials[0]", "expected a valid string"),
        ({"lot": {"gtin": "09501101530004", "lot": "L1"}}, "event.data.lot.gtin", "expected check digit 3"),
        ({"lot": {"gtin": GTIN, "lot": ""}}, "event.data.lot.lot", "expected 1-20 GS1 characters"),
        ({"commissioned_at": "2026-11-25T12:00:00"}, "event.data.commissioned_at", "timezone"),
        ({"extra": 1}, "event.data.extra", "expected no such field"),
    ],
)
def test_commission_event_refuses(data: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(canonical_bytes(commission(**data)))
    problems = {p.where: p.message for p in info.value.problems}
    assert where in problems, problems
    assert message in problems[where]


def test_commission_event_holds_at_most_10_000_serials() -> None:
    serials = [serial_from_bytes(os.urandom(10)) for _ in range(events.MAX_SERIALS + 1)]
    with pytest.raises(InvalidEventError) as info:
        parse_event(canonical_bytes(commission(serials=serials)))
    assert info.value.field == "event.data.serials"
    assert "at most 10000" in str(info.value)
    assert isinstance(parse_event(canonical_bytes(commission(serials=serials[:-1]))), events.CommissionEvent)


def test_percent_decoding_matches_the_standard_library() -> None:
    uri = build_uri("id.example", GTIN, CSET82[:20], CSET82[20:40])
    lot_part = uri.split("/")[6]
    assert unquote(lot_part) == CSET82[:20]


# ---- serials the label generator did not issue -------------------------------------------------


def admitted(**data: Any) -> list[Problem]:
    """What admission (core/admission.py) finds wrong with a commissioning event; it still parses."""
    body = canonical_bytes(commission(**data))
    return admission_problems(parse_event(body), body, datetime(2026, 11, 25, tzinfo=UTC), {})


@given(st.randoms(use_true_random=True))
def test_the_label_generators_serials_always_pass(rnd: Any) -> None:
    """Over many generated serials (Hypothesis draws truly random bytes, as the CSPRNG does)."""
    serials = [serial_from_bytes(rnd.randbytes(10)) for _ in range(200)]
    assert [s for s in serials if issued_serial_problem(s)] == []
    assert serial_sequence_problem(serials) is None


def test_a_hundred_thousand_generated_serials_pass() -> None:
    serials = [serial_from_bytes(os.urandom(10)) for _ in range(100_000)]
    assert [s for s in serials if issued_serial_problem(s)] == []
    assert serial_sequence_problem(serials) is None


@pytest.mark.parametrize(
    ("serial", "words"),
    [
        ("0000000000000000", "16 characters in a row"),
        ("0000000000000001", "15 characters in a row"),
        ("7K3M0123456789AB", "12 characters in a row"),
        ("ZYXWVTSRQPNMKJHG", "16 characters in a row"),
        ("ABABABABABABABAB", "2 distinct characters"),
        ("7777777777777778", "15 characters in a row"),
    ],
)
def test_serials_with_a_pattern_are_refused_by_index(serial: str, words: str) -> None:
    assert issued_serial_problem(serial) is not None and words in str(issued_serial_problem(serial))
    [problem] = admitted(serials=[SERIAL, serial])
    assert (
        problem.where == "event.data.serials[1]"
        and "expected a random serial from the label generator" in problem.message
    )


def test_sequential_serials_of_one_event_are_refused_naming_the_index() -> None:
    base = serial_value(SERIAL)
    counted = [serial_from_bytes((base + i).to_bytes(10, "big")) for i in range(3)]  # 7K3MZ9QX1VWD4HPA, ...HPB, ...HPC
    assert all(issued_serial_problem(s) is None for s in counted)  # each looks random on its own
    [problem] = admitted(serials=[OTHER, *counted])
    assert problem.where == "event.data.serials[2]" and "within 2^32 of serials[1]" in problem.message
    stride = [serial_from_bytes(((base + i * 10**20) % 2**80).to_bytes(10, "big")) for i in range(3)]
    [problem] = admitted(serials=stride)
    assert problem.where == "event.data.serials[2]" and "equal steps of serials[0] and serials[1]" in problem.message

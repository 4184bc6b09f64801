"""GS1 Digital Link with a GTIN: the forms of one item that parse alike, every rule a URI can break
(each refusal names its AI and rule), composing, and the round trip compose -> parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.digitallink import CHARSETS, Link, ai_entry, compose, parse, parse_path
from cradletrace.errors import InvalidInputError

GTIN = "09501101530003"  # GTIN-13 9501101530003 written as GTIN-14
HOST = "https://id.gs1.org"
SERIAL = "7K3MZ9QX1VWD4HPA"
ITEM = Link("01", GTIN, (("10", "LOT-7"), ("21", SERIAL)))


# ---- valid forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        f"{HOST}/01/{GTIN}/10/LOT-7/21/{SERIAL}",
        f"https://id.cradletrace.example/01/{GTIN}/10/LOT-7/21/{SERIAL}",  # another resolver
        f"HTTP://example.com:8080/01/{GTIN}/10/LOT-7/21/{SERIAL}",  # http, port, upper-case scheme
        f"https://brand.example/products/dl/01/{GTIN}/10/LOT-7/21/{SERIAL}",  # a path prefix
        f"{HOST}/01/9501101530003/10/LOT-7/21/{SERIAL}",  # GTIN-13
        f"{HOST}/01/{GTIN}/10/LOT%2D7/21/{SERIAL}",  # an escaped unreserved character
        f"{HOST}/01/{GTIN}/10/%4c%4f%54-7/21/{SERIAL}",  # lower-case hex
        f"{HOST}/01/%30950110153000%33/10/LOT-7/21/{SERIAL}",  # even the GTIN escaped
    ],
)
def test_forms_of_one_item_parse_alike(uri: str) -> None:
    assert parse(uri) == ITEM


@pytest.mark.parametrize(
    ("uri", "ais", "element_string"),
    [
        (f"{HOST}/01/{GTIN}", {"01": GTIN}, f"(01){GTIN}"),
        (f"{HOST}/01/96385074", {"01": "00000096385074"}, "(01)00000096385074"),  # GTIN-8
        (f"{HOST}/01/614141123452", {"01": "00614141123452"}, "(01)00614141123452"),  # GTIN-12 (UPC-A)
        (f"{HOST}/01/{GTIN}/10/ABC%2F1", {"01": GTIN, "10": "ABC/1"}, f"(01){GTIN}(10)ABC/1"),
        (f"{HOST}/01/{GTIN}/21/{SERIAL}", {"01": GTIN, "21": SERIAL}, f"(01){GTIN}(21){SERIAL}"),
        (
            f"{HOST}/01/{GTIN}/22/2A/10/L/21/S",
            {"01": GTIN, "22": "2A", "10": "L", "21": "S"},
            f"(01){GTIN}(22)2A(10)L(21)S",
        ),
        (f"{HOST}/01/{GTIN}/22/2A/21/S", {"01": GTIN, "22": "2A", "21": "S"}, f"(01){GTIN}(22)2A(21)S"),
        (
            f"{HOST}/01/{GTIN}/10/L/21/S?17=271231&11=260115",
            {"01": GTIN, "10": "L", "21": "S", "11": "260115", "17": "271231"},
            f"(01){GTIN}(10)L(21)S(11)260115(17)271231",
        ),
        (
            f"{HOST}/01/{GTIN}/10/L?3103=000800&15=270600&13=260116",
            {"01": GTIN, "10": "L", "13": "260116", "15": "270600", "3103": "000800"},
            f"(01){GTIN}(10)L(13)260116(15)270600(3103)000800",
        ),
        (f"{HOST}/01/{GTIN}?17=280229", {"01": GTIN, "17": "280229"}, f"(01){GTIN}(17)280229"),  # 2028 is a leap year
        (f"{HOST}/01/{GTIN}?17=270200", {"01": GTIN, "17": "270200"}, f"(01){GTIN}(17)270200"),  # day 00: end of month
        (f"{HOST}/01/{GTIN}?7003=2712312359", {"01": GTIN, "7003": "2712312359"}, f"(01){GTIN}(7003)2712312359"),
        (f"{HOST}/01/{GTIN}?99=a%2Bb%26c", {"01": GTIN, "99": "a+b&c"}, f"(01){GTIN}(99)a+b&c"),
        (f"{HOST}/01/{GTIN}?99=a+b", {"01": GTIN, "99": "a+b"}, f"(01){GTIN}(99)a+b"),  # '+' is a '+'
        (f"{HOST}/01/{GTIN}?8010=ABC%23123", {"01": GTIN, "8010": "ABC#123"}, f"(01){GTIN}(8010)ABC#123"),  # CSET 39
    ],
)
def test_parse_reads_every_ai(uri: str, ais: dict[str, str], element_string: str) -> None:
    link = parse(uri)
    assert link.ais == ais and list(link.ais) == list(ais)
    assert link.element_string == element_string


def test_other_query_parameters_pass_through() -> None:
    link = parse(
        f"{HOST}/01/{GTIN}/10/L/21/S?linkType=gs1:certificationInfo&context=cn&lang=zh-CN&utm_source=we%20chat&x=%FF%ZZ&17=271231"
    )
    assert link.params == (
        ("linkType", "gs1:certificationInfo"),
        ("context", "cn"),
        ("lang", "zh-CN"),
        ("utm_source", "we chat"),
        ("x", "\ufffd%ZZ"),
    )  # another app's parameter never makes the code unreadable
    assert link.param("linkType") == "gs1:certificationInfo" and link.param("absent") is None
    assert link.attributes == (("17", "271231"),) and "linkType" not in link.ais


def test_parse_path_is_what_the_scan_endpoint_calls() -> None:
    assert parse_path(f"/01/{GTIN}/10/LOT-7/21/{SERIAL}") == ITEM
    assert parse_path(f"/01/{GTIN}/10/LOT-7/21/{SERIAL}", "17=271231&lang=en") == Link(
        "01", GTIN, (("10", "LOT-7"), ("21", SERIAL)), (("17", "271231"),), (("lang", "en"),)
    )


# ---- invalid forms: each names the rule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "where", "rule"),
    [
        # the URI around the path
        ("ftp://x.example/01/" + GTIN, "uri", "expected http:// or https:// and a host"),
        ("/01/" + GTIN, "uri", "expected http:// or https://"),
        ("https://x.example", "path", "no primary key: expected /01/<GTIN> after the host"),
        ("https://x.example/", "path", "no primary key"),
        ("https://x.example/11/270101", "path", "no primary key"),
        ("https://x.example/GTIN/" + GTIN, "path", "/GTIN/: convenience alphas are written in lower case (/gtin/)"),
        ("https://x.example/ARHKVAdpQgTSfZHYWMSQ", "path", "compressed GS1 Digital Link URIs are not supported"),
        # primary key
        ("https://x.example/01/09501101530004", "01", "check digit is 4, expected 3"),
        ("https://x.example/01/9501101530004", "01", "check digit is 4, expected 3"),
        ("https://x.example/01/123", "01", "GTIN must be 8, 12, 13 or 14 digits, got '123'"),
        ("https://x.example/01/0950110153000X", "01", "GTIN must be 8, 12, 13 or 14 digits"),
        ("https://x.example/01/095011015300033", "01", "GTIN must be 8, 12, 13 or 14 digits"),
        ("https://x.example/01", "01", "no value after /01/"),
        ("https://x.example/01/", "01", "no value after /01/"),
        (f"https://x.example/01/{GTIN}/", "path", "trailing '/'"),
        # key qualifiers: order, repetition, membership, shape of the path
        (
            f"https://x.example/01/{GTIN}/21/S/10/L",
            "path",
            "10 after 21: key qualifiers must be in the order 22, 10, 21",
        ),
        (
            f"https://x.example/01/{GTIN}/10/L/22/V",
            "path",
            "22 after 10: key qualifiers must be in the order 22, 10, 21",
        ),
        (
            f"https://x.example/01/{GTIN}/21/S/22/V",
            "path",
            "22 after 21: key qualifiers must be in the order 22, 10, 21",
        ),
        (f"https://x.example/01/{GTIN}/10/L/10/M", "path", "10 given twice"),
        (
            f"https://x.example/01/{GTIN}/17/270101",
            "path",
            "17 is not a key qualifier of 01 (22, 10, 21 or 235); data attributes go in the query",
        ),
        (f"https://x.example/01/{GTIN}/10/L/235/X", "path", "235 after 10: the key qualifiers of 01 are"),
        (f"https://x.example/01/{GTIN}/abc/X", "path", "'abc' is not a key qualifier of 01"),
        (f"https://x.example/01/{GTIN}/10", "10", "no value after /10/"),
        (f"https://x.example/01/{GTIN}/10/L/21", "21", "no value after /21/"),
        (f"https://x.example/01/{GTIN}/10/L/21/", "21", "no value after /21/"),
        (f"https://x.example/01/{GTIN}/10//21/S", "10", "no value after /10/"),
        (
            f"https://x.example/01/{GTIN}/10/IF/0002/21/S",
            "path",
            "'0002' is not a key qualifier of 01: expected 22, 10, 21 or 235 (a '/' inside a value is written %2F)",
        ),
        (f"https://x.example/01/{GTIN}/10/L/21/S/more", "path", "'more' is not a key qualifier"),
        (f"https://x.example/01/{GTIN}/10/L/", "path", "trailing '/'"),
        (f"https://x.example/01/{GTIN}//10/L", "path", "empty segment ('//')"),
        # values: percent-escapes, ASCII, character set, length
        (f"https://x.example/01/{GTIN}/10/L%ZZ", "10", "bad percent-escape '%ZZ'"),
        (f"https://x.example/01/{GTIN}/10/L%2", "10", "bad percent-escape '%2'"),
        (f"https://x.example/01/{GTIN}/10/a b", "10", "character ' ' must be percent-encoded"),
        (f"https://x.example/01/{GTIN}/10/%C3%A9", "10", "not ASCII after percent-decoding"),
        (f"https://x.example/01/{GTIN}/10/%23", "10", "lot character '#' not in GS1 character set 82"),
        (f"https://x.example/01/{GTIN}/10/a%20b", "10", "lot character ' ' not in GS1 character set 82"),
        (f"https://x.example/01/{GTIN}/10/" + "L" * 21, "10", "lot longer than 20 characters (got 21)"),
        (f"https://x.example/01/{GTIN}/21/" + "S" * 21, "21", "serial longer than 20 characters (got 21)"),
        (f"https://x.example/01/{GTIN}/22/" + "V" * 21, "22", "consumer product variant longer than 20 characters"),
        (f"https://x.example/01/{GTIN}/21/AB$C", "21", "serial character '$' not in GS1 character set 82"),
        # data attributes
        (f"https://x.example/01/{GTIN}?17=2712", "17", "expiry date must be 6 digits, got 4"),
        (f"https://x.example/01/{GTIN}?17=27123A", "17", "expiry date must be digits"),
        (f"https://x.example/01/{GTIN}?17=271301", "17", "does not have the format N6"),
        (f"https://x.example/01/{GTIN}?17=270230", "17", "expiry date 270230 is not a date: day 30 in month 02 (1-28)"),
        (f"https://x.example/01/{GTIN}?15=270431", "15", "best before date 270431 is not a date: day 31 in month 04"),
        (f"https://x.example/01/{GTIN}?7006=270400", "7006", "is not a date: day 00"),  # no day 00 outside 11-17
        (f"https://x.example/01/{GTIN}?7007=260101260230", "7007", "260230 is not a date"),  # the second date too
        (f"https://x.example/01/{GTIN}?17=", "17", "empty value"),
        (f"https://x.example/01/{GTIN}?3103=12", "3103", "must be 6 digits, got 2"),
        (f"https://x.example/01/{GTIN}?8010=ab", "8010", "character 'a' not in GS1 character set 39"),
        (f"https://x.example/01/{GTIN}?9999=1", "9999", "not a GS1 Application Identifier"),
        (f"https://x.example/01/{GTIN}?17=271231&17=271230", "17", "given twice in the query string"),
        (
            f"https://x.example/01/{GTIN}?10=L",
            "10",
            "key qualifier in the query string; it belongs in the path (/10/...)",
        ),
        (f"https://x.example/01/{GTIN}?21=S", "21", "key qualifier in the query string"),
        (f"https://x.example/01/{GTIN}?01={GTIN}", "01", "primary key in the query string"),
        (f"https://x.example/01/{GTIN}?99=%ZZ", "99", "bad percent-escape"),
    ],
)
def test_parse_refuses_naming_the_rule(uri: str, where: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse(uri)
    assert info.value.field == where
    assert rule in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{where}: ")


# ---- composing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "uri"),
    [
        (dict(value="9501101530003", lot="LOT-7", serial=SERIAL), f"{HOST}/01/{GTIN}/10/LOT-7/21/{SERIAL}"),
        (dict(value=GTIN, lot="A/B", serial="x?y"), f"{HOST}/01/{GTIN}/10/A%2FB/21/x%3Fy"),
        (dict(value=GTIN, cpv="2A", serial="S"), f"{HOST}/01/{GTIN}/22/2A/21/S"),
        (
            dict(value=GTIN, lot="L", attributes={"3103": "000800", "17": "271231"}),
            f"{HOST}/01/{GTIN}/10/L?17=271231&3103=000800",
        ),
        (
            dict(value=GTIN, attributes={"99": "a&b=c"}, params={"linkType": "gs1:pip"}),
            f"{HOST}/01/{GTIN}?99=a%26b%3Dc&linkType=gs1:pip",
        ),
    ],
)
def test_compose(kwargs: dict[str, object], uri: str) -> None:
    link = compose(**kwargs)  # type: ignore[arg-type]
    assert link.uri() == uri
    assert parse(uri) == link


@pytest.mark.parametrize(
    ("kwargs", "where", "rule"),
    [
        (dict(value="09501101530004"), "01", "check digit is 4, expected 3"),
        (dict(value=GTIN, serial="S" * 21), "21", "serial longer than 20 characters"),
        (dict(value=GTIN, lot=""), "10", "empty value"),
        (dict(value=GTIN, lot="L\u00e9"), "10", "not in GS1 character set 82"),
        (dict(value=GTIN, attributes={"17": "271232"}), "17", "does not have the format N6"),
        (dict(value=GTIN, attributes={"10": "L"}), "10", "not a data attribute"),
        (dict(value=GTIN, attributes=[("17", "271231"), ("17", "271230")]), "17", "given twice"),
        (dict(value=GTIN, attributes={"9999": "1"}), "9999", "not a GS1 Application Identifier"),
        (dict(value=GTIN, params={"17": "271231"}), "17", "an AI is a data attribute"),
    ],
)
def test_compose_refuses_naming_the_rule(kwargs: dict[str, object], where: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        compose(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == where and rule in str(info.value)


def test_the_ai_table_is_the_syntax_dictionary() -> None:
    assert ai_entry("17") is not None and ai_entry("17").linters == {"yymmd0"}  # type: ignore[union-attr]
    assert ai_entry("3103") is not None and ai_entry("3103").format == "N6"  # type: ignore[union-attr]
    assert ai_entry("10") is not None and ai_entry("10").max_length == 20  # type: ignore[union-attr]
    assert ai_entry("011") is None and ai_entry("x") is None and ai_entry("") is None


# ---- round trip ---------------------------------------------------------------------------------


def _gtin(body: str) -> str:
    return body + str(gtin_check_digit(body.zfill(13)))


def _x(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=sorted(CHARSETS["X"][1]), min_size=1, max_size=size)


def _date() -> st.SearchStrategy[str]:
    return st.dates().map(lambda d: d.strftime("%y%m%d"))


gtins = st.one_of(st.from_regex(r"\A[0-9]{7}\Z").map(_gtin), st.from_regex(r"\A[0-9]{11,13}\Z").map(_gtin))
attributes = st.dictionaries(
    st.sampled_from(["11", "13", "15", "17"]),
    _date(),
    max_size=4,
).flatmap(
    lambda dates: st.fixed_dictionaries(
        {},
        optional={
            "3103": st.from_regex(r"\A[0-9]{6}\Z"),
            "99": _x(90),
            "8010": st.from_regex(r"\A[A-Z0-9#/-]{5,30}\Z"),
        },
    ).map(lambda more: {**dates, **more})
)


@given(
    gtins,
    st.none() | _x(20),
    st.none() | _x(20),
    st.none() | _x(20),
    attributes,
    st.sampled_from(["https://id.gs1.org", "http://localhost:8000", "https://brand.example/dl"]),
)
def test_compose_then_parse_gives_back_the_same_ais(
    gtin: str, cpv: str | None, lot: str | None, serial: str | None, attrs: dict[str, str], resolver: str
) -> None:
    link = compose(gtin, cpv=cpv, lot=lot, serial=serial, attributes=attrs, params={"linkType": "gs1:pip"})
    back = parse(link.uri(resolver))
    assert back == link
    expected = {
        "01": gtin.zfill(14),
        **{ai: v for ai, v in (("22", cpv), ("10", lot), ("21", serial)) if v is not None},
        **dict(sorted(attrs.items())),
    }
    assert back.ais == expected and back.param("linkType") == "gs1:pip"

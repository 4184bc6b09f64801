"""GS1 Digital Link beyond the GTIN: every primary key of GS1's syntax dictionary with its key
qualifiers and data attributes parses and composes back, check digits per key, qualifier order and
alternatives, convenience alphas read as their numeric AIs, a fragment ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.digitallink import (
    PRIMARY_ALPHAS,
    QUALIFIER_ALPHAS,
    Link,
    compose,
    parse,
    primary_keys,
)
from cradletrace.errors import InvalidInputError


def _checked(body: str) -> str:
    return body + str(gtin_check_digit(body))


HOST = "https://id.example.com"
GTIN = _checked("0942190296001")
SSCC = _checked("09421902960000001")
GLN = _checked("942190296000")
GSRN = _checked("94219029600000001")
GMN = "1987654Ad4X4bL5ttr2310c2K"  # GS1 General Specifications' example, check pair 2K

# (path and query, key, qualifiers, attributes): one valid link per primary key, with what it may carry
LINKS = [
    (f"/00/{SSCC}?3300=001250&400=PO-17", "00", (), (("3300", "001250"), ("400", "PO-17"))),
    (
        f"/01/{GTIN}/22/V2/10/IF-0001/21/S1?17=280429",
        "01",
        (("22", "V2"), ("10", "IF-0001"), ("21", "S1")),
        (("17", "280429"),),
    ),
    (f"/01/{GTIN}/235/TPX-991", "01", (("235", "TPX-991"),), ()),
    (f"/253/{GLN}DOC%2F7", "253", (), ()),
    (f"/255/{GLN}1234?3900=500", "255", (), (("3900", "500"),)),
    (f"/401/{GLN[:-1]}CONSIGN-1", "401", (), ()),
    (f"/402/{_checked('9421902960000001')}", "402", (), ()),
    (f"/414/{GLN}/254/DOCK-3", "414", (("254", "DOCK-3"),), ()),
    (f"/414/{GLN}/7040/1ABC", "414", (("7040", "1ABC"),), ()),
    (f"/415/{GLN}/8020/INV-1", "415", (("8020", "INV-1"),), ()),
    (f"/417/{GLN}", "417", (), ()),
    (f"/8003/0{GLN}A7", "8003", (), ()),
    (f"/8004/{GLN[:-1]}PALLET-9/7040/1ABC", "8004", (("7040", "1ABC"),), ()),
    (f"/8006/{GTIN}0102/22/V/10/L/21/S", "8006", (("22", "V"), ("10", "L"), ("21", "S")), ()),
    (f"/8010/{GLN[:-1]}%23A-1/8011/1203", "8010", (("8011", "1203"),), ()),
    (f"/8013/{GMN}", "8013", (), ()),
    (f"/8017/{GSRN}/8019/12", "8017", (("8019", "12"),), ()),
    (f"/8018/{GSRN}/8019/12?7250=20240229", "8018", (("8019", "12"),), (("7250", "20240229"),)),
]
VALUES = {  # the decoded key values of LINKS, where the path escapes or is short
    "253": f"{GLN}DOC/7",
    "8010": f"{GLN[:-1]}#A-1",
}


@pytest.mark.parametrize(("written", "key", "qualifiers", "attributes"), LINKS, ids=[x[0][:30] for x in LINKS])
def test_every_primary_key_parses_and_composes_back(
    written: str, key: str, qualifiers: tuple[tuple[str, str], ...], attributes: tuple[tuple[str, str], ...]
) -> None:
    link = parse(HOST + written)
    value = VALUES.get(key) or written.split("/")[2].split("?")[0]
    assert link == Link(key, value, qualifiers, attributes)
    assert link.element_string == "".join(f"({ai}){v}" for ai, v in ((key, value), *qualifiers, *attributes))
    again = compose(value, key=key, qualifiers=qualifiers, attributes=attributes)
    assert again == link and parse(again.uri(HOST)) == link and again.uri(HOST) == HOST + written


def test_the_primary_keys_are_the_dictionarys() -> None:
    assert set(primary_keys()) == {x[1] for x in LINKS}
    assert primary_keys()["01"] == (("22", "10", "21"), ("235",))
    assert primary_keys()["414"] == (("254",), ("7040",)) and primary_keys()["00"] == ((),)


@pytest.mark.parametrize(
    ("written", "where", "rule"),
    [
        (f"/00/{SSCC[:-1]}0", "00", f"check digit is 0, expected {SSCC[-1]}"),
        (f"/01/{GTIN[:-1]}9", "01", f"check digit is 9, expected {GTIN[-1]}"),
        (f"/414/{GLN[:-1]}7", "414", f"check digit is 7, expected {GLN[-1]}"),
        (f"/253/{GLN[:-1]}7DOC", "253", f"check digit is 7, expected {GLN[-1]}"),
        (f"/255/{GLN[:-1]}7", "255", f"check digit is 7, expected {GLN[-1]}"),
        (f"/8003/0{GLN[:-1]}7", "8003", f"check digit is 7, expected {GLN[-1]}"),
        (f"/8017/{GSRN[:-1]}0", "8017", f"check digit is 0, expected {GSRN[-1]}"),
        (f"/8006/{GTIN[:-1]}90102", "8006", f"check digit is 9, expected {GTIN[-1]}"),
        (f"/8013/{GMN[:-1]}L", "8013", "check characters are 2L, expected 2K"),
        (f"/00/{SSCC}1", "00", "SSCC must be 18 digits, got 19"),
        (f"/8003/1{GLN}", "8003", "must be 0"),
        (f"/8006/{GTIN}0302", "8006", "piece 3 of 2"),
        (f"/8010/{GLN[:-1]}a", "8010", "character 'a' not in GS1 character set 39"),
        (f"/8010/{GLN}/8011/0123", "8011", "must not start with 0"),
        (f"/253/{GLN}" + "D" * 18, "253", "longer than 30 characters (got 31)"),
        (f"/8018/{GSRN}?7250=20230229", "7250", "20230229 is not a date: day 29 in month 02 (1-28)"),
        # qualifiers: not the key's, out of order, mixing alternatives, none allowed
        (f"/8006/{GTIN}0102/21/S/10/L", "path", "10 after 21: key qualifiers must be in the order 22, 10, 21"),
        (f"/414/{GLN}/254/A/7040/1ABC", "path", "7040 after 254: the key qualifiers of 414 are 254 or 7040"),
        (f"/01/{GTIN}/235/T/21/S", "path", "21 after 235: the key qualifiers of 01 are 22, 10, 21 or 235"),
        (f"/8017/{GSRN}/254/A", "path", "254 is not a key qualifier of 8017 (8019)"),
        (f"/414/{GLN}/lot/L", "path", "'lot' is not a key qualifier of 414: expected 254 or 7040"),
        (f"/00/{SSCC}/21/S", "path", "00 (SSCC) takes no key qualifiers, got /21/"),
        (f"/8013/{GMN}/more", "path", "8013 (GMN) takes no key qualifiers, got /more/"),
        # data attributes: the key's own AIs belong in the path; some AIs are never attributes
        (f"/414/{GLN}?254=A", "254", "key qualifier in the query string; it belongs in the path (/254/...)"),
        (f"/00/{SSCC}?00={SSCC}", "00", "primary key in the query string"),
        (f"/00/{SSCC}?8011=12", "8011", "CPID serial is not a GS1 Digital Link data attribute"),
    ],
)
def test_refused_naming_the_ai_and_rule(written: str, where: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse(HOST + written)
    assert info.value.field == where and rule in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("alpha", "numeric"),
    [
        (f"/gtin/{GTIN}/cpv/V/lot/L/ser/S?exp=280429", f"/01/{GTIN}/22/V/10/L/21/S?17=280429"),
        (f"/gtin/{GTIN[1:]}/10/L/ser/S", f"/01/{GTIN}/10/L/21/S"),  # alphas and AIs mixed, a GTIN-13
        (f"/sscc/{SSCC}", f"/00/{SSCC}"),
        (f"/gln/{GLN}/glnx/A1", f"/414/{GLN}/254/A1"),
        (f"/party/{GLN}", f"/417/{GLN}"),
        (f"/gsrn/{GSRN}/srin/7", f"/8018/{GSRN}/8019/7"),
        (f"/gsrnp/{GSRN}", f"/8017/{GSRN}"),
        ("/cpid/ABC/cpsn/9", "/8010/ABC/8011/9"),
        (f"/giai/{GLN[:-1]}X", f"/8004/{GLN[:-1]}X"),
        (f"/gmn/{GMN}", f"/8013/{GMN}"),
        (f"/itip/{GTIN}0102", f"/8006/{GTIN}0102"),
        (f"/01/{GTIN}?expdt=2804291200", f"/01/{GTIN}?7003=2804291200"),
    ],
)
def test_convenience_alphas_read_as_their_numeric_ais(alpha: str, numeric: str) -> None:
    link = parse(HOST + alpha)
    assert link == parse(HOST + numeric) and link.uri(HOST) == HOST + numeric  # written back numeric


def test_every_alpha_names_a_key_or_qualifier_of_the_dictionary() -> None:
    keys = primary_keys()
    assert set(PRIMARY_ALPHAS.values()) <= set(keys)
    assert set(QUALIFIER_ALPHAS.values()) <= {ai for alts in keys.values() for alt in alts for ai in alt}


@pytest.mark.parametrize("written", [f"/00/{SSCC}", f"/414/{GLN}/254/A?linkType=gs1:pip", f"/01/{GTIN}/10/L"])
def test_a_fragment_is_ignored(written: str) -> None:
    assert parse(f"{HOST}{written}#section-2") == parse(HOST + written)
    assert parse(f"{HOST}{written}#") == parse(HOST + written)


def test_compose_puts_qualifiers_in_order_and_refuses_what_the_key_does_not_take() -> None:
    link = compose(GTIN, qualifiers={"21": "S", "22": "V"}, lot="L")
    assert link.uri(HOST) == f"{HOST}/01/{GTIN}/22/V/10/L/21/S"
    for kwargs, where, rule in [
        (dict(key="00", qualifiers={"21": "S"}), "path", "00 (SSCC) takes no key qualifiers"),
        (dict(key="414", qualifiers={"254": "A", "7040": "1ABC"}), "path", "the key qualifiers of 414 are"),
        (dict(key="99"), "99", "not a GS1 Digital Link primary key"),
        (dict(key="414", attributes={"254": "A"}), "254", "a key or key qualifier, not a data attribute"),
        (dict(key="00", attributes={"8011": "1"}), "8011", "not a GS1 Digital Link data attribute"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            compose(GLN if kwargs.get("key") == "414" else SSCC, **kwargs)  # type: ignore[arg-type]
        assert info.value.field == where and rule in str(info.value), (kwargs, str(info.value))


# ---- round trip for the keys this resolver answers -------------------------------------------------------

_x20 = st.text(
    alphabet="!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz",
    min_size=1,
    max_size=20,
)
_dates = st.dates().map(lambda d: d.strftime("%y%m%d"))


@given(
    st.sampled_from(["00", "414", "01"]),
    st.from_regex(r"\A[0-9]{17}\Z"),
    st.none() | _x20,
    st.dictionaries(st.sampled_from(["11", "13", "15", "17"]), _dates, max_size=2),
)
def test_compose_then_parse_gives_back_the_same_link(
    key: str, digits: str, qualifier: str | None, attributes: dict[str, str]
) -> None:
    size = {"00": 17, "414": 12, "01": 13}[key]
    value = _checked(digits[:size])
    qualifiers = {("254" if key == "414" else "21"): qualifier} if qualifier and key != "00" else {}
    link = compose(value, key=key, qualifiers=qualifiers, attributes=attributes, params={"linkType": "gs1:pip"})
    back = parse(link.uri(HOST))
    assert back == link and back.ais == {key: value, **qualifiers, **dict(sorted(attributes.items()))}

"""GS1's syntax dictionary read as data: its grammar, the packaged copy, and the checks its linters name."""

from __future__ import annotations

from pathlib import Path

import pytest

import cradletrace
from cradletrace.core.gs1syntax import (
    DATA_FILE,
    LINTERS,
    UNCHECKED,
    Component,
    check_character_pair,
    dictionary,
    parse_line,
    value_problem,
)


def test_a_line_with_a_range_flags_optional_components_and_attributes() -> None:
    [entry] = parse_line("01         *?  N14,csum,gcppos2                  ex=255,37 dlpkey=22,10,21|235  # GTIN")
    assert (entry.ai, entry.title, entry.fixed, entry.dl_attribute) == ("01", "GTIN", True, True)
    assert entry.components == (Component("N", 14, 14, False, ("csum", "gcppos2")),)
    assert entry.dlpkey == (("22", "10", "21"), ("235",)) and entry.ex == ("255", "37")
    entries = parse_line("3100-3105  *?  N6                                req=01,02 ex=310n    # NET WEIGHT (kg)")
    assert [e.ai for e in entries] == ["3100", "3101", "3102", "3103", "3104", "3105"]
    assert entries[0].req == (("01",), ("02",)) and entries[0].title == "NET WEIGHT (kg)"
    [gdti] = parse_line("253         ?  N13,csum,gcppos1 [X..17]          dlpkey     # GDTI")
    assert gdti.dlpkey == ((),) and gdti.format == "N13 [X..17]" and (gdti.min_length, gdti.max_length) == (13, 30)
    [cert] = parse_line("423         ?  N3,iso3166 [N3],iso3166 [N3],iso3166  req=01,02,03 ex=426  # COUNTRY")
    assert [c.optional for c in cert.components] == [False, True, True] and cert.linters == {"iso3166"}
    [serial] = parse_line("21             X..20                             req=01,03,8006 ex=235      # SERIAL")
    assert (serial.fixed, serial.dl_attribute, serial.dlpkey) == (False, False, None)
    assert serial.req == (("01",), ("03",), ("8006",))
    [pairs] = parse_line(
        "250         ?  X..30                             req=01+21,03+21,8006+21   # SECONDARY SERIAL"
    )
    assert pairs.req == (("01", "21"), ("03", "21"), ("8006", "21"))
    assert parse_line("# a comment") == [] and parse_line("   ") == []
    with pytest.raises(ValueError, match="has no specification"):
        parse_line("99  ?  req=01")


def test_the_packaged_dictionary_is_whole_and_every_linter_is_run_or_named() -> None:
    packaged = Path(cradletrace.__file__).parent / DATA_FILE
    assert packaged.is_file() and (packaged.parent / "LICENSE").is_file()
    d = dictionary()
    assert len(d) > 500 and {"00", "01", "10", "17", "21", "254", "414", "8003", "99"} <= set(d)
    named = {linter for entry in d.values() for linter in entry.linters}
    assert named <= set(LINTERS) | set(UNCHECKED), named - set(LINTERS) - set(UNCHECKED)
    assert not set(LINTERS) & set(UNCHECKED)
    for ai, entry in d.items():  # every qualifier a primary key names is an AI of the dictionary
        for alt in entry.dlpkey or ():
            assert set(alt) <= set(d), ai


def test_check_character_pair() -> None:
    assert check_character_pair("1987654Ad4X4bL5ttr2310c") == "2K"  # GS1 General Specifications' GMN example
    gmn = dictionary()["8013"]
    assert value_problem(gmn, "1987654Ad4X4bL5ttr2310c2K", "GMN") is None
    assert value_problem(gmn, "1987654Ad4X4bL5ttr2310c2J", "GMN") == "check characters are 2J, expected 2K"
    assert "needs 1-23 characters" in str(value_problem(gmn, "2K", "GMN"))


@pytest.mark.parametrize(
    ("ai", "value", "problem"),
    [
        ("17", "280229", None),
        ("17", "270200", None),  # day 00 allowed by yymmd0
        ("7006", "270400", "FIRST FREEZE DATE 270400 is not a date: day 00 in month 04 (1-30)"),
        ("17", "271301", "expiry 271301 does not have the format N6 (YYMMDD): month 13, day 01"),
        ("7003", "2712312360", "EXPIRY TIME 2360 is not a time of day (hhmm)"),
        ("8008", "27123123", None),
        ("8008", "2712312461", "PROD TIME 24 is not an hour (0-23)"),
        ("4321", "2", "DANGEROUS GOODS 2 must be 0 (no) or 1 (yes)"),
        ("4330", "001234-", None),
        ("4330", "001234+", "MAX TEMP F. '+' must be '-'"),
        ("7258", "1/2", None),
        ("7258", "3/2", "BIRTH SEQUENCE '3/2' is not a position in a sequence such as 1/2"),
        ("4309", "18000000003600000000", None),
        ("4309", "18000000023600000000", "SHIP TO GEO 1800000002 is not a latitude (0-1800000000)"),
        ("4300", "ACME%20Ltd", None),
        ("4300", "ACME%2", "SHIP TO COMP bad percent-escape in 'ACME%2'"),
        ("8014", "1987654Ad4X4bL5ttr2310c2K", None),
        ("8001", "00000123450011", "DIMENSIONS 0000 must not be zero"),
        ("8001", "10000123450011", None),
        ("8001", "10000123450051", "DIMENSIONS 5 is not a winding direction (0, 1 or 9)"),
        ("7007", "260101", None),
        ("7007", "2601012602", "HARVEST DATE '2601012602': [N6] at character 7 needs 6 digits"),
        ("3910", "978123", None),  # iso4217 unchecked: the currency is not looked up
    ],
)
def test_linters(ai: str, value: str, problem: str | None) -> None:
    entry = dictionary()[ai]
    name = "expiry" if ai == "17" else entry.title
    assert value_problem(entry, value, name) == problem

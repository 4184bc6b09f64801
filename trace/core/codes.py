"""GS1 identifiers: GTIN check digits and the character set of lot numbers (AI 10)."""

from __future__ import annotations

import re
from functools import lru_cache

# GS1 AI encodable character set 82, as allowed in batch/lot (AI 10) and serial (AI 21).
CSET82 = re.compile(r"""[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}""")


@lru_cache(maxsize=1 << 16)  # a store names few products many times: every event's GTINs are checked
def gtin_check_digit(body: str) -> int:
    """Check digit for the first 13 digits of a GTIN-14 (GS1 mod-10, weights 3,1,3,...)."""
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return (10 - total % 10) % 10


@lru_cache(maxsize=1 << 16)
def gtin_problem(value: str) -> str | None:
    """None when ``value`` is a valid GTIN-14, else what is wrong with it."""
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        return f"expected a GTIN-14 of 14 digits, got {value!r}"
    expected = gtin_check_digit(value[:13])
    if int(value[13]) != expected:
        return f"expected check digit {expected} for GTIN {value[:13]}…, got {value[13]}"
    return None


def lot_problem(value: str) -> str | None:
    if not CSET82.fullmatch(value):
        return f"expected 1-20 GS1 characters (letters, digits, !\"%&'()*+,-./:;<=>?_), got {value!r}"
    return None


def _keyed_problem(value: str, digits: int, name: str) -> str | None:
    """None when ``value`` is ``digits`` digits ending in their GS1 mod-10 check digit."""
    if len(value) != digits or not value.isascii() or not value.isdigit():
        return f"expected {name} of {digits} digits, got {value!r}"
    expected = gtin_check_digit(value[:-1])
    if int(value[-1]) != expected:
        return f"expected check digit {expected} for {name.split()[-1]} {value[:-1]}…, got {value[-1]}"
    return None


def sscc_problem(value: str) -> str | None:
    """None when ``value`` is a valid SSCC (GS1 AI 00: 18 digits, the last its check digit)."""
    return _keyed_problem(value, 18, "an SSCC")


def gln_problem(value: str) -> str | None:
    """None when ``value`` is a valid GLN (GS1 AI 414: 13 digits, the last its check digit)."""
    return _keyed_problem(value, 13, "a GLN")

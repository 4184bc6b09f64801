"""Codes as a person pastes or types them into the scanner page's fallback form."""

from __future__ import annotations

import pytest

from cradletrace.core.labels import ItemCode, parse_typed
from cradletrace.errors import InvalidInputError

GTIN = "09501101530003"
SERIAL = "7K3MZ9QX1VWD4HPA"
CODE = ItemCode(GTIN, "LOT-7", SERIAL)


@pytest.mark.parametrize(
    "typed",
    [
        f"https://id.cradletrace.example/01/{GTIN}/10/LOT-7/21/{SERIAL}",
        f"  http://other.example:8080/01/{GTIN}/10/LOT-7/21/{SERIAL}?utm_source=wechat#top \n",
        f"https://id.cradletrace.example/01/{GTIN}/10/LOT-7/21/{SERIAL}/",  # a slash some apps append
        f"id.cradletrace.example/01/{GTIN}/10/LOT-7/21/{SERIAL}",
        f"/01/{GTIN}/10/LOT-7/21/{SERIAL}",
        f"/01/{GTIN[1:]}/10/LOT-7/21/{SERIAL}",  # GTIN-13 reads as the same GTIN-14
        f"(01) {GTIN}\n(10) LOT-7\n(21) {SERIAL}",
        f"（01）{GTIN}（10）LOT-7（21）{SERIAL.lower()}",  # full-width brackets of a Chinese keyboard
        "(01)0950 1101 5300 03 (10)LOT-7 (21)7K3M-Z9QX-IVWD-4HPA",  # grouped, I typed for 1
    ],
)
def test_typed_codes_read_as_the_item(typed: str) -> None:
    assert parse_typed(typed) == CODE


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ("", "path"),
        ("hello", "path"),
        ("WIFI:T:WPA;S:home;P:secret;;", "path"),
        ("https://example.com/promo/2026", "gtin"),
        (f"https://id.cradletrace.example/01/{GTIN}/10/LOT-7", "serial"),
        (f"/01/{GTIN}/10/LOT-7/21/{SERIAL}/extra", "path"),
        (f"/01/09501101530004/10/LOT-7/21/{SERIAL}", "gtin"),  # wrong check digit
        (f"(01) {GTIN} (10) LOT-7 (21) SHORT", "serial"),
    ],
)
def test_other_text_is_refused_naming_the_part(typed: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_typed(typed)
    assert err.value.field == field

"""Free text that suppliers and staff write: names, units, methods, reasons.

Such text ends up in terminals, CSV and XLSX reports, PDFs and the scan page, so it may hold
no control characters (C0 U+0000-U+001F, DEL, C1 U+0080-U+009F: a NUL cuts a line short in C
tools, BEL and escape sequences act on the reader's terminal) and no bidirectional formatting
characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which make text display
in another order than it is stored ("Trojan Source"). No field takes multi-line text, so tab
and newline are refused too. One rule, one function: every free-text field uses ``PlainText``
(pydantic) or ``check_text`` (plain values).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from cradletrace.errors import InvalidInputError, Problem

# Refused above C0: DEL, C1 and the bidirectional formatting characters (a regex class body).
REFUSED_ABOVE_C0 = "\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_REFUSED = re.compile(f"[\u0000-\u001f{REFUSED_ABOVE_C0}]")


_CONTROL_NAMES = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "BS",
    "\t": "TAB",
    "\n": "LF",
    "\r": "CR",
    "\x1b": "ESC",
    "\x7f": "DEL",
}


def text_problem(value: str) -> str | None:
    """None when ``value`` holds no control or bidirectional formatting character, else which and where."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    char = found.group()
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character")
    return (
        f"expected text without control or bidirectional formatting characters, "
        f"got U+{ord(char):04X} ({name}) at position {found.start()}"
    )


def check_text(value: str, where: str) -> str:
    """``value``, or InvalidInputError naming ``where``."""
    problem = text_problem(value)
    if problem:
        raise InvalidInputError(Problem(where, problem))
    return value


def _plain(value: object) -> object:
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        raise PydanticCustomError("text", problem)
    return value


# Checked before pydantic's own str validation, so length and type messages stay pydantic's.
# With bounds: ``Annotated[str, Field(max_length=...), PLAIN]`` (an Annotated nested in another
# loses pydantic's string messages) or ``name: PlainText = Field(max_length=...)``.
PLAIN = BeforeValidator(_plain)
PlainText = Annotated[str, PLAIN]

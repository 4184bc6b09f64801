"""The shared canonical-bytes corpus is what canonical.py writes today (tests/canonical_corpus.py).

canonical.js is held to the same file in Node and Chromium (tests/test_canonical_js.py), so a
change to canonical.py that moves any byte fails here first, with the file to regenerate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from cradletrace.core.canonical import canonical_bytes, parse_json
from cradletrace.core.events import KINDS, parse_event
from cradletrace.errors import CanonicalizationError
from tests.canonical_corpus import CORPUS, build, events, render

COMMITTED: dict[str, Any] = json.loads(CORPUS.read_text("utf-8"))
EVENT_NAMES = {name for name, _ in events()}


def test_the_committed_corpus_is_what_canonical_py_writes() -> None:
    assert CORPUS.read_text("utf-8") == render(build()), "run .venv/bin/python -m tests.canonical_corpus"


@pytest.mark.parametrize("doc", COMMITTED["documents"], ids=lambda d: d["name"])
def test_canonical_py_writes_the_expected_bytes(doc: dict[str, str]) -> None:
    expected = doc["canonical"].encode("utf-8")
    assert hashlib.sha256(expected).hexdigest() == doc["sha256"]
    assert canonical_bytes(parse_json(doc["input"])) == expected
    assert canonical_bytes(parse_json(expected)) == expected  # canonical text is a fixed point


def test_every_event_kind_is_there_and_valid() -> None:
    docs = [d for d in COMMITTED["documents"] if d["name"] in EVENT_NAMES]
    assert {json.loads(d["input"])["kind"] for d in docs} == set(KINDS)
    for doc in docs:
        parse_event(doc["canonical"].encode("utf-8"), doc["name"])  # raises, naming the field, if not


@pytest.mark.parametrize("doc", COMMITTED["refused"], ids=lambda d: d["name"])
def test_canonical_py_refuses_the_refused(doc: dict[str, str]) -> None:
    with pytest.raises(CanonicalizationError):
        parse_json(doc["input"])
    with pytest.raises(CanonicalizationError):  # and the value, however it was read
        canonical_bytes(json.loads(doc["input"]))

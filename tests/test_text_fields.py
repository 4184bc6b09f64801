"""No control or bidirectional formatting characters in free text, anywhere it is taken in:
events, supplier names and certifications, API key names, recall and hold reasons."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cradletrace import apikeys, suppliers
from cradletrace.core.admission import admission_problems
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import parse_event
from cradletrace.core.testreport import fill_limits
from cradletrace.core.text import text_problem
from cradletrace.errors import InvalidEventError, InvalidInputError
from cradletrace.recall.recalls import start_recall
from cradletrace.workspace import Workspace, default_limits
from tests.conftest import NOW

BAD = [
    pytest.param("Alps\x00Nutrition", "U+0000 (NUL)", id="NUL"),
    pytest.param("ding\x07", "U+0007 (BEL)", id="BEL"),
    pytest.param("invoice \u202egpj.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)", id="RLO"),
    pytest.param("a\u2066b", "U+2066", id="LRI"),
    pytest.param("x\x85y", "U+0085", id="C1 NEL"),
    pytest.param("two\nlines", "U+000A (LF)", id="LF"),
]


@pytest.mark.parametrize(("text", "named"), BAD)
def test_text_problem_names_the_character_and_its_position(text: str, named: str) -> None:
    problem = text_problem(text)
    assert problem is not None and named in problem and "position" in problem


@pytest.mark.parametrize("text", ["Southern Alps Nutrition", "ñ 漢字 🧪 עברית", "tab-free\u00a0nbsp", "ISO/IEC 17025"])
def test_ordinary_text_of_any_script_passes(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("index", "path"),
    [(2, ("product", "name")), (2, ("site", "address")), (3, ("lab", "name")), (5, ("unit",)), (6, ("logger", "id"))],
)
@pytest.mark.parametrize(("text", "named"), BAD)
def test_event_text_fields_refuse_them(
    events: list[Any], index: int, path: tuple[str, ...], text: str, named: str
) -> None:
    ev = copy.deepcopy(events[index])
    ev["key"] = "0" * 16
    if ev["kind"] == "test_report":
        ev["data"] = fill_limits(ev["data"], default_limits())
    node = ev["data"]
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = text
    body = canonical_bytes(ev)
    event = parse_event(body)  # stored events stay readable: the rule is one of admission
    [problem] = admission_problems(event, body, NOW, default_limits())
    assert problem.where == "event.data." + ".".join(path) and named in problem.message


def test_recording_refuses_them_and_stores_nothing(workspace: Workspace, events: list[Any], record: Any) -> None:
    evs = copy.deepcopy(events)
    evs[2]["data"]["product"]["name"] = "Formula\u0000 Stage 1"
    evs[3]["data"]["analytes"][0]["method"] = "ICP-MS \u202e"
    with pytest.raises(InvalidEventError) as info:
        record(evs)
    wheres = [p.where for p in info.value.problems]
    assert wheres[0] == "events[2].data.product.name" and "events[3].data.analytes[0].method" in wheres
    assert "U+0000 (NUL)" in info.value.problems[0].message


@pytest.mark.parametrize(("text", "named"), BAD)
def test_names_certifications_key_names_and_reasons_refuse_them(workspace: Workspace, text: str, named: str) -> None:
    keys = workspace.settings.keys_dir
    with workspace.session() as s:
        with pytest.raises(InvalidInputError) as info:
            suppliers.add_supplier(s, keys, text, "farm", [], "new-farm")
        assert info.value.field == "name" and named in str(info.value)
        with pytest.raises(InvalidInputError) as info:
            suppliers.CertificationIn.parse(f"GAP;{text};AsureQuality;2027-12-31")
        assert info.value.field == "cert.number"
        with pytest.raises(InvalidInputError) as info:
            apikeys.create_key(s, text, "quality")
        assert info.value.field == "name"
        with pytest.raises(InvalidInputError) as info:
            start_recall(s, lots=[], reason=text, severity="I", trigger=None, started_by="qa", now=NOW)
        assert "reason" in [p.where for p in info.value.problems]

"""One home for each rule (issue 13): errors in errors.py, status values in store/states.py, and one
table in the API deciding each error's status."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from cradletrace import errors as trace_errors
from cradletrace.api import errors as api_errors
from cradletrace.errors import Conflict, Problem, StateConflictError, TraceError
from cradletrace.scanner_web.pages import HOLD_REASON_TEXTS, status_warnings, strings
from cradletrace.store.states import HoldReason

REPO = Path(__file__).resolve().parent.parent
CODE = [p for d in ("trace", "api", "scanner_web") for p in (REPO / d).rglob("*.py")]
ERRORS_HOME = REPO / "trace" / "errors.py"
STATES_HOME = REPO / "trace" / "store" / "states.py"


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_every_error_class_is_defined_in_errors_py() -> None:
    # The API's own ApiError and the middleware's private _TooLarge are HTTP plumbing, not cradletrace errors;
    # devstack is the development stack scripts/stack and the tests start, which the product never imports.
    allowed = {
        "api/errors.py": {"ApiError"},
        "api/middleware.py": {"_TooLarge"},
        "trace/devstack/nodes.py": {"NodeStartError"},
        "trace/devstack/pg.py": {"PostgresError"},
    }
    found = [
        (_relative(p), m.group(1))
        for p in CODE
        if p != ERRORS_HOME
        for m in re.finditer(r"^class (\w+)\((?:[^)]*(?:Error|Exception))[^)]*\):", p.read_text("utf-8"), re.M)
        if m.group(1) not in allowed.get(_relative(p), set())
    ]
    assert found == []


@pytest.mark.parametrize("word", ["prepared", "sent", "confirmed", "anchored", "closed"])
def test_status_values_are_spelt_only_in_their_enums(word: str) -> None:
    # store/states.py, and errors.Conflict. "pending" and "active" are left out: web3's block tag and
    # EPCIS dispositions use them too.
    spelt = [
        _relative(p)
        for p in CODE
        if p not in (STATES_HOME, ERRORS_HOME) and re.search(rf"[\"']{word}[\"']", p.read_text("utf-8"))
    ]
    assert spelt == []


def test_each_error_class_has_one_answer_and_none_is_shadowed() -> None:
    rows = [a.error for a in api_errors.ANSWERS]
    for i, cls in enumerate(rows):
        assert not [e for e in rows[:i] if issubclass(cls, e)], f"{cls.__name__} is answered by an earlier row"
    classes = [c for _, c in inspect.getmembers(trace_errors, inspect.isclass) if issubclass(c, TraceError)]
    unanswered = [
        c.__name__ for c in classes if next(a for a in api_errors.ANSWERS if issubclass(c, a.error)).error is TraceError
    ]
    assert unanswered == ["ConfigError", "TraceError"]  # both 500 CONFIG


@pytest.mark.parametrize("kind", list(Conflict))
def test_a_state_conflict_is_409_with_its_fixed_detail(kind: Conflict) -> None:
    problem = Problem("recall", "recall 1 was already closed")
    error = StateConflictError(kind, problem)
    assert not isinstance(error, trace_errors.InvalidInputError)
    assert api_errors.answer_for(error) == (409, api_errors.CONFLICTS[kind], [problem])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_hold_banner_words_come_from_the_reason_code(lang: str) -> None:
    t = strings()[lang]
    for reason in HoldReason:
        [banner] = status_warnings(None, {"reason": str(reason)}, lang)
        assert banner.text == f"{t['hold_banner']} ({t[HOLD_REASON_TEXTS[reason]]})"
    [unknown] = status_warnings(None, {"reason": "something else"}, lang)
    assert unknown.text == t["hold_banner"]

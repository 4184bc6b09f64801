"""The query routes against GS1's own OpenAPI document of the EPCIS 2.0 REST binding (schemathesis).

GS1's document (trace/data/epcis/epcis-rest-openapi.json) generates the requests (its parameters,
with its own value schemas); every answer must be no 5xx, a refusal GS1's QueryParameterException
problem, and a query answer valid against GS1's EPCIS 2.0 JSON schema. Only the query operations this repository
serves are run (capture, named queries and subscriptions are other parts of issue 18)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.openapi import from_dict

from cradletrace.config import Settings
from cradletrace.epcis.validation import validate
from tests.api.conftest import Site, open_site

GS1 = Path(__file__).resolve().parents[2] / "trace" / "data" / "epcis" / "epcis-rest-openapi.json"
OPERATIONS = [
    "/events",
    "/eventTypes",
    "/bizSteps",
    "/bizLocations",
    "/readPoints",
    "/dispositions",
    "/epcs/{epc}/events",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("gs1")) / "data")) as s:
        yield s


@pytest.fixture(scope="module")
def gs1() -> Any:
    return from_dict(json.loads(GS1.read_text("utf-8")))


@pytest.mark.parametrize("path", OPERATIONS)
def test_query_answers_conform_to_gs1s_openapi(site: Site, gs1: Any, path: str) -> None:
    operation = gs1[path]["GET"]
    seen: set[int] = set()

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def conforms(case: schemathesis.Case) -> None:
        headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        r = site.client.get(
            "/epcis" + case.formatted_path,
            params=case.query or {},
            headers={**headers, **site.auth("quality")},
        )
        seen.add(r.status_code)
        assert r.status_code < 500, (case.formatted_path, case.query, r.text)
        if r.status_code == 400:
            assert r.json()["type"] == "epcisException:QueryParameterException"
        if r.status_code == 200 and "eventList" in r.text:
            assert validate(r.json()) == [], r.text

    conforms()
    assert seen & {200, 400, 404}, seen

"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis + Hypothesis).

Every operation gets a few generated requests, sent with a key of a role the operation admits
(so the handlers run, not only the key check). Each answer must be no 5xx, carry a status the
document lists for that operation, the content type it declares, and a body matching its schema.
Bounded: a handful of examples per operation, no shrinking of passing runs, whole file well under
90 s. The app runs on a real SQLite store and the embedded chain, seeded with the demo story.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.openapi import from_asgi

from cradletrace.api.main import API_PREFIX, create_app
from cradletrace.config import Settings
from tests.api.conftest import Site, open_site

EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Which key each operation is fuzzed with: the role that gets past the key check; else operator.
ROLE = {("POST", f"{API_PREFIX}/events"): "supplier_b", ("POST", f"{API_PREFIX}/audit"): "quality",
        ("POST", f"{API_PREFIX}/epcis"): "supplier_b"}


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # No scan rate limit: the fuzzer is one address sending many scans on purpose.
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("fuzz")) / "data"), scan_rate_per_minute=0) as s:
        yield s


def started(app: Any) -> Any:
    """The running app without its lifespan: the site's client started it (and holds the chain) already."""
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)
    return asgi


@pytest.fixture(scope="module")
def api_schema(fuzz_site: Site) -> Any:
    return from_asgi("/openapi.json", started(fuzz_site.client.app))


def operations() -> list[tuple[str, str]]:
    """Every (method, path) the document lists; building the app opens nothing."""
    doc = create_app(Settings()).openapi()
    return sorted((m.upper(), p) for p, ops in doc["paths"].items() for m in ops)


@pytest.mark.parametrize("operation", operations(), ids=" ".join)
def test_api_conforms_to_its_schema(api_schema: Any, fuzz_site: Site, operation: tuple[str, str]) -> None:
    method, path = operation
    headers = fuzz_site.auth(ROLE.get(operation, "operator"))

    @given(case=api_schema[path][method].as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    conforms()

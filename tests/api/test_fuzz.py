"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis + Hypothesis).

Every operation gets a few generated requests, sent with a key of a role the operation admits
(so the handlers run, not only the key check). Each answer must be no 5xx, carry a status the
document lists for that operation, the content type it declares, and a body matching its schema.
Then, statefully: schemathesis chains operations along the document's OpenAPI links (the ones
the app writes for events, and those schemathesis infers: recalls, holds, suppliers), feeding
one answer's ids into the next request. And hostile bodies to every operation: JSON nested far
deeper than the strict parser allows, or with a key given twice, inside otherwise generated
bodies; each must be refused with 422 by the one parser every body goes through (api/middleware.py).
Bounded: a handful of examples per operation, no shrinking of passing runs, whole file under
60 s. The app runs on a real SQLite store and the embedded chain, seeded with the demo story.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
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
from cradletrace.core.canonical import MAX_DEPTH
from tests.api.conftest import Site, open_site

EXAMPLES = 20
HOSTILE_EXAMPLES = 4
SUITES = 3
MORE_SUITES = 10  # bounded: the stateful test never runs longer than this many seeds
STATEFUL = settings(
    max_examples=25,
    stateful_step_count=6,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Which key each operation is fuzzed with: the role that gets past the key check; else operator.
ROLE = {
    ("POST", f"{API_PREFIX}/events"): "supplier_b",
    ("POST", f"{API_PREFIX}/audit"): "quality",
    ("POST", f"{API_PREFIX}/epcis"): "supplier_b",
}


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # No scan or bundle rate limit: the fuzzer is one address sending many requests on purpose.
    with open_site(
        Settings(data_dir=Path(tmp_path_factory.mktemp("fuzz")) / "data"),
        scan_rate_per_minute=0,
        verify_rate_per_minute=0,
    ) as s:
        yield s


def started(app: Any) -> Any:
    """The running app without its lifespan: the site's client started it (and holds the chain) already."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
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
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    conforms()


def role_headers(site: Site, method: str, path: str) -> dict[str, str]:
    return site.auth(ROLE.get((method.upper(), path), "operator"))


def test_stateful_links_conform(api_schema: Any, fuzz_site: Site) -> None:
    """Sequences along the OpenAPI links: e.g. record an event, then read, verify and prove it.

    Every answer is checked and failures are collected rather than raised, so Hypothesis never
    replays a sequence against a store that has changed since; when its generation notices the
    change anyway (Flaky), the suite ends and the next seed starts, as schemathesis's own runner does."""
    failures: list[str] = []
    linked: list[str] = []

    class Links(api_schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:  # noqa: A002 (schemathesis names it)
            if input.transition is not None:
                linked.append(f"{input.case.method} {input.case.path}")
            return super().step(input)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": role_headers(fuzz_site, case.method, case.path)}

        def validate_response(
            self, response: Any, case: schemathesis.Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))
            except Exception as exc:  # schemathesis's FailureGroup of the checks that failed
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")

    # At least SUITES seeds; more (up to MORE_SUITES) only until the event links were followed: which
    # transitions a seed takes depends on the server's answers (random ids and keys), and with 60
    # routes three seeds sometimes never reach /events/{ref}/verify.
    wanted = {f"GET {API_PREFIX}/events/{{ref}}", f"GET {API_PREFIX}/events/{{ref}}/verify"}
    for suite in range(MORE_SUITES):
        if suite >= SUITES and wanted <= set(linked):
            break
        try:
            seed(suite)(Links).run(settings=STATEFUL)
        except Flaky:
            pass
    assert not failures, "\n".join(failures[:10])
    assert wanted <= set(linked), sorted(set(linked))


def hostile(body: Any, how: str, depth: int) -> bytes:
    """``body`` with JSON ``depth`` levels deep added, or with its first key given twice."""
    members = json.dumps(body)[1:-1] if isinstance(body, dict) and body else ""
    if how == "deep":
        nested = "[" * depth + "]" * depth
        return ("{" + f'"deep": {nested}' + (", " + members if members else "") + "}").encode()
    first = json.dumps(next(iter(body))) if members else '"key"'
    return ("{" + f"{first}: null, " + (members or f"{first}: 1") + "}").encode()


@pytest.mark.parametrize("operation", operations(), ids=" ".join)
def test_hostile_bodies_are_refused_on_every_operation(
    api_schema: Any, fuzz_site: Site, operation: tuple[str, str]
) -> None:
    method, path = operation
    headers = {**role_headers(fuzz_site, method, path), "Content-Type": "application/json"}

    @given(
        case=api_schema[path][method].as_strategy(),
        how=st.sampled_from(["deep", "duplicate"]),
        depth=st.integers(MAX_DEPTH + 1, 100_000),
    )
    @settings(
        max_examples=HOSTILE_EXAMPLES,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def refused(case: schemathesis.Case, how: str, depth: int) -> None:
        body = hostile(case.body if isinstance(case.body, dict) else None, how, depth)
        r = fuzz_site.client.request(method, case.formatted_path, params=case.query, content=body, headers=headers)
        # GS1's binding (/epcis) has no 422: a bad body is its 400 ValidationException problem
        status = 400 if path.startswith("/epcis") else 422
        assert r.status_code == status and r.json()["field"].startswith("body"), (how, r.status_code, r.text[:300])

    refused()

"""The OpenAPI document lists every endpoint with its schemas and the errors it can answer."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from cradletrace.api.main import API_PREFIX, EPCIS_ROUTERS, ROUTERS
from tests.api.conftest import Site

PUBLIC = {
    ("GET", f"{API_PREFIX}/health"),
    ("POST", f"{API_PREFIX}/verify-bundle"),
    ("GET", f"{API_PREFIX}/test-standards"),
    ("GET", f"{API_PREFIX}/ack/{{token}}"),  # the link's token is the right (recall acknowledgements)
    ("POST", f"{API_PREFIX}/ack/{{token}}"),
    *(  # GS1's discovery
        ("OPTIONS", f"/epcis{p}")
        for p in (
            "",
            "/capture",
            "/capture/{captureID}",
            "/events",
            "/eventTypes",
            "/eventTypes/{eventType}/events",
            "/epcs/{epc}/events",
            "/bizSteps",
            "/bizLocations",
            "/readPoints",
            "/dispositions",
            "/queries",
            "/queries/{queryName}",
            "/queries/{queryName}/events",
            "/queries/{queryName}/subscriptions",
            "/queries/{queryName}/subscriptions/{subscriptionID}",
        )
    ),
}
ERROR = {"$ref": "#/components/schemas/ErrorOut"}


def test_every_route_is_documented_with_its_errors(site: Site) -> None:
    doc: dict[str, Any] = site.client.get("/openapi.json").json()
    routes = [
        (m, API_PREFIX + r.path_format, r)
        for router in ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    ] + [
        (m, r.path_format, r)
        for router in EPCIS_ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    ]
    assert len(routes) == 83
    for method, path, route in routes:
        op = doc["paths"][path][method.lower()]
        assert op.get("summary") and op.get("description"), (method, path)
        codes = {int(c) for c in op["responses"]}
        ok = [c for c in codes if c < 300]
        assert len(ok) == 1, (method, path, codes)
        if ok[0] in (202, 204):  # a capture taken (its job in Location), discovery (headers): no body
            assert path.startswith("/epcis"), (method, path)
            content = {"application/json": {"schema": {"none": True}}}
        else:
            content = op["responses"][str(ok[0])]["content"]
        binary = any(v.get("schema", {}).get("format") == "binary" for v in content.values())  # a file download
        assert binary or content["application/json"]["schema"], (method, path)
        assert {413, 500, 503} <= codes, (method, path)
        if (method, path) not in PUBLIC:
            assert {401, 403} <= codes, (method, path)
            assert op.get("security"), (method, path)
        binding = path.startswith("/epcis")  # GS1's REST binding: every error an RFC 7807 problem, no 422
        if binding:
            assert 422 not in codes, (method, path)
            if route.dependant.path_params or route.dependant.query_params or route.body_field:
                assert 400 in codes or 404 in codes, (method, path)  # what is checked can be refused
        elif "{" in path or route.body_field or op.get("requestBody") or op.get("parameters"):
            assert 422 in codes, (method, path)
        for code in codes - set(ok):
            if (method, path, code) == ("GET", f"{API_PREFIX}/health", 503):
                continue  # health answers 503 with its own report
            if (method, path, code) == ("GET", f"{API_PREFIX}/test-standards", 304):
                continue  # not modified: no body at all
            if binding:
                assert op["responses"][str(code)]["content"]["application/problem+json"], (method, path, code)
                continue
            assert op["responses"][str(code)]["content"]["application/json"]["schema"] == ERROR, (method, path, code)
        if method == "POST" and not route.body_field and path.endswith(("/events", "/verify-bundle")):
            assert op["requestBody"]["content"]["application/json"]["schema"], (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    schemas = doc["components"]["schemas"]
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs(doc)), "every $ref resolves"
    assert {"Event", "SignedEvent", "BatchEvent", "TestReportEvent"} <= set(schemas)
    assert {"HTTPBearer", "APIKeyHeader"} <= set(doc["components"]["securitySchemes"])


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_docs_page_is_served(site: Site) -> None:
    r = site.client.get("/docs")
    assert r.status_code == 200 and "/openapi.json" in r.text


def test_epcis_queries_routes_are_documented(site: Site) -> None:
    """GS1's named queries and subscriptions, at the app's root (api/routes/epcissubs.py)."""
    from cradletrace.api.routes import epcissubs

    doc: dict[str, Any] = site.client.get("/openapi.json").json()
    routes = [(m, r.path_format) for r in epcissubs.router.routes if isinstance(r, APIRoute) for m in r.methods]
    assert len(routes) == 9
    for method, path in routes:
        op = doc["paths"][path][method.lower()]
        assert op.get("summary") and op.get("description") and op.get("security"), (method, path)
        codes = {int(c) for c in op["responses"]}
        assert {401, 403, 413, 500, 503} <= codes, (method, path)
        ok = [c for c in codes if c < 300]
        assert len(ok) == 1, (method, path, codes)
        if ok != [204]:
            assert op["responses"][str(ok[0])]["content"]["application/json"], (method, path)
        if method == "POST":
            assert op["requestBody"]["content"]["application/json"], (method, path)
            assert op["responses"]["400"]["content"]["application/problem+json"], (method, path)

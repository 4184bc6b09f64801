"""The HTTP API: ``create_app(settings)`` builds it; nothing is built or opened at import.

Run it with ``cradletrace serve`` (which also anchors in the same process), or with
``uvicorn --factory cradletrace.api.main:app_factory`` and settings from the environment.
The workspace and its chain are opened in the lifespan and closed on shutdown: the embedded
chain file admits one process, and this process is it.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cradletrace.api import errors, logs, metrics
from cradletrace.api.middleware import (
    BodyLimitMiddleware,
    CatchAllMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
    StrictJsonMiddleware,
    verify_csp,
)
from cradletrace.api.models import event_schemas, link_events
from cradletrace.api.routes import (
    ack,
    anchor,
    apikeys,
    audit,
    buyers,
    console,
    epcis,
    epcisbinding,
    epcisquery,
    epcissubs,
    events,
    health,
    partners,
    portal,
    products,
    proofs,
    recalls,
    resolver,
    rpc,
    scan,
    scanner,
    subscribe,
    suppliers,
    teststandards,
    trace,
)
from cradletrace.api.runtime import Runtime
from cradletrace.config import Settings, url_origin
from cradletrace.scanner_web.pages import STATIC_DIR, verify_page_hashes

API_PREFIX = "/api/v1"
# Swagger UI comes from the npm package swagger-ui-dist, vendored by scripts/vendor-web.cjs:
# FastAPI's default /docs would load it from a CDN, which a phone behind a firewall (or this
# offline machine) cannot reach.
SWAGGER = "/static/vendor/swagger-ui"
ROUTERS = tuple(
    m.router
    for m in (
        health,
        suppliers,
        partners,
        products,
        apikeys,
        events,
        proofs,
        audit,
        anchor,
        trace,
        recalls,
        ack,
        epcis,
        teststandards,
        buyers,
    )
)
# GS1's EPCIS 2.0 REST binding, at the app's root (/epcis), where partners' EPCIS clients look for it.
EPCIS_ROUTERS = (epcisbinding.router, epcisquery.router)

DESCRIPTION = """\
Signed supplier events for maternal and infant goods, anchored on an EVM chain, verifiable by anyone.

**Keys.** Send an API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`). Roles:
*operator* (suppliers, products, keys, anchoring), *supplier* (records its own signed events
about goods it has standing for; names the parties of its own products),
*quality* (audit). Health and bundle verification are public.

**Errors** are `{"detail", "field", "problems": [{"field", "message"}]}`; `detail` texts are stable.
"""


def create_app(settings: Settings) -> FastAPI:
    """An app over the store and chain ``settings`` name; they are opened when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Here, not at import: uvicorn has configured its loggers by now, whichever way it was started.
        logs.install(settings.log_clients)
        runtime = Runtime(settings)
        await to_thread.run_sync(runtime.open)
        await runtime.start_scanner()
        # Sync routes run in this pool (see Settings.api_threads); each needs a store connection.
        to_thread.current_default_thread_limiter().total_tokens = min(settings.api_threads, settings.db_pool_size)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop_scanner()
            await to_thread.run_sync(runtime.close)

    # FastAPI's own OpenTelemetry hooks are off: /metrics (Prometheus) is ours, and asking the
    # OpenTelemetry providers on every request cost a tenth of a scan's time.
    app = FastAPI(
        title="cradletrace",
        version=version("cradletrace"),
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    # Added last is outermost: the catch-all must see what the body limit lets through, and the
    # strict parser reads only what the body limit let through.
    app.add_middleware(StrictJsonMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.api_max_body,
        limits={
            ("POST", f"{API_PREFIX}/events"): settings.api_max_bulk_body,
            ("POST", f"{API_PREFIX}/epcis"): settings.api_max_bulk_body,
            ("POST", "/supplier/documents"): settings.portal_max_document,
            ("POST", "/supplier/events"): settings.api_max_bulk_body,  # POST /api/v1/events's own limit
            ("POST", "/supplier/bulk/check"): settings.portal_max_bulk_file,
            # the binding refuses over its own limit with GS1's problem (epcisbinding._body); this is the backstop
            ("POST", f"{epcisbinding.PREFIX}/capture"): 2 * settings.epcis_capture_max_bytes,
            ("POST", f"{epcisbinding.PREFIX}/events"): 2 * settings.epcis_capture_max_bytes,
        },
    )
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware)  # counts the catch-all's 500s and the 413s too
    app.add_middleware(epcisbinding.BindingHeaders, settings=settings)  # GS1 version headers under /epcis
    connect = tuple(url_origin(u) for u in settings.public_rpc_urls)
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_path="/docs",
        connect_src=connect,
        pages={"/verify": verify_csp(connect, *verify_page_hashes())},
    )  # on every answer, the 500s included
    if settings.trusted_proxies:  # outermost: client address and scheme as the proxy saw them
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # Routes are matched in order, and scans are most of the traffic: theirs come first.
    app.include_router(resolver.router)  # public: GS1 resolver; takes only its own /01/ requests, so before scan
    app.include_router(scan.router)  # public: the Digital Link path phones open, outside the API prefix
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for router in EPCIS_ROUTERS:
        app.include_router(router)
    app.include_router(health.root_router)  # public: /healthz for load balancers
    app.include_router(metrics.router)  # public: /metrics for a Prometheus scraper
    app.include_router(scanner.router)  # public: the camera page that opens those paths
    app.include_router(rpc.router)  # public: the embedded chain's read-only JSON-RPC view for scan pages
    app.include_router(console.router)  # public page, no data: the recall console calls the API with a quality key
    app.include_router(
        ack.page_router
    )  # public: a consignee's recall acknowledgement page; the link's token is the right
    app.include_router(subscribe.page_router)  # public: subscribe, confirm, unsubscribe, read a notice (tokens)
    app.include_router(epcissubs.router)  # GS1's EPCIS named queries and subscriptions at /epcis/queries
    app.include_router(portal.router)  # the supplier portal: its own session cookie, each action an API route's
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _document_raw_bodies(app)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(
            DOCS_PAGE.format(
                title=f"{app.title} API", swagger=SWAGGER, openapi=html.escape(app.openapi_url or "/openapi.json")
            )
        )

    return app


# Swagger UI with no inline script (FastAPI's get_swagger_ui_html writes its setup inline, which
# the CSP forbids): /static/swagger-init.js starts it with the document URL in data-openapi.
DOCS_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{swagger}/swagger-ui.css">
<link rel="shortcut icon" href="{swagger}/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{swagger}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js" data-openapi="{openapi}"></script>
</body>
</html>
"""


def _document_raw_bodies(app: FastAPI) -> None:
    """Add the schemas of bodies the core parses itself (events), which FastAPI cannot see."""
    generate = app.openapi
    extra = event_schemas()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None and "Event" in app.openapi_schema.get("components", {}).get("schemas", {}):
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        clash = {k for k in extra if k in schemas and schemas[k] != extra[k]}
        if clash:
            raise RuntimeError(f"OpenAPI schema names used twice: {sorted(clash)}")
        schemas.update(extra)
        app.openapi_schema = binding_problems(_link_recorded_events(link_events(doc)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def binding_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Under /epcis errors are GS1's RFC 7807 problems (errors.answer): documented so, with the
    statuses they take there (no 422: 400 for a query parameter or body, 404 for a path)."""
    problem = {
        "allOf": [
            {"$ref": "#/components/schemas/ErrorOut"},
            {
                "type": "object",
                "required": ["type", "title", "status"],
                "properties": {
                    "type": {
                        "type": "string",
                        "description": "GS1's EPCIS exception, e.g. epcisException:QueryParameterException",
                    },
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                },
            },
        ]
    }
    for path, item in doc.get("paths", {}).items():
        if not errors.in_binding(path):
            continue
        for op in item.values():
            answers = op.get("responses", {})
            if "422" in answers:
                answers.pop("422")
                answers.setdefault("400", {"description": "A query parameter or the body is badly formed"})
                if "{" in path:
                    answers.setdefault("404", {"description": "No such resource"})
            for code, spec in answers.items():
                if code.isdigit() and int(code) >= 400:
                    spec["content"] = {"application/problem+json": {"schema": problem}}
    return doc


# OpenAPI links (what a client, or a stateful fuzzer, may do next with an answer): an event just
# recorded, or the first one listed, is read, verified and proved by its id.
_EVENT_OPS = {"Event": "/events/{ref}", "Verify": "/events/{ref}/verify", "Proof": "/events/{ref}/proof"}
_EVENT_IDS = {
    ("/events", "post", "201"): "$response.body#/events/0/id",
    ("/events", "get", "200"): "$response.body#/items/0/id",
}


def _link_recorded_events(doc: dict[str, Any]) -> dict[str, Any]:
    paths = doc["paths"]
    for (path, method, status), ref in _EVENT_IDS.items():
        response = paths[API_PREFIX + path][method]["responses"][status]
        response["links"] = {
            name: {"operationId": paths[API_PREFIX + target]["get"]["operationId"], "parameters": {"ref": ref}}
            for name, target in _EVENT_OPS.items()
        }
    return doc


def app_factory() -> FastAPI:
    """For ``uvicorn --factory``: settings from the environment (CRADLETRACE_*, DATABASE_URL)."""
    return create_app(Settings())

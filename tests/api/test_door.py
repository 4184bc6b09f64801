"""One strict parser for every JSON body (depth, size, duplicate keys, numbers), on every route,
before any route, key check or pydantic model sees it; and a recursion limit no import can raise.

Over real HTTP against ``cradletrace serve --demo``: a deeply nested body used to segfault the
worker (py_ecc raised the recursion limit to 100 000 and C ``json.loads`` overflowed the stack).
The routes are taken from the server's own OpenAPI document, so a new body route is covered too.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cradletrace.api.errors import AUTH_THROTTLED
from cradletrace.api.main import API_PREFIX as P
from cradletrace.api.middleware import CSP, DOCS_CSP, HSTS, verify_csp
from cradletrace.api.ratelimit import RateLimiter
from cradletrace.config import Settings
from cradletrace.core.canonical import MAX_DEPTH
from cradletrace.devstack.nodes import free_port
from cradletrace.devstack.processes import CLI, Served, clean_env, running
from cradletrace.recursionlimit import SAFE_RECURSION_LIMIT
from cradletrace.scanner_web.pages import verify_page_hashes
from tests.api.conftest import Site
from tests.servers import serve_demo

DEPTH = 90_000  # ~180 KB: well under the body limit, far over any stack


def send(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 15
) -> tuple[int, Any, dict[str, str]]:
    """One request; the status, the body (JSON when it is) and the headers."""
    req = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw, got = r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        status, raw, got = e.code, e.read(), dict(e.headers)
    return status, decoded(raw), got


def decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("door")
    with serve_demo(cwd, cwd / "demo", anchor_interval=0) as served:
        yield served


def demo_keys(served: Served) -> dict[str, str]:
    return dict(re.findall(r"^  (operator|quality|supplier [a-z-]+) +(ct_\S+)$", served.output, re.M))


def body_routes(base: str) -> list[tuple[str, str]]:
    """Every operation the running server documents with a request body, path parameters filled in."""
    doc = send("GET", f"{base}/openapi.json")[1]
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    )


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE = {
    "deep": deep(DEPTH).encode(),
    "deep inside valid JSON": (
        '{"lat": 1, "lon": 2, "consent": true, "name": "x", "role": "operator", "x": ' + deep(DEPTH) + "}"
    ).encode(),
    "one level too deep": deep(MAX_DEPTH + 1).encode(),
}


def test_every_body_route_refuses_deep_json_and_the_server_stays_up(demo: Served) -> None:
    routes = body_routes(demo.base)
    assert ("POST", f"{P}/scans/1/location") in routes and ("POST", f"{P}/api-keys") in routes and len(routes) >= 10
    keys = demo_keys(demo)
    for method, path in routes:
        for what, body in HOSTILE.items():
            for auth in ({}, {"Authorization": f"Bearer {keys['operator']}"}):
                status, got, _ = send(method, demo.base + path, body, auth)
                # GS1's binding (/epcis) has no 422: a bad body is its 400 ValidationException problem
                gs1 = path.startswith("/epcis")
                assert status == (400 if gs1 else 422), (method, path, what, status, got, demo.output[-2000:])
                assert not gs1 or got["type"] == "epcisException:ValidationException", got
                assert got["detail"] == "invalid input" and got["field"] == "body", got
                assert "levels of nesting" in got["problems"][0]["message"], got
        assert send("GET", f"{demo.base}/healthz")[0] == 200, demo.output[-2000:]
    assert demo.proc.poll() is None, demo.output[-2000:]


def test_duplicate_keys_and_bad_numbers_refused_everywhere(demo: Served) -> None:
    op = {"Authorization": f"Bearer {demo_keys(demo)['operator']}"}
    # The role given twice used to make an operator key: last one won.
    status, got, _ = send(
        "POST",
        f"{demo.base}{P}/api-keys",
        b'{"name": "x", "role": "supplier", "role": "operator", "supplier_id": "waikato-dairy"}',
        op,
    )
    assert status == 422 and got["field"] == "body.role", got
    assert got["problems"] == [{"field": "body.role", "message": "expected each key once, got it twice"}]
    status, got, _ = send(
        "POST", f"{demo.base}{P}/scans/1/location", b'{"lat": 1, "lat": 2, "lon": 3, "consent": true}'
    )
    assert status == 422 and got["field"] == "body.lat", got
    status, got, _ = send(
        "POST", f"{demo.base}{P}/suppliers", b'{"name": "x", "role": "farm", "certifications": [], "id": NaN}', op
    )
    assert status == 422 and got["problems"][0]["message"] == "expected a finite number, got NaN", got
    status, got, _ = send("POST", f"{demo.base}{P}/scans/1/location", b'{"lat": 1,', {})
    assert status == 422 and got["field"] == "body" and "line 1 column" in got["problems"][0]["message"], got
    # Still JSON after the strict parse: the ordinary checks run as before.
    status, got, _ = send("POST", f"{demo.base}{P}/scans/1/location", b'{"lat": 1, "lon": 3, "consent": true}')
    assert status == 404, got


def test_duplicate_keys_refused_in_process(site: Site) -> None:
    """The same refusal in the in-process app the other API tests use, for a key of each route kind."""
    r = site.client.post(f"{P}/recalls", headers=site.auth("quality"), content=b'{"reason": "a", "reason": "b"}')
    assert r.status_code == 422 and r.json()["field"] == "body.reason"
    r = site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=b'[{"event": {}, "event": {}}]')
    assert r.status_code == 422 and r.json()["field"] == "body.event"


def test_recursion_limit_stays_safe_after_the_chain_libraries_load() -> None:
    code = (
        "import sys, cradletrace.api.main, web3, py_ecc.optimized_bn128, eth; "
        "from web3.providers.eth_tester import EthereumTesterProvider; print(sys.getrecursionlimit())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == SAFE_RECURSION_LIMIT == 1000


def demo_scan_paths(served: Served) -> list[str]:
    return re.findall(r"^      http://[^/]+(/01/\S+)$", served.output, re.M)


def html_pages(served: Served) -> list[str]:
    """Every GET operation documented as text/html (its path parameters filled with a real scan
    path), plus the pages outside the document: /docs and / (a 404, headers all the same)."""
    doc = send("GET", f"{served.base}/openapi.json")[1]
    scan = demo_scan_paths(served)[0]
    # the pallet's and the place's pages: a well-formed SSCC and GLN (answered 404 with the page's
    # headers where the demo holds none)
    filled = {"/01/{rest}": scan, "/00/{rest}": "/00/106141411234567897", "/414/{rest}": "/414/9421902960017"}
    pages = [
        filled.get(path, path)
        for path, ops in doc["paths"].items()
        if "text/html" in ops.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
    ]
    assert not [p for p in pages if "{" in p], pages
    return sorted({*pages, "/docs", "/", "/console", "/scan", scan, scan + "?lang=en", "/scan?code=x"})


INLINE = r"<script(?![^>]*(\bsrc=|type=\"application/json\"))|<style|\sstyle=|\son[a-z]+=|javascript:"
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_every_page_and_answer_carries_the_security_headers(demo: Served) -> None:
    pages = html_pages(demo)
    assert {"/console", "/scan", "/docs", "/verify"} <= set(pages) and any(p.startswith("/01/") for p in pages)
    # /verify is one self-contained file (it works from file://): its inline script and style, by hash
    own = {"/docs": DOCS_CSP, "/verify": verify_csp((), *verify_page_hashes())}
    for path in [*pages, "/api/v1/health", "/openapi.json", "/static/scan.js", "/api/v1/events", "/nowhere"]:
        status, body, headers = send("GET", demo.base + path)
        got = {k.lower(): v for k, v in headers.items()}
        want = {**HEADERS, "content-security-policy": own.get(path, CSP)}
        assert {k: got.get(k) for k in want} == want, (path, status)
        assert "strict-transport-security" not in got, path  # plain http, and no proxy is trusted
        if got.get("content-type", "").startswith("text/html") and path != "/verify":  # nothing inline to block
            assert not re.search(INLINE, body), (path, re.search(INLINE, body))
    assert "script-src 'self';" in CSP and "unsafe" not in CSP.split("style-src")[0] and "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in DOCS_CSP.split("style-src")[0]  # Swagger UI's scripts are files too


def from_address(
    source: str, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """One request sent from the loopback address ``source`` (127.0.0.2, ...): another client."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15, source_address=(source, 0))
    try:
        conn.request(
            method,
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        r = conn.getresponse()
        raw = r.read()
        return r.status, decoded(raw), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


@contextmanager
def demo_with(tmp: Path, **env: str) -> Iterator[Served]:
    """``serve --demo`` with these CRADLETRACE_* settings in its environment."""
    port = free_port()
    with running(
        [str(CLI), "serve", "--demo", "--data-dir", str(tmp / "demo"), "--port", str(port), "--anchor-interval", "0"],
        tmp,
        port,
        env=clean_env(**env),
    ) as served:
        yield served


WRONG = {"Authorization": "Bearer ct_000000000000_" + "A" * 43}


def test_wrong_keys_are_throttled_per_address_and_forwarded_for_is_not_believed(demo: Served) -> None:
    right = {"Authorization": f"Bearer {demo_keys(demo)['operator']}"}
    events = f"{demo.base}{P}/events?limit=1"
    allowance = Settings().auth_failures_per_minute
    for _ in range(allowance):
        assert from_address("127.0.0.2", "GET", events, headers=WRONG)[0] == 401
    status, got, headers = from_address("127.0.0.2", "GET", events, headers=WRONG)
    assert status == 429 and got["detail"] == AUTH_THROTTLED and 1 <= int(headers["retry-after"]) <= 60 // allowance + 1
    # Locked out: the right key too, and claiming to be someone else through a header changes nothing.
    assert from_address("127.0.0.2", "GET", events, headers=right)[0] == 429
    assert from_address("127.0.0.2", "GET", events, headers={**right, "X-Forwarded-For": "10.1.2.3"})[0] == 429
    # Another address is not affected.
    assert from_address("127.0.0.3", "GET", events, headers=right)[0] == 200
    # Public routes need no key and are not locked out.
    assert from_address("127.0.0.2", "GET", f"{demo.base}{P}/health")[0] == 200


def test_verify_bundle_is_limited_per_address(demo: Served) -> None:
    url = f"{demo.base}{P}/verify-bundle"
    limit = Settings().verify_rate_per_minute
    for _ in range(limit):
        assert from_address("127.0.0.4", "POST", url, b"{}")[0] == 422  # not a bundle, but checked
    status, got, headers = from_address("127.0.0.4", "POST", url, b"{}")
    assert status == 429 and int(headers["retry-after"]) >= 1, got
    assert from_address("127.0.0.5", "POST", url, b"{}")[0] == 422


def test_forwarded_headers_only_from_listed_proxies(tmp_path: Path) -> None:
    """With 127.0.0.1 listed as the proxy, its X-Forwarded-For names the client (each counted on
    its own) and X-Forwarded-Proto: https brings HSTS; from any other address both are ignored."""
    with demo_with(
        tmp_path, CRADLETRACE_TRUSTED_PROXIES="127.0.0.1", CRADLETRACE_AUTH_FAILURES_PER_MINUTE="2"
    ) as proxy:
        right = {"Authorization": f"Bearer {demo_keys(proxy)['operator']}"}
        events = f"{proxy.base}{P}/events?limit=1"
        for _ in range(2):
            assert (
                from_address("127.0.0.1", "GET", events, headers={**WRONG, "X-Forwarded-For": "203.0.113.7"})[0] == 401
            )
        assert from_address("127.0.0.1", "GET", events, headers={**right, "X-Forwarded-For": "203.0.113.7"})[0] == 429
        assert from_address("127.0.0.1", "GET", events, headers={**right, "X-Forwarded-For": "203.0.113.8"})[0] == 200
        # Not a listed proxy: its header is ignored, so its own address is what counts.
        for _ in range(2):
            assert (
                from_address("127.0.0.2", "GET", events, headers={**WRONG, "X-Forwarded-For": "203.0.113.9"})[0] == 401
            )
        assert from_address("127.0.0.2", "GET", events, headers={**right, "X-Forwarded-For": "198.51.100.1"})[0] == 429
        hsts = from_address("127.0.0.1", "GET", f"{proxy.base}/console", headers={"X-Forwarded-Proto": "https"})[2]
        assert hsts["strict-transport-security"] == HSTS
        assert (
            "strict-transport-security"
            not in from_address("127.0.0.2", "GET", f"{proxy.base}/console", headers={"X-Forwarded-Proto": "https"})[2]
        )


def access_lines(served: Served, start: int) -> list[str]:
    """The access log lines the server wrote after ``start`` lines of output."""
    time.sleep(0.3)  # the reader thread is a moment behind the answers
    return [line for line in served.lines[start:] if re.search(r'"(GET|POST) ', line)]


def test_the_access_log_names_no_client_and_no_serial(demo: Served) -> None:
    scan = demo_scan_paths(demo)[0]
    serial = scan.rsplit("/21/", 1)[1]
    start = len(demo.lines)
    _, page, _ = send("GET", f"{demo.base}{scan}?format=json")
    scan_id = re.findall(r'"scan_id": "([^"]+)"', json.dumps(page))[0]
    send("POST", f"{demo.base}{P}/scans/{scan_id}/location", b'{"lat": -36.9, "lon": 174.8, "consent": true}')
    send("GET", f"{demo.base}/scan?code={urllib.parse.quote(demo.base + scan, safe='')}")
    lines = access_lines(demo, start)
    assert len(lines) >= 3, demo.lines[start:]
    log = "".join(lines)
    assert serial not in log and scan_id not in log and "127.0.0.1" not in log, log
    assert f'"GET {scan.rsplit("/21/", 1)[0]}/21/<serial>?format=json' in log, log
    assert "/scans/<scan>/location" in log and "/scan?code=<code>" in log, log


def test_the_operator_may_log_clients(tmp_path: Path) -> None:
    with demo_with(tmp_path, CRADLETRACE_LOG_CLIENTS="true") as served:
        scan = demo_scan_paths(served)[0]
        start = len(served.lines)
        send("GET", served.base + scan)
        log = "".join(access_lines(served, start))
        assert scan in log and "127.0.0.1:" in log, log


def test_the_throttle_counts_failures_and_peeks_without_spending() -> None:
    now = [0.0]
    throttle = RateLimiter(6, clock=lambda: now[0])  # 6 failures at once, then one per 10 s
    assert [throttle.wait("a") for _ in range(20)] == [0.0] * 20  # looking spends nothing
    assert [throttle.check("a") for _ in range(6)] == [0.0] * 6
    assert throttle.wait("a") == pytest.approx(10.0) and throttle.wait("b") == 0.0
    now[0] = 10.0
    assert throttle.wait("a") == 0.0 and throttle.check("a") == 0.0 and throttle.wait("a") == pytest.approx(10.0)

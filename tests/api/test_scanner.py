"""The public pages around scanning: /scan (camera page and typed fallback) and offline /docs.

No store is opened: these pages need none, so the app is used without its lifespan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cradletrace.api.main import create_app
from cradletrace.api.routes.scanner import MAX_TYPED
from cradletrace.config import Settings

GTIN = "09501101530003"
SERIAL = "7K3MZ9QX1VWD4HPA"
PATH = f"/01/{GTIN}/10/LOT-7/21/{SERIAL}"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=Path(tmp_path_factory.mktemp("pages")) / "data"))
    yield TestClient(app, raise_server_exceptions=True, follow_redirects=False)


def test_scanner_page_loads_the_vendored_decoder(client: TestClient) -> None:
    r = client.get("/scan")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "扫码查验" in r.text
    assert '<script src="/static/vendor/jsqr/jsQR.js" defer></script>' in r.text
    assert "https://" not in r.text.replace('placeholder="https://', "")  # nothing from another site
    js = client.get("/static/vendor/jsqr/jsQR.js")
    assert js.status_code == 200 and "jsQR" in js.text
    assert client.get("/static/scanner.js").status_code == 200
    en = client.get("/scan?lang=en")
    assert '<html lang="en">' in en.text and "Scan a pack" in en.text


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ({"code": f"https://id.cradletrace.example{PATH}"}, PATH),
        ({"code": f"(01) {GTIN}\n(10) LOT-7\n(21) {SERIAL.lower()}"}, PATH),
        ({"code": f"https://elsewhere.example{PATH}?x=1", "lang": "en"}, PATH + "?lang=en"),
    ],
)
def test_typed_code_redirects_to_its_scan_page(client: TestClient, query: dict[str, str], location: str) -> None:
    r = client.get("/scan", params=query)
    assert r.status_code == 303 and r.headers["location"] == location


@pytest.mark.parametrize(
    ("code", "lang", "says"),
    [
        ("https://example.com/promo", None, "这不是 cradletrace 溯源码"),
        ("hello", "en", "Not a cradletrace code"),
        ("x" * 5000, None, "这不是 cradletrace 溯源码"),
    ],
)
def test_other_text_shows_the_form_again(client: TestClient, code: str, lang: str | None, says: str) -> None:
    r = client.get("/scan", params={"code": code, **({"lang": lang} if lang else {})})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert f'<div class="banner alert" id="not-ours">{says}</div>' in r.text
    assert f">{code[:MAX_TYPED]}</textarea>" in r.text  # what was typed, to correct (a long text cut short)


def test_typed_text_is_escaped(client: TestClient) -> None:
    r = client.get("/scan", params={"code": "</textarea><script>alert(1)</script>"})
    assert "<script>alert(1)" not in r.text and "&lt;/textarea&gt;&lt;script&gt;" in r.text


def test_docs_load_swagger_ui_from_this_server(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "/openapi.json" in r.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in r.text
    assert "/static/vendor/swagger-ui/swagger-ui.css" in r.text
    assert "http://" not in r.text and "https://" not in r.text, "no CDN, no remote favicon"
    # Started from a file (the CSP allows no inline script); Swagger UI would otherwise call validator.swagger.io.
    assert '<script src="/static/swagger-init.js"' in r.text and "<script>" not in r.text
    assert "validatorUrl: null" in client.get("/static/swagger-init.js").text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert client.get(f"/static/vendor/swagger-ui/{asset}").status_code == 200, asset
    assert client.get("/redoc").status_code == 404
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_scanner_page_is_documented(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/scan"]["get"]
    answers = op["responses"]
    assert set(answers) == {"200", "303", "400", "413", "422", "500", "503"}
    assert "text/html" in answers["200"]["content"] and "text/html" in answers["400"]["content"]
    assert "Location" in answers["303"]["headers"]
    for code in ("413", "422", "500", "503"):
        assert answers[code]["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    assert {p["name"] for p in op["parameters"]} == {"lang", "code"}

"""GET /api/v1/test-standards: public, the packaged templates as served, cacheable with an ETag."""

from __future__ import annotations

from typing import get_args

from cradletrace.api.main import API_PREFIX
from cradletrace.api.routes.teststandards import CitationOut, StandardTemplatesOut
from cradletrace.core.teststandards import RELIABILITY, packaged_bytes
from tests.api.conftest import Site

URL = f"{API_PREFIX}/test-standards"


def test_served_without_a_key_as_the_packaged_file(site: Site) -> None:
    r = site.client.get(URL)
    assert r.status_code == 200, r.text
    assert r.content == packaged_bytes()
    assert r.headers["content-type"].startswith("application/json")
    doc = StandardTemplatesOut.model_validate_json(r.content)  # the documented schema fits the data
    ids = {t.id for t in doc.templates}
    assert {"cn-gb10765-2021-infant-formula", "cn-gb10767-2021-older-infant-young-children-formula"} <= ids
    assert "codex-cxs72-infant-formula" in ids
    lead = next(a for a in doc.templates[0].analytes if a.name == "lead")
    assert (lead.unit, lead.limit, lead.citation.edition) == ("mg/kg", 0.08, "2022")
    assert all(t.missing for t in doc.templates)


def test_the_documented_reliabilities_are_the_cores() -> None:
    """The OpenAPI schema's ``reliability`` values are exactly those the loader accepts."""
    field = CitationOut.model_fields["reliability"]
    assert get_args(field.annotation) == RELIABILITY


def test_etag_answers_304_and_a_stale_tag_gets_the_body(site: Site) -> None:
    first = site.client.get(URL)
    etag = first.headers["etag"]
    assert etag.startswith('"') and "public" in first.headers["cache-control"]
    again = site.client.get(URL, headers={"If-None-Match": f'"stale", {etag}'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    stale = site.client.get(URL, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_documented_in_openapi(site: Site) -> None:
    op = site.client.get("/openapi.json").json()["paths"][URL]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/StandardTemplatesOut"}
    assert "304" in op["responses"] and not op.get("security")

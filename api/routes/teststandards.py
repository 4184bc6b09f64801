"""GET /test-standards: the test-report templates per product standard, public and cacheable.

The body is the packaged data file itself (data/test-standards.json), checked by the core loader
before it is first served; the portal and anyone else read the same bytes. It changes only with
a release, so it carries a strong ETag and answers 304 to a matching If-None-Match.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cradletrace.api.errors import responses
from cradletrace.core.teststandards import packaged_bytes, packaged_templates

router = APIRouter(tags=["test-standards"])


class CitationOut(BaseModel):
    standard: str
    edition: str
    clause: str = Field(description="the clause or table the value was read from, as precisely as the source showed")
    source: str = Field(description="where the text was read: URL or repository path")
    quote: str = Field(description="the line read, verbatim")
    reliability: Literal["standard", "authority", "secondary"] = Field(
        description="what the source is: the standard's own text (or an extraction of its table), a government "
        "or standards body's page (or a verbatim reprint), or a secondary (news, trade) report"
    )


class PlanOut(BaseModel):
    """A microbiological sampling plan; ``M`` is null for a two-class plan."""

    model_config = ConfigDict(populate_by_name=True)
    n: int
    c: int
    m: float
    big_m: float | None = Field(alias="M")


class AnalyteOut(BaseModel):
    name: str
    category: str
    unit: str
    limit: float | None = Field(default=None, description="a maximum; absent when the analyte has a plan")
    plan: PlanOut | None = Field(default=None, description="n, c, m, M; absent when the analyte has a limit")
    method: str | None = Field(description="the test method the standard names; null when no source read names one")
    citation: CitationOut


class MissingOut(BaseModel):
    analyte: str
    standard: str
    looked_for: str = Field(description="what was looked for and why it is not in the template")


class StandardTemplateOut(BaseModel):
    id: str
    standard: str
    edition: str
    title: str
    product_category: str
    market: str
    analytes: list[AnalyteOut]
    missing: list[MissingOut]


class StandardTemplatesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    schema_id: str = Field(alias="schema")
    version: str
    note: str
    units: list[str]
    templates: list[StandardTemplateOut]
    plan_definitions: dict[str, str]


@lru_cache(maxsize=1)
def _etag() -> str:
    packaged_templates()  # the data is checked once before its first answer: a broken file fails loudly here
    return '"' + hashlib.sha256(packaged_bytes()).hexdigest()[:32] + '"'


CACHE = {"Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}


@router.get(
    "/test-standards",
    response_model=StandardTemplatesOut,
    responses={304: {"description": "Not modified: the If-None-Match ETag is current"}, **responses()},
)
def test_standards(request: Request) -> Response:
    """Public. The test-standard templates: per standard and edition, the product category, its analytes
    with unit, limit or sampling plan (n, c, m, M) and method, each value with its citation, and the
    values not yet confirmed from a readable source under ``missing``."""
    etag = _etag()
    headers = {**CACHE, "ETag": etag}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(packaged_bytes(), media_type="application/json", headers=headers)

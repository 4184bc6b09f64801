"""The portal's document store (/supplier/documents): a lab's PDF certificate or a shipment's papers,
kept by their SHA-256.

Only a session whose role records test reports or shipments may upload (session + CSRF, like every
portal write); the body must be a PDF
(magic bytes) within the size limit, and the SHA-256 the browser will sign must be the bytes' own.
The public read route serves the bytes back as they were, as a PDF; the same file twice is one copy."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace import apikeys, documents
from cradletrace.api.routes.portal import COOKIE, DOCUMENT_ROLES
from cradletrace.core.events import ROLES_FOR_KIND
from cradletrace.errors import InvalidInputError
from cradletrace.portal import csrf_token
from cradletrace.workspace import Workspace
from tests.api.conftest import Site

ORIGIN = {"Origin": "http://testserver"}
LAB = "canterbury-lab"


def small_pdf(text: str = "certificate") -> bytes:
    """A minimal one-page PDF (enough for a viewer; the store checks only its magic bytes)."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n% "
        + text.encode()
        + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def session_of(site: Site, supplier: str) -> tuple[TestClient, str]:
    with Workspace(site.settings) as ws, ws.session() as s:
        _, secret = apikeys.create_key(s, f"{supplier}-docs", "supplier", supplier)
        s.commit()
    c = TestClient(site.client.app, raise_server_exceptions=False, follow_redirects=False)
    r = c.post("/supplier/signin", data={"key": secret}, headers=ORIGIN)
    assert r.status_code == 303, r.text
    return c, csrf_token(c.cookies[COOKIE])


def upload(c: TestClient, token: str, body: bytes, sha: str | None = None) -> Any:
    sha = hashlib.sha256(body).hexdigest() if sha is None else sha
    return c.post(
        f"/supplier/documents?sha256={sha}",
        content=body,
        headers={**ORIGIN, "X-CSRF-Token": token, "Content-Type": "application/pdf"},
    )


def test_a_lab_uploads_a_pdf_and_anyone_reads_it_back(site: Site) -> None:
    c, token = session_of(site, LAB)
    pdf = small_pdf("served back")
    sha = hashlib.sha256(pdf).hexdigest()
    r = upload(c, token, pdf)
    assert r.status_code == 201, r.text
    assert r.json() == {"sha256": sha, "uri": f"https://testserver/supplier/documents/{sha}"}
    again = upload(c, token, pdf)
    assert again.status_code == 201
    assert [p.name for p in documents.folder(site.settings.data_dir).iterdir()].count(f"{sha}.pdf") == 1
    public = TestClient(site.client.app).get(f"/supplier/documents/{sha}")
    assert public.status_code == 200 and public.content == pdf
    assert public.headers["content-type"] == "application/pdf"
    assert public.headers["content-disposition"] == f'inline; filename="certificate-{sha[:16]}.pdf"'
    assert TestClient(site.client.app).get(f"/supplier/documents/{'0' * 64}").status_code == 404
    assert TestClient(site.client.app).get("/supplier/documents/not-a-hash").status_code == 422


def test_not_a_pdf_a_wrong_hash_and_too_large_are_refused(site: Site) -> None:
    c, token = session_of(site, LAB)
    r = upload(c, token, b"<html>not a pdf</html>")
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "document"
    assert "expected a PDF" in r.json()["problems"][0]["message"]
    r = upload(c, token, small_pdf(), "a" * 64)
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "sha256"
    big = small_pdf() + b"0" * site.settings.portal_max_document
    assert upload(c, token, big).status_code == 413
    with pytest.raises(InvalidInputError) as refused:
        documents.store_pdf(Path(site.settings.data_dir), small_pdf(), None, 64)
    assert refused.value.field == "document" and "at most 64 bytes" in str(refused.value)
    stored = documents.folder(site.settings.data_dir)
    assert not stored.exists() or all(
        hashlib.sha256(p.read_bytes()).hexdigest() + ".pdf" == p.name for p in stored.iterdir()
    )


def test_only_a_session_that_records_documents_with_its_csrf_token_uploads(site: Site) -> None:
    # A plant and a farm ship (their customs declarations, health certificates...), a lab reports.
    assert set(ROLES_FOR_KIND["shipment"]) | set(ROLES_FOR_KIND["test_report"]) == DOCUMENT_ROLES
    for shipper in ("alps-nutrition", "waikato-dairy"):
        c, token = session_of(site, shipper)
        assert upload(c, token, small_pdf(shipper)).status_code == 201
        assert upload(c, "0" * 64, small_pdf(f"{shipper} no token")).status_code == 403
    lab, lab_token = session_of(site, LAB)
    assert upload(lab, "0" * 64, small_pdf("no token")).status_code == 403
    anonymous = TestClient(site.client.app, raise_server_exceptions=False)
    assert upload(anonymous, lab_token, small_pdf("anonymous")).status_code == 401
    assert upload(lab, lab_token, small_pdf("lab")).status_code == 201


def test_the_form_is_for_labs_only(site: Site) -> None:
    lab, _ = session_of(site, LAB)
    page = lab.get("/supplier/test-report?lang=en")
    assert page.status_code == 200 and 'id="test-report-form"' in page.text and 'id="nav-test-report"' in page.text
    zh = lab.get("/supplier/test-report?lang=zh")
    assert zh.status_code == 200 and "登记检测报告" in zh.text and 'id="limits-table"' in zh.text
    plant, _ = session_of(site, "alps-nutrition")
    refused = plant.get("/supplier/test-report?lang=zh")
    assert refused.status_code == 403 and 'id="test-report-form"' not in refused.text
    assert 'id="test-report-not-allowed"' in refused.text

"""The phone checks a corrected record and its correction like any other, in real headless
Chromium: both verified (bytes, signature, proof, root on chain) and the correction's shown facts
(its reason in the page's words, the time, the digests it links) re-derived from its signed bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cradletrace.config import Settings
from cradletrace.scanner_web.pages import strings
from tests.api.test_scan import Packs, packed_site, record, scan_json
from tests.api.test_scan_corrections import correction
from tests.test_phone_check import RECORDS, open_scan, results

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def corrected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("corrected") / "data")
    with packed_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as p:
        failing = next(t for t in scan_json(p.client, p.cans[0])["test_reports"] if t["verdict"] == "fail")
        record(p.settings, [correction("canterbury-lab", failing["digest"], "did_not_occur")])
        assert p.client.post("/api/v1/anchor", headers=p.site.auth("operator")).json()["events"] == 1
        yield p


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_phone_verifies_the_corrected_record_and_its_correction(browser: Any, corrected: Packs, lang: str) -> None:
    page, pages, _ = open_scan(browser, corrected, lang=lang)
    try:
        assert results(page) == [("VALID", "verified", "")] * (RECORDS + 1)
        fix = page.locator(".record.correction")
        assert fix.locator(".badge").get_attribute("data-phone-check") == "verified"
        assert fix.locator('[data-as="error_reason"]').inner_text() == strings()[lang]["error_reason_did_not_occur"]
        assert page.locator('.test-report[data-corrected="void"] .corrected-note').count() == 1
        assert page.locator("[data-phone-differs]").count() == 0
    finally:
        pages.__exit__(None, None, None)

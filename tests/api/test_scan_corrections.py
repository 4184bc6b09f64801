"""The scan page shows the corrected state (trace/corrections.py), on SQLite and PostgreSQL: a
record its recorder declared wrong stays shown, marked, beside its correction, each linking the
other; one declared never to have happened no longer counts (no failed-test or excursion alarm,
no verdict in the JSON); the correction is verified like every record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cradletrace import recording
from cradletrace.scanner_web.pages import strings
from tests.api.conftest import A, B, signed
from tests.api.test_scan import Packs, any_packs, record, scan_json, scan_page, sql  # noqa: F401  (fixture)

EN, ZH = strings()["en"], strings()["zh"]


def correction(supplier: str, corrects: str, reason: str, corrective: list[str] | None = None) -> dict[str, Any]:
    return {
        "kind": "correction",
        "supplier": supplier,
        "data": {
            "corrects": corrects,
            "declaration_time": datetime.now(UTC).isoformat(),
            "reason": reason,
            "corrective": corrective or [],
        },
    }


def declare_both(packs: Packs) -> tuple[dict[str, Any], dict[str, Any], list[recording.RecordedEvent]]:
    """The lab declares its failing report never happened, the carrier its cold-chain record (an
    excursion) the same; returns the two records as the scan showed them, and the corrections."""
    body = scan_json(packs.client, packs.cans[0])
    failing = next(t for t in body["test_reports"] if t["verdict"] == "fail")
    (cold,) = body["cold_chain"]
    assert cold["summary"]["verdict"] == "excursion"
    fixes = record(
        packs.settings,
        [
            correction("canterbury-lab", failing["digest"], "did_not_occur"),
            correction("pacific-cold", cold["digest"], "did_not_occur"),
        ],
    )
    return failing, cold, fixes


def test_a_record_declared_never_to_have_happened_no_longer_counts(any_packs: Packs) -> None:
    c, can = any_packs.client, any_packs.cans[0]
    assert EN["failed_test_warning"] in scan_page(c, can, lang="en")
    failing, cold, fixes = declare_both(any_packs)

    body = scan_json(c, can)
    shown = next(t for t in body["test_reports"] if t["digest"] == failing["digest"])
    assert shown["data"] == failing["data"] and shown["verdict"] is None  # still shown, no verdict
    assert shown["corrected_by"] == {
        "digest": fixes[0].digest,
        "reason": "did_not_occur",
        "declaration_time": shown["corrected_by"]["declaration_time"],
        "corrective": [],
        "counts": False,
    }
    assert body["cold_chain"][0]["corrected_by"]["digest"] == fixes[1].digest
    assert [(r["kind"], r["data"]["corrects"], r["integrity"]["status"]) for r in body["corrections"]] == [
        ("correction", failing["digest"], "PENDING"),
        ("correction", cold["digest"], "PENDING"),
    ]
    assert body["all_verified"] is False  # the corrections are records too: not anchored yet
    assert c.post("/api/v1/anchor", headers=any_packs.site.auth("operator")).json()["events"] == 2
    assert scan_json(c, can)["all_verified"] is True

    page = scan_page(c, can, lang="en")
    assert EN["failed_test_warning"] not in page and EN["excursion_warning"] not in page
    assert page.count(EN["void_note"]) == 2 and page.count('class="record correction"') == 2
    assert page.count('data-corrected="void"') == 2
    for fix, original in zip(fixes, (failing, cold)):  # each links the other
        assert f'href="#correction-{fix.digest[:16]}"' in page and f'id="correction-{fix.digest[:16]}"' in page
        assert f'href="#record-{original["digest"][:16]}"' in page and f'id="record-{original["digest"][:16]}"' in page
    zh = scan_page(c, can)
    assert zh.count(ZH["void_note"]) == 2 and ZH["error_reason_did_not_occur"] in zh
    [(body_now,)] = sql(any_packs.settings, "SELECT body FROM event WHERE digest = :d", d=failing["digest"])
    assert '"value":1' in body_now  # the original is kept as signed


def test_a_record_corrected_with_incorrect_data_still_counts_and_names_its_replacement(any_packs: Packs) -> None:
    c, can = any_packs.client, any_packs.cans[0]
    body = scan_json(c, can)
    passing = next(t for t in body["test_reports"] if t["verdict"] == "pass")
    retest = {"kind": "test_report", "supplier": "canterbury-lab", "data": dict(passing["data"])}
    retest["data"]["document"] = {**passing["data"]["document"], "uri": "https://lab.example/reports/retest.pdf"}
    (fresh,) = record(any_packs.settings, [retest])
    record(any_packs.settings, [correction("canterbury-lab", passing["digest"], "incorrect_data", [fresh.digest])])
    shown = next(t for t in scan_json(c, can)["test_reports"] if t["digest"] == passing["digest"])
    assert shown["verdict"] == "pass" and shown["corrected_by"]["counts"] is True
    assert shown["corrected_by"]["corrective"] == [fresh.digest]
    page = scan_page(c, can, lang="en")
    assert EN["corrected_note"] in page and f'href="#record-{fresh.digest[:16]}"' in page
    assert EN["error_reason_incorrect_data"] in page


def test_post_events_records_a_correction_once_and_only_by_the_recorder(any_packs: Packs) -> None:
    c, site = any_packs.client, any_packs.site
    batch = scan_json(c, any_packs.cans[0])["batch"]  # recorded by the plant (supplier_a)
    fix = correction(A, batch["digest"], "incorrect_data")
    r = c.post("/api/v1/events", json=signed(any_packs.settings, [fix]), headers=site.auth("supplier_a"))
    assert r.status_code == 201 and r.json()["events"][0]["kind"] == "correction", r.text
    again = correction(A, batch["digest"], "did_not_occur")
    r = c.post("/api/v1/events", json=signed(any_packs.settings, [again]), headers=site.auth("supplier_a"))
    assert r.status_code == 409 and r.json()["field"] == "events[0].data.corrects", r.text
    other = correction(B, batch["digest"], "did_not_occur")
    r = c.post("/api/v1/events", json=signed(any_packs.settings, [other]), headers=site.auth("supplier_b"))
    assert r.status_code == 403 and r.json()["field"] == "events[0].data.corrects", r.text
    assert "expected its recorder" in r.json()["detail"]
    shown = scan_json(c, any_packs.cans[0])
    assert shown["batch"]["corrected_by"]["reason"] == "incorrect_data" and len(shown["corrections"]) == 1
    assert 'data-corrected="corrected"' in scan_page(c, any_packs.cans[0], lang="en")

"""EPCIS over HTTP: capture signed by the supplier (all or nothing, 409 for a duplicate), export."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cradletrace.api.errors import DUPLICATE_EPCIS as DUPLICATE
from cradletrace.api.errors import INVALID_EPCIS as INVALID
from cradletrace.cli import app as cli_app
from cradletrace.config import Settings
from cradletrace.core.events import MAX_READINGS
from cradletrace.demo import story
from cradletrace.epcis import validation
from cradletrace.epcis.capture import capture_body
from cradletrace.workspace import Workspace
from tests.api.conftest import B, Site, open_site, signed

P = "/api/v1/epcis"
PROFILE = Path(__file__).parent.parent / "vectors" / "epcis" / "profile"


def body(settings: Settings, name: str, supplier: str, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the supplier's own tooling sends: the document, its key id, one signature per mapped event."""
    text = json.dumps(doc) if doc is not None else (PROFILE / f"{name}.jsonld").read_bytes()
    with Workspace(settings) as ws, ws.session() as s:
        return capture_body(s, settings.keys_dir, ws.limits, text, supplier)


def test_capture_then_the_same_events_again_is_409(database_url: str | None, tmp_path: Path) -> None:
    with open_site(Settings(data_dir=tmp_path / "site", database_url=database_url)) as site:
        sent = body(site.settings, "farm", B)
        r = site.client.post(P, headers=site.auth("supplier_b"), json=sent)
        assert r.status_code == 201, r.text
        got = r.json()
        assert got["count"] == 2 and [e["kind"] for e in got["events"]] == ["batch", "batch"]
        assert [e["pointer"] for e in got["events"]] == ["/epcisBody/eventList/0", "/epcisBody/eventList/1"]
        assert all(e["hash"].startswith("ni:///sha-256;") for e in got["events"])
        assert got["events"][0]["epcis_id"] == "urn:uuid:6f3c1d5e-2a4b-4c8d-9e0f-112233445566"
        before = site.event_count()
        again = site.client.post(P, headers=site.auth("supplier_b"), json=sent)
        assert again.status_code == 409
        assert again.json()["detail"] == DUPLICATE
        assert [p["field"] for p in again.json()["problems"]] == ["/epcisBody/eventList/0", "/epcisBody/eventList/1"]
        assert site.event_count() == before
        lot = site.client.get(f"{P}/lots/RM-E1", headers=site.auth("quality"))
        assert lot.status_code == 200 and lot.headers["content-type"].startswith("application/ld+json")
        assert validation.validate(lot.json()) == []
        assert [e["eventID"] for e in lot.json()["epcisBody"]["eventList"]] == [
            "urn:uuid:6f3c1d5e-2a4b-4c8d-9e0f-112233445566"
        ]
        assert lot.json()["epcisBody"]["eventList"][0]["ct:eventHash"] == got["events"][0]["hash"]


def test_invalid_document_is_422_with_pointers_and_stores_nothing(site: Site) -> None:
    doc = json.loads((PROFILE / "farm.jsonld").read_text())
    sent = body(site.settings, "farm", B, doc)
    sent["document"]["epcisBody"]["eventList"][1]["bizStep"] = "https://ref.gs1.org/cbv/BizStep-milking"
    before = site.event_count()
    r = site.client.post(P, headers=site.auth("supplier_b"), json=sent)
    assert r.status_code == 422
    assert r.json()["detail"] == INVALID
    assert r.json()["field"] == "/epcisBody/eventList/1/bizStep"
    assert "expected a CBV 2.0 business step" in r.json()["problems"][0]["message"]
    assert site.event_count() == before


def test_a_signature_must_be_of_the_mapped_event(site: Site) -> None:
    doc = json.loads((PROFILE / "farm.jsonld").read_text())
    for i, ev in enumerate(doc["epcisBody"]["eventList"]):  # lots this module has not seen
        ev["quantityList"][0]["epcClass"] = f"https://id.gs1.org/01/94219029600019/10/RM-S{i}"
    sent = body(site.settings, "farm", B, doc)
    sent["signatures"] = sent["signatures"][::-1]
    r = site.client.post(P, headers=site.auth("supplier_b"), json=sent)
    assert r.status_code == 422 and r.json()["detail"] == INVALID
    assert [p["field"] for p in r.json()["problems"]] == ["/epcisBody/eventList/0", "/epcisBody/eventList/1"]
    assert all("signature" in p["message"] and "does not verify" in p["message"] for p in r.json()["problems"])
    sent["signatures"] = sent["signatures"][:1]
    short = site.client.post(P, headers=site.auth("supplier_b"), json=sent)
    assert short.status_code == 422 and short.json()["field"] == "/signatures"


def test_a_supplier_key_captures_only_as_its_own_supplier(site: Site) -> None:
    doc = json.loads((PROFILE / "farm.jsonld").read_text())
    for i, ev in enumerate(doc["epcisBody"]["eventList"]):
        ev["quantityList"][0]["epcClass"] = f"https://id.gs1.org/01/94219029600019/10/RM-X{i}"
    sent = body(site.settings, "farm", B, doc)  # signed by the farm B ...
    before = site.event_count()
    r = site.client.post(P, headers=site.auth("supplier_a"), json=sent)  # ... sent with the plant A's key
    assert r.status_code == 403 and r.json()["detail"].startswith("not allowed: /epcisBody/eventList/0: key ")
    assert site.event_count() == before


def test_body_shape_is_checked(site: Site) -> None:
    r = site.client.post(P, headers=site.auth("supplier_a"), content=b'{"document": [], "signatures": "x", "extra": 1}')
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["problems"]] == [None, "/document", "/key", "/signatures"]


def test_export_lot_and_recall_over_http(site: Site) -> None:
    q = site.auth("quality")
    r = site.client.get(f"{P}/lots/IF-0001", headers=q)
    assert r.status_code == 200
    doc = r.json()
    assert validation.validate(doc) == []
    steps = [(e.get("bizStep"), e.get("disposition")) for e in doc["epcisBody"]["eventList"]]
    assert ("inspecting", "non_conformant") in steps and ("shipping", "in_transit") in steps
    assert site.client.get(f"{P}/lots/NO-SUCH", headers=q).status_code == 404
    gtin = next(e for e in doc["epcisBody"]["eventList"] if e["type"] == "TransformationEvent")["outputQuantityList"][
        0
    ]["epcClass"].split("/01/")[1][:14]
    assert (
        site.client.get(f"{P}/lots/IF-0001", headers=q, params={"gtin": gtin}).json()["epcisBody"] == doc["epcisBody"]
    )
    made = site.client.post(
        "/api/v1/recalls", headers=q, json={"reason": "EPCIS export", "severity": "II", "lots": [f"{gtin}/IF-0001"]}
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    scope = site.client.get(f"{P}/recalls/{rid}", headers=q)
    assert scope.status_code == 200 and validation.validate(scope.json()) == []
    assert any(e.get("disposition") == "recalled" for e in scope.json()["epcisBody"]["eventList"])
    assert site.client.get(f"{P}/recalls/999999", headers=q).status_code == 404


def test_sensor_reports_over_the_cap_are_422_before_any_validation(site: Site) -> None:
    doc = json.loads((PROFILE / "farm.jsonld").read_text())
    report = {"type": "Temperature", "time": "2026-11-05T05:00:00Z", "value": 4, "uom": "CEL"}
    half = MAX_READINGS // 2 + 1  # the cap counts every sensorElement of the event together
    doc["epcisBody"]["eventList"][1]["sensorElementList"] = [{"sensorReport": [report] * half}] * 2
    before = site.event_count()
    r = site.client.post(
        P, headers=site.auth("supplier_b"), json={"document": doc, "key": "0" * 16, "signatures": ["x", "x"]}
    )
    assert r.status_code == 422 and r.json()["detail"] == INVALID
    assert r.json()["problems"] == [
        {
            "field": "/epcisBody/eventList/1/sensorElementList",
            "message": f"expected at most {MAX_READINGS} sensor reports (sensorReport) per event, got {2 * half}",
        }
    ]
    assert site.event_count() == before


def test_a_lot_code_with_a_slash_works_in_every_lot_taking_route_and_the_cli(
    database_url: str | None, tmp_path: Path
) -> None:
    """The README's lot code IF/2 (a '/' is valid in GS1 AI 10): as it is or as %2F in the path."""
    with open_site(Settings(data_dir=tmp_path / "site", database_url=database_url)) as site:
        batch = copy.deepcopy(
            next(e for e in story(datetime.now(UTC)) if e["kind"] == "batch" and e["data"]["lot"] == "IF-0001")
        )  # type: ignore[index]
        batch["data"]["lot"] = "IF/2"  # type: ignore[index]
        gtin = batch["data"]["product"]["gtin"]  # type: ignore[index]
        made = site.client.post("/api/v1/events", headers=site.auth("supplier_a"), json=signed(site.settings, [batch]))
        assert made.status_code == 201, made.text
        q = site.auth("quality")
        for path, params in (
            (f"{P}/lots/IF/2", {}),
            (f"{P}/lots/IF%2F2", {}),
            (f"{P}/lots/IF/2", {"gtin": gtin}),
            (f"{P}/lots/IF%2F2", {"gtin": gtin}),
            (f"{P}/lots/{gtin}/IF/2", {}),
        ):
            r = site.client.get(path, params=params, headers=q)
            assert r.status_code == 200, (path, r.text)
            assert [e["ilmd"]["cbvmda:lotNumber"] for e in r.json()["epcisBody"]["eventList"]] == ["IF/2"], path
        assert site.client.get(f"{P}/lots/IF-0001", headers=q).status_code == 200  # the old form, for lots without '/'
        assert site.client.get(f"{P}/lots/IF/3", headers=q).status_code == 404
        for direction in ("forward", "backward"):
            r = site.client.get(f"/api/v1/trace/{direction}", params={"lot": f"{gtin}/IF/2"}, headers=q)
            assert r.status_code == 200 and r.json()["start"]["lots"] == [{"gtin": gtin, "lot": "IF/2"}], r.text
        recall = site.client.post(
            "/api/v1/recalls", headers=q, json={"reason": "slash", "severity": "II", "lots": [f"{gtin}/IF/2"]}
        )
        assert recall.status_code == 201, recall.text
        scope = site.client.get(f"{P}/recalls/{recall.json()['id']}", headers=q).json()["epcisBody"]["eventList"]
        assert any(e.get("disposition") == "recalled" for e in scope)
        where = ["--data-dir", str(site.settings.data_dir)] + (["--database-url", database_url] if database_url else [])
        for lot in ("IF/2", f"{gtin}/IF/2"):
            out = CliRunner().invoke(cli_app, ["epcis", "export", lot, *where])
            assert out.exit_code == 0, out.output
            assert json.loads(out.stdout)["epcisBody"]["eventList"][0]["ilmd"]["cbvmda:lotNumber"] == "IF/2"
        back = CliRunner().invoke(cli_app, ["trace", "backward", "--lot", f"{gtin}/IF/2", "--json", *where])
        assert back.exit_code == 0 and json.loads(back.stdout)["start"]["lots"] == [{"gtin": gtin, "lot": "IF/2"}], (
            back.output
        )


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        (None, "application/ld+json"),
        ("application/ld+json", "application/ld+json"),
        ("application/json", "application/json"),
        ("application/ld+json, application/json;q=0.5", "application/ld+json"),
    ],
)
def test_an_export_is_served_as_a_type_its_openapi_documents(site: Site, accept: str | None, served: str) -> None:
    # The fuzz test met this by chance (only when it drew an existing lot): JSON-LD served, only JSON documented.
    headers = site.auth("quality") | ({"accept": accept} if accept else {})
    r = site.client.get(f"{P}/lots/IF-0001", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == served
    documented = site.client.get("/openapi.json").json()["paths"]["/api/v1/epcis/lots/{lot}"]["get"]["responses"]
    assert served in documented["200"]["content"]

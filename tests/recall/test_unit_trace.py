"""Cases, pallets, places and sales in traces (issue 16, "Trace"), on SQLite and PostgreSQL: cans
commissioned, packed into cases, the cases onto a pallet, shipped and received at a GLN, a can and a
case sold; the forward trace from the raw milk lot lists them, the backward trace starts from the
SSCC or a case (Digital Link too), over HTTP and on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cradletrace import apikeys
from cradletrace.api.main import API_PREFIX, create_app
from cradletrace.core.codes import gtin_check_digit
from cradletrace.demo import FORMULA
from cradletrace.errors import InvalidInputError, NotFoundError
from cradletrace.recall.genealogy import trace_backward, trace_forward, trace_json
from cradletrace.workspace import Workspace
from tests.cli.test_cli import run
from tests.test_logistics import (
    BRAND,
    CASE_GTIN,
    PALLET,
    PLANT,
    SSCC,
    STORE_GLN,
    Record,
    can,
    case,
    commission_cans,
    pack,
    receive,
    sale,
    ship,
)

MILK = "94219029600019"
RAW = (MILK, "RM-A1")
OTHER = "cd" * 32


@pytest.fixture
def story(workspace: Workspace, record: Record, events: list[dict[str, Any]]) -> list[str]:
    """Six cans of IF-0001 (made from RM-A1 and RM-B2): cans 0-2 in case C1, 3-4 in C2 (5 loose),
    both cases on the pallet, shipped to the brand and received at the store's dock 2; the brand
    sells can 0 out of C1 (ORD-1) and the whole case C2 (ORD-2)."""
    cans = commission_cans(workspace, record, events)
    record(
        [
            pack(PLANT, case("C1"), [can(s) for s in cans[:3]]),
            pack(PLANT, case("C2"), [can(s) for s in cans[3:5]]),
            pack(PLANT, PALLET, [case("C1"), case("C2")]),
            ship(PLANT, [PALLET], consignee=BRAND),
        ]
    )
    record([receive(BRAND, [PALLET])])
    record([sale(BRAND, can(cans[0]), "ORD-1"), sale(BRAND, case("C2"), "ORD-2", OTHER)])
    return cans


def test_forward_trace_lists_cases_pallets_last_place_and_orders(workspace: Workspace, story: list[str]) -> None:
    with workspace.session() as s:
        t = trace_forward(s, lot=RAW)  # through the batch made from the raw lot
        out = trace_json(t, orders=True)
        plain = trace_json(t)
    c1, c2 = f"01/{CASE_GTIN}/21/C1", f"01/{CASE_GTIN}/21/C2"
    assert {lot["lot"] for lot in out["lots"]} == {"RM-A1", "IF-0001"} and out["counts"]["items"] == 6
    cases = {c["code"]: c for c in out["cases"]}
    assert set(cases) == {c1, c2}
    assert (cases[c1]["cans"], cases[c1]["sold"], cases[c1]["parent"]) == (2, False, f"00/{SSCC}")
    assert (cases[c2]["cans"], cases[c2]["sold"], cases[c2]["parent"]) == (2, True, None)  # a sold case left the pallet
    assert cases[c2]["sold_event_id"] is not None and cases[c1]["gtin"] == CASE_GTIN and cases[c1]["serial"] == "C1"
    place = cases[c1]["last_received"]
    assert (place["gln"], place["extension"], place["supplier"], place["name"]) == (STORE_GLN, "DOCK-2", BRAND, BRAND)
    assert place["at"] is not None and place["event_id"] == out["pallets"][0]["last_received"]["event_id"]
    [pallet] = out["pallets"]
    assert (pallet["code"], pallet["sscc"], pallet["cases"], pallet["cans"], pallet["sold"]) == (
        f"00/{SSCC}",
        SSCC,
        1,
        2,
        False,
    )
    assert (
        out["counts"].items()
        >= {
            "packed_items": 5,
            "cases": 2,
            "pallets": 1,
            "sold_cases": 1,
            "orders": 2,
            "sold_items": 3,  # can 0 (sold out of its case) once, and C2's two cans
        }.items()
    )
    orders = {o["order"]: o for o in out["orders"]}
    assert orders["ORD-1"]["items"] == 1 and orders["ORD-1"]["units"] == [f"01/{FORMULA}/21/{story[0]}"]
    assert orders["ORD-2"]["items"] == 2 and orders["ORD-2"]["units"] == [c2]
    assert orders["ORD-2"]["buyers"] == [OTHER] and orders["ORD-1"]["seller"] == BRAND
    assert "orders" not in plain and plain["counts"] == out["counts"]  # counts for everyone, the list when asked
    assert "contact" not in json.dumps(out)


def test_backward_trace_from_an_sscc_or_a_case_finds_the_lots(workspace: Workspace, story: list[str]) -> None:
    with workspace.session() as s:
        for code in (
            SSCC,
            f"https://id.example.org/00/{SSCC}",
            f"{CASE_GTIN}/C2",
            f"https://x.test/01/{CASE_GTIN}/21/C1",
        ):
            t = trace_backward(s, unit=code)
            assert {lot.lot for lot in t.lots} == {"IF-0001", "RM-A1", "RM-B2"}, code
            assert t.start.lots == ((FORMULA, "IF-0001"),)
        assert trace_backward(s, unit=SSCC).start.kind == "pallet"
        assert trace_backward(s, unit=f"{CASE_GTIN}/C1").to_json()["start"]["value"] == f"01/{CASE_GTIN}/21/C1"
        unknown = "0" + SSCC[1:-1]
        unknown += str(gtin_check_digit(unknown))
        with pytest.raises(NotFoundError, match=f"00/{unknown}"):
            trace_backward(s, unit=unknown)
        with pytest.raises(InvalidInputError, match="check digit"):
            trace_backward(s, unit=SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10))


def test_http_and_cli_answer_the_new_fields_and_starts(workspace: Workspace, story: list[str], tmp_path: Path) -> None:
    with workspace.session() as s:
        quality = apikeys.create_key(s, "qa", "quality")[1]
        operator = apikeys.create_key(s, "ops", "operator")[1]
    workspace.close()  # lets the app open the embedded chain
    app = create_app(workspace.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        fwd = f"{API_PREFIX}/trace/forward"
        q = client.get(fwd, params={"lot": f"{MILK}/RM-A1"}, headers={"Authorization": f"Bearer {quality}"})
        o = client.get(fwd, params={"lot": f"{MILK}/RM-A1"}, headers={"Authorization": f"Bearer {operator}"})
        assert q.status_code == 200 and o.status_code == 200, q.text + o.text
        assert len(q.json()["orders"]) == 2 and "orders" not in o.json()
        assert o.json()["counts"]["orders"] == 2 and len(o.json()["cases"]) == 2
        back = f"{API_PREFIX}/trace/backward"
        h = {"Authorization": f"Bearer {operator}"}
        r = client.get(back, params={"sscc": f"https://id.example.org/00/{SSCC}"}, headers=h)
        assert r.status_code == 200 and r.json()["start"]["kind"] == "pallet", r.text
        r = client.get(back, params={"case": f"{CASE_GTIN}/C1"}, headers=h)
        assert r.status_code == 200 and {x["lot"] for x in r.json()["lots"]} >= {"RM-A1", "RM-B2"}
        r = client.get(back, params={"case": f"{CASE_GTIN}/NOPE"}, headers=h)
        assert r.status_code == 404 and f"01/{CASE_GTIN}/21/NOPE" in r.json()["detail"]
        r = client.get(back, params={"sscc": f"{CASE_GTIN}/C1"}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "sscc"
        cli = ["--json", "--data-dir", str(workspace.settings.data_dir)]
        if workspace.settings.database_url:
            cli += ["--database-url", workspace.settings.database_url]
        printed = json.loads(run(tmp_path, "trace", "forward", "--lot", f"{MILK}/RM-A1", "--orders", *cli).stdout)
        assert printed == q.json()
        printed = json.loads(run(tmp_path, "trace", "backward", "--sscc", SSCC, *cli).stdout)
        assert printed == client.get(back, params={"sscc": SSCC}, headers=h).json()
        text = run(tmp_path, "trace", "forward", "--lot", f"{MILK}/RM-A1", "--orders", *cli[1:]).stdout
        assert f"pallet 00/{SSCC}" in text and "order ORD-2" in text and STORE_GLN in text

"""The scan host as a GS1-Conformant resolver: its description, a linkset per pack, typed redirects,
every valid form of a pack's Digital Link reaching the same scan page, and 400s naming the rule.

``packs`` is test_scan's site (the demo story anchored, cans of lot IF-0001 and of a lot written
``IF/0002``) plus two cans of a product whose GTIN-14 starts with 0, so it also has a GTIN-13 form.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cradletrace import products
from cradletrace.api.routes.resolver import LINKSET, MALFORMED_LINK, NOT_ONE_PACK, SERVED
from cradletrace.api.routes.scan import MALFORMED, UNKNOWN
from cradletrace.config import Settings
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.labels import DigitalLink, resolver_origin
from cradletrace.demo import story
from cradletrace.scanner_web.pages import strings
from cradletrace.workspace import Workspace
from tests.api.conftest import MILK, A, commission
from tests.api.test_scan import FORMULA, JSON, LOT, Packs, packed_site, record, scan_count

SHORT = "0942190296020" + str(gtin_check_digit("0942190296020"))  # GTIN-14 of the GTIN-13 SHORT[1:]
GS1 = "https://gs1.org/voc/"
ZH = strings()["zh"]


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Packs, list[DigitalLink]]]:
    with packed_site(
        Settings(data_dir=tmp_path_factory.mktemp("resolver") / "data"),
        scan_rate_per_minute=0,
        resolver_allowed_hosts=("lab.example",),
    ) as p:  # the demo lab's documents may be followed
        batch = next(e for e in story(datetime.now(UTC)) if e["kind"] == "batch" and e["supplier"] == A)
        short = copy.deepcopy(batch)
        short["data"]["product"]["gtin"], short["data"]["lot"] = SHORT, "IF-0003"  # type: ignore[index]
        with Workspace(p.settings) as ws, ws.session() as s:
            products.add_product(s, SHORT, A, "Stage 1 formula (GTIN-13 label)", datetime.now(UTC))
        record(p.settings, [short])
        cans = commission(p.settings, "IF-0003", 2, gtin=SHORT)
        yield p, cans


def serial_of(client: TestClient, path: str, **headers: str) -> str:
    r = client.get(path, headers={**JSON, **headers})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", (path, r.status_code, r.text)
    return str(r.json()["serial"])


# -- every valid form of a pack reaches its scan page ---------------------------------------------------


def test_every_form_of_a_pack_reaches_its_scan_page(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, shorts = packs
    can, slash, short = p.cans[0], p.slash[0], shorts[0]
    same = {
        can.serial: [
            can.path,
            f"{can.path}?17=280429&11=261106&lang=en",
            f"{can.path}?3103=000800",
            can.path.replace("/10/IF-0001/", "/10/IF%2D0001/"),  # an escaped unreserved character
            f"{can.path}?linkType=gs1:pip&lang=en&utm_source=wechat",
            can.path.replace("/01/", "/gtin/").replace("/10/", "/lot/").replace("/21/", "/ser/"),  # alphas
            f"/gtin/{FORMULA}/ser/{can.serial}",
        ],  # follows the 307 to the page
        slash.serial: [slash.path, slash.path.replace("%2F", "%2f")],
        short.serial: [short.path, short.path.replace(f"/01/{SHORT}/", f"/01/{SHORT[1:]}/")],  # GTIN-13
    }
    for serial, paths in same.items():
        for path in paths:
            assert serial_of(p.client, path) == serial, path
    other_host = TestClient(p.client.app, base_url="https://id.gs1.org")
    assert serial_of(other_host, can.path) == can.serial  # the host is not part of the identity
    page = p.client.get(f"{short.path.replace(SHORT, SHORT[1:])}?17=280429")
    assert page.status_code == 200 and short.serial in page.text and page.text.startswith("<!doctype html>")


def test_a_link_without_its_lot_is_sent_to_the_full_path(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, _ = packs
    can = p.cans[1]
    before = scan_count(p.settings, can.serial)
    r = p.client.get(f"/01/{FORMULA}/21/{can.serial}?17=280429&lang=en", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"{can.path}?17=280429&lang=en"
    assert r.headers["access-control-allow-origin"] == "*"
    assert scan_count(p.settings, can.serial) == before  # the redirect is not a scan; the page it leads to is
    assert serial_of(p.client, f"/01/{FORMULA}/21/{can.serial}") == can.serial
    assert scan_count(p.settings, can.serial) == before + 1


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        (f"/01/{FORMULA}", 404, NOT_ONE_PACK),  # a product
        (f"/01/{FORMULA}/10/{LOT}", 404, NOT_ONE_PACK),  # a lot
        (f"/01/{FORMULA}/21/7Q2KX9M4TR8VB3ZD", 404, UNKNOWN),  # a serial we never issued
        ("/01/{FORMULA}/22/V1/10/{LOT}/21/{serial}", 404, UNKNOWN),  # a variant we never issued
        ("/01/{MILK}/21/{serial}", 404, UNKNOWN),  # our serial under another GTIN
        ("/01/{FORMULA}/10/22/21/{serial}", 404, UNKNOWN),  # a lot that looks like an AI
    ],
)
def test_what_is_not_one_of_our_packs(
    packs: tuple[Packs, list[DigitalLink]], path: str, status: int, detail: str
) -> None:
    p, _ = packs
    path = path.format(FORMULA=FORMULA, LOT=LOT, MILK=MILK, serial=p.cans[4].serial)
    r = p.client.get(path, headers=JSON)
    assert (r.status_code, r.json()["detail"]) == (status, detail), r.text
    page = p.client.get(path)
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert (
        page.headers["cache-control"] == "no-store"
        and p.client.get(path, params={"format": "json"}).json()["detail"] == detail
    )
    assert scan_count(p.settings, p.cans[4].serial) == 0


# -- other GS1 keys: pallets and places recognised, the rest named; nothing held yet --------------------

SSCC = "106141411234567897"
GLN = "9421902960000"
GRAI = "0" + "942190296000" + str(gtin_check_digit("942190296000")) + "A7"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (f"/00/{SSCC}", f"this server holds no pallet with SSCC {SSCC}"),
        (f"/sscc/{SSCC}?3300=001200&linkType=linkset", f"this server holds no pallet with SSCC {SSCC}"),
        (f"/414/{GLN}", f"this server holds no place with GLN {GLN}"),
        (f"/414/{GLN}/254/DOCK%2F3", f"this server holds no place with GLN {GLN} and extension DOCK/3"),
        (f"/gln/{GLN}/glnx/A1", f"this server holds no place with GLN {GLN} and extension A1"),
        (f"/8003/{GRAI}", f"GRAI (8003): this server holds nothing for that GS1 key; {SERVED}"),
        ("/giai/ABC-123", f"GIAI (8004): this server holds nothing for that GS1 key; {SERVED}"),
        (
            "/8018/106141410000000019/8019/12",
            f"GSRN (recipient) (8018): this server holds nothing for that GS1 key; {SERVED}",
        ),
    ],
)
def test_other_keys_are_404_saying_what_is_not_held(
    packs: tuple[Packs, list[DigitalLink]], path: str, detail: str
) -> None:
    p, _ = packs
    r = p.client.get(path, headers=JSON)
    assert (r.status_code, r.json()["detail"]) == (404, detail), r.text
    assert r.headers["access-control-allow-origin"] == "*" and r.headers["cache-control"] == "no-store"
    page = p.client.get(path)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html") and detail in page.text
    assert p.client.head(path).status_code == 404


# -- syntax errors are 400 naming the rule, whichever route takes them ----------------------------------


@pytest.mark.parametrize(
    ("path", "field", "rule"),
    [
        (f"/01/{FORMULA}/21/X/10/L", "path", "10 after 21: key qualifiers must be in the order 22, 10, 21"),
        (f"/01/{FORMULA}/10/L/21/{'S' * 21}", "21", "serial longer than 20 characters (got 21)"),
        (f"/01/{FORMULA[:-1]}0/10/L/21/S", "01", f"check digit is 0, expected {FORMULA[-1]}"),
        (f"/01/{FORMULA}/10/L/21/S?17=280230", "17", "expiry date 280230 is not a date: day 30 in month 02"),
        (f"/01/{FORMULA}/10/L/21/S?10=L", "10", "key qualifier in the query string"),
        (f"/01/{FORMULA}/10/L/21/S?17=280229&17=280228", "17", "given twice in the query string"),
        (f"/01/{FORMULA}/17/280229", "path", "17 is not a key qualifier of 01"),
        (f"/01/{FORMULA}/10/L/21/S?linkType=linkset&3103=12", "3103", "must be 6 digits, got 2"),
        (f"/00/{SSCC[:-1]}0", "00", "check digit is 0, expected 7"),
        (f"/00/{SSCC[:-1]}", "00", "SSCC must be 18 digits, got 17"),
        (f"/00/{SSCC}/10/L", "path", "00 (SSCC) takes no key qualifiers"),
        (f"/414/{GLN[:-1]}5", "414", "check digit is 5, expected 0"),
        (f"/414/{GLN}/21/S", "path", "21 is not a key qualifier of 414 (254 or 7040)"),
        (f"/414/{GLN}?21=S", "21", "serial is not a GS1 Digital Link data attribute"),
        (f"/8003/1{GRAI[1:]}", "8003", "must be 0"),
    ],
)
def test_syntax_errors_are_400_naming_the_rule(
    packs: tuple[Packs, list[DigitalLink]], path: str, field: str, rule: str
) -> None:
    p, _ = packs
    r = p.client.get(path, headers=JSON)
    detail = MALFORMED if path.startswith("/01/") else MALFORMED_LINK  # a pack's code, or a link of another key
    assert r.status_code == 400 and r.json()["detail"] == detail and r.json()["field"] == field, r.text
    assert rule in r.json()["problems"][0]["message"]
    page = p.client.get(path)
    assert page.status_code == 400 and ZH["bad_code_title"] in page.text and f"{field}: " in page.text


# -- the resolver description and linksets -------------------------------------------------------------


def test_well_known_describes_the_resolver(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, _ = packs
    r = p.client.get("/.well-known/gs1resolver")
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    body = r.json()
    assert body["resolverRoot"] == resolver_origin(p.settings.resolver_host) and body["name"] == "cradletrace"
    assert body["supportedPrimaryKeys"] == ["01", "00", "414"] and body["linkTypeDefaultCanBeLinkset"] is False
    assert (
        body["supportedLinkType"] == [{"namespace": GS1, "prefix": "gs1:"}] and body["supportsLanguageVariants"] is True
    )
    head = p.client.head("/.well-known/gs1resolver")
    assert head.status_code == 200 and head.content == b""


def linkset_of(client: TestClient, path: str, **params: str) -> dict[str, object]:
    r = client.get(path, params=params or None, headers={} if params else {"Accept": LINKSET})
    assert r.status_code == 200 and r.headers["content-type"] == LINKSET, r.text
    assert 'rel="linkset"' in r.headers["link"] and r.headers["access-control-allow-origin"] == "*"
    [context] = r.json()["linkset"]
    return context  # type: ignore[no-any-return]


def test_linkset_lists_what_we_have_for_the_pack(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, _ = packs
    can = p.cans[2]
    root = resolver_origin(p.settings.resolver_host)
    before = scan_count(p.settings, can.serial)
    ls = linkset_of(p.client, can.path, linkType="linkset")
    assert ls == linkset_of(p.client, can.path)  # Accept: application/linkset+json
    assert ls == linkset_of(p.client, f"/01/{FORMULA}/21/{can.serial}", linkType="all")  # any form, the legacy name
    assert ls["anchor"] == root + can.path and ls["description"] == "Stage 1 infant formula 800 g"
    pip = ls[GS1 + "pip"]
    assert [(x["href"], x["hreflang"], x["type"]) for x in pip] == [  # type: ignore[index, union-attr]
        (root + can.path, ["zh"], "text/html"),
        (f"{root}{can.path}?lang=en", ["en"], "text/html"),
    ]
    assert ls[GS1 + "defaultLink"] == [pip[0]]  # type: ignore[index]
    assert ls[GS1 + "traceability"][0]["href"] == f"{root}{can.path}?format=json"  # type: ignore[index]
    reports = {x["href"] for x in ls[GS1 + "certificationInfo"]}  # type: ignore[union-attr, index]
    lab = [e["data"] for e in story(datetime.now(UTC)) if e["kind"] == "test_report"]
    assert reports == {d["document"]["uri"] for d in lab if d["batch"]["lot"] == LOT} and len(reports) == 2  # type: ignore[index]
    assert ls[GS1 + "recallStatus"][0]["title"].startswith("On hold: ")  # type: ignore[index]  # the failed test holds the lot
    for key, links in ls.items():
        if key.startswith("https://"):
            assert all(link["href"].startswith("https://") and link["title"] for link in links), key  # type: ignore[union-attr]
    assert scan_count(p.settings, can.serial) == before  # asking for links is not a scan


def test_a_lot_with_no_reports_and_no_hold_has_only_its_pages(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, _ = packs
    ls = linkset_of(p.client, p.slash[1].path, linkType="linkset")
    assert set(ls) == {
        "anchor",
        "description",
        "itemDescription",
        GS1 + "pip",
        GS1 + "defaultLink",
        GS1 + "traceability",
    }


@pytest.mark.parametrize(
    ("link_type", "target"),
    [
        ("gs1:pip", "{root}{path}"),
        ("gs1:defaultLink", "{root}{path}"),
        (GS1 + "pip", "{root}{path}"),
        ("https://ref.gs1.org/voc/traceability", "{root}{path}?format=json"),
        ("gs1:traceability", "{root}{path}?format=json"),
        ("gs1:certificationInfo", "https://lab.example/reports/"),
        ("gs1:recallStatus", "{root}{path}?format=json"),
        ("gs1:nutritionalInfo", "{root}{path}"),  # none of that type: the default link
    ],
)
def test_link_types_redirect(packs: tuple[Packs, list[DigitalLink]], link_type: str, target: str) -> None:
    p, _ = packs
    can = p.cans[3]
    r = p.client.get(can.path, params={"linkType": link_type}, follow_redirects=False)
    assert r.status_code == 307, r.text
    assert r.headers["location"].startswith(
        target.format(root=resolver_origin(p.settings.resolver_host), path=can.path)
    )
    assert 'rel="linkset"' in r.headers["link"]
    english = p.client.get(
        can.path,
        params={"linkType": link_type},
        follow_redirects=False,
        headers={"Accept-Language": "fr-FR, en-GB;q=0.8, zh;q=0.5"},
    )
    if link_type in ("gs1:pip", "gs1:nutritionalInfo"):  # the page in the first language we have
        assert english.headers["location"] == r.headers["location"] + "?lang=en"
    head = p.client.head(can.path, params={"linkType": link_type}, follow_redirects=False)
    assert (head.status_code, head.headers["location"], head.content) == (307, r.headers["location"], b"")
    if target.endswith("{path}"):
        assert r.headers["location"] == target.format(root=resolver_origin(p.settings.resolver_host), path=can.path)


def test_a_recalled_lot_links_its_recall_status(packs: tuple[Packs, list[DigitalLink]]) -> None:
    p, shorts = packs
    short = shorts[1]  # lot IF-0003 of the GTIN-13 product: no reports, not held, until now
    assert GS1 + "recallStatus" not in linkset_of(p.client, short.path, linkType="linkset")
    started = p.client.post(
        "/api/v1/recalls",
        headers=p.site.auth("quality"),
        json={"reason": "Cronobacter detected", "severity": "I", "lots": [f"{SHORT}/IF-0003"]},
    )
    assert started.status_code == 201, started.text
    ls = linkset_of(p.client, short.path.replace(SHORT, SHORT[1:]), linkType="linkset")  # asked with the GTIN-13
    root = resolver_origin(p.settings.resolver_host)
    assert ls["anchor"] == root + short.path
    assert [(x["title"], x["type"]) for x in ls[GS1 + "recallStatus"]] == [  # type: ignore[union-attr]
        ("Recall: Cronobacter detected", "application/json"),
        ("Recall: Cronobacter detected", "text/html"),
    ]
    r = p.client.get(short.path, params={"linkType": "gs1:recallStatus"}, follow_redirects=True, headers=JSON)
    assert r.status_code == 200 and r.json()["recall"]["reason"] == "Cronobacter detected"

"""A running API over a real store and the embedded chain, seeded with the demo story.

``site`` (module-scoped, SQLite) is shared by the tests that only read or add; tests that
need PostgreSQL too build their own with ``open_site`` and the ``database_url`` fixture.
Supplier A is the formula plant (alps-nutrition), supplier B the dairy farm (waikato-dairy).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from cradletrace import apikeys, products, recording
from cradletrace.anchoring import run as anchoring
from cradletrace.api.main import create_app
from cradletrace.config import Settings
from cradletrace.core import canonical, signing
from cradletrace.core.codes import gtin_check_digit
from cradletrace.core.labels import DigitalLink
from cradletrace.demo import story
from cradletrace.labels.commission import generate_codes
from cradletrace.workspace import Workspace, init_workspace
from tests.conftest import NOW, add_demo_suppliers

A, B = "alps-nutrition", "waikato-dairy"
SUPPLIERS = [
    (B, "Waikato Dairy Farm", "farm", "GAP;NZGAP-77812;AsureQuality;2099-12-31"),
    (A, "Southern Alps Nutrition", "plant", "ISO 22000;FSSC-C129;SGS;2099-12-31"),
    ("canterbury-lab", "Canterbury Food Lab", "lab", "ISO/IEC 17025;IANZ-1284;IANZ;2099-12-31"),
    ("pacific-cold", "Pacific Cold Chain", "logistics", "HACCP;HACCP-5521;Bureau Veritas;2099-12-31"),
]
MILK = "9421902960001" + str(gtin_check_digit("9421902960001"))
FORMULA = "9421902960101" + str(gtin_check_digit("9421902960101"))
WHO = ("anonymous", "supplier_a", "supplier_b", "quality", "operator", "revoked")
_lots = itertools.count(1)


def commission(settings: Settings, lot: str, count: int, gtin: str = FORMULA) -> list[DigitalLink]:
    """``count`` new cans of ``gtin``/``lot`` commissioned by the plant (A), as the labelling tool would beside the API."""
    with Workspace(settings) as ws, ws.session() as s:
        return generate_codes(
            s,
            settings.keys_dir,
            gtin=gtin,
            lot=lot,
            count=count,
            supplier=A,
            resolver=settings.resolver_host,
            limits=ws.limits,
        ).links


@dataclass
class Site:
    client: TestClient
    settings: Settings
    secrets: dict[str, str]  # who -> API key
    ids: dict[str, int] = field(default_factory=dict)  # "a_event", "b_event" -> event id

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[who]}"} if who in self.secrets else {}

    def event_count(self) -> int:
        with Workspace(self.settings) as ws, ws.session() as s:
            from sqlmodel import func, select

            from cradletrace.store.models import EventRow

            return int(s.exec(select(func.count()).select_from(EventRow)).one())


def raw_milk(n: int = 1, supplier: str = B) -> list[dict[str, object]]:
    """``n`` new raw-milk batch events (farm), each with a lot never used before."""
    today = datetime.now(UTC).date()
    site = {
        "name": "Waikato Dairy, shed 3",
        "address": "1208 Te Rapa Rd, Hamilton, New Zealand",
        "lat": -37.7394,
        "lon": 175.2215,
        "country": "NZ",
    }
    return [
        {
            "kind": "batch",
            "supplier": supplier,
            "data": {
                "product": {"gtin": MILK, "name": "Raw cow's milk, chilled"},
                "lot": f"RM-T{next(_lots)}",
                "produced_on": today.isoformat(),
                "expires_on": (today + timedelta(days=3)).isoformat(),
                "quantity": 18500,
                "unit": "kg",
                "site": site,
                "inputs": [],
            },
        }
        for _ in range(n)
    ]


def signed(settings: Settings, events: list[dict[str, object]]) -> list[dict[str, object]]:
    """Sign bare events with their suppliers' key files, as a supplier's own tooling would."""
    with Workspace(settings) as ws, ws.session() as s:
        items = recording.sign_submissions(
            recording.read_submissions(events), recording.key_loader(s, settings.keys_dir), ws.limits
        )  # type: ignore[arg-type]
    return [{"event": i.event, "signature": i.signature} for i in items]


def sign_with(pem: bytes, event: dict[str, object]) -> dict[str, object]:
    """Sign with an explicit private key (the key id in the event is left as it is)."""
    private = signing.load_private_key(pem)
    return {"event": event, "signature": signing.sign(private, canonical.canonical_bytes(event))}  # type: ignore[arg-type]


def key_file(settings: Settings, supplier_id: str) -> tuple[str, bytes]:
    with Workspace(settings) as ws, ws.session() as s:
        return recording.key_loader(s, settings.keys_dir)(supplier_id)


@contextmanager
def open_site(settings: Settings, **overrides: object) -> Iterator[Site]:
    """Init, register suppliers, record and anchor the demo story, make keys, start the app."""
    ws, chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            add_demo_suppliers(s, settings.keys_dir, SUPPLIERS)
            # The farm names the plant a maker of raw milk too, so both supplier keys record raw_milk().
            products.name_party(s, MILK, A, "maker", None, B, NOW)
        now = datetime.now(UTC)
        with ws.session() as s:
            items = recording.sign_submissions(
                recording.read_submissions(story(now)), recording.key_loader(s, settings.keys_dir), ws.limits
            )  # type: ignore[arg-type]
            rows = recording.record_submissions(s, items, now)
        anchoring.anchor_pending(lambda: Session(ws.engine, expire_on_commit=False), chain)
        secrets: dict[str, str] = {}
        with ws.session() as s:
            secrets["operator"] = apikeys.create_key(s, "ops", "operator")[1]
            secrets["quality"] = apikeys.create_key(s, "qa", "quality")[1]
            secrets["supplier_a"] = apikeys.create_key(s, "plant", "supplier", A)[1]
            secrets["supplier_b"] = apikeys.create_key(s, "farm", "supplier", B)[1]
            row, secrets["revoked"] = apikeys.create_key(s, "gone", "operator")
            apikeys.revoke_key(s, row.id)
    ids = {
        "a_event": next(r.id for r in rows if r.supplier_id == A),
        "b_event": next(r.id for r in rows if r.supplier_id == B),
    }
    # Every request of a test client comes from one address, and the tests present wrong and
    # revoked keys on purpose: the failed-key throttle (tests/api/test_door.py) is not in the way.
    app = create_app(settings.model_copy(update={"auth_failures_per_minute": 1_000_000, **overrides}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, settings, secrets, ids)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("api")) / "data")) as s:
        yield s

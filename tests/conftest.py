"""Shared fixtures: a store on SQLite and on a real PostgreSQL server, an initialised workspace
on the embedded chain, registered suppliers, and the demo's valid events to build on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from cradletrace import recording, suppliers
from cradletrace.config import Settings
from cradletrace.demo import register_products, story
from cradletrace.workspace import Workspace, init_workspace

pytest_plugins = ["tests.pg", "tests.nodes", "tests.browser"]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SUPPLIERS = [
    ("waikato-dairy", "Waikato Dairy Farm", "farm", "GAP;NZGAP-77812;AsureQuality;2027-12-31"),
    ("alps-nutrition", "Southern Alps Nutrition", "plant", "ISO 22000;FSSC-C129;SGS;2027-12-31"),
    ("canterbury-lab", "Canterbury Food Lab", "lab", "ISO/IEC 17025;IANZ-1284;IANZ;2027-12-31"),
    ("pacific-cold", "Pacific Cold Chain", "logistics", "HACCP;HACCP-5521;Bureau Veritas;2027-12-31"),
]

# What registering the four suppliers records besides: the key log's record of each key and its
# own key's (keylog.py). They are pending like any event until the first anchoring.
KEY_RECORDS = len(SUPPLIERS) + 1


def add_demo_suppliers(session: Session, keys_dir: Path, people: list[tuple[str, str, str, str]] | None = None) -> None:
    """The four suppliers (``people``, else SUPPLIERS) and the demo's two products with their parties
    (demo.register_products)."""
    for sid, name, role, cert in people or SUPPLIERS:
        suppliers.add_supplier(session, keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
    register_products(session, NOW)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (the SQLite file in the data directory) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """An initialised workspace (schema + contract on the embedded chain) with the four suppliers and
    the demo's two products (milk owned by the farm; formula by the plant, which named the lab and carrier)."""
    ws, _chain = init_workspace(settings)
    with ws:
        with ws.session() as s:
            add_demo_suppliers(s, settings.keys_dir)
        yield ws


@pytest.fixture
def events() -> list[dict[str, object]]:
    """The demo story's seven valid, unsigned events (raw lots, batch, reports, shipment, cold chain)."""
    return story(NOW)


@pytest.fixture
def sign(workspace: Workspace) -> Callable[[list[dict[str, object]]], list[recording.Submission]]:
    """Sign bare events with the suppliers' key files."""

    def _sign(evs: list[dict[str, object]]) -> list[recording.Submission]:
        with workspace.session() as s:
            return recording.sign_submissions(
                recording.read_submissions(evs), recording.key_loader(s, workspace.settings.keys_dir), workspace.limits
            )

    return _sign


@pytest.fixture
def record(
    workspace: Workspace, sign: Callable[[list[dict[str, object]]], list[recording.Submission]]
) -> Callable[..., list[recording.RecordedEvent]]:
    """Sign (unless given Items) and record events; returns the stored rows."""

    def _record(
        evs: list[dict[str, object]] | list[recording.Submission], now: datetime = NOW
    ) -> list[recording.RecordedEvent]:
        items = evs if evs and isinstance(evs[0], recording.Submission) else sign(evs)  # type: ignore[arg-type]
        with workspace.session() as s:
            return recording.record_submissions(s, items, now)  # type: ignore[arg-type]

    return _record


# Files of few tests that take half a minute to 3.5 minutes each (measured on two workers under load,
# scripts/test-all, Dec 2026), heaviest first.
# pytest-xdist hands out whole files (--dist loadfile) in collection order (--no-loadscope-reorder):
# starting with these keeps one worker from being left with a long file while the other idles at the end.
HEAVY_FILES = (
    "tests/cli/test_cli.py",
    "tests/anchoring/test_faults_anchoring.py",
    "tests/test_audit_parallel.py",
    "tests/test_portal_browser.py",
    "tests/api/test_door.py",
    "tests/anchoring/test_anchoring.py",
    "tests/api/test_fuzz.py",
    "tests/test_typing.py",
    "tests/anchoring/test_faults_anchor_restarts.py",
    "tests/test_faults_api.py",
    "tests/test_security.py",
    "tests/test_portal_bulk_browser.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker only: HEAVY_FILES first, then the other files by falling number of tests
    (a file's own tests keep their order). A plain run keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    files = Counter(item.nodeid.split("::", 1)[0] for item in items)
    rank = {name: i for i, name in enumerate(HEAVY_FILES)}

    def key(item: pytest.Item) -> tuple[int, int, str]:
        name = item.nodeid.split("::", 1)[0]
        return rank.get(name, len(rank)), -files[name], name

    items.sort(key=key)

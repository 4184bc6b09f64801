"""Suppliers, their certificates and keys (cradletrace.suppliers), and what they allow."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import MetaData
from sqlmodel import Session, select

from cradletrace import products, suppliers
from cradletrace.anchoring import run as anchoring
from cradletrace.demo import MILK
from cradletrace.errors import InvalidEventError, InvalidInputError, NotAllowedError, NotFoundError
from cradletrace.store.models import Supplier, SupplierKey
from cradletrace.verification import verify_event
from cradletrace.workspace import Workspace
from tests.conftest import NOW

Events = list[dict[str, Any]]
SQLITE_ONLY = pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
RAW_A, RAW_B, BATCH = 0, 1, 2


def key_files(ws: Workspace) -> set[str]:
    return {p.name for p in ws.settings.keys_dir.iterdir()}


def supplier_ids(ws: Workspace) -> list[str]:
    with ws.session() as s:
        return sorted(s.exec(select(Supplier.id)))


def farm_key(ws: Workspace, supplier_id: str = "waikato-dairy") -> str:
    with ws.session() as s:
        return suppliers.active_key(s, supplier_id).key_id


def raw_milk(events: Events, supplier: str, lot: str) -> dict[str, Any]:
    ev: dict[str, Any] = {**events[RAW_A], "supplier": supplier}
    ev["data"] = {**ev["data"], "lot": lot}
    return ev


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


# -- keys: the private half never leaves its 0600 file --------------------------------------


@SQLITE_ONLY
def test_private_key_files_are_0600_in_a_private_directory(workspace: Workspace, umask: Callable[[int], None]) -> None:
    umask(0)  # a shared box with a careless umask must not make the key world-readable
    with workspace.session() as s:
        _, key, path = suppliers.add_supplier(s, workspace.settings.keys_dir, "Tasman Organics", "farm")

    assert path == workspace.settings.keys_dir / f"tasman-organics.{key.key_id}.pem"
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    pems = sorted(workspace.settings.keys_dir.glob("*.pem"))
    assert len(pems) == 6  # five suppliers' and the key log's (keylog.py)
    for pem in pems:
        assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600, pem
    assert stat.S_IMODE(os.stat(workspace.settings.keys_dir).st_mode) & 0o077 == 0


def test_database_holds_no_private_key_material(workspace: Workspace) -> None:
    needles: dict[str, str] = {"PRIVATE KEY": "PEM header"}
    for pem in workspace.settings.keys_dir.glob("*.pem"):
        lines = pem.read_text().strip().splitlines()
        body = "".join(lines[1:-1])
        seed = base64.b64decode(body)[-32:]  # PKCS#8 Ed25519: the 32-byte seed ends the DER
        needles[body] = f"{pem.name} PEM body"
        needles[base64.b64encode(seed).decode()] = f"{pem.name} seed (base64)"
        needles[seed.hex()] = f"{pem.name} seed (hex)"
    assert len(needles) == 1 + 3 * 5  # the four suppliers' keys and the key log's

    meta = MetaData()
    meta.reflect(workspace.engine)
    cells: list[str] = []
    with workspace.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                cells.extend(str(v) for v in row)

    with workspace.session() as s:
        public = [k.public_key for k in s.exec(select(SupplierKey))]
    assert len(public) == 5 and all(any(p in c for c in cells) for p in public)  # the scan does see the key table
    found = [(what, c[:40]) for c in cells for needle, what in needles.items() if needle.lower() in c.lower()]
    assert found == []


# -- registering: refused cleanly, leaving no stray key file --------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("name", "role", "supplier_id", "where", "message"),
    [
        pytest.param("Waikato Dairy Farm", "farm", "waikato-dairy", "id", "already registered", id="duplicate id"),
        pytest.param(
            "Tasman Organics", "farmer", None, "role", "farm, plant, lab, logistics, brand", id="unknown role"
        ),
        pytest.param("Tasman Organics", "Farm", None, "role", "got 'Farm'", id="role capitalised"),
        pytest.param("Tasman Organics", "", None, "role", "expected one of", id="no role"),
        pytest.param("   ", "farm", None, "name", "expected a supplier name", id="blank name"),
        pytest.param("Tasman Organics", "farm", "Tasman Organics", "id", "a-z, 0-9", id="id with capitals and space"),
        pytest.param("Tasman Organics", "farm", "t", "id", "2-63", id="id too short"),
        pytest.param("Tasman Organics", "farm", "-tasman", "id", "got '-tasman'", id="id starting with a dash"),
    ],
)
def test_bad_supplier_is_refused_naming_the_field(
    workspace: Workspace,
    name: str,
    role: str,
    supplier_id: str | None,
    where: str,
    message: str,
) -> None:
    files, ids = key_files(workspace), supplier_ids(workspace)

    with pytest.raises(InvalidInputError) as caught:
        with workspace.session() as s:
            suppliers.add_supplier(s, workspace.settings.keys_dir, name, role, [], supplier_id)

    assert caught.value.field == where
    assert message in str(caught.value) and "expected" in str(caught.value)
    assert key_files(workspace) == files
    assert supplier_ids(workspace) == ids


@SQLITE_ONLY
def test_the_same_name_twice_is_refused_as_a_duplicate_id(workspace: Workspace) -> None:
    with workspace.session() as s:
        sup, _, _ = suppliers.add_supplier(s, workspace.settings.keys_dir, "Tasman Organics Ltd.", "farm")
    assert sup.id == "tasman-organics-ltd"

    with pytest.raises(InvalidInputError, match=r"tasman-organics-ltd.*already registered"):
        with workspace.session() as s:
            suppliers.add_supplier(s, workspace.settings.keys_dir, "Tasman Organics Ltd", "farm")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "ISO 22000;FSSC-C129;SGS;2027-12-31",
            suppliers.CertificationIn("ISO 22000", "FSSC-C129", "SGS", date(2027, 12, 31), True),
            id="required",
        ),
        pytest.param(
            "HACCP;H-1;Bureau Veritas;2027-01-01;optional",
            suppliers.CertificationIn("HACCP", "H-1", "Bureau Veritas", date(2027, 1, 1), False),
            id="optional",
        ),
        pytest.param(
            "HACCP;H-1;BV;2027-01-01;required",
            suppliers.CertificationIn("HACCP", "H-1", "BV", date(2027, 1, 1), True),
            id="required spelled out",
        ),
        pytest.param(
            "  ISO/IEC 17025 ; IANZ-1284 ;IANZ; 2028-02-29 ",
            suppliers.CertificationIn("ISO/IEC 17025", "IANZ-1284", "IANZ", date(2028, 2, 29), True),
            id="spaces and leap day",
        ),
    ],
)
def test_certification_parses(text: str, expected: suppliers.CertificationIn) -> None:
    assert suppliers.CertificationIn.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param("ISO 22000;FSSC-C129;SGS", "cert", "SCHEME;NUMBER;ISSUER;YYYY-MM-DD", id="no date"),
        pytest.param("ISO 22000,FSSC-C129,SGS,2027-12-31", "cert", "SCHEME;NUMBER", id="commas"),
        pytest.param(";FSSC-C129;SGS;2027-12-31", "cert", "SCHEME;NUMBER", id="no scheme"),
        pytest.param("ISO 22000;;SGS;2027-12-31", "cert", "SCHEME;NUMBER", id="no number"),
        pytest.param("ISO 22000;FSSC-C129;SGS;31/12/2027", "cert.valid_until", "YYYY-MM-DD", id="day-first date"),
        pytest.param("ISO 22000;FSSC-C129;SGS;2027-02-30", "cert.valid_until", "2027-02-30", id="no such day"),
        pytest.param("ISO 22000;FSSC-C129;SGS;2027-12-31;maybe", "cert", "'optional' or 'required'", id="bad flag"),
        pytest.param("ISO 22000;FSSC-C129;SGS;2027-12-31;optional;x", "cert", "SCHEME;NUMBER", id="six parts"),
        pytest.param("", "cert", "SCHEME;NUMBER", id="empty"),
    ],
)
def test_bad_certification_is_refused(text: str, where: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        suppliers.CertificationIn.parse(text)
    assert caught.value.field == where
    assert message in str(caught.value)


# -- certificates and keys gate recording ----------------------------------------------------


def test_expired_required_certificate_refuses_recording_naming_it(
    workspace: Workspace, events: Events, record: Any
) -> None:
    with pytest.raises(NotAllowedError) as caught:
        record(events[:1], now=datetime(2028, 1, 1, 9, tzinfo=UTC))

    text = str(caught.value)
    assert "events[0]" in text and "waikato-dairy" in text
    assert "GAP" in text and "NZGAP-77812" in text and "2027-12-31" in text
    assert record(events[:1], now=datetime(2027, 12, 31, 23, tzinfo=UTC))  # still valid on its last day


@SQLITE_ONLY
def test_expired_optional_certificate_does_not_block(workspace: Workspace, events: Events, record: Any) -> None:
    certs = [
        suppliers.CertificationIn.parse("GAP;NZGAP-90001;AsureQuality;2027-12-31"),
        suppliers.CertificationIn.parse("Organic;BIO-77;BioGro;2025-06-30;optional"),
    ]
    with workspace.session() as s:
        suppliers.add_supplier(s, workspace.settings.keys_dir, "Tasman Organics", "farm", certs)
        products.name_party(
            s, MILK, "tasman-organics", "maker", None, "waikato-dairy", NOW
        )  # a second dairy for the milk

    rows = record([raw_milk(events, "tasman-organics", "TO-1")])
    assert [r.supplier_id for r in rows] == ["tasman-organics"]

    with pytest.raises(NotAllowedError, match="GAP NZGAP-90001") as caught:
        record([raw_milk(events, "tasman-organics", "TO-2")], now=datetime(2028, 1, 1, tzinfo=UTC))
    assert "BIO-77" not in str(caught.value)


def test_revoked_key_refuses_events_it_signed_naming_the_key(
    workspace: Workspace, events: Events, sign: Any, record: Any
) -> None:
    items = sign(events[:BATCH])  # signed at the farm before the key was revoked, submitted after
    kid = farm_key(workspace)
    with workspace.session() as s:
        suppliers.revoke_key(s, workspace.settings.keys_dir, kid)

    with pytest.raises(NotAllowedError) as caught:
        record(items)

    text = str(caught.value)
    assert kid in text and "revoked" in text and "events[0]" in text and "events[1]" in text
    with workspace.session() as s:
        assert (
            suppliers.revoke_key(s, workspace.settings.keys_dir, kid).revoked_at is not None
        )  # revoking twice is harmless


@SQLITE_ONLY
def test_signing_with_a_revoked_key_names_the_key(workspace: Workspace, events: Events, sign: Any) -> None:
    kid = farm_key(workspace)
    with workspace.session() as s:
        suppliers.revoke_key(s, workspace.settings.keys_dir, kid)

    with pytest.raises(InvalidEventError) as caught:
        sign(events[:1])

    assert caught.value.problems[0].where == "events[0].supplier"
    assert kid in str(caught.value)  # "which key?" is the first thing the clerk will be asked
    assert "revoked" in str(caught.value)


def test_events_signed_before_revocation_still_verify(workspace: Workspace, events: Events, record: Any) -> None:
    rows = record(events)
    anchoring.anchor_pending(lambda: Session(workspace.engine, expire_on_commit=False), workspace.chain())
    with workspace.session() as s:
        suppliers.revoke_key(s, workspace.settings.keys_dir, farm_key(workspace))
        suppliers.revoke_key(s, workspace.settings.keys_dir, farm_key(workspace, "alps-nutrition"))

    with workspace.session() as s:
        verdicts = [verify_event(s, workspace.chain(), str(r.id)) for r in rows]
    assert [v.status for v in verdicts] == ["VALID"] * 7, [v.reasons for v in verdicts]


def test_revoking_an_unknown_key_is_not_found(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="0123456789abcdef"):
        with workspace.session() as s:
            suppliers.revoke_key(s, workspace.settings.keys_dir, "0123456789abcdef")


def test_rotated_key_signs_new_events_and_old_signatures_stand_until_revoked(
    workspace: Workspace,
    events: Events,
    sign: Any,
    record: Any,
) -> None:
    old = farm_key(workspace)
    signed_before = sign(events[:1])
    with workspace.session() as s:
        new, path = suppliers.rotate_key(s, workspace.settings.keys_dir, "waikato-dairy")
    assert new.key_id != old
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    signed_after = sign(events[1:2])
    assert signed_before[0].event["key"] == old
    assert signed_after[0].event["key"] == new.key_id
    rows = record([*signed_before, *signed_after])
    assert [r.key_id for r in rows] == [old, new.key_id]

    with workspace.session() as s:
        suppliers.revoke_key(s, workspace.settings.keys_dir, old)
    assert sign([raw_milk(events, "waikato-dairy", "RM-C3")])[0].event["key"] == new.key_id
    assert record([raw_milk(events, "waikato-dairy", "RM-C3")])[0].key_id == new.key_id


@SQLITE_ONLY
def test_rotating_the_key_of_an_unknown_supplier_is_not_found(workspace: Workspace) -> None:
    files = key_files(workspace)
    with pytest.raises(NotFoundError, match="waikato-diary"):
        with workspace.session() as s:
            suppliers.rotate_key(s, workspace.settings.keys_dir, "waikato-diary")
    assert key_files(workspace) == files

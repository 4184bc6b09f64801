"""The whole story over HTTP, on SQLite and on PostgreSQL: an operator onboards a remote supplier,
who records with the key it was handed; anchoring, proof, verification, audit, rotation, revocation."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cradletrace.api.errors import BAD_KEY
from cradletrace.config import Settings
from tests.api.conftest import MILK, Site, open_site, raw_milk, sign_with
from tests.conftest import KEY_RECORDS

P = "/api/v1"
CLI = Path(sys.executable).parent / "cradletrace"


@pytest.fixture
def any_site(tmp_path: Path, database_url: str | None) -> Iterator[Site]:
    with open_site(Settings(data_dir=tmp_path / "data", database_url=database_url)) as s:
        yield s


def test_remote_supplier_story(any_site: Site) -> None:
    site, c = any_site, any_site.client
    op = site.auth("operator")
    made = c.post(
        f"{P}/suppliers",
        headers=op,
        json={
            "name": "Kiwi Farm",
            "role": "farm",
            "id": "kiwi-farm",
            "certifications": [
                {"scheme": "GAP", "number": "G-1", "issuer": "AsureQuality", "valid_until": "2099-01-01"}
            ],
        },
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    kid, pem = body["key"]["key_id"], body["private_key_pem"].encode()
    assert body["supplier"]["certifications"][0]["number"] == "G-1" and body["supplier"]["keys"][0]["key_id"] == kid
    copy = site.settings.keys_dir / f"kiwi-farm.{kid}.pem"
    assert copy.read_bytes() == pem and stat.S_IMODE(copy.stat().st_mode) == 0o600

    key = c.post(
        f"{P}/api-keys", headers=op, json={"name": "Kiwi uploader", "role": "supplier", "supplier_id": "kiwi-farm"}
    )
    assert key.status_code == 201 and key.json()["key"]["supplier_id"] == "kiwi-farm"
    kiwi = {"Authorization": f"Bearer {key.json()['secret']}"}
    # The milk's owner (the Waikato farm) names Kiwi Farm a maker of its raw milk.
    named = c.post(
        f"{P}/products/{MILK}/parties",
        headers=site.auth("supplier_b"),
        json={"supplier_id": "kiwi-farm", "role": "maker"},
    )
    assert named.status_code == 201, named.text

    def record(pem_: bytes, kid_: str) -> object:
        ev = {**raw_milk(1, "kiwi-farm")[0], "key": kid_}
        return c.post(f"{P}/events", headers=kiwi, content=json.dumps(sign_with(pem_, ev)).encode())

    r = record(pem, kid)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    eid = r.json()["events"][0]["id"]  # type: ignore[attr-defined]

    # The pending event is checked too, and the key log's records of the keys (the site's, Kiwi Farm's).
    before = c.post(f"{P}/audit", headers=site.auth("quality")).json()
    assert before["ok"] is True and (before["events_checked"], before["events_pending"]) == (9 + KEY_RECORDS, 2)
    run = c.post(f"{P}/anchor", headers=op).json()
    assert run["events"] == 2 and len(run["anchored"]) == 1
    got = c.get(f"{P}/events/{eid}", headers=kiwi).json()
    assert got["anchoring"]["status"] == "anchored" and got["anchoring"]["root"] == run["anchored"][0]["root"]
    assert c.get(f"{P}/events/{eid}/verify", headers=kiwi).json()["status"] == "VALID"
    bundle = c.get(f"{P}/events/{eid}/proof", headers=kiwi)
    assert bundle.status_code == 200
    verdict = c.post(f"{P}/verify-bundle", content=bundle.content).json()
    assert verdict["status"] == "VALID" and verdict["local_chain"] is True and verdict["reasons"] == []
    audit = c.post(f"{P}/audit", headers=site.auth("quality")).json()
    assert (
        audit["ok"] is True
        and audit["events_checked"] == 9 + KEY_RECORDS
        and audit["roots_checked"] == 2
        and audit["events_pending"] == 0
    )

    # Rotate, revoke the old signing key: the old key signs nothing more, the new one does.
    new = c.post(f"{P}/suppliers/kiwi-farm/keys", headers=op).json()
    revoked = c.post(f"{P}/suppliers/kiwi-farm/keys/{kid}/revoke", headers=op).json()
    assert revoked["revoked_at"] is not None
    r = record(pem, kid)
    assert r.status_code == 403 and "was revoked" in r.json()["detail"]  # type: ignore[attr-defined]
    assert record(new["private_key_pem"].encode(), new["key"]["key_id"]).status_code == 201  # type: ignore[attr-defined]
    assert c.post(f"{P}/suppliers/kiwi-farm/keys/{kid}/revoke", headers=site.auth("operator")).status_code == 200
    assert c.post(f"{P}/suppliers/other/keys/{kid}/revoke", headers=op).status_code == 404

    # Revoking the API key holds from the very next request.
    assert c.post(f"{P}/api-keys/{key.json()['key']['id']}/revoke", headers=op).json()["revoked_at"]
    r = record(new["private_key_pem"].encode(), new["key"]["key_id"])
    assert (r.status_code, r.json()["detail"]) == (401, BAD_KEY)  # type: ignore[attr-defined]
    listed = {k["id"]: k for k in c.get(f"{P}/api-keys", headers=op).json()}
    assert listed[key.json()["key"]["id"]]["revoked_at"] is not None
    assert all("secret" not in k and "hash" not in k for k in listed.values())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRADLETRACE_") and k != "DATABASE_URL"}
    proc = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_cli_revocation_reaches_the_running_api_at_once(site: Site) -> None:
    """The CLI in another process revokes; the API, which keeps the chain open, refuses next time."""
    data = str(site.settings.data_dir)
    made = cli("apikey", "create", "--role", "quality", "--name", "night shift", "--data-dir", data)
    assert made.returncode == 0, made.stderr
    key_id, secret = made.stdout.split()[2], made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert site.client.post(f"{P}/audit", headers=headers).status_code == 200
    listed = cli("apikey", "list", "--data-dir", data)
    assert key_id in listed.stdout and "night shift" in listed.stdout and secret not in listed.stdout
    assert cli("apikey", "revoke", key_id, "--data-dir", data).returncode == 0
    r = site.client.post(f"{P}/audit", headers=headers)
    assert (r.status_code, r.json()["detail"]) == (401, BAD_KEY)
    bad = cli("apikey", "create", "--role", "supplier", "--name", "x", "--data-dir", data)
    assert bad.returncode == 2 and "supplier: expected the supplier this key acts for" in bad.stderr

"""Security: nobody writes as someone else, revocation and expiry bite at once, secrets and personal
data stay out of the store, the logs, the error messages and the chain, and codes cannot be guessed.

(Who may call which endpoint, for every caller type, is tests/api/test_authorization.py.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, update

from cradletrace.api.errors import BAD_KEY
from cradletrace.api.routes.scan import RATE_LIMITED
from cradletrace.config import Settings
from cradletrace.core.labels import SERIAL_BYTES, ItemCode, serial_from_bytes
from cradletrace.store.models import Certification, EventRow, Item
from cradletrace.workspace import Workspace
from tests.api.conftest import A, B, Site, key_file, open_site, raw_milk, sign_with, signed
from tests.api.test_scan import FORMULA, JSON, LOT, packed_site, share
from tests.servers import asgi_get

P = "/api/v1"
# A parent's phone in Zurich: the reported place, its rounded form, and the city must not be readable.
ZURICH = (47.3769, 8.5417)
PLACE_TEXTS = ("47.3769", "8.5417", "[47.4, 8.5]", "Zurich", "Zürich")


def _run(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: a browser test's Playwright loop may be running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def post_events(site: Site, who: str, items: list[dict[str, Any]]) -> Any:
    return site.client.post(f"{P}/events", headers=site.auth(who), content=json.dumps(items).encode())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(Settings(data_dir=Path(tmp_path_factory.mktemp("security")) / "data")) as s:
        yield s


# -- nobody writes as someone else ------------------------------------------------------------


def test_a_supplier_never_writes_as_another_even_with_its_own_valid_signature(site: Site) -> None:
    before = site.event_count()
    key_a, pem_a = key_file(site.settings, A)
    key_b, pem_b = key_file(site.settings, B)
    b_event = signed(site.settings, raw_milk(1, B))[0]["event"]
    # B's event re-signed by A with A's own key (A's key id): a valid signature, of the wrong supplier.
    as_b_by_a = sign_with(pem_a, {**b_event, "key": key_a} if "key" in b_event else b_event)
    r = post_events(site, "supplier_a", [as_b_by_a])
    assert r.status_code == 403 and r.json()["detail"].startswith("not allowed: "), r.text
    # A's key submitting B's genuinely signed event.
    r = post_events(site, "supplier_a", signed(site.settings, raw_milk(1, B)))
    assert r.status_code == 403, r.text
    # B's key, an event naming B, but signed with A's key: the signature is not by a key of B.
    r = post_events(site, "supplier_b", [sign_with(pem_a, b_event)])
    assert r.status_code == 422, r.text
    # One foreign event in a batch of B's own refuses the whole batch.
    r = post_events(site, "supplier_b", [*signed(site.settings, raw_milk(2, B)), as_b_by_a])
    assert r.status_code in (403, 422), r.text
    assert site.event_count() == before
    assert key_b != key_a and pem_b != pem_a


def test_revoked_key_and_expired_certificate_refuse_at_once_old_events_still_verify(site: Site) -> None:
    op = site.auth("operator")
    old = site.ids["b_event"]
    presigned = signed(site.settings, raw_milk(1, B))  # signed while the key was good, sent after
    key_b, _ = key_file(site.settings, B)
    rotated = site.client.post(f"{P}/suppliers/{B}/keys", headers=op)
    assert rotated.status_code == 201, rotated.text
    assert site.client.post(f"{P}/suppliers/{B}/keys/{key_b}/revoke", headers=op).status_code == 200
    r = post_events(site, "supplier_b", presigned)
    assert r.status_code == 403 and "was revoked" in r.json()["detail"], r.text
    assert site.client.get(f"{P}/events/{old}/verify", headers=op).json()["status"] == "VALID"

    # B's certificate lapses (time passes): the next event is refused, the old ones still verify.
    fresh = signed(site.settings, raw_milk(1, B))  # with the new key
    with Workspace(site.settings) as ws, ws.session() as s:
        s.execute(
            update(Certification)
            .where(Certification.supplier_id == B)  # type: ignore[arg-type]
            .values(valid_until=date.today() - timedelta(days=1))
        )
    try:
        r = post_events(site, "supplier_b", fresh)
        assert r.status_code in (403, 422) and "expired" in r.text, r.text
        assert site.client.get(f"{P}/events/{old}/verify", headers=op).json()["status"] == "VALID"
    finally:
        with Workspace(site.settings) as ws, ws.session() as s:
            s.execute(
                update(Certification)
                .where(Certification.supplier_id == B)  # type: ignore[arg-type]
                .values(valid_until=date(2099, 12, 31))
            )
    assert post_events(site, "supplier_b", fresh).status_code == 201


def test_a_revoked_api_key_is_refused_on_its_next_request(site: Site) -> None:
    op = site.auth("operator")
    made = site.client.post(f"{P}/api-keys", headers=op, json={"name": "short-lived", "role": "quality"}).json()
    headers = {"Authorization": f"Bearer {made['secret']}"}
    assert site.client.post(f"{P}/audit", headers=headers).status_code == 200
    assert site.client.post(f"{P}/api-keys/{made['key']['id']}/revoke", headers=op).status_code == 200
    r = site.client.post(f"{P}/audit", headers=headers)
    assert r.status_code == 401 and r.json()["detail"] == BAD_KEY


# -- secrets and personal data ----------------------------------------------------------------


def dump(settings: Settings) -> str:
    """Every value of every table, as text (bytes also as hex and latin-1)."""
    out: list[str] = []
    with Workspace(settings) as ws, ws.engine.connect() as conn:
        meta = MetaData()
        meta.reflect(conn)
        assert {"event", "api_key", "scan", "supplier_key"} <= set(meta.tables)
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        raw = bytes(value)
                        out += [raw.hex(), raw.decode("latin-1")]
                    else:
                        out.append(str(value))
    return "\n".join(out)


def private_texts(pem: bytes) -> list[str]:
    """A private key as it could leak: the PEM body, the raw seed in hex and base64."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    body = "".join(pem.decode().splitlines()[1:-1])
    return [body, seed.hex(), base64.b64encode(seed).decode()]


def secrets_of(settings: Settings, api_keys: list[str], pems: list[bytes]) -> dict[str, str]:
    found = {f"API key {k[:8]}": k for k in api_keys}
    found.update(
        {f"API key secret part {k[:8]}": k.split("_", 2)[2] for k in api_keys}
    )  # ct_<id>_<secret>; the secret may hold "_"
    for pem in pems + [p.read_bytes() for p in settings.keys_dir.glob("*.pem")]:
        found.update({f"private key text {i} {t[:6]}": t for i, t in enumerate(private_texts(pem))})
    for name, file in (("location sealing key", "location.key"), ("buyer pseudonym key", "member.key")):
        if (settings.keys_dir / file).exists():
            found[name] = (settings.keys_dir / file).read_bytes().hex()
    return found


def chain_bytes(site: Site) -> list[bytes]:
    """Calldata of every transaction after the contract's deployment, and every log's topics and data."""
    anchor = site.client.app.state.runtime.chain()  # type: ignore[attr-defined]
    w3 = anchor.w3
    selectors = {bytes(w3.keccak(text=sig)[:4]) for sig in ("anchor(bytes32,uint64)", "recallNotice(bytes32,bytes32)")}
    out: list[bytes] = []
    for n in range(int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if not tx.get("to"):
                continue  # the deployment: the contract's own bytecode
            data = bytes(tx["input"] if "input" in tx else tx["data"])
            assert data[:4] in selectors and len(data) == 4 + 64, (
                f"block {n}: unexpected call {data[:4].hex()} ({len(data)} bytes)"
            )
            out.append(data)
            for entry in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                out += [bytes(t) for t in entry["topics"]] + [bytes(entry["data"])]
    return out


def test_no_secret_or_personal_data_in_store_logs_errors_or_chain(
    tmp_path: Path, database_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    answers: list[str] = []
    with caplog.at_level(logging.DEBUG), packed_site(settings, scan_rate_per_minute=0) as packs:
        site, op = packs.site, packs.site.auth("operator")
        made = site.client.post(
            f"{P}/suppliers", headers=op, json={"name": "Secret Farm", "role": "farm", "id": "secret-farm"}
        )
        pem = made.json()["private_key_pem"].encode()
        new_secret = site.client.post(f"{P}/api-keys", headers=op, json={"name": "n", "role": "operator"}).json()[
            "secret"
        ]
        scanned = site.client.get(packs.cans[0].path, headers=JSON).json()
        assert share(site.client, scanned["scans"]["scan_id"], ZURICH).status_code == 204
        again = site.client.get(packs.cans[0].path, headers=JSON).json()
        assert again["scans"]["first_elsewhere"] is False  # the location was stored (sealed) and reads back
        # Requests that fail, with secrets near them: none may come back or reach the log.
        flipped = site.secrets["operator"][:-1] + ("A" if site.secrets["operator"][-1] != "A" else "B")
        for headers in ({"Authorization": f"Bearer {flipped}"}, site.auth("revoked"), {"X-API-Key": new_secret + "x"}):
            answers.append(site.client.get(f"{P}/events", headers=headers).text)
        answers.append(site.client.post(f"{P}/events", headers=site.auth("supplier_b"), content=b"[{").text)
        answers.append(
            site.client.post(
                f"{P}/scans/{'0' * 32}/location", json={"lat": ZURICH[0], "lon": ZURICH[1], "consent": True}
            ).text
        )
        answers.append(site.client.post(f"{P}/anchor", headers=op).text)
        answers.append(site.client.get("/healthz").text)
        answers.append(site.client.get("/metrics").text)
        on_chain = chain_bytes(site)
        held = secrets_of(settings, [*site.secrets.values(), new_secret], [pem])
    stored, logged = dump(settings), caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    assert len(held) >= 20 and on_chain
    for name, value in held.items():
        assert value not in stored, f"{name} is in the store in plain text"
        assert value not in logged, f"{name} is in the log"
        assert not any(value in a for a in answers), f"{name} came back in an answer"
        assert not any(value.encode() in b for b in on_chain), f"{name} is on chain"
    for text in PLACE_TEXTS:
        assert text not in stored, f"consumer location {text!r} is in the store"
        assert text not in logged, f"consumer location {text!r} is in the log"
        assert not any(text.encode() in b for b in on_chain)
    # Nothing readable on chain at all: event bodies, names and places stay off it.
    with Workspace(settings) as ws, ws.session() as s:
        bodies = [r.body for r in s.exec(select(EventRow)).scalars()]  # type: ignore[call-overload]
    words = {
        w for body in bodies for w in json.loads(body)["data"].get("site", {}).get("address", "").split() if len(w) > 4
    }
    assert words and not any(w.encode() in b for w in words for b in on_chain)


# -- code enumeration ------------------------------------------------------------------------


def _get(app: Any, path: str, headers: dict[str, str]) -> Any:
    return asgi_get(app, path, headers, client="203.0.113.7")


def test_random_codes_find_nothing_and_the_rate_limit_bites(tmp_path: Path) -> None:
    rate = 120
    with packed_site(Settings(data_dir=tmp_path / "data"), scan_rate_per_minute=rate) as packs:
        app, issued = packs.client.app, {c.serial for c in packs.cans}
        guesses = [serial_from_bytes(secrets.token_bytes(SERIAL_BYTES)) for _ in range(10_000)]
        assert not issued & set(guesses)

        async def run() -> list[tuple[int, dict[str, str], bytes]]:
            out = []
            for i in range(0, len(guesses), 50):
                out += await asyncio.gather(
                    *(_get(app, ItemCode(FORMULA, LOT, g).path, JSON) for g in guesses[i : i + 50])
                )
            return out

        started = time.monotonic()
        answers = _run(run())
        elapsed = time.monotonic() - started
        statuses = {s: sum(1 for a in answers if a[0] == s) for s in {a[0] for a in answers}}
        assert set(statuses) == {404, 429}, statuses  # nothing found, and the limit bites
        # A fresh address may spend a minute's worth at once, then ``rate`` per minute.
        assert statuses[404] <= rate + elapsed * rate / 60 + 1, (statuses, elapsed)
        limited = next(a for a in answers if a[0] == 429)
        assert json.loads(limited[2])["detail"] == RATE_LIMITED and int(limited[1]["retry-after"]) >= 1
        # Even a real code is refused to that address now; another address still gets its answer.
        assert _run(_get(app, packs.cans[1].path, JSON))[0] == 429
        assert packs.client.get(packs.cans[1].path, headers=JSON).status_code == 200
        # The same 10 000 guesses straight against the store (the endpoint's lookup): no hit either.
        with Workspace(packs.settings) as ws, ws.session() as s:
            assert s.exec(select(Item.serial).where(Item.serial.in_(guesses))).all() == []  # type: ignore[attr-defined,call-overload]


def test_a_refused_setting_names_itself_but_never_echoes_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in a secret-bearing setting must not print the secret into a start-up error or a log."""
    from pydantic import ValidationError

    from cradletrace.config import Settings

    secret = "0x" + "ab" * 31 + "zz-secret-value"
    monkeypatch.setenv("CRADLETRACE_RPC_RETRIES", secret)
    with pytest.raises(ValidationError) as refused:
        Settings()
    text = str(refused.value)
    assert "rpc_retries" in text
    assert secret not in text and "zz-secret" not in text

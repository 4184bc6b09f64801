"""The real ``cradletrace`` console script, run as a clerk would run it.

The embedded chain file is locked by one process at a time, so commands run one after
another. One module-scoped data directory carries the story (init, suppliers, a refused file,
a recorded file, an anchor); the tests read what those commands printed and go on from there.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cradletrace import suppliers
from cradletrace.config import Settings
from cradletrace.demo import FORMULA, MILK, story
from cradletrace.workspace import Workspace
from tests.conftest import SUPPLIERS

CLI = Path(sys.executable).parent / "cradletrace"
DATA = "data"  # relative to the working directory, as a clerk would type it


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script; whatever happens, no Python traceback may reach the user."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRADLETRACE_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [str(CLI), *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120
    )
    tail = "\n".join(proc.stderr.splitlines()[-3:])
    assert "Traceback" not in proc.stderr + proc.stdout, (
        f"cradletrace {' '.join(args)} printed a traceback ending:\n{tail}"
    )
    return proc


def event_count(cwd: Path) -> int:
    with sqlite3.connect(cwd / DATA / "cradletrace.sqlite") as db:
        return int(db.execute("select count(*) from event where kind <> 'key'").fetchone()[0])  # suppliers' events


@dataclass
class Site:
    cwd: Path
    init: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    supplier_add: subprocess.CompletedProcess[str] | None = None
    products: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    record_bad: subprocess.CompletedProcess[str] | None = None
    events_after_bad: int = -1
    anchor_after_bad: subprocess.CompletedProcess[str] | None = None
    anchor_keys: subprocess.CompletedProcess[str] | None = None
    record_good: subprocess.CompletedProcess[str] | None = None
    anchor: subprocess.CompletedProcess[str] | None = None
    ids: dict[str, str] = field(default_factory=dict)  # "FAIL", "PASS", "batch" -> event id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    assert CLI.exists(), CLI
    site = Site(tmp_path_factory.mktemp("clerk"))
    cwd = site.cwd
    site.init = [run(cwd, "init", "--data-dir", DATA), run(cwd, "init", "--data-dir", DATA)]
    sid, name, role, cert = SUPPLIERS[0]
    site.supplier_add = run(
        cwd, "supplier", "add", "--name", name, "--role", role, "--cert", cert, "--id", sid, "--data-dir", DATA
    )
    with Workspace(Settings(data_dir=cwd / DATA)) as ws, ws.session() as s:  # the other three without a process each
        for sid, name, role, cert in SUPPLIERS[1:]:
            suppliers.add_supplier(s, ws.settings.keys_dir, name, role, [suppliers.CertificationIn.parse(cert)], sid)
    # The products and who may speak for them, as the README has the operator register them.
    site.products = [
        run(cwd, "product", "add", MILK, "--owner", "waikato-dairy", "--name", "Raw cow's milk", "--data-dir", DATA),
        run(
            cwd, "product", "add", FORMULA, "--owner", "alps-nutrition", "--name", "Stage 1 formula", "--data-dir", DATA
        ),
        run(cwd, "product", "name", FORMULA, "canterbury-lab", "--as", "lab", "--data-dir", DATA),
        run(cwd, "product", "name", FORMULA, "pacific-cold", "--as", "carrier", "--data-dir", DATA),
    ]

    events = story(datetime.now(UTC))
    (cwd / "good.json").write_text(json.dumps(events, indent=2, ensure_ascii=False), "utf-8")
    bad = copy.deepcopy(events)  # one bad event, the logger's, with two problems
    bad[6]["data"]["readings"][0]["at"] = bad[6]["data"]["readings"][0]["at"][:19]
    bad[6]["data"]["readings"][3]["c"] = 250
    (cwd / "bad.json").write_text(json.dumps(bad, indent=2), "utf-8")

    site.anchor_keys = run(cwd, "anchor", "--data-dir", DATA)  # the key log's records of the suppliers' keys
    site.record_bad = run(cwd, "record", "bad.json", "--sign", "--data-dir", DATA)
    site.events_after_bad = event_count(cwd)
    site.anchor_after_bad = run(cwd, "anchor", "--data-dir", DATA)
    site.record_good = run(cwd, "record", "good.json", "--sign", "--data-dir", DATA)
    site.anchor = run(cwd, "anchor", "--data-dir", DATA)
    for line in site.record_good.stdout.splitlines():
        m = re.match(r"event (\d+)\s+(\w+)", line)
        if m:
            site.ids[line.split()[-1] if line.endswith(("PASS", "FAIL", "EXCURSION")) else m.group(2)] = m.group(1)
    return site


def test_init_twice_is_harmless_and_keeps_the_contract(site: Site) -> None:
    first, second = site.init
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    contracts = [re.search(r"contract (0x[0-9a-fA-F]{40})", p.stdout) for p in site.init]
    assert all(contracts) and contracts[0].group(1) == contracts[1].group(1)  # type: ignore[union-attr]
    assert "local development chain" in first.stdout


def test_supplier_add_prints_the_private_key_path(site: Site) -> None:
    assert site.supplier_add is not None and site.supplier_add.returncode == 0, site.supplier_add
    m = re.search(r"private key: (\S+\.pem)", site.supplier_add.stdout)
    assert m, site.supplier_add.stdout
    path = site.cwd / m.group(1)
    assert path.name.startswith("waikato-dairy.") and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_supplier_register_key_keeps_no_private_key(site: Site) -> None:
    from cradletrace.core import signing

    pair = signing.generate_key_pair()
    public = base64.b64encode(pair.public_key).decode()
    ok = run(site.cwd, "supplier", "register-key", "waikato-dairy", public, "--data-dir", DATA)
    assert ok.returncode == 0 and pair.key_id in ok.stdout, ok.stderr
    assert not list(site.cwd.rglob(f"*{pair.key_id}*.pem"))
    again = run(site.cwd, "supplier", "register-key", "waikato-dairy", public, "--data-dir", DATA)
    assert again.returncode == 2 and again.stderr.startswith("error: public_key: expected a key not registered yet")


def test_products_are_registered_and_listed(site: Site) -> None:
    assert [p.returncode for p in site.products] == [0, 0, 0, 0], [p.stderr for p in site.products]
    assert site.products[0].stdout == f"product {MILK} (Raw cow's milk) registered to waikato-dairy\n"
    assert site.products[2].stdout == f"canterbury-lab is lab of {FORMULA} (every lot)\n"
    listed = run(site.cwd, "product", "list", "--data-dir", DATA)
    assert listed.returncode == 0 and listed.stdout.splitlines() == [
        f"{MILK}  owner waikato-dairy  Raw cow's milk",
        f"{FORMULA}  owner alps-nutrition  Stage 1 formula",
        "    lab      canterbury-lab  every lot",
        "    carrier  pacific-cold  every lot",
    ]
    again = run(site.cwd, "product", "add", MILK, "--owner", "alps-nutrition", "--name", "Mine now", "--data-dir", DATA)
    assert again.returncode == 2 and again.stderr == (
        f"error: gtin: expected a GTIN not registered yet, got {MILK} which belongs to 'waikato-dairy'\n"
    )


def test_record_of_another_brands_goods_is_refused_and_stores_nothing(site: Site) -> None:
    """Signed with the lab's own key, but the farm never assigned it its raw milk: refused (custody.py)."""
    report = copy.deepcopy(story(datetime.now(UTC))[4])  # the failing one: it would hold RM-A1
    report["data"]["batch"] = {"gtin": MILK, "lot": "RM-A1"}  # type: ignore[index]
    (site.cwd / "rival.json").write_text(json.dumps([report]), "utf-8")
    before = event_count(site.cwd)
    p = run(site.cwd, "record", "rival.json", "--sign", "--data-dir", DATA)
    assert p.returncode != 0
    assert (
        f"events[0]: supplier 'canterbury-lab' may not report on lot {MILK}/RM-A1: expected a lab its owner "
        "('waikato-dairy') assigned to it, or an official lab the operator designated"
    ) in p.stderr, p.stderr
    assert event_count(site.cwd) == before
    assert "RM-A1" not in run(site.cwd, "hold", "list", "--data-dir", DATA).stdout


def test_record_of_a_bad_file_names_each_problem_and_stores_nothing(site: Site) -> None:
    p = site.record_bad
    assert p is not None and p.returncode == 2, p
    lines = p.stderr.splitlines()
    assert lines[0] == "error: 2 problems, nothing was stored:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "events[6].data.readings[0].at",
        "events[6].data.readings[3].c",
    ]
    assert all("expected" in line for line in lines[1:])
    assert site.events_after_bad == 0
    assert site.anchor_after_bad is not None and site.anchor_after_bad.stdout.strip() == "nothing pending"


def test_record_sign_then_anchor(site: Site) -> None:
    assert site.record_good is not None and site.record_good.returncode == 0, site.record_good.stderr
    out = site.record_good.stdout
    assert len(re.findall(r"^event \d+ ", out, re.M)) == 7
    assert out.count("PASS") == 1 and out.count("FAIL") == 1 and out.count("EXCURSION") == 1
    assert "recorded 7 events" in out
    assert site.anchor is not None and site.anchor.returncode == 0
    assert site.anchor.stdout.startswith("anchored 7 events: root 0x")


def test_verify_an_anchored_event(site: Site) -> None:
    p = run(site.cwd, "verify", site.ids["PASS"], "--data-dir", DATA)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "VALID"
    assert "local development chain" in p.stdout


def test_proof_bundle_verifies_with_the_chain_alone_and_catches_an_edit(site: Site, tmp_path: Path) -> None:
    p = run(site.cwd, "proof", site.ids["FAIL"], "--data-dir", DATA)
    assert p.returncode == 0, p.stderr
    (tmp_path / "bundle.json").write_text(p.stdout, "utf-8")
    chain_only = tmp_path / "chain-only"  # the chain file, and no store at all
    chain_only.mkdir()
    shutil.copy(site.cwd / DATA / "chain.sqlite", chain_only / "chain.sqlite")

    ok = run(tmp_path, "verify-bundle", "bundle.json", "--data-dir", str(chain_only))
    assert (ok.returncode, ok.stdout.splitlines()[0]) == (0, "VALID"), ok.stdout + ok.stderr
    assert not (chain_only / "cradletrace.sqlite").exists()

    bundle = json.loads(p.stdout)
    event = json.loads(base64.b64decode(bundle["bytes"]))
    event["data"]["analytes"][0]["value"] = 0  # "not detected"
    bundle["bytes"] = base64.b64encode(json.dumps(event).encode()).decode()
    (tmp_path / "edited.json").write_text(json.dumps(bundle), "utf-8")
    bad = run(tmp_path, "verify-bundle", "edited.json", "--data-dir", str(chain_only))
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0] == "INVALID" and "content changed" in bad.stdout


def test_a_row_edited_in_the_database_is_caught_by_verify_and_audit(site: Site) -> None:
    eid = site.ids["FAIL"]
    with sqlite3.connect(site.cwd / DATA / "cradletrace.sqlite") as db:
        (body,) = db.execute("select body from event where id = ?", (eid,)).fetchone()
        forged = body.replace('"value":1', '"value":0')
        assert forged != body
        db.execute("update event set body = ? where id = ?", (forged, eid))
    try:
        v = run(site.cwd, "verify", eid, "--data-dir", DATA)
        assert v.returncode == 1
        assert v.stdout.splitlines()[0] == "INVALID" and "content changed" in v.stdout

        a = run(site.cwd, "audit", "--data-dir", DATA)
        assert a.returncode == 1
        assert re.search(rf"^event {eid} \(.*content changed", a.stdout, re.M), a.stdout
        assert not re.search(rf"^event (?!{eid} )\d+ ", a.stdout, re.M), a.stdout  # only the edited one
    finally:
        with sqlite3.connect(site.cwd / DATA / "cradletrace.sqlite") as db:
            db.execute("update event set body = ? where id = ?", (body, eid))


def _write(cwd: Path, name: str, content: bytes) -> str:
    (cwd / name).write_bytes(content)
    return name


def _mangled_bundle(cwd: Path) -> str:
    """A bundle someone "tidied up" by hand: every key there, the chain block replaced by a note."""
    zero = "0x" + "00" * 32
    bundle = {
        "format": "cradletrace-proof-bundle/1",
        "event": {},
        "digest": zero,
        "signature": "",
        "supplier": {},
        "proof": [],
        "root": zero,
        "leaf_count": 1,
        "chain": "local development chain",
    }
    return _write(cwd, "mangled-bundle.json", json.dumps(bundle).encode())


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        pytest.param(
            lambda cwd: ["record", "no-such-file.json", "--data-dir", DATA], "no-such-file.json", id="missing file"
        ),
        pytest.param(
            lambda cwd: [
                "record",
                _write(cwd, "dup.json", b'{"kind": "batch", "kind": "shipment"}'),
                "--sign",
                "--data-dir",
                DATA,
            ],
            "each key once",
            id="duplicate key",
        ),
        pytest.param(lambda cwd: ["record", ".", "--data-dir", DATA], "directory", id="a directory instead of a file"),
        pytest.param(lambda cwd: ["verify", "999", "--data-dir", DATA], "not in the store", id="unknown event id"),
        pytest.param(
            lambda cwd: ["verify-bundle", _mangled_bundle(cwd), "--data-dir", DATA],
            "chain",
            id="bundle in the wrong shape",
        ),
        pytest.param(
            lambda cwd: [
                "supplier",
                "add",
                "--name",
                "Tasman",
                "--role",
                "farm",
                "--cert",
                "GAP;1;X;31/12/2027",
                "--data-dir",
                DATA,
            ],
            "cert.valid_until",
            id="day-first certificate date",
        ),
        pytest.param(lambda cwd: ["verify", "1", "--data-dir", "dta"], "init", id="mistyped data directory"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2_never_a_traceback(site: Site, make_args: object, message: str) -> None:
    args = make_args(site.cwd)  # type: ignore[operator]
    p = run(site.cwd, *args)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith("error: ") and message in p.stderr, p.stderr


def test_demo_tells_the_story_in_nine_steps(tmp_path: Path) -> None:
    p = run(tmp_path, "demo", "--data-dir", "demo")
    assert p.returncode == 0, p.stderr
    steps = [int(m) for m in re.findall(r"^  (\d)\. ", p.stdout, re.M)]
    assert steps == list(range(1, 10)), p.stdout
    assert "local development chain" in p.stdout
    assert re.search(r"^  7\. verified 8/8 events VALID.*all consistent", p.stdout, re.M)
    assert re.search(r"^a parent scans: https://\S+/01/\d{14}/10/IF-0001/21/[0-9A-Z]{16}$", p.stdout, re.M), p.stdout
    assert re.search(r"^  8\. .*INVALID", p.stdout, re.M)
    assert re.search(r"^  9\. .*: VALID$", p.stdout, re.M)


@pytest.mark.postgres
def test_the_same_commands_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    init = run(tmp_path, "init", "--data-dir", DATA, "--database-url", postgres_url)
    assert init.returncode == 0, init.stderr
    assert "store: postgresql" in init.stdout
    on_pg = {"DATABASE_URL": postgres_url}  # the rest take the store from the environment
    sid, name, role, cert = SUPPLIERS[0]
    add = run(
        tmp_path,
        "supplier",
        "add",
        "--name",
        name,
        "--role",
        role,
        "--cert",
        cert,
        "--id",
        sid,
        "--data-dir",
        DATA,
        env=on_pg,
    )
    assert add.returncode == 0, add.stderr
    product = run(
        tmp_path, "product", "add", MILK, "--owner", sid, "--name", "Raw cow's milk", "--data-dir", DATA, env=on_pg
    )
    assert product.returncode == 0, product.stderr
    (tmp_path / "milk.json").write_text(json.dumps(story(datetime.now(UTC))[:2]), "utf-8")
    rec = run(tmp_path, "record", "milk.json", "--sign", "--data-dir", DATA, env=on_pg)
    assert rec.returncode == 0 and "recorded 2 events" in rec.stdout, rec.stderr
    assert not (tmp_path / DATA / "cradletrace.sqlite").exists()
    anchored = run(tmp_path, "anchor", "--data-dir", DATA, env=on_pg)
    # the two events and the key log's records of the supplier's key and of its own
    assert anchored.stdout.startswith("anchored 4 events"), anchored.stdout + anchored.stderr
    eid = re.findall(r"^event (\d+) ", rec.stdout, re.M)[-1]
    v = run(tmp_path, "verify", eid, "--data-dir", DATA, env=on_pg)
    assert (v.returncode, v.stdout.splitlines()[0]) == (0, "VALID"), v.stdout + v.stderr


def test_status_counts_events_and_the_last_root(site: Site) -> None:
    p = run(site.cwd, "status", "--data-dir", DATA)
    assert p.returncode == 0, p.stderr
    assert "suppliers: 4" in p.stdout
    assert re.search(r"^events test_report +2$", p.stdout, re.M), p.stdout
    with sqlite3.connect(site.cwd / DATA / "cradletrace.sqlite") as db:  # keys registered by earlier tests
        keys = db.execute("select count(*) from event where anchor_id is null and kind = 'key'").fetchone()[0]
    assert f"pending (not yet anchored): {keys}" in p.stdout  # every event of the suppliers is anchored
    assert re.search(r"^last root: 0x[0-9a-f]{16}… 7 events, block \d+", p.stdout, re.M), p.stdout


def test_sign_with_a_replacement_limits_table_signs_its_limit(site: Site) -> None:
    table = {
        "limits": [
            {
                "name": "lead",
                "category": "heavy_metal",
                "unit": "mg/kg",
                "max": 0.003,
                "source": "stricter in-house limit for this test",
            }
        ]
    }
    (site.cwd / "strict.json").write_text(json.dumps(table), "utf-8")
    report = copy.deepcopy(story(datetime.now(UTC))[3])
    report["data"]["analytes"] = report["data"]["analytes"][:1]  # lead 0.004 mg/kg, no limit given
    (site.cwd / "report.json").write_text(json.dumps(report), "utf-8")
    p = run(site.cwd, "sign", "report.json", "--limits", "strict.json", "--data-dir", DATA)
    assert p.returncode == 0, p.stderr
    signed = json.loads(p.stdout)
    assert signed[0]["event"]["data"]["analytes"][0]["limit"] == 0.003
    missing = run(site.cwd, "sign", "report.json", "--limits", "nowhere.json", "--data-dir", DATA)
    assert missing.returncode == 2 and "nowhere.json" in missing.stderr


def test_supplier_official_lab_designates_a_lab_and_only_a_lab(site: Site) -> None:
    on = run(site.cwd, "supplier", "official-lab", "canterbury-lab", "--data-dir", DATA)
    assert (on.returncode, on.stdout) == (0, "canterbury-lab is an official lab\n"), on.stderr
    assert (
        "canterbury-lab  lab        Canterbury Food Lab  (official lab)"
        in run(site.cwd, "supplier", "list", "--data-dir", DATA).stdout
    )
    off = run(site.cwd, "supplier", "official-lab", "canterbury-lab", "--off", "--data-dir", DATA)
    assert (off.returncode, off.stdout) == (0, "canterbury-lab is no longer an official lab\n"), off.stderr
    carrier = run(site.cwd, "supplier", "official-lab", "pacific-cold", "--data-dir", DATA)
    assert carrier.returncode == 2 and carrier.stderr == (
        "error: official_lab: expected a supplier with role lab, got 'pacific-cold' with role 'logistics'\n"
    )

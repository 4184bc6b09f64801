"""Data files are the owner's alone: folders 0700, files 0600, after init and after the first
writes (SQLite's -wal and -shm files take the database file's mode), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cradletrace.config import Settings
from cradletrace.sealing import load_or_create_key
from cradletrace.store.db import SQLITE_NAME
from cradletrace.workspace import init_workspace
from tests.anchoring.test_anchoring import add_suppliers, anchor, record_into


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files 0644 unless made otherwise
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_data_files_are_private_after_init_and_after_writes(
    open_umask: None, tmp_path: Path, database_url: str | None, events
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "deep" / "data", database_url=database_url)
    ws, _ = init_workspace(settings)
    with ws:
        expected = {".", "keys", "chain.sqlite"} | ({SQLITE_NAME} if database_url is None else set())
        modes = _modes(settings.data_dir)
        assert expected <= set(modes)
        add_suppliers(ws)
        record_into(ws, events)  # the first writes to the store
        anchor(ws)  # and to the chain
        load_or_create_key(settings.keys_dir / "location.key")
        modes = _modes(settings.data_dir)
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700
    if database_url is None:
        assert {f"{SQLITE_NAME}-wal", f"{SQLITE_NAME}-shm"} <= set(modes), modes
    assert "keys/location.key" in modes and any(name.endswith(".pem") for name in modes)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (settings.data_dir / name).is_dir() else 0o600)
    }
    assert wrong == {}, wrong


def test_init_again_takes_group_and_other_bits_off_an_old_store(open_umask: None, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_workspace(settings)[0].close()
    for name in (SQLITE_NAME, "chain.sqlite"):
        os.chmod(settings.data_dir / name, 0o644)  # as an older version left them
    init_workspace(settings)[0].close()
    assert {
        name: oct(stat.S_IMODE((settings.data_dir / name).stat().st_mode)) for name in (SQLITE_NAME, "chain.sqlite")
    } == {SQLITE_NAME: "0o600", "chain.sqlite": "0o600"}

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cradletrace.errors import ConfigError, InvalidInputError
from cradletrace.sealing import Sealer, load_or_create_key


@pytest.mark.parametrize("algorithm", ["aes-256-gcm", "sm4-gcm"])
def test_sealed_values_open_only_with_the_same_key_and_row(algorithm: str) -> None:
    key = os.urandom(32)
    sealed = Sealer(key, algorithm).seal("上海市".encode(), b"scan:42")
    assert "上海市".encode() not in sealed
    assert Sealer(key, algorithm).open(sealed, b"scan:42") == "上海市".encode()
    with pytest.raises(InvalidInputError, match="does not open"):
        Sealer(key, algorithm).open(sealed, b"scan:43")  # moved to another row
    with pytest.raises(InvalidInputError, match="does not open"):
        Sealer(os.urandom(32), algorithm).open(sealed, b"scan:42")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(InvalidInputError):
        Sealer(key, algorithm).open(bytes(flipped), b"scan:42")


def test_two_seals_of_the_same_value_differ() -> None:
    s = Sealer(os.urandom(32))
    assert s.seal(b"Hangzhou") != s.seal(b"Hangzhou")


def test_key_file_is_created_0600_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sealing.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert load_or_create_key(path, "11" * 32) == b"\x11" * 32


@pytest.mark.parametrize(
    ("key", "algorithm", "message"), [(b"short", "aes-256-gcm", "32 bytes"), (b"k" * 32, "des", "expected one of")]
)
def test_bad_keys_and_algorithms_are_refused(key: bytes, algorithm: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sealer(key, algorithm)

"""Encryption at rest for personal data (consumer scan locations, supplier contacts).

AES-256-GCM by default; SM4-GCM (GB/T 32907, the Chinese national standard block cipher) when
asked for. The key lives in a 0600 file in the data directory's keys folder (or comes from the
environment), never in the database. A sealed value is ``alg(1) | nonce(12) | ciphertext+tag``:
its length is the plaintext's, so callers pad what they seal to a fixed size (scan/history.py).

The same key, through a derived one, makes pseudonyms: a keyed hash (HMAC-SHA256) that stands
for a personal value (a scanning client's address and browser) where only sameness matters.
Without the key it can be neither reversed nor tried against guesses, as a plain or salted
hash of an IP address can (there are only 2^32 of those).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cradletrace.errors import ConfigError, InvalidInputError, Problem
from cradletrace.private import private_dir

AES, SM4 = 1, 2
ALGORITHMS = {"aes-256-gcm": AES, "sm4-gcm": SM4}


class Sealer:
    """Seals and opens small values with one key; ``associated`` binds a value to its row."""

    def __init__(self, key: bytes, algorithm: str = "aes-256-gcm") -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"sealing algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
        self.alg = ALGORITHMS[algorithm]
        if len(key) != 32:
            raise ConfigError(f"sealing key: expected 32 bytes, got {len(key)}")
        self._aes = AESGCM(key)
        self._sm4_key = key[:16]
        self._pseudonym_key = hmac.new(key, b"cradletrace pseudonym v1", hashlib.sha256).digest()

    def pseudonym(self, value: bytes) -> str:
        """The keyed hash of ``value`` (32 hex digits, 128 bits): equal values, equal pseudonyms."""
        return hmac.new(self._pseudonym_key, value, hashlib.sha256).hexdigest()[:32]

    def seal(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        if self.alg == AES:
            return bytes([AES]) + nonce + self._aes.encrypt(nonce, plaintext, associated)
        enc = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated)
        body = enc.update(plaintext) + enc.finalize()
        return bytes([SM4]) + nonce + body + enc.tag

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        if len(sealed) < 1 + 12 + 16:
            raise InvalidInputError(Problem("sealed", f"expected at least 29 bytes, got {len(sealed)}"))
        alg, nonce, body = sealed[0], sealed[1:13], sealed[13:]
        try:
            if alg == AES:
                return self._aes.decrypt(nonce, body, associated)
            if alg == SM4:
                dec = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce, body[-16:])).decryptor()
                dec.authenticate_additional_data(associated)
                return dec.update(body[:-16]) + dec.finalize()
        except InvalidTag:
            raise InvalidInputError(
                Problem("sealed", "expected a value sealed with this key; it does not open")
            ) from None
        raise InvalidInputError(Problem("sealed", f"expected algorithm 1 or 2, got {alg}"))


def load_or_create_key(path: Path, env_value: str | None = None) -> bytes:
    """The sealing key: from the environment (hex), else from ``path`` (created 0600 if absent)."""
    if env_value:
        try:
            key = bytes.fromhex(env_value)
        except ValueError:
            raise ConfigError("sealing key from the environment: expected 64 hex digits") from None
        return key
    if path.exists():
        return path.read_bytes()
    private_dir(path.parent)
    # Workers of one server start together: the key is written whole beside its place and
    # linked in, so a second worker finds either no key or all of it, and uses the winner's.
    staging = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32))
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
    return path.read_bytes()

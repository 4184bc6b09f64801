"""Ed25519 supplier signatures over an event's canonical bytes.

A key is named by its id: the first 16 hex digits of SHA-256 over the raw 32-byte public
key, so an event can say which key signed it and a swapped public key is noticed.

One verification rule everywhere (recording, verify, audit, bundles): libsodium's strict
check, which refuses small-order public keys and R values and non-canonical S. OpenSSL alone
accepts more: under the identity key the signature R = identity, S = 0 verifies for every
message, so a supplier holding such a key could sign anything and later disown all of it.
Registration refuses such keys outright (``public_key_problem``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from cradletrace.errors import InvalidInputError, Problem


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    """A supplier's key pair; ``private_pem`` belongs in a 0600 file, never in the database."""

    private_pem: bytes
    public_key: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


def generate_key_pair() -> KeyPair:
    private = Ed25519PrivateKey.generate()
    return KeyPair(
        private_pem=private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        public_key=private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(Problem("key", "expected an unencrypted PEM Ed25519 private key")) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInputError(Problem("key", f"expected an Ed25519 private key, got {type(key).__name__}"))
    return key


def public_key_of(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(private: Ed25519PrivateKey, message: bytes) -> str:
    """Base64 (standard alphabet, padded) Ed25519 signature of ``message``."""
    return base64.b64encode(private.sign(message)).decode("ascii")


def decode_b64(text: str, where: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInputError(Problem(where, "expected base64 text")) from None
    if len(raw) != length:
        raise InvalidInputError(Problem(where, f"expected {length} bytes once base64-decoded, got {len(raw)}"))
    return raw


def verify_signature(public_key: bytes, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid signature of ``message`` by ``public_key``.

    libsodium (PyNaCl) alone decides: ~40 µs a check, and it lets go of the GIL, so audit
    threads verify on every core. It uses the cofactorless RFC 8032 equation and refuses
    small-order and non-canonical keys and R, and S >= L; its no is final (OpenSSL, asked
    again, would accept R = identity, S = 0 under the identity key for any message).
    """
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    if len(public_key) != 32 or len(sig) != 64:
        return False
    try:
        crypto_sign_open(sig + message, public_key)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


# -- public keys ----------------------------------------------------------------------------
# Edwards25519 (RFC 8032 5.1): -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), base point order L.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_L = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int]
_IDENTITY: _Point = (0, 1)


def _add(a: _Point, b: _Point) -> _Point:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, _P) % _P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P)


def _times(n: int, point: _Point) -> _Point:
    out = _IDENTITY
    while n:
        if n & 1:
            out = _add(out, point)
        point, n = _add(point, point), n >> 1
    return out


def public_key_problem(public_key: bytes) -> str | None:
    """None when ``public_key`` is a canonical encoding of a point of prime order L, else why not.

    Refused: y >= p or x = 0 with the sign bit set (non-canonical encodings, which other
    implementations read differently), points not on the curve, the 8 points of small order
    (the identity among them: R = identity, S = 0 verifies for every message under it) and
    points with a small-order component (their signatures depend on the verifier's equation).
    A key made by any Ed25519 implementation from a private key is never refused.
    """
    if len(public_key) != 32:
        return f"expected 32 bytes, got {len(public_key)}"
    y = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    sign = public_key[31] >> 7
    if y >= _P:
        return "expected a canonical point encoding, got y >= 2^255 - 19 (non-canonical)"
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if x * x % _P != x2:
        x = x * _SQRT_M1 % _P
    if x * x % _P != x2:
        return "expected a point on the Ed25519 curve, got an encoding of none"
    if x == 0 and sign:
        return "expected a canonical point encoding, got x = 0 with the sign bit set (non-canonical)"
    if x & 1 != sign:
        x = _P - x
    point = (x, y)
    if _times(8, point) == _IDENTITY:
        return (
            "expected a point of prime order, got one of the 8 points of small order (with such a key "
            "one signature verifies for every message)"
        )
    if _times(_L, point) != _IDENTITY:
        return "expected a point of prime order, got one with a small-order component"
    return None

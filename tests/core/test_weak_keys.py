"""Weak Ed25519 public keys are refused and one strict verification rule decides.

Vectors are typed in as hex with their source:

* RFC 8032, section 7.1, TEST 1-3 (Ed25519): secret key, public key, message, signature.
* The small-order and non-canonical point encodings libsodium refuses
  (``ge25519_has_small_order``'s blocklist in ``src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c``,
  and Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020, table of small-order points).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_add, crypto_core_ed25519_is_valid_point

from cradletrace.core import signing

RFC8032 = [  # (secret key, public key, message, signature), RFC 8032 7.1 TEST 1, 2, 3
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

SMALL_ORDER = [  # the 8 points of order 1, 2, 4, 8 in their canonical encodings
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (order 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1), order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]
NON_CANONICAL = [
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity, x = 0 with sign bit
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # (0, -1), x = 0 with sign bit
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p (reads as 0)
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1 (reads as the identity)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = 2^255 - 1
]
NOT_ON_CURVE = "0200000000000000000000000000000000000000000000000000000000000000"  # y = 2 has no x


def _openssl_says(public: bytes, message: bytes, sig: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_still_verify(secret: str, public: str, message: str, signature: str) -> None:
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert signing.public_key_of(private) == pub and private.sign(msg) == sig  # the vector is typed right
    assert signing.public_key_problem(pub) is None
    assert signing.verify_signature(pub, msg, base64.b64encode(sig).decode()) is True
    assert signing.verify_signature(pub, msg + b"x", base64.b64encode(sig).decode()) is False
    flipped = bytearray(sig)
    flipped[63] |= 0x20  # S + a multiple of 2^253: S >= L, non-canonical
    assert signing.verify_signature(pub, msg, base64.b64encode(bytes(flipped)).decode()) is False


@pytest.mark.parametrize("encoding", SMALL_ORDER)
def test_small_order_keys_are_refused(encoding: str) -> None:
    problem = signing.public_key_problem(bytes.fromhex(encoding))
    assert problem is not None and "small order" in problem
    assert not crypto_core_ed25519_is_valid_point(bytes.fromhex(encoding))  # libsodium agrees


@pytest.mark.parametrize("encoding", NON_CANONICAL)
def test_non_canonical_keys_are_refused(encoding: str) -> None:
    problem = signing.public_key_problem(bytes.fromhex(encoding))
    assert problem is not None and "non-canonical" in problem
    assert not crypto_core_ed25519_is_valid_point(bytes.fromhex(encoding))


def test_off_curve_and_mixed_order_keys_are_refused_and_real_keys_never() -> None:
    assert "on the Ed25519 curve" in str(signing.public_key_problem(bytes.fromhex(NOT_ON_CURVE)))
    assert "expected 32 bytes" in str(signing.public_key_problem(b"\x01" * 31))
    for _ in range(50):
        public = signing.generate_key_pair().public_key
        assert signing.public_key_problem(public) is None
        mixed = crypto_core_ed25519_add(public, bytes.fromhex(SMALL_ORDER[4]))
        assert "small-order component" in str(signing.public_key_problem(mixed))


def test_identity_key_forgery_verifies_nowhere() -> None:
    """R = identity, S = 0 under the identity key: OpenSSL says yes for any message; we say no."""
    identity = bytes.fromhex(SMALL_ORDER[0])
    sig = identity + bytes(32)
    for message in (b"any event", b"another event"):
        assert _openssl_says(identity, message, sig) is True  # what the old fallback accepted
        assert signing.verify_signature(identity, message, base64.b64encode(sig).decode()) is False
    for encoding in SMALL_ORDER + NON_CANONICAL:  # no small-order R either, under a real key
        public = signing.generate_key_pair().public_key
        forged = bytes.fromhex(encoding) + bytes(32)
        assert signing.verify_signature(public, b"m", base64.b64encode(forged).decode()) is False

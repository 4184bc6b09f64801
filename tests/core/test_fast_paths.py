"""The audit's fast paths give exactly the answers of the plain ones: ``ProofWalker`` against
``process_proof`` (shared walks, tampered and malformed proofs), and ``verify_signature``
(libsodium alone, whose no is final)."""

from __future__ import annotations

import base64
import hashlib

from cradletrace.core import signing
from cradletrace.core.merkle import ProofWalker, build_tree, process_proof


def _plain_root(digest_hex: str, proof: str | None) -> bytes:
    """The audit's former per-event computation."""
    try:
        return process_proof(bytes.fromhex(digest_hex), [bytes.fromhex(p) for p in proof.split(",")] if proof else [])
    except ValueError:
        return b""


def test_proof_walker_gives_process_proofs_root_for_good_tampered_and_malformed_proofs() -> None:
    digests = [hashlib.sha256(f"event-{i}".encode()).digest() for i in range(300)]
    tree = build_tree(digests)
    cases: list[tuple[str, str | None]] = []
    for i, d in enumerate(digests):
        proof = ",".join(p.hex() for p in tree.proof(d))
        cases.append((d.hex(), proof))
        if i % 7 == 0:  # the same leaf again with its top sibling changed: the shared walk must not hide it
            cases.append((d.hex(), proof[:-1] + ("0" if proof[-1] != "0" else "1")))
        if i % 11 == 0:
            cases.append((d.hex(), proof[:-65]))  # one sibling short
    cases += [
        ("zz" * 32, cases[0][1]),
        (digests[0].hex()[:-2], cases[0][1]),
        (digests[1].hex(), None),
        (digests[2].hex(), ""),
        (digests[3].hex(), "ab,,cd,ef"),
        (digests[4].hex(), "not hex,00"),
    ]
    for walker in (ProofWalker(), ProofWalker(level=1, max_entries=5)):
        for _ in range(2):  # the second pass answers from what the first one kept
            for digest_hex, proof in cases:
                assert walker.root(digest_hex, proof) == _plain_root(digest_hex, proof), (digest_hex, proof)
    assert sum(ProofWalker().root(h, p) == tree.root for h, p in cases) == len(digests)


def test_verify_signature_is_libsodiums_strict_verdict_alone() -> None:
    """libsodium's no is final: OpenSSL's yes for the identity key is not asked for (test_weak_keys.py)."""
    identity = bytes([1]) + bytes(31)  # the neutral point: small order, refused by libsodium
    message = b"any event"
    sig = identity + bytes(32)  # R = neutral point, S = 0: [0]B == R + [k]A holds for A = neutral
    assert signing.verify_signature(identity, message, base64.b64encode(sig).decode()) is False
    pair = signing.generate_key_pair()
    good = signing.sign(signing.load_private_key(pair.private_pem), message)
    assert signing.verify_signature(pair.public_key, message, good) is True
    assert signing.verify_signature(pair.public_key, message + b"!", good) is False

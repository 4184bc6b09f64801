"""Merkle trees and proofs, cross-checked with OpenZeppelin's ``StandardMerkleTree``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core.merkle import (
    ProofWalker,
    build_tree,
    hash_pair,
    keccak256,
    leaf_hash,
    process_proof,
    verify_proof,
)
from cradletrace.errors import InvalidInputError
from tests.builders import oz_merkle

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "merkle.json").read_text("utf-8"))
SIZES = [1, 2, 3, 4, 5, 7, 8, 100, 1000]

digest_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True)


def _digests(n: int) -> list[bytes]:
    return [hashlib.sha256(f"event-{i}".encode()).digest() for i in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_keccak256_is_keccak_not_sha3() -> None:
    # Ethereum's keccak256 of the empty string; NIST SHA3-256 would give a7ffc6f8...
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_leaf_is_double_keccak_of_the_digest() -> None:
    d = _digests(1)[0]
    assert leaf_hash(d) == keccak256(keccak256(d))
    assert build_tree([d]).root == leaf_hash(d)


@pytest.mark.parametrize("n", SIZES)
def test_every_leaf_proof_verifies(n: int) -> None:
    digests = _digests(n)
    tree = build_tree(digests)
    assert tree.leaf_count == n
    assert len(tree.nodes) == 2 * n - 1
    for d in digests:
        proof = tree.proof(d)
        assert verify_proof(tree.root, d, proof)
        assert process_proof(d, proof) == tree.root
        assert len(proof) <= (n - 1).bit_length()


@pytest.mark.parametrize(("n", "depth"), [(1, 0), (2, 1), (4, 2), (8, 3), (1024, 10)])
def test_power_of_two_trees_are_balanced(n: int, depth: int) -> None:
    tree = build_tree(_digests(n))
    assert {len(tree.proof(d)) for d in _digests(n)} == {depth}


@pytest.mark.parametrize("vector", VECTORS["trees"], ids=lambda v: v["name"])
def test_pinned_tree_vector(vector: dict[str, object]) -> None:
    preimages = vector["preimages"]
    assert isinstance(preimages, list)
    digests = [hashlib.sha256(p.encode("ascii")).digest() for p in preimages]
    assert ["0x" + d.hex() for d in digests] == vector["values"]
    tree = build_tree(digests)
    assert "0x" + tree.root.hex() == vector["root"]
    assert [["0x" + p.hex() for p in tree.proof(d)] for d in digests] == vector["proofs"]


def test_pinned_root_of_event_0_to_3() -> None:
    root = "0x" + build_tree(_digests(4)).root.hex()
    assert root.startswith("0x6006bb99") and root.endswith("0f32")
    assert root == "0x6006bb99158a37f67f3d3b8c78e6165c8542fbb4965556a4484174d2cfbc0f32"


@pytest.mark.node
@pytest.mark.parametrize("n", SIZES)
def test_root_and_proofs_equal_openzeppelin_merkle_tree(n: int) -> None:
    digests = _digests(n)
    tree = build_tree(digests)
    oz = oz_merkle([d.hex() for d in digests])
    assert oz["root"] == "0x" + tree.root.hex()
    assert oz["proofs"] == [["0x" + p.hex() for p in tree.proof(d)] for d in digests]


@pytest.mark.node
def test_pinned_vector_equals_openzeppelin_merkle_tree() -> None:
    vector = VECTORS["trees"][0]
    oz = oz_merkle([v[2:] for v in vector["values"]])
    assert oz == {"root": vector["root"], "proofs": vector["proofs"]}


@given(digest_lists, st.data())
def test_any_flipped_bit_fails_verification(digests: list[bytes], data: st.DataObject) -> None:
    tree = build_tree(digests)
    d = data.draw(st.sampled_from(digests))
    proof = list(tree.proof(d))
    assert verify_proof(tree.root, d, proof)
    bit = data.draw(st.integers(0, 255))
    assert not verify_proof(tree.root, _flip(d, bit), proof)
    assert not verify_proof(_flip(tree.root, bit), d, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = _flip(proof[i], bit)
        assert not verify_proof(tree.root, d, proof)


@given(digest_lists, st.randoms(use_true_random=False))
def test_input_order_does_not_change_root_or_proofs(digests: list[bytes], rnd: object) -> None:
    shuffled = list(digests)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = build_tree(digests), build_tree(shuffled)
    assert a.root == b.root
    assert all(a.proof(d) == b.proof(d) for d in digests)


@given(digest_lists)
def test_a_proof_does_not_verify_another_digest_or_a_truncated_path(digests: list[bytes]) -> None:
    tree = build_tree(digests)
    for d in digests:
        proof = tree.proof(d)
        for other in digests[:3]:
            if other != d:
                assert not verify_proof(tree.root, other, proof)
        if proof:
            assert not verify_proof(tree.root, d, proof[:-1])
            assert not verify_proof(tree.root, d, (*proof, proof[-1]))


def test_an_inner_node_cannot_pass_as_a_leaf() -> None:
    # The second-preimage attack: present inner node 1 of a 4-leaf tree as if it were a digest.
    tree = build_tree(_digests(4))
    inner, sibling = tree.nodes[1], tree.nodes[2]
    assert hash_pair(inner, sibling) == tree.root
    assert not verify_proof(tree.root, inner, [sibling])


def test_hash_pair_is_symmetric() -> None:
    a, b = _digests(2)
    assert hash_pair(a, b) == hash_pair(b, a) == keccak256(min(a, b) + max(a, b))


@pytest.mark.parametrize(
    ("digests", "fragment"),
    [
        ([], "expected at least one leaf, got none"),
        ([b"\x01" * 32, b"\x01" * 32], "expected distinct leaves, got " + "01" * 32 + " twice"),
        ([b"\x01" * 32, b"\x02" * 32, b"\x01" * 32], "expected distinct leaves"),
        ([b"\x01" * 31], "expected 32-byte digests, got 31 bytes"),
        ([b"\x01" * 32, b"\x02" * 33], "expected 32-byte digests, got 33 bytes"),
        ([b""], "expected 32-byte digests, got 0 bytes"),
        (["ab" * 32], "expected 32-byte digests, got 64 bytes"),  # hex text is not a digest
    ],
)
def test_build_tree_refuses_bad_input(digests: list[bytes], fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        build_tree(digests)
    assert info.value.field == "digests"
    assert fragment in str(info.value)


@pytest.mark.parametrize("digest", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64])
def test_wrong_length_digest_is_refused_when_proving(digest: bytes) -> None:
    tree = build_tree(_digests(2))
    with pytest.raises(InvalidInputError, match=f"expected 32 bytes, got {len(digest)}"):
        verify_proof(tree.root, digest, tree.proof(_digests(1)[0]))
    with pytest.raises(InvalidInputError, match="expected 32 bytes"):
        leaf_hash(digest)


def test_proof_of_a_digest_not_in_the_tree_is_refused() -> None:
    tree = build_tree(_digests(3))
    stranger = hashlib.sha256(b"not recorded").digest()
    with pytest.raises(InvalidInputError, match="expected a leaf of this tree, got " + stranger.hex()):
        tree.proof(stranger)


def _plain_nodes(digests: list[bytes]) -> list[bytes]:
    """The frozen rules written plainly with ``leaf_hash`` and ``hash_pair``, in OpenZeppelin's layout."""
    leaves = sorted(leaf_hash(d) for d in digests)
    size = 2 * len(leaves) - 1
    nodes = [b""] * size
    for i, h in enumerate(leaves):
        nodes[size - 1 - i] = h
    for i in range(size - 1 - len(leaves), -1, -1):
        nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
    return nodes


def _plain_root(digest: bytes, proof: list[bytes] | tuple[bytes, ...]) -> bytes:
    node = leaf_hash(digest)
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


@given(digest_lists, st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_inline_fast_paths_equal_the_rules_written_plainly(digests: list[bytes], stray: list[bytes]) -> None:
    """build_tree, process_proof and ProofWalker inline leaf_hash and hash_pair for speed; on random
    trees, their proofs and random (wrong) proofs they give exactly what the plain rules give."""
    tree = build_tree(digests)
    assert list(tree.nodes) == _plain_nodes(digests)
    walkers = (ProofWalker(), ProofWalker(level=1, max_entries=3))
    for d in digests:
        for proof in (list(tree.proof(d)), stray):
            plain = _plain_root(d, proof)
            assert process_proof(d, proof) == plain
            assert all(w.root(d.hex(), ",".join(p.hex() for p in proof)) == plain for w in walkers)
        assert _plain_root(d, tree.proof(d)) == tree.root

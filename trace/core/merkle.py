"""Merkle trees compatible with OpenZeppelin's ``StandardMerkleTree`` for leaf type ``["bytes32"]``.

Frozen rules (changing any breaks every proof already issued):

- leaf = keccak256(keccak256(abi.encode(bytes32 digest))) — for a bytes32, ``abi.encode`` is the
  32 bytes themselves. Hashing twice keeps a leaf from ever equalling an inner node, the
  second-preimage attack OpenZeppelin's ``MerkleProof`` warns about for 64-byte leaves.
- inner node = keccak256(min(a, b) ‖ max(a, b)) (sorted pairs, so proofs carry no left/right bits).
- leaves are sorted by their hash, then laid out as OpenZeppelin's ``makeMerkleTree`` does: a
  complete binary tree in one array of 2n-1 nodes, leaves in the last n slots in reverse
  order, node i with children 2i+1 and 2i+2. An odd node out is not duplicated: the array
  layout simply pairs it higher up, exactly as OpenZeppelin does.

The same roots and proofs come out of the npm package ``@openzeppelin/merkle-tree``; the tests
cross-check that, and the contract verifies them with ``MerkleProof``.

``leaf_hash`` and ``hash_pair`` are the rules, written once. Two hot loops spell them inline,
as a function call per hash makes each hash ~1.5x as slow (timeit, 32-byte pairs):
``build_tree`` (a million leaves per batch) and ``_walk`` (every proof an audit checks). They
stay here, next to the rules, and tests/core/test_merkle.py checks them against the rules
written plainly on random trees and random proofs (hypothesis). Nothing outside this module
hashes leaves or pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# safe-pysha3 is ~7x faster than pycryptodome for 32-byte inputs and is a hard dependency.
from sha3 import keccak_256 as _k

from cradletrace.errors import InvalidInputError, Problem


def keccak256(data: bytes) -> bytes:
    out: bytes = _k(data).digest()
    return out


def leaf_hash(digest: bytes) -> bytes:
    """The StandardMerkleTree leaf for one bytes32 event digest."""
    if len(digest) != 32:
        raise InvalidInputError(Problem("digest", f"expected 32 bytes, got {len(digest)}"))
    return keccak256(keccak256(digest))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b) if a < b else keccak256(b + a)


@dataclass(frozen=True)
class MerkleTree:
    """A built tree: ``nodes[0]`` is the root; ``index_of`` maps each digest to its node index."""

    nodes: tuple[bytes, ...]
    index_of: dict[bytes, int] = field(repr=False)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    @property
    def leaf_count(self) -> int:
        return (len(self.nodes) + 1) // 2

    def proof(self, digest: bytes) -> tuple[bytes, ...]:
        """Sibling hashes from the digest's leaf up to (not including) the root."""
        try:
            index = self.index_of[digest]
        except KeyError:
            raise InvalidInputError(Problem("digest", f"expected a leaf of this tree, got {digest.hex()}")) from None
        return self.proof_at(index)

    def proof_at(self, index: int) -> tuple[bytes, ...]:
        nodes = self.nodes
        path: list[bytes] = []
        while index > 0:
            path.append(nodes[index + 1] if index % 2 else nodes[index - 1])
            index = (index - 1) // 2
        return tuple(path)


def build_tree(digests: Sequence[bytes]) -> MerkleTree:
    """Build the tree over distinct 32-byte event digests (order of input does not matter)."""
    if not digests:
        raise InvalidInputError(Problem("digests", "expected at least one leaf, got none"))
    leaves: list[tuple[bytes, bytes]] = []
    for d in digests:
        if len(d) != 32:
            raise InvalidInputError(Problem("digests", f"expected 32-byte digests, got {len(d)} bytes"))
        leaves.append((_k(_k(d).digest()).digest(), d))  # leaf_hash, inline
    leaves.sort()
    n = len(leaves)
    size = 2 * n - 1
    nodes: list[bytes] = [b""] * size
    index_of: dict[bytes, int] = {}
    for i, (h, d) in enumerate(leaves):
        pos = size - 1 - i
        nodes[pos] = h
        if d in index_of:
            raise InvalidInputError(Problem("digests", f"expected distinct leaves, got {d.hex()} twice"))
        index_of[d] = pos
    for i in range(size - 1 - n, -1, -1):
        a = nodes[2 * i + 1]
        b = nodes[2 * i + 2]
        nodes[i] = _k(a + b).digest() if a < b else _k(b + a).digest()  # hash_pair, inline
    return MerkleTree(tuple(nodes), index_of)


def process_proof(digest: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by a digest and its proof (hot in audits: hash_pair is inlined)."""
    return _walk(leaf_hash(digest), proof)


def verify_proof(root: bytes, digest: bytes, proof: Sequence[bytes]) -> bool:
    return process_proof(digest, proof) == root


class ProofWalker:
    """``process_proof`` over many stored proofs (hex, comma-separated), sharing the walk above
    the leaves' common subtrees.

    An audit walks ~17 levels per leaf, but leaves under one inner node share every sibling
    above it. So the root implied by (node ``level`` steps up, the rest of the proof text) is
    kept: a later leaf that reaches the same node with the very same remaining text has the
    same root after ``level`` hashes. Exact: any other remaining text is walked in full, and
    entries are dropped (all at once) past ``max_entries``. Safe to share between threads.
    """

    def __init__(self, level: int = 3, max_entries: int = 1 << 17) -> None:
        self._level = level
        self._max = max_entries
        self._above: dict[bytes, tuple[str, bytes]] = {}

    def root(self, digest_hex: str, proof: str | None) -> bytes:
        """The root ``digest_hex`` and ``proof`` imply; b"" when either is not valid hex
        (or the digest is not 32 bytes)."""
        try:
            digest = bytes.fromhex(digest_hex)
            if len(digest) != 32:
                return b""
            node = leaf_hash(digest)
            if not proof:
                return node
            level = self._level
            *below, rest = proof.split(",", level)  # rest: the text of the siblings above ``level``
            if len(below) < level:
                return _walk(node, [bytes.fromhex(p) for p in (*below, rest)])
            node = _walk(node, [bytes.fromhex(p) for p in below])
            kept = self._above.get(node)
            if kept is not None and kept[0] == rest:
                return kept[1]
            root = _walk(node, [bytes.fromhex(p) for p in rest.split(",")])
        except ValueError:
            return b""
        if kept is None:
            if len(self._above) >= self._max:
                self._above.clear()
            self._above[node] = (rest, root)
        return root


def _walk(node: bytes, siblings: Sequence[bytes]) -> bytes:
    """``hash_pair`` folded over ``siblings``, inline (the audit's hot loop)."""
    for sibling in siblings:
        node = _k(node + sibling).digest() if node < sibling else _k(sibling + node).digest()
    return node

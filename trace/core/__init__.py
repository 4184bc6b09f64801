"""The pure core of cradletrace: values in, values out, no I/O.

Events and their validation, canonical hashing, Merkle trees and proofs, signatures,
cold-chain analysis, test-report verdicts and GS1 codes. Nothing here imports a database,
web or chain library, so every rule can be tested with plain values.

Warning: the hashing rules here (RFC 8785 canonical JSON, SHA-256 event digests, the
OpenZeppelin StandardMerkleTree leaf and pair rules) are frozen. Changing any of them breaks
every proof ever issued and every root already anchored on chain.
"""

__all__ = [
    "admission",
    "canonical",
    "cbvterms",
    "chart",
    "codes",
    "coldchain",
    "digitallink",
    "epcishash",
    "epcisids",
    "events",
    "gs1syntax",
    "labels",
    "merkle",
    "scanguard",
    "signing",
    "testreport",
    "text",
    "weblinks",
]

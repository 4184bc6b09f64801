"""Anchoring: pending event hashes into a Merkle root, the root onto the chain, exactly once.

``run``: one anchoring run (prepare a batch and its proofs, send, confirm; recover what a killed
run left), the nonce rule, and the age of the oldest pending event.
``worker``: the loop ``cradletrace anchor --watch`` and ``cradletrace serve`` run: lead, anchor, repeat.
``leader``: which worker anchors (one at a time, on the store's lock).
"""

__all__ = ["leader", "run", "worker"]

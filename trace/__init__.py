"""cradletrace: signed supplier events for maternal and infant goods, anchored on an EVM chain.

As a library it offers, from the inside out:

* ``core``: the pure rules (canonical JSON, event shapes, Ed25519, Merkle trees, GS1 codes and
  Digital Link, cold-chain maths, test-report verdicts). Changing a hashing rule breaks every old proof.
* ``recording``: check a submission (signature first, then shape, admission and custody) and store
  all of it or none; ``suppliers``, ``products``, ``custody``, ``apikeys``: who may say what.
* ``anchoring``: pending hashes into Merkle roots on chain, exactly once; ``events``: finding a stored
  event by id, digest or digest prefix; ``verification``: one event, a bundle or the whole store checked
  against the chain.
* ``scan``, ``labels``, ``recall``, ``epcis``: what parents, printers, quality staff and trading
  partners use; ``cli`` and ``cradletrace.api`` put them on the command line and over HTTP.
* ``workspace`` and ``config``: one data directory (or PostgreSQL URL) and its chain, opened once.

Importing the package keeps Python's recursion limit at its default (see ``recursionlimit``),
because the chain libraries raise it and deep input could then crash the process.
"""

from cradletrace import recursionlimit

recursionlimit.install()

__all__ = [
    "anchoring",
    "apikeys",
    "chain",
    "cli",
    "config",
    "core",
    "custody",
    "demo",
    "epcis",
    "errors",
    "events",
    "labels",
    "private",
    "products",
    "recall",
    "recording",
    "scan",
    "sealing",
    "store",
    "suppliers",
    "verification",
    "workspace",
]

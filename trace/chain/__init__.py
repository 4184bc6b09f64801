"""The chain seam: the ``Anchor`` protocol and its web3 implementation (embedded or JSON-RPC).

``base``: the ``Anchor`` protocol every caller types against (roots, notices, receipts) and its values.
``web3anchor``: the one implementation, over web3.py. ``embedded``: the in-process py-evm chain it can
talk to. ``connect``: which chain the settings name, and the anchor on it. ``roles``: the contract's
roles (anchorer, recaller, admin) and changing them.
"""

__all__ = ["base", "connect", "embedded", "roles", "web3anchor"]

"""The chain seam: the ``Anchor`` protocol and its web3 implementation (embedded or JSON-RPC)."""

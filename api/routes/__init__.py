"""One router per resource; each only translates HTTP to core calls and back."""

__all__ = [
    "anchor",
    "apikeys",
    "audit",
    "console",
    "epcis",
    "events",
    "health",
    "products",
    "proofs",
    "recalls",
    "resolver",
    "rpc",
    "scan",
    "scanner",
    "suppliers",
    "trace",
]

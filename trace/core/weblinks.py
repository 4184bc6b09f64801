"""Which links a supplier may hand to a parent: https, to a named host, nothing else.

A test report's document link is shown on the scan page and offered by the resolver. A
``javascript:`` or ``data:`` link would run in the page's origin, a plain http one can be
rewritten on the way, and ``https://trusted.example@evil.example/`` reads as one host while
going to another. So a document link is an absolute https URI with a host and no user part,
no spaces or control characters; the same rule decides at recording, on the page (a link
recorded before the rule is shown as text) and in the resolver.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def document_uri_problem(uri: str) -> str | None:
    """What is wrong with ``uri`` as a document link, or None when it may be linked to."""
    shown = repr(uri if len(uri) <= 60 else uri[:57] + "...")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        return f"expected an https:// URI without spaces or control characters, got {shown}"
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"expected an https:// URI with a host, got {shown}"
    if parts.scheme.lower() != "https" or not hostname:
        return f"expected an https:// URI with a host, got {shown}"
    if "@" in parts.netloc:
        return f"expected an https:// URI without a user part before the host, got {shown}"
    return None


def document_host(uri: str) -> str | None:
    """The host a linkable document URI points to (lower case), or None when it may not be linked to."""
    return None if document_uri_problem(uri) else urlsplit(uri).hostname

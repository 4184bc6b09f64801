"""Who sent a capture: HTTP Message Signatures (RFC 9421, ``ed25519``) over the body's Content-Digest (RFC 9530).

The partner signs each ``POST /epcis/capture`` with the Ed25519 key it registered as a supplier key
(``keyid`` = that key's id): the signature covers the method, the target URI (or authority and path),
the Content-Type and the Content-Digest (``sha-256``) of the exact body bytes, with a ``created``
time the server checks against its clock (``Settings.epcis_signature_window``). The server keeps the
body, the covered values and both signature headers (``Material``), so anyone holding the supplier's
public key (the key log anchors it) can re-check later, offline, that this supplier sent these bytes:
``cradletrace epcis verify-capture``. The RFC 9421 work is the ``http-message-signatures`` package's;
this module picks the rules (algorithm, what must be covered, the window) and names what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from cradletrace.core import signing
from cradletrace.errors import RequestSignatureError

ALGORITHM = "ed25519"
LABEL = "ct"
# What a capture's signature must cover; and the target: "@target-uri", or "@authority" with "@path".
REQUIRED = ("@method", "content-type", "content-digest")
COVERED = ("@method", "@target-uri", "content-type", "content-digest")
SIGNATURE_HEADERS = ("content-digest", "signature-input", "signature")


@dataclass(frozen=True)
class Message:
    """An HTTP request as the signature library reads it: method, absolute URL, headers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Material:
    """What a capture keeps of its request's signature, enough to check it again later (JSON)."""

    method: str
    target_uri: str
    headers: dict[str, str]  # the covered fields' values, Content-Digest, Signature-Input, Signature
    key_id: str
    created: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "method": self.method,
                "target_uri": self.target_uri,
                "headers": self.headers,
                "keyid": self.key_id,
                "created": self.created,
                "alg": ALGORITHM,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Material:
        d = json.loads(text)
        return cls(d["method"], d["target_uri"], dict(d["headers"]), d["keyid"], int(d["created"]))


class _Keys(HTTPSignatureKeyResolver):
    """The public key of a keyid through ``lookup``, which raises RequestSignatureError for a key
    it refuses (unknown, revoked, another supplier's); kept, as the library wraps what it raises."""

    def __init__(self, lookup: Callable[[str], bytes]) -> None:
        self.lookup = lookup
        self.refusal: RequestSignatureError | None = None

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(self.lookup(key_id))
        except RequestSignatureError as exc:
            self.refusal = exc
            raise

    def resolve_private_key(self, key_id: str) -> Any:
        """Never called: this resolver only verifies (signing uses the key file, see ``sign``); the
        library's abstract base requires the method."""
        raise NotImplementedError("a verifying resolver holds no private keys")


class _Verifier(HTTPMessageVerifier):
    # A partner's clock a little ahead of ours is no forgery; the window is the real bound.
    max_clock_skew = timedelta(seconds=30)


def _name(component: str) -> str:
    """``"@method"`` or ``"content-type";sf`` -> ``@method`` / ``content-type``."""
    return component.split(";", 1)[0].strip().strip('"')


def _refused(header: str, expected: str) -> RequestSignatureError:
    return RequestSignatureError(header, expected)


def verify(
    message: Message,
    body: bytes,
    lookup: Callable[[str], bytes],
    *,
    window: float | None,
    now: datetime | None = None,
) -> Material:
    """Check the request's signature and Content-Digest over ``body``; return what to keep of it.

    ``window``: seconds ``created`` may lie from ``now`` (None: any time, for re-checking a kept
    capture later). Raises RequestSignatureError naming the header at fault and what was expected."""
    verifier, results, material = _signed(message, lookup, window=window, now=now)
    try:
        verifier.verify_body(message, results, body)
    except (InvalidSignature, HTTPMessageSignaturesException, ValueError) as exc:
        raise _refused("Content-Digest", f"expected the sha-256 digest of the body as received: {exc}") from None
    return material


def _signed(
    message: Message,
    lookup: Callable[[str], bytes],
    *,
    window: float | None,
    now: datetime | None = None,
) -> tuple[_Verifier, list[Any], Material]:
    """The signature half of ``verify``: the RFC 9421 signature base rebuilt from the covered values
    (by the library: the one place it is built in Python) and its ed25519 signature checked; the
    body is not looked at. Returns the verifier, its results and what to keep."""
    headers = {k.lower(): v for k, v in message.headers.items()}
    for name in SIGNATURE_HEADERS:
        if name not in headers:
            raise _refused(
                name.title(),
                f"expected a {name.title()} header: the request signed with HTTP Message Signatures "
                f"(RFC 9421, alg {ALGORITHM}) over its Content-Digest (RFC 9530, sha-256); see docs/epcis.md",
            )
    created = _params(headers).get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise _refused("Signature-Input", "expected a created parameter (seconds since 1970, UTC)")
    if window is not None:
        at = (now or datetime.now(UTC)).timestamp()
        if abs(at - created) > window:
            raise _refused(
                "Signature-Input",
                f"expected created within {window:g} s of the server's clock ({int(at)}), got {created}",
            )
    keys = _Keys(lookup)
    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=keys)
    try:
        results = verifier.verify(message, max_age=None, require_components=REQUIRED)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        if keys.refusal is not None:
            raise keys.refusal from None
        raise _refused(
            "Signature", f"expected a valid {ALGORITHM} signature (RFC 9421) of this request: {exc}"
        ) from None
    result = results[0]
    covered = {_name(k) for k in result.covered_components if _name(k) != "@signature-params"}
    if "@target-uri" not in covered and not {"@authority", "@path"} <= covered:
        raise _refused(
            "Signature-Input",
            f"expected the signature to cover @target-uri (or @authority and @path), got {sorted(covered)}",
        )
    kept = {n: headers[n] for n in sorted(covered | set(SIGNATURE_HEADERS)) if not n.startswith("@") and n in headers}
    return (
        verifier,
        list(results),
        Material(message.method, message.url, kept, str(result.parameters["keyid"]), created),
    )


def _kept(material: Material, public_key: bytes) -> tuple[Message, Callable[[str], bytes]]:
    """A kept capture's request again, and the lookup that answers only its own keyid with ``public_key``."""

    def lookup(key_id: str) -> bytes:
        if key_id != material.key_id:
            raise _refused("Signature-Input", f"expected keyid {material.key_id}, got {key_id}")
        return public_key

    return Message(material.method, material.target_uri, dict(material.headers)), lookup


def recheck(material: Material, body: bytes, public_key: bytes) -> None:
    """Check a kept capture again, at any later time: the stored signature by ``public_key``
    over the stored covered values, and the stored Content-Digest over the stored body."""
    message, lookup = _kept(material, public_key)
    verify(message, body, lookup, window=None)


def recheck_signature(material: Material, public_key: bytes) -> None:
    """``recheck`` without the body (a proof bundle that does not carry it): the signature by
    ``public_key`` over the kept covered values, Content-Digest among them, but not that digest
    against any body. Raises RequestSignatureError as ``verify``."""
    message, lookup = _kept(material, public_key)
    _signed(message, lookup, window=None)


def sign(
    method: str,
    url: str,
    content_type: str,
    body: bytes,
    key_id: str,
    private_pem: bytes,
    created: datetime | None = None,
) -> dict[str, str]:
    """The Content-Digest, Signature-Input and Signature headers of a request (for partners and tests)."""
    private = signing.load_private_key(private_pem)

    class _Own(HTTPSignatureKeyResolver):
        def resolve_private_key(self, kid: str) -> Any:
            return private

        def resolve_public_key(self, kid: str) -> Any:
            return private.public_key()

    message = Message(method, url, {"Content-Type": content_type})
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Own()).sign(
        message,
        key_id=key_id,
        created=created or datetime.now(UTC),
        label=LABEL,
        covered_component_ids=COVERED,
        body=body,
    )
    return {k: v for k, v in message.headers.items() if k.lower() != "content-type"}


def _params(headers: Mapping[str, str]) -> dict[str, Any]:
    """The parameters (created, keyid, ...) of the one signature a Signature-Input names, unchecked."""
    raw = headers.get("signature-input")
    try:
        parsed: Any = http_sf.parse(raw.encode(), tltype="dictionary") if raw else {}
    except Exception:
        raise _refused("Signature-Input", "expected a structured-field dictionary (RFC 9421 section 4.1)") from None
    if len(parsed) != 1:
        raise _refused("Signature-Input", f"expected exactly one signature, got {len(parsed)}")
    _member, params = next(iter(parsed.values()))
    return dict(params)

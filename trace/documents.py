"""The portal's document store: PDFs kept by their SHA-256, as files under the data dir.

A signed test report names its certificate as ``{sha256, uri}``, a signed shipment its papers (customs
declaration, health certificate, certificate of analysis, bill of lading) as ``{kind, sha256, uri}``;
the record proves which bytes the supplier meant, and this store keeps those bytes where the record's
link can find them. It is content-addressed:
a file's name is its SHA-256, so the same certificate uploaded twice is one copy, a stored file can only
be the bytes its name says, and a file left by a refused record is harmless (nothing links to it). Only
this module writes ``<data dir>/documents``; files are written to a temporary name and renamed, so a
reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from cradletrace.errors import InvalidInputError, NotFoundError, Problem

PDF_MAGIC = b"%PDF-"
CONTENT_TYPE = "application/pdf"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def folder(data_dir: Path) -> Path:
    return data_dir / "documents"


def store_pdf(data_dir: Path, body: bytes, claimed_sha256: str | None, max_bytes: int) -> str:
    """Keep ``body`` (a PDF of at most ``max_bytes``) and return its SHA-256 (hex).

    ``claimed_sha256`` is what the browser computed and will sign; it is recomputed here and must
    match, so the record never names bytes other than the ones stored."""
    if len(body) > max_bytes:
        raise InvalidInputError(
            Problem("document", f"expected a PDF of at most {max_bytes} bytes, got {len(body)} bytes")
        )
    if not body.startswith(PDF_MAGIC):
        raise InvalidInputError(Problem("document", "expected a PDF file (starting with %PDF-), got another kind"))
    digest = hashlib.sha256(body).hexdigest()
    claimed = (claimed_sha256 or "").strip().lower()
    if claimed != digest:
        raise InvalidInputError(
            Problem("sha256", f"expected the SHA-256 of the uploaded bytes ({digest}), got {claimed or 'none'!r}")
        )
    write_once(folder(data_dir), f"{digest}.pdf", body)  # the same file twice is one copy
    return digest


def write_once(where: Path, name: str, body: bytes) -> None:
    """``where/name`` holds ``body`` unless a file of that name is there (content-addressed: the name
    is the bytes' digest). Written to a temporary name and renamed, so a reader never sees half a
    file."""
    target = where / name
    if target.exists():
        return
    where.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=where, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def read_pdf(data_dir: Path, sha256: str) -> bytes:
    """The stored bytes of the document whose SHA-256 is ``sha256``; NotFoundError when none is kept."""
    if not SHA256_HEX.match(sha256):
        raise InvalidInputError(Problem("sha256", f"expected 64 lower-case hex digits, got {sha256[:80]!r}"))
    path = folder(data_dir) / f"{sha256}.pdf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no document with SHA-256 {sha256}") from None

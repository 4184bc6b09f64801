"""Labels for the pack: commission serialized items, then print one QR code per item.

``generate_codes`` draws serials from ``secrets``, signs the commissioning events with the
supplier's key file and records them through the normal recording path (all or nothing, in
the caller's transaction), so every item ties to its lot through an event that is anchored
like any other. ``render`` then computes each code's QR module matrix once (zxing-cpp's
encoder, error correction M) and hands it to the outputs asked for: an SVG per label, an A4
PDF sheet, a ZIP of PNGs (render.py).

Codes are commissioned before anything is printed: a code that exists but was never printed
is harmless, a printed code that does not exist would read as counterfeit.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import zxingcpp
from sqlmodel import Session

from cradletrace import recording
from cradletrace.core.events import MAX_SERIALS
from cradletrace.core.labels import SERIAL_BYTES, DigitalLink, ItemCode, resolver_origin, serial_from_bytes
from cradletrace.core.testreport import Limit
from cradletrace.errors import InvalidInputError, Problem

MAX_CODES = 1_000_000  # per call; larger runs are several calls (memory, and one transaction)
QUIET = 4  # quiet zone, in modules, on every side (ISO/IEC 18004)


@dataclass(frozen=True)
class Codes:
    """What ``generate_codes`` made: the item codes in order and the events that commission them."""

    links: list[DigitalLink]
    events: list[recording.RecordedEvent]

    @property
    def uris(self) -> list[str]:
        return [link.uri for link in self.links]


def generate_codes(
    session: Session,
    keys_dir: Path,
    *,
    gtin: str,
    lot: str,
    count: int,
    supplier: str,
    resolver: str,
    limits: Mapping[str, Limit] | None = None,
    now: datetime | None = None,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> Codes:
    """Commission ``count`` new items of lot ``gtin``/``lot`` as ``supplier`` (a plant or brand).

    Serials go into events of at most 10 000 each, all recorded in the caller's transaction:
    an unknown lot, a supplier without the right role or key, or a serial already in use
    stores nothing.
    """
    if not 1 <= count <= MAX_CODES:
        raise InvalidInputError(Problem("count", f"expected 1 to {MAX_CODES} codes, got {count}"))
    origin = resolver_origin(resolver)
    ItemCode(gtin, lot, "0")  # refuse a bad GTIN or lot before drawing any serial
    serials: dict[str, None] = {}  # ordered set: a repeat (p ~ count^2 / 2^81) is drawn again
    while len(serials) < count:
        serials[serial_from_bytes(random(SERIAL_BYTES))] = None
    drawn = list(serials)
    now = now or datetime.now(UTC)
    when = now.isoformat()
    events: list[dict[str, object]] = [
        {
            "kind": "commission",
            "supplier": supplier,
            "data": {"lot": {"gtin": gtin, "lot": lot}, "serials": drawn[i : i + MAX_SERIALS], "commissioned_at": when},
        }
        for i in range(0, count, MAX_SERIALS)
    ]
    submissions = recording.read_submissions(events)  # type: ignore[arg-type]  # lists are invariant; these are JSON
    items = recording.sign_submissions(submissions, recording.key_loader(session, keys_dir), limits or {})
    rows = recording.record_submissions(session, items, now, limits)
    return Codes([DigitalLink(gtin, lot, s, origin) for s in drawn], rows)


# -- QR symbols ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    """A QR code's modules without quiet zone: ``size`` x ``size`` bytes, 0 dark, 255 light."""

    size: int
    pixels: bytes

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]]) -> Symbol:
        """From any encoder's matrix of truthy-for-dark values (segno's ``matrix``, for one)."""
        return cls(len(rows), bytes(0 if v else 255 for row in rows for v in row))

    def runs(self) -> list[tuple[int, int, int]]:
        """(row, column, length) of every horizontal run of dark modules: one rectangle each."""
        out: list[tuple[int, int, int]] = []
        n, px = self.size, self.pixels
        for r in range(n):
            row = px[r * n : (r + 1) * n]
            c = row.find(0)
            while c >= 0:
                end = row.find(255, c)
                if end < 0:
                    end = n
                out.append((r, c, end - c))
                c = row.find(0, end)
        return out


def qr_symbol(text: str) -> Symbol:
    """Encode ``text`` as a QR code, error correction M, smallest version that fits."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = barcode.to_image(scale=1, add_quiet_zones=False)  # one byte per module
    return Symbol(image.shape[0], bytes(memoryview(image)))  # type: ignore[arg-type]  # a buffer; the stubs omit it


def hri_lines(code: ItemCode) -> tuple[str, str, str]:
    """The human-readable interpretation under the code, GS1 style: AI in brackets, then data."""
    return f"(01) {code.gtin}", f"(10) {code.lot}", f"(21) {code.serial}"


# -- outputs ---------------------------------------------------------------------------------


class Output(Protocol):
    """Where labels go. ``close`` publishes the finished output; ``abort`` leaves nothing."""

    def add(self, link: DigitalLink, symbol: Symbol) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def render(
    links: Iterable[DigitalLink],
    outputs: Sequence[Output],
    progress: Callable[[int], None] | None = None,
    every: int = 100,
) -> int:
    """Encode each link once and add it to every output; all outputs are published or none.

    ``progress(n)`` is called with the number of labels done since the last call.
    """
    done = pending = 0
    try:
        for link in links:
            symbol = qr_symbol(link.uri)
            for out in outputs:
                out.add(link, symbol)
            done += 1
            pending += 1
            if progress and pending == every:
                progress(pending)
                pending = 0
        for out in outputs:
            out.close()
    except BaseException:
        for out in outputs:
            out.abort()
        raise
    if progress and pending:
        progress(pending)
    return done


def codes_csv(links: Iterable[DigitalLink]) -> str:
    """One row per label, in print order: for print shops that lay out variable data themselves."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["n", "gtin", "lot", "serial", "uri"])
    writer.writerows([i, x.gtin, x.lot, x.serial, x.uri] for i, x in enumerate(links, 1))
    return buf.getvalue()


def file_name(code: ItemCode, suffix: str) -> str:
    """``<serial><suffix>``: serials are unique system-wide; percent-encoding keeps '/' out."""
    return quote(code.serial, safe="") + suffix


class StagedFile:
    """A file written beside its destination and moved into place only when complete."""

    def __init__(self, path: Path, what: str) -> None:
        if path.is_dir():
            raise InvalidInputError(Problem(what, f"expected a file path, got the directory {path}"))
        if not path.parent.is_dir():
            raise InvalidInputError(Problem(what, f"expected an existing directory for {path}, got none"))
        self.path = path
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
        self.staging = Path(name)

    def publish(self) -> None:
        os.chmod(self.staging, 0o644)
        os.replace(self.staging, self.path)

    def discard(self) -> None:
        self.staging.unlink(missing_ok=True)


class StagedDir:
    """A directory filled beside its destination; the destination must be new or empty."""

    def __init__(self, path: Path, what: str) -> None:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InvalidInputError(Problem(what, f"expected a new or empty directory, got {path}"))
        if not path.parent.is_dir():
            raise InvalidInputError(Problem(what, f"expected an existing directory for {path}, got none"))
        self.path = path
        self.staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))

    def publish(self) -> None:
        os.chmod(self.staging, 0o755)
        if self.path.exists():
            self.path.rmdir()  # empty, checked above
        os.replace(self.staging, self.path)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

"""Verified scan views kept between scans, each under a key that changes with what it was built from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from cradletrace.scan.queries import Rows, ScanLot, fetch_rows
from cradletrace.scan.view import ScanView, build_view
from cradletrace.verification import EventVerifier


class ViewCache:
    """Verified views of recently scanned lots, each kept under a key that changes whenever
    anything it was built from does: the lot row and its rows themselves (``view``), or a stamp
    of their row versions (PostgreSQL, see postgres.PgScanner).

    A scan still reads that key afresh and reuses the view only when it is identical, so an
    edited, deleted or newly anchored event is verified afresh on the next scan. Views with an
    INVALID record are never kept: the chain may have been unreachable. ``memo`` holds
    renderings of the view (JSON, HTML per language).
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[tuple[str, str], Kept] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def view(
        self, conn: Connection, verifier: EventVerifier, lot: ScanLot, shipments: Sequence[str] | None = None
    ) -> tuple[ScanView, dict[Any, Any]]:
        rows = fetch_rows(conn, lot, shipments)
        kept = self.kept(lot.gtin, lot.lot)
        if kept is not None and kept.key == (lot, rows):
            return kept.view, kept.memo
        built = self.build((lot, rows), rows, verifier, lot)
        return built.view, built.memo

    def kept(self, gtin: str, lot: str) -> Kept | None:
        """What is kept for lot ``gtin``/``lot``: the caller compares its key with a fresh one."""
        return self._entries.get((gtin, lot))

    def build(self, key: Any, rows: Rows, verifier: EventVerifier, lot: ScanLot) -> Kept:
        """Verify ``rows`` of ``lot`` into a view, kept under ``key`` unless a record is INVALID."""
        built = Kept(key, build_view(rows, verifier, lot), {})
        if not built.view.any_invalid:
            with self._lock:
                self._entries[(lot.gtin, lot.lot)] = built
                self._entries.move_to_end((lot.gtin, lot.lot))
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return built


@dataclass(frozen=True)
class Kept:
    key: Any
    view: ScanView
    memo: dict[Any, Any]  # renderings of ``view``

"""A shipment's documents (core/events.py ShipmentDocument): each a kind from a fixed list, the
stored PDF's SHA-256 and link, an optional title; refusals name the field; shipments recorded
before documents existed read and hash exactly as they did."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from cradletrace.core import events
from cradletrace.core.canonical import canonical_bytes
from cradletrace.core.events import parse_event
from tests.core.test_events import problems, shipment, with_

# shipment() (tests/core/test_events.py) as main hashed it before shipments had documents.
OLD_DIGEST = "8f519e9b335c3a3317b79cb0bbe421815e7d33e276d5d1a28cd1b3c53845085b"
SHA_A = "a" * 64
SHA_B = "b" * 64


def paper(kind: str = "customs_declaration", sha: str = SHA_A, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "sha256": sha, "uri": f"https://docs.example.com/supplier/documents/{sha}", **extra}


def with_papers(*docs: dict[str, Any]) -> dict[str, Any]:
    return with_(shipment(), "data.documents", list(docs))


def data_of(event: dict[str, Any]) -> events.ShipmentData:
    data = parse_event(canonical_bytes(event)).data
    assert isinstance(data, events.ShipmentData)
    return data


def test_a_shipment_recorded_before_documents_reads_and_hashes_as_before() -> None:
    old = shipment()
    assert hashlib.sha256(canonical_bytes(old)).hexdigest() == OLD_DIGEST
    data = data_of(old)
    assert data.documents is None
    assert data.model_dump(mode="json", exclude_none=True) == old["data"]  # nothing added


def test_every_kind_of_document_parses_with_its_title() -> None:
    docs = [paper(k, f"{i:x}" * 64) for i, k in enumerate(events.SHIPMENT_DOCUMENT_KINDS)]
    docs[-1]["title"] = "Fumigation certificate"
    data = data_of(with_papers(*docs))
    assert data.documents is not None
    assert [d.kind for d in data.documents] == list(events.SHIPMENT_DOCUMENT_KINDS)
    assert data.documents[-1].title == "Fumigation certificate" and data.documents[0].title is None
    assert isinstance(data.documents[0], events.Document)  # the lab certificate's {sha256, uri}


@pytest.mark.parametrize(
    ("docs", "field", "expected"),
    [
        ([paper(), paper("invoice", SHA_B)], "event.data.documents[1].kind", "customs_declaration"),
        ([paper(sha="A" * 64)], "event.data.documents[0].sha256", "[0-9a-f]{64}"),
        ([paper(uri="http://docs.example.com/x.pdf")], "event.data.documents[0].uri", "https"),
        ([paper(title="")], "event.data.documents[0].title", "at least 1"),
        ([paper(colour="red")], "event.data.documents[0].colour", "no such field"),
        ([{"kind": "other", "uri": "https://docs.example.com/x.pdf"}], "event.data.documents[0].sha256", "a value"),
        ([], "event.data.documents", "at least 1"),
        ([paper(), paper("bill_of_lading")], "event.data.documents[1].sha256", "each document once"),
        (
            [paper(sha=f"{i:064x}") for i in range(events.MAX_SHIPMENT_DOCUMENTS + 1)],
            "event.data.documents",
            f"at most {events.MAX_SHIPMENT_DOCUMENTS}",
        ),
    ],
)
def test_a_bad_document_names_its_field(docs: list[dict[str, Any]], field: str, expected: str) -> None:
    found = problems(with_papers(*docs))
    assert [f for f, _ in found] == [field], found
    assert expected in found[0][1]


def test_a_stored_document_link_from_before_the_link_rule_still_reads() -> None:
    event = with_papers(paper(uri="ftp://old.example.com/x.pdf"))
    assert problems(event)[0][0] == "event.data.documents[0].uri"
    stored = parse_event(canonical_bytes(event), stored=True).data
    assert isinstance(stored, events.ShipmentData) and stored.documents is not None

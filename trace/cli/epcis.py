"""``cradletrace epcis``: EPCIS 2.0 documents on the command line.

One function per command; each engineer edits only their own command's function.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, Limits, fail, open_workspace, reported, settings_from, store_session

app = typer.Typer(
    no_args_is_help=True,
    help="EPCIS 2.0 JSON-LD documents: event hashes, validation, import (capture), signing for the HTTP capture "
    "(and its RFC 9421 request signature), re-checking a kept capture, export.",
)


@app.command("hash")
def hash_(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD or EPCIS 1.2/2.0 XML document", dir_okay=False)],
) -> None:
    """Print the CBV 2.0 event hash (ni:///sha-256;...?ver=CBV2.0) of every event, in document order.

    stdout carries the hashes and nothing else, so other tools can read it line by line.
    """
    from cradletrace.core.epcishash import document_hashes
    from cradletrace.epcis import xml
    from cradletrace.errors import InvalidInputError

    try:
        raw = file.read_bytes()
        doc = xml.load(raw) if xml.is_xml(None, raw) else json.loads(raw.decode("utf-8"))
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file}: not a JSON document ({exc})")
    except InvalidInputError as exc:
        fail(f"{file}: {exc}")
    try:
        hashes = document_hashes(doc)
    except InvalidInputError as exc:
        fail(f"{file}: {exc}")
    for h in hashes:
        typer.echo(h)


def _read_bytes(file: Path) -> bytes:
    import sys

    return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD or EPCIS 1.2/2.0 XML document, or - for stdin")],
) -> None:
    """Check a document against GS1's EPCIS 2.0 JSON schema and the CBV 2.0 vocabulary.

    Prints "valid" (exit 0) or one "JSON-pointer: reason" line per problem (exit 1).
    """
    from cradletrace.epcis import validation
    from cradletrace.epcis.capture import read_document
    from cradletrace.errors import InvalidEpcisError

    with reported():
        try:  # XML (EPCIS 1.2 / 2.0) is checked against the XSD or its structure, then converted
            problems = validation.validate(read_document(_read_bytes(file)))
        except InvalidEpcisError as exc:
            problems = exc.problems
    if not problems:
        typer.echo("valid")
        return
    for p in problems:
        typer.echo(f"{p.where or '(document)'}: {p.message}")
    raise typer.Exit(1)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD or EPCIS 1.2/2.0 XML document, or - for stdin")],
    supplier: Annotated[str, typer.Option("--supplier", help="The uploading supplier; its key file signs every event")],
    limits: Limits = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Capture a whole EPCIS document as signed cradletrace events: all of them, or none (exit 2)."""
    from datetime import datetime

    from cradletrace.epcis.capture import import_document

    settings = settings_from(data_dir, database_url, None, limits)
    # A duplicate (DuplicateEpcisError) or an invalid document exits 2 naming each event by pointer.
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        rows = import_document(s, settings.keys_dir, ws.limits, _read_bytes(file), supplier, datetime.now(UTC))
        s.commit()
    for row in rows:
        typer.echo(f"event {row.id}  {row.kind:<11} {row.gtin or ''}/{row.lot or row.ref or ''}  {row.digest[:16]}…")
    typer.echo(f"imported {len(rows)} EPCIS events as cradletrace events; pending until the next 'cradletrace anchor'")


@app.command("sign")
def sign(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD or EPCIS 1.2/2.0 XML document, or - for stdin")],
    supplier: Annotated[str, typer.Option("--supplier", help="The supplier whose key file signs")],
    limits: Limits = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Print the body for POST /api/v1/epcis: the document, the key id and one signature per event."""
    from cradletrace.epcis.capture import capture_body

    settings = settings_from(data_dir, database_url, None, limits)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        body = capture_body(s, settings.keys_dir, ws.limits, _read_bytes(file), supplier)
    typer.echo(json.dumps(body, ensure_ascii=False))


@app.command("sign-request")
def sign_request(
    file: Annotated[Path, typer.Argument(help="The exact body to send to POST /epcis/capture (or - for stdin)")],
    supplier: Annotated[str, typer.Option("--supplier", help="The supplier whose key file signs")],
    url: Annotated[
        str, typer.Option("--url", help="The full URL the request goes to, e.g. https://trace.example/epcis/capture")
    ],
    content_type: Annotated[
        str, typer.Option("--content-type", help="application/ld+json, application/json, application/xml or text/xml")
    ] = "application/ld+json",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Print the headers of a signed EPCIS capture request (RFC 9421 over the body's Content-Digest),
    one per line, signed now with the supplier's newest key file, as `curl -H` takes them."""
    from cradletrace.epcis import httpsig
    from cradletrace.recording import key_loader

    settings = settings_from(data_dir, database_url, None, None)
    body = _read_bytes(file)
    with reported(), open_workspace(settings) as ws, ws.session() as s:
        key_id, pem = key_loader(s, settings.keys_dir)(supplier)
    headers = {"Content-Type": content_type, **httpsig.sign("POST", url, content_type, body, key_id, pem)}
    for name, value in headers.items():
        typer.echo(f"{name}: {value}")


@app.command("verify-capture")
def verify_capture(
    file: Annotated[Path, typer.Argument(help="A capture as GET /epcis/capture/{id}/document serves it (JSON)")],
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="The supplier key (base64) to check with; default: the one the file names"),
    ] = None,
) -> None:
    """Re-check a downloaded capture offline: its request signature over the kept headers and the body's
    Content-Digest. Prints who signed which bytes; exit 1 when it does not hold."""
    import base64
    import hashlib

    from cradletrace.epcis.binding import check_document
    from cradletrace.errors import RequestSignatureError

    doc = json.loads(_read_bytes(file))
    try:
        material = check_document(doc, base64.b64decode(public_key) if public_key else None)
    except RequestSignatureError as exc:
        fail(f"capture {doc.get('captureID')}: {exc}", 1)
    body = base64.b64decode(str(doc["body"]))
    typer.echo(
        f"capture {doc.get('captureID')}: signed by key {material.key_id} of supplier {doc.get('supplier')} "
        f"at {material.created} ({material.method} {material.target_uri}); body sha-256 "
        f"{hashlib.sha256(body).hexdigest()}, {len(body)} bytes"
    )


@app.command("export")
def export(
    lot: Annotated[str | None, typer.Argument(help="GTIN/LOT (or a lot code) whose history to export")] = None,
    recall: Annotated[int | None, typer.Option("--recall", help="Export a recall's whole scope instead")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Print a lot's history (or a recall's scope) as an EPCIS 2.0 JSON-LD document on stdout."""
    from datetime import datetime

    from cradletrace.epcis.export import export_lot, export_recall

    if (lot is None) == (recall is None):
        fail("expected a LOT or --recall ID (one of the two)")
    with store_session(data_dir, database_url) as (_ws, s):
        now = datetime.now(UTC)
        doc = export_lot(s, lot, now) if lot is not None else export_recall(s, recall or 0, now)
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@app.command("deliver")
def deliver(
    watch: Annotated[bool, typer.Option("--watch", help="Keep delivering every --interval seconds")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between runs with --watch")] = 1.0,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Send what EPCIS subscriptions have due (new events, scheduled runs, retries) to their webhooks.

    For a worker apart from the API processes (which deliver themselves; set
    CRADLETRACE_EPCIS_DELIVER_INTERVAL=0 there to leave it to this one). Any number may run at once."""
    import threading

    from sqlmodel import Session

    from cradletrace.cli.recall import _sealer
    from cradletrace.epcis.subscriptions import SubscriptionDeliverer

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        deliverer = SubscriptionDeliverer(
            settings,
            lambda: Session(ws.engine, expire_on_commit=False),
            lambda: _sealer(settings),
            say=lambda m: typer.echo(m),
        )
        if watch:
            deliverer.loop(threading.Event(), interval)
            return
        run = deliverer.run_once()
    typer.echo(
        f"epcis subscriptions: {run.enqueued} documents written, {run.sent} sent, "
        f"{run.retrying} retrying, {run.failed} failed"
    )

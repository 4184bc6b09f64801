"""``cradletrace epcis``: EPCIS 2.0 documents on the command line.

One function per command; each engineer edits only their own command's function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cradletrace.cliopts import fail

app = typer.Typer(no_args_is_help=True, help="EPCIS 2.0 JSON-LD documents: event hashes (and, later, validate/import/export).")


@app.command("hash")
def hash_(file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD document", dir_okay=False)]) -> None:
    """Print the CBV 2.0 event hash (ni:///sha-256;...?ver=CBV2.0) of every event, in document order.

    stdout carries the hashes and nothing else, so other tools can read it line by line.
    """
    from cradletrace.core.epcishash import document_hashes
    from cradletrace.errors import InvalidInputError

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file}: not a JSON document ({exc})")
    try:
        hashes = document_hashes(doc)
    except InvalidInputError as exc:
        fail(f"{file}: {exc}")
    for h in hashes:
        typer.echo(h)

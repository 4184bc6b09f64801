"""``cradletrace dl``: GS1 Digital Link URIs on the command line, for operators, printers and scripts.

``parse`` prints two lines on stdout (the element string, then the AIs as one JSON object) so a
script can read either; an invalid URI prints the rule it breaks on stderr and exits 2.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from cradletrace.cli.options import fail, reported

app = typer.Typer(no_args_is_help=True, help="GS1 Digital Link URIs: parse (check every rule) and compose.")


@app.command("parse")
def parse(
    uri: Annotated[
        str, typer.Argument(help="A GS1 Digital Link URI, e.g. https://id.gs1.org/01/…/10/…/21/…?17=YYMMDD")
    ],
) -> None:
    """Print the GS1 element string, then a JSON object of its AIs; exit 2 naming the rule broken."""
    from cradletrace.core.digitallink import parse as parse_uri

    with reported():
        link = parse_uri(uri.strip())
    typer.echo(link.element_string)
    typer.echo(json.dumps(link.ais, ensure_ascii=False))


@app.command("compose")
def compose(
    gtin: Annotated[str, typer.Option(help="GTIN-8, -12, -13 or -14 (written as GTIN-14)")],
    lot: Annotated[str | None, typer.Option(help="Batch/lot (AI 10)")] = None,
    serial: Annotated[str | None, typer.Option(help="Serial (AI 21)")] = None,
    cpv: Annotated[str | None, typer.Option(help="Consumer product variant (AI 22)")] = None,
    expiry: Annotated[str | None, typer.Option(help="Expiry date (AI 17): YYMMDD or YYYY-MM-DD")] = None,
    ai: Annotated[
        list[str] | None, typer.Option("--ai", help="Another data attribute AI=VALUE, repeatable (e.g. 3103=000800)")
    ] = None,
    resolver: Annotated[str | None, typer.Option(help="Resolver origin [env CRADLETRACE_RESOLVER_HOST]")] = None,
) -> None:
    """Print the Digital Link URI of the given keys and attributes, every value checked."""
    from cradletrace.config import Settings
    from cradletrace.core.digitallink import compose as compose_link
    from cradletrace.core.labels import resolver_origin

    attributes: list[tuple[str, str]] = []
    if expiry is not None:
        iso = re.fullmatch(r"\d\d(\d\d)-(\d\d)-(\d\d)", expiry)
        attributes.append(("17", "".join(iso.groups()) if iso else expiry))
    for given in ai or []:
        key, sep, value = given.partition("=")
        if not sep:
            fail(f"--ai: expected AI=VALUE such as 3103=000800, got {given!r}")
        attributes.append((key.strip("()"), value))
    with reported():
        origin = resolver_origin(resolver or Settings().resolver_host)
        link = compose_link(gtin, cpv=cpv, lot=lot, serial=serial, attributes=attributes)
    typer.echo(link.uri(origin))

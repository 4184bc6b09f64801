"""``cradletrace dl``: GS1 Digital Link URIs on the command line, for operators, printers and scripts.

``parse`` prints two lines on stdout (the element string, then the AIs as one JSON object) so a
script can read either; an invalid URI prints the rule it breaks on stderr and exits 2. Any GS1
primary key parses (``/00/<SSCC>``, ``/414/<GLN>/254/<ext>``, ...); ``compose`` takes ``--gtin`` or
``--key AI=VALUE`` and always writes numeric AIs.
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
        str,
        typer.Argument(help="A GS1 Digital Link URI of any GS1 key, e.g. https://id.gs1.org/01/…/10/…/21/…?17=YYMMDD"),
    ],
) -> None:
    """Print the GS1 element string, then a JSON object of its AIs; exit 2 naming the rule broken."""
    from cradletrace.core.digitallink import parse as parse_uri

    with reported():
        link = parse_uri(uri.strip())
    typer.echo(link.element_string)
    typer.echo(json.dumps(link.ais, ensure_ascii=False))


def _pairs(option: str, given: list[str] | None, example: str) -> list[tuple[str, str]]:
    """``AI=VALUE`` options as pairs; ``(AI)`` brackets, as printed under a barcode, are dropped."""
    pairs = []
    for text in given or []:
        key, sep, value = text.partition("=")
        if not sep:
            fail(f"{option}: expected AI=VALUE such as {example}, got {text!r}")
        pairs.append((key.strip("()"), value))
    return pairs


@app.command("compose")
def compose(
    gtin: Annotated[str | None, typer.Option(help="GTIN-8, -12, -13 or -14 (written as GTIN-14)")] = None,
    key: Annotated[
        str | None, typer.Option(help="Another primary key as AI=VALUE instead of --gtin, e.g. 00=<SSCC> or 414=<GLN>")
    ] = None,
    lot: Annotated[str | None, typer.Option(help="Batch/lot (AI 10)")] = None,
    serial: Annotated[str | None, typer.Option(help="Serial (AI 21)")] = None,
    cpv: Annotated[str | None, typer.Option(help="Consumer product variant (AI 22)")] = None,
    qualifier: Annotated[
        list[str] | None, typer.Option("--qualifier", help="A key qualifier AI=VALUE, repeatable (e.g. 254=DOCK-3)")
    ] = None,
    expiry: Annotated[str | None, typer.Option(help="Expiry date (AI 17): YYMMDD or YYYY-MM-DD")] = None,
    ai: Annotated[
        list[str] | None, typer.Option("--ai", help="Another data attribute AI=VALUE, repeatable (e.g. 3103=000800)")
    ] = None,
    resolver: Annotated[str | None, typer.Option(help="Resolver origin [env CRADLETRACE_RESOLVER_HOST]")] = None,
) -> None:
    """Print the Digital Link URI of the given keys and attributes, every value checked, AIs numeric."""
    from cradletrace.config import Settings
    from cradletrace.core.digitallink import GTIN
    from cradletrace.core.digitallink import compose as compose_link
    from cradletrace.core.labels import resolver_origin

    if (gtin is None) == (key is None):
        fail("--gtin or --key: give exactly one primary key")
    primary = (GTIN, str(gtin)) if key is None else _pairs("--key", [key], "00=106141411234567897")[0]
    attributes: list[tuple[str, str]] = []
    if expiry is not None:
        iso = re.fullmatch(r"\d\d(\d\d)-(\d\d)-(\d\d)", expiry)
        attributes.append(("17", "".join(iso.groups()) if iso else expiry))
    attributes += _pairs("--ai", ai, "3103=000800")
    qualifiers = _pairs("--qualifier", qualifier, "254=DOCK-3")
    with reported():
        origin = resolver_origin(resolver or Settings().resolver_host)
        link = compose_link(
            primary[1], key=primary[0], cpv=cpv, lot=lot, serial=serial, qualifiers=qualifiers, attributes=attributes
        )
    typer.echo(link.uri(origin))

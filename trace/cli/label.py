"""``cradletrace label``: print the label of a pallet (SSCC) or a case as a PDF, from what the store knows.

Nothing is recorded: the pallet or case must already exist through its pack events, and its label
says what they packed (docs/logistics.md, "Labels for cases and pallets"). The PDF is written beside
its destination and moved into place only when complete, like the item labels of ``cradletrace labels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cradletrace.cli.options import DataDir, DbUrl, open_workspace, reported, settings_from

app = typer.Typer(no_args_is_help=True, help="GS1 logistic labels as PDF: a pallet's SSCC label, a case's label.")

Out = Annotated[Path, typer.Option("--out", "-o", help="The PDF file to write")]
Resolver = Annotated[
    str | None,
    typer.Option(
        "--resolver", help="Host the QR code points to [env CRADLETRACE_RESOLVER_HOST; default id.cradletrace.example]"
    ),
]


@app.command("pallet")
def pallet(
    sscc: Annotated[str, typer.Argument(help="The pallet's SSCC: 18 digits with its check digit")],
    out: Out,
    resolver: Resolver = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """An SSCC label (148 x 210 mm): from, to, the content's GS1 data titles, GS1-128 (00) and, for a
    pallet of one GTIN, (02)(37) with (10)(17) when of one lot, and a Digital Link QR code /00/<SSCC>."""
    from cradletrace.core.labels import resolver_origin
    from cradletrace.core.logisticlabel import pallet_label
    from cradletrace.labels.logistics import pallet_contents, write_pdf

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        origin = resolver_origin(resolver or settings.resolver_host)
        with ws.session() as s:
            contents = pallet_contents(s, sscc.strip())
        write_pdf(pallet_label(contents, origin), out)
    typer.echo(f"pallet label {contents.sscc} ({contents.cans} cans): {out}")


@app.command("case")
def case(
    gtin: Annotated[str, typer.Argument(help="The case's GTIN-14")],
    serial: Annotated[str, typer.Argument(help="The case's serial (AI 21), as its pack event named it")],
    out: Out,
    resolver: Resolver = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """A case label: GS1-128 (01)(21), with (17)(10) when its cans are of one lot, the can count, and
    a Digital Link QR code /01/<GTIN>/21/<serial>."""
    from cradletrace.core.labels import resolver_origin
    from cradletrace.core.logisticlabel import case_label
    from cradletrace.labels.logistics import case_contents, write_pdf

    settings = settings_from(data_dir, database_url, None)
    with reported(), open_workspace(settings) as ws:
        origin = resolver_origin(resolver or settings.resolver_host)
        with ws.session() as s:
            contents = case_contents(s, gtin.strip(), serial.strip())
        write_pdf(case_label(contents, origin), out)
    typer.echo(f"case label {contents.gtin}/{contents.serial} ({contents.cans} cans): {out}")

"""What every ``cradletrace`` command group shares: the store/chain options and error printing.

Command groups live in their own modules of this package and register on the root app in
``main.py``; they import their options and helpers from here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from cradletrace.errors import InvalidInputError, StateConflictError, TraceError

if TYPE_CHECKING:  # settings (pydantic-settings) and the store (SQLAlchemy) load when a command uses them
    from sqlmodel import Session

    from cradletrace.chain.base import Anchor
    from cradletrace.config import Settings
    from cradletrace.workspace import Workspace

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [env CRADLETRACE_DATA_DIR; default ./.cradletrace]")
]
DbUrl = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL URL instead of the SQLite file [env DATABASE_URL]")
]
Limits = Annotated[
    Path | None,
    typer.Option(
        "--limits", help="Analyte limits table replacing the shipped infant-formula one [env CRADLETRACE_LIMITS_FILE]"
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON")]
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", help="EVM JSON-RPC node instead of the embedded chain [env CRADLETRACE_RPC_URL]"),
]


def settings_from(
    data_dir: Path | None, database_url: str | None, rpc_url: str | None, limits: Path | None = None
) -> Settings:
    given = (("data_dir", data_dir), ("database_url", database_url), ("rpc_url", rpc_url), ("limits_file", limits))
    overrides = {k: v for k, v in given if v is not None}
    from cradletrace.config import Settings

    return Settings(**overrides)  # type: ignore[arg-type]


def read_input(file: Path) -> bytes:
    """The bytes of FILE, or of stdin when FILE is ``-``."""
    return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Print cradletrace errors as one line per problem and exit non-zero; no tracebacks."""
    try:
        yield
    except (InvalidInputError, StateConflictError) as exc:  # both name every field at fault
        if len(exc.problems) == 1:
            fail(str(exc.problems[0]))
        typer.echo(f"error: {len(exc.problems)} problems, nothing was stored:", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2) from None
    except TraceError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError  # loaded by then if the store raised it

        if not isinstance(exc, SQLAlchemyError):
            raise
        orig = getattr(exc, "orig", None) or exc
        fail(f"store: {type(exc).__name__}: {str(orig).strip().splitlines()[0][:200]}")


def open_workspace(settings: Settings) -> Workspace:
    from cradletrace.workspace import Workspace

    return Workspace(settings)


@contextmanager
def store_session(
    data_dir: Path | None, database_url: str | None, rpc_url: str | None = None
) -> Iterator[tuple[Workspace, Session]]:
    """How a command reaches the store: errors reported as the CLI reports them (``reported``), the
    workspace the options name, and one session on it."""
    with reported(), open_workspace(settings_from(data_dir, database_url, rpc_url)) as ws, ws.session() as s:
        yield ws, s


def chain_label(chain: Anchor) -> str:
    kind = "local development chain (embedded, not a public network)" if chain.local else f"chain {chain.where}"
    return f"{kind}, chain id {chain.chain_id}, contract {chain.contract_address}"

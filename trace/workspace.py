"""One open cradletrace installation: its store, its keys and (opened on demand) its chain.

The contract address, chain id and deployment block live in the store's ``meta`` table, so
every worker that shares a database anchors to the same contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cradletrace.config import Settings
from cradletrace.core.canonical import parse_json
from cradletrace.core.testreport import Limit, parse_limits_table
from cradletrace.errors import ChainError, ConfigError, TraceError
from cradletrace.private import private_dir, private_file
from cradletrace.store import db, schema
from cradletrace.store.models import Meta

if TYPE_CHECKING:
    from cradletrace.chain.web3anchor import Web3Anchor

CONTRACT_KEY = "chain.contract"


class ContractInfo(TypedDict):
    """The anchor contract this store's workers share (JSON under CONTRACT_KEY in ``meta``)."""

    address: str
    chain_id: int
    deploy_block: int
    local: bool


def load_limits(path: Path | None) -> dict[str, Limit]:
    """The limits table in ``path``, or the packaged one (data/limits-infant-formula.json)."""
    text = (
        path.read_text("utf-8")
        if path
        else resources.files("cradletrace").joinpath("data/limits-infant-formula.json").read_text("utf-8")
    )
    table = parse_json(text)
    if not isinstance(table, dict):
        raise ConfigError(f"limits table {path}: expected a JSON object")
    return parse_limits_table(table)


@cache
def default_limits() -> dict[str, Limit]:
    """The packaged limits table, read once; the recording default when no table is given."""
    return load_limits(None)


class Workspace:
    """Settings made concrete. Use as a context manager so the chain file lock is released."""

    def __init__(self, settings: Settings, create: bool = False, check_schema: bool = True) -> None:
        self.settings = settings
        self._create = create
        # Off only for 'cradletrace db', which reads and upgrades a store that is behind.
        self._check_schema = check_schema
        self._chain: Web3Anchor | None = None
        # Set when init deployed anew because the recorded contract is not on this chain.
        self.replaced_contract: str | None = None

    @cached_property
    def engine(self) -> Engine:
        """The store's engine; outside ``init`` a store that was never initialised is refused."""
        st = self.settings
        if st.database_url is None:
            if self._create:
                private_file(st.data_dir / db.SQLITE_NAME)
            elif not (st.data_dir / db.SQLITE_NAME).exists():
                raise ConfigError(
                    f"no cradletrace store in {st.data_dir.resolve()}; expected a data directory "
                    f"made by 'cradletrace init --data-dir {st.data_dir}'"
                )
        engine = db.open_engine(st.store_url, st.db_pool_size, st.db_wait_timeout)
        if not self._create:
            try:
                ready = inspect(engine).has_table("meta")
            except OperationalError as exc:
                engine.dispose()
                raise ConfigError(
                    f"store {engine.url.render_as_string(hide_password=True)}: cannot connect "
                    f"({str(exc.orig).strip()[:200]})"
                ) from None
            if not ready:
                engine.dispose()
                raise ConfigError(
                    f"store {engine.url.render_as_string(hide_password=True)} has no cradletrace tables; "
                    "run 'cradletrace init' first"
                )
            if self._check_schema:
                try:
                    schema.check(engine, self.upgrade_command())
                except ConfigError:
                    engine.dispose()
                    raise
        return engine

    def upgrade_command(self) -> str:
        """The command that upgrades this store, for error messages."""
        st = self.settings
        where = f"--data-dir {st.data_dir}" if st.database_url is None else "--database-url <this store's URL>"
        return f"cradletrace db upgrade {where}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def create_schema(self) -> None:
        try:
            db.create_schema(self.engine, self.upgrade_command())
        except OperationalError as exc:
            raise ConfigError(f"store {self._safe_url()}: cannot open ({str(exc.orig)[:200]})") from None

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @cached_property
    def limits(self) -> dict[str, Limit]:
        return load_limits(self.settings.limits_file) if self.settings.limits_file else default_limits()

    # -- chain -------------------------------------------------------------------------

    def contract_info(self) -> ContractInfo | None:
        with self.session() as s:
            row = s.get(Meta, CONTRACT_KEY)
            return json.loads(row.value) if row else None

    def chain(self, deploy: bool = False) -> Web3Anchor:
        """The anchor registry; with ``deploy`` it is deployed when this chain has none of ours."""
        if self._chain is not None:
            return self._chain
        from cradletrace.chain.connect import anchor_on, connect
        from cradletrace.chain.web3anchor import deploy as deploy_contract
        from cradletrace.chain.web3anchor import has_code, translated

        conn = connect(self.settings)
        try:
            with translated("connect", conn.where):
                chain_id = int(conn.w3.eth.chain_id)
            info = self.contract_info()
            if info and int(info["chain_id"]) == chain_id and has_code(conn.w3, str(info["address"]), conn.where):
                address, block = str(info["address"]), int(info["deploy_block"])
            elif deploy:
                if info:
                    self.replaced_contract = str(info["address"])
                address, block = deploy_contract(conn.w3, conn.sender, conn.private_key, conn.where)
                with self.session() as s:
                    s.merge(
                        Meta(
                            key=CONTRACT_KEY,
                            value=json.dumps(
                                {"address": address, "chain_id": chain_id, "deploy_block": block, "local": conn.local}
                            ),
                        )
                    )
            elif info:
                raise ConfigError(
                    f"the contract {info['address']} recorded in the store is not on the chain at {conn.where} "
                    f"(chain id {chain_id}); expected the chain it was deployed to, or run 'cradletrace init' to deploy anew"
                )
            else:
                raise ConfigError(f"no anchor contract recorded in {self._safe_url()}; run 'cradletrace init' first")
            self._chain = anchor_on(conn, self.settings, address, block)
        except BaseException:
            conn.close()
            raise
        return self._chain

    def close(self) -> None:
        if self._chain is not None:
            self._chain.close()
            self._chain = None
        if "engine" in self.__dict__:
            self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def init_workspace(settings: Settings) -> tuple[Workspace, Web3Anchor]:
    """Create the data directory, the schema and the contract; harmless when run again."""
    ws = Workspace(settings, create=True)
    try:
        ws.create_schema()
        private_dir(settings.keys_dir)
        return ws, ws.chain(deploy=True)
    except (TraceError, ChainError):
        ws.close()
        raise

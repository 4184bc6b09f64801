"""A throwaway PostgreSQL server: for ``scripts/stack``, the tests and the benchmarks.

``PostgresServer`` runs ``initdb`` + ``pg_ctl`` in a fresh temporary directory,
listening only on 127.0.0.1 (plus a unix socket inside that directory), with
durability switched off for speed.  When the tests run as root (CI), the
server runs as an unprivileged user (``postgres`` if it exists, otherwise a
system user ``cradletrace-pg`` created on demand), because ``initdb`` and
``postgres`` refuse to run as root.

The cluster lives in ``$PG_TMPDIR``, else ``/dev/shm`` when it has >2 GiB free,
else the default temp dir.

Binaries: ``$PG_BIN`` if set, else ``/usr/lib/postgresql/15/bin``, else
``pg_config --bindir``.  Missing binaries are an error, never a skip.

The pytest fixtures over it (``postgres_server``, ``postgres_url``) live in tests/pg.py.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"
FALLBACK_USER = "cradletrace-pg"
SUPERUSER = "postgres"
HOST = "127.0.0.1"

_INSTALL_HINT = (
    "PostgreSQL server binaries not found. Install them (Debian/Ubuntu: "
    "`apt-get install postgresql-15`) or set PG_BIN to the directory holding "
    "initdb, pg_ctl and postgres."
)


class PostgresError(RuntimeError):
    """The throwaway server could not be set up."""


def find_pg_bin() -> Path:
    """Directory holding initdb/pg_ctl/postgres, or raise ``PostgresError``."""
    candidates: list[str] = []
    env = os.environ.get("PG_BIN")
    if env:
        candidates.append(env)
    candidates.append(DEFAULT_PG_BIN)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for c in candidates:
        p = Path(c)
        if all(os.access(p / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return p
    raise PostgresError(f"{_INSTALL_HINT} Looked in: {', '.join(candidates)}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _temp_root() -> str | None:
    """Where to put the cluster: $PG_TMPDIR, else /dev/shm (tmpfs) if roomy, else $TMPDIR.

    On tmpfs CREATE DATABASE takes ~10 ms instead of ~250 ms on this VM's disk."""
    env = os.environ.get("PG_TMPDIR")
    if env:
        return env
    shm = "/dev/shm"
    try:
        if os.access(shm, os.W_OK | os.X_OK) and shutil.disk_usage(shm).free > 2 << 30:
            return shm
    except OSError:
        pass
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Unprivileged account to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get("PG_USER")
    names = [wanted] if wanted else ["postgres", FALLBACK_USER]
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    name = wanted or FALLBACK_USER
    proc = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    # exit code 9: user already exists (lost a race) -- fine.
    if proc.returncode not in (0, 9):
        raise PostgresError(
            f"running as root and could not create system user {name!r} for PostgreSQL: {proc.stderr.strip()}"
        )
    return pwd.getpwnam(name)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty server log)"


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>.

    >>> srv = PostgresServer().start()
    >>> url = srv.create_database("x")   # postgresql+psycopg://postgres@127.0.0.1:PORT/x
    >>> srv.restart(); srv.stop()
    """

    def __init__(
        self, dbname: str = "cradletrace", pg_bin: str | os.PathLike[str] | None = None, durable: bool = False
    ):
        """``durable``: PostgreSQL's own defaults for fsync, commits and autovacuum (benchmarks);
        otherwise tuned for throwaway test data (nothing is flushed to disk)."""
        self.durable = durable
        self.pg_bin = Path(pg_bin) if pg_bin else find_pg_bin()
        self.dbname = dbname
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._user = _server_user()
        self._running = False
        self._counter = itertools.count(1)
        self.startup_seconds: float | None = None  # initdb + start + create db

    # ---- paths / urls -------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    def url_for(self, dbname: str) -> str:
        if self.port is None:
            raise PostgresError("server not started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database."""
        return self.url_for(self.dbname)

    @property
    def dsn(self) -> str:
        """libpq/psycopg conninfo for the maintenance database ``postgres``."""
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname=postgres"

    @property
    def running(self) -> bool:
        return self._running

    # ---- process helpers ----------------------------------------------
    def _run(self, args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        if self._user is not None:
            env["HOME"] = str(self.base_dir)
            env["USER"] = env["LOGNAME"] = self._user.pw_name
        env.pop("PGDATA", None)
        return subprocess.run(args, cwd=self.base_dir, env=env, text=True, **extra, **kw)

    def _pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self._run(
            [str(self.pg_bin / "pg_ctl"), "-D", str(self.data_dir), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )

    # ---- lifecycle ----------------------------------------------------
    def start(self) -> PostgresServer:
        if self._running:
            return self
        t0 = time.perf_counter()
        self.base_dir = Path(tempfile.mkdtemp(prefix="cradletrace-pg-", dir=_temp_root()))
        try:
            self.socket_dir.mkdir()
            if self._user is not None:
                for p in (self.base_dir, self.socket_dir):
                    os.chown(p, self._user.pw_uid, self._user.pw_gid)
            self._initdb()
            last: Exception | None = None
            for _ in range(5):  # the free port can be stolen between probe and bind
                self.port = _free_port()
                self._write_conf()
                try:
                    self._start_postmaster()
                    break
                except PostgresError as exc:
                    last = exc
                    if "already in use" not in _tail(self.log_file, 20):
                        raise
            else:
                assert last is not None
                raise last
            _ACTIVE.add(self)
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        return self

    def _initdb(self) -> None:
        proc = self._run(
            [
                str(self.pg_bin / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise PostgresError(f"initdb failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def _write_conf(self) -> None:
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "checkpoint_timeout": "1h",
            "max_wal_size": "1GB",
            "shared_buffers": "64MB",
            "autovacuum": "off",
            "jit": "off",
            # Durable: PostgreSQL's defaults for what makes a commit last, and the memory a server
            # of its own would be given (shared_buffers a quarter of RAM or so; 64 MB made a
            # 1 000 000-item store churn its buffers).
            **(
                {
                    "fsync": "on",
                    "synchronous_commit": "on",
                    "full_page_writes": "on",
                    "wal_level": "replica",
                    "max_wal_senders": "10",
                    "autovacuum": "on",
                    "shared_buffers": "1GB",
                }
                if self.durable
                else {}
            ),
            "logging_collector": "off",
            "log_min_messages": "warning",
            "log_timezone": "'UTC'",
            "timezone": "'UTC'",
        }
        body = "".join(f"{k} = {v}\n" for k, v in settings.items())
        path = self.data_dir / "postgresql.auto.conf"
        path.write_text("# written by cradletrace.devstack.pg\n" + body)
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _start_postmaster(self) -> None:
        proc = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file))
        if proc.returncode != 0:
            raise PostgresError(
                f"pg_ctl start failed (exit {proc.returncode}) on {HOST}:{self.port}\n"
                f"{proc.stdout}{proc.stderr}\n--- server log tail ({self.log_file}) ---\n"
                f"{_tail(self.log_file)}"
            )
        self._running = True

    def _stop_postmaster(self, mode: str = "fast") -> None:
        if not self._running:
            return
        proc = self._pg_ctl("stop", "-w", "-m", mode, timeout=60)
        if proc.returncode != 0 and mode != "immediate":
            proc = self._pg_ctl("stop", "-w", "-m", "immediate", timeout=60)
        if proc.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
            raise PostgresError(f"pg_ctl stop failed: {proc.stdout}{proc.stderr}\n{_tail(self.log_file)}")
        self._running = False

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and delete its temp dir.  Idempotent."""
        try:
            self._stop_postmaster(mode)
        finally:
            _ACTIVE.discard(self)
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                self.base_dir = None

    def restart(self, mode: str = "fast") -> None:
        """Stop (keeping the data) and start again on the same port.

        ``mode="immediate"`` simulates a crash (recovery on start)."""
        if self.base_dir is None:
            raise PostgresError("server not started")
        self._stop_postmaster(mode)
        self._start_postmaster()

    def kill(self) -> None:
        """Stop abruptly (``-m immediate``), keeping the data; call ``start_again()``."""
        self._stop_postmaster("immediate")

    def start_again(self) -> None:
        """Start a server previously stopped by ``kill()`` on the same port."""
        if self.base_dir is None:
            raise PostgresError("server not started")
        if not self._running:
            self._start_postmaster()

    # ---- databases ----------------------------------------------------
    def create_database(self, name: str | None = None) -> str:
        """Create database ``name`` (a unique name if None); return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        if name is None:
            name = f"t_{os.getpid()}_{next(self._counter)}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            # FILE_COPY (copy files + checkpoint) beats PG15's default WAL_LOG here: fsync is
            # off, and WAL_LOG pushes the whole template through the WAL.
            conn.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_ACTIVE: set[PostgresServer] = set()


@atexit.register
def _stop_leftovers() -> None:
    for srv in list(_ACTIVE):
        try:
            srv.stop("immediate")
        except Exception:
            pass

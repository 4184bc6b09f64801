"""A lock one process holds at a time, across processes and machines, on the store's own server.

* PostgreSQL: a session-level advisory lock keyed by a name (``lock_key``), taken on a connection
  of its own and kept open while held; the server frees it when the holder's session ends.
* SQLite (one machine): an exclusive ``flock`` on a file beside the store; the kernel frees it
  when the process dies.

Anchoring elects its leader with it (``cradletrace.anchoring.leader``); store upgrades take the
same kind of key (``schema.py``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from cradletrace.private import private_dir


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key: the first 8 bytes of SHA-256(name), signed."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


class LeaderLock(Protocol):
    """A lock held by one process at a time; ``acquire`` never waits."""

    @property
    def held(self) -> bool: ...

    def acquire(self, wait: float = 0.0) -> bool: ...

    def check(self) -> bool: ...

    def holder(self) -> str: ...

    def release(self) -> None: ...


class PostgresLeaderLock:
    """``pg_try_advisory_lock`` on a dedicated autocommit connection (not from the pool)."""

    def __init__(self, url: str, name: str, connect_timeout: int = 5) -> None:
        u = make_url(url)
        self._conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        self._where = u.render_as_string(hide_password=True)
        self.key = lock_key(name)
        self._name = name.removeprefix("cradletrace.")
        self._timeout = connect_timeout
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def _connect(self) -> Any:
        import psycopg

        # Keepalives: a leader cut off from the server notices within ~15 s instead of hours.
        return psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=self._timeout,
            application_name=f"cradletrace {self._name} leader ({_me()})"[:63],
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock if it is free, or once it is freed within ``wait`` seconds (the server
        grants it the moment the holder's session ends); True while this process holds it."""
        import psycopg

        if self._conn is not None:
            return self.check()
        conn = None
        try:
            conn = self._connect()
            if wait > 0:
                conn.execute(f"SET lock_timeout = {max(1, round(wait * 1000))}")
                try:
                    got = conn.execute("SELECT pg_advisory_lock(%s) IS NOT NULL", (self.key,)).fetchone()[0]
                except psycopg.errors.LockNotAvailable:
                    got = False
            else:
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
        except psycopg.Error:
            if conn is not None:
                conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def check(self) -> bool:
        """Ask the server whether this session still holds the lock; step down if not."""
        import psycopg

        if self._conn is None:
            return False
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = (%s::bigint & 4294967295)::oid "
                "AND classid = ((%s::bigint >> 32) & 4294967295)::oid",
                (self.key, self.key),
            ).fetchone()
            if row and row[0]:
                return True
        except psycopg.Error:
            pass
        self.release()
        return False

    def holder(self) -> str:
        """Who leads now, as far as the server knows (for messages)."""
        import psycopg

        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._timeout) as conn:
                row = conn.execute(
                    "SELECT a.application_name, a.client_addr::text, a.pid FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.objid = (%s::bigint & 4294967295)::oid AND l.classid = ((%s::bigint >> 32) & 4294967295)::oid",
                    (self.key, self.key),
                ).fetchone()
        except psycopg.Error as exc:
            return f"unknown ({self._where} did not answer: {type(exc).__name__})"
        if row is None:
            return "nobody"
        return f"{row[0] or 'a session'} (server pid {row[2]}, from {row[1] or 'a local socket'})"

    def release(self) -> None:
        """Close the connection: the server frees the lock with the session."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a connection already broken has nothing left to close
                pass


class FileLeaderLock:
    """An exclusive ``flock`` on a file next to the SQLite store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock if it is free, or once it is freed within ``wait`` seconds (polled)."""
        if self._fd is not None:
            return True
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{_me()}\n".encode(), 0)
        self._fd = fd
        return True

    def check(self) -> bool:
        return self._fd is not None  # a flock lasts as long as its file descriptor

    def holder(self) -> str:
        """The pid the lock file names, if the lock is held now (the file outlives its holder)."""
        if self._fd is not None:
            return _me()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return "nobody"
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "a process"
        finally:
            os.close(fd)  # also drops the shared lock taken when nobody held it
        return "nobody"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

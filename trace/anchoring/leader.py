"""Which anchoring worker anchors: exactly one at a time, across processes and machines.

Any number of ``cradletrace anchor --watch`` and ``cradletrace serve`` processes may run on one
store; only the holder of the *leader lock* anchors. The others wait on the lock (``acquire``
with ``wait``, up to a second at a time), so when the leader's session ends one of them leads at
once, not an interval later.

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a connection
  of its own, kept open while leading. When the leader's process dies, or its connection does
  (PostgreSQL restarted, network cut and the server's TCP keepalive gives up), the server ends
  the session and the lock is free. Before each transaction the leader asks the server whether
  it still holds the lock (``check``), so a leader whose session was ended steps down instead
  of anchoring beside its successor.
* SQLite (one machine): an exclusive ``flock`` on ``<store file>.anchor.lock``; the kernel
  releases it when the process dies.

The lock only keeps workers from doing the same work twice (and two senders from picking the
same nonce). Correctness does not rest on it: events are claimed in one transaction and the
contract refuses a root it holds, so even two leaders at once could not anchor an event twice.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from cradletrace.errors import ConfigError
from cradletrace.store.lock import FileLeaderLock, LeaderLock, PostgresLeaderLock

LOCK_NAME = "cradletrace.anchoring"


def leader_lock(store_url: str) -> LeaderLock:
    """The leader lock for the store at ``store_url`` (SQLAlchemy URL)."""
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(store_url, LOCK_NAME)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLeaderLock(Path(url.database + ".anchor.lock"))
    raise ConfigError(
        f"leader lock: expected a PostgreSQL or SQLite file store, got {url.render_as_string(hide_password=True)}"
    )

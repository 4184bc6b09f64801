"""Leadership is taken at once when the leader dies (issue 19): a follower waits on the lock itself
(PostgreSQL ``pg_advisory_lock`` under ``lock_timeout``; a polled ``flock`` on SQLite) instead of
asking again an interval later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from cradletrace.anchoring.leader import leader_lock

HOLDER = (
    "import sys, time\n"
    "from cradletrace.anchoring.leader import leader_lock\n"
    "lock = leader_lock(sys.argv[1])\n"
    "assert lock.acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_follower_waiting_on_the_lock_leads_as_soon_as_the_killed_leaders_session_ends(
    tmp_path, database_url
) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'store.sqlite'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    follower = leader_lock(url)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        assert not follower.acquire(wait=0.3)  # the leader lives: the wait runs out, nothing taken
        assert 0.25 <= time.monotonic() - started < 2.0

        waiting_since = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert follower.acquire(wait=5.0) and follower.check()
        took = time.monotonic() - waiting_since
        print(f"{url.split(':')[0]}: led {took * 1000:.0f} ms after the leader's SIGKILL")
        assert took < 0.5  # was: the next ask, one interval later
    finally:
        follower.release()
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]

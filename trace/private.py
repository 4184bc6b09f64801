"""Files and folders of a cradletrace installation that only their owner may read.

The store holds supplier data and scan records, the embedded chain holds the anchoring
account's state, and key files sign: none of it is for other users of the machine. Folders
are made 0700 and files 0600 from the first byte, whatever the umask, as the key files are.
SQLite gives a database's -wal and -shm files the mode of the database file, so creating the
database file 0600 before SQLite opens it covers them too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Make ``path`` and its missing parents if absent; every folder this call makes is 0700."""
    if path.is_dir():
        return path
    private_dir(path.parent)  # (mkdir(parents=True) would make the parents with the umask's mode)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # another worker made it first
        return path
    os.chmod(path, 0o700)  # mkdir's mode passes through the umask; say it exactly
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if absent; take group and other bits off if present."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    return path

"""One writer at a time per SQLite file, across threads and processes, each woken as soon as the
file is free.

SQLite lets one connection write at a time. A writer that finds the database locked waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms between
attempts, however briefly the lock is held. Under load a write that needs a fraction of a millisecond
could wait tens of milliseconds, holding up every turn queued behind it (a chat server with two
workers saw whole-server stalls of 100-160 ms). Writers queue here instead: on a thread lock within
the process, then on an ``flock`` of a file beside the database across processes. Both hand over at
once on release, and SQLite's own lock is then never contended. The kernel drops a dead process's
lock.

``flock`` rather than a POSIX record lock (``lockf``): record locks belong to the whole process, so
with two files (the conversation state and the CRM) written from different threads, the kernel sees
two processes each holding one file and waiting for the other, and refuses with EDEADLK although no
thread waits for itself. An ``flock`` belongs to the open file, which each process opens for itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator

_registry: dict[str, SqliteWriters] = {}
_registry_guard = threading.Lock()


class SqliteWriters:
    """The queue of writers of one SQLite file (use :func:`writers_of`, which shares one per file)."""

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.lock_file = f"{os.fspath(database)}.writers"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the file for one write transaction (commit it before leaving)."""
        with self._threads:
            fd = self._file()
            if fd is None:
                yield
                return
            # Blocks without the GIL until the process holding it unlocks or exits.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        # A forked worker opens the file again: a descriptor inherited from the parent shares its open
        # file, and with it the parent's lock.
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                # A read-only folder: SQLite's own locking still keeps the writes correct.
                return None
            self._fd_pid = os.getpid()
        return self._fd


def writers_of(database: str | os.PathLike[str]) -> SqliteWriters:
    """The writer queue of a SQLite file, shared by everything in this process that writes to it."""
    key = os.path.realpath(os.fspath(database))
    with _registry_guard:
        writers = _registry.get(key)
        if writers is None:
            writers = _registry[key] = SqliteWriters(key)
        return writers

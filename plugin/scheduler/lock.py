"""Exactly one active scheduler.

APScheduler 3 cannot share a job store between processes, so only one
`infoshare scheduler` may run its jobs. A second one (on another host, for
fail-over) stands by: it polls for the lock every few seconds and takes over
when the active one dies, because the lock dies with its holder. On
PostgreSQL that is a session advisory lock (released when the holder's
connection drops); on the default SQLite file, an exclusive file lock next to
it (released when the holder's process ends).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
from pathlib import Path

import sqlalchemy as sa

from plugin.adapters.store import Store

log = logging.getLogger("infoshare.scheduler")

LOCK_NAME = "infoshare:scheduler"
# PostgreSQL advisory locks take a 64-bit key; this one is derived from the name.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)


class SchedulerLock:
    def __init__(self, store: Store, poll_seconds: float = 5.0):
        self.store = store
        self.poll_seconds = poll_seconds
        self._connection = None
        self._file = None

    @property
    def _is_postgres(self) -> bool:
        return self.store.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if self._is_postgres:
            if self._connection is None:
                self._connection = self.store.engine.connect()
            got = self._connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
            self._connection.commit()
            return bool(got)
        path = Path(str(sa.engine.make_url(self.store.url).database) + ".scheduler.lock")
        if self._file is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def acquire(self, stop: threading.Event) -> bool:
        """Wait until this process holds the lock (True) or is asked to stop."""
        announced = False
        while not stop.is_set():
            if self.try_acquire():
                return True
            if not announced:
                log.info("scheduler standing by: another one is active")
                announced = True
            stop.wait(self.poll_seconds)
        return False

    def still_held(self) -> bool:
        """False if the lock may have been lost (PostgreSQL connection gone)."""
        if not self._is_postgres:
            return self._file is not None
        try:
            held = self._connection.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted")
            ).scalar()
            self._connection.commit()
            return bool(held)
        except sa.exc.SQLAlchemyError:
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._connection.close()
            except sa.exc.SQLAlchemyError:
                pass
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None

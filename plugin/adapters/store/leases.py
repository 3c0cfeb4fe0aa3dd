"""Leases: one holder at a time per name (an issue, a job), across threads,
processes and hosts sharing the store.

The worker, the reconciler and the timer jobs all act on issues; a lease on
`issue:<id>` makes them take turns, so two of them never post the same note
at once. A holder that dies (kill -9) frees its leases when they expire, or
at once when a process on the same host finds it dead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import time
from typing import Iterator

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow

# Mutual exclusion across processes and hosts: one holder per name (an issue,
# a job) until it releases or its lease expires (a crashed holder).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(120), primary_key=True),
    sa.Column("holder", sa.String(120), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class LeaseBusy(RuntimeError):
    """The name is held by someone else for longer than we could wait."""


def holder_id() -> str:
    """This thread of this process on this host."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def holder_prefix() -> str:
    return f"{socket.gethostname()}:"


def holder_is_dead(holder: str) -> bool:
    """True for a holder on this host whose process no longer runs."""
    try:
        host, pid, _ = holder.split(":")
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


class Leases:
    def __init__(self, db: Database, ttl_seconds: float = 120):
        self.db = db
        self.ttl = ttl_seconds
        self._depth: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def try_acquire(self, name: str, holder: str, now: dt.datetime | None = None) -> bool:
        """Take the lease if it is free, expired, dead or already ours."""
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=self.ttl)
        insert = self.db.insert(leases).values(name=name, holder=holder, expires_at=expires)
        stmt = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": holder, "expires_at": expires},
            where=sa.or_(leases.c.expires_at < now, leases.c.holder == holder),
        ).returning(leases.c.name)
        with self.db.engine.begin() as conn:
            if conn.execute(stmt).first() is not None:
                return True
            current = conn.execute(sa.select(leases.c.holder).where(leases.c.name == name)).scalar()
        if current and holder_is_dead(current):
            with self.db.engine.begin() as conn:
                conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == current))
            return self.try_acquire(name, holder, now)
        return False

    def release(self, name: str, holder: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    @contextlib.contextmanager
    def hold(self, name: str, wait_seconds: float = 30) -> Iterator[None]:
        """Hold `name` for the block, waiting up to `wait_seconds` for it.
        Re-entrant within a thread (an escalation acting on its request while
        the request's own lease is held by the same thread)."""
        holder = holder_id()
        key = (name, holder)
        with self._lock:
            nested = self._depth.get(key, 0)
            self._depth[key] = nested + 1
        try:
            if not nested:
                deadline = time.monotonic() + wait_seconds
                delay = 0.05
                while not self.try_acquire(name, holder):
                    if time.monotonic() >= deadline:
                        raise LeaseBusy(f"{name} is busy")
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            yield
        finally:
            with self._lock:
                self._depth[key] -= 1
                last = self._depth[key] == 0
                if last:
                    del self._depth[key]
            if last and not nested:
                self.release(name, holder)

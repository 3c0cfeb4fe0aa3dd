"""Problems: issues a batch (the reconciler, a timer job) could not handle,
recorded and tried again with growing pauses."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import sqlalchemy as sa

from plugin.adapters.store.database import Database, as_utc, metadata
from plugin.clock import utcnow

# An issue a batch (the reconciler, a timer job) could not handle: recorded,
# retried with growing pauses, and never in the way of the others. Open
# while `resolved_at` is null; one open problem per source and issue.
problems = sa.Table(
    "problems",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),  # reconcile | retention | escalations | incidents | approval_reminders
    sa.Column("issue_id", sa.Integer, nullable=False),
    sa.Column("error", sa.String(200), nullable=False),  # the exception's type and code, never a message
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    # The reconciler's window when it failed: a retry judges the saves since then.
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("open_key", sa.String(80), nullable=True, unique=True),
    sa.Index("ix_problems_source", "source", "resolved_at"),
)


class Problems:
    """The problems table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def record(self, source: str, issue_id: int, error: str, backoff: Callable[[int], float], now: dt.datetime | None = None,
                       since: dt.datetime | None = None) -> int:
        """Record that `source` could not handle the issue (or that it failed
        again): counts the attempt and sets when to try again, `backoff(attempts)`
        seconds on. Returns the number of attempts."""
        now = now or utcnow()
        key = f"{source}:{issue_id}"
        with self.db.engine.begin() as conn:
            current = conn.execute(sa.select(problems.c.id, problems.c.attempts).where(problems.c.open_key == key)).first()
            when = now + dt.timedelta(seconds=backoff((current.attempts if current else 0) + 1))
            if current is None:
                conn.execute(sa.insert(problems).values(
                    source=source, issue_id=issue_id, error=error[:200], attempts=1, first_seen_at=now, last_seen_at=now,
                    next_attempt_at=when, since=since, open_key=key,
                ))
                return 1
            conn.execute(sa.update(problems).where(problems.c.id == current.id).values(
                error=error[:200], attempts=current.attempts + 1, last_seen_at=now, next_attempt_at=when,
            ))
            return current.attempts + 1

    def resolve(self, source: str, issue_id: int, now: dt.datetime | None = None) -> bool:
        with self.db.engine.begin() as conn:
            return conn.execute(
                sa.update(problems).where(problems.c.open_key == f"{source}:{issue_id}").values(resolved_at=now or utcnow(), open_key=None)
            ).rowcount == 1

    def list(self, *, include_resolved: bool = False, source: str | None = None, due_by: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Problems, oldest first: open ones (and resolved ones if asked), of
        one source, or only those due for another try by `due_by`."""
        query = sa.select(problems).order_by(problems.c.id)
        if not include_resolved:
            query = query.where(problems.c.resolved_at.is_(None))
        if source is not None:
            query = query.where(problems.c.source == source)
        if due_by is not None:
            query = query.where(problems.c.next_attempt_at <= due_by)
        with self.db.engine.connect() as conn:
            return [{**r._mapping, "since": as_utc(r.since)} for r in conn.execute(query)]

"""Sweep wakes: per timed sweep and issue, when the clock next calls for
something on it (as its rules said when it was last judged) and the issue's
version as it was then (its `updated_on` and status).

Redmine can filter a sweep's candidates only roughly (every request in
Awaiting approval, every overdue one), and reading each candidate every few
minutes would make a sweep cost what exists. A candidate whose version has
not moved, judged under the same rules and configuration, with its wake
still ahead, is left alone: nothing of it has changed but the clock, and the
clock has not reached it. (The status is part of the version because
Redmine's `updated_on` counts whole seconds: a move into Awaiting approval in
the second the sweep read the request would otherwise go unseen until the
wake.) Ids, times, a status id and a digest only: no case details."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from plugin.adapters.store.database import Database, as_utc, metadata
from plugin.clock import utcnow

sweep_wakes = sa.Table(
    "sweep_wakes",
    metadata,
    sa.Column("sweep", sa.String(40), primary_key=True),
    sa.Column("issue_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(80), nullable=True),  # issue_version() as read when judged
    sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True),  # null: not until the issue changes
    sa.Column("rules", sa.String(64), nullable=False),  # digest of the rules' version and configuration
    sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_sweep_wakes_judged", "sweep", "judged_at"),
)

# Ids per query: well inside SQLite's and PostgreSQL's limits on parameters.
CHUNK = 500


def issue_version(issue: dict) -> str | None:
    """An issue's version as a list or a read of it shows it: its
    `updated_on` and status id (None without an `updated_on`)."""
    updated = issue.get("updated_on")
    return None if updated is None else f"{updated}|{(issue.get('status') or {}).get('id')}"


class Wake(NamedTuple):
    version: str | None
    wake_at: dt.datetime | None
    rules: str


class SweepWakes:
    """The sweep_wakes table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def asleep(self, sweep: str, versions: dict[int, str | None], rules: str, now: dt.datetime) -> set[int]:
        """Of the candidates (issue id: issue_version() as listed now), those
        that need no read: unchanged since judged under these `rules`, and
        not yet woken by the clock (judged before `now`: a run told to act
        as if at a later moment says nothing of the present). A candidate
        listed without a version is always read."""
        ids = [issue_id for issue_id, version in versions.items() if version is not None]
        found: set[int] = set()
        with self.db.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                rows = conn.execute(
                    sa.select(sweep_wakes.c.issue_id, sweep_wakes.c.version, sweep_wakes.c.wake_at, sweep_wakes.c.judged_at).where(
                        sweep_wakes.c.sweep == sweep, sweep_wakes.c.rules == rules, sweep_wakes.c.issue_id.in_(ids[start : start + CHUNK])
                    )
                )
                found.update(
                    row.issue_id
                    for row in rows
                    if row.version == versions[row.issue_id]
                    and as_utc(row.judged_at) <= now
                    and (row.wake_at is None or as_utc(row.wake_at) > now)
                )
        return found

    def remember(self, sweep: str, issue_id: int, wake: Wake, now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        values = {"version": wake.version, "wake_at": wake.wake_at, "rules": wake.rules, "judged_at": now}
        with self.db.engine.begin() as conn:
            conn.execute(self.db.insert(sweep_wakes).values(sweep=sweep, issue_id=issue_id, **values).on_conflict_do_nothing(index_elements=["sweep", "issue_id"]))
            conn.execute(sa.update(sweep_wakes).where(sweep_wakes.c.sweep == sweep, sweep_wakes.c.issue_id == issue_id).values(**values))

    def get(self, sweep: str, issue_id: int) -> Wake | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(sweep_wakes.c.version, sweep_wakes.c.wake_at, sweep_wakes.c.rules).where(
                    sweep_wakes.c.sweep == sweep, sweep_wakes.c.issue_id == issue_id
                )
            ).first()
        return Wake(row.version, as_utc(row.wake_at), row.rules) if row else None

    def forget(self, sweep: str, issue_id: int) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(sa.delete(sweep_wakes).where(sweep_wakes.c.sweep == sweep, sweep_wakes.c.issue_id == issue_id))

    def prune(self, sweep: str, judged_before: dt.datetime) -> int:
        """Forget what was judged before then: the issues no longer candidates
        (answered, confirmed, deleted) leave their rows behind, and forgetting
        one that still is costs only its next read."""
        with self.db.engine.begin() as conn:
            return conn.execute(sa.delete(sweep_wakes).where(sweep_wakes.c.sweep == sweep, sweep_wakes.c.judged_at < judged_before)).rowcount

"""Job runs: every run of a scheduled job or its command, with its counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow

# Every run of a scheduled job or its command: for /metrics and operators.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(60), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("summary", sa.String(400), nullable=True),  # counts and ids only
    sa.Index("ix_job_runs_job", "job", "id"),
)


class JobRuns:
    """The job_runs table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def start(self, job: str, now: dt.datetime | None = None) -> int:
        with self.db.engine.begin() as conn:
            return conn.execute(sa.insert(job_runs).values(job=job, started_at=now or utcnow())).inserted_primary_key[0]

    def finish(self, run_id: int, ok: bool, summary: str, now: dt.datetime | None = None) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(sa.update(job_runs).where(job_runs.c.id == run_id).values(finished_at=now or utcnow(), ok=ok, summary=summary[:400]))

    def list(self, job: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(job_runs).order_by(job_runs.c.id)
        if job:
            query = query.where(job_runs.c.job == job)
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

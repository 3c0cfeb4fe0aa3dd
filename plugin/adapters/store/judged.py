"""Judged saves: per issue, the last save the service has judged (its journal
id; 0 for the creation) and the issue's `updated_on` as it was then.

The worker judges every save after the last one judged, whatever the event
names: Redmine 7 may name no journal, or only the private-notes half of a save
it split in two, and never redelivers one it dropped. The reconciler's
periodic pass skips an issue whose `updated_on` has not moved since it was
judged, so a pass with nothing new costs one Redmine request."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow

judged_saves = sa.Table(
    "judged_saves",
    metadata,
    sa.Column("issue_id", sa.Integer, primary_key=True),
    sa.Column("journal_id", sa.Integer, nullable=False),  # history.CREATION_MARK: the creation only
    sa.Column("updated_on", sa.String(40), nullable=True),  # Redmine's, as read
    sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
)



class LastJudged(NamedTuple):
    journal_id: int
    updated_on: str | None


class JudgedSaves:
    """The judged_saves table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def last(self, issue_id: int) -> LastJudged | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(judged_saves.c.journal_id, judged_saves.c.updated_on).where(judged_saves.c.issue_id == issue_id)
            ).first()
        return LastJudged(row.journal_id, row.updated_on) if row else None

    def updated_on(self, issue_ids: list[int]) -> dict[int, str | None]:
        """The `updated_on` each issue had when last judged (one query)."""
        if not issue_ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(judged_saves.c.issue_id, judged_saves.c.updated_on).where(judged_saves.c.issue_id.in_(issue_ids)))
            return {issue_id: updated for issue_id, updated in rows}

    def advance(self, issue_id: int, journal_id: int, updated_on: str | None, now: dt.datetime | None = None) -> None:
        """Record that every save up to `journal_id` is judged. Never moves
        back: two processes judging one issue in turn leave the later mark."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            conn.execute(
                self.db.insert(judged_saves)
                .values(issue_id=issue_id, journal_id=journal_id, updated_on=updated_on, judged_at=now)
                .on_conflict_do_nothing(index_elements=["issue_id"])
            )
            conn.execute(
                sa.update(judged_saves)
                .where(judged_saves.c.issue_id == issue_id, judged_saves.c.journal_id <= journal_id)
                .values(journal_id=journal_id, updated_on=updated_on, judged_at=now)
            )

    def forget(self, issue_id: int) -> None:
        """The issue was deleted."""
        with self.db.engine.begin() as conn:
            conn.execute(sa.delete(judged_saves).where(judged_saves.c.issue_id == issue_id))

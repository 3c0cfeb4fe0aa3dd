"""Breaches (R-AUDIT): rule violations that got past the gate, each recorded
once for ever against the save that introduced it."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow


class BreachStatus(str, enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"


# A rule violation that got past the gate (R-AUDIT). `open_key` is set while
# the breach is open and unique, so the worker and the reconciler finding the
# same violation at once record it once; it is cleared when resolved.
breaches = sa.Table(
    "breaches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.Integer, nullable=False),
    sa.Column("rule", sa.String(20), nullable=False),
    sa.Column("field", sa.String(60), nullable=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("journal_id", sa.Integer, nullable=True),  # the save that introduced it; None = creation
    sa.Column("user_id", sa.Integer, nullable=True),  # who made that save (a Redmine user id)
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_by", sa.String(20), nullable=False),  # event | reconciler
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("open_key", sa.String(200), nullable=True, unique=True),
    # Version 4: the breach as a violation introduced by one save, recorded
    # once for ever (a later look at the same save finds it recorded).
    sa.Column("breach_key", sa.String(240), nullable=True),
    sa.Index("ix_breaches_issue", "issue_id"),
    sa.Index("ux_breaches_breach_key", "breach_key", unique=True),
)


def breach_key(issue_id: int, identity: str, journal_id: int | None) -> str:
    """A breach's identity for ever: the issue, the violation, the save."""
    return f"{issue_id}:{identity}:{'created' if journal_id is None else journal_id}"


class Breaches:
    """The breaches table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def record(
        self,
        *,
        issue_id: int,
        rule: str,
        field: str | None,
        code: str,
        identity: str,
        journal_id: int | None,
        user_id: int | None,
        detected_by: str,
        now: dt.datetime | None = None,
    ) -> int | None:
        """Record a breach: the violation `identity` introduced by save
        `journal_id` (None: the creation). Once for ever per save (however
        often and by whatever that save is looked at again), and one open at a
        time per violation. Returns the new breach's id, or None when it was
        already recorded."""
        values = dict(
            issue_id=issue_id,
            rule=rule,
            field=field,
            code=code,
            journal_id=journal_id,
            user_id=user_id,
            detected_at=now or utcnow(),
            detected_by=detected_by,
            status=BreachStatus.OPEN.value,
            open_key=f"{issue_id}:{identity}",
            breach_key=breach_key(issue_id, identity, journal_id),
        )
        try:
            with self.db.engine.begin() as conn:
                return conn.execute(sa.insert(breaches).values(**values)).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            return None

    def open(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(breaches).where(breaches.c.status == BreachStatus.OPEN.value).order_by(breaches.c.id)
        if issue_id is not None:
            query = query.where(breaches.c.issue_id == issue_id)
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def resolve(self, breach_id: int, now: dt.datetime | None = None) -> bool:
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.update(breaches)
                .where(breaches.c.id == breach_id, breaches.c.status == BreachStatus.OPEN.value)
                .values(status=BreachStatus.RESOLVED.value, resolved_at=now or utcnow(), open_key=None)
            )
            return result.rowcount == 1

    def all(self) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(breaches).order_by(breaches.c.id))]

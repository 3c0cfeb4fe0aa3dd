"""Cursors: where each periodic job got to (the reconciler's updated-since)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from plugin.adapters.store.database import Database, as_utc, metadata

# Where each periodic job got to (the reconciler's updated-since cursor).
cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("value", sa.DateTime(timezone=True), nullable=False),
)


class Cursors:
    """The cursors table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def get(self, name: str) -> dt.datetime | None:
        with self.db.engine.connect() as conn:
            return as_utc(conn.execute(sa.select(cursors.c.value).where(cursors.c.name == name)).scalar())

    def set(self, name: str, value: dt.datetime) -> None:
        with self.db.engine.begin() as conn:
            updated = conn.execute(sa.update(cursors).where(cursors.c.name == name).values(value=value)).rowcount
            if not updated:
                conn.execute(sa.insert(cursors).values(name=name, value=value))

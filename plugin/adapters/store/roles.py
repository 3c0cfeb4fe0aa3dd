"""The roles people held in projects, as the service saw them over time."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from plugin.adapters.store.database import Database, as_utc, metadata
from plugin.clock import utcnow

# The roles of people in projects as the service has seen them over time:
# Redmine keeps no history of memberships, so a save is judged with the roles
# seen at its time (R-AUDIT: a later role change re-opens nothing).
role_observations = sa.Table(
    "role_observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),  # JSON list of role names
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_role_observations", "project_id", "user_id", "observed_at"),
)


class RoleObservations:
    """The role_observations table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def observe(self, project_id: int, roles_by_user: dict[int, frozenset[str]], now: dt.datetime | None = None) -> int:
        """Note the roles people hold now, where they differ from what was last
        seen. Returns how many changes were noted."""
        now = now or utcnow()
        latest = self._latest_roles(project_id)
        changed = [
            {"project_id": project_id, "user_id": user, "roles": json.dumps(sorted(roles)), "observed_at": now}
            for user, roles in roles_by_user.items()
            if latest.get(user) != frozenset(roles)
        ]
        # Someone who was a member and no longer is holds no roles now.
        changed += [
            {"project_id": project_id, "user_id": user, "roles": "[]", "observed_at": now}
            for user, roles in latest.items()
            if user not in roles_by_user and roles
        ]
        if changed:
            with self.db.engine.begin() as conn:
                conn.execute(sa.insert(role_observations), changed)
        return len(changed)

    def _latest_roles(self, project_id: int) -> dict[int, frozenset[str]]:
        history = self.history(project_id)
        return {user: seen[-1][1] for user, seen in history.items()}

    def history(self, project_id: int) -> dict[int, tuple[tuple[dt.datetime, frozenset[str]], ...]]:
        """Each person's roles in the project as seen over time, oldest first."""
        query = (
            sa.select(role_observations.c.user_id, role_observations.c.roles, role_observations.c.observed_at)
            .where(role_observations.c.project_id == project_id)
            .order_by(role_observations.c.user_id, role_observations.c.observed_at, role_observations.c.id)
        )
        found: dict[int, list[tuple[dt.datetime, frozenset[str]]]] = {}
        with self.db.engine.connect() as conn:
            for user, roles, at in conn.execute(query):
                found.setdefault(user, []).append((as_utc(at), frozenset(json.loads(roles))))
        return {user: tuple(seen) for user, seen in found.items()}

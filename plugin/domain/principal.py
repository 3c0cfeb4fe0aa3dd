"""A Redmine user as the rules see them (pure)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Principal:
    """A Redmine user as the rules see them: their roles in the issue's
    project (directly or through a group)."""

    id: int
    name: str = ""
    roles: frozenset[str] = frozenset()

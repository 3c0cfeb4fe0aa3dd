"""Raw JSON reads of Redmine's REST API through a python-redmine client's
engine (its timeouts and retries): what the adapter, provisioning's doctor
and the development stack read."""

from __future__ import annotations

from typing import Any

from redminelib import Redmine


class RestReader:
    """Raw JSON GETs through the client's engine (its timeouts and retries)."""

    def __init__(self, redmine: Redmine):
        self.redmine = redmine
        self.base = redmine.url.rstrip("/")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.redmine.engine.request("get", f"{self.base}{path}", params=params)

    def get_all(self, path: str, container: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a list endpoint (Redmine caps `limit` at 100)."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.get(path, limit=100, offset=offset, **params)
            batch = page.get(container, [])
            items.extend(batch)
            total = page.get("total_count")
            offset += len(batch)
            if not batch or total is None or offset >= total:
                return items

    # Redmine's user statuses: active, registered (not yet activated), locked.
    USER_STATUSES = (1, 2, 3)

    def users(self, **params: Any) -> list[dict[str, Any]]:
        """Every user matching `params`, whatever their status (locked ones
        included). Asked one status at a time: Redmine 5 reads an empty
        `status=` as "any" but answers `status=*` with nobody, and Redmine 6
        refuses the empty one (422 "Status cannot be blank")."""
        found: dict[int, dict[str, Any]] = {}
        for status in self.USER_STATUSES:
            for user in self.get_all("/users.json", "users", status=status, **params):
                found.setdefault(user["id"], user)
        return sorted(found.values(), key=lambda u: u["id"])

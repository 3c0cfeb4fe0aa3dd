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

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

    def get_all_updated_since(self, path: str, container: str, stamp: str, **params: Any) -> list[dict[str, Any]]:
        """Every item updated at or after `stamp`, oldest first, read page by
        page from the last time seen rather than by offset: Redmine moves an
        item updated during the read to the end of the list, and with offsets
        the items behind it would slide onto a page already read and be
        missed. An item read twice is kept once, as last read."""
        found: dict[int, dict[str, Any]] = {}
        skip = 0  # items already read in the second the next page starts at
        while True:
            page = self.get(path, limit=100, offset=skip, updated_on=f">={stamp}", sort="updated_on,id", **params)
            batch = page.get(container, [])
            for item in batch:
                found.pop(item["id"], None)
                found[item["id"]] = item
            if len(batch) < 100 or skip + len(batch) >= (page.get("total_count") or 0):
                return sorted(found.values(), key=lambda i: (i.get("updated_on") or "", i["id"]))
            last = batch[-1].get("updated_on")
            if last is None:
                raise ValueError(f"{path} lists items without updated_on; cannot page it by time")
            # Within one second Redmine orders by id, which does not change.
            skip = skip + len(batch) if last == stamp else sum(1 for i in batch if i.get("updated_on") == last)
            stamp = last

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

"""The Redmine adapter: the few REST calls the service makes, as the service
user, with names resolved to ids once and cached.

`RedminePort` is the interface the executor and the enforcer use; unit tests
give them a hand-written fake, integration tests this class on a real Redmine.
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import threading
from typing import Any, Iterator

from redminelib import Redmine
from redminelib.exceptions import ResourceNotFoundError

from plugin.provisioning.live import RestReader
from schemas.config import Config
from schemas.names import TrackerKey


class RedminePort(abc.ABC):
    @abc.abstractmethod
    def issue(self, issue_id: int) -> dict[str, Any] | None:
        """The issue with its journals, or None if it no longer exists."""

    @abc.abstractmethod
    def update_issue(self, issue_id: int, attributes: dict[str, Any]) -> None:
        """PUT /issues/:id.json with {"issue": attributes}."""

    @abc.abstractmethod
    def issues_updated_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        """Issues of the InfoShare trackers updated at or after `since`, oldest first."""

    @abc.abstractmethod
    def service_user_id(self) -> int: ...

    @abc.abstractmethod
    def names_by_id(self) -> dict[str, dict[int, str]]:
        """{"status": {id: name}, "tracker": {id: name}} for rebuilding history."""

    @abc.abstractmethod
    def group_id(self, project_id: int, group_name: str) -> int | None:
        """The id of a group that is a member of the project, or None."""


class RedmineAdapter(RedminePort):
    def __init__(self, client: Redmine, config: Config):
        self.client = client
        self.config = config
        self.reader = RestReader(client)
        self._lock = threading.Lock()
        self._groups: dict[int, dict[str, int]] = {}

    def issue(self, issue_id: int) -> dict[str, Any] | None:
        try:
            return self.reader.get(f"/issues/{issue_id}.json", include="journals")["issue"]
        except ResourceNotFoundError:
            return None

    def update_issue(self, issue_id: int, attributes: dict[str, Any]) -> None:
        self.client.engine.request("put", f"{self.reader.base}/issues/{issue_id}.json", data={"issue": attributes})

    @functools.cached_property
    def _tracker_ids(self) -> dict[TrackerKey, int]:
        by_name = {t["name"]: t["id"] for t in self.reader.get("/trackers.json")["trackers"]}
        return {key: by_name[name] for key, name in self.config.names.trackers.items() if name in by_name}

    def issues_updated_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        # Redmine's own filters (tracker, any status, updated_on >= time), so the
        # cost follows the number of changed issues, not of all issues.
        stamp = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield from self.reader.get_all(
            "/issues.json",
            "issues",
            tracker_id="|".join(str(i) for i in self._tracker_ids.values()),
            status_id="*",
            updated_on=f">={stamp}",
            sort="updated_on,id",
        )

    @functools.cached_property
    def _service_user_id(self) -> int:
        return self.reader.get("/users/current.json")["user"]["id"]

    def service_user_id(self) -> int:
        return self._service_user_id

    @functools.cached_property
    def _names(self) -> dict[str, dict[int, str]]:
        return {
            "status": {s["id"]: s["name"] for s in self.reader.get("/issue_statuses.json")["issue_statuses"]},
            "tracker": {t["id"]: t["name"] for t in self.reader.get("/trackers.json")["trackers"]},
        }

    def names_by_id(self) -> dict[str, dict[int, str]]:
        return self._names

    def group_id(self, project_id: int, group_name: str) -> int | None:
        with self._lock:
            if project_id not in self._groups:
                memberships = self.reader.get_all(f"/projects/{project_id}/memberships.json", "memberships")
                self._groups[project_id] = {m["group"]["name"]: m["group"]["id"] for m in memberships if m.get("group")}
            return self._groups[project_id].get(group_name)

"""The Redmine adapter: the port's calls over Redmine's REST API, as the
service user, with names resolved to ids once and cached."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from typing import Any, Iterator

from redminelib import Redmine
from redminelib.exceptions import ResourceNotFoundError

from plugin.domain.principal import Principal
from plugin.adapters.redmine.port import RedminePort
from plugin.adapters.redmine.rest import RestReader
from plugin.domain.configuration import Config
from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey


MEMBERSHIP_TTL = 300.0


class RedmineAdapter(RedminePort):
    def __init__(self, client: Redmine, config: Config):
        self.client = client
        self.config = config
        self.reader = RestReader(client)
        self._lock = threading.Lock()
        self._membership_cache: dict[int, tuple[float, list[dict[str, Any]]]] = {}
        self._field_id_cache: dict[int, dict[str, int]] = {}

    @property
    def requests_sent(self) -> int:
        return getattr(self.client.engine, "requests_sent", 0)

    def issue(self, issue_id: int) -> dict[str, Any] | None:
        try:
            return self.reader.get(f"/issues/{issue_id}.json", include="journals,relations,watchers,attachments")["issue"]
        except ResourceNotFoundError:
            return None

    def issues_by_id(self, issue_ids: list[int]) -> list[dict[str, Any]]:
        if not issue_ids:
            return []
        return self.reader.get_all(
            "/issues.json", "issues", issue_id=",".join(str(i) for i in sorted(issue_ids)), status_id="*", include="relations"
        )

    def update_issue(self, issue_id: int, attributes: dict[str, Any]) -> None:
        self.client.engine.request("put", f"{self.reader.base}/issues/{issue_id}.json", data={"issue": attributes})

    def create_issue(self, attributes: dict[str, Any]) -> int:
        created = self.client.engine.request("post", f"{self.reader.base}/issues.json", data={"issue": attributes})
        return created["issue"]["id"]

    def find_issue_with_marker(self, tracker: TrackerKey, marker: str) -> int | None:
        found = self.reader.get(
            "/issues.json", tracker_id=self._tracker_ids[tracker], status_id="*", description=f"~{marker}", limit=1
        )["issues"]
        return found[0]["id"] if found else None

    def add_relation(self, issue_id: int, issue_to_id: int, relation_type: str) -> None:
        self.client.engine.request(
            "post",
            f"{self.reader.base}/issues/{issue_id}/relations.json",
            data={"relation": {"issue_to_id": issue_to_id, "relation_type": relation_type}},
        )

    def add_watcher(self, issue_id: int, principal_id: int) -> None:
        self.client.engine.request("post", f"{self.reader.base}/issues/{issue_id}/watchers.json", data={"user_id": principal_id})

    def tracker_id(self, tracker: TrackerKey) -> int:
        return self._tracker_ids[tracker]

    def delete_issue(self, issue_id: int) -> None:
        try:
            self.client.engine.request("delete", f"{self.reader.base}/issues/{issue_id}.json")
        except ResourceNotFoundError:
            pass

    def anonymise(
        self,
        issue_id: int,
        *,
        custom_field_ids: list[int],
        attributes: list[str],
        journal_ids: list[int],
        attachment_ids: list[int],
        marker: str,
    ) -> dict[str, int]:
        answer = self.client.engine.request(
            "post",
            f"{self.reader.base}/infoshare/issues/{issue_id}/redact.json",
            data={
                "custom_field_ids": custom_field_ids,
                "attributes": attributes,
                "journal_ids": journal_ids,
                "attachment_ids": attachment_ids,
                "marker": marker,
            },
        )
        return {k: int(v) for k, v in answer.items() if isinstance(v, int)} if isinstance(answer, dict) else {}

    @functools.cached_property
    def _tracker_ids(self) -> dict[TrackerKey, int]:
        by_name = {t["name"]: t["id"] for t in self.reader.get("/trackers.json")["trackers"]}
        return {key: by_name[name] for key, name in self.config.names.trackers.items() if name in by_name}

    def issues_updated_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        # Redmine's own filters (tracker, any status, updated_on >= time), so the
        # cost follows the number of changed issues, not of all issues.
        stamp = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield from self.reader.get_all_updated_since(
            "/issues.json",
            "issues",
            stamp,
            tracker_id="|".join(str(i) for i in self._tracker_ids.values()),
            status_id="*",
        )

    def _field_ids(self, tracker_id: int) -> dict[str, int]:
        """Custom field ids by name for a tracker. `/custom_fields.json` is for
        administrators, and a project lists only the fields not shared by all
        projects; but every issue lists all its fields, so one issue of the
        tracker tells. No issue yet means nothing to filter."""
        with self._lock:
            if tracker_id in self._field_id_cache:
                return self._field_id_cache[tracker_id]
        sample = self.reader.get("/issues.json", tracker_id=tracker_id, status_id="*", limit=1)["issues"]
        ids = {cf["name"]: cf["id"] for cf in sample[0].get("custom_fields", [])} if sample else {}
        if ids:
            with self._lock:
                self._field_id_cache[tracker_id] = ids
        return ids

    def issues_where(self, tracker: TrackerKey, field_filters: dict[FieldKey, str], **filters: str) -> Iterator[dict[str, Any]]:
        tracker_id = self._tracker_ids[tracker]
        ids = self._field_ids(tracker_id)
        names = {key: self.config.names.field(key) for key in field_filters}
        if any(name not in ids for name in names.values()):
            return  # no issue of this tracker exists yet
        params = {f"cf_{ids[names[key]]}": value for key, value in field_filters.items()}
        yield from self.reader.get_all("/issues.json", "issues", tracker_id=str(tracker_id), sort="id", **params, **filters)

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

    def _memberships(self, project_id: int, fresh: bool = False) -> list[dict[str, Any]]:
        """A project's memberships, cached for MEMBERSHIP_TTL seconds: role
        changes are rare and the rules ask on every event."""
        with self._lock:
            cached = self._membership_cache.get(project_id)
            if cached and not fresh and time.monotonic() - cached[0] < MEMBERSHIP_TTL:
                return cached[1]
        memberships = self.reader.get_all(f"/projects/{project_id}/memberships.json", "memberships")
        with self._lock:
            self._membership_cache[project_id] = (time.monotonic(), memberships)
        return memberships

    def group_id(self, project_id: int, group_name: str) -> int | None:
        groups = {m["group"]["name"]: m["group"]["id"] for m in self._memberships(project_id) if m.get("group")}
        return groups.get(group_name)

    def principals(self, project_id: int, fresh: bool = False) -> dict[int, Principal]:
        found: dict[int, Principal] = {}
        for m in self._memberships(project_id, fresh):
            user = m.get("user")
            if not user:
                continue
            roles = frozenset(r["name"] for r in m.get("roles", []))
            known = found.get(user["id"])
            found[user["id"]] = Principal(user["id"], user.get("name", ""), roles | (known.roles if known else frozenset()))
        return found

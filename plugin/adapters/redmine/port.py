"""The port: the few Redmine calls the service makes, as an interface. The
executor and the jobs use it; unit tests give them a hand-written fake
(tests/unit/fakes.py), the running service `RedmineAdapter`."""

from __future__ import annotations

import abc
import datetime as dt
from typing import Any, Iterator

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from plugin.domain.principal import Principal


class RedminePort(abc.ABC):
    @property
    @abc.abstractmethod
    def requests_sent(self) -> int:
        """HTTP requests sent so far: the jobs report it, and tests and
        benchmarks check that costs follow the work, not the data."""

    @abc.abstractmethod
    def issue(self, issue_id: int) -> dict[str, Any] | None:
        """The issue with its journals, relations and watchers, or None if it
        no longer exists."""

    @abc.abstractmethod
    def issues_by_id(self, issue_ids: list[int]) -> list[dict[str, Any]]:
        """Current states (with relations) of the given issues, in one call."""

    @abc.abstractmethod
    def update_issue(self, issue_id: int, attributes: dict[str, Any]) -> None:
        """PUT /issues/:id.json with {"issue": attributes}."""

    @abc.abstractmethod
    def create_issue(self, attributes: dict[str, Any]) -> int:
        """POST /issues.json; returns the new issue's id."""

    @abc.abstractmethod
    def find_issue_with_marker(self, tracker: TrackerKey, marker: str) -> int | None:
        """An issue of the tracker whose description carries `marker`."""

    @abc.abstractmethod
    def add_relation(self, issue_id: int, issue_to_id: int, relation_type: str) -> None: ...

    @abc.abstractmethod
    def add_watcher(self, issue_id: int, principal_id: int) -> None: ...

    @abc.abstractmethod
    def tracker_id(self, tracker: TrackerKey) -> int: ...

    @abc.abstractmethod
    def delete_issue(self, issue_id: int) -> None:
        """Delete the issue; one already gone is not an error."""

    @abc.abstractmethod
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
        """Replace the values of these fields and attributes (now and in every
        journal), the notes of these journals, and the names of attachments in
        the history with `marker`, and delete these attachments, in one
        transaction (the shim's endpoint, which only the service's role may
        use; Redmine's REST API cannot rewrite history). Returns counts."""

    @abc.abstractmethod
    def issues_updated_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        """Issues of the InfoShare trackers updated at or after `since`, oldest first."""

    @abc.abstractmethod
    def issues_where(self, tracker: TrackerKey, field_filters: dict[FieldKey, str], **filters: str) -> Iterator[dict[str, Any]]:
        """Issues of one tracker matching Redmine's own filters: custom fields
        by key (`"1"`, `"!*"` for none, `"<=2026-01-01"`) and plain ones
        (`status_id="*"`). The cost follows the matches, not all issues."""

    @abc.abstractmethod
    def service_user_id(self) -> int: ...

    @abc.abstractmethod
    def names_by_id(self) -> dict[str, dict[int, str]]:
        """{"status": {id: name}, "tracker": {id: name}} for rebuilding history."""

    @abc.abstractmethod
    def group_id(self, project_id: int, group_name: str) -> int | None:
        """The id of a group that is a member of the project, or None."""

    @abc.abstractmethod
    def principals(self, project_id: int, fresh: bool = False) -> dict[int, Principal]:
        """The project's users with their roles (direct and through groups);
        `fresh` reads them from Redmine rather than from a recent copy."""

"""An event: Redmine telling the service that an issue was created, updated
or deleted, normalised from whichever format it came in (the shim's, or
Redmine 7's native webhooks: `schemas.event_payloads`). It says which issue and
which save; what the issue holds is read from Redmine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum


class EventType(str, enum.Enum):
    ISSUE_CREATED = "issue.created"
    ISSUE_UPDATED = "issue.updated"
    ISSUE_DELETED = "issue.deleted"


class EventSource(str, enum.Enum):
    SHIM = "shim"  # redmine_infoshare on Redmine 5.x/6.x
    REDMINE_NATIVE = "redmine7"  # Redmine 7 native webhooks


KNOWN_EVENT_TYPES = tuple(t.value for t in EventType)


@dataclasses.dataclass(frozen=True)
class Event:
    """One delivery, normalised to what the worker needs: which issue, which
    save (the journal; none for a creation), what kind and who. Whatever the
    payload said of the issue beyond its tracker is dropped on reading."""

    delivery_id: str
    source: EventSource
    type: EventType
    occurred_at: dt.datetime
    issue_id: int
    journal_id: int | None
    actor_id: int | None
    actor_login: str | None
    tracker_name: str | None = None  # absent when read back from the inbox

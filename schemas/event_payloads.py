"""Event payloads: the shim's signed format and Redmine 7's native webhook
format, both normalised to one internal `Event`.

The issue inside an event is Redmine's REST shape (as `GET /issues/:id.json`
returns it). Unknown keys inside the issue and journal are kept, so a newer
Redmine adding attributes does not break delivery; the parts the service relies
on are validated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, post_load, pre_load

from plugin.domain.event import KNOWN_EVENT_TYPES, Event, EventSource, EventType
from schemas.fast_fields import ISSUE, JOURNAL, Record

_WEBHOOK_TYPE = re.compile(r"[a-z][a-z_]{0,30}\.[a-z_]{1,30}")


class UnknownEventType(ValueError):
    def __init__(self, given: Any):
        self.given = given
        # Another object's webhook (time_entry.created, wiki_page.updated, ...):
        # Redmine 7 sends every event type a hook is set to send.
        self.other_object = isinstance(given, str) and bool(_WEBHOOK_TYPE.fullmatch(given)) and not given.startswith("issue.")
        # Named back only if it looks like a webhook type (say project.created):
        # errors never repeat arbitrary content.
        shown = given if isinstance(given, str) and _WEBHOOK_TYPE.fullmatch(given) else "(not an event type)"
        super().__init__(
            f"Unknown event type {shown!r}; this service accepts {', '.join(KNOWN_EVENT_TYPES)}. "
            "Other Redmine webhook types should not be sent to /v1/events."
        )


def _event_type(value: Any) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        raise UnknownEventType(value) from None


class _TypedEvent(Schema):
    """Checks the event type before anything else, so another kind of webhook
    (say a project event) is told its type is unknown rather than that its
    payload lacks an issue."""

    @pre_load
    def known_type(self, data, **_):
        if isinstance(data, dict) and "type" in data:
            _event_type(data["type"])
        return data


def _journal_id(journal: dict | None) -> int | None:
    return int(journal["id"]) if journal and journal.get("id") is not None else None


def _tracker_name(issue: dict) -> str | None:
    return (issue.get("tracker") or {}).get("name")


# --- The shim's format ------------------------------------------------------


class _Actor(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(allow_none=True, load_default=None)
    login = fields.String(allow_none=True, load_default=None)


class ShimEventSchema(_TypedEvent):
    """Body POSTed by redmine_infoshare; signed over `timestamp.body`."""

    class Meta:
        unknown = RAISE

    delivery_id = fields.UUID(required=True)
    type = fields.String(required=True)
    occurred_at = fields.AwareDateTime(required=True, default_timezone=dt.timezone.utc)
    actor = fields.Nested(_Actor, load_default=dict)
    issue = Record(ISSUE, required=True)
    journal = Record(JOURNAL, allow_none=True, load_default=None)

    @post_load
    def make(self, data, **_):
        actor = data.get("actor") or {}
        return Event(
            delivery_id=str(data["delivery_id"]),
            source=EventSource.SHIM,
            type=_event_type(data["type"]),
            occurred_at=data["occurred_at"].astimezone(dt.timezone.utc),
            issue_id=int(data["issue"]["id"]),
            journal_id=_journal_id(data.get("journal")),
            actor_id=actor.get("id"),
            actor_login=actor.get("login"),
            tracker_name=_tracker_name(data["issue"]),
        )


# --- Redmine 7 native webhooks ---------------------------------------------


class _NativeData(Schema):
    class Meta:
        unknown = INCLUDE

    issue = Record(ISSUE, required=True)
    journal = Record(JOURNAL, allow_none=True, load_default=None)


class NativeEventSchema(_TypedEvent):
    """Redmine 7: {"type", "timestamp", "data": {"issue", "journal"}}, signed
    over the body only (X-Redmine-Signature-256), with no delivery id."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    timestamp = fields.AwareDateTime(required=True, default_timezone=dt.timezone.utc)
    data = fields.Nested(_NativeData, required=True)

    @post_load
    def make(self, data, **_):
        event_type = _event_type(data["type"])
        issue = data["data"]["issue"]
        journal = data["data"].get("journal")
        actor = (journal or {}).get("user") or issue.get("author") or {}
        return Event(
            delivery_id="",  # set by load_native, which has the body
            source=EventSource.REDMINE_NATIVE,
            type=event_type,
            occurred_at=data["timestamp"].astimezone(dt.timezone.utc),
            issue_id=int(issue["id"]),
            journal_id=_journal_id(journal),
            actor_id=actor.get("id") if isinstance(actor, dict) else None,
            actor_login=None,
            tracker_name=_tracker_name(issue),
        )


_NATIVE = NativeEventSchema()


def load_native(data: dict, body: bytes) -> Event:
    """A Redmine 7 delivery as an Event, with its delivery id."""
    event = _NATIVE.load(data)
    return dataclasses.replace(event, delivery_id=native_delivery_id(event, body))


def native_delivery_id(event: Event, body: bytes) -> str:
    """Redmine 7 sends no delivery id. A save's journal names it, so the same
    save sent twice (by two hooks, say) is recognised whatever each owner may
    see. Without a journal (a save Redmine journals nothing of, a journal the
    owner may not see, a deletion) the exact body names it: two such saves
    within one second differ in what they hold, where `updated_on`, to the
    second, would not (and two that hold the same show one state, judged
    once with every save before it)."""
    if event.journal_id is not None:
        return f"redmine7:{event.type.value}:{event.issue_id}:j{event.journal_id}"
    return f"redmine7:{event.type.value}:{event.issue_id}:sha256:{hashlib.sha256(body).hexdigest()[:40]}"

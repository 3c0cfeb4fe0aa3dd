"""Redmine 7.0's native webhook deliveries, built to the shapes of Redmine
7.0.0's own source (tag 7.0.0 of github.com/redmine/redmine), from issues and
journals as a real Redmine's REST API returns them. Each builder names the
files it follows; nothing here is copied from them.

- the envelope `{"type", "timestamp", "data": {<object>: ...}}` and its
  timestamp: lib/redmine/acts/webhookable.rb (`webhook_payload`,
  `webhook_payload_timestamp`): created_on for a creation, updated_on for an
  update, the current time (server-local, with its offset) otherwise;
- the issue: app/views/issues/show.api.rsb rendered by
  app/models/webhook_payload.rb's ApiRenderer with no params, so none of the
  `include=` parts (journals, attachments, relations, children, watchers) and
  no spent hours; custom fields as the hook's owner sees them;
- the journal, and which one: app/models/concerns/issue/webhookable.rb (only
  `current_journal`, when its owner may see it; keys id, created_on, notes,
  user, details with property/prop_key/old_value/value; no private_notes);
  the split of a private note from its changes: app/models/journal.rb
  (`split_private_notes`);
- a deletion's issue: the destroyed object, its custom values gone
  (`dependent: :delete_all` in app/models/issue.rb's acts_as_customizable);
- the request: app/models/webhook.rb (`Webhook::Executor`: POST, JSON,
  `User-Agent: Redmine`, `X-Redmine-Signature-256: sha256=<hex>` over the
  body, only when the hook has a secret; no delivery id, no retries);
- other objects: app/views/timelog/show.api.rsb, app/views/wiki/show.api.rsb.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from webhooks.signing import NATIVE_SIGNATURE_HEADER, sign_native

# issues/show.api.rsb's keys, in its order, that a webhook can carry (the
# `include=` parts never: the renderer has no params).
_ISSUE_KEYS = (
    "id", "project", "tracker", "status", "priority", "author", "assigned_to", "category", "fixed_version", "parent",
    "subject", "description", "start_date", "due_date", "done_ratio", "is_private", "estimated_hours",
    "total_estimated_hours", "custom_fields", "created_on", "updated_on", "closed_on",
)


def issue(rest_issue: dict[str, Any]) -> dict[str, Any]:
    """The `data.issue` of a delivery, from `GET /issues/:id.json`."""
    return {key: rest_issue[key] for key in _ISSUE_KEYS if key in rest_issue}


def journal(rest_journal: dict[str, Any]) -> dict[str, Any]:
    """The `data.journal` of a delivery, from a journal of
    `GET /issues/:id.json?include=journals` (REST's `name`/`new_value`
    are the webhook's `prop_key`/`value`; no private_notes, no updated_on)."""
    return {
        "id": rest_journal["id"],
        "created_on": rest_journal["created_on"],
        "notes": rest_journal.get("notes") or "",
        "user": {"id": rest_journal["user"]["id"], "name": rest_journal["user"]["name"]},
        "details": [
            {"property": d["property"], "prop_key": d["name"], "old_value": d.get("old_value"), "value": d.get("new_value")}
            for d in rest_journal.get("details") or []
        ],
    }


def created(rest_issue: dict[str, Any]) -> dict[str, Any]:
    return {"type": "issue.created", "timestamp": rest_issue["created_on"], "data": {"issue": issue(rest_issue)}}


def updated(rest_issue: dict[str, Any], rest_journal: dict[str, Any] | None = None) -> dict[str, Any]:
    """With the journal the owner may see; without one (a save Redmine
    journals nothing of, or a journal the owner may not see) the timestamp
    is the issue's updated_on."""
    data: dict[str, Any] = {"issue": issue(rest_issue)}
    if rest_journal is not None:
        data["journal"] = journal(rest_journal)
    stamp = rest_journal["created_on"] if rest_journal is not None else rest_issue["updated_on"]
    return {"type": "issue.updated", "timestamp": stamp, "data": data}


def split_private_note(rest_issue: dict[str, Any], journals: list[dict[str, Any]], *, owner_sees_private_notes: bool = True) -> dict[str, Any]:
    """A private note saved with field changes: Redmine stores the changes in
    a public journal and the note, without details, in the next one (the
    save's current journal), and names only that one, if its owner may see
    private notes; otherwise no journal at all."""
    notes_only = journals[-1]
    assert notes_only.get("private_notes") and not notes_only.get("details"), "the last journal is not a split private note"
    return updated(rest_issue, notes_only if owner_sees_private_notes else None)


def deleted(rest_issue: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The destroyed issue: its custom values already deleted (null, or []
    for a multiple field); the timestamp is the sending server's local time."""
    gone = issue(rest_issue)
    gone["custom_fields"] = [{**cf, "value": [] if cf.get("multiple") else None} for cf in gone.get("custom_fields", [])]
    return {"type": "issue.deleted", "timestamp": now.astimezone().isoformat(timespec="seconds"), "data": {"issue": gone}}


def time_entry_created(entry_id: int, issue_id: int, project: dict[str, Any], user: dict[str, Any], at: str) -> dict[str, Any]:
    return {
        "type": "time_entry.created",
        "timestamp": at,
        "data": {
            "time_entry": {
                "id": entry_id, "project": project, "issue": {"id": issue_id}, "user": user,
                "activity": {"id": 9, "name": "Research"}, "hours": 1.5, "comments": "", "spent_on": at[:10],
                "created_on": at, "updated_on": at,
            }
        },
    }


def wiki_page_updated(project: dict[str, Any], author: dict[str, Any], at: str) -> dict[str, Any]:
    return {
        "type": "wiki_page.updated",
        "timestamp": at,
        "data": {"wiki_page": {"title": "Wiki", "text": "", "version": 2, "author": author, "comments": "", "project": project,
                               "created_on": at, "updated_on": at}},
    }


def body(payload: dict[str, Any]) -> bytes:
    """As Rails' to_json writes it: compact, keys in order, non-ASCII as is."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def headers(secret: str | None, payload_body: bytes) -> dict[str, str]:
    """The headers Redmine 7 sends (Net::HTTP adds Host, Content-Length and
    Accept-Encoding itself); the signature only when the hook has a secret."""
    sent = {"Accept": "*/*", "Content-Type": "application/json", "User-Agent": "Redmine"}
    if secret:
        sent[NATIVE_SIGNATURE_HEADER] = sign_native(secret, payload_body)
    return sent

"""Event bodies in the shim's and Redmine 7's formats, signed as each signs."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from webhooks.signing import NATIVE_SIGNATURE_HEADER, SHIM_SIGNATURE_HEADER, SHIM_TIMESTAMP_HEADER, sign_native, sign_shim


def rest_issue(issue_id: int = 42, *, tracker: str = "Information request", status: str = "Received", **extra: Any) -> dict:
    issue = {
        "id": issue_id,
        "project": {"id": 1, "name": "MASH"},
        "tracker": {"id": 4, "name": tracker},
        "status": {"id": 7, "name": status, "is_closed": False},
        "author": {"id": 10, "name": "Priya Practitioner"},
        "subject": "Request",
        "custom_fields": [
            {"id": 1, "name": "Request channel", "value": "Phone"},
            {"id": 17, "name": "Statutory power", "multiple": True, "value": ["Children Act 1989 s47"]},
        ],
        "updated_on": "2026-11-21T10:00:00Z",
    }
    issue.update(extra)
    return issue


def shim_event(issue_id: int = 42, *, type: str = "issue.updated", delivery_id: str | None = None, **issue_extra) -> dict:
    body: dict[str, Any] = {
        "delivery_id": delivery_id or str(uuid.uuid4()),
        "type": type,
        "occurred_at": "2026-11-21T10:00:01.123Z",
        "actor": {"id": 10, "login": "practitioner1"},
        "issue": rest_issue(issue_id, **issue_extra),
    }
    if type == "issue.updated":
        body["journal"] = {
            "id": 900 + issue_id,
            "user": {"id": 10, "name": "Priya Practitioner"},
            "notes": "",
            "private_notes": False,
            "details": [{"property": "attr", "name": "status_id", "old_value": "7", "new_value": "8"}],
        }
    return body


def native_event(issue_id: int = 42, *, type: str = "issue.updated", journal_id: int | None = 77) -> dict:
    data: dict[str, Any] = {"issue": rest_issue(issue_id)}
    if journal_id is not None:
        data["journal"] = {
            "id": journal_id,
            "notes": "checked",
            "user": {"id": 12, "name": "Maya Manager"},
            "details": [{"property": "cf", "prop_key": "1", "old_value": "Email", "value": "Phone"}],
        }
    return {"type": type, "timestamp": "2026-11-21T10:00:00Z", "data": data}


def as_sent(row: dict, tracker: str = "Information request") -> dict:
    """An inbox row's event as the shim sends it (to send it again): which
    issue and which save, no case details. The inbox does not keep the
    issue's tracker; the caller knows it."""
    occurred = row["occurred_at"] or row["received_at"]
    return {
        "delivery_id": row["delivery_id"],
        "type": row["event_type"],
        "occurred_at": occurred.replace(tzinfo=occurred.tzinfo or dt.timezone.utc).isoformat(),
        "actor": {"id": row["actor_id"], "login": row["actor_login"]},
        "issue": {"id": row["issue_id"], "project": {"id": 1}, "tracker": {"id": 1, "name": tracker}, "status": {"id": 1}},
        "journal": {"id": row["journal_id"]} if row["journal_id"] is not None else None,
    }


def shim_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        SHIM_TIMESTAMP_HEADER: str(ts),
        SHIM_SIGNATURE_HEADER: sign_shim(secret, ts, body),
    }


def native_headers(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", NATIVE_SIGNATURE_HEADER: sign_native(secret, body)}


def encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()

"""Steps of a request's life that many tests against the real Redmine share:
logging one in doubt, routing it to the managers, reading what the service
did (its notes, relations, incidents)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from redminelib.exceptions import ValidationError

from plugin.domain.names import StatusKey, TrackerKey
from tests.support.rest import decision_values, intake_values
from tests.support.waiting import wait_until

S = StatusKey


def refused(action) -> str:
    """The message of a save Redmine refused (422 over REST)."""
    with pytest.raises(ValidationError) as info:
        action()
    return str(info.value)


def wait_for_issue(rest, issue_id, predicate, what: str) -> dict:
    """The issue once `predicate(issue)` holds (the worker acts within seconds)."""
    found: dict = {}

    def check():
        found["issue"] = rest.issue(issue_id)
        return predicate(found["issue"])

    wait_until(check, what=what)
    return found["issue"]


def status_of(rest, issue_id) -> str:
    return rest.issue(issue_id)["status"]["name"]


def notes_of(rest, issue_id) -> list[str]:
    return [j.get("notes") or "" for j in rest.issue(issue_id)["journals"]]


def service_notes(rest, issue_id, marker: str = "") -> list[str]:
    """The service's notes on the issue (each ends with its [infoshare:...] mark), in order."""
    return [n for n in notes_of(rest, issue_id) if f"[infoshare:{marker}" in n]


def has_note(rest, issue_id, marker: str) -> bool:
    return bool(service_notes(rest, issue_id, marker))


def in_doubt_phone_request(rest, login="practitioner1", subject="Approval test", **overrides) -> int:
    return rest.create_issue(login, intake_values(recipient_entitlement="In doubt", **overrides), subject=subject)


def route(live, rest, issue_id, login="practitioner1"):
    """Record a share decision; the service moves the request to managers."""
    live.settle()
    rest.update_issue(login, issue_id, decision_values(), status=S.ASSESSING)
    wait_until(lambda: status_of(rest, issue_id) == "Awaiting approval", what="routing to Awaiting approval")
    live.settle()


def related_issues(rest, issue_id, tracker: TrackerKey) -> list[dict]:
    """The issues of `tracker` related to this one."""
    relations = rest.get_json(f"/issues/{issue_id}.json", include="relations")["issue"].get("relations", [])
    others = {r["issue_id"] if r["issue_to_id"] == issue_id else r["issue_to_id"] for r in relations}
    found = [rest.get_json(f"/issues/{i}.json", include="journals,watchers")["issue"] for i in sorted(others)]
    return [i for i in found if i["tracker"]["id"] == rest.tracker_ids[tracker]]


def incidents_of(rest, issue_id) -> list[dict]:
    return related_issues(rest, issue_id, TrackerKey.INFORMATION_INCIDENT)


def last_read_by_sweep(live, sweep: str, issue_id: int):
    """When the timed sweep `sweep` last read the issue (its sweep_wakes
    row's judged_at: the sweep's own `now`), or None."""
    with live.store().engine.connect() as conn:
        return conn.execute(sa.text("SELECT judged_at FROM sweep_wakes WHERE sweep = :s AND issue_id = :i"), {"s": sweep, "i": issue_id}).scalar()

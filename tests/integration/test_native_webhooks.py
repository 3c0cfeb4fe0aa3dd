"""Issue 16: Redmine 7's native webhooks as Redmine 7.0 sends them
(tests/support/redmine7.py), through the real service, about real issues of
a real Redmine with the shim switched off (no events of its own, no gate),
as a Redmine 7 site without the shim is. The worker's judgement is checked
against that Redmine: which save each breach is recorded against."""

from __future__ import annotations

import datetime as dt

import requests

from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support import redmine7
from tests.support.dates import iso_today as today
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until

F = FieldKey
S = StatusKey


def send(live, payload: dict) -> requests.Response:
    sent = redmine7.body(payload)
    return requests.post(f"{live.service_url}/v1/events", data=sent, headers=redmine7.headers(live.config().webhook.secret, sent), timeout=10)


def shared_without_reasons() -> dict:
    return {**decision_values(decision_reasons=""), **share_values(today())}


def breach_journals(live, issue_id: int) -> list[int]:
    return sorted(b["journal_id"] for b in live.store().breaches.open(issue_id))


def their_journals(issue: dict) -> list[dict]:
    """The journals of the test's saves. The service may act on the request
    at any time (in a pass prompted by an earlier delivery), so its own
    journals may come between or after them."""
    return [j for j in issue["journals"] if j["user"]["name"] != "InfoShare service"]


def last_save(issue: dict) -> dict:
    return their_journals(issue)[-1]


def processed(live, issue_id: int) -> list[str]:
    return [r["outcome"] for r in live.wait_processed(issue_id)]


def test_each_kind_of_redmine7_delivery_gets_the_right_save_judged(live, rest):
    with live.without_the_shim():
        # issue.created, custom fields as the owner sees them.
        issue_id = rest.create_issue("practitioner1", intake_values(), subject="Native delivery")
        created = rest.issue(issue_id)
        assert send(live, redmine7.created(created)).status_code == 202
        assert processed(live, issue_id) == ["judged 1, actions applied 2"]  # its Response due and dates (R-TIMELINESS)

        # issue.updated with its journal: an administrator's save past Redmine's required fields.
        rest.update_issue(None, issue_id, shared_without_reasons(), status=S.SHARED)
        issue = rest.issue(issue_id)
        bypass = last_save(issue)
        assert send(live, redmine7.updated(issue, bypass)).status_code == 202
        wait_until(lambda: breach_journals(live, issue_id) == [bypass["id"]], what="the breach of the save the journal names")

        # issue.updated with no journal (one its owner may not see): the save is still the one judged.
        quiet = rest.create_issue("practitioner1", intake_values(), subject="Native no journal")
        assert send(live, redmine7.created(rest.issue(quiet))).status_code == 202
        live.wait_processed(quiet)
        rest.update_issue(None, quiet, shared_without_reasons(), status=S.SHARED)
        issue = rest.issue(quiet)
        assert send(live, redmine7.updated(issue)).status_code == 202
        wait_until(lambda: breach_journals(live, quiet) == [last_save(issue)["id"]], what="the breach of the journal-less save")
        assert all(b["journal_id"] is not None for b in live.store().breaches.open(quiet))  # not the creation again

        # A private note saved with the changes: Redmine splits the save and names the notes-only journal.
        split = rest.create_issue("practitioner1", intake_values(), subject="Native split note")
        assert send(live, redmine7.created(rest.issue(split))).status_code == 202
        live.wait_processed(split)
        rest.update_issue(None, split, shared_without_reasons(), status=S.SHARED, notes="A private note", private_notes=True)
        issue = rest.issue(split)
        changes, notes_only = their_journals(issue)[-2:]
        assert notes_only["private_notes"] and not notes_only["details"] and changes["details"]  # Redmine split it
        assert send(live, redmine7.split_private_note(issue, issue["journals"])).status_code == 202
        wait_until(lambda: breach_journals(live, split) == [changes["id"]], what="the breach of the changes, not of the note")


def test_two_journal_less_updates_within_one_second_are_both_kept(live, rest):
    with live.without_the_shim():
        issue_id = rest.create_issue("practitioner1", intake_values(), subject="Native twice a second")
        assert send(live, redmine7.created(rest.issue(issue_id))).status_code == 202
        live.wait_processed(issue_id)
        rest.update_issue(None, issue_id, {F.URGENCY: "Red"})
        first = rest.issue(issue_id)
        rest.update_issue(None, issue_id, shared_without_reasons(), status=S.SHARED)
        second = rest.issue(issue_id)
        # As Redmine 7 sends them had both saves fallen in one second.
        second = {**second, "updated_on": first["updated_on"]}
        answers = [send(live, redmine7.updated(state)) for state in (first, second)]
        assert [(a.status_code, a.json()["status"]) for a in answers] == [(202, "accepted"), (202, "accepted")]
        assert answers[0].json()["delivery_id"] != answers[1].json()["delivery_id"]
        shared = last_save(second)["id"]
        wait_until(lambda: breach_journals(live, issue_id) == [shared], what="the second save judged")
        live.wait_processed(issue_id)
        assert live.store().judged.last(issue_id).journal_id >= shared


def test_deletions_and_other_objects(live, rest):
    with live.without_the_shim():
        issue_id = rest.create_issue("practitioner1", intake_values(), subject="Native deleted")
        issue = rest.issue(issue_id)
        rest.admin.issue.delete(issue_id)
        assert send(live, redmine7.deleted(issue, dt.datetime.now(dt.timezone.utc))).status_code == 202
        assert processed(live, issue_id) == ["issue deleted"]
        entry = redmine7.time_entry_created(1, issue["id"], issue["project"], issue["author"], issue["created_on"])
        answer = send(live, entry)
        assert (answer.status_code, answer.json()["status"]) == (200, "ignored")


def test_a_delivery_redmine7_dropped_is_judged_when_the_next_one_arrives(live, rest):
    """Redmine 7 never sends a delivery again; each one it does send prompts a
    reconciler pass, which finds the save whose delivery was lost."""
    with live.without_the_shim():
        dropped = rest.create_issue("practitioner1", intake_values(), subject="Native dropped")
        rest.update_issue(None, dropped, shared_without_reasons(), status=S.SHARED)
        journal = last_save(rest.issue(dropped))["id"]  # neither delivery ever arrives
        other = rest.create_issue("practitioner2", intake_values(), subject="Native next")
        assert send(live, redmine7.created(rest.issue(other))).status_code == 202
        wait_until(lambda: breach_journals(live, dropped) == [journal], timeout=60, what="the dropped save judged by the prompted pass")
        (breach,) = live.store().breaches.open(dropped)
        assert breach["detected_by"] == "reconciler"
    live.settle()

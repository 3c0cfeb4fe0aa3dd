"""Issue 13 against a real Redmine: approvals bound to what they approved,
emergency sharing never blocked, and the information-incident register
(R-APPROVAL 4 to 7, R-INCIDENT), as practitioner1 and practitioner2,
manager1 and manager2 and governance1, over REST and in Redmine's web form.
Each bypass found when the product was tried is tried again here."""

from __future__ import annotations

import pytest

import datetime as dt
import json
import zoneinfo
from pathlib import Path

from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from tests.support.dates import a_minute_ago
from tests.support.dates import iso_today as today
from tests.support.flows import has_note, last_read_by_sweep, in_doubt_phone_request, incidents_of, notes_of, refused, route, service_notes, status_of, wait_for_issue
from tests.support.rest import decision_values, share_values
from tests.support.waiting import wait_until
from tests.support.webform import parse

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")
SAVE_BEHIND_THE_GATE = Path(__file__).resolve().parents[1] / "support" / "save_behind_the_gate.rb"
OVERRIDE = {F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "Child at immediate risk tonight"}


def declined(live, rest, login="practitioner1", manager="manager1") -> int:
    issue_id = in_doubt_phone_request(rest, login=login, subject="Controls test")
    route(live, rest, issue_id, login=login)
    rest.update_issue(manager, issue_id, {F.APPROVAL_DECISION: "Declined", F.APPROVAL_NOTES: "Entitlement not established"})
    wait_until(lambda: status_of(rest, issue_id) == "Assessing", what="back to Assessing after the decline")
    live.settle()
    return issue_id


def approved(live, rest, login="practitioner1", manager="manager1") -> int:
    issue_id = in_doubt_phone_request(rest, login=login, subject="Controls test")
    route(live, rest, issue_id, login=login)
    rest.update_issue(manager, issue_id, {F.APPROVAL_DECISION: "Approved"})
    wait_until(lambda: status_of(rest, issue_id) == "Approved", what="Approved")
    live.settle()
    return issue_id


def breaches_of(live, issue_id) -> list[dict]:
    return [b for b in live.store().breaches.all() if b["issue_id"] == issue_id]


def test_an_override_after_a_decline_shares_and_is_told_to_the_manager_and_to_governance(live, rest):
    since = a_minute_ago()
    issue_id = declined(live, rest)
    rest.update_issue("practitioner1", issue_id, {**share_values(today()), **OVERRIDE}, status=S.SHARED)
    assert status_of(rest, issue_id) == "Shared"  # never blocked

    (incident,) = wait_until(lambda: incidents_of(rest, issue_id), what="an incident about the override")
    assert rest.field_value(incident, F.INCIDENT_TYPE) == "Override of a declined approval"
    assert rest.field_value(incident, F.INCIDENT_SOURCE) == "InfoShare service"
    assert incident["assigned_to"]["name"] == "Information governance"
    aware = dt.datetime.strptime(rest.field_value(incident, F.BECAME_AWARE_AT), "%Y-%m-%d %H:%M").replace(tzinfo=LONDON)
    deadline = dt.datetime.strptime(rest.field_value(incident, F.ICO_DEADLINE), "%Y-%m-%d %H:%M").replace(tzinfo=LONDON)
    assert deadline - aware == dt.timedelta(hours=72)
    assert incident["due_date"] == deadline.date().isoformat()

    request = wait_for_issue(rest, issue_id, lambda i: has_note(rest, issue_id, "override-after-decline-"), "the note to the manager")
    watchers = rest.get_json(f"/issues/{issue_id}.json", include="watchers")["issue"]["watchers"]
    assert "Maya Manager" in {w["name"] for w in watchers}  # manager1, who declined
    assert has_note(rest, issue_id, "retrospective-approval-")
    assert rest.field_value(request, F.APPROVAL_DECISION) in ("", None)  # asked afresh
    assert request["assigned_to"]["name"] == "MASH managers"

    # The retrospective decision, declined: a second incident, of its own kind.
    rest.update_issue("manager2", issue_id, {F.APPROVAL_DECISION: "Declined", F.APPROVAL_NOTES: "Could have waited for the call-back"})
    wait_until(lambda: len(incidents_of(rest, issue_id)) == 2, what="an incident about the retrospective decline")
    kinds = sorted(rest.field_value(i, F.INCIDENT_TYPE) for i in incidents_of(rest, issue_id))
    assert kinds == ["Override of a declined approval", "Retrospective approval declined"]
    live.settle()
    for _ in range(2):
        live.cli("reconcile", "--since", since)
    assert len(incidents_of(rest, issue_id)) == 2  # one per request and cause, however often it is seen
    assert breaches_of(live, issue_id) == []  # an override is allowed: noticed, not a breach


def test_changing_the_facts_does_not_remove_the_need_for_approval(live, rest):
    since = a_minute_ago()
    # After a decline, entitlement changed to Confirmed.
    issue_id = declined(live, rest, login="practitioner2", manager="manager2")
    message = refused(
        lambda: rest.update_issue("practitioner2", issue_id, {F.RECIPIENT_ENTITLEMENT: "Confirmed", **share_values(today())}, status=S.SHARED)
    )
    assert "Approval decision: a manager declined approval, so the request cannot be Shared unless a MASH manager approves it again" in message
    rest.update_issue("practitioner2", issue_id, {F.RECIPIENT_ENTITLEMENT: "Confirmed"})
    assert "a manager declined approval" in refused(lambda: rest.update_issue("practitioner2", issue_id, share_values(today()), status=S.SHARED))
    assert rest.field_value(rest.issue(issue_id), F.APPROVAL_REQUIRED) == "1"  # the need sticks

    # Before the approval: the doubt "resolved" by the practitioner while it waits.
    waiting = in_doubt_phone_request(rest, login="practitioner2")
    route(live, rest, waiting, login="practitioner2")
    rest.update_issue("practitioner2", waiting, {F.RECIPIENT_ENTITLEMENT: "Confirmed"})
    live.settle()
    assert status_of(rest, waiting) == "Awaiting approval"
    message = refused(lambda: rest.update_issue("practitioner2", waiting, share_values(today()), status=S.SHARED))
    assert "this request needs a manager's approval before it can be Shared (Phone request: recipient's entitlement in doubt (when the share decision was recorded))" in message

    # Refused for want of approval, then relabelled as an in-person request.
    other = in_doubt_phone_request(rest, login="practitioner1")
    values = {**decision_values(), **share_values(today())}
    assert "needs a manager's approval" in refused(lambda: rest.update_issue("practitioner1", other, values, status=S.SHARED))
    rest.update_issue("practitioner1", other, {F.REQUEST_CHANNEL: "In person"})
    message = refused(lambda: rest.update_issue("practitioner1", other, values, status=S.SHARED))
    assert "this request needs a manager's approval before it can be Shared (Phone request: recipient's entitlement in doubt)" in message
    live.settle()
    live.cli("reconcile", "--since", since)
    assert breaches_of(live, issue_id) == [] and breaches_of(live, other) == [] and breaches_of(live, waiting) == []


def test_an_approval_holds_only_for_the_facts_it_saw(live, rest, redmine_web):
    since = a_minute_ago()
    issue_id = approved(live, rest)
    assert rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Maya Manager"
    rest.update_issue("practitioner1", issue_id, {F.REQUESTER_PHONE: "01632 960999"})
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Awaiting approval", "the void approval sent back")
    assert issue["assigned_to"]["name"] == "MASH managers"
    assert rest.field_value(issue, F.APPROVED_BY) in ("", None) and rest.field_value(issue, F.APPROVAL_DECISION) in ("", None)
    (note,) = service_notes(rest, issue_id, "approval-void-")
    assert "Requester phone changed after it was given" in note and "960999" not in note
    live.settle()

    # The practitioner names the recipient; manager2 approves with it in view.
    rest.update_issue("practitioner1", issue_id, {F.SHARED_WITH: "Dr Alex Example"})
    live.settle()
    rest.update_issue("manager2", issue_id, {F.APPROVAL_DECISION: "Approved"})
    wait_until(lambda: status_of(rest, issue_id) == "Approved", what="approved again")
    live.settle()
    # Filling in the case reference for the first time is not a change...
    rest.update_issue("practitioner1", issue_id, {F.CASE_REFERENCE: "LCS-1234"})
    live.settle()
    assert status_of(rest, issue_id) == "Approved"
    assert rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Mark Manager"
    # ...but changing who it goes to while sharing is refused in the web form, with the fact named.
    web = redmine_web("practitioner1")
    values = {rest.field_ids[k]: v for k, v in {**share_values(today()), F.SHARED_WITH: "Someone else"}.items()}
    response = web.update_issue(issue_id, values, status_id=rest.status_ids[S.SHARED])
    assert response.status_code == 200
    errors = parse(response.text).errors
    assert "Approval decision: the approval no longer counts because Shared with changed after it was given; a MASH manager must approve the request again before it can be Shared (R-APPROVAL)." in errors
    assert not any("Someone else" in e for e in errors)
    values[rest.field_ids[F.SHARED_WITH]] = "Dr Alex Example"
    assert web.update_issue(issue_id, values, status_id=rest.status_ids[S.SHARED]).status_code == 302
    assert status_of(rest, issue_id) == "Shared"
    assert rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Mark Manager"
    live.settle()
    # Once Shared, the facts are the record of the disclosure: a correction is refused, saying so.
    message = refused(lambda: rest.update_issue("practitioner1", issue_id, {F.REQUESTER_ORGANISATION: "Another body"}))
    assert "Requester organisation cannot be changed now that the request is Shared" in message and "write any correction in a note" in message
    assert "Another body" not in message
    response = web.update_issue(issue_id, {rest.field_ids[F.REQUESTER_ORGANISATION]: "Another body"})
    assert response.status_code == 200 and any("cannot be changed now that the request is Shared" in e for e in parse(response.text).errors)
    assert rest.field_value(rest.issue(issue_id), F.REQUESTER_ORGANISATION) != "Another body"
    live.cli("reconcile", "--since", since)
    assert breaches_of(live, issue_id) == [] and incidents_of(rest, issue_id) == []


def test_a_fact_changed_and_changed_back_still_voids_the_approval(live, rest, redmine_web):
    """The walk-round found on the stack: another practitioner changes the
    requester's organisation and puts it back within a second, before the
    service has seen the first save, then shares."""
    since = a_minute_ago()
    issue_id = approved(live, rest)
    organisation = rest.field_value(rest.issue(issue_id), F.REQUESTER_ORGANISATION)
    rest.update_issue("practitioner2", issue_id, {F.REQUESTER_ORGANISATION: "Elsewhere Ltd"})
    rest.update_issue("practitioner2", issue_id, {F.REQUESTER_ORGANISATION: organisation})
    # Refused by REST and in the web form, whether or not the worker has voided it yet.
    message = refused(lambda: rest.update_issue("practitioner2", issue_id, share_values(today()), status=S.SHARED))
    assert "Approval decision: " in message and "(R-APPROVAL)" in message and "Elsewhere" not in message
    web = redmine_web("practitioner2")
    values = {rest.field_ids[k]: v for k, v in share_values(today()).items()}
    response = web.update_issue(issue_id, values, status_id=rest.status_ids[S.SHARED])
    assert response.status_code == 200 and any("(R-APPROVAL)" in e for e in parse(response.text).errors)
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Awaiting approval", "the void approval sent back")
    assert rest.field_value(issue, F.APPROVED_BY) in ("", None) and issue["assigned_to"]["name"] == "MASH managers"
    live.settle()
    live.cli("reconcile", "--since", since)
    (note,) = service_notes(rest, issue_id, "approval-void-")
    assert "Requester organisation changed after it was given" in note and "Elsewhere" not in note
    assert breaches_of(live, issue_id) == []

    # The same walk-round behind the gate's back, shared in the same breath: the reconciler records it once.
    hidden = approved(live, rest)
    saves = [
        {"values": {rest.config.names.field(F.REQUESTER_ORGANISATION): "Elsewhere Ltd"}},
        {"values": {rest.config.names.field(F.REQUESTER_ORGANISATION): organisation}},
        {"status": "Shared", "values": {rest.config.names.field(k): v for k, v in share_values(today()).items()}},
    ]
    live.instance.runner(SAVE_BEHIND_THE_GATE, env={"ISSUE_ID": str(hidden), "LOGIN": "practitioner2", "SAVES": json.dumps(saves)})
    assert status_of(rest, hidden) == "Shared"
    live.cli("reconcile", "--since", since)
    live.settle()
    live.cli("reconcile", "--since", since)
    assert [(b["rule"], b["code"]) for b in breaches_of(live, hidden)] == [("R-APPROVAL", "approval_void")]
    (incident,) = incidents_of(rest, hidden)
    assert rest.field_value(incident, F.INCIDENT_TYPE) == "Shared without approval"


def test_a_correction_made_behind_the_gate_after_sharing_is_recorded_once(live, rest):
    """The gate refuses a change to a fact once the request is Shared; one
    saved where the gate cannot see it (without Redmine's validations, as
    with the service away) is found by the reconciler, and recorded once
    however often it runs."""
    since = a_minute_ago()
    issue_id = approved(live, rest)
    rest.update_issue("practitioner1", issue_id, share_values(today()), status=S.SHARED)
    assert status_of(rest, issue_id) == "Shared"
    live.settle()
    changed = {rest.config.names.field(F.REQUESTER_ORGANISATION): "Another body"}
    live.instance.runner(SAVE_BEHIND_THE_GATE, env={"ISSUE_ID": str(issue_id), "LOGIN": "practitioner2", "VALUES": json.dumps(changed)})
    live.cli("reconcile", "--since", since)
    live.settle()
    noted = service_notes(rest, issue_id)
    for _ in range(2):
        live.cli("reconcile", "--since", since)
        live.settle()
    assert [(b["rule"], b["field"], b["code"]) for b in breaches_of(live, issue_id)] == [("R-APPROVAL", "approval_decision", "approval_void")]
    assert service_notes(rest, issue_id) == noted
    (note,) = service_notes(rest, issue_id, "breach-")
    assert "Requester organisation cannot be changed now that the request is Shared" in note and "Another body" not in note
    assert status_of(rest, issue_id) == "Shared"


def test_a_megabyte_pasted_into_an_approved_fact_and_taken_out_still_voids_the_approval(live, rest):
    """The flip with a huge value: the question tells long texts by digest,
    which must still show the change and the change back."""
    issue_id = approved(live, rest)
    asked = rest.field_value(rest.issue(issue_id), F.INFORMATION_REQUESTED)
    rest.update_issue("practitioner2", issue_id, {F.INFORMATION_REQUESTED: asked + " " + "pasted by mistake " * 62_000})
    rest.update_issue("practitioner2", issue_id, {F.INFORMATION_REQUESTED: asked})
    message = refused(lambda: rest.update_issue("practitioner2", issue_id, share_values(today()), status=S.SHARED))
    assert "the approval no longer counts because Information requested changed after it was given" in message
    assert "pasted" not in message and "could not check" not in message
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Awaiting approval", "the void approval sent back")
    assert rest.field_value(issue, F.APPROVED_BY) in ("", None)


def test_no_approval_before_a_decision_nor_of_a_decision_one_once_made(live, rest):
    issue_id = in_doubt_phone_request(rest, login="practitioner2")
    # Assessing, where the approval fields first appear (in Received they are not on the form, and Redmine ignores them).
    rest.update_issue("practitioner2", issue_id, {}, status=S.ASSESSING)
    live.settle()
    message = refused(lambda: rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Approved"}))
    assert "Approval decision: there is no share decision to approve yet; approve once the decision is recorded (R-APPROVAL)." in message
    # manager1 records the decision; practitioner2 flips it away and back.
    route(live, rest, issue_id, login="manager1")
    rest.update_issue("practitioner2", issue_id, {F.DECISION: "Do not share"})
    rest.update_issue("practitioner2", issue_id, {F.DECISION: "Share"})
    live.settle()
    message = refused(lambda: rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Approved"}))
    assert "you cannot approve a request you logged or a decision you recorded or changed" in message
    rest.update_issue("manager2", issue_id, {F.APPROVAL_DECISION: "Approved"})
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Approved", "approved by manager2")
    assert rest.field_value(issue, F.APPROVED_BY) == "Mark Manager"


def test_an_emergency_share_from_awaiting_approval_in_the_web_form(live, rest, redmine_web):
    issue_id = in_doubt_phone_request(rest, login="practitioner1")
    route(live, rest, issue_id)
    web = redmine_web("practitioner1")
    page = web.issue_page(issue_id)
    assert page.options["issue[status_id]"] == ["Awaiting approval", "Shared"]  # the way out, for an emergency
    share = {rest.field_ids[k]: v for k, v in share_values(today()).items()}
    without = web.update_issue(issue_id, share, status_id=rest.status_ids[S.SHARED])
    assert without.status_code == 200
    assert any("needs a manager's approval before it can be Shared" in e for e in parse(without.text).errors)
    override = {**share, **{rest.field_ids[k]: v for k, v in OVERRIDE.items()}}
    assert web.update_issue(issue_id, override, status_id=rest.status_ids[S.SHARED]).status_code == 302
    assert status_of(rest, issue_id) == "Shared"
    wait_until(lambda: has_note(rest, issue_id, "retrospective-approval-"), what="the retrospective approval request")
    live.settle()
    assert incidents_of(rest, issue_id) == []  # no decline was overridden


def test_a_share_recorded_behind_the_gates_back_is_an_incident_and_a_breach_once(live, rest):
    since = a_minute_ago()
    issue_id = in_doubt_phone_request(rest, login="practitioner2")
    route(live, rest, issue_id, login="practitioner2")
    names = {rest.config.names.field(k): v for k, v in share_values(today()).items()}
    live.instance.runner(SAVE_BEHIND_THE_GATE, env={"ISSUE_ID": str(issue_id), "LOGIN": "practitioner2", "STATUS": "Shared", "VALUES": json.dumps(names)})
    assert status_of(rest, issue_id) == "Shared"
    # No event came (the save bypassed Redmine's own path): the reconciler finds it.
    live.cli("reconcile", "--since", since)
    (incident,) = incidents_of(rest, issue_id)
    assert rest.field_value(incident, F.INCIDENT_TYPE) == "Shared without approval"
    assert incident["assigned_to"]["name"] == "Information governance"
    assert has_note(rest, issue_id, "shared-without-approval-")
    live.settle()
    live.cli("reconcile", "--since", since)
    assert len(incidents_of(rest, issue_id)) == 1
    assert [(b["rule"], b["code"]) for b in breaches_of(live, issue_id)] == [("R-APPROVAL", "approval_missing")]


def local_minute(moment: dt.datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


@pytest.mark.early
def test_an_incident_a_person_logs_runs_to_its_ico_deadline(live, rest):
    aware = dt.datetime.now(LONDON).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    values = {F.INCIDENT_TYPE: "Complaint from the public", F.INCIDENT_SOURCE: "Member of the public", F.BECAME_AWARE_AT: local_minute(aware)}
    bad = refused(lambda: rest.create_issue("practitioner2", {**values, F.BECAME_AWARE_AT: "yesterday"}, tracker=TrackerKey.INFORMATION_INCIDENT, subject="Complaint"))
    assert "Became aware at: write the date and time as YYYY-MM-DD HH:MM, for example 2026-11-21 14:30 (R-INCIDENT)." in bad
    incident_id = rest.create_issue("practitioner2", values, tracker=TrackerKey.INFORMATION_INCIDENT, subject="Complaint about a letter")
    issue = wait_for_issue(rest, incident_id, lambda i: bool(rest.field_value(i, F.ICO_DEADLINE)), "the ICO deadline")
    assert rest.field_value(issue, F.ICO_DEADLINE) == local_minute(aware + dt.timedelta(hours=72))
    assert issue["assigned_to"]["name"] == "Information governance"
    live.settle()

    def run(hours: float, *extra: str) -> str:
        return live.cli("incidents", "run", "--now", local_minute(aware + dt.timedelta(hours=hours)), *extra).stdout

    def timers() -> list[str]:
        """The timer notes on this incident (other tests' incidents share the stack)."""
        return [n.split("[infoshare:")[1].split("]")[0] for n in notes_of(rest, incident_id) if "[infoshare:ico-" in n]

    stamp = aware.strftime("%Y%m%dT%H%M")
    run(23)
    assert timers() == []
    run(24.5)
    run(24.5)  # once
    assert timers() == [f"ico-reminder-24h-{stamp}"]
    # Until the 48-hour reminder the incident, unchanged, is not read again.
    assert live.store().wakes.get("incidents", incident_id).wake_at == aware + dt.timedelta(hours=48)
    read_at = last_read_by_sweep(live, "incidents", incident_id)
    run(30)
    assert last_read_by_sweep(live, "incidents", incident_id) == read_at
    assert "would post" in run(48.5, "--dry-run")
    assert timers() == [f"ico-reminder-24h-{stamp}"]
    run(48.5)
    run(66.5)
    passed = run(72.5)
    assert f"#{incident_id} is past its ICO deadline" in passed
    run(73)
    assert timers() == [f"ico-reminder-{h}h-{stamp}" for h in (24, 48, 66)] + [f"ico-deadline-passed-{stamp}"]
    watchers = rest.get_json(f"/issues/{incident_id}.json", include="watchers")["issue"]["watchers"]
    assert "Heads of service" in {w["name"] for w in watchers}

    # governance1 investigates and closes it, as the field rules ask.
    message = refused(lambda: rest.update_issue("governance1", incident_id, status=S.INVESTIGATING))
    assert "Risk to individuals: before investigating, record the risk to the people the information is about (R-INCIDENT)." in message
    rest.update_issue("governance1", incident_id, {F.RISK_TO_INDIVIDUALS: "Low", F.CONTAINMENT_ACTIONS: "Letter recalled"}, status=S.INVESTIGATING)
    closing = {F.INCIDENT_OUTCOME: "Partly upheld", F.LESSONS_LEARNED: "Check the address before posting", F.ICO_REPORT_DECISION: "Not reportable"}
    message = refused(lambda: rest.update_issue("governance1", incident_id, closing, status=S.INCIDENT_CLOSED))
    assert "ICO decision reason: the incident is not reportable to the ICO: record why (R-INCIDENT)." in message
    rest.update_issue("governance1", incident_id, {**closing, F.ICO_DECISION_REASON: "Letter returned unopened"}, status=S.INCIDENT_CLOSED)
    assert status_of(rest, incident_id) == "Incident closed"
    live.settle()
    assert f"#{incident_id}" not in run(80)
    assert len(timers()) == 4


def test_the_new_request_form_offers_the_incident_tracker_to_every_mash_role(live, rest, redmine_web):
    for login in ("practitioner1", "manager1", "governance1"):
        r = redmine_web(login).http.get(f"{live.redmine_url}/projects/mash/issues/new", params={"issue[tracker_id]": rest.tracker_ids[TrackerKey.INFORMATION_INCIDENT]}, timeout=10)
        assert r.status_code == 200
        assert "Information incident" in parse(r.text).options.get("issue[tracker_id]", []), login

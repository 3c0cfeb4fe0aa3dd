"""Issue 5 against a real Redmine: a disagreement driven through every stage
with a controlled clock (`infoshare escalations run --today`)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from redminelib.exceptions import ValidationError

from plugin.domain.calendar import WorkingCalendar
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from tests.support.waiting import wait_until
from tests.support.rest import intake_values

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")



def started_escalations(rest, request_id: int) -> list[dict]:
    """Escalations of the request once the service has filled them in."""
    found = escalations_of(rest, request_id)
    return found if found and all(rest.field_value(e, F.ESCALATION_STAGE) and any(service_notes(e)) for e in found) else []


def escalations_of(rest, request_id: int) -> list[dict]:
    related = rest.get_json(f"/issues/{request_id}.json", include="relations")["issue"].get("relations", [])
    ids = {r["issue_id"] if r["issue_to_id"] == request_id else r["issue_to_id"] for r in related}
    issues = [rest.issue(i) for i in sorted(ids)]
    return [i for i in issues if i["tracker"]["name"] == "Escalation"]


def service_notes(issue: dict) -> list[str]:
    return [j["notes"] for j in issue["journals"] if j["user"]["name"] == "InfoShare service" and j.get("notes")]


def run(live, day: dt.date) -> str:
    return live.cli("escalations", "run", "--today", day.isoformat()).stdout


def test_a_disagreement_goes_through_every_stage_and_is_resolved(live, rest):
    calendar = WorkingCalendar(live.config().calendar)
    today = dt.datetime.now(LONDON).date()
    request_id = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject="Disagreement test")
    rest.update_issue("practitioner1", request_id, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "The police want the whole file"},
                      status=StatusKey.ASSESSING)

    (esc,) = wait_until(lambda: started_escalations(rest, request_id), what="an escalation linked to the request")
    esc_id = esc["id"]
    assert esc["subject"] == f"Escalation: disagreement about request #{request_id}"
    assert rest.field_value(esc, F.ESCALATION_STAGE) == "Stage 1: Practitioner to practitioner"
    assert esc["assigned_to"]["name"] == "Priya Practitioner"  # the request's author, practitioner1
    due1 = calendar.add_working_days(today, 2)
    assert (esc["start_date"], esc["due_date"]) == (today.isoformat(), due1.isoformat())
    assert rest.field_value(esc, F.POINTS_OF_DISAGREEMENT) == "The police want the whole file"
    assert any("Escalation opened at Stage 1" in n for n in service_notes(esc))
    request = wait_until(
        lambda: (r := rest.issue(request_id)) and any("an Escalation has been opened at Stage 1" in n for n in service_notes(r)) and r,
        what="the note on the request",
    )
    assert all(j["private_notes"] for j in request["journals"] if j["user"]["name"] == "InfoShare service" and j.get("notes"))

    # A second disagreement while this one is open opens no other escalation.
    live.settle()
    rest.update_issue("practitioner2", request_id, {F.DISAGREEMENT_DETAILS: "Also the school records"})
    live.wait_processed(request_id)
    assert [e["id"] for e in escalations_of(rest, request_id)] == [esc_id]

    assert "moved 0 to the next stage" in run(live, due1)
    expected = [
        (2, "Stage 2: Manager to manager", "MASH managers", 5),
        (3, "Stage 3: Senior manager", "Heads of service", 5),
        (4, "Stage 4: Safeguarding partnership", "Safeguarding partnership", 14),
    ]
    due = due1
    for number, label, owner, days in expected:
        moved_on = due + dt.timedelta(days=1)
        out = run(live, moved_on)
        assert f"#{esc_id} moved to its next stage" in out
        assert "moved 0" in run(live, moved_on)  # never twice
        esc = rest.issue(esc_id)
        assert rest.field_value(esc, F.ESCALATION_STAGE) == label
        assert esc["assigned_to"]["name"] == owner
        new_due = calendar.add_working_days(moved_on, days)
        assert (esc["start_date"], esc["due_date"]) == (moved_on.isoformat(), new_due.isoformat())
        assert any(f"was due on {due.isoformat()} and the disagreement is not resolved, so it has moved to {label}" in n for n in service_notes(esc))
        assert {r["issue_to_id"] for r in rest.get_json(f"/issues/{esc_id}.json", include="relations")["issue"]["relations"]} | {
            r["issue_id"] for r in rest.get_json(f"/issues/{esc_id}.json", include="relations")["issue"]["relations"]
        } >= {request_id}
        due = new_due
    # Stage 3 notifies the partnership (this stack's configuration).
    watchers = rest.get_json(f"/issues/{esc_id}.json", include="watchers")["issue"]["watchers"]
    assert "Safeguarding partnership" in {w["name"] for w in watchers}

    final = run(live, due + dt.timedelta(days=1))
    assert f"#{esc_id} is overdue at the final stage and stays open" in final
    esc = rest.issue(esc_id)
    assert esc["status"]["name"] == "In escalation"
    assert any("This is the last stage of the procedure" in n for n in service_notes(esc))

    live.settle()
    with pytest.raises(ValidationError) as refused:
        rest.update_issue("partnership1", esc_id, {F.AGREED_ACTIONS: "Share the summary only"}, status=S.ESCALATION_RESOLVED)
    assert "Escalation outcome: record how the disagreement ended before resolving the escalation (R-ESCALATION)." in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        rest.update_issue("partnership1", esc_id, {F.ESCALATION_OUTCOME: "Resolved"}, status=S.ESCALATION_RESOLVED)
    assert "Agreed actions: record the actions agreed before resolving the escalation (R-ESCALATION)." in str(refused.value)
    rest.update_issue("partnership1", esc_id, {F.ESCALATION_OUTCOME: "Resolved", F.AGREED_ACTIONS: "Share the summary only"}, status=S.ESCALATION_RESOLVED)
    request = wait_until(lambda: (r := rest.issue(request_id)) and rest.field_value(r, F.DISAGREEMENT_RAISED) == "0" and r, what="the flag cleared")
    assert any(f"Escalation #{esc_id} was resolved. Outcome: Resolved." in n for n in service_notes(request))


def test_a_stage_moved_by_hand_gets_its_owner_and_a_new_due_date(live, rest):
    calendar = WorkingCalendar(live.config().calendar)
    today = dt.datetime.now(LONDON).date()
    request_id = rest.create_issue("practitioner2", intake_values(request_channel="Letter", requester_phone=""), subject="By hand")
    rest.update_issue("practitioner2", request_id, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Disputed"}, status=StatusKey.ASSESSING)
    (esc,) = wait_until(lambda: started_escalations(rest, request_id), what="an escalation")
    live.settle()
    rest.update_issue("manager1", esc["id"], {F.ESCALATION_STAGE: "Stage 3: Senior manager"})
    esc = wait_until(lambda: (e := rest.issue(esc["id"])) and e["assigned_to"]["name"] == "Heads of service" and e, what="reassignment")
    assert (esc["start_date"], esc["due_date"]) == (today.isoformat(), calendar.add_working_days(today, 5).isoformat())
    assert any("The stage was set to Stage 3: Senior manager by hand" in n for n in service_notes(esc))


def test_the_daily_run_reports_a_stage_set_by_hand_as_set_by_hand(live, rest):
    """Issue 15: `infoshare escalations run` said a stage set by hand had been
    moved to its next stage (it counted note keys)."""
    calendar = WorkingCalendar(live.config().calendar)
    today = dt.datetime.now(LONDON).date()
    request_id = rest.create_issue("practitioner2", intake_values(request_channel="Letter", requester_phone=""), subject="Counted by hand")
    rest.update_issue("practitioner2", request_id, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Disputed"}, status=StatusKey.ASSESSING)
    (esc,) = wait_until(lambda: started_escalations(rest, request_id), what="an escalation")
    live.settle()
    with live.paused_scheduler():  # the job, not the worker, finds the change
        rest.update_issue("manager1", esc["id"], {F.ESCALATION_STAGE: "Stage 3: Senior manager"})
        out = run(live, calendar.add_working_days(today, 3))  # stage 1 was due after 2 working days
    assert f"#{esc['id']} had its stage set by hand" in out
    assert f"#{esc['id']} moved to its next stage" not in out
    esc = rest.issue(esc["id"])
    assert esc["assigned_to"]["name"] == "Heads of service"
    assert rest.field_value(esc, F.ESCALATION_STAGE) == "Stage 3: Senior manager"
    live.settle()


def test_an_escalation_a_practitioner_opens_and_relates_starts_the_procedure_once(live, rest):
    request_id = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject="Opened by hand")
    first = rest.create_issue("practitioner1", {F.URGENT_ESCALATION: "1", F.DISAGREEMENT_TYPE: "Decision not to share"}, tracker=TrackerKey.ESCALATION, subject="We disagree")
    rest.as_user("practitioner1").issue_relation.create(issue_id=first, issue_to_id=request_id, relation_type="relates")
    esc = wait_until(lambda: (e := rest.issue(first)) and rest.field_value(e, F.ESCALATION_STAGE) and e, what="the escalation started")
    assert rest.field_value(esc, F.ESCALATION_STAGE) == "Stage 2: Manager to manager"  # urgent
    assert esc["assigned_to"]["name"] == "MASH managers"
    wait_until(lambda: rest.field_value(rest.issue(request_id), F.DISAGREEMENT_RAISED) == "1", what="Disagreement raised set on the request")
    live.settle()

    second = rest.create_issue("practitioner2", {F.DISAGREEMENT_TYPE: "Other"}, tracker=TrackerKey.ESCALATION, subject="Us too")
    rest.as_user("practitioner2").issue_relation.create(issue_id=second, issue_to_id=request_id, relation_type="relates")
    dup = wait_until(lambda: (e := rest.issue(second)) and e["status"]["name"] == "Escalation resolved" and e, what="the duplicate closed")
    assert rest.field_value(dup, F.ESCALATION_OUTCOME) == "Withdrawn"
    assert rest.field_value(dup, F.AGREED_ACTIONS) == f"Continued in escalation #{first}"
    assert [e["id"] for e in escalations_of(rest, request_id) if e["status"]["name"] == "In escalation"] == [first]

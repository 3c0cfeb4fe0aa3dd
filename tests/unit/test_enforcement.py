"""The worker's and the reconciler's judgement, on a fake Redmine."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.audit import AuditLog, EntryKind
from plugin.enforcement import RECONCILER_CURSOR, Enforcer
from plugin.executor import PrintingExecutor, RedmineExecutor
from schemas.events import Event, EventSource, EventType
from schemas.names import StatusKey, TrackerKey
from schemas.record import FieldKey
from tests.unit.fakes import BOT_ID, FakeRedmine
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE, SHARE_RECORD

F = FieldKey
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def redmine():
    return FakeRedmine(CONFIG)


@pytest.fixture
def enforcer(redmine, store):
    return Enforcer(CONFIG, redmine, store, RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)


def event_for(redmine, issue_id, journal_id=None, type=EventType.ISSUE_UPDATED):
    return Event(
        delivery_id=f"d-{issue_id}-{journal_id}",
        source=EventSource.SHIM,
        type=type,
        occurred_at=NOW,
        issue={"id": issue_id},
        journal={"id": journal_id} if journal_id else None,
        actor_id=10,
        actor_login="practitioner1",
    )


def bypass_to_shared_without_reasons(redmine):
    """An administrator (id 1) moves a request to Shared with the reasons left
    out: Redmine lets admins past required fields."""
    issue_id = redmine.create(dict(INTAKE))
    journal = redmine.edit(
        issue_id, 1, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.DECISION_REASONS: ""}, status=StatusKey.SHARED
    )
    return issue_id, journal


def test_a_clean_save_is_judged_and_nothing_happens(redmine, enforcer, store):
    issue_id = redmine.create(dict(INTAKE))
    assert enforcer.handle_event(event_for(redmine, issue_id, type=EventType.ISSUE_CREATED)) == "judged 1, actions applied 0"
    assert redmine.updates == [] and store.open_breaches() == []


def test_a_violation_in_a_saved_state_is_a_breach_noted_and_assigned(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    outcome = enforcer.handle_event(event_for(redmine, issue_id, journal))
    assert outcome == "judged 1, breaches 1, actions applied 2"
    (breach,) = store.open_breaches(issue_id)
    assert (breach["rule"], breach["field"], breach["code"], breach["journal_id"], breach["user_id"], breach["detected_by"]) == (
        "R-DECISION", "decision_reasons", "missing", journal, 1, "event"
    )
    (note,) = redmine.notes_by_service(issue_id)
    assert f"breach {breach['id']}, R-DECISION" in note and f"[infoshare:breach-{breach['id']}]" in note
    assert redmine.issues[issue_id]["assigned_to"]["id"] == 50
    assert redmine.issues[issue_id]["journals"][-1]["private_notes"] is True
    kinds = [e["kind"] for e in AuditLog(store).entries(issue_id=issue_id)]
    assert kinds == [EntryKind.BREACH, EntryKind.VERDICT, EntryKind.ACTION, EntryKind.ACTION]  # the assignment and the note


def test_replaying_the_same_event_changes_nothing(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    event = event_for(redmine, issue_id, journal)
    enforcer.handle_event(event)
    entries = len(list(AuditLog(store).entries()))
    assert enforcer.handle_event(event) == "judged 1, actions applied 0"
    assert len(redmine.updates) == 1 and len(store.all_breaches()) == 1
    assert len(list(AuditLog(store).entries())) == entries


def test_the_services_own_saves_are_ignored(redmine, enforcer):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    enforcer.handle_event(event_for(redmine, issue_id, journal))
    own = redmine.issues[issue_id]["journals"][-1]["id"]
    assert enforcer.handle_event(event_for(redmine, issue_id, own)) == "own change"
    bot_made = redmine.create(dict(INTAKE), author_id=BOT_ID)
    assert enforcer.handle_event(event_for(redmine, bot_made, type=EventType.ISSUE_CREATED)) == "own change"


def test_events_for_gone_deleted_or_foreign_issues(redmine, enforcer):
    assert enforcer.handle_event(event_for(redmine, 404)) == "issue no longer exists"
    assert enforcer.handle_event(event_for(redmine, 1, type=EventType.ISSUE_DELETED)) == "issue deleted"
    other = redmine.create({}, tracker=TrackerKey.INFORMATION_REQUEST)
    redmine.issues[other]["tracker"] = {"id": 1, "name": "Bug"}
    assert enforcer.handle_event(event_for(redmine, other)) == "tracker not handled"


def test_a_breach_hidden_by_a_later_edit_is_still_found_by_the_reconciler(redmine, enforcer, store):
    issue_id, _ = bypass_to_shared_without_reasons(redmine)
    redmine.edit(issue_id, 10, values={F.DECISION_REASONS: "added afterwards"})
    report = enforcer.reconcile()
    assert report.issues == 1 and report.new_breaches == 1 and report.resolved_breaches == 1
    (breach,) = store.all_breaches()
    assert breach["status"] == "resolved" and breach["detected_by"] == "reconciler"
    assert store.cursor(RECONCILER_CURSOR) is not None


def test_the_reconciler_resumes_from_its_cursor_with_overlap(redmine, enforcer, store):
    redmine.create(dict(INTAKE))
    enforcer.reconcile()
    cursor = store.cursor(RECONCILER_CURSOR)
    assert enforcer.reconcile().window_start == cursor - dt.timedelta(minutes=CONFIG.reconciler.overlap_minutes)
    # Nothing new: the cursor stays put.
    assert store.cursor(RECONCILER_CURSOR) == cursor


def test_an_explicit_since_overrides_the_cursor(redmine, enforcer):
    redmine.create(dict(INTAKE))
    enforcer.reconcile()
    report = enforcer.reconcile(since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert report.issues == 1


def test_a_standing_violation_is_one_breach_however_often_it_is_seen(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    enforcer.handle_event(event_for(redmine, issue_id, journal))
    redmine.edit(issue_id, 10, notes="still looking at it")
    enforcer.reconcile()
    enforcer.reconcile(since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert len(store.all_breaches()) == 1
    assert len(redmine.notes_by_service(issue_id)) == 1


def test_the_reconciler_skips_issues_deleted_while_it_looks(redmine, enforcer):
    issue_id = redmine.create(dict(INTAKE))
    original = redmine.issue
    redmine.issue = lambda i: None if i == issue_id else original(i)
    assert enforcer.reconcile().issues == 0


def test_dry_run_records_nothing(redmine, store):
    issue_id, _ = bypass_to_shared_without_reasons(redmine)
    printed = []
    dry = Enforcer(CONFIG, redmine, store, PrintingExecutor(redmine, CONFIG, echo=printed.append), clock=lambda: NOW, echo=printed.append)
    report = dry.reconcile()
    assert report.issues == 1
    assert store.all_breaches() == [] and redmine.updates == []
    assert store.cursor(RECONCILER_CURSOR) is None
    assert list(AuditLog(store).entries()) == []
    assert any("would record a breach" in p for p in printed) and any(p.startswith("would update issue") for p in printed)


# --- R-APPROVAL through the worker -------------------------------------------------------

IN_DOUBT = {**INTAKE, F.RECIPIENT_ENTITLEMENT: "In doubt"}


def latest_event(redmine, issue_id):
    return event_for(redmine, issue_id, redmine.issues[issue_id]["journals"][-1]["id"])


def test_a_share_decision_needing_approval_is_routed_to_managers(redmine, enforcer):
    issue_id = redmine.create(dict(IN_DOUBT))
    enforcer.handle_event(event_for(redmine, issue_id, type=EventType.ISSUE_CREATED))
    assert redmine.value(issue_id, F.APPROVAL_REQUIRED) == "1"
    assert redmine.value(issue_id, F.APPROVAL_REASON) == "Phone request: recipient's entitlement in doubt"
    redmine.edit(issue_id, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.handle_event(latest_event(redmine, issue_id))
    issue = redmine.issues[issue_id]
    assert issue["status"]["name"] == "Awaiting approval" and issue["assigned_to"]["id"] == 50
    (note,) = [n for n in redmine.notes_by_service(issue_id) if "approval-request" in n]
    updates = len(redmine.updates)
    enforcer.handle_event(latest_event(redmine, issue_id))  # the service's own save: ignored
    enforcer.reconcile()  # and the reconciler finds nothing left to do
    assert len(redmine.updates) == updates


def test_approval_by_a_manager_moves_it_on_and_names_the_manager(redmine, enforcer, store):
    issue_id = redmine.create(dict(IN_DOUBT))
    redmine.edit(issue_id, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.reconcile()
    redmine.edit(issue_id, 12, values={F.APPROVAL_DECISION: "Approved"})
    enforcer.handle_event(latest_event(redmine, issue_id))
    issue = redmine.issues[issue_id]
    assert redmine.value(issue_id, F.APPROVED_BY) == "Maya Manager"
    assert issue["status"]["name"] == "Approved" and issue["assigned_to"]["id"] == 10
    assert store.open_breaches() == []


def test_self_approval_recorded_past_the_gate_is_a_breach(redmine, enforcer, store):
    issue_id = redmine.create(dict(IN_DOUBT), author_id=14)
    redmine.edit(issue_id, 14, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.reconcile()
    redmine.edit(issue_id, 14, values={F.APPROVAL_DECISION: "Approved"})
    enforcer.handle_event(latest_event(redmine, issue_id))
    (breach,) = store.open_breaches(issue_id)
    assert (breach["rule"], breach["code"]) == ("R-APPROVAL", "self_approval")
    assert redmine.value(issue_id, F.APPROVED_BY) in ("", None)
    assert redmine.issues[issue_id]["status"]["name"] == "Awaiting approval"


def test_retrospective_reminders_each_working_day(redmine, enforcer):
    issue_id = redmine.create(dict(IN_DOUBT))
    redmine.edit(issue_id, 10, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.EMERGENCY_OVERRIDE: "1",
                                       F.EMERGENCY_OVERRIDE_REASON: "immediate risk"}, status=StatusKey.SHARED)
    enforcer.handle_event(latest_event(redmine, issue_id))
    assert any("retrospective Approval decision" in n for n in redmine.notes_by_service(issue_id))
    sunday = dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)
    monday = dt.datetime(2026, 11, 23, 12, tzinfo=dt.timezone.utc)
    assert enforcer.remind_retrospective_approvals(sunday) == 0
    assert enforcer.remind_retrospective_approvals(monday) == 1
    assert enforcer.remind_retrospective_approvals(monday) == 0  # once a day
    assert enforcer.remind_retrospective_approvals(monday + dt.timedelta(days=1)) == 1
    redmine.edit(issue_id, 12, values={F.APPROVAL_DECISION: "Approved"})
    assert enforcer.remind_retrospective_approvals(monday + dt.timedelta(days=2)) == 0


# --- R-ESCALATION through the worker and the timer job -------------------------------------


def at_noon(day):
    return dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")


def test_a_disagreement_runs_through_the_stages(redmine, store):
    clock = {"now": at_noon("2026-11-23")}
    enforcer = Enforcer(CONFIG, redmine, store, RedmineExecutor(redmine, CONFIG), clock=lambda: clock["now"])
    request_id = redmine.create(dict(INTAKE), author_id=10)
    redmine.edit(request_id, 10, values={F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Police want the whole file"})
    enforcer.handle_event(latest_event(redmine, request_id))
    (esc_id,) = [i for i, issue in redmine.issues.items() if issue["tracker"]["name"] == "Escalation"]
    esc = redmine.issues[esc_id]
    assert (esc["start_date"], esc["due_date"], esc["assigned_to"]["id"]) == ("2026-11-23", "2026-11-25", 10)
    assert redmine.value(esc_id, F.POINTS_OF_DISAGREEMENT) == "Police want the whole file"

    # A second disagreement while this one is open opens nothing.
    redmine.edit(request_id, 11, values={F.DISAGREEMENT_DETAILS: "More detail"})
    enforcer.handle_event(latest_event(redmine, request_id))
    assert len(redmine.creates) == 1

    assert enforcer.run_escalations(at_noon("2026-11-25")).moved == []
    report = enforcer.run_escalations(at_noon("2026-11-26"))
    assert report.moved == [esc_id] and report.checked == 1
    esc = redmine.issues[esc_id]
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 2: Manager to manager"
    assert (esc["start_date"], esc["due_date"], esc["assigned_to"]["id"]) == ("2026-11-26", "2026-12-03", 50)
    assert enforcer.run_escalations(at_noon("2026-11-26")).moved == []  # never twice

    enforcer.run_escalations(at_noon("2026-12-04"))
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 3: Senior manager"
    enforcer.run_escalations(at_noon("2026-12-14"))
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 4: Safeguarding partnership"
    final = enforcer.run_escalations(at_noon("2027-01-07"))  # stage 4 was due on 6 January
    assert final.final_stage_overdue == [esc_id] and final.moved == []
    assert redmine.issues[esc_id]["status"]["name"] == "In escalation"

    redmine.edit(esc_id, 12, values={F.ESCALATION_OUTCOME: "Resolved", F.AGREED_ACTIONS: "Share the summary only"}, status=StatusKey.ESCALATION_RESOLVED)
    enforcer.handle_event(latest_event(redmine, esc_id))
    assert redmine.value(request_id, F.DISAGREEMENT_RAISED) == "0"
    assert any("Outcome: Resolved" in n for n in redmine.notes_by_service(request_id))


def test_an_escalation_a_person_opens_is_started_by_the_timer_job(redmine, store):
    enforcer = Enforcer(CONFIG, redmine, store, RedmineExecutor(redmine, CONFIG), clock=lambda: at_noon("2026-11-23"))
    request_id = redmine.create(dict(INTAKE))
    esc_id = redmine.create({F.URGENT_ESCALATION: "1"}, tracker=TrackerKey.ESCALATION, status=StatusKey.IN_ESCALATION)
    redmine.relate(esc_id, request_id)  # no issue save: no event
    report = enforcer.run_escalations(at_noon("2026-11-23"))
    assert report.started == [esc_id]
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 2: Manager to manager"
    assert redmine.issues[esc_id]["due_date"] == "2026-11-24"
    assert redmine.value(request_id, F.DISAGREEMENT_RAISED) == "1"

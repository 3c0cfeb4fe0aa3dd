"""The worker's and the reconciler's judgement, on a fake Redmine."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.adapters.store.audit import EntryKind
from plugin.service.reconciler import RECONCILER_CURSOR
from plugin.service.wiring import assemble
from plugin.service.executor import PrintingExecutor, RedmineExecutor
from plugin.domain.event import Event, EventSource, EventType
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from tests.unit.fakes import BOT_ID, FakeRedmine
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE, SHARE_RECORD

F = FieldKey
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def redmine():
    return FakeRedmine(CONFIG)


@pytest.fixture
def enforcer(redmine, store):
    return assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)


def event_for(redmine, issue_id, journal_id=None, type=EventType.ISSUE_UPDATED):
    return Event(
        delivery_id=f"d-{issue_id}-{journal_id}",
        source=EventSource.SHIM,
        type=type,
        occurred_at=NOW,
        issue_id=issue_id,
        journal_id=journal_id,
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


def test_a_clean_save_is_judged_and_only_its_response_due_is_written(redmine, enforcer, store):
    issue_id = redmine.create(dict(INTAKE))
    # The service writes only the Response due and the Due date (R-TIMELINESS), once.
    assert enforcer.events.handle(event_for(redmine, issue_id, type=EventType.ISSUE_CREATED)) == "judged 1, actions applied 2"
    assert store.breaches.open() == []
    assert redmine.value(issue_id, F.RESPONSE_DUE) == "2026-11-23 17:00" and redmine.issues[issue_id]["due_date"] == "2026-11-23"  # logged on a Saturday: Amber, Monday 17:00
    updates = len(redmine.updates)
    assert enforcer.reconciler.run().actions_applied == 0
    assert len(redmine.updates) == updates


def test_a_violation_in_a_saved_state_is_a_breach_noted_and_assigned(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    outcome = enforcer.events.handle(event_for(redmine, issue_id, journal))
    # The breach's note and assignment, and the closed request's review date.
    # The creation, never judged, and the save (Shared by, Response due and Due date among the actions).
    assert outcome == "judged 2, breaches 1, actions applied 7"
    assert redmine.value(issue_id, F.RETENTION_REVIEW_DATE) == "2061-11-21"  # Child protection: 35 years
    (breach,) = store.breaches.open(issue_id)
    assert (breach["rule"], breach["field"], breach["code"], breach["journal_id"], breach["user_id"], breach["detected_by"]) == (
        "R-DECISION", "decision_reasons", "missing", journal, 1, "event"
    )
    (note,) = redmine.notes_by_service(issue_id)
    assert f"breach {breach['id']}, R-DECISION" in note and f"[infoshare:breach-{breach['id']}]" in note
    assert redmine.issues[issue_id]["assigned_to"]["id"] == 50
    assert redmine.issues[issue_id]["journals"][-1]["private_notes"] is True
    kinds = [e["kind"] for e in store.audit.entries(issue_id=issue_id)]
    assert kinds == [EntryKind.BREACH, EntryKind.VERDICT] + [EntryKind.ACTION] * 7


def test_replaying_the_same_event_changes_nothing(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    event = event_for(redmine, issue_id, journal)
    enforcer.events.handle(event)
    entries = len(list(store.audit.entries()))
    # All it finds new is the service's own note, judged by nobody.
    assert enforcer.events.handle(event) == "own change"
    assert len(redmine.updates) == 1 and len(store.breaches.all()) == 1
    assert len(list(store.audit.entries())) == entries


def test_the_services_own_saves_are_ignored(redmine, enforcer):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    enforcer.events.handle(event_for(redmine, issue_id, journal))
    own = redmine.issues[issue_id]["journals"][-1]["id"]
    assert enforcer.events.handle(event_for(redmine, issue_id, own)) == "own change"
    bot_made = redmine.create(dict(INTAKE), author_id=BOT_ID)
    assert enforcer.events.handle(event_for(redmine, bot_made, type=EventType.ISSUE_CREATED)) == "own change"


def test_events_for_gone_deleted_or_foreign_issues(redmine, enforcer):
    assert enforcer.events.handle(event_for(redmine, 404)) == "issue no longer exists"
    assert enforcer.events.handle(event_for(redmine, 1, type=EventType.ISSUE_DELETED)) == "issue deleted"
    other = redmine.create({}, tracker=TrackerKey.INFORMATION_REQUEST)
    redmine.issues[other]["tracker"] = {"id": 1, "name": "Bug"}
    assert enforcer.events.handle(event_for(redmine, other)) == "tracker not handled"


def test_a_breach_hidden_by_a_later_edit_is_still_found_by_the_reconciler(redmine, enforcer, store):
    issue_id, _ = bypass_to_shared_without_reasons(redmine)
    redmine.edit(issue_id, 10, values={F.DECISION_REASONS: "added afterwards"})
    report = enforcer.reconciler.run()
    assert report.issues == 1 and report.new_breaches == 1 and report.resolved_breaches == 1
    (breach,) = store.breaches.all()
    assert breach["status"] == "resolved" and breach["detected_by"] == "reconciler"
    assert store.cursors.get(RECONCILER_CURSOR) is not None


def test_the_reconciler_resumes_from_its_cursor_with_overlap(redmine, enforcer, store):
    redmine.create(dict(INTAKE))
    enforcer.reconciler.run()
    enforcer.reconciler.run()  # the service's own save of the Response due, judged
    cursor = store.cursors.get(RECONCILER_CURSOR)
    assert enforcer.reconciler.run().window_start == cursor - dt.timedelta(minutes=CONFIG.reconciler.overlap_minutes)
    # Nothing new: the cursor stays put.
    assert store.cursors.get(RECONCILER_CURSOR) == cursor


def test_an_explicit_since_overrides_the_cursor(redmine, enforcer):
    redmine.create(dict(INTAKE))
    enforcer.reconciler.run()
    report = enforcer.reconciler.run(since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert report.issues == 1


def test_a_standing_violation_is_one_breach_however_often_it_is_seen(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    enforcer.events.handle(event_for(redmine, issue_id, journal))
    redmine.edit(issue_id, 10, notes="still looking at it")
    enforcer.reconciler.run()
    enforcer.reconciler.run(since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert len(store.breaches.all()) == 1
    assert len(redmine.notes_by_service(issue_id)) == 1


def test_the_reconciler_skips_issues_deleted_while_it_looks(redmine, enforcer):
    issue_id = redmine.create(dict(INTAKE))
    original = redmine.issue
    redmine.issue = lambda i: None if i == issue_id else original(i)
    assert enforcer.reconciler.run().issues == 0


def test_dry_run_records_nothing(redmine, store):
    issue_id, _ = bypass_to_shared_without_reasons(redmine)
    printed = []
    dry = assemble(CONFIG, redmine, store, executor=PrintingExecutor(redmine, CONFIG, echo=printed.append), clock=lambda: NOW, echo=printed.append)
    report = dry.reconciler.run()
    assert report.issues == 1
    assert store.breaches.all() == [] and redmine.updates == []
    assert store.cursors.get(RECONCILER_CURSOR) is None
    assert list(store.audit.entries()) == []
    assert any("would record a breach" in p for p in printed) and any(p.startswith("would update issue") for p in printed)


# --- R-APPROVAL through the worker -------------------------------------------------------

IN_DOUBT = {**INTAKE, F.RECIPIENT_ENTITLEMENT: "In doubt"}


def latest_event(redmine, issue_id):
    return event_for(redmine, issue_id, redmine.issues[issue_id]["journals"][-1]["id"])


def test_a_share_decision_needing_approval_is_routed_to_managers(redmine, enforcer):
    issue_id = redmine.create(dict(IN_DOUBT))
    enforcer.events.handle(event_for(redmine, issue_id, type=EventType.ISSUE_CREATED))
    assert redmine.value(issue_id, F.APPROVAL_REQUIRED) == "1"
    assert redmine.value(issue_id, F.APPROVAL_REASON) == "Phone request: recipient's entitlement in doubt"
    redmine.edit(issue_id, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.events.handle(latest_event(redmine, issue_id))
    issue = redmine.issues[issue_id]
    assert issue["status"]["name"] == "Awaiting approval" and issue["assigned_to"]["id"] == 50
    (note,) = [n for n in redmine.notes_by_service(issue_id) if "approval-request" in n]
    updates = len(redmine.updates)
    enforcer.events.handle(latest_event(redmine, issue_id))  # the service's own save: ignored
    enforcer.reconciler.run()  # and the reconciler finds nothing left to do
    assert len(redmine.updates) == updates


def test_approval_by_a_manager_moves_it_on_and_names_the_manager(redmine, enforcer, store):
    issue_id = redmine.create(dict(IN_DOUBT))
    redmine.edit(issue_id, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.reconciler.run()
    redmine.edit(issue_id, 12, values={F.APPROVAL_DECISION: "Approved"})
    enforcer.events.handle(latest_event(redmine, issue_id))
    issue = redmine.issues[issue_id]
    assert redmine.value(issue_id, F.APPROVED_BY) == "Maya Manager"
    assert issue["status"]["name"] == "Approved" and issue["assigned_to"]["id"] == 10
    assert store.breaches.open() == []


def test_self_approval_recorded_past_the_gate_is_a_breach(redmine, enforcer, store):
    issue_id = redmine.create(dict(IN_DOUBT), author_id=14)
    redmine.edit(issue_id, 14, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.reconciler.run()
    redmine.edit(issue_id, 14, values={F.APPROVAL_DECISION: "Approved"})
    enforcer.events.handle(latest_event(redmine, issue_id))
    (breach,) = store.breaches.open(issue_id)
    assert (breach["rule"], breach["code"]) == ("R-APPROVAL", "self_approval")
    assert redmine.value(issue_id, F.APPROVED_BY) in ("", None)
    assert redmine.issues[issue_id]["status"]["name"] == "Awaiting approval"


def test_retrospective_reminders_each_working_day(redmine, enforcer):
    issue_id = redmine.create(dict(IN_DOUBT))
    redmine.edit(issue_id, 10, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.EMERGENCY_OVERRIDE: "1",
                                       F.EMERGENCY_OVERRIDE_REASON: "immediate risk"}, status=StatusKey.SHARED)
    enforcer.events.handle(latest_event(redmine, issue_id))
    assert any("retrospective Approval decision" in n for n in redmine.notes_by_service(issue_id))
    sunday = dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)
    monday = dt.datetime(2026, 11, 23, 12, tzinfo=dt.timezone.utc)
    assert enforcer.approvals.run(sunday).reminders == 0
    assert enforcer.approvals.run(monday).reminders == 1
    assert enforcer.approvals.run(monday).reminders == 0  # once a day
    assert enforcer.approvals.run(monday + dt.timedelta(days=1)).reminders == 1
    redmine.edit(issue_id, 12, values={F.APPROVAL_DECISION: "Approved"})
    assert enforcer.approvals.run(monday + dt.timedelta(days=2)).reminders == 0


# --- R-ESCALATION through the worker and the timer job -------------------------------------


def at_noon(day):
    return dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")


def test_a_disagreement_runs_through_the_stages(redmine, store):
    clock = {"now": at_noon("2026-11-23")}
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: clock["now"])
    request_id = redmine.create(dict(INTAKE), author_id=10)
    redmine.edit(request_id, 10, values={F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Police want the whole file"})
    enforcer.events.handle(latest_event(redmine, request_id))
    (esc_id,) = [i for i, issue in redmine.issues.items() if issue["tracker"]["name"] == "Escalation"]
    esc = redmine.issues[esc_id]
    assert (esc["start_date"], esc["due_date"], esc["assigned_to"]["id"]) == ("2026-11-23", "2026-11-25", 10)
    assert redmine.value(esc_id, F.POINTS_OF_DISAGREEMENT) == "Police want the whole file"

    # A second disagreement while this one is open opens nothing.
    redmine.edit(request_id, 11, values={F.DISAGREEMENT_DETAILS: "More detail"})
    enforcer.events.handle(latest_event(redmine, request_id))
    assert len(redmine.creates) == 1

    assert enforcer.escalations.run(at_noon("2026-11-25")).moved == []
    report = enforcer.escalations.run(at_noon("2026-11-26"))
    assert report.moved == [esc_id] and report.checked == 1
    esc = redmine.issues[esc_id]
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 2: Manager to manager"
    assert (esc["start_date"], esc["due_date"], esc["assigned_to"]["id"]) == ("2026-11-26", "2026-12-03", 50)
    assert enforcer.escalations.run(at_noon("2026-11-26")).moved == []  # never twice

    enforcer.escalations.run(at_noon("2026-12-04"))
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 3: Senior manager"
    enforcer.escalations.run(at_noon("2026-12-14"))
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 4: Safeguarding partnership"
    final = enforcer.escalations.run(at_noon("2027-01-07"))  # stage 4 was due on 6 January
    assert final.final_stage_overdue == [esc_id] and final.moved == []
    assert redmine.issues[esc_id]["status"]["name"] == "In escalation"

    redmine.edit(esc_id, 12, values={F.ESCALATION_OUTCOME: "Resolved", F.AGREED_ACTIONS: "Share the summary only"}, status=StatusKey.ESCALATION_RESOLVED)
    enforcer.events.handle(latest_event(redmine, esc_id))
    assert redmine.value(request_id, F.DISAGREEMENT_RAISED) == "0"
    assert any("Outcome: Resolved" in n for n in redmine.notes_by_service(request_id))


def test_an_escalation_a_person_opens_is_started_by_the_timer_job(redmine, store):
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: at_noon("2026-11-23"))
    request_id = redmine.create(dict(INTAKE))
    esc_id = redmine.create({F.URGENT_ESCALATION: "1"}, tracker=TrackerKey.ESCALATION, status=StatusKey.IN_ESCALATION)
    redmine.relate(esc_id, request_id)  # no issue save: no event
    report = enforcer.escalations.run(at_noon("2026-11-23"))
    assert report.started == [esc_id]
    assert redmine.value(esc_id, F.ESCALATION_STAGE) == "Stage 2: Manager to manager"
    assert redmine.issues[esc_id]["due_date"] == "2026-11-24"
    assert redmine.value(request_id, F.DISAGREEMENT_RAISED) == "1"


def test_a_stage_set_by_hand_is_counted_as_such_not_as_moved_on(redmine, store):
    """`infoshare escalations run` counted a stage set by hand as a move to the
    next stage (it read note keys); it counts what each note stands for."""
    clock = {"now": at_noon("2026-11-23")}
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: clock["now"])
    request_id = redmine.create(dict(INTAKE))
    redmine.edit(request_id, 10, values={F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Disputed"})
    enforcer.events.handle(latest_event(redmine, request_id))
    (esc_id,) = [i for i, issue in redmine.issues.items() if issue["tracker"]["name"] == "Escalation"]
    # A manager moves it to stage 3 by hand; no event reaches the service.
    redmine.edit(esc_id, 12, values={F.ESCALATION_STAGE: "Stage 3: Senior manager"})
    report = enforcer.escalations.run(at_noon("2026-11-30"))  # stage 1 was due on the 25th
    assert report.set_by_hand == [esc_id] and report.moved == []
    assert redmine.issues[esc_id]["assigned_to"]["id"] == 52  # Heads of service


# --- R-RETENTION through the worker and the daily job -------------------------------------------

from plugin.service.wiring import disposal_recorder, redaction_recorder  # noqa: E402

CLOSED = {**INTAKE, **DECISION, F.DECISION: "Do not share", F.PUBLIC_INTEREST_JUSTIFICATION: "", F.RETENTION_CATEGORY: "No further action"}


def closed_request(redmine, enforcer, **values):
    issue_id = redmine.create(dict(INTAKE))
    redmine.edit(issue_id, 10, values={**CLOSED, **values}, status=StatusKey.NOT_SHARED)
    enforcer.events.handle(latest_event(redmine, issue_id))
    return issue_id


def retention_enforcer(redmine, store):
    executor = RedmineExecutor(redmine, CONFIG, on_disposal=disposal_recorder(store.audit), on_redaction=redaction_recorder(store.audit))
    return assemble(CONFIG, redmine, store, executor=executor, clock=lambda: NOW)


def reviews(redmine):
    return [i for i, issue in redmine.issues.items() if issue["tracker"]["name"] == "Retention review"]


def test_a_closed_request_is_reviewed_once_with_reminders(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    issue_id = closed_request(redmine, enforcer)
    assert redmine.value(issue_id, F.RETENTION_REVIEW_DATE) == "2032-11-21"
    assert enforcer.retention.run(at_noon("2032-10-21")).opened == []
    report = enforcer.retention.run(at_noon("2032-10-22"))
    (review_id,) = report.opened
    assert report.reminders == 0  # the review is new; its reminders start with the next run
    review = redmine.issues[review_id]
    assert review["assigned_to"]["id"] == 51 and review["due_date"] == "2032-11-21"
    assert {r["issue_to_id"] for r in review["relations"]} == {issue_id}
    again = enforcer.retention.run(at_noon("2032-10-22"))
    assert again.opened == [] and again.reminders == 0  # exactly one review; opening it was the day's reminder
    assert enforcer.retention.run(at_noon("2032-10-23")).reminders == 0
    assert enforcer.retention.run(at_noon("2032-11-14")).reminders == 1
    assert enforcer.retention.run(at_noon("2032-11-21")).reminders == 1
    assert enforcer.retention.run(at_noon("2032-11-28")).reminders == 1
    assert enforcer.retention.run(at_noon("2032-11-28")).reminders == 0
    assert len(reviews(redmine)) == 1


def complete(redmine, enforcer, review_id, **values):
    redmine.edit(review_id, 20, values=values, status=StatusKey.REVIEW_COMPLETED)
    enforcer.events.handle(latest_event(redmine, review_id))


def open_review(redmine, enforcer, **values):
    issue_id = closed_request(redmine, enforcer, **values)
    (review_id,) = enforcer.retention.run(at_noon("2032-11-21")).opened
    return issue_id, review_id


def test_retain_sets_the_next_review(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    issue_id, review_id = open_review(redmine, enforcer)
    complete(redmine, enforcer, review_id, **{F.REVIEW_OUTCOME: "Retain", F.REVIEW_JUSTIFICATION: "Live care proceedings", F.NEXT_REVIEW_DATE: "2035-01-31"})
    assert redmine.value(issue_id, F.RETENTION_REVIEW_DATE) == "2035-01-31"
    enforcer.reconciler.run()  # the schedule does not overrule the review
    assert redmine.value(issue_id, F.RETENTION_REVIEW_DATE) == "2035-01-31"
    assert enforcer.retention.run(at_noon("2032-11-22")).due == 0


PERSONAL = "Kayleigh-Unique-7731"
TEXTS = 6  # text fields the closed request below has filled in (INTAKE, CLOSED)


def texts_set(redmine, issue_id):
    from plugin.policy.retention import personal_fields

    return sum(1 for k in personal_fields(TrackerKey.INFORMATION_REQUEST, CONFIG.retention.keep_fields) if redmine.value(issue_id, k))


def request_with_personal_text(redmine, enforcer):
    """A closed request with the marker in text fields, a public and a private
    note, an attachment's name and an escalation that copied it."""
    issue_id, review_id = open_review(redmine, enforcer, **{F.REQUESTER_NAME: f"Dr {PERSONAL}", F.DECISION_REASONS: f"about {PERSONAL}"})
    assert texts_set(redmine, issue_id) == TEXTS
    redmine.edit(issue_id, 10, values={F.REQUESTER_NAME: f"Dr {PERSONAL} Jr"}, notes=f"spoke to {PERSONAL}")  # history holds it twice
    redmine.edit(issue_id, 12, notes=f"private: {PERSONAL}", private_notes=True)
    redmine.edit(issue_id, 10, text={"subject": f"Request about {PERSONAL}", "description": f"{PERSONAL} at school"})
    redmine.attach(issue_id, 10, f"{PERSONAL}-letter.pdf")
    escalation_id = redmine.create({F.POINTS_OF_DISAGREEMENT: f"{PERSONAL} copied"}, status=StatusKey.IN_ESCALATION, tracker=TrackerKey.ESCALATION)
    redmine.edit(escalation_id, 12, notes=f"stage 1 call about {PERSONAL}")
    redmine.relate(escalation_id, issue_id)
    return issue_id, review_id, escalation_id


def test_anonymise_removes_every_piece_of_personal_text_from_the_request_and_its_escalations(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    issue_id, review_id, escalation_id = request_with_personal_text(redmine, enforcer)
    complete(redmine, enforcer, review_id, **{F.REVIEW_OUTCOME: "Anonymise", F.REVIEW_JUSTIFICATION: "No longer needed in full"})
    for one in (issue_id, escalation_id):
        assert PERSONAL not in str(redmine.issues[one]), f"#{one} still holds personal text"
    issue = redmine.issues[issue_id]
    assert issue["attachments"] == [] and issue["subject"] == CONFIG.retention.redaction_marker
    assert redmine.value(issue_id, F.DECISION) == CLOSED[F.DECISION]  # the choices stay
    assert redmine.value(issue_id, F.RETENTION_REVIEW_DATE) in ("", None)
    (note,) = [n for n in redmine.notes_by_service(issue_id) if "anonymised on the decision of" in n]
    assert f"{TEXTS} text field(s), 2 note(s) and 1 attachment(s) removed" in note and "1 linked escalation (#%d)" % escalation_id in note
    assert any("Anonymised with request" in n for n in redmine.notes_by_service(escalation_id))
    redactions = list(store.audit.entries(kind=EntryKind.REDACTION))
    assert {e["issue_id"] for e in redactions} == {issue_id, escalation_id} and PERSONAL not in str(redactions)
    # Again: nothing is left to ask for, and nothing is noted twice.
    before = (len(redmine.anonymised), len(redmine.updates))
    enforcer.events.handle(latest_event(redmine, review_id))
    assert (len(redmine.anonymised), len(redmine.updates)) == before
    assert enforcer.retention.run(at_noon("2032-11-22")).opened == []


def test_an_anonymisation_cut_short_is_finished_by_the_next_run(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    issue_id, review_id, escalation_id = request_with_personal_text(redmine, enforcer)
    redmine.fail_anonymise_after = 1  # the request is done, then the worker dies
    redmine.edit(review_id, 20, values={F.REVIEW_OUTCOME: "Anonymise", F.REVIEW_JUSTIFICATION: "No longer needed"}, status=StatusKey.REVIEW_COMPLETED)
    with pytest.raises(ConnectionError):
        enforcer.events.handle(latest_event(redmine, review_id))
    assert PERSONAL not in str(redmine.issues[issue_id]) and PERSONAL in str(redmine.issues[escalation_id])
    redmine.fail_anonymise_after = None
    enforcer.reconciler.run()
    assert PERSONAL not in str(redmine.issues[escalation_id])
    notes = [n for n in redmine.notes_by_service(issue_id) if "anonymised on the decision of" in n]
    assert len(notes) == 1 and f"{TEXTS} text field(s), 2 note(s) and 1 attachment(s)" in notes[0]  # counted before anything was removed


def test_destroy_writes_the_disposal_record_then_deletes(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    issue_id, review_id, escalation_id = request_with_personal_text(redmine, enforcer)
    complete(redmine, enforcer, review_id, **{F.REVIEW_OUTCOME: "Destroy", F.REVIEW_JUSTIFICATION: "Retention period over"})
    assert redmine.deleted == [escalation_id, issue_id] and issue_id not in redmine.issues and escalation_id not in redmine.issues
    (disposal,) = store.audit.entries(kind=EntryKind.DISPOSAL)
    assert disposal["issue_id"] == issue_id and disposal["detail"]["review_id"] == review_id
    assert disposal["detail"]["escalation_ids"] == [escalation_id]
    assert disposal["detail"]["category"] == "No further action" and disposal["detail"]["authorised_by_user_id"] == 20
    assert any(f"request_id: {issue_id}" in n and f"escalation_ids: #{escalation_id}" in n for n in redmine.notes_by_service(review_id))
    enforcer.events.handle(latest_event(redmine, review_id))  # again: nothing more
    assert redmine.deleted == [escalation_id, issue_id] and len(list(store.audit.entries(kind=EntryKind.DISPOSAL))) == 1


def test_legal_hold_is_listed_not_reviewed(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    held = closed_request(redmine, enforcer, **{F.LEGAL_HOLD: "1"})
    report = enforcer.retention.run(at_noon("2032-11-21"))
    assert report.on_hold == [held] and report.opened == []


def test_the_daily_job_reads_only_the_due_requests(redmine, store):
    enforcer = retention_enforcer(redmine, store)
    for _ in range(30):
        closed_request(redmine, enforcer, **{F.RETENTION_CATEGORY: "Child protection"})  # due in 2061
    quiet = enforcer.retention.run(at_noon("2032-11-21"))
    reads_quiet = redmine.reads
    closed_request(redmine, enforcer)
    closed_request(redmine, enforcer)
    redmine.reads = 0
    enforcer.retention.run(at_noon("2032-11-21"))
    assert quiet.due == 0 and reads_quiet > 0
    # Two queries (due, held), then per due request: the request and its related issues.
    assert redmine.reads <= 2 + 2 * 3


# --- R-APPROVAL 7 and R-INCIDENT through the worker and the incident job ---------------------------------

OVERRIDE = {**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "immediate risk"}


def declined_request(redmine, enforcer):
    issue_id = redmine.create(dict(IN_DOUBT))
    redmine.edit(issue_id, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.events.handle(latest_event(redmine, issue_id))  # routed to the managers
    redmine.edit(issue_id, 12, values={F.APPROVAL_DECISION: "Declined"})
    enforcer.events.handle(latest_event(redmine, issue_id))  # back to the practitioner
    assert redmine.issues[issue_id]["status"]["name"] == "Assessing"
    return issue_id


def incidents_of(redmine, issue_id):
    tracker = CONFIG.names.tracker(TrackerKey.INFORMATION_INCIDENT)
    return [i for i in redmine.issues.values() if i["tracker"]["name"] == tracker and issue_id in {r["issue_id"] for r in i["relations"]} | {r["issue_to_id"] for r in i["relations"]}]


def test_an_override_after_a_decline_tells_the_manager_and_opens_one_incident(redmine, enforcer):
    issue_id = declined_request(redmine, enforcer)
    redmine.edit(issue_id, 10, values=dict(OVERRIDE), status=StatusKey.SHARED)
    enforcer.events.handle(latest_event(redmine, issue_id))
    (opened,) = incidents_of(redmine, issue_id)
    assert redmine.value(opened["id"], F.INCIDENT_TYPE) == "Override of a declined approval"
    # Aware when the override was saved: the deadline is 72 hours from that save.
    saved = dt.datetime.fromisoformat(redmine.issues[issue_id]["journals"][-2]["created_on"].replace("Z", "+00:00"))
    assert redmine.value(opened["id"], F.ICO_DEADLINE) == (saved + dt.timedelta(hours=72)).strftime("%Y-%m-%d %H:%M")
    assert opened["assigned_to"]["id"] == 51  # Information governance
    request = redmine.issues[issue_id]
    assert {w["id"] for w in request["watchers"]} == {12}  # the manager who declined
    assert redmine.value(issue_id, F.APPROVAL_DECISION) in ("", None)  # asked afresh, retrospectively
    enforcer.reconciler.run()
    enforcer.reconciler.run()
    assert len(incidents_of(redmine, issue_id)) == 1


def test_a_crash_between_opening_the_incident_and_noting_it_opens_no_second(redmine, store):
    class CrashOnce(RedmineExecutor):
        crashed = False

        def _update(self, issue_id, attributes):
            if not self.crashed and any("override-after-decline" in (attributes.get("notes") or "") for _ in [0]):
                CrashOnce.crashed = True
                raise RuntimeError("killed")
            super()._update(issue_id, attributes)

    enforcer = assemble(CONFIG, redmine, store, executor=CrashOnce(redmine, CONFIG), clock=lambda: NOW)
    issue_id = declined_request(redmine, enforcer)
    redmine.edit(issue_id, 10, values=dict(OVERRIDE), status=StatusKey.SHARED)
    with pytest.raises(RuntimeError):
        enforcer.events.handle(latest_event(redmine, issue_id))
    assert len(incidents_of(redmine, issue_id)) == 1  # opened, but the request was not told
    enforcer.events.handle(latest_event(redmine, issue_id))
    assert len(incidents_of(redmine, issue_id)) == 1
    assert any("[infoshare:override-after-decline-" in n for n in redmine.notes_by_service(issue_id))


def test_the_incident_job_reminds_at_24_48_66_hours_and_notes_the_deadline_once(redmine, store):
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    logged = redmine.create({F.INCIDENT_TYPE: "Complaint from the public", F.BECAME_AWARE_AT: "2026-11-21 09:00"}, author_id=11,
                            tracker=TrackerKey.INFORMATION_INCIDENT, status=StatusKey.INCIDENT_REPORTED)
    enforcer.events.handle(event_for(redmine, logged, type=EventType.ISSUE_CREATED))
    assert redmine.value(logged, F.ICO_DEADLINE) == "2026-11-24 09:00"
    assert redmine.issues[logged]["due_date"] == "2026-11-24" and redmine.issues[logged]["assigned_to"]["id"] == 51
    decided = redmine.create({F.INCIDENT_TYPE: "Other concern", F.ICO_REPORT_DECISION: "Not reportable", F.BECAME_AWARE_AT: "2026-11-21 09:00"},
                             tracker=TrackerKey.INFORMATION_INCIDENT, status=StatusKey.INCIDENT_REPORTED)
    enforcer.events.handle(event_for(redmine, decided, type=EventType.ISSUE_CREATED))
    aware = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
    assert enforcer.incidents.run(aware + dt.timedelta(hours=23)).reminders == []
    reads = redmine.reads
    first = enforcer.incidents.run(aware + dt.timedelta(hours=25))
    assert first.reminders == [logged] and first.checked == 1  # the decided one is not even read
    assert redmine.reads - reads <= 3  # two searches and the one incident
    again = enforcer.incidents.run(aware + dt.timedelta(hours=25))  # once; and its note moved it: read once more
    assert again.reminders == [] and again.checked == 1
    reads = redmine.reads
    resting = enforcer.incidents.run(aware + dt.timedelta(hours=26))  # unchanged, the next reminder at 48 hours: not read
    assert (resting.checked, resting.asleep, redmine.reads - reads) == (0, 1, 2)  # the two searches only
    assert enforcer.incidents.run(aware + dt.timedelta(hours=49)).reminders == [logged]
    assert enforcer.incidents.run(aware + dt.timedelta(hours=67)).reminders == [logged]
    late = enforcer.incidents.run(aware + dt.timedelta(hours=73))
    assert late.deadlines_passed == [logged] and late.reminders == []
    assert {w["id"] for w in redmine.issues[logged]["watchers"]} == {52}  # Heads of service
    assert enforcer.incidents.run(aware + dt.timedelta(hours=80)).deadlines_passed == []
    assert not any("[infoshare:ico-" in n for n in redmine.notes_by_service(decided))
    # A week after the deadline the incident is no longer swept.
    assert enforcer.incidents.run(aware + dt.timedelta(days=12)).checked == 0


def test_the_incident_job_finds_an_incident_logged_while_the_service_was_down_and_starts_its_clock(redmine, store):
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    unseen = redmine.create({F.INCIDENT_TYPE: "Complaint from the public", F.BECAME_AWARE_AT: "2026-11-21 09:00"}, author_id=11,
                            tracker=TrackerKey.INFORMATION_INCIDENT, status=StatusKey.INCIDENT_REPORTED)  # no event handled: no due date
    report = enforcer.incidents.run(dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc))
    assert report.checked == 1 and report.reminders == [unseen]
    assert redmine.issues[unseen]["due_date"] == "2026-11-24" and redmine.value(unseen, F.ICO_DEADLINE) == "2026-11-24 09:00"


def test_the_incident_job_leaves_incidents_whose_clock_has_not_reached_a_reminder(redmine, store):
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    ahead = redmine.create({F.INCIDENT_TYPE: "Complaint from the public", F.BECAME_AWARE_AT: "2026-11-30 09:00"}, author_id=11,
                           tracker=TrackerKey.INFORMATION_INCIDENT, status=StatusKey.INCIDENT_REPORTED)
    enforcer.events.handle(event_for(redmine, ahead, type=EventType.ISSUE_CREATED))
    assert redmine.issues[ahead]["due_date"] == "2026-12-03"
    # Four days before its deadline nothing can be due: not read at all.
    assert enforcer.incidents.run(dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.timezone.utc)).checked == 0
    # Within the window it is read, and its first reminder comes 24 hours after becoming aware.
    assert enforcer.incidents.run(dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)).reminders == []
    assert enforcer.incidents.run(dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)).reminders == [ahead]


# --- hardening (issue 14): one bad ticket, breaches once, roles of the time -----------------------------------


class RefusingRedmine(FakeRedmine):
    """Refuses updates of some issues, as Redmine answers 422 to a save it
    finds invalid (a field another plugin requires, say)."""

    refused: set[int] = set()

    def update_issue(self, issue_id, attributes):
        if issue_id in self.refused:
            from redminelib.exceptions import ValidationError

            raise ValidationError("Custom field cannot be blank")
        super().update_issue(issue_id, attributes)


def test_one_ticket_redmine_refuses_does_not_blind_the_reconciler(store):
    redmine = RefusingRedmine(CONFIG)
    clock = {"now": NOW}
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: clock["now"])
    ids = [bypass_to_shared_without_reasons(redmine)[0] for _ in range(50)]
    redmine.refused = {ids[10]}
    report = enforcer.reconciler.run()
    assert report.problems == [ids[10]]
    assert report.issues == 49 and report.new_breaches == 49
    assert len(store.breaches.open()) == 50  # the refused one's breach is recorded; only its note failed
    assert store.cursors.get(RECONCILER_CURSOR) is not None
    assert all(any("[infoshare:breach-" in n for n in redmine.notes_by_service(i)) for i in ids if i != ids[10])
    (problem,) = store.problems.list()
    assert (problem["source"], problem["issue_id"], problem["attempts"], problem["error"]) == ("reconcile", ids[10], 1, "ValidationError")
    # A later violation on another request is still found.
    later, _ = bypass_to_shared_without_reasons(redmine)
    assert enforcer.reconciler.run().new_breaches == 1
    # Once Redmine takes the update, the retry (after its pause) clears the problem.
    redmine.refused = set()
    clock["now"] = NOW + dt.timedelta(minutes=10)
    retried = enforcer.reconciler.run()
    assert retried.retried == 1 and retried.problems == []
    assert store.problems.list() == [] and any("[infoshare:breach-" in n for n in redmine.notes_by_service(ids[10]))


def test_a_timer_job_goes_on_past_a_ticket_it_cannot_handle(store):
    redmine = RefusingRedmine(CONFIG)
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    for _ in range(3):
        issue_id = redmine.create(dict(INTAKE))
        redmine.edit(issue_id, 10, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.DECISION_REASONS: "x",
                                           F.RETENTION_REVIEW_DATE: "2026-12-01"}, status=StatusKey.SHARED)
    first = min(redmine.issues)
    redmine.refused = {first}
    report = enforcer.retention.run(at_noon("2026-11-23"))
    assert report.problems == [first] and len(report.opened) == 2
    assert store.job_runs.list("retention")[-1]["summary"].count('"problems": 1') == 1


def test_a_breach_is_recorded_once_for_its_save_and_a_later_role_change_reopens_nothing(redmine, enforcer, store):
    # A breach (an administrator's bypass) and a valid approval by manager 12.
    bypassed, _ = bypass_to_shared_without_reasons(redmine)
    approved = redmine.create(dict(IN_DOUBT))
    redmine.edit(approved, 10, values=dict(DECISION), status=StatusKey.ASSESSING)
    enforcer.reconciler.run()
    redmine.edit(approved, 12, values={F.APPROVAL_DECISION: "Approved"})
    enforcer.reconciler.run()
    assert redmine.issues[approved]["status"]["name"] == "Approved"
    # Manager 12 leaves the managers; the reconciler looks again, three times, over everything.
    from plugin.policy.model import Principal

    redmine.members[12] = Principal(12, "Maya Manager", frozenset({"MASH practitioner"}))
    enforcer.judge._observed.clear()  # a new process: it notes the change
    since = NOW - dt.timedelta(days=30)
    for _ in range(3):
        enforcer.reconciler.run(since)
    assert [(b["issue_id"], b["rule"]) for b in store.breaches.all()] == [(bypassed, "R-DECISION")]
    assert sum("[infoshare:breach-" in n for n in redmine.notes_by_service(bypassed)) == 1
    assert redmine.issues[approved]["status"]["name"] == "Approved"  # the approval stood when it was given
    # Resolved, then looked at again: the same save's breach is not recorded again.
    redmine.edit(bypassed, 1, values={F.DECISION_REASONS: "recorded later"})
    enforcer.reconciler.run(since)
    assert store.breaches.open() == []
    enforcer.reconciler.run(since)
    assert len(store.breaches.all()) == 1


def test_a_window_asked_for_after_the_cursor_leaves_the_cursor_alone(redmine, enforcer, store):
    redmine.create(dict(INTAKE))
    enforcer.reconciler.run()
    cursor = store.cursors.get(RECONCILER_CURSOR)
    skipped = redmine.create(dict(INTAKE))  # a change after the cursor...
    redmine.create(dict(INTAKE))
    at = dt.datetime.fromisoformat(redmine.issues[skipped]["updated_on"].replace("Z", "+00:00"))
    report = enforcer.reconciler.run(since=at + dt.timedelta(seconds=30))  # ...that a later window does not cover
    assert report.issues == 1  # only the later one
    assert store.cursors.get(RECONCILER_CURSOR) == cursor
    later = enforcer.reconciler.run()  # the next run from the cursor covers both...
    assert later.issues + later.unchanged >= 2 and later.issues >= 1
    assert store.judged.last(skipped) is not None  # ...and judges the one skipped


# --- Redmine 7's webhooks: the saves since the last one judged (issue 16) -----------


def native_event(issue_id, journal_id=None, type=EventType.ISSUE_UPDATED):
    return Event(
        delivery_id=f"redmine7:{type.value}:{issue_id}:{journal_id}",
        source=EventSource.REDMINE_NATIVE,
        type=type,
        occurred_at=NOW,
        issue_id=issue_id,
        journal_id=journal_id,
        actor_id=None,
        actor_login=None,
    )


def test_an_update_that_names_no_journal_judges_the_save_not_the_creation_again(redmine, enforcer, store):
    issue_id = redmine.create(dict(INTAKE))
    assert enforcer.events.handle(native_event(issue_id, type=EventType.ISSUE_CREATED)) == "judged 1, actions applied 2"
    bypass = redmine.edit(issue_id, 1, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.DECISION_REASONS: ""},
                          status=StatusKey.SHARED)
    # Redmine 7 sends issue.updated without a journal when its owner may not see the journal.
    outcome = enforcer.events.handle(native_event(issue_id))
    assert outcome.startswith("judged 1, breaches 1")
    (breach,) = store.breaches.open(issue_id)
    assert breach["journal_id"] == bypass  # recorded against the save, not the creation
    assert store.judged.last(issue_id).journal_id == bypass  # judged as read; the service's own note comes after


def test_a_private_note_split_from_its_changes_still_gets_the_changes_judged(redmine, enforcer, store):
    """Redmine saves a private note made with field changes as two journals,
    the changes first; its webhook names only the notes-only one."""
    issue_id = redmine.create(dict(INTAKE))
    enforcer.events.handle(native_event(issue_id, type=EventType.ISSUE_CREATED))
    changes = redmine.edit(issue_id, 1, values={**DECISION, **SHARE_RECORD, F.SHARED_ON: "2026-11-21", F.DECISION_REASONS: ""},
                           status=StatusKey.SHARED)
    notes_only = redmine.edit(issue_id, 1, notes="A private note", private_notes=True)
    assert enforcer.events.handle(native_event(issue_id, notes_only)).startswith("judged 2, breaches 1")
    (breach,) = store.breaches.open(issue_id)
    assert breach["journal_id"] == changes


def test_a_save_already_judged_is_not_judged_again_whatever_the_event_names(redmine, enforcer, store):
    issue_id, journal = bypass_to_shared_without_reasons(redmine)
    enforcer.events.handle(native_event(issue_id, journal))
    for again in (native_event(issue_id), native_event(issue_id, journal), native_event(issue_id, type=EventType.ISSUE_CREATED)):
        assert enforcer.events.handle(again) in ("own change", "judged 0, actions applied 0")
    assert len(store.breaches.all()) == 1 and len(redmine.notes_by_service(issue_id)) == 1


def test_a_delivery_redmine_dropped_is_judged_by_a_periodic_pass_that_reads_only_what_changed(redmine, enforcer, store):
    judged = redmine.create(dict(INTAKE))
    enforcer.events.handle(native_event(judged, type=EventType.ISSUE_CREATED))
    enforcer.reconciler.run()
    dropped, journal = bypass_to_shared_without_reasons(redmine)  # its delivery never arrives
    before = redmine.requests_sent
    report = enforcer.reconciler.run()
    assert report.issues == 1 and report.new_breaches == 1
    (breach,) = store.breaches.open(dropped)
    assert breach["journal_id"] == journal and breach["detected_by"] == "reconciler"
    assert redmine.requests_sent - before >= 2
    # The service's own note moved updated_on: read once more, then left alone.
    assert enforcer.reconciler.run().new_breaches == 0
    # With nothing new, a pass reads the list only.
    idle_before = redmine.requests_sent
    idle = enforcer.reconciler.run()
    assert idle.issues == 0 and idle.unchanged >= 1
    assert redmine.requests_sent - idle_before == 1
    # A window asked for judges what is in it again.
    assert enforcer.reconciler.run(since=NOW - dt.timedelta(days=30)).issues >= 2


def test_each_batch_with_a_redmine7_delivery_prompts_one_reconciler_pass(redmine, store):
    from plugin.service.wiring import PromptedReconcile

    services = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    worker = services.inbox_worker()
    clock = {"t": 100.0}
    worker.after_native = prompt = PromptedReconcile(services.reconciler, monotonic=lambda: clock["t"])
    shim_made = redmine.create(dict(INTAKE))
    store.inbox.accept(event_for(redmine, shim_made, type=EventType.ISSUE_CREATED))
    worker.drain()
    assert store.job_runs.list("reconcile") == []  # the shim's events prompt nothing
    first = redmine.create(dict(INTAKE))
    dropped, journal = bypass_to_shared_without_reasons(redmine)  # its delivery never comes
    store.inbox.accept(native_event(first, type=EventType.ISSUE_CREATED))
    assert worker.drain().native == 1
    assert len(store.job_runs.list("reconcile")) == 1
    (breach,) = store.breaches.open(dropped)
    assert breach["journal_id"] == journal and breach["detected_by"] == "reconciler"
    # Within the gap a burst prompts no second pass; after it, the next does.
    store.inbox.accept(native_event(first, redmine.edit(first, 10, notes="again")))
    worker.drain()
    assert len(store.job_runs.list("reconcile")) == 1
    clock["t"] += prompt.GAP_SECONDS
    store.inbox.accept(native_event(first, redmine.edit(first, 10, notes="and again")))
    worker.drain()
    assert len(store.job_runs.list("reconcile")) == 2


def test_a_prompted_pass_in_the_background_never_holds_up_the_deliveries(redmine, store):
    """However long the prompted pass reads, the deliveries that come meanwhile
    are judged; a prompt during the pass is served once, after the gap."""
    import threading

    from plugin.service.wiring import PromptedReconcile

    services = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    worker = services.inbox_worker()
    assert worker.after_native.in_background and not services.inbox_worker(prompts_in_background=False).after_native.in_background
    clock = {"t": 100.0}
    release, passes = threading.Event(), []

    class SlowReconciler:
        def run(self):
            passes.append(clock["t"])
            assert release.wait(10)

    def sleep(seconds: float) -> None:
        clock["t"] += seconds

    worker.after_native = prompt = PromptedReconcile(SlowReconciler(), monotonic=lambda: clock["t"], in_background=True, sleep=sleep)
    first = redmine.create(dict(INTAKE))
    store.inbox.accept(native_event(first, type=EventType.ISSUE_CREATED))
    assert worker.drain().native == 1
    second = redmine.create(dict(INTAKE))
    store.inbox.accept(native_event(second, type=EventType.ISSUE_CREATED))
    assert worker.drain().processed == 1  # while the first pass still reads
    assert store.judged.last(second) is not None
    assert not prompt.wait_idle(0.05)
    release.set()
    assert prompt.wait_idle(5)
    assert len(passes) == 2 and passes[1] - passes[0] >= prompt.GAP_SECONDS

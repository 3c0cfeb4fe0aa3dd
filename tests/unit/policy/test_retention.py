"""R-RETENTION: review dates, reviews and reminders, outcomes."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.policy import retention as ret
from plugin.policy.model import (
    Actor, Anonymise, AssignTo, Context, CreateLinkedIssue, DeleteIssue, Milestone, OnIssue, Once, Principal, RecordDisposal, SetFields, Step,
)
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IssueState
from tests.unit.conftest import make_config
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE

F = FieldKey
S = StatusKey
REQUEST_ID, REVIEW_ID, GOVERNANCE = 100, 300, 20
D = dt.date


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def request(status=S.NOT_SHARED, *, closed="2026-11-21", category="No further action", review_date=None, hold=False, related=(), **values):
    fields = {**INTAKE, **DECISION, F.RETENTION_CATEGORY: category, F.LEGAL_HOLD: "1" if hold else "0",
              F.RETENTION_REVIEW_DATE: review_date, F.REQUESTER_EMAIL: "gp@nhs.net", **{F(k): v for k, v in values.items()}}
    return IssueState(REQUEST_ID, TrackerKey.INFORMATION_REQUEST, status, fields, project_id=1, author_id=10,
                      closed_on=at(closed) if closed and status in (S.SHARED, S.NOT_SHARED, S.WITHDRAWN) else None, related_ids=frozenset(related))


def review(status=S.REVIEW_DUE, *, outcome=None, justification="Still needed", next_review=None, due="2032-11-21", closed_on=None, related=(REQUEST_ID,)):
    fields = {F.REVIEW_OUTCOME: outcome, F.REVIEW_JUSTIFICATION: justification, F.NEXT_REVIEW_DATE: next_review}
    return IssueState(REVIEW_ID, TrackerKey.RETENTION_REVIEW, status, fields, project_id=1, due_date=D.fromisoformat(due) if due else None,
                      closed_on=closed_on, related_ids=frozenset(related))


def ctx(current, *, history=None, related=(), now=at("2026-11-23"), config=CONFIG):
    steps, before = [], None
    for i, (user, state, when) in enumerate(history or ((10, current, at("2026-11-21")),)):
        steps.append(Step("created" if i == 0 else str(700 + i), user, {GOVERNANCE: "Grace Governance"}.get(user, ""), before, state, when))
        before = state
    return Context(steps[-1].before, current, Actor(None, None), config, now, tuple(steps),
                   {GOVERNANCE: Principal(GOVERNANCE, "Grace Governance")}, tuple(related), 9)


def codes(context):
    return {(v.field.value, v.code) for v in ret.check(context)}


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "category, expected",
    [("No further action", D(2032, 11, 21)), ("Early help", D(2032, 11, 21)), ("Child in need", D(2032, 11, 21)),
     ("Child protection", D(2061, 11, 21)), ("Allegation against staff", D(2036, 11, 21))],
)
def test_review_dates_per_category(category, expected):
    assert ret.review_date_for(request(category=category), ctx(request())) == expected


def test_leap_days():
    assert ret.add_years(D(2024, 2, 29), 6) == D(2030, 2, 28)
    assert ret.add_years(D(2024, 2, 29), 4) == D(2028, 2, 29)
    assert ret.add_years(D(2023, 3, 1), 1) == D(2024, 3, 1)


def test_the_closing_date_is_local():
    late = request(closed=None)
    late = IssueState(**{**late.__dict__, "closed_on": at("2026-06-30", 23)})  # 1 July in London
    assert ret.review_date_for(late, ctx(late)) == D(2032, 7, 1)


def test_no_review_date_for_an_open_request_or_an_unknown_category():
    assert ret.review_date_for(request(S.ASSESSING), ctx(request())) is None
    assert ret.review_date_for(request(category="Retired category"), ctx(request())) is None


# --- violations ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.SHARED, S.NOT_SHARED, S.WITHDRAWN])
def test_closing_needs_a_retention_category(status):
    assert codes(ctx(request(status, category=None))) == {("retention_category", "missing")}
    v = ret.check(ctx(request(status, category="")))[0]
    assert v.message.startswith("Retention category: record the retention category before closing the request") and v.bypassable


def test_open_requests_need_no_category():
    assert ret.check(ctx(request(S.ASSESSING, category=None))) == []


def test_completing_a_review_needs_an_outcome_and_a_justification():
    assert codes(ctx(review(S.REVIEW_COMPLETED, justification=""))) == {("review_outcome", "missing"), ("review_justification", "missing")}
    assert ret.check(ctx(review())) == []
    assert ret.check(ctx(review(S.REVIEW_COMPLETED, outcome="Destroy"))) == []


@pytest.mark.parametrize(
    "next_review, code",
    [(None, "missing"), ("2026-11-23", "not_future"), ("2036-11-24", "too_far"), ("2036-11-23", None), ("2027-01-01", None)],
)
def test_retain_needs_a_next_review_within_the_maximum(next_review, code):
    found = codes(ctx(review(S.REVIEW_COMPLETED, outcome="Retain", next_review=next_review)))
    assert found == ({("next_review_date", code)} if code else set())


def test_the_maximum_is_configurable():
    config = make_config(retention={"max_retain_years": 2})
    assert codes(ctx(review(S.REVIEW_COMPLETED, outcome="Retain", next_review="2029-01-01"), config=config)) == {("next_review_date", "too_far")}


# --- the request's review date -------------------------------------------------------------------


def test_closing_sets_the_review_date_once():
    closed = request()
    history = ((10, request(S.ASSESSING, closed=None), at("2026-11-20")), (10, closed, at("2026-11-21")))
    (once,) = ret.derive(ctx(closed, history=history))
    assert once.key == "retention-date-701"
    assert once.actions == (SetFields(((F.RETENTION_REVIEW_DATE, "2032-11-21"),)),)
    assert "No further action, 6 years from closing" in once.note
    # A later save while closed (a note) does not move the date's save.
    (later,) = ret.derive(ctx(closed, history=history + ((12, closed, at("2026-11-22")),)))
    assert later.key == "retention-date-701"


def test_a_review_date_already_right_needs_nothing():
    assert ret.derive(ctx(request(review_date="2032-11-21"))) == []


def test_a_category_change_recomputes():
    before = request(review_date="2032-11-21")
    after = request(category="Child protection", review_date="2032-11-21")
    (once,) = ret.derive(ctx(after, history=((10, before, at("2026-11-21")), (12, after, at("2026-11-22")))))
    assert once.key == "retention-date-701" and once.actions[0].values == ((F.RETENTION_REVIEW_DATE, "2061-11-21"),)


def test_a_later_review_stands_over_the_schedule():
    retained = review(S.REVIEW_COMPLETED, outcome="Retain", next_review="2030-01-01", closed_on=at("2026-11-22"))
    state = request(review_date="2030-01-01", related=[REVIEW_ID])
    assert ret.derive(ctx(state, related=[retained])) == []


def test_an_unknown_dating_save_still_dates():
    state = request()
    no_steps = Context(None, state, Actor(None, None), CONFIG, at("2026-11-23"), (), {}, (), 9)
    (once,) = ret.derive(no_steps)
    assert once.key == "retention-date-unknown"
    assert ret._dating_step(ctx(request(S.ASSESSING, closed=None))) is None


# --- reviews and reminders -------------------------------------------------------------------------


def due_request(**kw):
    return request(review_date="2032-11-21", **kw)


def at_day(day):
    return at(day)


def test_a_review_opens_the_lead_time_ahead_exactly_once():
    assert ret.review_actions(ctx(due_request(), now=at("2032-10-21"))) == []  # 31 days ahead
    (once,) = ret.review_actions(ctx(due_request(), now=at("2032-10-22")))  # 30 days ahead
    assert once.key == "retention-review-for-100-2032-11-21"
    (create,) = once.actions
    assert isinstance(create, CreateLinkedIssue) and create.tracker is TrackerKey.RETENTION_REVIEW
    assert create.key == once.key
    assert create.subject == "Retention review of request #100"
    assert create.assign.group is GroupKey.INFORMATION_GOVERNANCE
    assert (create.start_date, create.due_date) == (D(2032, 10, 22), D(2032, 11, 21))


def test_a_review_opened_late_starts_on_its_due_date():
    (once,) = ret.review_actions(ctx(due_request(), now=at("2033-01-10")))
    assert (once.actions[0].start_date, once.actions[0].due_date) == (D(2032, 11, 21), D(2032, 11, 21))


def test_requests_under_legal_hold_are_never_reviewed():
    assert ret.review_actions(ctx(due_request(hold=True), now=at("2032-11-21"))) == []


def test_no_review_without_a_date_or_while_open():
    assert ret.review_actions(ctx(request(), now=at("2032-11-21"))) == []
    assert ret.review_actions(ctx(request(S.ASSESSING, review_date="2032-11-21"), now=at("2032-11-21"))) == []


@pytest.mark.parametrize(
    "today, key",
    [
        ("2032-10-21", None),
        ("2032-10-22", "30-days-before"),
        ("2032-11-13", "30-days-before"),
        ("2032-11-14", "7-days-before"),
        ("2032-11-21", "0-days-before"),
        ("2032-11-27", None),
        ("2032-11-28", "overdue-1"),
        ("2032-12-05", "overdue-2"),
    ],
)
def test_the_reminder_schedule(today, key):
    assert ret.reminder_due(D(2032, 11, 21), D.fromisoformat(today), CONFIG) == key


def test_reminders_go_on_the_open_review():
    state = due_request(related=[REVIEW_ID])
    (on,) = ret.review_actions(ctx(state, related=[review()], now=at("2032-11-14")))
    assert isinstance(on, OnIssue) and on.issue_id == REVIEW_ID
    (note,) = on.actions
    assert note.key == "reminder-2032-11-21-7-days-before"
    assert note.note.startswith("Reminder: this retention review is due on 2032-11-21, in 7 days.")
    (on,) = ret.review_actions(ctx(state, related=[review()], now=at("2032-11-20")))
    assert "in 1 day." in on.actions[0].note
    (on,) = ret.review_actions(ctx(state, related=[review()], now=at("2032-11-21")))
    assert "is due today" in on.actions[0].note
    (on,) = ret.review_actions(ctx(state, related=[review()], now=at("2032-12-01")))
    assert on.actions[0].key == "reminder-2032-11-21-overdue-1" and "is overdue" in on.actions[0].note
    assert ret.review_actions(ctx(state, related=[review()], now=at("2032-10-21"))) == []
    assert ret.review_actions(ctx(state, related=[review(due=None)], now=at("2032-11-23"))) == []  # no reminder due 2 days after


def test_a_completed_review_for_the_same_date_is_not_reopened():
    state = due_request(related=[REVIEW_ID])
    (once,) = ret.review_actions(ctx(state, related=[review(S.REVIEW_COMPLETED, outcome="Anonymise")], now=at("2032-11-21")))
    # The executor finds the review carrying this marker and creates nothing.
    assert once.key == "retention-review-for-100-2032-11-21"


# --- outcomes ---------------------------------------------------------------------------------------------


def completed(outcome, **kw):
    rev = review(S.REVIEW_COMPLETED, outcome=outcome, **kw)
    history = ((9, review(), at("2032-10-22")), (GOVERNANCE, rev, at("2032-11-20")))
    return rev, history


def test_retain_moves_the_requests_review_date():
    rev, history = completed("Retain", next_review="2035-06-30")
    (on,) = ret.derive(ctx(rev, history=history, related=[due_request(related=[REVIEW_ID])], now=at("2032-11-20")))
    assert on.issue_id == REQUEST_ID
    (once,) = on.actions
    assert once.actions == (SetFields(((F.RETENTION_REVIEW_DATE, "2035-06-30"),)),)
    assert "retained by Grace Governance; next review on 2035-06-30" in once.note


ESCALATION_ID = 400


def escalation(related=(REQUEST_ID,)):
    fields = {F.POINTS_OF_DISAGREEMENT: "copied details", F.ESCALATION_STAGE: "Stage 1"}
    return IssueState(ESCALATION_ID, TrackerKey.ESCALATION, S.IN_ESCALATION, fields, project_id=1, related_ids=frozenset(related))


def test_anonymise_removes_every_text_field_and_keeps_the_choices():
    rev, history = completed("Anonymise")
    (on,) = ret.derive(ctx(rev, history=history, related=[due_request(related=[REVIEW_ID])]))
    assert on.issue_id == REQUEST_ID
    clear, anonymise = on.actions
    assert clear == SetFields(((F.RETENTION_REVIEW_DATE, None),))  # nothing personal left to review
    assert isinstance(anonymise, Anonymise) and anonymise.marker == CONFIG.retention.redaction_marker
    removed = set(anonymise.fields)
    # Every text field, the decision's reasons and justifications included ...
    for key in (F.REQUESTER_NAME, F.REQUESTER_EMAIL, F.INFORMATION_REQUESTED, F.DECISION_REASONS, F.PUBLIC_INTEREST_JUSTIFICATION,
                F.APPROVAL_NOTES, F.EMERGENCY_OVERRIDE_REASON, F.DISAGREEMENT_DETAILS, F.LEGAL_HOLD_REASON, F.SHARED_WITH):
        assert key in removed
    # ... but not the list choices, dates and flags the report counts, nor what the site keeps.
    for key in (F.DECISION, F.LAWFUL_BASIS, F.RETENTION_CATEGORY, F.SHARED_ON, F.LEGAL_HOLD, F.APPROVAL_REASON):
        assert key not in removed
    assert anonymise.note_key == f"review-{REVIEW_ID}-anonymised"
    assert "{fields} text field(s), {notes} note(s) and {attachments} attachment(s)" in anonymise.note
    assert "anonymised on the decision of Grace Governance" in anonymise.note and "no linked escalation" in anonymise.note


def test_a_text_field_added_later_is_removed_unless_kept():
    assert F.REQUESTER_PHONE in ret.personal_fields(TrackerKey.INFORMATION_REQUEST, keep=())
    assert F.REQUESTER_PHONE not in ret.personal_fields(TrackerKey.INFORMATION_REQUEST, keep=(F.REQUESTER_PHONE,))
    config = make_config(retention={"keep_fields": ["requester_phone"]})
    rev, history = completed("Anonymise")
    (on,) = ret.derive(ctx(rev, history=history, related=[due_request(related=[REVIEW_ID])], config=config))
    assert F.REQUESTER_PHONE not in on.actions[1].fields and F.APPROVAL_REASON in on.actions[1].fields


def test_anonymise_reaches_each_linked_escalation():
    rev, history = completed("Anonymise")
    related = [due_request(related=[REVIEW_ID, ESCALATION_ID]), escalation()]
    on_request, on_escalation = ret.derive(ctx(rev, history=history, related=related))
    assert "1 linked escalation (#400) the same way" in on_request.actions[1].note
    assert on_escalation.issue_id == ESCALATION_ID
    (anonymise,) = on_escalation.actions
    assert F.POINTS_OF_DISAGREEMENT in anonymise.fields and F.ESCALATION_STAGE not in anonymise.fields
    assert anonymise.note_key == f"review-{REVIEW_ID}-anonymised-escalation"


def test_destroy_writes_one_disposal_record_then_deletes_the_escalations_and_the_request():
    rev, history = completed("Destroy")
    related = [due_request(related=[REVIEW_ID, ESCALATION_ID]), escalation()]
    note, on_escalation, on_request = ret.derive(ctx(rev, history=history, related=related, now=at("2032-11-20")))
    assert isinstance(note, Once) and note.key == f"review-{REVIEW_ID}-disposal"
    (disposal,) = note.actions
    assert isinstance(disposal, RecordDisposal)
    assert dict(disposal.record) == {
        "request_id": REQUEST_ID,
        "escalation_ids": (ESCALATION_ID,),
        "review_id": REVIEW_ID,
        "category": "No further action",
        "closed_on": "2026-11-21",
        "review_date": "2032-11-21",
        "disposed_on": "2032-11-20",
        "authorised_by_user_id": GOVERNANCE,
        "authorised_by": "Grace Governance",
        "method": "delete",
    }
    # Escalations first: a run cut short still finds them through the request.
    assert (on_escalation.issue_id, on_escalation.actions) == (ESCALATION_ID, (DeleteIssue(),))
    assert (on_request.issue_id, on_request.actions) == (REQUEST_ID, (DeleteIssue(),))
    assert "request_id: 100" in note.note and "escalation_ids: #400" in note.note
    assert "Dr A" not in note.note and "Surgery" not in note.note


def test_a_disposal_without_escalations_says_none():
    rev, history = completed("Destroy")
    note, on = ret.derive(ctx(rev, history=history, related=[due_request(related=[REVIEW_ID])], now=at("2032-11-20")))
    assert "escalation_ids: none" in note.note and on.actions == (DeleteIssue(),)


def test_destroy_may_be_configured_to_anonymise_fully():
    config = make_config(retention={"destroy": "anonymise", "keep_fields": ["approval_reason"]})
    rev, history = completed("Destroy")
    note, on = ret.derive(ctx(rev, history=history, related=[due_request(related=[REVIEW_ID])], config=config))
    anonymise = on.actions[1]
    assert F.DECISION_REASONS in anonymise.fields and F.APPROVAL_REASON in anonymise.fields  # keeps nothing
    assert "method: anonymise" in note.note


# --- legal holds ------------------------------------------------------------------------------------


def held(reason="Litigation hold: Smith v Council", **kw):
    return request(legal_hold="1", legal_hold_reason=reason, **kw)


def hold_ctx(before, after, user, *, roles=("Information governance lead",), admin=False):
    principals = {user: Principal(user, "Someone", frozenset(roles))}
    steps = (Step("created", 10, "", None, before, at("2026-11-21")), Step("pending", user, "", before, after, at("2026-11-22")))
    return Context(before, after, Actor(user, "someone", admin=admin), CONFIG, at("2026-11-22"), steps, principals, (), 9)


def test_only_governance_sets_changes_or_clears_a_hold():
    assert codes(hold_ctx(request(), held(), GOVERNANCE)) == set()
    assert ("legal_hold", "not_governance") in codes(hold_ctx(request(), held(), 10, roles=("MASH practitioner",)))
    assert ("legal_hold", "not_governance") in codes(hold_ctx(held(), request(), 12, roles=("MASH manager",)))  # clearing
    assert ("legal_hold", "not_governance") in codes(hold_ctx(held(), held(reason="other"), 12, roles=("MASH manager",), admin=True))
    assert codes(hold_ctx(request(), held(), 9)) == set()  # the service itself
    untouched = request(information_requested="more")
    assert codes(hold_ctx(held(), held(information_requested="more"), 10, roles=("MASH practitioner",))) == set()
    assert codes(hold_ctx(request(), untouched, 10, roles=("MASH practitioner",))) == set()


def test_an_administrator_cannot_bypass_who_holds_a_record():
    (who,) = [v for v in ret.check(hold_ctx(request(), held(), 1, roles=(), admin=True)) if v.code == "not_governance"]
    assert not who.bypassable
    (reason,) = [v for v in ret.check(hold_ctx(request(), held(reason=""), GOVERNANCE)) if v.code == "missing"]
    assert reason.bypassable  # repairing a record's missing reason is an administrator's to do


def test_a_hold_needs_its_reason():
    assert codes(hold_ctx(request(), held(reason=""), GOVERNANCE)) == {("legal_hold_reason", "missing")}


def test_a_hold_set_on_a_new_request_is_judged_too():
    context = hold_ctx(request(), held(), 10, roles=("MASH practitioner",))
    new = Context(None, held(), context.actor, CONFIG, context.now, (Step("pending", 10, "", None, held(), context.now),), context.principals, (), 9)
    assert ("legal_hold", "not_governance") in codes(new)
    assert codes(Context(None, request(), context.actor, CONFIG, context.now, (Step("pending", 10, "", None, request(), context.now),), context.principals, (), 9)) == set()


def test_a_hold_at_rest_is_not_judged_again():
    context = hold_ctx(request(), held(reason=""), 10, roles=("MASH practitioner",))
    assert ret.hold_checks(context.for_previous()) == []
    assert ret.hold_checks(dataclass_replace(context, at_rest=True)) == []


def dataclass_replace(context, **kw):
    import dataclasses

    return dataclasses.replace(context, **kw)


def hold_history(set_on="2026-11-21", now="2027-11-21"):
    plain, holding = request(), held()
    steps = (Step("created", 10, "", None, plain, at("2026-01-05")), Step("7001", GOVERNANCE, "", plain, holding, at(set_on)))
    return Context(plain, holding, Actor(None, None), CONFIG, at(now), steps, {}, (), 9, at_rest=True)


def test_each_hold_is_put_to_governance_once_a_year_from_the_day_it_was_set():
    assert ret.hold_review_actions(hold_history(now="2027-11-20")) == []
    (once,) = ret.hold_review_actions(hold_history(now="2027-11-21"))
    assert once.key == "legal-hold-review-7001-1" and once.milestone is Milestone.LEGAL_HOLD_REVIEW
    assert once.actions == (AssignTo(group=GroupKey.INFORMATION_GOVERNANCE),)
    assert "under legal hold since 2026-11-21 (1 year)" in once.note
    (later,) = ret.hold_review_actions(hold_history(now="2029-03-01"))  # a missed year is put once, today
    assert later.key == "legal-hold-review-7001-2" and "(2 years)" in later.note


def test_no_hold_review_without_a_hold_or_its_save():
    assert ret.hold_review_actions(ctx(request(), now=at("2030-01-01"))) == []
    no_turning_on = Context(None, held(), Actor(None, None), CONFIG, at("2030-01-01"), (), {}, (), 9)
    assert ret.hold_review_actions(no_turning_on) == []


def test_full_years_keep_29_february_on_28_february():
    assert ret.full_years(D(2028, 2, 29), D(2029, 2, 27)) == 0
    assert ret.full_years(D(2028, 2, 29), D(2029, 2, 28)) == 1
    assert ret.full_years(D(2026, 11, 21), D(2026, 11, 21)) == 0


def test_a_held_request_with_a_due_date_is_put_for_hold_review_not_retention_review():
    context = dataclass_replace(hold_history(now="2032-11-21"), proposed=held(review_date="2032-11-21", closed="2026-11-21"))
    keys = [a.key for a in ret.derive(context)]
    assert not any(k.startswith("retention-review-for") for k in keys) and any(k.startswith("legal-hold-review-") for k in keys)


# --- reminders never repeat a day -----------------------------------------------------------------


def test_opening_a_review_counts_as_that_days_reminder():
    due = D(2032, 11, 21)
    assert ret.reminder_due(due, D(2032, 10, 22), CONFIG, opened_on=D(2032, 10, 22)) is None
    assert ret.reminder_due(due, D(2032, 11, 14), CONFIG, opened_on=D(2032, 10, 22)) == "7-days-before"
    assert ret.reminder_due(due, D(2032, 11, 14), CONFIG, opened_on=D(2032, 11, 16)) is None  # opened late: covered
    assert ret.reminder_due(due, D(2032, 11, 28), CONFIG, opened_on=D(2032, 11, 28)) is None  # opened overdue
    assert ret.reminder_due(due, D(2032, 12, 5), CONFIG, opened_on=D(2032, 11, 28)) == "overdue-2"


def test_a_second_run_on_the_opening_day_posts_nothing():
    state = due_request(related=[REVIEW_ID])
    opened = dataclass_replace(review(), created_on=at("2032-10-22", 9))
    assert ret.review_actions(ctx(state, related=[opened], now=at("2032-10-22", 15))) == []
    (on,) = ret.review_actions(ctx(state, related=[opened], now=at("2032-11-14")))
    assert on.actions[0].key == "reminder-2032-11-21-7-days-before"
    # Under a controlled clock Redmine's creation time is the real one: the start date says the day.
    started = dataclass_replace(review(), created_on=at("2026-12-01"), start_date=D(2032, 10, 22))
    assert ret.review_actions(ctx(state, related=[started], now=at("2032-10-22", 15))) == []


def test_outcomes_need_a_completed_review_and_a_request():
    assert ret.derive(ctx(review())) == []
    rev, history = completed("Destroy")
    assert ret.derive(ctx(rev, history=history, related=[])) == []
    odd = review(S.REVIEW_COMPLETED, outcome=None)
    assert ret.derive(ctx(odd, related=[due_request()])) == []


def test_who_completed_it_may_be_unknown():
    rev = review(S.REVIEW_COMPLETED, outcome="Retain", next_review="2035-01-01")
    no_steps = Context(None, rev, Actor(None, None), CONFIG, at("2032-11-20"), (), {}, (due_request(),), 9)
    (on,) = ret.derive(no_steps)
    assert "retained by unknown" in on.actions[0].note


def test_the_completing_save_is_found_behind_later_saves():
    rev, history = completed("Retain", next_review="2035-06-30")
    later = history + ((12, rev, at("2032-11-22")),)
    assert ret._completed_by(ctx(rev, history=later)).user_id == GOVERNANCE

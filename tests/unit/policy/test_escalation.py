"""R-ESCALATION: starting, timers, stage progression, resolution."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.policy import escalation as esc
from plugin.policy.model import (
    Actor,
    AddWatcher,
    AssignTo,
    ChangeStatus,
    Context,
    CreateLinkedIssue,
    OnIssue,
    Once,
    Principal,
    SetDates,
    SetFields,
    Step,
)
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IssueState
from tests.unit.conftest import make_config
from tests.unit.policy.helpers import CONFIG, INTAKE

F = FieldKey
S = StatusKey
BOT, PRACTITIONER, MANAGER = 9, 10, 12
PRINCIPALS = {PRACTITIONER: Principal(PRACTITIONER, "Priya"), MANAGER: Principal(MANAGER, "Maya")}
REQUEST_ID, ESC_ID = 100, 200
STAGE = {n: s.label for n, s in enumerate(CONFIG.escalation.stages, 1)}


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def request(*, raised=False, related=(), assigned=PRACTITIONER, author=PRACTITIONER, details="They want the full file", **values) -> IssueState:
    fields = {**INTAKE, F.DISAGREEMENT_RAISED: "1" if raised else "0", F.DISAGREEMENT_DETAILS: details, **{F(k): v for k, v in values.items()}}
    return IssueState(REQUEST_ID, TrackerKey.INFORMATION_REQUEST, S.ASSESSING, fields, project_id=1, author_id=author,
                      assigned_to_id=assigned, related_ids=frozenset(related))


def escalation(issue_id=ESC_ID, *, stage=None, status=S.IN_ESCALATION, start=None, due=None, urgent=False, related=(REQUEST_ID,),
               closed_on=None, **values) -> IssueState:
    fields = {F.ESCALATION_STAGE: STAGE[stage] if stage else None, F.URGENT_ESCALATION: "1" if urgent else "0", **{F(k): v for k, v in values.items()}}
    return IssueState(issue_id, TrackerKey.ESCALATION, status, fields, project_id=1, author_id=PRACTITIONER,
                      start_date=dt.date.fromisoformat(start) if start else None, due_date=dt.date.fromisoformat(due) if due else None,
                      related_ids=frozenset(related), closed_on=closed_on)


def ctx(current: IssueState, *, history=(), related=(), now=at("2026-11-23"), config=CONFIG) -> Context:
    """history: (user_id, state, at) oldest first; the current state is the last."""
    steps, before = [], None
    for i, (user, state, when) in enumerate(history or ((PRACTITIONER, current, now - dt.timedelta(hours=1)),)):
        steps.append(Step("created" if i == 0 else str(500 + i), user, "", before, state, when))
        before = state
    return Context(steps[-1].before, current, Actor(None, None), config, now, tuple(steps), PRINCIPALS, tuple(related), BOT)


def only(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


# --- stages and dates ------------------------------------------------------------------------


def test_stage_lookup_and_progression():
    assert esc.stage_of(escalation(stage=2), CONFIG).number == 2
    assert esc.stage_of(escalation(), CONFIG) is None
    assert esc.first_stage(CONFIG, urgent=False).number == 1
    assert esc.first_stage(CONFIG, urgent=True).number == 2
    assert esc.next_stage(CONFIG.escalation.stages[0], CONFIG).number == 2
    assert esc.next_stage(CONFIG.escalation.stages[3], CONFIG) is None
    assert esc.timescale(CONFIG.escalation.stages[3], urgent=False) == 14
    assert esc.timescale(CONFIG.escalation.stages[3], urgent=True) == 1


def test_due_dates_count_working_days():
    c = ctx(escalation())
    stage1, stage4 = CONFIG.escalation.stages[0], CONFIG.escalation.stages[3]
    assert esc.due_date(dt.date(2026, 11, 20), stage1, False, c) == dt.date(2026, 11, 24)  # Fri + 2 = Tue
    # 21-24 Dec, 29-31 Dec, 4-8 Jan and 11-12 Jan: 14 working days around Christmas, Boxing Day (28th) and New Year.
    assert esc.due_date(dt.date(2026, 12, 18), stage4, False, c) == dt.date(2027, 1, 12)


# --- resolution ---------------------------------------------------------------------------------


def test_resolving_needs_an_outcome_and_agreed_actions():
    resolved = escalation(stage=2, status=S.ESCALATION_RESOLVED)
    assert {(v.field.value, v.code) for v in esc.check(ctx(resolved))} == {("escalation_outcome", "missing"), ("agreed_actions", "missing")}
    v = esc.check(ctx(escalation(stage=2, status=S.ESCALATION_RESOLVED, escalation_outcome="Resolved")))[0]
    assert v.message == "Agreed actions: record the actions agreed before resolving the escalation (R-ESCALATION)."
    assert esc.check(ctx(escalation(stage=2, status=S.ESCALATION_RESOLVED, escalation_outcome="Resolved", agreed_actions="Share in part"))) == []
    assert esc.check(ctx(escalation(stage=2))) == []


def test_a_resolution_is_noted_on_the_request_and_clears_the_flag():
    resolved = escalation(stage=2, status=S.ESCALATION_RESOLVED, escalation_outcome="Resolved", agreed_actions="x")
    (on,) = esc.derive(ctx(resolved, related=[request(raised=True, related=[ESC_ID])]))
    assert isinstance(on, OnIssue) and on.issue_id == REQUEST_ID
    (once,) = on.actions
    assert once.key == f"escalation-{ESC_ID}-resolved" and "Outcome: Resolved" in once.note
    assert once.actions == (SetFields(((F.DISAGREEMENT_RAISED, "0"),)),)


def test_the_flag_stays_while_another_escalation_is_open():
    resolved = escalation(stage=2, status=S.ESCALATION_RESOLVED, escalation_outcome="Resolved", agreed_actions="x")
    other = escalation(201, stage=1, start="2026-11-20")
    (on,) = esc.derive(ctx(resolved, related=[request(raised=True, related=[ESC_ID, 201]), other]))
    assert on.actions[0].actions == ()


# --- starting from a request --------------------------------------------------------------------


def test_raising_a_disagreement_opens_one_escalation():
    raised = request(raised=True)
    c = ctx(raised, history=((PRACTITIONER, request(), at("2026-11-20")), (PRACTITIONER, raised, at("2026-11-23", 10))))
    (once,) = esc.derive(c)
    assert once.key == "escalation-for-100-501"
    (create,) = once.actions
    assert isinstance(create, CreateLinkedIssue) and create.tracker is TrackerKey.ESCALATION
    assert create.subject == "Escalation: disagreement about request #100"  # no case details in the subject
    assert dict(create.fields)[F.ESCALATION_STAGE] == STAGE[1]
    assert dict(create.fields)[F.POINTS_OF_DISAGREEMENT] == "They want the full file"
    assert create.assign == AssignTo(user_id=PRACTITIONER)
    assert (create.start_date, create.due_date) == (dt.date(2026, 11, 23), dt.date(2026, 11, 25))


def test_no_second_escalation_while_one_is_open():
    open_one = escalation(stage=1, start="2026-11-20")
    assert esc.derive(ctx(request(raised=True, related=[ESC_ID]), related=[open_one])) == []
    assert esc.derive(ctx(request(raised=False))) == []


def test_stage_one_goes_to_the_requests_assignee_or_author():
    to_group = request(raised=True, assigned=50, author=MANAGER)
    (once,) = esc.derive(ctx(to_group))
    assert once.actions[0].assign == AssignTo(user_id=MANAGER)


def test_a_resolution_the_request_missed_is_caught_up():
    resolved = escalation(stage=2, status=S.ESCALATION_RESOLVED, escalation_outcome="Resolved", agreed_actions="x", closed_on=at("2026-11-23", 11))
    raised = request(raised=True, related=[ESC_ID])
    c = ctx(raised, history=((PRACTITIONER, request(), at("2026-11-20")), (PRACTITIONER, raised, at("2026-11-21"))), related=[resolved])
    (once,) = esc.derive(c)
    assert once.key == f"escalation-{ESC_ID}-resolved" and once.actions == (SetFields(((F.DISAGREEMENT_RAISED, "0"),)),)


def test_an_old_resolution_does_not_stop_a_new_disagreement():
    old = escalation(stage=2, status=S.ESCALATION_RESOLVED, closed_on=at("2026-11-01"))
    raised = request(raised=True, related=[ESC_ID])
    c = ctx(raised, history=((PRACTITIONER, request(), at("2026-11-20")), (PRACTITIONER, raised, at("2026-11-23", 10))), related=[old])
    (once,) = esc.derive(c)
    assert once.key == "escalation-for-100-501"


def test_without_a_known_raising_step_any_resolution_counts():
    resolved = escalation(stage=2, status=S.ESCALATION_RESOLVED)
    raised = request(raised=True, related=[ESC_ID])
    c = ctx(raised, history=((PRACTITIONER, raised, None),), related=[resolved])
    assert esc._raised_step(c).key == "created"
    no_steps = Context(None, raised, Actor(None, None), CONFIG, at("2026-11-23"), (), PRINCIPALS, (resolved,), BOT)
    (once,) = esc.derive(no_steps)
    assert once.key == f"escalation-{ESC_ID}-resolved"
    fresh = Context(None, request(raised=True), Actor(None, None), CONFIG, at("2026-11-23"), (), PRINCIPALS, (), BOT)
    assert esc.derive(fresh)[0].key == "escalation-for-100-unknown"


# --- an escalation opened by a person ----------------------------------------------------------------


def test_an_escalation_without_a_request_waits():
    assert esc.derive(ctx(escalation(related=()))) == []


def test_a_new_escalation_starts_at_stage_one_with_its_owner_and_dates():
    actions = esc.derive(ctx(escalation(), related=[request()]))
    started = only(actions, Once)[0]
    assert started.key == "escalation-started" and "Stage 1: Practitioner to practitioner" in started.note
    assert SetFields(((F.ESCALATION_STAGE, STAGE[1]),)) in started.actions
    assert AssignTo(user_id=PRACTITIONER) in started.actions
    assert SetDates(dt.date(2026, 11, 23), dt.date(2026, 11, 25)) in started.actions
    assert SetFields(((F.POINTS_OF_DISAGREEMENT, "They want the full file"),)) in started.actions
    (on,) = only(actions, OnIssue)
    assert on.actions[0].actions == (SetFields(((F.DISAGREEMENT_RAISED, "1"),)),)


def test_an_urgent_escalation_starts_at_stage_two_on_the_urgent_timescale():
    (started,) = only(esc.derive(ctx(escalation(urgent=True), related=[request(raised=True)])), Once)
    assert SetFields(((F.ESCALATION_STAGE, STAGE[2]),)) in started.actions
    assert AssignTo(group=GroupKey.MASH_MANAGERS) in started.actions
    assert SetDates(dt.date(2026, 11, 23), dt.date(2026, 11, 24)) in started.actions
    assert "(urgent)" in started.note


def test_a_person_may_choose_the_stage_to_start_at():
    (started,) = only(esc.derive(ctx(escalation(stage=3), related=[request(raised=True)])), Once)
    assert AssignTo(group=GroupKey.HEADS_OF_SERVICE) in started.actions


def test_points_already_written_are_not_overwritten():
    (started,) = only(esc.derive(ctx(escalation(points_of_disagreement="mine"), related=[request(raised=True)])), Once)
    assert not any(isinstance(a, SetFields) and a.values[0][0] is F.POINTS_OF_DISAGREEMENT for a in started.actions)
    (started,) = only(esc.derive(ctx(escalation(), related=[request(raised=True, details="")])), Once)
    assert not any(isinstance(a, SetFields) and a.values[0][0] is F.POINTS_OF_DISAGREEMENT for a in started.actions)


def test_a_second_escalation_for_the_same_request_is_closed():
    first = escalation(150, stage=1, start="2026-11-20")
    (dup,) = esc.derive(ctx(escalation(), related=[request(raised=True, related=[150, ESC_ID]), first]))
    assert dup.key == "escalation-duplicate" and "#150" in dup.note
    assert ChangeStatus(S.ESCALATION_RESOLVED) in dup.actions
    assert SetFields(((F.ESCALATION_OUTCOME, "Withdrawn"), (F.AGREED_ACTIONS, "Continued in escalation #150"))) in dup.actions


# --- timers ----------------------------------------------------------------------------------------------


def running(stage=1, start="2026-11-20", due="2026-11-24", **kw):
    return escalation(stage=stage, start=start, due=due, **kw)


def made_by_service(state, when=at("2026-11-20")):
    return ((BOT, state, when),)


def test_before_the_due_date_nothing_happens():
    state = running()
    assert esc.derive(ctx(state, history=made_by_service(state), related=[request(raised=True)], now=at("2026-11-24"))) == []


def test_a_wrong_due_date_is_put_right():
    state = running(due="2026-12-31")
    (dates,) = esc.derive(ctx(state, history=made_by_service(state), related=[request(raised=True)], now=at("2026-11-23")))
    assert dates == SetDates(due_date=dt.date(2026, 11, 24))


def test_an_overdue_stage_moves_on_once():
    state = running()
    (moved,) = esc.derive(ctx(state, history=made_by_service(state), related=[request(raised=True)], now=at("2026-11-25")))
    assert moved.key == "stage-2-after-2026-11-24"
    assert moved.actions == (
        SetFields(((F.ESCALATION_STAGE, STAGE[2]),)),
        AssignTo(group=GroupKey.MASH_MANAGERS),
        SetDates(dt.date(2026, 11, 25), dt.date(2026, 12, 2)),
    )
    assert "Stage 1: Practitioner to practitioner was due on 2026-11-24" in moved.note


def test_the_partnership_is_notified_when_configured():
    config = make_config(escalation={"stages": [
        {"number": 1, "name": "P2P", "owner": "assignee", "working_days": 2},
        {"number": 2, "name": "Partnership", "owner": "safeguarding_partnership", "working_days": 5, "notify_partnership": True},
    ]})
    state = IssueState(ESC_ID, TrackerKey.ESCALATION, S.IN_ESCALATION, {F.ESCALATION_STAGE: "Stage 1: P2P"}, project_id=1,
                       start_date=dt.date(2026, 11, 20), due_date=dt.date(2026, 11, 24), related_ids=frozenset({REQUEST_ID}))
    (moved,) = esc.derive(ctx(state, history=made_by_service(state), related=[request(raised=True)], now=at("2026-11-25"), config=config))
    assert AddWatcher(GroupKey.SAFEGUARDING_PARTNERSHIP) in moved.actions


def test_the_last_stage_stays_open_and_is_reported():
    state = running(stage=4, start="2026-11-02", due="2026-11-20")
    (late,) = esc.derive(ctx(state, history=made_by_service(state), related=[request(raised=True)], now=at("2026-11-23")))
    assert late.key == "final-stage-overdue-2026-11-20" and late.actions == ()
    assert "last stage" in late.note


def test_a_person_moving_the_stage_restarts_its_clock():
    before = running()
    after = running(stage=3)
    history = ((BOT, before, at("2026-11-20")), (MANAGER, after, at("2026-11-23", 14)))
    (moved,) = esc.derive(ctx(after, history=history, related=[request(raised=True)], now=at("2026-11-23", 15)))
    assert moved.key == "stage-set-501"
    assert AssignTo(group=GroupKey.HEADS_OF_SERVICE) in moved.actions
    assert SetDates(dt.date(2026, 11, 23), dt.date(2026, 11, 30)) in moved.actions
    # Once the service has acted on it, time is kept from the new start.
    done = running(stage=3, start="2026-11-23", due="2026-11-30")
    handled = history + ((BOT, done, at("2026-11-23", 15)),)
    assert esc.derive(ctx(done, history=handled, related=[request(raised=True)], now=at("2026-11-24"))) == []


def test_an_undated_stage_change_is_left_to_the_timer():
    after = running(stage=2, start="2026-11-20", due="2026-11-27")
    history = ((BOT, running(), at("2026-11-20")), (MANAGER, after, None))
    assert esc.derive(ctx(after, history=history, related=[request(raised=True)], now=at("2026-11-23"))) == []


def test_no_history_means_no_stage_change_to_consider():
    state = running()
    no_steps = Context(None, state, Actor(None, None), CONFIG, at("2026-11-23"), (), PRINCIPALS, (request(raised=True),), BOT)
    assert esc._last_stage_change(no_steps) is None
    assert esc.derive(no_steps) == []


@pytest.mark.parametrize("tracker", [TrackerKey.RETENTION_REVIEW])
def test_other_trackers_are_left_alone(tracker):
    other = IssueState(1, TrackerKey.RETENTION_REVIEW, S.REVIEW_DUE, {})
    assert esc.derive_for_request(ctx(request())) == []
    assert esc.derive(ctx(other)) == esc.derive_for_request(ctx(other))


def test_the_raising_save_is_found_behind_later_saves():
    raised = request(raised=True)
    noted = request(raised=True, urgency="Red")
    c = ctx(noted, history=((PRACTITIONER, request(), at("2026-11-20")), (PRACTITIONER, raised, at("2026-11-21")), (MANAGER, noted, at("2026-11-23"))))
    assert esc._raised_step(c).key == "501"

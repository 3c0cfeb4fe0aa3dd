"""R-TIMELINESS: Response due from the logging time and the urgency, the Red
note at logging, overdue notes and daily reminders, approval waits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from plugin.domain.history import Step
from plugin.domain.names import StatusKey as S
from plugin.domain.record import FieldKey as F, Urgency
from plugin.policy import timeliness
from plugin.policy.model import AddWatcher, Context, Milestone, Once, SetDates, SetFields
from tests.unit.policy.helpers import ctx, state

LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=LONDON).astimezone(dt.timezone.utc)


LOGGED = at("2026-12-01 10:00")  # a Tuesday


def request(status=S.RECEIVED, urgency="Amber", logged=LOGGED, **fields):
    return state(status, created_on=logged, urgency=urgency, **fields)


def with_history(*moves: tuple[S, str], urgency="Amber", now="2026-12-01 10:00", logged=LOGGED, **fields) -> Context:
    """A request logged in Received, then moved through `moves` (status, at)."""
    created = request(urgency=urgency, logged=logged, **fields)
    steps, before = [Step("created", 10, "Priya", None, created, logged)], created
    for n, (status, when) in enumerate(moves):
        after = dataclasses.replace(before, status=status)
        steps.append(Step(str(n + 1), 10, "Priya", before, after, at(when)))
        before = after
    base = ctx(before, steps[-2].after if len(steps) > 1 else None, now=at(now))
    return dataclasses.replace(base, history=tuple(steps))


def onces(actions) -> list[Once]:
    return [a for a in actions if isinstance(a, Once)]


def milestones(c: Context) -> list[Milestone]:
    return [o.milestone for o in onces(timeliness.derive(c))]


# --- Response due -------------------------------------------------------------------------


def test_response_due_follows_the_urgency_from_when_the_request_was_logged():
    assert timeliness.response_due(ctx(request(urgency="Red"))) == at("2026-12-01 14:00")  # 4 hours around the clock
    assert timeliness.response_due(ctx(request(urgency="Amber"))) == at("2026-12-02 10:00")  # 1 working day
    assert timeliness.response_due(ctx(request(urgency="Green"))) == at("2026-12-04 10:00")  # 3 working days
    friday = at("2027-05-28 16:00")  # the Friday before the Spring bank holiday
    assert timeliness.response_due(ctx(request(urgency="Amber", logged=friday))) == at("2027-06-01 16:00")
    assert timeliness.response_due(ctx(request(urgency="Red", logged=friday))) == at("2027-05-28 20:00")


def test_no_urgency_or_no_logging_time_gives_no_response_due_and_nothing_to_do():
    assert timeliness.response_due(ctx(request(urgency=""))) is None
    assert timeliness.response_due(ctx(request(logged=None))) is None
    assert timeliness.derive(ctx(request(urgency=""))) == []


def test_the_service_writes_response_due_and_the_dates_and_rewrites_them_when_the_urgency_changes():
    tuesday, friday = dt.date(2026, 12, 1), dt.date(2026, 12, 4)
    actions = timeliness.derive(ctx(request(urgency="Green")))
    assert SetFields(((F.RESPONSE_DUE, "2026-12-04 10:00"),)) in actions
    assert SetDates(start_date=tuesday, due_date=friday) in actions
    written = dataclasses.replace(request(urgency="Green", response_due="2026-12-04 10:00"), start_date=tuesday, due_date=friday)
    assert timeliness.derive(ctx(written)) == []
    raised = dataclasses.replace(written, fields={**written.fields, F.URGENCY: "Amber"})
    assert timeliness.derive(ctx(raised)) == [SetFields(((F.RESPONSE_DUE, "2026-12-02 10:00"),)), SetDates(start_date=tuesday, due_date=dt.date(2026, 12, 2))]
    # Dates a person (an administrator: they are read-only for everyone else) typed are put back.
    typed = dataclasses.replace(written, due_date=dt.date(2027, 1, 1))
    assert timeliness.derive(ctx(typed)) == [SetDates(start_date=tuesday, due_date=friday)]
    late_start = dataclasses.replace(written, start_date=dt.date(2027, 1, 1))
    assert timeliness.derive(ctx(late_start)) == [SetDates(start_date=tuesday, due_date=friday)]


# --- Answered -------------------------------------------------------------------------


def test_a_request_is_answered_when_it_first_reaches_an_answering_status():
    c = with_history((S.ASSESSING, "2026-12-01 11:00"), (S.AWAITING_APPROVAL, "2026-12-01 12:00"), (S.ASSESSING, "2026-12-01 13:00"))
    assert timeliness.answered_at(c) == at("2026-12-01 12:00")  # declined back to Assessing: still answered, at the first time
    assert timeliness.answered_at(with_history((S.ASSESSING, "2026-12-01 11:00"))) is None
    for status in (S.APPROVED, S.SHARED, S.NOT_SHARED, S.WITHDRAWN):
        assert timeliness.answered_at(with_history((status, "2026-12-01 15:00"))) == at("2026-12-01 15:00")


def test_with_no_history_a_request_in_an_answering_status_counts_as_answered_when_logged():
    assert timeliness.answered_at(ctx(request(S.SHARED))) == LOGGED
    assert timeliness.answered_at(ctx(request(S.ASSESSING))) is None
    created = request(S.SHARED)
    untimed = dataclasses.replace(ctx(created), history=(Step("created", 10, "Priya", None, created, None),))
    assert timeliness.answered_at(untimed) == LOGGED


# --- Red requests --------------------------------------------------------------------------


def test_a_red_request_is_noted_to_the_approvers_when_it_is_logged():
    (note,) = onces(timeliness.derive(ctx(request(urgency="Red"), now=LOGGED)))
    assert note.key == "red-request-logged" and note.milestone is Milestone.RED_REQUEST_NOTED
    assert note.actions == (AddWatcher(group=timeliness_group()),)
    assert "MASH managers" in note.note and "2026-12-01 14:00" in note.note and "4 hours" in note.note
    assert onces(timeliness.derive(ctx(request(urgency="Amber"), now=LOGGED))) == []
    assert milestones(with_history((S.SHARED, "2026-12-01 11:00"), urgency="Red", now="2026-12-01 11:30")) == []


def timeliness_group():
    from tests.unit.policy.helpers import CONFIG

    return CONFIG.approval.approvers_group


# --- Overdue --------------------------------------------------------------------------------


def test_an_unanswered_request_past_its_response_due_is_noted_once_that_day_then_reminded_each_working_day():
    # Amber logged Tuesday 10:00: due Wednesday 10:00.
    assert milestones(with_history(now="2026-12-02 09:59")) == []
    (first,) = onces(timeliness.derive(with_history(now="2026-12-02 10:00")))
    assert first.milestone is Milestone.RESPONSE_OVERDUE and first.key == "overdue-20261202T1000-2026-12-02"
    assert first.actions == (AddWatcher(group=timeliness_group()),)
    assert "due to be answered by 2026-12-02 10:00" in first.note and "watchers" in first.note
    # The same key all that day: the executor posts it once.
    assert [o.key for o in onces(timeliness.derive(with_history(now="2026-12-02 16:45")))] == [first.key]
    (thursday,) = onces(timeliness.derive(with_history(now="2026-12-03 08:00")))
    assert thursday.milestone is Milestone.OVERDUE_REMINDER and thursday.key == "overdue-20261202T1000-2026-12-03"
    assert "still not answered" in thursday.note
    assert milestones(with_history(now="2026-12-05 10:00")) == []  # Saturday
    assert milestones(with_history(now="2026-12-06 10:00")) == []  # Sunday
    assert milestones(with_history(now="2026-12-07 10:00")) == [Milestone.OVERDUE_REMINDER]  # Monday


def test_a_red_request_overdue_at_the_weekend_is_noted_then_and_reminded_from_monday():
    friday_night = at("2026-12-04 22:00")
    c = with_history(urgency="Red", logged=friday_night, now="2026-12-05 02:00")  # due Saturday 02:00
    assert Milestone.RESPONSE_OVERDUE in milestones(c)
    assert Milestone.OVERDUE_REMINDER not in milestones(with_history(urgency="Red", logged=friday_night, now="2026-12-06 12:00"))
    assert Milestone.OVERDUE_REMINDER in milestones(with_history(urgency="Red", logged=friday_night, now="2026-12-07 09:00"))


def test_an_answered_request_is_never_reminded():
    moves = ((S.ASSESSING, "2026-12-01 11:00"), (S.NOT_SHARED, "2026-12-03 11:00"))
    assert milestones(with_history(*moves, now="2026-12-08 10:00")) == []
    late_but_answered = with_history((S.AWAITING_APPROVAL, "2026-12-04 09:00"), (S.ASSESSING, "2026-12-04 10:00"), now="2026-12-08 10:00")
    assert milestones(late_but_answered) == []


def test_a_changed_urgency_makes_a_new_overdue_note_for_the_new_due_moment():
    amber = {o.key for o in onces(timeliness.derive(with_history(now="2026-12-02 10:30")))}
    red = {o.key for o in onces(timeliness.derive(with_history(urgency="Red", now="2026-12-02 10:30")))}
    assert amber == {"overdue-20261202T1000-2026-12-02"}
    assert "overdue-20261201T1400-2026-12-02" in red


# --- Approval waits -------------------------------------------------------------------------


def awaiting(urgency: str, since: str, now: str) -> Context:
    return with_history((S.ASSESSING, "2026-12-01 10:30"), (S.AWAITING_APPROVAL, since), urgency=urgency, now=now)


def test_a_request_waiting_for_approval_too_long_reminds_the_approvers_then_each_working_day():
    assert milestones(awaiting("Amber", "2026-12-01 11:00", "2026-12-01 14:59")) == []  # Amber waits 4 working hours
    (first,) = onces(timeliness.derive(awaiting("Amber", "2026-12-01 11:00", "2026-12-01 15:00")))
    assert first.milestone is Milestone.APPROVAL_WAIT_REMINDER and first.key == "approval-wait-20261201T1100-2026-12-01"
    assert "waited for approval since 2026-12-01 11:00, longer than 4 working hours" in first.note
    assert first.actions == (AddWatcher(group=timeliness_group()),)
    (next_day,) = onces(timeliness.derive(awaiting("Amber", "2026-12-01 11:00", "2026-12-02 09:30")))
    assert next_day.key == "approval-wait-20261201T1100-2026-12-02"
    assert milestones(awaiting("Amber", "2026-12-01 11:00", "2026-12-05 09:30")) == []  # Saturday


def test_approval_waits_follow_the_urgency_in_working_time():
    assert milestones(awaiting("Red", "2026-12-01 16:30", "2026-12-01 23:00")) == []  # 1 working hour: 30 minutes left tomorrow
    assert milestones(awaiting("Red", "2026-12-01 16:30", "2026-12-02 09:30")) == [Milestone.APPROVAL_WAIT_REMINDER]
    assert milestones(awaiting("Green", "2026-12-01 11:00", "2026-12-02 10:59")) == []  # 1 working day
    assert milestones(awaiting("Green", "2026-12-01 11:00", "2026-12-02 11:00")) == [Milestone.APPROVAL_WAIT_REMINDER]


def test_the_wait_counts_from_the_last_entry_into_awaiting_approval():
    c = with_history(
        (S.ASSESSING, "2026-12-01 10:30"), (S.AWAITING_APPROVAL, "2026-12-01 11:00"), (S.ASSESSING, "2026-12-01 12:00"),
        (S.AWAITING_APPROVAL, "2026-12-02 10:00"), now="2026-12-02 12:00",
    )
    assert timeliness.awaiting_approval_since(c) == at("2026-12-02 10:00")
    assert milestones(c) == []
    assert timeliness.awaiting_approval_since(ctx(request(S.AWAITING_APPROVAL))) is None  # no history known: no wait to count
    assert timeliness.awaiting_approval_since(with_history((S.ASSESSING, "2026-12-01 10:30"))) is None


# --- For the report -------------------------------------------------------------------------


def test_the_answer_against_its_target_in_working_hours():
    in_time = timeliness.answer(with_history((S.ASSESSING, "2026-12-01 11:00"), (S.SHARED, "2026-12-01 15:30")))
    assert (in_time.urgency, in_time.within_target, in_time.working_hours) == (Urgency.AMBER, True, 5.5)
    late = timeliness.answer(with_history((S.SHARED, "2026-12-02 11:00")))
    assert (late.within_target, late.working_hours) == (False, 9.0)  # 7 on Tuesday, 2 on Wednesday
    waiting = timeliness.answer(with_history())
    assert (waiting.answered, waiting.within_target, waiting.working_hours) == (None, False, None)
    assert timeliness.answer(ctx(request(urgency=""))) is None


# --- When the clock next calls for something (the sweep's wake) ------------------------------


def test_an_unanswered_request_wakes_at_its_response_due_then_each_midnight():
    assert timeliness.next_due(with_history(now="2026-12-01 12:00")) == at("2026-12-02 10:00")  # Amber: due Wednesday 10:00
    assert timeliness.next_due(with_history(now="2026-12-02 10:00")) == at("2026-12-03 00:00")  # overdue: a reminder a day
    answered = with_history((S.ASSESSING, "2026-12-01 10:30"), (S.NOT_SHARED, "2026-12-01 11:00"), now="2026-12-02 12:00")
    assert timeliness.next_due(answered) is None
    assert timeliness.next_due(ctx(request(urgency=""))) is None  # no urgency: nothing on the clock


def test_a_request_waiting_for_approval_wakes_when_its_wait_ends_then_each_midnight():
    assert timeliness.next_due(awaiting("Amber", "2026-12-01 11:00", "2026-12-01 12:00")) == at("2026-12-01 15:00")
    assert timeliness.next_due(awaiting("Amber", "2026-12-01 11:00", "2026-12-01 15:00")) == at("2026-12-02 00:00")


def test_midnight_is_local_midnight_in_summer_time():
    summer = with_history(logged=at("2027-06-01 10:00"), now="2027-06-03 12:00")  # overdue since 2 June 10:00
    assert timeliness.next_due(summer) == dt.datetime(2027, 6, 3, 23, 0, tzinfo=dt.timezone.utc)


def keys_at(context: Context, now: dt.datetime) -> set[str]:
    return {o.key for o in onces(timeliness.derive(dataclasses.replace(context, now=now)))}


SCENARIOS = {
    "Amber, never answered": lambda now: with_history(now=now),
    "Red, logged on a Friday night": lambda now: with_history(urgency="Red", logged=at("2026-12-04 22:00"), now=now),
    "Amber, waiting for approval": lambda now: awaiting("Amber", "2026-12-01 11:00", now),
    "Red, waiting for approval late in the day": lambda now: awaiting("Red", "2026-12-01 16:30", now),
    "Green, answered then reopened and waiting": lambda now: with_history(
        (S.ASSESSING, "2026-12-01 10:30"), (S.AWAITING_APPROVAL, "2026-12-01 11:00"), (S.ASSESSING, "2026-12-01 12:00"),
        (S.AWAITING_APPROVAL, "2026-12-02 10:00"), urgency="Green", now=now,
    ),
}


def test_before_its_wake_the_clock_alone_never_calls_for_a_new_note():
    """The invariant the sweep relies on, over a week at every 50 minutes:
    judged at any moment, no later moment before the wake it gave calls for
    a note that moment did not already call for, and the wake is never in
    the past."""
    grid = [at("2026-12-01 10:05") + dt.timedelta(minutes=50 * n) for n in range(7 * 24 * 60 // 50)]
    for name, make in SCENARIOS.items():
        for n, judged in enumerate(grid):
            context = make(judged.astimezone(LONDON).strftime("%Y-%m-%d %H:%M"))
            wake, before = timeliness.next_due(context), keys_at(context, context.now)
            assert wake is None or wake > context.now, name
            for later in grid[n + 1 :]:
                if wake is not None and later >= wake:
                    break
                assert keys_at(context, later) <= before, f"{name}: judged at {context.now}, new note at {later} before the wake {wake}"

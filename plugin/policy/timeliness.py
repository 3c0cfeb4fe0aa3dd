"""R-TIMELINESS: requests are answered in time for their urgency (golden
rule 6, "timely"; the 2018 advice's principle "Timely": consider the urgency,
so an opportunity to protect a child is not missed).

The service writes `Response due` (and Redmine's Due date) from the moment
the request was logged and its urgency's target, and again whenever the
urgency changes. Until the request is answered (it first reaches Awaiting
approval, Approved, Shared, Not shared or Withdrawn), a Red request is noted
to the approvers when it is logged, and a request past its Response due is
noted, watched by the approvers and reminded once each working day. A
request left in Awaiting approval longer than its urgency's approval wait
reminds the approvers, then once each working day.

Every note is a `Once` keyed by the moment it is about and the day, so a run
repeated, or a service restarted half way, never posts one twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from plugin.domain.configuration import Config
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey, IssueState, Urgency
from plugin.policy.incident import format_datetime
from plugin.policy.model import AddWatcher, Context, Milestone, Once, SetDates, SetFields, working_calendar

F = FieldKey
S = StatusKey

# A request is answered when it first reaches one of these (DOMAIN.md).
ANSWERING_STATUSES = frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.SHARED, S.NOT_SHARED, S.WITHDRAWN})
# The only statuses an unanswered request can be in: what the sweep asks Redmine for.
UNANSWERED_STATUSES = (S.RECEIVED, S.ASSESSING)


def urgency_of(ctx: Context) -> Urgency | None:
    value = ctx.proposed.value(F.URGENCY)
    return next((u for u in Urgency if u.value == value), None)


def response_due(ctx: Context) -> dt.datetime | None:
    """When the request must be answered by: its urgency's target counted
    from when it was logged (None without an urgency or a logging time)."""
    level, logged = urgency_of(ctx), ctx.proposed.created_on
    if level is None or logged is None:
        return None
    return ctx.calendar.add_target(logged, ctx.config.urgency.targets[level])


def answered_at(ctx: Context) -> dt.datetime | None:
    """When the request first reached an answering status, or None while it
    has not. With no history known, a request in one now is taken as
    answered when it was logged."""
    for step in ctx.history:
        if step.after.status in ANSWERING_STATUSES:
            return step.at or ctx.proposed.created_on
    if not ctx.history and ctx.proposed.status in ANSWERING_STATUSES:
        return ctx.proposed.created_on
    return None


def is_answered(ctx: Context) -> bool:
    return answered_at(ctx) is not None


def awaiting_approval_since(ctx: Context) -> dt.datetime | None:
    """When the request last entered Awaiting approval, if it is there now."""
    if ctx.proposed.status is not S.AWAITING_APPROVAL:
        return None
    for step in reversed(ctx.history):
        if step.after.status is S.AWAITING_APPROVAL and (step.before is None or step.before.status is not S.AWAITING_APPROVAL):
            return step.at
    return None


@dataclasses.dataclass(frozen=True)
class Answer:
    """How one request was answered against its target, for the report."""

    urgency: Urgency
    due: dt.datetime
    answered: dt.datetime | None
    working_hours: float | None  # working time from logging to the answer

    @property
    def within_target(self) -> bool:
        return self.answered is not None and self.answered <= self.due


def measure(config: Config, state: IssueState, answered: dt.datetime | None) -> Answer | None:
    """A request's answer against its target (None without an urgency or a
    logging time): what the report counts."""
    level, logged = next((u for u in Urgency if u.value == state.value(F.URGENCY)), None), state.created_on
    if level is None or logged is None:
        return None
    calendar = working_calendar(config.calendar)
    due = calendar.add_target(logged, config.urgency.targets[level])
    hours = calendar.working_time_between(logged, answered).total_seconds() / 3600 if answered is not None else None
    return Answer(level, due, answered, hours)


def answer(ctx: Context) -> Answer | None:
    return measure(ctx.config, ctx.proposed, answered_at(ctx))


# --- What the service does --------------------------------------------------------------


def _stamp(ctx: Context, moment: dt.datetime) -> str:
    """A moment as a marker key part: changes when the moment does."""
    return format_datetime(moment, ctx.config.calendar.timezone).replace("-", "").replace(" ", "T").replace(":", "")


def _keep_response_due(ctx: Context, due: dt.datetime) -> list:
    """Response due, and Redmine's own dates: the start date is the day the
    request was logged and the due date the day it must be answered by. Both
    dates are the service's: a start date typed after the due date would
    make Redmine refuse every save of the service, its notes included."""
    state, text = ctx.proposed, format_datetime(due, ctx.config.calendar.timezone)
    actions: list = []
    if state.value(F.RESPONSE_DUE) != text:
        actions.append(SetFields(((F.RESPONSE_DUE, text),)))
    start, end = ctx.local_date(state.created_on), ctx.local_date(due)
    if (state.start_date, state.due_date) != (start, end):
        actions.append(SetDates(start_date=start, due_date=end))
    return actions


def _red_logged(ctx: Context, due: dt.datetime, level: Urgency) -> list:
    """A Red request is told to the approvers as soon as it is logged (or
    raised to Red while unanswered), once."""
    if level is not Urgency.RED:
        return []
    group = ctx.config.approval.approvers_group
    return [
        Once(
            "red-request-logged",
            f"Red request for {ctx.config.names.group(group)}: the response is due by "
            f"{format_datetime(due, ctx.config.calendar.timezone)} ({ctx.config.urgency.targets[Urgency.RED]} from when it was "
            "logged). The approvers group has been added as watchers (R-TIMELINESS).",
            (AddWatcher(group=group),),
            milestone=Milestone.RED_REQUEST_NOTED,
        )
    ]


def _notice_day(ctx: Context, since: dt.datetime) -> bool | None:
    """True on the day `since` passed (from that moment on), False on each
    working day after it, None otherwise (before it, or a day off after it)."""
    if ctx.now < since:
        return None
    first = ctx.local_date(since)
    if ctx.today == first:
        return True
    return False if ctx.calendar.is_working_day(ctx.today) else None


def _overdue(ctx: Context, due: dt.datetime, level: Urgency) -> list:
    first = _notice_day(ctx, due)
    if first is None:
        return []
    tz, group = ctx.config.calendar.timezone, ctx.config.approval.approvers_group
    when = format_datetime(due, tz)
    if first:
        note = (
            f"Response overdue: this {level.value} request was due to be answered by {when} and has not been. "
            f"{ctx.config.names.group(group)} have been added as watchers; a reminder follows each working day until it is "
            "answered (R-TIMELINESS)."
        )
    else:
        note = (
            f"Reminder for {ctx.config.names.group(group)}: this {level.value} request, due to be answered by {when}, is "
            "still not answered (R-TIMELINESS)."
        )
    return [
        Once(
            f"overdue-{_stamp(ctx, due)}-{ctx.today.isoformat()}",
            note,
            (AddWatcher(group=group),),
            milestone=Milestone.RESPONSE_OVERDUE if first else Milestone.OVERDUE_REMINDER,
        )
    ]


def _approval_wait(ctx: Context, level: Urgency) -> list:
    since = awaiting_approval_since(ctx)
    if since is None:
        return []
    wait = ctx.config.urgency.approval_waits[level]
    if _notice_day(ctx, ctx.calendar.add_target(since, wait)) is None:
        return []
    tz, group = ctx.config.calendar.timezone, ctx.config.approval.approvers_group
    return [
        Once(
            f"approval-wait-{_stamp(ctx, since)}-{ctx.today.isoformat()}",
            f"Reminder for {ctx.config.names.group(group)}: this {level.value} request has waited for approval since "
            f"{format_datetime(since, tz)}, longer than {wait}. Record the Approval decision (R-TIMELINESS).",
            (AddWatcher(group=group),),
            milestone=Milestone.APPROVAL_WAIT_REMINDER,
        )
    ]


def next_due(ctx: Context) -> dt.datetime | None:
    """The first moment after now at which the clock alone can make `derive`
    call for a note this request has not had: its Response due while it is
    unanswered, the end of its approval wait while it waits, and once those
    have passed the start of each day (each reminder is a note a day). None
    when nothing here runs on the clock. The sweep leaves a request that has
    not changed alone until then."""
    due, level = response_due(ctx), urgency_of(ctx)
    if due is None or level is None:
        return None
    moments = [] if is_answered(ctx) else [ctx.first_due(due)]
    since = awaiting_approval_since(ctx)
    if since is not None:
        moments.append(ctx.first_due(ctx.calendar.add_target(since, ctx.config.urgency.approval_waits[level])))
    return min(moments, default=None)


def derive(ctx: Context) -> list:
    due, level = response_due(ctx), urgency_of(ctx)
    if due is None or level is None:
        return []
    actions = _keep_response_due(ctx, due)
    if not is_answered(ctx):
        actions += _red_logged(ctx, due, level) + _overdue(ctx, due, level)
    return actions + _approval_wait(ctx, level)

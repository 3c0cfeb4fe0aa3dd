"""R-SHARE: when information is shared, record what, with whom, when (the day
and the time), by whom, how, whether it may go further, and where the child's
own case record is (golden rules 6 and 7; GDPR protocol 3.1: when, who, to
whom, how, what; Buckinghamshire appendix 1, question 6; West Yorkshire
procedures 3.5: what is passed on is noted and confirmed in writing).

The service writes `Shared by` from the person who entered `Shared`, and
reminds that person each working day until the written confirmation is
recorded (`share.written_confirmation_reminders`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey, SecureMethod
from plugin.policy.consent import not_a_time
from plugin.policy.model import AddWatcher, Context, Milestone, Once, RuleId, SetFields, Step, Violation
from plugin.policy.requirements import SHARE_RECORD_REQUIRED

F = FieldKey

_WHAT_TO_DO = {
    F.INFORMATION_SHARED: "record exactly what information was shared",
    F.SHARED_WITH: "record who the information was shared with",
    F.SHARED_ON: "record the date the information was shared",
    F.SHARED_AT: "record the time the information was shared (HH:MM)",
    F.CASE_REFERENCE: "record the child's reference in your own case system, where this share must be recorded too",
    F.ONWARD_SHARING: "record whether the recipient will pass the information on",
    F.SECURE_METHOD: "record how the information was sent",
    F.FACT_AND_OPINION_DISTINGUISHED: "confirm that fact and opinion were kept apart in what was shared",
}


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.SHARE, field, code, f"{ctx.field_name(field)}: {what} (R-SHARE).")


def _when(ctx: Context) -> list[Violation]:
    """Shared on and at: not in the future together, and not before the day
    the request was logged (a share recorded afterwards may be timed before
    the ticket was created on the same day)."""
    state = ctx.proposed
    shared_on, shared_at = state.date(F.SHARED_ON), state.time(F.SHARED_AT)
    out = not_a_time(ctx, F.SHARED_AT, RuleId.SHARE)
    if shared_on is None:
        return out + [_v(ctx, F.SHARED_ON, "missing", _WHAT_TO_DO[F.SHARED_ON])]
    if shared_on > ctx.today:
        return out + [_v(ctx, F.SHARED_ON, "future", "the date is in the future: record the date the information was actually shared")]
    created = state.created_on
    if created is not None and shared_on < ctx.local_date(created):
        return out + [_v(ctx, F.SHARED_ON, "before_request", "the date is before the request was logged: check it")]
    if shared_at is None:
        return out + ([] if state.is_set(F.SHARED_AT) else [_v(ctx, F.SHARED_AT, "missing", _WHAT_TO_DO[F.SHARED_AT])])
    moment = dt.datetime.combine(shared_on, shared_at, tzinfo=zoneinfo.ZoneInfo(ctx.config.calendar.timezone))
    if moment > ctx.now:
        out.append(_v(ctx, F.SHARED_AT, "future", "the time is in the future: record when the information was actually shared"))
    return out


def _confirmed_in_writing(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    confirmed, shared_on = state.date(F.CONFIRMED_IN_WRITING_ON), state.date(F.SHARED_ON)
    if confirmed is None:
        return []
    if confirmed > ctx.today:
        return [_v(ctx, F.CONFIRMED_IN_WRITING_ON, "future", "the date is in the future: record the day the confirmation was sent")]
    if shared_on is not None and confirmed < shared_on:
        return [_v(ctx, F.CONFIRMED_IN_WRITING_ON, "before_share", "the date is before the information was shared: check it")]
    return []


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.status is not StatusKey.SHARED:
        return []
    out = _when(ctx) + _confirmed_in_writing(ctx)
    for field in SHARE_RECORD_REQUIRED:
        if field in (F.SHARED_ON, F.SHARED_AT):
            continue
        if field is F.FACT_AND_OPINION_DISTINGUISHED:
            if not state.flag(field):
                out.append(_v(ctx, field, "not_confirmed", _WHAT_TO_DO[field]))
        elif not state.is_set(field):
            out.append(_v(ctx, field, "missing", _WHAT_TO_DO[field]))
    if state.value(F.SECURE_METHOD) == SecureMethod.OTHER_NOT_SECURE.value and not state.is_set(F.INSECURE_METHOD_REASON):
        out.append(_v(ctx, F.INSECURE_METHOD_REASON, "missing", "the information was sent by a method that is not secure: record why"))
    return out


# --- What the service does --------------------------------------------------------------


def shared_by(ctx: Context) -> Step | None:
    """The save that entered Shared last, if a person made it."""
    for step in reversed(ctx.history):
        if step.after.status is StatusKey.SHARED and (step.before is None or step.before.status is not StatusKey.SHARED):
            return step if step.user_id is not None and step.user_id != ctx.service_user_id else None
    return None


def _confirmation_pending(ctx: Context) -> bool:
    """Whether a share's written confirmation is awaited, with reminders on."""
    state = ctx.proposed
    return (
        ctx.config.share.written_confirmation_reminders
        and not state.is_set(F.CONFIRMED_IN_WRITING_ON)
        and state.date(F.SHARED_ON) is not None
    )


def _confirmation_reminder(ctx: Context, sharer: Step) -> list:
    """Each working day after the share until the written confirmation is
    recorded, one note for the sharer (who is made a watcher, so Redmine
    tells them)."""
    shared_on = ctx.proposed.date(F.SHARED_ON)
    if not _confirmation_pending(ctx) or ctx.today <= shared_on or not ctx.calendar.is_working_day(ctx.today):
        return []
    return [
        Once(
            f"confirm-in-writing-{ctx.today.isoformat()}",
            f"Reminder for {ctx.user_name(sharer.user_id)}: the information shared on {shared_on.isoformat()} has not been "
            f"confirmed in writing yet. Send the written confirmation, then record its date in "
            f"'{ctx.field_name(F.CONFIRMED_IN_WRITING_ON)}' (R-SHARE; West Yorkshire procedures 3.5).",
            (AddWatcher(user_id=sharer.user_id),),
            milestone=Milestone.CONFIRMATION_REMINDER,
        )
    ]


def next_due(ctx: Context) -> dt.datetime | None:
    """The first moment after now at which the clock alone can make `derive`
    call for a reminder: the start of the next day while the written
    confirmation is awaited (a reminder a working day), else None."""
    pending = ctx.proposed.status is StatusKey.SHARED and shared_by(ctx) is not None and _confirmation_pending(ctx)
    return ctx.tomorrow_starts if pending else None


def derive(ctx: Context) -> list:
    state = ctx.proposed
    if state.status is not StatusKey.SHARED:
        return []
    sharer = shared_by(ctx)
    if sharer is None:
        return []
    return [SetFields(((F.SHARED_BY, ctx.user_name(sharer.user_id)),))] + _confirmation_reminder(ctx, sharer)

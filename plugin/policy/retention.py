"""R-RETENTION: information is not kept longer than necessary, agencies follow
their retention schedules, and what is kept is reviewed at regular intervals
(Derby and Derbyshire guidance, golden rule 7; Buckinghamshire code, section 3).

A closed request's `Retention review date` is its closing date plus its
category's period. A `Retention review` ticket opens `review_lead_days` ahead,
assigned to Information governance, with reminders at the configured offsets
and weekly while overdue. Its outcome is carried out on the request: Retain
sets the next review date, Anonymise removes every piece of personal text from
the request and its linked escalations (history, notes and attachments
included), Destroy deletes them after one disposal record is written.

A legal hold (set and cleared by an Information governance lead only, with a
reason) keeps a request out of review; each hold is put to the governance
group once a year from the day it was set.
"""

from __future__ import annotations

import datetime as dt

from plugin.policy.model import (
    Anonymise,
    AssignTo,
    Context,
    CreateLinkedIssue,
    DeleteIssue,
    Milestone,
    OnIssue,
    Once,
    RecordDisposal,
    RuleId,
    SetFields,
    Step,
    Violation,
)
from plugin.policy.requirements import CLOSURE_REQUIRED, GOVERNANCE_ONLY_FIELDS, REVIEW_COMPLETION_REQUIRED
from plugin.domain.configuration import Config, DestroyMode
from plugin.domain.names import CLOSED_STATUSES, GroupKey, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FIELDS, FieldFormat, FieldKey, IssueState, ReviewOutcome

F = FieldKey
S = StatusKey

_REVIEW_WHAT_TO_DO = {
    F.REVIEW_OUTCOME: "record the outcome of the review (Retain, Anonymise or Destroy)",
    F.REVIEW_JUSTIFICATION: "record why this outcome is right",
}


# --- Dates ------------------------------------------------------------------------------


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day `years` later; 29 February becomes 28 February in a common
    year (reviewing a day early, never late)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def full_years(since: dt.date, today: dt.date) -> int:
    """Whole years from `since` to `today` (an anniversary on 29 February is
    kept on 28 February in a common year, as `add_years` does)."""
    years = today.year - since.year
    return years if add_years(since, years) <= today else years - 1


def review_date_for(request: IssueState, ctx: Context) -> dt.date | None:
    """Closing date plus the category's period, or None if the request is open,
    has no category, or its category is not in the schedule."""
    category = ctx.config.retention.category(request.value(F.RETENTION_CATEGORY) or "")
    if request.status not in CLOSED_STATUSES or request.closed_on is None or category is None:
        return None
    return add_years(ctx.local_date(request.closed_on), category.years)


def reminder_due(review_date: dt.date, today: dt.date, config: Config, opened_on: dt.date | None = None) -> str | None:
    """The reminder to post today, named for idempotence: the latest offset
    reached (earlier ones missed while nothing ran are not sent late), then
    one a week while overdue. None when the day it stands for is already
    covered by the review's opening (opening it was that day's reminder)."""
    days_left = (review_date - today).days
    if days_left >= 0:
        reached = [o for o in config.retention.reminder_days_before if days_left <= o]
        if not reached:
            return None
        offset = min(reached)
        stands_for = review_date - dt.timedelta(days=offset)
        key = f"{offset}-days-before"
    else:
        weeks = -days_left // config.retention.overdue_reminder_every_days
        if weeks < 1:
            return None
        stands_for = review_date + dt.timedelta(days=weeks * config.retention.overdue_reminder_every_days)
        key = f"overdue-{weeks}"
    if opened_on is not None and opened_on >= stands_for:
        return None
    return key


def _reminder_text(key: str, review_date: dt.date, today: dt.date) -> str:
    days_left = (review_date - today).days
    if days_left > 0:
        when = f"is due on {review_date.isoformat()}, in {days_left} day{'s' if days_left != 1 else ''}"
    elif days_left == 0:
        when = "is due today"
    else:
        when = f"was due on {review_date.isoformat()} and is overdue"
    return f"Reminder: this retention review {when}. Record the outcome and why, then complete the review (R-RETENTION)."


# --- Violations ---------------------------------------------------------------------------


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.RETENTION, field, code, f"{ctx.field_name(field)}: {what} (R-RETENTION).")


def _hold_changed(ctx: Context) -> bool:
    before, after = ctx.previous, ctx.proposed
    if before is None:
        return after.flag(F.LEGAL_HOLD) or after.is_set(F.LEGAL_HOLD_REASON)
    return any(before.value(f) != after.value(f) for f in GOVERNANCE_ONLY_FIELDS)


def hold_checks(ctx: Context) -> list[Violation]:
    """A legal hold is governance's: only an Information governance lead sets,
    changes or clears it (the field rule hides it from everyone else; this
    also refuses a save by REST or by an administrator), and a hold says why.
    Judged on the save that touched it, with the roles of its time."""
    step = ctx.step
    if step is None or not _hold_changed(ctx) or step.user_id == ctx.service_user_id:
        return []
    out = []
    governance = ctx.config.names.role(RoleKey.INFORMATION_GOVERNANCE_LEAD)
    if not ctx.holds_role(step.user_id, governance, at=step.at):
        out.append(_v(ctx, F.LEGAL_HOLD, "not_governance", f"only an {governance} may set, change or clear a legal hold; ask your information governance team"))
    if ctx.proposed.flag(F.LEGAL_HOLD) and not ctx.proposed.is_set(F.LEGAL_HOLD_REASON):
        out.append(_v(ctx, F.LEGAL_HOLD_REASON, "missing", "say why the record must be held (the litigation, inquiry or investigation it is kept for)"))
    return out


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.tracker is TrackerKey.INFORMATION_REQUEST:
        out = hold_checks(ctx)
        if state.status in CLOSED_STATUSES and not state.is_set(CLOSURE_REQUIRED[0]):
            out.append(
                _v(ctx, F.RETENTION_CATEGORY, "missing", "record the retention category before closing the request; it decides when the record is reviewed")
            )
        return out
    if state.status is not S.REVIEW_COMPLETED:
        return []
    out = [_v(ctx, f, "missing", _REVIEW_WHAT_TO_DO[f]) for f in REVIEW_COMPLETION_REQUIRED if not state.is_set(f)]
    if state.value(F.REVIEW_OUTCOME) == ReviewOutcome.RETAIN.value:
        next_review = state.date(F.NEXT_REVIEW_DATE)
        latest = add_years(ctx.today, ctx.config.retention.max_retain_years)
        if next_review is None:
            out.append(_v(ctx, F.NEXT_REVIEW_DATE, "missing", "to retain the record, set the date of its next review"))
        elif next_review <= ctx.today:
            out.append(_v(ctx, F.NEXT_REVIEW_DATE, "not_future", "the next review must be after today"))
        elif next_review > latest:
            out.append(
                _v(ctx, F.NEXT_REVIEW_DATE, "too_far", f"the next review can be at most {ctx.config.retention.max_retain_years} years ahead ({latest.isoformat()})")
            )
    return out


# --- The request ------------------------------------------------------------------------------


def _is_review(state: IssueState) -> bool:
    return state.tracker is TrackerKey.RETENTION_REVIEW


def reviews_of(request: IssueState, ctx: Context) -> list[IssueState]:
    return sorted(
        (r for r in ctx.related if _is_review(r) and (request.id in r.related_ids or r.id in request.related_ids)), key=lambda r: r.id
    )


def _dating_step(ctx: Context) -> Step | None:
    """The save that decided the current review date: the latest closing, or
    change of category while closed."""
    for step in reversed(ctx.history):
        after, before = step.after, step.before
        closed_with_category = after.status in CLOSED_STATUSES and after.is_set(F.RETENTION_CATEGORY)
        if not closed_with_category:
            continue
        if before is None or before.status not in CLOSED_STATUSES or before.value(F.RETENTION_CATEGORY) != after.value(F.RETENTION_CATEGORY):
            return step
    return None


def derive_for_request(ctx: Context) -> list:
    request = ctx.proposed
    base = review_date_for(request, ctx)
    if base is None or request.date(F.RETENTION_REVIEW_DATE) == base:
        return []
    step = _dating_step(ctx)
    decided_at = step.at if step else None
    # A review completed since (Retain set a later date, Anonymise cleared
    # it) stands: the schedule does not overrule a person's review.
    reviewed_since = [
        r for r in reviews_of(request, ctx)
        if r.status is S.REVIEW_COMPLETED and r.closed_on is not None and (decided_at is None or r.closed_on >= decided_at)
    ]
    if reviewed_since:
        return []
    category = request.value(F.RETENTION_CATEGORY)
    years = ctx.config.retention.category(category).years
    return [
        Once(
            f"retention-date-{step.key if step else 'unknown'}",
            f"Retention review date set to {base.isoformat()}: {category}, {years} years from closing (R-RETENTION).",
            (SetFields(((F.RETENTION_REVIEW_DATE, base.isoformat()),)),),
        )
    ]


def review_actions(ctx: Context) -> list:
    """For a closed request whose review date is near: open exactly one
    review ticket, and post its reminders. Run daily by the scheduler."""
    request, config = ctx.proposed, ctx.config
    review_date = request.date(F.RETENTION_REVIEW_DATE)
    if review_date is None or request.status not in CLOSED_STATUSES or request.flag(F.LEGAL_HOLD):
        return []
    today = ctx.today
    if today < review_date - dt.timedelta(days=config.retention.review_lead_days):
        return []
    open_reviews = [r for r in reviews_of(request, ctx) if r.status is S.REVIEW_DUE]
    if not open_reviews:
        key = f"retention-review-for-{request.id}-{review_date.isoformat()}"
        group = config.names.group(GroupKey.INFORMATION_GOVERNANCE)
        create = CreateLinkedIssue(
            key=key,
            tracker=TrackerKey.RETENTION_REVIEW,
            subject=f"Retention review of request #{request.id}",
            description=(
                f"Information request #{request.id} ({request.value(F.RETENTION_CATEGORY)}) is due for its retention review on "
                f"{review_date.isoformat()}. Decide whether the record is still needed: Retain (with the date of the next "
                "review), Anonymise or Destroy, and record why (R-RETENTION)."
            ),
            fields=(),
            assign=AssignTo(group=GroupKey.INFORMATION_GOVERNANCE),
            note=f"Review opened for {group}, due {review_date.isoformat()} (R-RETENTION).",
            # Redmine wants start <= due; a review opened late starts on its due date.
            start_date=min(today, review_date),
            due_date=review_date,
        )
        return [Once(key, f"The retention review of this request is due on {review_date.isoformat()}; a review has been opened (R-RETENTION).", (create,))]
    review = open_reviews[0]
    due = review.due_date or review_date
    # The day it opened: when Redmine created it, or the start date it was
    # given (the day the job ran, under a controlled clock too).
    opened = [d for d in (review.start_date, ctx.local_date(review.created_on) if review.created_on else None) if d is not None]
    opened_on = max(opened) if opened else None
    reminder = reminder_due(due, today, config, opened_on)
    if reminder is None:
        return []
    return [OnIssue(review.id, (Once(f"reminder-{due.isoformat()}-{reminder}", _reminder_text(reminder, due, today), milestone=Milestone.REVIEW_REMINDER),))]


# --- The review's outcome ------------------------------------------------------------------------


def _completed_by(ctx: Context) -> Step | None:
    for step in reversed(ctx.history):
        if step.after.status is S.REVIEW_COMPLETED and (step.before is None or step.before.status is not S.REVIEW_COMPLETED):
            return step
    return None


def personal_fields(tracker: TrackerKey, keep: tuple[FieldKey, ...]) -> tuple[FieldKey, ...]:
    """The tracker's text fields less those configured to be kept: a field
    added later is removed by default. List, date and yes/no fields (the
    decision record the report counts) are never personal text."""
    return tuple(
        d.key for d in FIELDS.values() if tracker in d.trackers and d.format in (FieldFormat.STRING, FieldFormat.TEXT) and d.key not in keep
    )


def linked_escalations(request: IssueState, ctx: Context) -> list[IssueState]:
    return sorted(
        (r for r in ctx.related if r.tracker is TrackerKey.ESCALATION and (r.id in request.related_ids or request.id in r.related_ids)),
        key=lambda r: r.id,
    )


def _escalations_text(escalations: list[IssueState]) -> str:
    if not escalations:
        return "no linked escalation"
    ids = ", ".join(f"#{e.id}" for e in escalations)
    return f"{len(escalations)} linked escalation{'s' if len(escalations) != 1 else ''} ({ids}) the same way"


def anonymisation(review: IssueState, request: IssueState, ctx: Context, *, keep: tuple[FieldKey, ...], decided_by: str) -> list:
    """Anonymise the request and each escalation linked to it. The request's
    note counts what was removed; its review date is cleared (nothing personal
    is left to review). Not a `Once`: every part is redone from what Redmine
    still holds, so a run cut short is finished by the next."""
    marker = ctx.config.retention.redaction_marker
    escalations = linked_escalations(request, ctx)
    counts = "{fields} text field(s), {notes} note(s) and {attachments} attachment(s) removed, with their old values in the history"
    on_request = Anonymise(
        personal_fields(TrackerKey.INFORMATION_REQUEST, keep),
        marker,
        f"review-{review.id}-anonymised",
        f"Retention review #{review.id}: anonymised on the decision of {decided_by}: subject, description, {counts}; "
        f"{_escalations_text(escalations)}. The decision record's choices and dates are kept (R-RETENTION).",
    )
    actions = [OnIssue(request.id, (SetFields(((F.RETENTION_REVIEW_DATE, None),)), on_request))]
    for escalation in escalations:
        on_escalation = Anonymise(
            personal_fields(TrackerKey.ESCALATION, keep),
            marker,
            f"review-{review.id}-anonymised-escalation",
            f"Anonymised with request #{request.id} under retention review #{review.id}: subject, description, {counts} (R-RETENTION).",
        )
        actions.append(OnIssue(escalation.id, (on_escalation,)))
    return actions


def _record_value(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(f"#{i}" for i in value) or "none"
    return str(value)


def disposal(review: IssueState, request: IssueState, ctx: Context, done_by: Step | None, who: str) -> list:
    """Destroy: one disposal record (every id it removes; no personal data),
    in the audit log and as a note on the review, then the escalations and
    the request deleted: escalations first, so a run cut short still finds
    them through the request."""
    escalations = linked_escalations(request, ctx)
    record = (
        ("request_id", request.id),
        ("escalation_ids", tuple(e.id for e in escalations)),
        ("review_id", review.id),
        ("category", request.value(F.RETENTION_CATEGORY)),
        ("closed_on", ctx.local_date(request.closed_on).isoformat() if request.closed_on else None),
        ("review_date", request.value(F.RETENTION_REVIEW_DATE)),
        ("disposed_on", ctx.today.isoformat()),
        ("authorised_by_user_id", done_by.user_id if done_by else None),
        ("authorised_by", who),
        ("method", ctx.config.retention.destroy.value),
    )
    summary = "; ".join(f"{k}: {_record_value(v)}" for k, v in record)
    note = Once(f"review-{review.id}-disposal", f"Disposal record (R-RETENTION): {summary}.", (RecordDisposal(record),))
    if ctx.config.retention.destroy is DestroyMode.ANONYMISE:
        return [note] + anonymisation(review, request, ctx, keep=(), decided_by=who)
    deletions = [OnIssue(e.id, (DeleteIssue(),)) for e in escalations]
    return [note, *deletions, OnIssue(request.id, (DeleteIssue(),))]


def derive_for_review(ctx: Context) -> list:
    review, config = ctx.proposed, ctx.config
    requests = [r for r in ctx.related if r.tracker is TrackerKey.INFORMATION_REQUEST and r.id in review.related_ids]
    if review.status is not S.REVIEW_COMPLETED or not requests:
        return []
    request = requests[0]
    outcome = review.value(F.REVIEW_OUTCOME)
    done_by = _completed_by(ctx)
    who = ctx.user_name(done_by.user_id) if done_by else "unknown"
    if outcome == ReviewOutcome.RETAIN.value:
        next_review = review.value(F.NEXT_REVIEW_DATE)
        return [
            OnIssue(
                request.id,
                (
                    Once(
                        f"review-{review.id}-retained",
                        f"Retention review #{review.id}: retained by {who}; next review on {next_review} (R-RETENTION).",
                        (SetFields(((F.RETENTION_REVIEW_DATE, next_review),)),),
                    ),
                ),
            )
        ]
    if outcome == ReviewOutcome.ANONYMISE.value:
        return anonymisation(review, request, ctx, keep=config.retention.keep_fields, decided_by=who)
    if outcome == ReviewOutcome.DESTROY.value:
        return disposal(review, request, ctx, done_by, who)
    return []


# --- Legal holds ---------------------------------------------------------------------------------


def hold_set_at(ctx: Context) -> Step | None:
    """The save that set the current hold: the latest that turned it on."""
    if not ctx.proposed.flag(F.LEGAL_HOLD):
        return None
    for step in reversed(ctx.history):
        if step.after.flag(F.LEGAL_HOLD) and (step.before is None or not step.before.flag(F.LEGAL_HOLD)):
            return step
    return None


def hold_review_actions(ctx: Context) -> list:
    """Each hold is put to the governance group once a year from the day it
    was set, recomputed from the dates (a missed year is put once, today)."""
    set_by = hold_set_at(ctx)
    if set_by is None or set_by.at is None:
        return []
    since = ctx.local_date(set_by.at)
    years = full_years(since, ctx.today)
    if years < 1:
        return []
    group = ctx.config.names.group(GroupKey.INFORMATION_GOVERNANCE)
    return [
        Once(
            f"legal-hold-review-{set_by.key}-{years}",
            f"This request has been under legal hold since {since.isoformat()} ({years} year{'s' if years != 1 else ''}). "
            f"{group}: review whether the hold is still needed, and clear it (the request then returns to its retention "
            "schedule) or record in a note why it stays (R-RETENTION).",
            (AssignTo(group=GroupKey.INFORMATION_GOVERNANCE),),
            milestone=Milestone.LEGAL_HOLD_REVIEW,
        )
    ]


def derive(ctx: Context) -> list:
    if ctx.proposed.tracker is TrackerKey.RETENTION_REVIEW:
        return derive_for_review(ctx)
    return derive_for_request(ctx) + review_actions(ctx) + hold_review_actions(ctx)

"""R-RETENTION: information is not kept longer than necessary, agencies follow
their retention schedules, and what is kept is reviewed at regular intervals
(Derby and Derbyshire guidance, golden rule 7; Buckinghamshire code, section 3).

A closed request's `Retention review date` is its closing date plus its
category's period. A `Retention review` ticket opens `review_lead_days` ahead,
assigned to Information governance, with reminders at the configured offsets
and weekly while overdue. Its outcome is carried out on the request: Retain
sets the next review date, Anonymise redacts the personal fields, Destroy
deletes the request after a disposal record is written.
"""

from __future__ import annotations

import datetime as dt

from plugin.policy.model import (
    AssignTo,
    Context,
    CreateLinkedIssue,
    DeleteIssue,
    Milestone,
    OnIssue,
    Once,
    RedactHistory,
    RuleId,
    SetFields,
    SetText,
    Step,
    Violation,
)
from plugin.policy.requirements import CLOSURE_REQUIRED, REVIEW_COMPLETION_REQUIRED
from plugin.domain.configuration import CORE_PERSONAL_FIELDS, Config, DestroyMode
from plugin.domain.names import CLOSED_STATUSES, GroupKey, StatusKey, TrackerKey
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


def review_date_for(request: IssueState, ctx: Context) -> dt.date | None:
    """Closing date plus the category's period, or None if the request is open,
    has no category, or its category is not in the schedule."""
    category = ctx.config.retention.category(request.value(F.RETENTION_CATEGORY) or "")
    if request.status not in CLOSED_STATUSES or request.closed_on is None or category is None:
        return None
    return add_years(ctx.local_date(request.closed_on), category.years)


def reminder_due(review_date: dt.date, today: dt.date, config: Config) -> str | None:
    """The reminder to post today, named for idempotence: the latest offset
    reached (earlier ones missed while nothing ran are not sent late), then
    one a week while overdue."""
    days_left = (review_date - today).days
    if days_left >= 0:
        reached = [o for o in config.retention.reminder_days_before if days_left <= o]
        return f"{min(reached)}-days-before" if reached else None
    weeks = -days_left // config.retention.overdue_reminder_every_days
    return f"overdue-{weeks}" if weeks >= 1 else None


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


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.tracker is TrackerKey.INFORMATION_REQUEST:
        if state.status in CLOSED_STATUSES and not state.is_set(CLOSURE_REQUIRED[0]):
            return [
                _v(ctx, F.RETENTION_CATEGORY, "missing", "record the retention category before closing the request; it decides when the record is reviewed")
            ]
        return []
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
    reminder = reminder_due(due, today, config)
    if reminder is None:
        return []
    return [OnIssue(review.id, (Once(f"reminder-{due.isoformat()}-{reminder}", _reminder_text(reminder, due, today), milestone=Milestone.REVIEW_REMINDER),))]


# --- The review's outcome ------------------------------------------------------------------------


def _completed_by(ctx: Context) -> Step | None:
    for step in reversed(ctx.history):
        if step.after.status is S.REVIEW_COMPLETED and (step.before is None or step.before.status is not S.REVIEW_COMPLETED):
            return step
    return None


def _anonymise(request: IssueState, ctx: Context, fully: bool) -> tuple:
    retention = ctx.config.retention
    marker = retention.redaction_marker
    if fully:
        keys = [d.key for d in FIELDS.values() if TrackerKey.INFORMATION_REQUEST in d.trackers and d.format in (FieldFormat.STRING, FieldFormat.TEXT)]
        core = list(CORE_PERSONAL_FIELDS)
    else:
        keys = [F(k) for k in retention.anonymise_fields if k not in CORE_PERSONAL_FIELDS]
        core = [k for k in retention.anonymise_fields if k in CORE_PERSONAL_FIELDS]
    keys = [k for k in keys if k is not F.APPROVAL_REASON]  # the service's own text, no personal data
    fields = tuple((k, marker) for k in keys if request.is_set(k)) + ((F.RETENTION_REVIEW_DATE, None),)
    text = SetText(subject=marker if "subject" in core else None, description=marker if "description" in core else None)
    return (SetFields(fields), text, RedactHistory(tuple(keys), tuple(core), marker))


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
        return [
            OnIssue(
                request.id,
                (
                    Once(
                        f"review-{review.id}-anonymised",
                        f"Retention review #{review.id}: anonymised on the decision of {who}. Personal details were replaced "
                        "with a redaction marker; the decision record is kept (R-RETENTION).",
                        _anonymise(request, ctx, fully=False),
                    ),
                ),
            )
        ]
    if outcome != ReviewOutcome.DESTROY.value:
        return []
    record = (
        ("request_id", request.id),
        ("review_id", review.id),
        ("category", request.value(F.RETENTION_CATEGORY)),
        ("closed_on", ctx.local_date(request.closed_on).isoformat() if request.closed_on else None),
        ("review_date", request.value(F.RETENTION_REVIEW_DATE)),
        ("disposed_on", ctx.today.isoformat()),
        ("authorised_by_user_id", done_by.user_id if done_by else None),
        ("authorised_by", who),
        ("method", config.retention.destroy.value),
    )
    summary = "; ".join(f"{k}: {v}" for k, v in record)
    note = Once(f"review-{review.id}-disposal", f"Disposal record (R-RETENTION): {summary}.")
    if config.retention.destroy is DestroyMode.ANONYMISE:
        anonymised = Once(f"review-{review.id}-destroyed", "Destroyed by full anonymisation (R-RETENTION).", _anonymise(request, ctx, fully=True))
        return [note, OnIssue(request.id, (anonymised,))]
    # Not inside the Once: the note is written first, and a retry after a
    # crash still deletes.
    return [note, OnIssue(request.id, (DeleteIssue(record),))]


def derive(ctx: Context) -> list:
    if ctx.proposed.tracker is TrackerKey.RETENTION_REVIEW:
        return derive_for_review(ctx)
    return derive_for_request(ctx) + review_actions(ctx)

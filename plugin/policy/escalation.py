"""R-ESCALATION: a disagreement between professionals about the way
information is shared, or about a decision not to share, follows the
partnership's staged escalation and conflict resolution procedure
(Buckinghamshire code, section 4).

Timers are dates kept in Redmine: an Escalation's start date is the day its
current stage began and its due date that plus the stage's timescale in
working days. Both are recomputed on every run, so a restart loses nothing,
and a move to the next stage is done once per overdue stage.
"""

from __future__ import annotations

import datetime as dt

from plugin.policy.model import (
    AddWatcher,
    AssignTo,
    ChangeStatus,
    Context,
    CreateLinkedIssue,
    Milestone,
    OnIssue,
    Once,
    RuleId,
    SetDates,
    SetFields,
    Violation,
)
from plugin.policy.requirements import RESOLUTION_REQUIRED
from plugin.domain.configuration import Config, EscalationStage
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.record import BOOL_FALSE, BOOL_TRUE, EscalationOutcome, FieldKey, IssueState

F = FieldKey
S = StatusKey
_WHAT_TO_DO = {
    F.ESCALATION_OUTCOME: "record how the disagreement ended before resolving the escalation",
    F.AGREED_ACTIONS: "record the actions agreed before resolving the escalation",
}


# --- Stages ---------------------------------------------------------------------------


def stage_of(state: IssueState, config: Config) -> EscalationStage | None:
    label = state.value(F.ESCALATION_STAGE)
    return next((s for s in config.escalation.stages if s.label == label), None)


def first_stage(config: Config, urgent: bool) -> EscalationStage:
    number = config.escalation.urgent_start_stage if urgent else 1
    return config.escalation.stages[number - 1]


def next_stage(stage: EscalationStage, config: Config) -> EscalationStage | None:
    stages = config.escalation.stages
    return stages[stage.number] if stage.number < len(stages) else None


def timescale(stage: EscalationStage, urgent: bool) -> int:
    return stage.urgent_working_days if urgent else stage.working_days


def due_date(started: dt.date, stage: EscalationStage, urgent: bool, ctx: Context) -> dt.date:
    return ctx.calendar.add_working_days(started, timescale(stage, urgent))


# --- Who is who -----------------------------------------------------------------------


def _is_request(state: IssueState) -> bool:
    return state.tracker is TrackerKey.INFORMATION_REQUEST


def _is_open_escalation(state: IssueState) -> bool:
    return state.tracker is TrackerKey.ESCALATION and state.status is S.IN_ESCALATION


def linked_request(ctx: Context) -> IssueState | None:
    """The request an escalation is about: the first related request."""
    requests = [r for r in ctx.related if _is_request(r) and r.id in ctx.proposed.related_ids]
    return min(requests, key=lambda r: r.id) if requests else None


def open_escalations_of(request: IssueState, ctx: Context, *, besides: int | None = None) -> list[IssueState]:
    """Open escalations related to the request, known to this context."""
    found = [
        r
        for r in (*ctx.related, ctx.proposed)
        if _is_open_escalation(r) and r.id != besides and (request.id in r.related_ids or r.id in request.related_ids)
    ]
    unique = {r.id: r for r in found}
    return sorted(unique.values(), key=lambda r: r.id)


def owner(stage: EscalationStage, request: IssueState, ctx: Context) -> AssignTo:
    """Stage owners are groups, except practitioner to practitioner: the
    request's assignee when that is a person, else whoever logged it."""
    if stage.owner_group is not None:
        return AssignTo(group=stage.owner_group)
    if request.assigned_to_id in ctx.principals:
        return AssignTo(user_id=request.assigned_to_id)
    return AssignTo(user_id=request.author_id)


def _stage_actions(stage: EscalationStage, start: dt.date, urgent: bool, request: IssueState, ctx: Context) -> tuple:
    actions: list = [
        SetFields(((F.ESCALATION_STAGE, stage.label),)),
        owner(stage, request, ctx),
        SetDates(start_date=start, due_date=due_date(start, stage, urgent, ctx)),
    ]
    if stage.notify_partnership:
        actions.append(AddWatcher(GroupKey.SAFEGUARDING_PARTNERSHIP))
    return tuple(actions)


def _owner_text(stage: EscalationStage, ctx: Context) -> str:
    return ctx.config.names.group(stage.owner_group) if stage.owner_group else "the practitioner dealing with the request"


# --- Violations -----------------------------------------------------------------------


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.status is not S.ESCALATION_RESOLVED:
        return []
    return [
        Violation(RuleId.ESCALATION, field, "missing", f"{ctx.field_name(field)}: {_WHAT_TO_DO[field]} (R-ESCALATION).")
        for field in RESOLUTION_REQUIRED
        if not state.is_set(field)
    ]


# --- Actions on a request --------------------------------------------------------------


def _raised_step(ctx: Context):
    for step in reversed(ctx.history):
        if step.after.flag(F.DISAGREEMENT_RAISED) and (step.before is None or not step.before.flag(F.DISAGREEMENT_RAISED)):
            return step
    return None


def derive_for_request(ctx: Context) -> list:
    """Disagreement raised on a request opens an Escalation (one at a time)."""
    request = ctx.proposed
    if not request.flag(F.DISAGREEMENT_RAISED) or open_escalations_of(request, ctx):
        return []
    raised = _raised_step(ctx)
    raised_at = raised.at if raised else None
    resolved_since = [
        r
        for r in ctx.related
        if r.tracker is TrackerKey.ESCALATION
        and r.status is S.ESCALATION_RESOLVED
        and request.id in r.related_ids
        and (raised_at is None or (r.closed_on is not None and r.closed_on >= raised_at))
    ]
    if resolved_since:
        # Resolved, but the request was not told (the escalation's own check
        # does this; this catches up if that was missed).
        return list(resolution_on_request(resolved_since[-1], request, ctx, others_open=False))
    stage = first_stage(ctx.config, urgent=False)
    start = ctx.today
    key = f"escalation-for-{request.id}-{raised.key if raised else 'unknown'}"
    create = CreateLinkedIssue(
        key=key,
        tracker=TrackerKey.ESCALATION,
        subject=f"Escalation: disagreement about request #{request.id}",
        description=(
            f"A disagreement about information request #{request.id} is being taken through the escalation and "
            "conflict resolution procedure (R-ESCALATION). Record each stage's discussion in notes and, when it ends, "
            "the outcome and the actions agreed."
        ),
        fields=((F.ESCALATION_STAGE, stage.label), (F.POINTS_OF_DISAGREEMENT, request.value(F.DISAGREEMENT_DETAILS)), (F.URGENT_ESCALATION, BOOL_FALSE)),
        assign=owner(stage, request, ctx),
        note=(
            f"Escalation opened at {stage.label}, owned by {_owner_text(stage, ctx)}, due "
            f"{due_date(start, stage, False, ctx).isoformat()} ({stage.working_days} working days). "
            "The disagreement details were copied from the request (R-ESCALATION)."
        ),
        start_date=start,
        due_date=due_date(start, stage, False, ctx),
    )
    return [
        Once(
            key,
            f"A disagreement was raised, so an Escalation has been opened at {stage.label} and linked to this request "
            "(R-ESCALATION).",
            (create,),
        )
    ]


def resolution_on_request(escalation: IssueState, request: IssueState, ctx: Context, *, others_open: bool) -> tuple[Once, ...]:
    outcome = escalation.value(F.ESCALATION_OUTCOME) or "not recorded"
    clears = () if others_open or not request.flag(F.DISAGREEMENT_RAISED) else (SetFields(((F.DISAGREEMENT_RAISED, BOOL_FALSE),)),)
    return (
        Once(
            f"escalation-{escalation.id}-resolved",
            f"Escalation #{escalation.id} was resolved. Outcome: {outcome}. See its agreed actions (R-ESCALATION).",
            clears,
        ),
    )


# --- Actions on an escalation ---------------------------------------------------------------


def derive_for_escalation(ctx: Context) -> list:
    esc, config = ctx.proposed, ctx.config
    request = linked_request(ctx)
    urgent = esc.flag(F.URGENT_ESCALATION)
    if request is None:
        return []  # nothing to do until it is related to a request
    if esc.status is S.ESCALATION_RESOLVED:
        others = open_escalations_of(request, ctx, besides=esc.id)
        return [OnIssue(request.id, resolution_on_request(esc, request, ctx, others_open=bool(others)))]
    stage = stage_of(esc, config)
    if stage is None or esc.start_date is None:
        return _start(ctx, request, stage, urgent)
    return _keep_time(ctx, request, stage, urgent)


def _start(ctx: Context, request: IssueState, chosen: EscalationStage | None, urgent: bool) -> list:
    """An Escalation a person created and related to a request."""
    esc = ctx.proposed
    earlier = [e for e in open_escalations_of(request, ctx, besides=esc.id) if e.id < esc.id]
    if earlier:
        return [
            Once(
                "escalation-duplicate",
                f"Request #{request.id} already has an open escalation (#{earlier[0].id}); there is one escalation per "
                "disagreement at a time, so this one has been closed. Continue in the open one (R-ESCALATION).",
                (
                    SetFields(((F.ESCALATION_OUTCOME, EscalationOutcome.WITHDRAWN.value), (F.AGREED_ACTIONS, f"Continued in escalation #{earlier[0].id}"))),
                    ChangeStatus(S.ESCALATION_RESOLVED),
                ),
            )
        ]
    stage = chosen or first_stage(ctx.config, urgent)
    copied = () if esc.is_set(F.POINTS_OF_DISAGREEMENT) or not request.is_set(F.DISAGREEMENT_DETAILS) else (
        SetFields(((F.POINTS_OF_DISAGREEMENT, request.value(F.DISAGREEMENT_DETAILS)),)),
    )
    start = ctx.today
    actions: list = [
        Once(
            "escalation-started",
            f"Escalation started at {stage.label}{' (urgent)' if urgent else ''}, owned by {_owner_text(stage, ctx)}, due "
            f"{due_date(start, stage, urgent, ctx).isoformat()} ({timescale(stage, urgent)} working days) (R-ESCALATION).",
            _stage_actions(stage, start, urgent, request, ctx) + copied,
            milestone=Milestone.ESCALATION_STARTED,
        )
    ]
    if not request.flag(F.DISAGREEMENT_RAISED):
        actions.append(
            OnIssue(
                request.id,
                (
                    Once(
                        f"escalation-{esc.id}-opened",
                        f"Escalation #{esc.id} was opened about this request (R-ESCALATION).",
                        (SetFields(((F.DISAGREEMENT_RAISED, BOOL_TRUE),)),),
                    ),
                ),
            )
        )
    return actions


def _last_stage_change(ctx: Context) -> int | None:
    """The index in the history of the latest save that changed the stage."""
    for index in range(len(ctx.history) - 1, -1, -1):
        step = ctx.history[index]
        before = step.before.value(F.ESCALATION_STAGE) if step.before else None
        if step.after.value(F.ESCALATION_STAGE) != before:
            return index
    return None


def _keep_time(ctx: Context, request: IssueState, stage: EscalationStage, urgent: bool) -> list:
    esc, config = ctx.proposed, ctx.config
    changed = _last_stage_change(ctx)
    if changed is not None:
        step = ctx.history[changed]
        handled = any(s.user_id == ctx.service_user_id for s in ctx.history[changed + 1 :])
        if step.user_id != ctx.service_user_id and not handled and step.at is not None:
            # A person moved the stage: it starts the day they did, with its owner.
            moved_on = ctx.local_date(step.at)
            return [
                Once(
                    f"stage-set-{step.key}",
                    f"The stage was set to {stage.label} by hand; it is now owned by {_owner_text(stage, ctx)} and due "
                    f"{due_date(moved_on, stage, urgent, ctx).isoformat()} (R-ESCALATION).",
                    _stage_actions(stage, moved_on, urgent, request, ctx),
                    milestone=Milestone.STAGE_SET_BY_HAND,
                )
            ]
    due = due_date(esc.start_date, stage, urgent, ctx)
    if ctx.today <= due:
        return [] if esc.due_date == due else [SetDates(due_date=due)]
    following = next_stage(stage, config)
    if following is None:
        return [
            Once(
                f"final-stage-overdue-{due.isoformat()}",
                f"{stage.label} was due on {due.isoformat()} and the disagreement is not resolved. This is the last "
                "stage of the procedure: it stays open and is reported to the partnership (R-ESCALATION).",
                milestone=Milestone.FINAL_STAGE_OVERDUE,
            )
        ]
    today = ctx.today
    return [
        Once(
            f"stage-{following.number}-after-{due.isoformat()}",
            f"{stage.label} was due on {due.isoformat()} and the disagreement is not resolved, so it has moved to "
            f"{following.label}, owned by {_owner_text(following, ctx)}, due "
            f"{due_date(today, following, urgent, ctx).isoformat()} (R-ESCALATION).",
            _stage_actions(following, today, urgent, request, ctx),
            milestone=Milestone.STAGE_MOVED,
        )
    ]


def derive(ctx: Context) -> list:
    if ctx.proposed.tracker is TrackerKey.ESCALATION:
        return derive_for_escalation(ctx)
    return derive_for_request(ctx)

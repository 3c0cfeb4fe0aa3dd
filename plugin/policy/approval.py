"""R-APPROVAL: where information is asked for by telephone or electronically
and there is any doubt that the recipient is entitled to it, nothing is shared
without a manager's approval (West Yorkshire procedures, 3.5 Record keeping).

Who recorded what is read from the issue's history (Redmine's journals), never
from a field a person can type.
"""

from __future__ import annotations

import enum
import re
from email.utils import parseaddr

from plugin.policy.model import AssignTo, ChangeStatus, Context, Once, RuleId, SetFields, Step, Violation
from schemas.names import StatusKey
from schemas.record import (
    BOOL_FALSE,
    BOOL_TRUE,
    EMAIL_CHANNELS,
    SHARE_DECISIONS,
    ApprovalDecision,
    FieldKey,
    IdentityCheck,
    IssueState,
    RecipientEntitlement,
)
from schemas.config import Config

F = FieldKey
S = StatusKey
_DOMAIN = re.compile(r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_BEFORE_DECISION = (S.RECEIVED, S.ASSESSING)


class Doubt(str, enum.Enum):
    """Why a request needs approval. The text goes into `Approval reason`: it
    names conditions, never the requester or their address."""

    ENTITLEMENT_IN_DOUBT = "recipient's entitlement in doubt"
    IDENTITY_NOT_CHECKED = "requester's identity not checked"
    UNTRUSTED_DOMAIN = "e-mail domain not on the trusted list"
    INVALID_EMAIL = "e-mail address not valid"


# --- Doubt -------------------------------------------------------------------------


def email_domain(address: str | None) -> str | None:
    """The domain of a plain e-mail address, lower-cased; None if it does
    not parse as one address."""
    if not address:
        return None
    _, parsed = parseaddr(address.strip())
    if parsed != address.strip() or parsed.count("@") != 1:
        return None
    local, domain = parsed.split("@")
    domain = domain.lower()
    return domain if local and _DOMAIN.match(domain) else None


def is_trusted(domain: str, trusted: tuple[str, ...]) -> bool:
    return any(domain == t or domain.endswith("." + t) for t in trusted)


def doubts(state: IssueState, config: Config) -> tuple[Doubt, ...]:
    """The doubts about a request that arrived by an approval channel (none
    for any other channel)."""
    channel = state.value(F.REQUEST_CHANNEL)
    if channel not in {c.value for c in config.approval.channels}:
        return ()
    found = []
    if state.value(F.RECIPIENT_ENTITLEMENT) == RecipientEntitlement.IN_DOUBT.value:
        found.append(Doubt.ENTITLEMENT_IN_DOUBT)
    if state.value(F.IDENTITY_CHECK) == IdentityCheck.NOT_CHECKED.value:
        found.append(Doubt.IDENTITY_NOT_CHECKED)
    if channel in {c.value for c in EMAIL_CHANNELS}:
        domain = email_domain(state.value(F.REQUESTER_EMAIL))
        if domain is None:
            found.append(Doubt.INVALID_EMAIL)
        elif not is_trusted(domain, config.approval.trusted_domains):
            found.append(Doubt.UNTRUSTED_DOMAIN)
    return tuple(found)


def approval_required(state: IssueState, config: Config) -> bool:
    return bool(doubts(state, config))


def approval_reason(state: IssueState, config: Config) -> str:
    found = doubts(state, config)
    if not found:
        return ""
    return f"{state.value(F.REQUEST_CHANNEL)} request: " + "; ".join(d.value for d in found)


# --- Who recorded what --------------------------------------------------------------


def _last_step_where(history: tuple[Step, ...], became) -> Step | None:
    """The latest save after which `became(state)` holds and before which it
    did not."""
    for step in reversed(history):
        if became(step.after) and (step.before is None or not became(step.before)):
            return step
    return None


def _has_share_decision(state: IssueState) -> bool:
    return state.is_one_of(F.DECISION, SHARE_DECISIONS)


def share_decision_recorder(ctx: Context) -> int | None:
    step = _last_step_where(ctx.history, _has_share_decision)
    return step.user_id if step else ctx.proposed.author_id


def approval_step(ctx: Context) -> Step | None:
    """The save that recorded the current approval decision."""
    current = ctx.proposed.value(F.APPROVAL_DECISION)
    if current is None:
        return None
    return _last_step_where(ctx.history, lambda s: s.value(F.APPROVAL_DECISION) == current)


def _approver_role(ctx: Context) -> str:
    return ctx.config.names.role(ctx.config.approval.approver_role)


def approval_problem(ctx: Context) -> str | None:
    """None when the request holds a valid approval, else why not: no approval;
    given by someone without the approver role; or given by the person who
    logged the request or recorded the decision (no self-approval)."""
    if ctx.proposed.value(F.APPROVAL_DECISION) != ApprovalDecision.APPROVED.value:
        return "approval_missing"
    step = approval_step(ctx)
    recorder = step.user_id if step else None
    if not ctx.holds_role(recorder, _approver_role(ctx)):
        return "approver_not_entitled"
    if recorder in (ctx.proposed.author_id, share_decision_recorder(ctx)):
        return "self_approval"
    return None


def override_in_force(state: IssueState) -> bool:
    return state.flag(F.EMERGENCY_OVERRIDE) and state.is_set(F.EMERGENCY_OVERRIDE_REASON)


# --- Violations ---------------------------------------------------------------------


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.APPROVAL, field, code, f"{ctx.field_name(field)}: {what} (R-APPROVAL).")


def _recording_checks(ctx: Context) -> list[Violation]:
    """The save being judged records an approval decision: only the approver
    role may, and nobody approves their own request or decision."""
    step = ctx.step
    if step is None or step.before is None:
        return []
    recorded = step.after.value(F.APPROVAL_DECISION)
    if recorded is None or recorded == step.before.value(F.APPROVAL_DECISION):
        return []
    role = _approver_role(ctx)
    if not ctx.holds_role(step.user_id, role):
        return [_v(ctx, F.APPROVAL_DECISION, "not_approver", f"only a {role} in this project can record an approval decision")]
    if recorded == ApprovalDecision.APPROVED.value and step.user_id in (ctx.proposed.author_id, share_decision_recorder(ctx)):
        return [
            _v(
                ctx,
                F.APPROVAL_DECISION,
                "self_approval",
                "you cannot approve a request you logged or a decision you recorded; another manager must approve it",
            )
        ]
    return []


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    out = _recording_checks(ctx)
    if state.flag(F.EMERGENCY_OVERRIDE) and not state.is_set(F.EMERGENCY_OVERRIDE_REASON):
        out.append(_v(ctx, F.EMERGENCY_OVERRIDE_REASON, "missing", "record why the emergency could not wait for a manager's approval"))
    if out or state.status not in (S.APPROVED, S.SHARED) or not approval_required(state, ctx.config):
        return out
    if state.status is S.SHARED and override_in_force(state):
        return out
    problem = approval_problem(ctx)
    status = ctx.status_name(state.status)
    if problem == "approval_missing":
        out.append(
            _v(
                ctx,
                F.APPROVAL_DECISION,
                "approval_missing",
                f"this request needs a manager's approval before it can be {status} ({approval_reason(state, ctx.config)})",
            )
        )
    elif problem is not None:
        out.append(
            _v(
                ctx,
                F.APPROVAL_DECISION,
                "approval_invalid",
                f"the recorded approval does not count: it must be given by a {_approver_role(ctx)} who did not log the "
                "request or record the decision",
            )
        )
    return out


# --- Actions --------------------------------------------------------------------------


def _step_key(step: Step | None) -> str:
    return step.key if step else "unknown"


def _awaits_routing(config: Config):
    def awaits(state: IssueState) -> bool:
        return (
            state.status in _BEFORE_DECISION
            and _has_share_decision(state)
            and approval_required(state, config)
            and state.value(F.APPROVAL_DECISION) is None
            and not state.flag(F.EMERGENCY_OVERRIDE)
        )

    return awaits


def _awaits_retrospective_approval(config: Config):
    def awaits(state: IssueState) -> bool:
        return (
            state.status is S.SHARED
            and override_in_force(state)
            and approval_required(state, config)
            and state.value(F.APPROVAL_DECISION) is None
        )

    return awaits


def _field_sync(ctx: Context) -> list[SetFields]:
    """The fields the service owns: Approval required and reason, Approved by."""
    state, config = ctx.proposed, ctx.config
    required = approval_required(state, config)
    wanted_flag = BOOL_TRUE if required else (BOOL_FALSE if state.flag(F.APPROVAL_REQUIRED) else state.value(F.APPROVAL_REQUIRED))
    wanted = [(F.APPROVAL_REQUIRED, wanted_flag), (F.APPROVAL_REASON, approval_reason(state, config) or None)]
    valid = state.value(F.APPROVAL_DECISION) == ApprovalDecision.APPROVED.value and approval_problem(ctx) is None
    recorder = approval_step(ctx)
    wanted.append((F.APPROVED_BY, ctx.user_name(recorder.user_id) if valid and recorder else None))
    changed = tuple((key, value) for key, value in wanted if (state.value(key) or None) != (value or None))
    return [SetFields(changed)] if changed else []


def derive(ctx: Context) -> list:
    """What the service does about the request as it now is (`ctx.proposed`
    is the current state, `ctx.history` all its saves)."""
    state, config = ctx.proposed, ctx.config
    actions: list = _field_sync(ctx)
    group = config.approval.approvers_group
    group_name = config.names.group(group)
    decision_by = share_decision_recorder(ctx)

    if _awaits_routing(config)(state):
        trigger = _last_step_where(ctx.history, _awaits_routing(config))
        actions.append(
            Once(
                f"approval-request-{_step_key(trigger)}",
                f"This request needs a manager's approval before anything is shared ({approval_reason(state, config)}), "
                f"so it has been moved to {ctx.status_name(S.AWAITING_APPROVAL)} and assigned to {group_name}. "
                f"A {_approver_role(ctx)} should record the Approval decision (R-APPROVAL).",
                (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=group)),
            )
        )

    decision = state.value(F.APPROVAL_DECISION)
    recorded = approval_step(ctx)
    by_approver = recorded is not None and ctx.holds_role(recorded.user_id, _approver_role(ctx))
    if state.status is S.AWAITING_APPROVAL and decision == ApprovalDecision.APPROVED.value and approval_problem(ctx) is None:
        actions.append(
            Once(
                f"approval-granted-{_step_key(recorded)}",
                f"Approved by {ctx.user_name(recorded.user_id)}. The request has been moved to {ctx.status_name(S.APPROVED)} "
                "and handed back to the practitioner who recorded the decision, who may now share (R-APPROVAL).",
                (ChangeStatus(S.APPROVED), AssignTo(user_id=decision_by)),
            )
        )
    if state.status in (S.AWAITING_APPROVAL, S.ASSESSING) and decision == ApprovalDecision.DECLINED.value and by_approver:
        actions.append(
            Once(
                f"approval-declined-{_step_key(recorded)}",
                f"Approval was declined by {ctx.user_name(recorded.user_id)}; see the Approval notes. The request is back in "
                f"{ctx.status_name(S.ASSESSING)} with the practitioner who recorded the decision: record Do not share, "
                "resolve the doubt, or ask again (R-APPROVAL).",
                (ChangeStatus(S.ASSESSING), AssignTo(user_id=decision_by)),
            )
        )
    if _awaits_retrospective_approval(config)(state):
        trigger = _last_step_where(ctx.history, _awaits_retrospective_approval(config))
        actions.append(
            Once(
                f"retrospective-approval-{_step_key(trigger)}",
                f"Information was shared under an emergency override without a manager's approval "
                f"({approval_reason(state, config)}). {group_name}: please record a retrospective Approval decision; "
                "a reminder follows every working day until it is recorded (R-APPROVAL).",
                (AssignTo(group=group),),
            )
        )
    return actions


def retrospective_reminder(ctx: Context) -> Once | None:
    """Today's reminder that a retrospective approval is outstanding: on every
    working day after the day the override was used, until one is recorded."""
    awaits = _awaits_retrospective_approval(ctx.config)
    if not awaits(ctx.proposed):
        return None
    trigger = _last_step_where(ctx.history, awaits)
    used_on = ctx.local_date(trigger.at) if trigger and trigger.at else None
    today = ctx.today
    if used_on is None or today <= used_on or not ctx.calendar.is_working_day(today):
        return None
    group = ctx.config.names.group(ctx.config.approval.approvers_group)
    return Once(
        f"retrospective-reminder-{today.isoformat()}",
        f"Reminder for {group}: a retrospective approval of the emergency share made on {used_on.isoformat()} is still "
        "outstanding. Record the Approval decision (R-APPROVAL).",
    )

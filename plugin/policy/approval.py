"""R-APPROVAL: where information is asked for by telephone or electronically
and there is any doubt that the recipient is entitled to it, nothing is shared
without a manager's approval (West Yorkshire procedures, 3.5 Record keeping).

Who recorded what is read from the issue's history (Redmine's journals), never
from a field a person can type. An approval holds only for the facts it saw:
the state of the request when it was recorded is in the history, so a later
change to what it approved voids it. Once a share decision was recorded while
approval was needed, the need stays: resolving the doubt afterwards is a
manager's call. An emergency override shares without waiting, from any open
status, and is then put to the managers (and, after a decline, to governance
as an information incident, R-INCIDENT).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from email.utils import parseaddr

from plugin.policy import incident
from plugin.policy.model import AddWatcher, AssignTo, ChangeStatus, Context, Milestone, Once, RuleId, SetFields, Step, Violation
from plugin.domain.configuration import Config
from plugin.domain.names import StatusKey
from plugin.domain.record import (
    BOOL_FALSE,
    BOOL_TRUE,
    EMAIL_CHANNELS,
    SHARE_DECISIONS,
    ApprovalDecision,
    FieldKey,
    IdentityCheck,
    IncidentType,
    IssueState,
    RecipientEntitlement,
    RequestDirection,
)

F = FieldKey
S = StatusKey
_DOMAIN = re.compile(r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_BEFORE_DECISION = (S.RECEIVED, S.ASSESSING)
# Where an approval can still be acted on; once shared or closed, it is history.
_OPEN_FOR_APPROVAL = (S.RECEIVED, S.ASSESSING, S.AWAITING_APPROVAL, S.APPROVED)

# Directions in which someone outside receives what we share (DOMAIN.md v2):
# an outgoing request asks another agency, and discloses nothing.
APPROVAL_DIRECTIONS = frozenset({RequestDirection.INCOMING.value, RequestDirection.PROACTIVE.value})

# R-APPROVAL 4: the facts an approval was given on. Any change afterwards voids it.
APPROVED_FACTS = (
    F.REQUEST_CHANNEL,
    F.REQUESTER_NAME,
    F.REQUESTER_ORGANISATION,
    F.REQUESTER_EMAIL,
    F.REQUESTER_PHONE,
    F.IDENTITY_CHECK,
    F.RECIPIENT_ENTITLEMENT,
    F.INFORMATION_REQUESTED,
    F.PURPOSE_OF_SHARING,
    F.DECISION,
)
# ...and these, once they had a value: filling them in when sharing is not a change.
APPROVED_ONCE_SET = (F.SHARED_WITH, F.CASE_REFERENCE)

# The fields whose past values the rules read (these, through `analyse`; no
# other rule looks at a field's history). The gate is told their journal
# details and no others, so its question does not grow with the edits people
# make to anything else (tests/unit/test_gate_history.py checks the list).
HISTORY_FIELDS = tuple(
    dict.fromkeys((F.REQUEST_DIRECTION, *APPROVED_FACTS, *APPROVED_ONCE_SET, F.APPROVAL_DECISION, F.EMERGENCY_OVERRIDE, F.EMERGENCY_OVERRIDE_REASON))
)


class Doubt(str, enum.Enum):
    """Why a request needs approval. The text goes into `Approval reason`: it
    names conditions, never the requester or their address."""

    ENTITLEMENT_IN_DOUBT = "recipient's entitlement in doubt"
    IDENTITY_NOT_CHECKED = "requester's identity not checked"
    UNTRUSTED_DOMAIN = "e-mail domain not on the trusted list"
    INVALID_EMAIL = "e-mail address not valid"


class Problem(str, enum.Enum):
    """Why the request's approval does not count (None: it does)."""

    MISSING = "approval_missing"
    DECLINED = "approval_declined"
    NOT_ENTITLED = "approver_not_entitled"
    SELF_APPROVAL = "self_approval"
    BEFORE_DECISION = "approval_before_decision"
    VOID = "approval_void"


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


def doubts(
    state: IssueState,
    config: Config,
    *,
    directions: frozenset[str] | None = None,
    channels: frozenset[str] | None = None,
) -> tuple[Doubt, ...]:
    """The doubts about a request that reached us by an approval channel, in
    a direction that discloses to someone outside (none otherwise).
    `directions` and `channels` are every value the request has had (its
    history): relabelling a phone request "In person", or an incoming one
    "Outgoing", does not change how it arrived. A proactive disclosure has no
    requester, so its only doubt is the recipient's entitlement."""
    directions = directions if directions is not None else frozenset({state.value(F.REQUEST_DIRECTION) or RequestDirection.INCOMING.value})
    channels = channels if channels is not None else frozenset({state.value(F.REQUEST_CHANNEL)} - {None})
    approval_channels = {c.value for c in config.approval.channels}
    if not directions & APPROVAL_DIRECTIONS or not channels & approval_channels:
        return ()
    found = []
    if state.value(F.RECIPIENT_ENTITLEMENT) == RecipientEntitlement.IN_DOUBT.value:
        found.append(Doubt.ENTITLEMENT_IN_DOUBT)
    if RequestDirection.INCOMING.value not in directions:
        return tuple(found)
    if state.value(F.IDENTITY_CHECK) == IdentityCheck.NOT_CHECKED.value:
        found.append(Doubt.IDENTITY_NOT_CHECKED)
    if channels & approval_channels & {c.value for c in EMAIL_CHANNELS}:
        domain = email_domain(state.value(F.REQUESTER_EMAIL))
        if domain is None:
            found.append(Doubt.INVALID_EMAIL)
        elif not is_trusted(domain, config.approval.trusted_domains):
            found.append(Doubt.UNTRUSTED_DOMAIN)
    return tuple(found)


def approval_reason(state: IssueState, config: Config) -> str:
    """The reason for one state alone (without its history)."""
    found = doubts(state, config)
    return f"{state.value(F.REQUEST_CHANNEL)} request: " + "; ".join(d.value for d in found) if found else ""


def override_in_force(state: IssueState) -> bool:
    return state.flag(F.EMERGENCY_OVERRIDE) and state.is_set(F.EMERGENCY_OVERRIDE_REASON)


def _has_share_decision(state: IssueState) -> bool:
    return state.is_one_of(F.DECISION, SHARE_DECISIONS)


def _approver_role(ctx: Context) -> str:
    return ctx.config.names.role(ctx.config.approval.approver_role)


# --- What the history says ------------------------------------------------------------


def _steps(ctx: Context) -> tuple[Step, ...]:
    """The saves so far; without a known history, the state itself as one save."""
    return ctx.history or (Step("current", ctx.actor.id, "", ctx.previous, ctx.proposed),)


def _changed(step: Step, key: FieldKey) -> bool:
    before = step.before.value(key) if step.before is not None else None
    return step.after.value(key) != before


def _entered(step: Step, status: StatusKey) -> bool:
    return step.after.status is status and (step.before is None or step.before.status is not status)


@dataclasses.dataclass(frozen=True)
class Approval:
    """What the request's history says about its approval, read once per rule."""

    steps: tuple[Step, ...]
    required: bool
    reason: str
    # The latest save that set or changed the Decision, and everyone who ever
    # did (with the author): none of them may approve it.
    decision_index: int | None
    deciders: frozenset[int]
    # The save that recorded the current Approval decision.
    recorded_index: int | None
    problem: Problem | None
    void_fields: tuple[FieldKey, ...] = ()

    @property
    def recorded(self) -> Step | None:
        return self.steps[self.recorded_index] if self.recorded_index is not None else None

    @property
    def decided_by(self) -> int | None:
        return self.steps[self.decision_index].user_id if self.decision_index is not None else None

    @property
    def valid(self) -> bool:
        return self.problem is None


def _seen(steps: tuple[Step, ...], key: FieldKey, default: str | None = None) -> frozenset[str]:
    return frozenset(step.after.value(key) or default for step in steps) - {None}


def _arrival_channel(state: IssueState, channels: frozenset[str], config: Config) -> str | None:
    """The approval channel the request arrived by: its own, or an earlier one."""
    approval_channels = [c.value for c in config.approval.channels]
    current = state.value(F.REQUEST_CHANNEL)
    return current if current in approval_channels else next((c for c in approval_channels if c in channels), current)


def analyse(ctx: Context) -> Approval:
    state, config = ctx.proposed, ctx.config
    steps = _steps(ctx)
    directions = _seen(steps, F.REQUEST_DIRECTION, RequestDirection.INCOMING.value)
    channels = _seen(steps, F.REQUEST_CHANNEL)

    def doubts_of(s: IssueState) -> tuple[Doubt, ...]:
        return doubts(s, config, directions=directions, channels=channels)

    channel = _arrival_channel(state, channels, config)
    now = doubts_of(state)
    # R-APPROVAL 5: the need sticks once a share decision was recorded with doubt.
    at_decision = next((found for s in steps if _has_share_decision(s.after) and (found := doubts_of(s.after))), ())
    if now:
        reason = f"{channel} request: " + "; ".join(d.value for d in now)
    elif at_decision:
        reason = f"{channel} request: " + "; ".join(d.value for d in at_decision) + " (when the share decision was recorded)"
    else:
        reason = ""

    decision_index, deciders = None, {state.author_id} - {None}
    for index, step in enumerate(steps):
        if _changed(step, F.DECISION):
            decision_index = index
            deciders.add(step.user_id)
    deciders.discard(None)

    current = state.value(F.APPROVAL_DECISION)
    recorded_index = None
    if current is not None:
        recorded_index = next(
            (i for i in range(len(steps) - 1, -1, -1) if steps[i].after.value(F.APPROVAL_DECISION) == current and _changed(steps[i], F.APPROVAL_DECISION)),
            None,
        )
    base = Approval(steps, bool(now or at_decision), reason, decision_index, frozenset(deciders), recorded_index, None)
    problem, void = _problem(ctx, base)
    return dataclasses.replace(base, problem=problem, void_fields=void)


def _problem(ctx: Context, a: Approval) -> tuple[Problem | None, tuple[FieldKey, ...]]:
    """None when the request holds a valid approval, else why not: none, a
    decline, given by someone without the approver role, given by someone who
    logged the request or recorded or changed its decision (no
    self-approval), given before there was a share decision to approve, or
    given on facts that have changed since (R-APPROVAL 3, 4 and 6)."""
    current = ctx.proposed.value(F.APPROVAL_DECISION)
    if current == ApprovalDecision.DECLINED.value:
        return Problem.DECLINED, ()
    if current != ApprovalDecision.APPROVED.value:
        return Problem.MISSING, ()
    recorded = a.recorded
    recorder = recorded.user_id if recorded else None
    if not ctx.holds_role(recorder, _approver_role(ctx), at=recorded.at if recorded else None):
        return Problem.NOT_ENTITLED, ()
    if recorder in a.deciders:
        return Problem.SELF_APPROVAL, ()
    seen = recorded.after
    if not _has_share_decision(seen):
        return Problem.BEFORE_DECISION, ()
    changed = _changed_since_approval(ctx.proposed, seen, a.steps[a.recorded_index + 1 :])
    return (Problem.VOID, changed) if changed else (None, ())


def _changed_since_approval(state: IssueState, seen: IssueState, later: tuple[Step, ...]) -> tuple[FieldKey, ...]:
    """The approved facts changed after the approval (R-APPROVAL 4): by any
    save since, not only as they now stand, so a fact changed and changed
    back (a walk-round tried in a second) still voids it."""

    def changed(key: FieldKey) -> bool:
        return state.value(key) != seen.value(key) or any(_changed(step, key) for step in later)

    return tuple(k for k in APPROVED_FACTS if changed(k)) + tuple(k for k in APPROVED_ONCE_SET if seen.is_set(k) and changed(k))


def share_decision_recorder(ctx: Context) -> int | None:
    """Who made the request's current decision: the practitioner it goes back to."""
    decided_by = analyse(ctx).decided_by
    return decided_by if decided_by is not None else ctx.proposed.author_id


# --- Violations ---------------------------------------------------------------------


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.APPROVAL, field, code, f"{ctx.field_name(field)}: {what} (R-APPROVAL).")


def _field_list(ctx: Context, keys: tuple[FieldKey, ...]) -> str:
    return ", ".join(ctx.field_name(k) for k in keys)


def _recording_checks(ctx: Context, a: Approval) -> list[Violation]:
    """The save being judged records an approval decision: only the approver
    role may; nobody approves a request they logged or a decision they made;
    and there must be a share decision to approve."""
    step = ctx.step
    if step is None or step.before is None or not _changed(step, F.APPROVAL_DECISION):
        return []
    recorded = step.after.value(F.APPROVAL_DECISION)
    if recorded is None:
        return []
    role = _approver_role(ctx)
    if not ctx.holds_role(step.user_id, role, at=step.at):
        return [_v(ctx, F.APPROVAL_DECISION, "not_approver", f"only a {role} in this project can record an approval decision")]
    if recorded != ApprovalDecision.APPROVED.value:
        return []
    if step.user_id in a.deciders:
        return [
            _v(
                ctx,
                F.APPROVAL_DECISION,
                "self_approval",
                "you cannot approve a request you logged or a decision you recorded or changed; another manager must approve it",
            )
        ]
    if not _has_share_decision(step.after):
        return [_v(ctx, F.APPROVAL_DECISION, "no_decision", "there is no share decision to approve yet; approve once the decision is recorded")]
    return []


def _problem_message(ctx: Context, a: Approval, status: str, entering: bool) -> tuple[str, str]:
    """The violation's code and what to do, for an approval that does not count."""
    role = _approver_role(ctx)
    if a.problem is Problem.MISSING:
        return "approval_missing", f"this request needs a manager's approval before it can be {status} ({a.reason})"
    if a.problem is Problem.DECLINED:
        return (
            "approval_declined",
            f"a manager declined approval, so the request cannot be {status} unless a {role} approves it again, "
            "or an emergency override is recorded with its reason",
        )
    if a.problem is Problem.BEFORE_DECISION:
        return "approval_before_decision", f"the approval was recorded before the share decision; a {role} must approve the decision as it now stands"
    if a.problem is Problem.VOID and not entering and ctx.proposed.status is S.SHARED:
        # Already shared: no new approval can cover what was disclosed.
        them, they_record, they_were = ("it", "it records", "it was") if len(a.void_fields) == 1 else ("them", "they record", "they were")
        return (
            "approval_void",
            f"{_field_list(ctx, a.void_fields)} cannot be changed now that the request is {status}: the approval was given on "
            f"{them} and {they_record} what was disclosed; put {them} back as {they_were} and write any correction in a note",
        )
    if a.problem is Problem.VOID:
        return (
            "approval_void",
            f"the approval no longer counts because {_field_list(ctx, a.void_fields)} changed after it was given; "
            f"a {role} must approve the request again before it can be {status}",
        )
    return (
        "approval_invalid",
        f"the recorded approval does not count: it must be given by a {role} who did not log the request or record or change the decision",
    )


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    a = analyse(ctx)
    out = _recording_checks(ctx, a)
    if state.flag(F.EMERGENCY_OVERRIDE) and not state.is_set(F.EMERGENCY_OVERRIDE_REASON):
        out.append(_v(ctx, F.EMERGENCY_OVERRIDE_REASON, "missing", "record why the emergency could not wait for a manager's approval"))
    if out or state.status not in (S.APPROVED, S.SHARED) or not a.required or a.valid:
        return out
    if state.status is S.SHARED and override_in_force(state):
        return out
    step = ctx.step
    entering = step is not None and (step.before is None or step.before.status is not state.status) or (step is None and not ctx.at_rest)
    if state.status is S.APPROVED and a.problem is Problem.VOID and not entering:
        # A fact changed while Approved: not refused, but the approval is
        # void and the service puts the request back to the managers.
        return out
    code, what = _problem_message(ctx, a, ctx.status_name(state.status), entering)
    out.append(_v(ctx, F.APPROVAL_DECISION, code, what))
    return out


# --- Actions --------------------------------------------------------------------------


def _field_sync(ctx: Context, a: Approval) -> list[SetFields]:
    """The fields the service owns: Approval required and reason, Approved by."""
    state = ctx.proposed
    wanted_flag = BOOL_TRUE if a.required else (BOOL_FALSE if state.flag(F.APPROVAL_REQUIRED) else state.value(F.APPROVAL_REQUIRED))
    wanted = [(F.APPROVAL_REQUIRED, wanted_flag), (F.APPROVAL_REASON, a.reason or None)]
    wanted.append((F.APPROVED_BY, ctx.user_name(a.recorded.user_id) if a.valid and a.recorded else None))
    changed = tuple((key, value) for key, value in wanted if (state.value(key) or None) != (value or None))
    return [SetFields(changed)] if changed else []


def _awaits_routing(state: IssueState, a: Approval) -> bool:
    # An approval about to be voided is as good as none: the request is
    # routed in the same update that clears it.
    no_approval = state.value(F.APPROVAL_DECISION) is None or a.problem in (Problem.VOID, Problem.BEFORE_DECISION)
    return state.status in _BEFORE_DECISION and _has_share_decision(state) and a.required and no_approval and not state.flag(F.EMERGENCY_OVERRIDE)


def _routing(ctx: Context, a: Approval) -> list[Once]:
    if not _awaits_routing(ctx.proposed, a):
        return []
    config = ctx.config
    group = config.approval.approvers_group
    # Named for the latest save that changed the decision, the approval
    # decision or the status: the same routing is done once, a request put
    # back before a decision (or decided anew) is routed again.
    trigger = next(
        (s for s in reversed(a.steps) if _changed(s, F.DECISION) or _changed(s, F.APPROVAL_DECISION) or s.before is None or s.before.status is not s.after.status),
        a.steps[-1],
    )
    return [
        Once(
            f"approval-request-{trigger.key}",
            f"This request needs a manager's approval before anything is shared ({a.reason}), "
            f"so it has been moved to {ctx.status_name(S.AWAITING_APPROVAL)} and assigned to {config.names.group(group)}. "
            f"A {_approver_role(ctx)} should record the Approval decision (R-APPROVAL).",
            (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=group)),
        )
    ]


def _void(ctx: Context, a: Approval) -> list[Once]:
    """R-APPROVAL 4: an approval recorded on facts that have changed since, or
    before there was a decision, is cleared; a request on its way to sharing
    goes back to the managers."""
    state, config = ctx.proposed, ctx.config
    if a.problem not in (Problem.VOID, Problem.BEFORE_DECISION) or state.status not in _OPEN_FOR_APPROVAL:
        return []
    group = config.approval.approvers_group
    recorded = a.recorded
    if a.problem is Problem.VOID:
        why = f"{_field_list(ctx, a.void_fields)} changed after it was given"
    else:
        why = "it was recorded before there was a share decision to approve"
    actions: tuple = (SetFields(((F.APPROVAL_DECISION, None), (F.APPROVED_BY, None))),)
    where = ""
    if state.status in (S.APPROVED, S.AWAITING_APPROVAL):
        actions += (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=group))
        where = f" The request is in {ctx.status_name(S.AWAITING_APPROVAL)} with {config.names.group(group)}."
    return [
        Once(
            f"approval-void-{recorded.key}",
            f"The approval recorded by {ctx.user_name(recorded.user_id)} no longer counts: {why}.{where} "
            f"A {_approver_role(ctx)} must record the Approval decision again before anything is shared (R-APPROVAL).",
            actions,
        )
    ]


def _approved_without_approval(ctx: Context, a: Approval) -> list[Once]:
    """A request in Approved whose approval does not count for another reason
    (it got past the gate) goes back to the managers."""
    state = ctx.proposed
    if state.status is not S.APPROVED or not a.required or a.valid or a.problem in (Problem.VOID, Problem.BEFORE_DECISION, Problem.DECLINED):
        return []
    entered = next((s for s in reversed(a.steps) if _entered(s, S.APPROVED)), a.steps[-1])
    group = ctx.config.approval.approvers_group
    return [
        Once(
            f"approved-without-approval-{entered.key}",
            f"This request is {ctx.status_name(S.APPROVED)} without an approval that counts, so it has been put back in "
            f"{ctx.status_name(S.AWAITING_APPROVAL)} with {ctx.config.names.group(group)} (R-APPROVAL).",
            (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=group)),
        )
    ]


def _granted_or_declined(ctx: Context, a: Approval) -> list[Once]:
    state = ctx.proposed
    recorded = a.recorded
    decision = state.value(F.APPROVAL_DECISION)
    decided_by = share_decision_recorder(ctx)
    if state.status is S.AWAITING_APPROVAL and a.valid and recorded is not None:
        return [
            Once(
                f"approval-granted-{recorded.key}",
                f"Approved by {ctx.user_name(recorded.user_id)}. The request has been moved to {ctx.status_name(S.APPROVED)} "
                "and handed back to the practitioner who recorded the decision, who may now share (R-APPROVAL).",
                (ChangeStatus(S.APPROVED), AssignTo(user_id=decided_by)),
            )
        ]
    by_approver = recorded is not None and ctx.holds_role(recorded.user_id, _approver_role(ctx), at=recorded.at)
    after_decision = a.decision_index is None or (a.recorded_index is not None and a.recorded_index > a.decision_index)
    if state.status in (S.AWAITING_APPROVAL, S.ASSESSING, S.APPROVED) and decision == ApprovalDecision.DECLINED.value and by_approver and after_decision:
        return [
            Once(
                f"approval-declined-{recorded.key}",
                f"Approval was declined by {ctx.user_name(recorded.user_id)}; see the Approval notes. The request is back in "
                f"{ctx.status_name(S.ASSESSING)} with the practitioner who recorded the decision: record Do not share, or ask "
                f"a manager again by moving it to {ctx.status_name(S.AWAITING_APPROVAL)}. Sharing now needs a new approval, "
                "or an emergency override (R-APPROVAL).",
                (ChangeStatus(S.ASSESSING), AssignTo(user_id=decided_by)),
            )
        ]
    return []


# --- Emergency override (R-APPROVAL 7) ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Override:
    """A share made under an emergency override while approval was needed."""

    index: int  # the save that entered Shared
    declined_by: int | None  # the manager whose decline it overrode, if any
    # The approval decision recorded since (the retrospective one), if any.
    retrospective_index: int | None

    def step(self, a: Approval) -> Step:
        return a.steps[self.index]


def emergency_share(ctx: Context, a: Approval) -> Override | None:
    """The latest save that shared under an emergency override without an
    approval that counted at the time, while approval was needed."""
    if not a.required:
        return None
    steps = a.steps
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if not (_entered(step, S.SHARED) and override_in_force(step.after)):
            continue
        if (analyse(ctx.at_step(index)) if ctx.history else a).valid:
            return None  # approved anyway; the override was not needed
        before = step.before
        declined_by = None
        if before is not None and before.value(F.APPROVAL_DECISION) == ApprovalDecision.DECLINED.value:
            declined_at = next(
                (i for i in range(index - 1, -1, -1) if steps[i].after.value(F.APPROVAL_DECISION) == ApprovalDecision.DECLINED.value and _changed(steps[i], F.APPROVAL_DECISION)),
                None,
            )
            declined_by = steps[declined_at].user_id if declined_at is not None else None
        role = _approver_role(ctx)
        retrospective = next(
            (
                i
                for i in range(len(steps) - 1, index, -1)
                if _changed(steps[i], F.APPROVAL_DECISION)
                and steps[i].after.value(F.APPROVAL_DECISION) is not None
                and ctx.holds_role(steps[i].user_id, role, at=steps[i].at)
            ),
            None,
        )
        return Override(index, declined_by, retrospective)
    return None


def _awaits_retrospective_approval(ctx: Context, a: Approval) -> Override | None:
    override = emergency_share(ctx, a)
    return override if override is not None and override.retrospective_index is None and ctx.proposed.status is S.SHARED else None


def _after_override(ctx: Context, a: Approval) -> list[Once]:
    override = emergency_share(ctx, a)
    if override is None:
        return []
    config = ctx.config
    group = config.approval.approvers_group
    group_name = config.names.group(group)
    shared = override.step(a)
    out: list[Once] = []
    if override.retrospective_index is None and ctx.proposed.status is S.SHARED:
        # A decline (or an approval that no longer counts) is cleared, so the
        # managers record the retrospective decision afresh; the journals keep
        # the earlier one.
        earlier = ctx.proposed.value(F.APPROVAL_DECISION) is not None
        clear = (SetFields(((F.APPROVAL_DECISION, None), (F.APPROVED_BY, None))),) if earlier else ()
        out.append(
            Once(
                f"retrospective-approval-{shared.key}",
                f"Information was shared under an emergency override without a manager's approval ({a.reason}). "
                f"{group_name}: please record a retrospective Approval decision; a reminder follows every working day "
                "until it is recorded (R-APPROVAL).",
                clear + (AssignTo(group=group),),
            )
        )
    request = ctx.proposed
    if override.declined_by is not None:
        manager = ctx.user_name(override.declined_by) or "the manager who declined"
        opened = incident.opened_by_service(
            ctx, request, IncidentType.OVERRIDE_OF_DECLINED_APPROVAL, shared.at or ctx.now,
            f"Request #{request.id} was shared under an emergency override after {manager} had declined approval.",
        )
        out.append(
            Once(
                f"override-after-decline-{shared.key}",
                f"{manager} declined approval of this request; it was then shared under an emergency override by "
                f"{ctx.user_name(shared.user_id) or 'a practitioner'}. {manager} has been added as a watcher, the managers "
                "have been asked for a retrospective approval, and an information incident has been opened for "
                f"{config.names.group(incident.INCIDENT_OWNER)} (R-APPROVAL, R-INCIDENT).",
                (AddWatcher(user_id=override.declined_by), opened),
            )
        )
    if override.retrospective_index is not None:
        decided = a.steps[override.retrospective_index]
        if decided.after.value(F.APPROVAL_DECISION) == ApprovalDecision.DECLINED.value:
            opened = incident.opened_by_service(
                ctx, request, IncidentType.RETROSPECTIVE_APPROVAL_DECLINED, decided.at or ctx.now,
                f"The retrospective approval of an emergency share of request #{request.id} was declined.",
            )
            out.append(
                Once(
                    f"retrospective-declined-{decided.key}",
                    f"The retrospective approval of the emergency share was declined by {ctx.user_name(decided.user_id)}, so an "
                    f"information incident has been opened for {config.names.group(incident.INCIDENT_OWNER)} (R-APPROVAL, R-INCIDENT).",
                    (opened,),
                )
            )
    return out


def _shared_without_approval(ctx: Context, a: Approval) -> list[Once]:
    """A share recorded without a valid approval or an override got past the
    gate (it was down, or the record was changed behind Redmine's back): an
    information incident for governance (R-INCIDENT), once per request."""
    if not a.required or not ctx.history:
        return []
    index = next((i for i in range(len(a.steps) - 1, -1, -1) if _entered(a.steps[i], S.SHARED)), None)
    if index is None:
        return []
    step = a.steps[index]
    at_share = analyse(ctx.at_step(index))
    if not at_share.required or at_share.valid or override_in_force(step.after):
        return []
    request = ctx.proposed
    opened = incident.opened_by_service(
        ctx, request, IncidentType.SHARED_WITHOUT_APPROVAL, ctx.now,
        f"Request #{request.id} was recorded as shared without a manager's approval that counts, or an emergency override.",
    )
    return [
        Once(
            f"shared-without-approval-{step.key}",
            f"This request was recorded as shared without a manager's approval that counts ({a.reason}) and without an "
            f"emergency override, so an information incident has been opened for {ctx.config.names.group(incident.INCIDENT_OWNER)} "
            "(R-APPROVAL, R-INCIDENT).",
            (opened,),
        )
    ]


def derive(ctx: Context) -> list:
    """What the service does about the request as it now is (`ctx.proposed`
    is the current state, `ctx.history` all its saves)."""
    a = analyse(ctx)
    return (
        _field_sync(ctx, a)
        + _routing(ctx, a)
        + _void(ctx, a)
        + _approved_without_approval(ctx, a)
        + _granted_or_declined(ctx, a)
        + _after_override(ctx, a)
        + _shared_without_approval(ctx, a)
    )


def retrospective_reminder(ctx: Context) -> Once | None:
    """Today's reminder that a retrospective approval is outstanding: on every
    working day after the day the override was used, until one is recorded."""
    a = analyse(ctx)
    override = _awaits_retrospective_approval(ctx, a)
    if override is None:
        return None
    shared = override.step(a)
    used_on = ctx.local_date(shared.at) if shared.at else None
    today = ctx.today
    if used_on is None or today <= used_on or not ctx.calendar.is_working_day(today):
        return None
    group = ctx.config.names.group(ctx.config.approval.approvers_group)
    return Once(
        f"retrospective-reminder-{today.isoformat()}",
        f"Reminder for {group}: a retrospective approval of the emergency share made on {used_on.isoformat()} is still "
        "outstanding. Record the Approval decision (R-APPROVAL).",
        milestone=Milestone.RETROSPECTIVE_REMINDER,
    )

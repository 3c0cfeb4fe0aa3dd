"""R-OUTCOME: the closing status matches the decision, and a recipient who is
not entitled is never shared with (West Yorkshire procedures 3.5)."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.domain.names import StatusKey
from plugin.domain.record import SHARE_DECISIONS, ApprovalDecision, Decision, FieldKey, RecipientEntitlement

F = FieldKey
# Statuses on the way to, or at, a share.
_SHARING_STATUSES = (StatusKey.APPROVED, StatusKey.SHARED)


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.OUTCOME, field, code, f"{ctx.field_name(field)}: {what} (R-OUTCOME).")


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    out = []
    if state.status is StatusKey.SHARED and state.is_set(F.DECISION) and not state.is_one_of(F.DECISION, SHARE_DECISIONS):
        out.append(
            _v(ctx, F.DECISION, "not_a_share", f"a request can be {ctx.status_name(StatusKey.SHARED)} only when the decision is Share or Share in part")
        )
    declined = state.value(F.APPROVAL_DECISION) == ApprovalDecision.DECLINED.value
    if state.status is StatusKey.NOT_SHARED and state.is_set(F.DECISION) and state.value(F.DECISION) != Decision.DO_NOT_SHARE.value and not declined:
        out.append(
            _v(
                ctx,
                F.DECISION,
                "not_a_refusal",
                f"a request can be {ctx.status_name(StatusKey.NOT_SHARED)} only when the decision is Do not share or a manager declined approval",
            )
        )
    if state.value(F.RECIPIENT_ENTITLEMENT) == RecipientEntitlement.NOT_ENTITLED.value and (
        state.is_one_of(F.DECISION, SHARE_DECISIONS) or state.status in _SHARING_STATUSES
    ):
        out.append(
            _v(
                ctx,
                F.RECIPIENT_ENTITLEMENT,
                "not_entitled",
                "the recipient is recorded as not entitled to this information, so it must not be shared with them; "
                "record Do not share, or correct the entitlement if it was wrong",
            )
        )
    return out

"""R-DECISION: record the decision and the reasons for it, whether or not you
share (golden rule 7 in every seed; West Yorkshire procedures 3.5;
Buckinghamshire code, appendix 1 question 7)."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.policy.requirements import DECISION_REQUIRED, DECISION_STATUSES
from plugin.domain.record import FieldKey

F = FieldKey

_WHAT_TO_DO = {
    F.DECISION: "record your decision (Share, Share in part or Do not share)",
    F.DECISION_REASONS: "record the reasons for your decision, whether or not you share",
    F.LAWFUL_BASIS: "record the lawful basis for the decision",
    F.CONSENT_STATUS: "record whether consent was given, refused, withdrawn or not sought",
    F.RISK_LEVEL: "record your assessment of the risk to the child",
    F.SUBJECT_INFORMED: "record whether the person the information is about has been told",
}


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.status not in DECISION_STATUSES:
        return []
    status = ctx.status_name(state.status)
    return [
        Violation(
            RuleId.DECISION,
            field,
            "missing",
            f"{ctx.field_name(field)}: before the request can be {status}, {_WHAT_TO_DO[field]} (R-DECISION).",
        )
        for field in DECISION_REQUIRED
        if not state.is_set(field)
    ]

"""R-DECISION: record the decision and the reasons for it, whether or not you
share (golden rule 7 in every seed; West Yorkshire procedures 3.5;
Buckinghamshire code, appendix 1 question 7). A decision to share also records
its lawful footing (v2); a refusal discloses nothing, so it is not asked for
a lawful basis or consent."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.policy.requirements import DECISION_REQUIRED, DECISION_STATUSES, SHARE_DECISION_REQUIRED
from plugin.domain.record import SHARE_DECISIONS, ConsentStatus, Decision, FieldKey, LawfulBasis

F = FieldKey

_WHAT_TO_DO = {
    F.DECISION: "record your decision (Share, Share in part or Do not share)",
    F.DECISION_REASONS: "record the reasons for your decision, whether or not you share",
    F.RISK_LEVEL: "record your assessment of the risk to the child",
    F.LAWFUL_BASIS: "record the lawful basis for sharing",
    F.SPECIAL_CATEGORY_CONDITION: "record the condition for sharing special category data, or that there is none",
    F.CONSENT_STATUS: "record whether consent was given, refused, withdrawn or not sought",
    F.SUBJECT_INFORMED: "record whether the person the information is about has been told",
}


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    status = ctx.status_name(ctx.proposed.status)
    return Violation(RuleId.DECISION, field, code, f"{ctx.field_name(field)}: before the request can be {status}, {what} (R-DECISION).")


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.status not in DECISION_STATUSES:
        return []
    out = [_v(ctx, f, "missing", _WHAT_TO_DO[f]) for f in DECISION_REQUIRED if not state.is_set(f)]
    if not state.is_one_of(F.DECISION, SHARE_DECISIONS):
        return out
    out += [_v(ctx, f, "missing", _WHAT_TO_DO[f]) for f in SHARE_DECISION_REQUIRED if not state.is_set(f)]
    # A share always has a lawful basis, and consent is always considered.
    if state.value(F.LAWFUL_BASIS) == LawfulBasis.NOT_APPLICABLE.value:
        out.append(_v(ctx, F.LAWFUL_BASIS, "not_applicable", "a share needs a lawful basis: choose the one you rely on (usually public task)"))
    if state.value(F.CONSENT_STATUS) == ConsentStatus.NOT_APPLICABLE.value:
        out.append(
            _v(ctx, F.CONSENT_STATUS, "not_applicable", "a share needs consent considered: record it as given, refused, withdrawn or not sought (and why)")
        )
    if state.value(F.DECISION) == Decision.SHARE_IN_PART.value and not state.is_set(F.INFORMATION_WITHHELD):
        out.append(_v(ctx, F.INFORMATION_WITHHELD, "missing", "you are sharing in part: record what was not shared, and why"))
    return out

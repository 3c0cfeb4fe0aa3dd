"""R-CONSENT: consent and its alternatives are recorded consistently
(golden rule 4; Buckinghamshire code, appendix 1 questions 4 and 5: consent,
and a sufficient public interest where there is none)."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.domain.record import SHARE_DECISIONS, ConsentStatus, FieldKey, LawfulBasis, SubjectInformed

F = FieldKey
_WITHOUT_CONSENT = (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN, ConsentStatus.NOT_SOUGHT)


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.CONSENT, field, code, f"{ctx.field_name(field)}: {what} (R-CONSENT).")


def _given(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    out = []
    if not state.is_set(F.CONSENT_GIVEN_BY):
        out.append(_v(ctx, F.CONSENT_GIVEN_BY, "missing", "consent is recorded as given: record who gave it"))
    given_on = state.date(F.CONSENT_DATE)
    if given_on is None:
        out.append(_v(ctx, F.CONSENT_DATE, "missing", "consent is recorded as given: record the date it was given"))
    elif given_on > ctx.today:
        out.append(_v(ctx, F.CONSENT_DATE, "future", "the date is in the future: record the date consent was actually given"))
    return out


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    consent = state.value(F.CONSENT_STATUS)
    out = []
    if consent == ConsentStatus.GIVEN.value:
        out += _given(ctx)
    if consent == ConsentStatus.NOT_SOUGHT.value and not state.is_set(F.CONSENT_NOT_SOUGHT_REASON):
        out.append(_v(ctx, F.CONSENT_NOT_SOUGHT_REASON, "missing", "consent was not sought: record why"))
    if (
        state.is_one_of(F.DECISION, SHARE_DECISIONS)
        and state.is_one_of(F.CONSENT_STATUS, _WITHOUT_CONSENT)
        and not state.is_set(F.PUBLIC_INTEREST_JUSTIFICATION)
    ):
        out.append(
            _v(
                ctx,
                F.PUBLIC_INTEREST_JUSTIFICATION,
                "missing",
                "you are sharing without consent (refused, withdrawn or not sought): record why the public interest justifies it",
            )
        )
    if state.value(F.LAWFUL_BASIS) == LawfulBasis.CONSENT.value and consent != ConsentStatus.GIVEN.value:
        out.append(
            _v(
                ctx,
                F.LAWFUL_BASIS,
                "consent_not_given",
                "the lawful basis is consent, but consent is not recorded as given: record the consent or choose another basis",
            )
        )
    if state.value(F.SUBJECT_INFORMED) == SubjectInformed.NO_OTHER.value and not state.is_set(F.NOT_INFORMED_REASON):
        out.append(_v(ctx, F.NOT_INFORMED_REASON, "missing", "the person was not told for another reason: record that reason"))
    return out

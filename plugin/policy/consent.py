"""R-CONSENT: consent and its alternatives are recorded consistently
(golden rule 4; Buckinghamshire code, appendix 1 questions 4 to 7: consent,
dated and timed, its limits explained, and a sufficient public interest where
there is none). Public task needs no consent (Buckinghamshire code, section 1;
GDPR protocol 2.1 and 2.6), so "Consent is not the lawful basis" needs such a
basis, not a public interest justification. Early help is shared only with
consent (West Yorkshire procedures 3.2; Buckinghamshire appendix 1, Early Help)."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.domain.record import (
    SHARE_DECISIONS,
    ConsentNotSoughtReason,
    ConsentStatus,
    FieldKey,
    LawfulBasis,
    RiskLevel,
    SubjectInformed,
)

F = FieldKey
_WITHOUT_CONSENT = (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN, ConsentStatus.NOT_SOUGHT)
# The bases on which consent is not the footing of a share.
BASES_WITHOUT_CONSENT = (LawfulBasis.PUBLIC_TASK, LawfulBasis.LEGAL_OBLIGATION, LawfulBasis.VITAL_INTERESTS)


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.CONSENT, field, code, f"{ctx.field_name(field)}: {what} (R-CONSENT).")


def not_a_time(ctx: Context, field: FieldKey, rule: RuleId) -> list[Violation]:
    """A time field holding something that is not `HH:MM` (shared with R-SHARE)."""
    if ctx.proposed.is_set(field) and ctx.proposed.time(field) is None:
        what = "write the time as HH:MM on the 24-hour clock, for example 14:30"
        return [Violation(rule, field, "not_a_time", f"{ctx.field_name(field)}: {what} ({rule.value}).")]
    return []


def _given(ctx: Context, sharing: bool) -> list[Violation]:
    state = ctx.proposed
    out = []
    if not state.is_set(F.CONSENT_GIVEN_BY):
        out.append(_v(ctx, F.CONSENT_GIVEN_BY, "missing", "consent is recorded as given: record who gave it"))
    given_on = state.date(F.CONSENT_DATE)
    if given_on is None:
        out.append(_v(ctx, F.CONSENT_DATE, "missing", "consent is recorded as given: record the date it was given"))
    elif given_on > ctx.today:
        out.append(_v(ctx, F.CONSENT_DATE, "future", "the date is in the future: record the date consent was actually given"))
    if not state.is_set(F.CONSENT_TIME):
        out.append(_v(ctx, F.CONSENT_TIME, "missing", "consent is recorded as given: record the time it was given (HH:MM)"))
    if sharing and not state.flag(F.CONSENT_LIMITS_EXPLAINED):
        out.append(
            _v(ctx, F.CONSENT_LIMITS_EXPLAINED, "not_confirmed", "you are sharing with consent: confirm that the limits of that consent were explained")
        )
    return out


def _not_sought(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    reason = state.value(F.CONSENT_NOT_SOUGHT_REASON)
    if reason is None:
        return [_v(ctx, F.CONSENT_NOT_SOUGHT_REASON, "missing", "consent was not sought: record why")]
    if reason == ConsentNotSoughtReason.NOT_LAWFUL_BASIS.value and state.is_set(F.LAWFUL_BASIS) and not state.is_one_of(F.LAWFUL_BASIS, BASES_WITHOUT_CONSENT):
        return [
            _v(
                ctx,
                F.LAWFUL_BASIS,
                "needs_basis_without_consent",
                "consent is not the lawful basis, so the basis must be public task, legal obligation or vital interests",
            )
        ]
    return []


def _public_interest(ctx: Context, sharing: bool) -> list[Violation]:
    state = ctx.proposed
    if not sharing or not state.is_one_of(F.CONSENT_STATUS, _WITHOUT_CONSENT) or state.is_set(F.PUBLIC_INTEREST_JUSTIFICATION):
        return []
    if state.value(F.CONSENT_STATUS) == ConsentStatus.NOT_SOUGHT.value and state.value(F.CONSENT_NOT_SOUGHT_REASON) in (
        None,
        ConsentNotSoughtReason.NOT_LAWFUL_BASIS.value,
    ):
        return []  # its reason is asked for first; public task needs no justification
    return [
        _v(
            ctx,
            F.PUBLIC_INTEREST_JUSTIFICATION,
            "missing",
            "you are sharing without consent (refused, withdrawn or not sought): record why the public interest justifies it",
        )
    ]


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    consent = state.value(F.CONSENT_STATUS)
    sharing = state.is_one_of(F.DECISION, SHARE_DECISIONS)
    out = not_a_time(ctx, F.CONSENT_TIME, RuleId.CONSENT)
    if consent == ConsentStatus.GIVEN.value:
        out += _given(ctx, sharing)
    if consent == ConsentStatus.NOT_SOUGHT.value:
        out += _not_sought(ctx)
    out += _public_interest(ctx, sharing)
    if state.value(F.LAWFUL_BASIS) == LawfulBasis.CONSENT.value and consent != ConsentStatus.GIVEN.value:
        out.append(
            _v(
                ctx,
                F.LAWFUL_BASIS,
                "consent_not_given",
                "the lawful basis is consent, but consent is not recorded as given: record the consent or choose another basis",
            )
        )
    if sharing and state.value(F.RISK_LEVEL) == RiskLevel.EARLY_HELP.value and consent != ConsentStatus.GIVEN.value:
        out.append(
            _v(ctx, F.CONSENT_STATUS, "early_help_needs_consent", "early help is offered with consent: share only once consent is given, and record it")
        )
    if state.value(F.SUBJECT_INFORMED) == SubjectInformed.NO_OTHER.value and not state.is_set(F.NOT_INFORMED_REASON):
        out.append(_v(ctx, F.NOT_INFORMED_REASON, "missing", "the person was not told for another reason: record that reason"))
    return out

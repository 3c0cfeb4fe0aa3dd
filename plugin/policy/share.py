"""R-SHARE: when information is shared, record what, with whom, when and how
(golden rules 6 and 7; GDPR protocol 3.1; West Yorkshire procedures 3.5)."""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.policy.requirements import SHARE_RECORD_REQUIRED
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey

F = FieldKey

_WHAT_TO_DO = {
    F.INFORMATION_SHARED: "record exactly what information was shared",
    F.SHARED_WITH: "record who the information was shared with",
    F.SHARED_ON: "record the date the information was shared",
    F.SECURE_METHOD: "record how the information was sent securely",
    F.FACT_AND_OPINION_DISTINGUISHED: "confirm that fact and opinion were kept apart in what was shared",
}


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.SHARE, field, code, f"{ctx.field_name(field)}: {what} (R-SHARE).")


def _shared_on(ctx: Context) -> list[Violation]:
    shared_on = ctx.proposed.date(F.SHARED_ON)
    if shared_on is None:
        return [_v(ctx, F.SHARED_ON, "missing", _WHAT_TO_DO[F.SHARED_ON])]
    if shared_on > ctx.today:
        return [_v(ctx, F.SHARED_ON, "future", "the date is in the future: record the date the information was actually shared")]
    created = ctx.proposed.created_on
    if created is not None and shared_on < ctx.local_date(created):
        return [_v(ctx, F.SHARED_ON, "before_request", "the date is before the request was logged: check it")]
    return []


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    if state.status is not StatusKey.SHARED:
        return []
    out = []
    for field in SHARE_RECORD_REQUIRED:
        if field is F.SHARED_ON:
            out += _shared_on(ctx)
        elif field is F.FACT_AND_OPINION_DISTINGUISHED:
            if not state.flag(field):
                out.append(_v(ctx, field, "not_confirmed", _WHAT_TO_DO[field]))
        elif not state.is_set(field):
            out.append(_v(ctx, field, "missing", _WHAT_TO_DO[field]))
    return out

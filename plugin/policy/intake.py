"""R-INTAKE: record who asked, how, what and why (every seed asks for this
record; Derby and Derbyshire guidance, golden rule 7; GDPR protocol 3.1).

The intake fields are checked on every save of a request, not only at
creation, so they cannot be cleared later either.
"""

from __future__ import annotations

from plugin.policy.model import Context, RuleId, Violation
from plugin.policy.requirements import INTAKE_REQUIRED
from plugin.domain.record import EMAIL_CHANNELS, FieldKey, RequestChannel

F = FieldKey

_WHAT_TO_DO = {
    F.REQUEST_DIRECTION: "say whether this is an incoming request, an outgoing request or a proactive disclosure",
    F.REQUEST_CHANNEL: "record how the request reached you",
    F.REQUESTER_NAME: "record the name of the person asking",
    F.REQUESTER_ORGANISATION: "record the organisation the requester works for",
    F.INFORMATION_REQUESTED: "record what information is being asked for",
    F.PURPOSE_OF_SHARING: "record why the information is needed",
    F.URGENCY: "set the urgency (Red, Amber or Green)",
    F.IDENTITY_CHECK: "record how you checked who the requester is, or that you have not",
    F.RECIPIENT_ENTITLEMENT: "record whether the recipient is entitled to the information",
}


def _missing(ctx: Context, field: FieldKey, what_to_do: str) -> Violation:
    return Violation(RuleId.INTAKE, field, "missing", f"{ctx.field_name(field)}: {what_to_do} (R-INTAKE).")


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    violations = [_missing(ctx, f, _WHAT_TO_DO[f]) for f in INTAKE_REQUIRED if not state.is_set(f)]
    channel = state.value(F.REQUEST_CHANNEL)
    if channel == RequestChannel.PHONE.value and not state.is_set(F.REQUESTER_PHONE):
        violations.append(_missing(ctx, F.REQUESTER_PHONE, "a phone request needs the requester's phone number, so the call can be checked"))
    if channel in {c.value for c in EMAIL_CHANNELS} and not state.is_set(F.REQUESTER_EMAIL):
        violations.append(_missing(ctx, F.REQUESTER_EMAIL, "an e-mail request needs the requester's e-mail address"))
    return violations

"""R-INTAKE: record who asked, how, what and why (every seed asks for this
record; Derby and Derbyshire guidance, golden rule 7; GDPR protocol 3.1),
in the terms of the request's direction (v2): someone asking us, an agency
we ask, or someone we disclose to without being asked.

The intake fields are checked on every save of a request, not only at
creation, so they cannot be cleared later either.
"""

from __future__ import annotations

from plugin.policy.approval import email_domain, is_trusted
from plugin.policy.model import Context, RuleId, Violation
from plugin.policy.requirements import INTAKE_BY_DIRECTION, INTAKE_REQUIRED
from plugin.domain.record import EMAIL_CHANNELS, FieldKey, IdentityCheck, RequestChannel, RequestDirection

F = FieldKey
D = RequestDirection

_EVERY_DIRECTION = {
    F.REQUEST_DIRECTION: "say whether this is an incoming request, an outgoing request or a proactive disclosure",
    F.REQUEST_CHANNEL: "record how the request reached you, or how you are making it",
    F.INFORMATION_REQUESTED: "record what information is being asked for or disclosed",
    F.PURPOSE_OF_SHARING: "record why the information is needed",
    F.URGENCY: "set the urgency (Red, Amber or Green)",
}

# The same field asked in the words of the case at hand.
_BY_DIRECTION = {
    D.INCOMING: {
        F.REQUESTER_NAME: "record the name of the person asking",
        F.REQUESTER_ORGANISATION: "record the organisation the person asking works for",
        F.IDENTITY_CHECK: "record how you checked who the person asking is, or that you have not",
        F.RECIPIENT_ENTITLEMENT: "record whether the person asking is entitled to the information",
    },
    D.OUTGOING: {
        F.REQUESTER_ORGANISATION: "record the agency you are asking",
    },
    D.PROACTIVE: {
        F.SHARED_WITH: "record the person or agency you are disclosing to",
        F.RECIPIENT_ENTITLEMENT: "record whether the person you are disclosing to is entitled to the information",
    },
}


def _missing(ctx: Context, field: FieldKey, what_to_do: str) -> Violation:
    return Violation(RuleId.INTAKE, field, "missing", f"{ctx.field_name(field)}: {what_to_do} (R-INTAKE).")


def direction_of(ctx: Context) -> RequestDirection | None:
    value = ctx.proposed.value(F.REQUEST_DIRECTION)
    return next((d for d in RequestDirection if d.value == value), None)


def _incoming_contact(ctx: Context) -> list[Violation]:
    """How to reach back the person asking, and an identity check that
    holds: a trusted domain must be one on the site's list."""
    state, out = ctx.proposed, []
    channel = state.value(F.REQUEST_CHANNEL)
    if channel == RequestChannel.PHONE.value and not state.is_set(F.REQUESTER_PHONE):
        out.append(_missing(ctx, F.REQUESTER_PHONE, "a phone request needs the phone number of the person asking, so the call can be checked"))
    if channel in {c.value for c in EMAIL_CHANNELS} and not state.is_set(F.REQUESTER_EMAIL):
        out.append(_missing(ctx, F.REQUESTER_EMAIL, "an e-mail request needs the e-mail address of the person asking"))
    if state.value(F.IDENTITY_CHECK) == IdentityCheck.TRUSTED_EMAIL_DOMAIN.value:
        domain = email_domain(state.value(F.REQUESTER_EMAIL))
        if domain is None:
            out.append(
                Violation(RuleId.INTAKE, F.REQUESTER_EMAIL, "no_domain",
                          f"{ctx.field_name(F.REQUESTER_EMAIL)}: the identity check is a trusted e-mail domain: record the address it came from (R-INTAKE).")
            )
        elif not is_trusted(domain, ctx.config.approval.trusted_domains):
            out.append(
                Violation(
                    RuleId.INTAKE,
                    F.IDENTITY_CHECK,
                    "untrusted_domain",
                    f"{ctx.field_name(F.IDENTITY_CHECK)}: the address's domain is not on this site's list of trusted e-mail domains: "
                    "check who is asking another way and record that check, or ask your administrator to add the domain (R-INTAKE).",
                )
            )
    return out


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    out = [_missing(ctx, f, _EVERY_DIRECTION[f]) for f in INTAKE_REQUIRED if not state.is_set(f)]
    direction = direction_of(ctx)
    if direction is None:
        return out
    out += [_missing(ctx, f, _BY_DIRECTION[direction][f]) for f in INTAKE_BY_DIRECTION[direction] if not state.is_set(f)]
    if direction is D.INCOMING:
        out += _incoming_contact(ctx)
    return out

"""One entry point for every enforcement point: the gate, the event worker and
the reconciler all ask `violations` / `evaluate` (and the gate `new_violations`)."""

from __future__ import annotations

from typing import Callable

from plugin.policy import approval, consent, decision, escalation, incident, intake, outcome, retention, share, timeliness
from plugin.policy.model import Action, Context, Verdict, Violation
from plugin.domain.names import TrackerKey

Check = Callable[[Context], list[Violation]]
Derive = Callable[[Context], list[Action]]

# The rules of each tracker, in the order their messages are shown.
CHECKS: dict[TrackerKey, tuple[Check, ...]] = {
    TrackerKey.INFORMATION_REQUEST: (intake.check, decision.check, consent.check, outcome.check, share.check, approval.check, retention.check),
    TrackerKey.ESCALATION: (escalation.check,),
    TrackerKey.RETENTION_REVIEW: (retention.check,),
    TrackerKey.INFORMATION_INCIDENT: (incident.check,),
}

# What the service does about an issue as it is now.
DERIVES: dict[TrackerKey, tuple[Derive, ...]] = {
    TrackerKey.INFORMATION_REQUEST: (approval.derive, share.derive, escalation.derive, retention.derive, timeliness.derive),
    TrackerKey.ESCALATION: (escalation.derive,),
    TrackerKey.RETENTION_REVIEW: (retention.derive,),
    TrackerKey.INFORMATION_INCIDENT: (incident.derive,),
}


def violations(ctx: Context) -> tuple[Violation, ...]:
    if ctx.proposed.tracker is None:
        return ()
    return tuple(v for check in CHECKS[ctx.proposed.tracker] for v in check(ctx))


def evaluate(ctx: Context) -> Verdict:
    """Violations of the state and the actions it calls for."""
    if ctx.proposed.tracker is None:
        return Verdict()
    return Verdict(violations(ctx), tuple(a for derive in DERIVES[ctx.proposed.tracker] for a in derive(ctx)))


def new_violations(ctx: Context) -> tuple[Violation, ...]:
    """What a save would break that was not already broken. The gate refuses
    these only, so a note on a ticket already recorded as a breach is not
    refused, while no save can make a record worse."""
    found = violations(ctx)
    if not found:
        # Most saves break nothing: then there is nothing to compare.
        return found
    before_ctx = ctx.for_previous()
    if before_ctx is None or before_ctx.proposed.tracker is None:
        return found
    before = {v.identity for v in violations(before_ctx)}
    return tuple(v for v in found if v.identity not in before)

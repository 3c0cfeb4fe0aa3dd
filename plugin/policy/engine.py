"""One entry point for every enforcement point: the gate, the event worker and
the reconciler all ask `evaluate` (and the gate `new_violations`)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from plugin.policy import consent, decision, intake, outcome, share
from plugin.policy.model import Context, Verdict, Violation
from schemas.names import TrackerKey

Check = Callable[[Context], list[Violation]]

# The rules of each tracker, in the order their messages are shown.
CHECKS: dict[TrackerKey, tuple[Check, ...]] = {
    TrackerKey.INFORMATION_REQUEST: (intake.check, decision.check, consent.check, outcome.check, share.check),
    TrackerKey.ESCALATION: (),
    TrackerKey.RETENTION_REVIEW: (),
}


def violations(ctx: Context) -> tuple[Violation, ...]:
    if ctx.proposed.tracker is None:
        return ()
    return tuple(v for check in CHECKS[ctx.proposed.tracker] for v in check(ctx))


def evaluate(ctx: Context) -> Verdict:
    return Verdict(violations=violations(ctx))


def new_violations(ctx: Context) -> tuple[Violation, ...]:
    """What a save would break that was not already broken. The gate refuses
    these only, so a note on a ticket already recorded as a breach is not
    refused, while no save can make a record worse."""
    found = violations(ctx)
    if ctx.previous is None or ctx.previous.tracker is None:
        return found
    before = {v.identity for v in violations(dataclasses.replace(ctx, proposed=ctx.previous))}
    return tuple(v for v in found if v.identity not in before)

"""The gate's decision (pure apart from the audit entry the caller writes).

A save is refused when it would break a rule that was not already broken
(`engine.new_violations`). The service's own saves are not judged here (it is
the enforcer, and a refusal would stop it recording a breach); administrators'
saves pass when `gate.admins_bypass` is set, and are then recorded as breaches
by the worker and the reconciler.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any, Mapping

from plugin.policy import engine
from plugin.policy.model import Actor, Context, Violation
from schemas.config import Config
from schemas.record import issue_state


class GateOutcome(str, enum.Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    BYPASSED = "bypassed"  # an administrator's save that breaks a rule
    NOT_JUDGED = "not_judged"  # the service's own save, or a tracker InfoShare does not handle


@dataclasses.dataclass(frozen=True)
class GateDecision:
    outcome: GateOutcome
    violations: tuple[Violation, ...] = ()

    @property
    def allow(self) -> bool:
        return self.outcome is not GateOutcome.REFUSED


def decide(config: Config, request: Mapping[str, Any], now: dt.datetime) -> GateDecision:
    keys = config.names.key_maps()
    proposed = issue_state(request["issue"], **keys)
    previous = issue_state(request["previous"], **keys) if request.get("previous") else None
    actor_data = request["actor"]
    actor = Actor(
        id=actor_data.get("id"),
        login=actor_data.get("login"),
        admin=bool(actor_data.get("admin")),
        is_service=actor_data.get("login") == config.redmine.bot_login,
    )
    if proposed.tracker is None or actor.is_service:
        return GateDecision(GateOutcome.NOT_JUDGED)
    found = engine.new_violations(Context(previous, proposed, actor, config, now))
    if not found:
        return GateDecision(GateOutcome.ALLOWED)
    if actor.admin and config.gate.admins_bypass:
        return GateDecision(GateOutcome.BYPASSED, found)
    return GateDecision(GateOutcome.REFUSED, found)

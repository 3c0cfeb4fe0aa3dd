"""The gate's decision (pure apart from the audit entry the caller writes).

A save is refused when it would break a rule that was not already broken
(`engine.new_violations`). The service's own saves are not judged here (it is
the one enforcing, and a refusal would stop it recording a breach); administrators'
saves pass when `gate.admins_bypass` is set and all they break are field
rules (an approval is never theirs to give), and are then recorded as
breaches by the worker and the reconciler.
"""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import enum
from typing import Any, Mapping

from plugin.domain import history
from plugin.policy import engine
from plugin.policy.model import Actor, Context, Principal, Step, Violation
from plugin.domain.configuration import Config
from plugin.domain.record import IssueState, issue_state


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


PENDING = "pending"


def _history(request: Mapping[str, Any], keys: dict, actor: Actor, proposed: IssueState) -> tuple[Step, ...]:
    """The saves so far (rebuilt from the previous issue and its journals) and
    the save being asked about, last. Each state is read from the question
    once: `proposed` is the one `decide` read."""
    names = {"status": {s["id"]: s["name"] for s in request.get("statuses") or []}}
    principals = {p["id"]: p.get("name", "") for p in request.get("principals") or []}
    previous = request.get("previous")
    # The shim sends users by id and roles, without names: no verdict names a person.
    journals = request.get("journals") or []
    read = functools.partial(issue_state, **keys)
    steps = list(history.to_steps(history.changes({**previous, "journals": journals}, names), read)) if previous else []
    steps.append(Step(PENDING, actor.id, principals.get(actor.id, ""), steps[-1].after if steps else None, proposed))
    return tuple(steps)


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
    principals = {
        p["id"]: Principal(p["id"], p.get("name", ""), frozenset(p.get("roles") or [])) for p in request.get("principals") or []
    }
    ctx = Context(previous, proposed, actor, config, now, history=_history(request, keys, actor, proposed), principals=principals)
    found = engine.new_violations(ctx)
    if not found:
        return GateDecision(GateOutcome.ALLOWED)
    if actor.admin and config.gate.admins_bypass and all(v.bypassable for v in found):
        return GateDecision(GateOutcome.BYPASSED, found)
    return GateDecision(GateOutcome.REFUSED, found)

"""What the service does about a breach: a rule violation that got past the
gate (an administrator's save, the gate down, an event lost). R-AUDIT;
Buckinghamshire code section 5: breaches are collated and reviewed."""

from __future__ import annotations

from plugin.policy.model import AssignTo, Once, Violation
from plugin.domain.configuration import Config


def note_key(breach_id: int) -> str:
    return f"breach-{breach_id}"


def breach_actions(breach_id: int, violation: Violation, config: Config) -> tuple[Once]:
    group = config.reconciler.breach_assignee
    note = (
        f"InfoShare found a rule broken on this request (breach {breach_id}, {violation.rule.value}):\n"
        f"{violation.message}\n"
        f"The change was not caught when it was saved, so it has been logged for review and assigned to "
        f"{config.names.group(group)}. Correct the record and note what was done."
    )
    return (Once(note_key(breach_id), note, (AssignTo(group=group),)),)

"""The one executor: turns a verdict's actions into at most one Redmine update.

Idempotent by comparison: each action is checked against the issue as Redmine
has it now (a field already holding the value, the ticket already assigned,
a note already carrying its marker) and only what differs is sent, so applying
the same verdict twice changes nothing the second time. A dry run is the same
planning with the last step swapped for printing.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Sequence

from plugin.policy.model import Action, AssignTo, ChangeStatus, Once, SetFields
from plugin.redmine.adapter import RedminePort
from schemas.config import Config
from schemas.record import is_blank

NOTE_SEPARATOR = "\n\n---\n\n"


def note_marker(key: str) -> str:
    """Appended to every note the service writes, so it can tell its notes
    apart and never posts the same one twice."""
    return f"[infoshare:{key}]"


@dataclasses.dataclass(frozen=True)
class ActionOutcome:
    action: Action
    status: str  # "applied" | "already" | "skipped"
    reason: str = ""

    def describe(self) -> dict[str, Any]:
        """For the audit log: what kind of action and on what, never a value."""
        a = self.action
        out: dict[str, Any] = {"action": type(a).__name__, "status": self.status}
        if isinstance(a, SetFields):
            out["fields"] = [k.value for k, _ in a.values]
        elif isinstance(a, ChangeStatus):
            out["to_status"] = a.status.value
        elif isinstance(a, AssignTo):
            out["group"] = a.group.value if a.group else None
            out["user_id"] = a.user_id
        elif isinstance(a, Once):
            out["once"] = a.key
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclasses.dataclass
class Plan:
    issue_id: int
    attributes: dict[str, Any]
    outcomes: list[ActionOutcome]

    @property
    def changes_anything(self) -> bool:
        return bool(self.attributes)


def _same(current: Any, wanted: Any) -> bool:
    if is_blank(current) and is_blank(wanted):
        return True
    if isinstance(current, list) or isinstance(wanted, list):
        return sorted(map(str, current or [])) == sorted(map(str, wanted or []))
    return str(current) == str(wanted)


class Planner:
    def __init__(self, redmine: RedminePort, config: Config):
        self.redmine = redmine
        self.config = config

    def _has_note(self, issue: dict[str, Any], marker: str) -> bool:
        bot = self.redmine.service_user_id()
        return any(
            (j.get("user") or {}).get("id") == bot and marker in (j.get("notes") or "") for j in issue.get("journals") or []
        )

    def plan(self, issue: dict[str, Any], actions: Sequence[Action]) -> Plan:
        attributes: dict[str, Any] = {}
        outcomes: list[ActionOutcome] = []
        notes: list[str] = []
        fields = {cf["name"]: cf for cf in issue.get("custom_fields") or []}

        def plan_one(action: Action) -> None:
            if isinstance(action, SetFields):
                changed = []
                for key, value in action.values:
                    entry = fields.get(self.config.names.field(key))
                    if entry is None:
                        outcomes.append(ActionOutcome(action, "skipped", f"field {key.value} is not on this issue"))
                        return
                    if not _same(entry.get("value"), value):
                        changed.append({"id": entry["id"], "value": "" if value is None else value})
                if changed:
                    attributes.setdefault("custom_fields", []).extend(changed)
                outcomes.append(ActionOutcome(action, "applied" if changed else "already"))
            elif isinstance(action, ChangeStatus):
                name = self.config.names.status(action.status)
                if (issue.get("status") or {}).get("name") == name:
                    outcomes.append(ActionOutcome(action, "already"))
                else:
                    attributes["status_id"] = next(i for i, n in self.redmine.names_by_id()["status"].items() if n == name)
                    outcomes.append(ActionOutcome(action, "applied"))
            elif isinstance(action, AssignTo):
                target = action.user_id
                if action.group is not None:
                    target = self.redmine.group_id(issue["project"]["id"], self.config.names.group(action.group))
                    if target is None:
                        outcomes.append(ActionOutcome(action, "skipped", f"group {action.group.value} is not a member of the project"))
                        return
                if target is None:
                    outcomes.append(ActionOutcome(action, "skipped", "nobody to assign to"))
                elif (issue.get("assigned_to") or {}).get("id") == target:
                    outcomes.append(ActionOutcome(action, "already"))
                else:
                    attributes["assigned_to_id"] = target
                    outcomes.append(ActionOutcome(action, "applied"))
            elif isinstance(action, Once):
                marker = note_marker(action.key)
                if self._has_note(issue, marker) or any(marker in n for n in notes):
                    outcomes.append(ActionOutcome(action, "already"))
                    return
                for inner in action.actions:
                    plan_one(inner)
                notes.append(f"{action.note}\n\n{marker}")
                outcomes.append(ActionOutcome(action, "applied"))

        for action in actions:
            plan_one(action)
        if notes:
            attributes["notes"] = NOTE_SEPARATOR.join(notes)
            attributes["private_notes"] = True
        return Plan(issue["id"], attributes, outcomes)


class RedmineExecutor:
    """Applies plans: one PUT per issue, only when something differs."""

    dry_run = False

    def __init__(self, redmine: RedminePort, config: Config):
        self.redmine = redmine
        self.planner = Planner(redmine, config)

    def apply(self, issue: dict[str, Any], actions: Sequence[Action]) -> list[ActionOutcome]:
        plan = self.planner.plan(issue, actions)
        if plan.changes_anything:
            self.redmine.update_issue(plan.issue_id, plan.attributes)
        return plan.outcomes


class PrintingExecutor(RedmineExecutor):
    """The dry run: plans exactly as the real executor does, then prints."""

    dry_run = True

    def __init__(self, redmine: RedminePort, config: Config, echo: Callable[[str], None] = print):
        super().__init__(redmine, config)
        self.echo = echo

    def apply(self, issue: dict[str, Any], actions: Sequence[Action]) -> list[ActionOutcome]:
        plan = self.planner.plan(issue, actions)
        if plan.changes_anything:
            shown = {k: ("(note text)" if k == "notes" else v) for k, v in plan.attributes.items()}
            self.echo(f"would update issue #{plan.issue_id}: {json.dumps(shown, sort_keys=True)}")
        return plan.outcomes

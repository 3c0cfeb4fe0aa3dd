"""The one executor: turns a verdict's actions into Redmine calls.

Idempotent by comparison: each action is checked against the issue as Redmine
has it now (a field already holding the value, the ticket already assigned,
a note already carrying its marker) and only what differs is sent, in one
update per issue, so applying the same verdict twice changes nothing the
second time. What cannot be one update (creating a linked issue, adding a
watcher, acting on another issue) runs first, each made safe to repeat by
checking Redmine before it acts. A dry run is the same planning with the
calls swapped for printing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from typing import Any, Callable, Sequence

from plugin.policy.model import (
    Action,
    AddWatcher,
    Anonymise,
    AssignTo,
    ChangeStatus,
    CreateLinkedIssue,
    DeleteIssue,
    OnIssue,
    Once,
    RecordDisposal,
    SetDates,
    SetFields,
)
from plugin.adapters.redmine.port import RedminePort
from plugin.domain.configuration import Config
from plugin.domain.record import is_blank

NOTE_SEPARATOR = "\n\n---\n\n"


def note_marker(key: str) -> str:
    """Appended to every note the service writes, so it can tell its notes
    apart and never posts the same one twice."""
    return f"[infoshare:{key}]"


@dataclasses.dataclass
class ActionOutcome:
    action: Action
    status: str  # "applied" | "already" | "skipped"
    reason: str = ""
    created_issue_id: int | None = None

    def describe(self) -> dict[str, Any]:
        """For the audit log: what kind of action and on what, never a value."""
        out: dict[str, Any] = {"action": type(self.action).__name__, "status": self.status, **self.action.audit()}
        if isinstance(self.action, CreateLinkedIssue):
            out["created_issue_id"] = self.created_issue_id
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclasses.dataclass
class Effect:
    """A call that cannot be part of the issue's one update. Creating a linked
    issue and adding a watcher come before the update (its note may speak of
    them); acting on another issue, redacting history and deleting come after
    (redaction must also reach the update's own journal)."""

    outcome: ActionOutcome
    kind: str  # "create" | "watch" | "disposal" | "on_issue" | "anonymise" | "delete"
    data: Any = None

    @property
    def before_update(self) -> bool:
        return self.kind in ("create", "watch", "disposal")


@dataclasses.dataclass
class Plan:
    issue: dict[str, Any]
    attributes: dict[str, Any]
    outcomes: list[ActionOutcome]
    effects: list[Effect]

    @property
    def issue_id(self) -> int:
        return self.issue["id"]


REDACTED_ATTRIBUTES = ("subject", "description")


@dataclasses.dataclass(frozen=True)
class Redaction:
    """What is still to be removed from one issue for an `Anonymise`, read
    from the issue as Redmine has it: so a second run asks only for what the
    first did not finish, and nothing when all is done."""

    custom_field_ids: tuple[int, ...]
    journal_ids: tuple[int, ...]  # notes written by people
    attachment_ids: tuple[int, ...]
    fields_with_text: int  # custom fields (the subject and description are always named)
    history_left: bool  # or the subject or description

    @property
    def anything_left(self) -> bool:
        return bool(self.fields_with_text or self.journal_ids or self.attachment_ids or self.history_left)

    def counts(self) -> dict[str, int]:
        return {"fields": self.fields_with_text, "notes": len(self.journal_ids), "attachments": len(self.attachment_ids)}


def _left(value: Any, marker: str) -> bool:
    return not is_blank(value) and value != marker


def redaction_left(issue: dict[str, Any], field_ids: Sequence[int], marker: str, service_user_id: int | None) -> Redaction:
    ids = {str(i) for i in field_ids}
    fields_with_text = sum(1 for cf in issue.get("custom_fields") or [] if str(cf.get("id")) in ids and _left(cf.get("value"), marker))
    attributes_left = any(_left(issue.get(attribute), marker) for attribute in REDACTED_ATTRIBUTES)
    journals = issue.get("journals") or []
    notes = tuple(
        j["id"] for j in journals if (j.get("user") or {}).get("id") != service_user_id and _left(j.get("notes"), marker)
    )

    def personal(detail: dict[str, Any]) -> bool:
        prop, name = detail.get("property"), str(detail.get("name"))
        if (prop == "cf" and name in ids) or (prop == "attr" and name in REDACTED_ATTRIBUTES) or prop == "attachment":
            return _left(detail.get("old_value"), marker) or _left(detail.get("new_value"), marker)
        return False

    history_left = attributes_left or any(personal(d) for j in journals for d in j.get("details") or [])
    attachments = tuple(a["id"] for a in issue.get("attachments") or [])
    return Redaction(tuple(sorted(int(i) for i in ids)), notes, attachments, fields_with_text, history_left)


def _same(current: Any, wanted: Any) -> bool:
    if is_blank(current) and is_blank(wanted):
        return True
    if isinstance(current, list) or isinstance(wanted, list):
        return sorted(map(str, current or [])) == sorted(map(str, wanted or []))
    return str(current) == str(wanted)


@dataclasses.dataclass
class _Planning:
    """One issue's plan being made: the issue's custom fields by name, the
    notes so far, and the plan."""

    plan: Plan
    fields: dict[str, dict[str, Any]]
    notes: list[str]

    def outcome(self, action: Action, status: str, reason: str = "") -> ActionOutcome:
        result = ActionOutcome(action, status, reason)
        self.plan.outcomes.append(result)
        return result

    def effect(self, action: Action, kind: str, data: Any = None) -> None:
        self.plan.effects.append(Effect(self.outcome(action, "applied"), kind, data))


class Planner:
    """Compares each action with the issue as Redmine has it and plans only
    the difference. One method per kind of action (`plan_one`)."""

    def __init__(self, redmine: RedminePort, config: Config):
        self.redmine = redmine
        self.config = config

    def has_note(self, issue: dict[str, Any], marker: str) -> bool:
        bot = self.redmine.service_user_id()
        return any(
            (j.get("user") or {}).get("id") == bot and marker in (j.get("notes") or "") for j in issue.get("journals") or []
        )

    def principal(self, issue: dict[str, Any], group, user_id: int | None) -> int | None:
        """A group of the project (by key) or a user (by id), as a principal id."""
        if group is None:
            return user_id
        return self.redmine.group_id(issue["project"]["id"], self.config.names.group(group))

    def assignee(self, issue: dict[str, Any], action: AssignTo) -> int | None:
        return self.principal(issue, action.group, action.user_id)

    def plan(self, issue: dict[str, Any], actions: Sequence[Action]) -> Plan:
        planning = _Planning(Plan(issue, {}, [], []), {cf["name"]: cf for cf in issue.get("custom_fields") or []}, [])
        for action in actions:
            self.plan_one(action, planning)
        if planning.notes:
            planning.plan.attributes["notes"] = NOTE_SEPARATOR.join(planning.notes)
            planning.plan.attributes["private_notes"] = True
        return planning.plan

    @functools.singledispatchmethod
    def plan_one(self, action: Action, planning: _Planning) -> None:
        raise TypeError(f"no planner for {type(action).__name__}")

    @plan_one.register
    def _set_fields(self, action: SetFields, planning: _Planning) -> None:
        changed = []
        for key, value in action.values:
            entry = planning.fields.get(self.config.names.field(key))
            if entry is None:
                planning.outcome(action, "skipped", f"field {key.value} is not on this issue")
                return
            if not _same(entry.get("value"), value):
                changed.append({"id": entry["id"], "value": "" if value is None else value})
        if changed:
            planning.plan.attributes.setdefault("custom_fields", []).extend(changed)
        planning.outcome(action, "applied" if changed else "already")

    @plan_one.register
    def _change_status(self, action: ChangeStatus, planning: _Planning) -> None:
        name = self.config.names.status(action.status)
        if (planning.plan.issue.get("status") or {}).get("name") == name:
            planning.outcome(action, "already")
            return
        planning.plan.attributes["status_id"] = next(i for i, n in self.redmine.names_by_id()["status"].items() if n == name)
        planning.outcome(action, "applied")

    @plan_one.register
    def _assign_to(self, action: AssignTo, planning: _Planning) -> None:
        issue = planning.plan.issue
        target = self.assignee(issue, action)
        if target is None:
            planning.outcome(action, "skipped", "group is not a member of the project" if action.group else "nobody to assign to")
        elif (issue.get("assigned_to") or {}).get("id") == target:
            planning.outcome(action, "already")
        else:
            planning.plan.attributes["assigned_to_id"] = target
            planning.outcome(action, "applied")

    @plan_one.register
    def _set_dates(self, action: SetDates, planning: _Planning) -> None:
        changed = False
        for key in ("start_date", "due_date"):
            wanted = getattr(action, key)
            if wanted is not None and planning.plan.issue.get(key) != wanted.isoformat():
                planning.plan.attributes[key] = wanted.isoformat()
                changed = True
        planning.outcome(action, "applied" if changed else "already")

    @plan_one.register
    def _add_watcher(self, action: AddWatcher, planning: _Planning) -> None:
        issue = planning.plan.issue
        watcher = self.principal(issue, action.group, action.user_id)
        if watcher is None:
            planning.outcome(action, "skipped", "group is not a member of the project" if action.group else "nobody to add")
        elif any(w.get("id") == watcher for w in issue.get("watchers") or []):
            planning.outcome(action, "already")
        else:
            planning.effect(action, "watch", watcher)

    @plan_one.register
    def _anonymise(self, action: Anonymise, planning: _Planning) -> None:
        issue = planning.plan.issue
        field_ids = [planning.fields[name]["id"] for name in map(self.config.names.field, action.fields) if name in planning.fields]
        left = redaction_left(issue, field_ids, action.marker, self.redmine.service_user_id())
        marker = note_marker(action.note_key)
        noted = self.has_note(issue, marker) or any(marker in n for n in planning.notes)
        if not noted:
            # Posted before anything is removed, with what was found: a run
            # cut short then finishes the removal without a second note.
            planning.notes.append(f"{action.note.format(**left.counts())}\n\n{marker}")
        if left.anything_left:
            planning.effect(action, "anonymise", left)
        else:
            planning.outcome(action, "applied" if not noted else "already")

    @plan_one.register
    def _record_disposal(self, action: RecordDisposal, planning: _Planning) -> None:
        planning.effect(action, "disposal")

    @plan_one.register
    def _delete_issue(self, action: DeleteIssue, planning: _Planning) -> None:
        planning.effect(action, "delete")

    @plan_one.register
    def _create_linked_issue(self, action: CreateLinkedIssue, planning: _Planning) -> None:
        planning.effect(action, "create")

    @plan_one.register
    def _on_issue(self, action: OnIssue, planning: _Planning) -> None:
        planning.effect(action, "on_issue")

    @plan_one.register
    def _once(self, action: Once, planning: _Planning) -> None:
        marker = note_marker(action.key)
        if self.has_note(planning.plan.issue, marker) or any(marker in n for n in planning.notes):
            planning.outcome(action, "already")
            return
        for inner in action.actions:
            self.plan_one(inner, planning)
        planning.notes.append(f"{action.note}\n\n{marker}")
        planning.outcome(action, "applied")


class RedmineExecutor:
    """Applies plans: one PUT per issue if anything differs, with the effects
    around it. `on_disposal(record)` writes the disposal record (the audit
    log) before anything is deleted; `on_redaction(issue_id, counts)` records
    each history rewrite before Redmine is asked for it."""

    dry_run = False

    def __init__(
        self,
        redmine: RedminePort,
        config: Config,
        on_disposal: Callable[[dict[str, Any]], None] | None = None,
        guard: Callable[[int], Any] | None = None,
        on_redaction: Callable[[int, dict[str, int]], None] | None = None,
    ):
        self.redmine = redmine
        self.config = config
        self.planner = Planner(redmine, config)
        self.on_disposal = on_disposal
        self.on_redaction = on_redaction
        # Wraps work on another issue: that issue's lease, so the worker, the
        # reconciler and the jobs never act on one issue at once.
        self.guard: Callable[[int], Any] = guard or (lambda issue_id: contextlib.nullcontext())

    def apply(self, issue: dict[str, Any], actions: Sequence[Action]) -> list[ActionOutcome]:
        plan = self.planner.plan(issue, actions)
        outcomes = list(plan.outcomes)
        for effect in plan.effects:
            if effect.before_update:
                outcomes += self._effect(plan, effect)
        if plan.attributes:
            self._update(plan.issue_id, plan.attributes)
        for effect in plan.effects:
            if not effect.before_update:
                outcomes += self._effect(plan, effect)
        return outcomes

    # -- the calls (the dry run overrides these) ----------------------------------

    def _update(self, issue_id: int, attributes: dict[str, Any]) -> None:
        self.redmine.update_issue(issue_id, attributes)

    def _effect(self, plan: Plan, effect: Effect) -> list[ActionOutcome]:
        action = effect.outcome.action
        if effect.kind == "watch":
            self.redmine.add_watcher(plan.issue_id, effect.data)
            return []
        if effect.kind == "on_issue":
            with self.guard(action.issue_id):
                other = self.redmine.issue(action.issue_id)
                if other is None:
                    effect.outcome.status, effect.outcome.reason = "skipped", "the issue no longer exists"
                    return []
                return self.apply(other, action.actions)
        if effect.kind == "anonymise":
            left: Redaction = effect.data
            if self.on_redaction is not None:
                self.on_redaction(plan.issue_id, left.counts())
            self.redmine.anonymise(
                plan.issue_id,
                custom_field_ids=list(left.custom_field_ids),
                attributes=list(REDACTED_ATTRIBUTES),
                journal_ids=list(left.journal_ids),
                attachment_ids=list(left.attachment_ids),
                marker=action.marker,
            )
            return []
        if effect.kind == "disposal":
            if self.on_disposal is not None:
                self.on_disposal(dict(action.record))
            return []
        if effect.kind == "delete":
            self.redmine.delete_issue(plan.issue_id)
            return []
        return self._create(plan.issue, effect.outcome)

    def _create(self, source: dict[str, Any], outcome: ActionOutcome) -> list[ActionOutcome]:
        """Create the linked issue unless one carrying the marker exists
        (a retry after a crash), relate it, set its fields and note."""
        action: CreateLinkedIssue = outcome.action
        marker = note_marker(action.key)
        new_id = self.redmine.find_issue_with_marker(action.tracker, marker)
        if new_id is None:
            attributes: dict[str, Any] = {
                "project_id": source["project"]["id"],
                "tracker_id": self.redmine.tracker_id(action.tracker),
                "subject": action.subject,
                "description": f"{action.description}\n\n{marker}",
            }
            assignee = self.planner.assignee(source, action.assign)
            if assignee is not None:
                attributes["assigned_to_id"] = assignee
            for key in ("start_date", "due_date"):
                if getattr(action, key) is not None:
                    attributes[key] = getattr(action, key).isoformat()
            new_id = self.redmine.create_issue(attributes)
        else:
            outcome.status = "already"
        outcome.created_issue_id = new_id
        created = self.redmine.issue(new_id)
        if source["id"] not in {r.get("issue_id") for r in created.get("relations") or []} | {
            r.get("issue_to_id") for r in created.get("relations") or []
        }:
            self.redmine.add_relation(new_id, source["id"], action.relation_type)
        # The fields go in after creation: a new tracker's field ids are only
        # known from an issue of it.
        return self.apply(created, [Once(f"{action.key}-opened", action.note, (SetFields(action.fields),))])


class PrintingExecutor(RedmineExecutor):
    """The dry run: plans exactly as the real executor does, then prints."""

    dry_run = True

    def __init__(self, redmine: RedminePort, config: Config, echo: Callable[[str], None] = print, guard: Callable[[int], Any] | None = None):
        super().__init__(redmine, config, guard=guard)
        self.echo = echo

    def _update(self, issue_id: int, attributes: dict[str, Any]) -> None:
        shown = {k: ("(note text)" if k == "notes" else v) for k, v in attributes.items()}
        self.echo(f"would update issue #{issue_id}: {json.dumps(shown, sort_keys=True)}")

    def _effect(self, plan: Plan, effect: Effect) -> list[ActionOutcome]:
        action = effect.outcome.action
        if effect.kind == "on_issue":
            other = self.redmine.issue(action.issue_id)
            return self.apply(other, action.actions) if other else []
        what = {
            "watch": f"add group {effect.data} as a watcher",
            "anonymise": "remove the personal text left (fields, notes, attachments, history)",
            "disposal": "write the disposal record to the audit log",
            "delete": "delete the issue",
        }.get(effect.kind) or f"create a linked {action.tracker.value} issue"
        self.echo(f"would {what} on issue #{plan.issue_id}")
        return []

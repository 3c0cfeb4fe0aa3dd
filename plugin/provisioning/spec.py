"""The provisioning spec: every Redmine object the project needs, generated from
the configuration. It is the one source of truth: the shim's rake task applies
it inside Redmine, `infoshare doctor` checks a live Redmine against it.

The spec names things by their Redmine names (after the configuration's
mapping), because that is what both Redmine and an administrator see.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from plugin.policy.approval import HISTORY_FIELDS
from plugin.policy.requirements import (
    APPROVER_ONLY_FIELDS,
    GOVERNANCE_ONLY_FIELDS,
    GOVERNANCE_READONLY_ATTRIBUTES,
    INTAKE_FORM_FIELDS,
    INCIDENT_SERVICE_OWNED_FIELDS,
    SERVICE_DATE_ATTRIBUTES,
    SERVICE_DATED_TRACKERS,
    SERVICE_OWNED_FIELDS,
    REQUEST_SERVICE_DATE_ATTRIBUTES,
    required_in_status,
)
from plugin.domain.configuration import Config
from plugin.domain.names import CLOSED_STATUSES, HUMAN_ROLES, TRACKER_STATUSES, GroupKey, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FIELDS, FORM_ORDER, RENAMED_VALUES, ConfiguredValues, FieldDef, FieldKey, FieldFormat, fields_of

SPEC_VERSION = 1
S = StatusKey
# Values longer than this many bytes go to the gate as their digest: the rules
# only ask whether a long text is set or changed (see the shim's IssuePayload).
GATE_VALUE_LIMIT = 256


@dataclasses.dataclass(frozen=True)
class StatusSpec:
    name: str
    is_closed: bool


@dataclasses.dataclass(frozen=True)
class TrackerSpec:
    name: str
    default_status: str
    description: str


@dataclasses.dataclass(frozen=True)
class RoleSpec:
    name: str
    assignable: bool
    permissions: tuple[str, ...]
    # Issue permissions limited to some trackers (Redmine >= 3.4): permission ->
    # tracker names. A permission absent here applies to all trackers.
    tracker_permissions: dict[str, tuple[str, ...]]


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    name: str


@dataclasses.dataclass(frozen=True)
class CustomFieldSpec:
    name: str
    field_format: str
    possible_values: tuple[str, ...]
    multiple: bool
    is_filter: bool
    trackers: tuple[str, ...]
    description: str
    # Long texts across the whole form, under the two columns of short fields.
    full_width: bool = False


@dataclasses.dataclass(frozen=True)
class TransitionSpec:
    tracker: str
    role: str
    from_status: str
    to_status: str


@dataclasses.dataclass(frozen=True)
class FieldRuleSpec:
    tracker: str
    role: str
    status: str
    field: str  # a custom field's name, or a core attribute (start_date, due_date)
    rule: str  # "required" | "readonly"


@dataclasses.dataclass(frozen=True)
class QueryFilterSpec:
    field: str  # an issue attribute (status_id, assigned_to_id, due_date) or a custom field's name
    operator: str  # Redmine's: "=", "o" (open), "*" (any), "<t-" (more than n days ago), ...
    values: tuple[str, ...] = ()  # status names for status_id, "me", numbers, "1" for yes


@dataclasses.dataclass(frozen=True)
class QuerySpec:
    """A public issue query provisioned in every InfoShare project: a work
    queue a role starts from (DOMAIN.md, "Working in Redmine")."""

    name: str
    tracker: str
    filters: tuple[QueryFilterSpec, ...]
    columns: tuple[str, ...]  # attributes (id, status, subject, ...) or custom field names
    sort: tuple[str, str] = ("id", "desc")


@dataclasses.dataclass(frozen=True)
class BotSpec:
    login: str
    firstname: str
    lastname: str
    mail: str
    role: str
    # Redmine reads date filters (created_on=><from|to) in the user's zone.
    time_zone: str


@dataclasses.dataclass(frozen=True)
class Spec:
    version: int
    settings: dict[str, str]
    statuses: tuple[StatusSpec, ...]
    trackers: tuple[TrackerSpec, ...]
    roles: tuple[RoleSpec, ...]
    groups: tuple[GroupSpec, ...]
    custom_fields: tuple[CustomFieldSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    field_rules: tuple[FieldRuleSpec, ...]
    bot: BotSpec
    # The shim's own settings that follow from the configuration.
    shim: dict[str, Any]
    # Permissions only these roles may hold: provisioning takes them from
    # every other role (Redmine's default Manager role gets every permission
    # a plugin registers), and doctor reports any other holder.
    exclusive_permissions: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # Values renamed by a new version of the contract: existing tickets are
    # moved from the old value to the new (field name, old, new).
    value_renames: tuple[tuple[str, str, str], ...] = ()
    queries: tuple[QuerySpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)


# --- Roles -----------------------------------------------------------------

# Registered by the shim (init.rb); provisioning grants it to the service's role only.
REDACT_PERMISSION = "infoshare_redact_history"

_ISSUE_WORK = (
    "view_issues",
    "add_issues",
    "edit_issues",
    "add_issue_notes",
    "view_private_notes",
    "set_notes_private",
    "manage_issue_relations",
    "view_issue_watchers",
    "add_issue_watchers",
)
_PEOPLE = _ISSUE_WORK + ("save_queries", "view_calendar")

_ROLE_PERMISSIONS: dict[RoleKey, tuple[str, ...]] = {
    RoleKey.MASH_PRACTITIONER: _PEOPLE,
    RoleKey.MASH_MANAGER: _PEOPLE,
    RoleKey.INFORMATION_GOVERNANCE_LEAD: _PEOPLE,
    # The service also deletes a request when a review's outcome is Destroy,
    # and it alone may rewrite a ticket's history (R-RETENTION v2: the shim's
    # redaction endpoint answers 403 to every role without this permission).
    RoleKey.INFOSHARE_SERVICE: _ISSUE_WORK + ("delete_issues", REDACT_PERMISSION),
}

# Which trackers each human role may create and edit issues of (all may view
# and comment on all of them). Every MASH role may log and work on an
# information incident (R-INCIDENT: anyone in the project logs one).
_EDITABLE_TRACKERS: dict[RoleKey, tuple[TrackerKey, ...]] = {
    RoleKey.MASH_PRACTITIONER: (TrackerKey.INFORMATION_REQUEST, TrackerKey.ESCALATION, TrackerKey.INFORMATION_INCIDENT),
    RoleKey.MASH_MANAGER: (TrackerKey.INFORMATION_REQUEST, TrackerKey.ESCALATION, TrackerKey.INFORMATION_INCIDENT),
    RoleKey.INFORMATION_GOVERNANCE_LEAD: (TrackerKey.RETENTION_REVIEW, TrackerKey.INFORMATION_INCIDENT),
}


# A governance lead edits a request only to set or clear its legal hold: every
# other field of it is read-only for that role (the field rules below).
_EDIT_ONLY_TRACKERS: dict[RoleKey, tuple[TrackerKey, ...]] = {
    RoleKey.INFORMATION_GOVERNANCE_LEAD: (TrackerKey.INFORMATION_REQUEST,),
}


def _roles(config: Config) -> tuple[RoleSpec, ...]:
    specs = []
    for role in RoleKey:
        tracker_permissions = {}
        if role in _EDITABLE_TRACKERS:
            names = tuple(config.names.tracker(t) for t in _EDITABLE_TRACKERS[role])
            edit_only = tuple(config.names.tracker(t) for t in _EDIT_ONLY_TRACKERS.get(role, ()))
            tracker_permissions = {"add_issues": names, "edit_issues": names + edit_only}
        specs.append(
            RoleSpec(
                name=config.names.role(role),
                assignable=role is not RoleKey.INFOSHARE_SERVICE,
                permissions=_ROLE_PERMISSIONS[role],
                tracker_permissions=tracker_permissions,
            )
        )
    return tuple(specs)


# --- Workflow transitions ------------------------------------------------------

# What a practitioner may do with a request. Moving out of Awaiting approval is
# the approver's (R-APPROVAL, West Yorkshire procedures 3.5), but for sharing
# under an emergency override, which the gate allows only with the override
# and its reason (R-APPROVAL 7: an emergency share is never blocked).
_PRACTITIONER_REQUEST_MOVES = {
    S.RECEIVED: (S.ASSESSING, S.AWAITING_APPROVAL, S.SHARED, S.NOT_SHARED, S.WITHDRAWN),
    S.ASSESSING: (S.AWAITING_APPROVAL, S.SHARED, S.NOT_SHARED, S.WITHDRAWN),
    S.AWAITING_APPROVAL: (S.SHARED,),
    S.APPROVED: (S.SHARED, S.NOT_SHARED, S.WITHDRAWN),
}
_APPROVER_REQUEST_MOVES = {
    S.AWAITING_APPROVAL: (S.APPROVED, S.ASSESSING, S.NOT_SHARED),
    # Reopening a closed request is a manager's call.
    S.SHARED: (S.ASSESSING,),
    S.NOT_SHARED: (S.ASSESSING,),
    S.WITHDRAWN: (S.ASSESSING,),
}
_ESCALATION_MOVES = {S.IN_ESCALATION: (S.ESCALATION_RESOLVED,)}
_ESCALATION_REOPEN = {S.ESCALATION_RESOLVED: (S.IN_ESCALATION,)}
_REVIEW_MOVES = {S.REVIEW_DUE: (S.REVIEW_COMPLETED,)}
_INCIDENT_MOVES = {S.INCIDENT_REPORTED: (S.INVESTIGATING, S.INCIDENT_CLOSED), S.INVESTIGATING: (S.INCIDENT_CLOSED,)}
# Reopening a closed incident is for governance and managers.
_INCIDENT_REOPEN = {S.INCIDENT_CLOSED: (S.INVESTIGATING,)}


def _moves(role: RoleKey, tracker: TrackerKey, approver: RoleKey) -> set[tuple[StatusKey, StatusKey]]:
    def pairs(table) -> set[tuple[StatusKey, StatusKey]]:
        return {(a, b) for a, targets in table.items() for b in targets}

    if role is RoleKey.INFOSHARE_SERVICE:
        # The service routes and reopens tickets, so it may make any move.
        statuses = TRACKER_STATUSES[tracker]
        return {(a, b) for a in statuses for b in statuses if a is not b}
    moves: set[tuple[StatusKey, StatusKey]] = set()
    if tracker is TrackerKey.INFORMATION_REQUEST and role in (RoleKey.MASH_PRACTITIONER, RoleKey.MASH_MANAGER, approver):
        moves |= pairs(_PRACTITIONER_REQUEST_MOVES)
        if role is approver:
            moves |= pairs(_APPROVER_REQUEST_MOVES)
    if tracker is TrackerKey.ESCALATION and role in (RoleKey.MASH_PRACTITIONER, RoleKey.MASH_MANAGER, approver):
        moves |= pairs(_ESCALATION_MOVES)
        if role in (RoleKey.MASH_MANAGER, approver):
            moves |= pairs(_ESCALATION_REOPEN)
    if tracker is TrackerKey.RETENTION_REVIEW and role is RoleKey.INFORMATION_GOVERNANCE_LEAD:
        moves |= pairs(_REVIEW_MOVES)
    if tracker is TrackerKey.INFORMATION_INCIDENT and role in HUMAN_ROLES:
        moves |= pairs(_INCIDENT_MOVES)
        if role is not RoleKey.MASH_PRACTITIONER:
            moves |= pairs(_INCIDENT_REOPEN)
    return moves


def _transitions(config: Config) -> tuple[TransitionSpec, ...]:
    names = config.names
    approver = config.approval.approver_role
    out = []
    for tracker in TrackerKey:
        order = {s: i for i, s in enumerate(TRACKER_STATUSES[tracker])}
        for role in RoleKey:
            for a, b in sorted(_moves(role, tracker, approver), key=lambda p: (order[p[0]], order[p[1]])):
                out.append(TransitionSpec(names.tracker(tracker), names.role(role), names.status(a), names.status(b)))
    return tuple(out)


# --- Field rules -----------------------------------------------------------------


def _hold_only(role: RoleKey, approver: RoleKey) -> bool:
    """A governance lead edits a request only for its legal hold, unless the
    site made governance its approvers (then it works requests as they do)."""
    return role is RoleKey.INFORMATION_GOVERNANCE_LEAD and role is not approver


def _field_rules(config: Config) -> tuple[FieldRuleSpec, ...]:
    names = config.names
    approver = config.approval.approver_role
    rules: list[FieldRuleSpec] = []
    for tracker in TrackerKey:
        for status in TRACKER_STATUSES[tracker]:
            for role in HUMAN_ROLES:
                readonly = []
                if tracker is TrackerKey.INFORMATION_REQUEST:
                    readonly += SERVICE_OWNED_FIELDS
                    if role is not approver:
                        readonly += APPROVER_ONLY_FIELDS
                    if role is not RoleKey.INFORMATION_GOVERNANCE_LEAD:
                        readonly += GOVERNANCE_ONLY_FIELDS
                    elif _hold_only(role, approver):
                        readonly = [d.key for d in FIELDS.values() if tracker in d.trackers and d.key not in GOVERNANCE_ONLY_FIELDS]
                    if status is S.RECEIVED:
                        readonly += [d.key for d in fields_of(tracker) if d.key not in INTAKE_FORM_FIELDS and d.key not in readonly]
                if tracker is TrackerKey.INFORMATION_INCIDENT:
                    readonly += INCIDENT_SERVICE_OWNED_FIELDS
                required = [f for f in required_in_status(tracker, status) if f not in readonly]
                for field in required:
                    rules.append(FieldRuleSpec(names.tracker(tracker), names.role(role), names.status(status), names.field(field), "required"))
                for field in readonly:
                    rules.append(FieldRuleSpec(names.tracker(tracker), names.role(role), names.status(status), names.field(field), "readonly"))
                attributes = SERVICE_DATE_ATTRIBUTES if tracker in SERVICE_DATED_TRACKERS else ()
                if tracker is TrackerKey.INFORMATION_REQUEST:
                    attributes = GOVERNANCE_READONLY_ATTRIBUTES if _hold_only(role, approver) else REQUEST_SERVICE_DATE_ATTRIBUTES
                for attribute in attributes:
                    rules.append(FieldRuleSpec(names.tracker(tracker), names.role(role), names.status(status), attribute, "readonly"))
    return tuple(rules)


# --- Custom fields ------------------------------------------------------------------


def possible_values(definition: FieldDef, config: Config) -> tuple[str, ...]:
    if definition.values is ConfiguredValues.RETENTION_CATEGORIES:
        return tuple(c.name for c in config.retention.categories)
    if definition.values is ConfiguredValues.ESCALATION_STAGES:
        return tuple(s.label for s in config.escalation.stages)
    return definition.value_names()


def _custom_fields(config: Config) -> tuple[CustomFieldSpec, ...]:
    return tuple(
        CustomFieldSpec(
            name=config.names.field(d.key),
            field_format=d.format.redmine_format,
            possible_values=possible_values(d, config),
            multiple=d.multiple,
            is_filter=d.filter,
            trackers=tuple(config.names.tracker(t) for t in d.trackers),
            description=d.description,
            full_width=d.format is FieldFormat.TEXT,
        )
        # In the order the form shows them: provisioning keeps Redmine's positions so.
        for d in sorted(FIELDS.values(), key=lambda d: FORM_ORDER.index(d.key) if d.key in FORM_ORDER else len(FORM_ORDER))
    )


# --- Work queues --------------------------------------------------------------------------


def _queries(config: Config) -> tuple[QuerySpec, ...]:
    """One list for each role to start from, with the columns it works by."""
    n, f = config.names, config.names.field
    request, escalation = n.tracker(TrackerKey.INFORMATION_REQUEST), n.tracker(TrackerKey.ESCALATION)
    open_ = QueryFilterSpec("status_id", "o")
    request_columns = ("id", "status", "subject", f(FieldKey.URGENCY), f(FieldKey.RESPONSE_DUE), "assigned_to", "updated_on")
    return (
        QuerySpec("Awaiting approval", request, (QueryFilterSpec("status_id", "=", (n.status(S.AWAITING_APPROVAL),)),),
                  ("id", "subject", f(FieldKey.URGENCY), f(FieldKey.RESPONSE_DUE), f(FieldKey.APPROVAL_REASON), "assigned_to", "updated_on"), ("id", "asc")),
        QuerySpec("My open requests", request, (open_, QueryFilterSpec("assigned_to_id", "=", ("me",))), request_columns),
        QuerySpec("Overdue requests", request, (open_, QueryFilterSpec("due_date", "<t-", ("1",))), request_columns, ("due_date", "asc")),
        QuerySpec("Open escalations", escalation, (open_,),
                  ("id", "subject", f(FieldKey.ESCALATION_STAGE), f(FieldKey.URGENT_ESCALATION), "assigned_to", "due_date"), ("due_date", "asc")),
        QuerySpec("Reviews due", n.tracker(TrackerKey.RETENTION_REVIEW), (open_,), ("id", "subject", "assigned_to", "due_date"), ("due_date", "asc")),
        QuerySpec("Open incidents", n.tracker(TrackerKey.INFORMATION_INCIDENT), (open_,),
                  ("id", "subject", f(FieldKey.INCIDENT_TYPE), f(FieldKey.ICO_DEADLINE), f(FieldKey.ICO_REPORT_DECISION), "assigned_to"), ("id", "asc")),
        QuerySpec("Legal holds", request, (QueryFilterSpec("status_id", "*"), QueryFilterSpec(f(FieldKey.LEGAL_HOLD), "=", ("1",))),
                  ("id", "subject", "status", f(FieldKey.RETENTION_CATEGORY), f(FieldKey.RETENTION_REVIEW_DATE), "updated_on"), ("id", "asc")),
    )


# --- The whole spec -------------------------------------------------------------------

_TRACKER_DESCRIPTIONS = {
    TrackerKey.INFORMATION_REQUEST: "A request to share information, or a proactive disclosure, and the decision on it.",
    TrackerKey.ESCALATION: "A disagreement about sharing, taken through the escalation and conflict resolution procedure.",
    TrackerKey.RETENTION_REVIEW: "A scheduled review of whether a closed request's record is still needed.",
    TrackerKey.INFORMATION_INCIDENT: "A complaint about a disclosure, an inadvertent disclosure, or a share that got past the controls, investigated by information governance.",
}


def build_spec(config: Config) -> Spec:
    names = config.names
    return Spec(
        version=SPEC_VERSION,
        settings={
            "rest_api_enabled": "1",
            # Escalation stages and approval routing assign tickets to groups.
            "issue_group_assignment": "1",
        },
        statuses=tuple(StatusSpec(names.status(s), s in CLOSED_STATUSES) for s in StatusKey),
        trackers=tuple(
            TrackerSpec(names.tracker(t), names.status(TRACKER_STATUSES[t][0]), _TRACKER_DESCRIPTIONS[t]) for t in TrackerKey
        ),
        roles=_roles(config),
        groups=tuple(GroupSpec(names.group(g)) for g in GroupKey),
        custom_fields=_custom_fields(config),
        transitions=_transitions(config),
        field_rules=_field_rules(config),
        bot=BotSpec(
            login=config.redmine.bot_login,
            firstname="InfoShare",
            lastname="service",
            mail=f"{config.redmine.bot_login}@infoshare.invalid",
            role=names.role(RoleKey.INFOSHARE_SERVICE),
            time_zone=config.calendar.timezone,
        ),
        shim={
            "block_when_unreachable": [names.status(s) for s in config.gate.block_when_unreachable],
            "gate_timeout_ms": config.gate.timeout_ms,
            "history_fields": [names.field(k) for k in HISTORY_FIELDS],
            "gate_value_limit": GATE_VALUE_LIMIT,
        },
        exclusive_permissions={REDACT_PERMISSION: (names.role(RoleKey.INFOSHARE_SERVICE),)},
        value_renames=tuple((names.field(FieldKey(key)), old, new) for key, old, new in RENAMED_VALUES),
        queries=_queries(config),
    )

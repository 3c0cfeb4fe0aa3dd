"""The vocabulary of the rules: rule ids, the actor, the context a rule is
judged in, violations, actions and the verdict that carries them.

Everything here is a small frozen value. Rules return violations and actions;
one executor elsewhere performs the actions.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import enum
import functools
import zoneinfo
from typing import Any, Mapping

from plugin.domain.calendar import WorkingCalendar
from plugin.domain.configuration import CalendarConfig, Config
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.history import Step
from plugin.domain.principal import Principal
from plugin.domain.record import FieldKey, IssueState


@functools.lru_cache(maxsize=8)
def working_calendar(config: CalendarConfig) -> WorkingCalendar:
    return WorkingCalendar(config)


class RuleId(str, enum.Enum):
    INTAKE = "R-INTAKE"
    DECISION = "R-DECISION"
    CONSENT = "R-CONSENT"
    OUTCOME = "R-OUTCOME"
    SHARE = "R-SHARE"
    APPROVAL = "R-APPROVAL"
    ESCALATION = "R-ESCALATION"
    RETENTION = "R-RETENTION"
    INCIDENT = "R-INCIDENT"
    AUDIT = "R-AUDIT"


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is saving. `is_service` is the InfoShare service user itself."""

    id: int | None
    login: str | None
    admin: bool = False
    is_service: bool = False


# Rules an administrator's save may break (gate.admins_bypass), to repair a
# record; it is then a breach. Who may authorise a share, and who may hold a
# record against its retention schedule, are never bypassed.
BYPASSABLE_RULES = frozenset({RuleId.INTAKE, RuleId.DECISION, RuleId.CONSENT, RuleId.OUTCOME, RuleId.SHARE, RuleId.RETENTION, RuleId.INCIDENT})
NEVER_BYPASSED_CODES = frozenset({"not_governance"})


@dataclasses.dataclass(frozen=True)
class Violation:
    """A rule broken by a state. `code` tells apart the ways one rule can be
    broken on one field (say, a missing date and a future date), so the same
    breach is recognised on every check."""

    rule: RuleId
    field: FieldKey | None
    code: str
    message: str

    @property
    def bypassable(self) -> bool:
        return self.rule in BYPASSABLE_RULES and self.code not in NEVER_BYPASSED_CODES

    @property
    def identity(self) -> str:
        return violation_identity(self.rule.value, self.field.value if self.field else None, self.code)


def violation_identity(rule: str, field: str | None, code: str) -> str:
    """How a violation is recognised across checks (and in the breach list)."""
    return f"{rule}:{field or '-'}:{code}"


# --- Actions -------------------------------------------------------------------
#
# What a rule wants done, as data. One executor (plugin/service/executor.py)
# performs each kind; a new kind is a class here (with what the audit log says
# of it) and its planner there.


class Action(abc.ABC):
    """Something the service does in Redmine."""

    @abc.abstractmethod
    def audit(self) -> dict[str, Any]:
        """What it does, for the audit log: kinds and names, never a value."""


class Milestone(str, enum.Enum):
    """What a `Once` stands for, for the counts a job reports (R-RETENTION,
    R-ESCALATION, R-INCIDENT, R-APPROVAL, R-SHARE and R-TIMELINESS timers)."""

    REVIEW_REMINDER = "review_reminder"
    ESCALATION_STARTED = "escalation_started"
    STAGE_MOVED = "stage_moved"
    STAGE_SET_BY_HAND = "stage_set_by_hand"
    FINAL_STAGE_OVERDUE = "final_stage_overdue"
    ICO_REMINDER = "ico_reminder"
    ICO_DEADLINE_PASSED = "ico_deadline_passed"
    RETROSPECTIVE_REMINDER = "retrospective_reminder"
    LEGAL_HOLD_REVIEW = "legal_hold_review"
    CONFIRMATION_REMINDER = "confirmation_reminder"
    RED_REQUEST_NOTED = "red_request_noted"
    RESPONSE_OVERDUE = "response_overdue"
    OVERDUE_REMINDER = "overdue_reminder"
    APPROVAL_WAIT_REMINDER = "approval_wait_reminder"


@dataclasses.dataclass(frozen=True)
class SetFields(Action):
    values: tuple[tuple[FieldKey, Any], ...]

    def audit(self) -> dict[str, Any]:
        return {"fields": [k.value for k, _ in self.values]}


@dataclasses.dataclass(frozen=True)
class ChangeStatus(Action):
    status: StatusKey

    def audit(self) -> dict[str, Any]:
        return {"to_status": self.status.value}


@dataclasses.dataclass(frozen=True)
class AssignTo(Action):
    """Assign to a group, or to a user by id."""

    group: GroupKey | None = None
    user_id: int | None = None

    def audit(self) -> dict[str, Any]:
        return {"group": self.group.value if self.group else None, "user_id": self.user_id}


@dataclasses.dataclass(frozen=True)
class SetDates(Action):
    """The issue's own start and due dates (None leaves one as it is)."""

    start_date: dt.date | None = None
    due_date: dt.date | None = None

    def audit(self) -> dict[str, Any]:
        return {"dates": [k for k in ("start_date", "due_date") if getattr(self, k) is not None]}


@dataclasses.dataclass(frozen=True)
class AddWatcher(Action):
    """Add a group, or a user by id, as a watcher (Redmine then e-mails them
    the issue's changes)."""

    group: GroupKey | None = None
    user_id: int | None = None

    def audit(self) -> dict[str, Any]:
        return {"group": self.group.value if self.group else None, "user_id": self.user_id}


@dataclasses.dataclass(frozen=True)
class CreateLinkedIssue(Action):
    """Create an issue related to this one. `key` is written into the new
    issue's description as a marker; before creating, the executor looks for
    an issue carrying it, so a retry after a crash never makes a second."""

    key: str
    tracker: TrackerKey
    subject: str
    description: str
    fields: tuple[tuple[FieldKey, Any], ...]
    assign: "AssignTo"
    note: str  # a private note on the new issue
    start_date: dt.date | None = None
    due_date: dt.date | None = None
    relation_type: str = "relates"

    def audit(self) -> dict[str, Any]:
        return {"tracker": self.tracker.value}


@dataclasses.dataclass(frozen=True)
class Anonymise(Action):
    """Remove every piece of personal text the issue holds, as Redmine has it
    when this is carried out (R-RETENTION): these text fields, the subject and
    the description, now and in every old value of the history; every note a
    person wrote (private ones too); every attachment, and its name in the
    history. The service's own notes stay: they carry its markers and only its
    own words. Safe to repeat: only what is still there is asked for, so a run
    cut short is finished by the next.

    `note` is posted once (its marker made from `note_key`) before anything is
    removed, with `{fields}`, `{notes}` and `{attachments}` filled in with what
    was found, so the record says what was done in counts, never values."""

    fields: tuple[FieldKey, ...]
    marker: str
    note_key: str
    note: str

    def audit(self) -> dict[str, Any]:
        return {"anonymise": self.note_key, "fields": len(self.fields)}


@dataclasses.dataclass(frozen=True)
class RecordDisposal(Action):
    """Write the disposal record (ids, category, dates, who authorised it;
    never case details) to the audit log, before anything is deleted."""

    record: tuple[tuple[str, Any], ...]

    def audit(self) -> dict[str, Any]:
        return {"disposal_of": dict(self.record)["request_id"]}


@dataclasses.dataclass(frozen=True)
class DeleteIssue(Action):
    """Delete the issue (after its disposal record was written)."""

    reason: str = "retention"

    def audit(self) -> dict[str, Any]:
        return {"delete": self.reason}


@dataclasses.dataclass(frozen=True)
class Once(Action):
    """Post `note` privately and do `actions`, once. The note carries a marker
    made from `key` and is the record that this was done, so neither a later
    run nor a person changing the ticket since makes it happen again (the
    service never fights a person over an assignment or a status).
    `milestone` says what it stands for, where a job counts it."""

    key: str
    note: str
    actions: tuple[Action, ...] = ()
    milestone: Milestone | None = None

    def audit(self) -> dict[str, Any]:
        return {"once": self.key}


@dataclasses.dataclass(frozen=True)
class OnIssue(Action):
    """Actions on another issue (an escalation acting on its request)."""

    issue_id: int
    actions: tuple[Action, ...]

    def audit(self) -> dict[str, Any]:
        return {"issue_id": self.issue_id}


@dataclasses.dataclass(frozen=True)
class Verdict:
    violations: tuple[Violation, ...] = ()
    actions: tuple[Action, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.violations

    def __add__(self, other: "Verdict") -> "Verdict":
        return Verdict(self.violations + other.violations, self.actions + other.actions)


@dataclasses.dataclass(frozen=True)
class Context:
    """Everything a rule may look at. `previous` is None for a new issue.
    `now` is passed in (the rules never read a clock)."""

    previous: IssueState | None
    proposed: IssueState
    actor: Actor
    config: Config
    now: dt.datetime
    # The saves so far, oldest first; the last one (if any) is previous ->
    # proposed. Empty when nothing is known of the past.
    history: tuple[Step, ...] = ()
    # The project's members by user id, with their roles now.
    principals: Mapping[int, Principal] = dataclasses.field(default_factory=dict)
    # Current states of the issues related to this one, and of the issues
    # related to those (an escalation sees its request and its siblings).
    related: tuple[IssueState, ...] = ()
    # The InfoShare service's own Redmine user, to tell its saves from people's.
    service_user_id: int | None = None
    # The state as it stands, rather than the act of its last save: what a
    # save did (recording an approval, entering a status) is judged when that
    # save is, and not again as the record before the next one.
    at_rest: bool = False
    # The members' roles as seen over time, oldest first (Redmine keeps no history
    # of memberships; the service notes what it sees): a save is judged with
    # the roles of its time. Empty: only the roles now are known.
    role_history: Mapping[int, tuple[tuple[dt.datetime, frozenset[str]], ...]] = dataclasses.field(default_factory=dict)

    @property
    def calendar(self) -> WorkingCalendar:
        return working_calendar(self.config.calendar)

    def for_previous(self) -> "Context | None":
        """The context in which the previous state was judged."""
        if self.previous is None:
            return None
        history = self.history[:-1]
        return dataclasses.replace(self, previous=history[-1].before if history else None, proposed=self.previous, history=history, at_rest=True)

    def at_step(self, index: int) -> "Context":
        """The context in which save `index` of the history was judged."""
        step = self.history[index]
        return dataclasses.replace(self, previous=step.before, proposed=step.after, history=self.history[: index + 1])

    @property
    def step(self) -> Step | None:
        """The save being judged, when known (none for a state at rest)."""
        return self.history[-1] if self.history and not self.at_rest else None

    def holds_role(self, user_id: int | None, role_name: str, at: dt.datetime | None = None) -> bool:
        """Whether the user held the role at `at` (as far as the service saw:
        the first roles it saw stand for any time before), else now."""
        if user_id is None:
            return False
        seen = self.role_history.get(user_id) if at is not None else None
        if seen:
            earlier = [roles for when, roles in seen if when <= at]
            return role_name in (earlier[-1] if earlier else seen[0][1])
        principal = self.principals.get(user_id)
        return principal is not None and role_name in principal.roles

    def user_name(self, user_id: int | None) -> str:
        principal = self.principals.get(user_id) if user_id is not None else None
        if principal and principal.name:
            return principal.name
        return next((s.user_name for s in reversed(self.history) if s.user_id == user_id and s.user_name), "")

    @property
    def today(self) -> dt.date:
        """Today in the configured time zone: a date typed by a practitioner in
        England late in the evening is not "in the future"."""
        return self.now.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()

    @property
    def tomorrow_starts(self) -> dt.datetime:
        """Midnight at the end of today in the configured time zone, in UTC:
        when a note keyed by the day can next fall due."""
        zone = zoneinfo.ZoneInfo(self.config.calendar.timezone)
        return dt.datetime.combine(self.today + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)

    def first_due(self, threshold: dt.datetime) -> dt.datetime:
        """When a note that first falls due at `threshold`, then once a day,
        is next due: the threshold while it is ahead, else tomorrow."""
        return threshold if threshold > self.now else self.tomorrow_starts

    def field_name(self, key: FieldKey) -> str:
        return self.config.names.field(key)

    def status_name(self, key: StatusKey) -> str:
        return self.config.names.status(key)

"""The vocabulary of the rules: rule ids, the actor, the context a rule is
judged in, violations, actions and the verdict that carries them.

Everything here is a small frozen value. Rules return violations and actions;
one executor elsewhere performs the actions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import zoneinfo
from typing import Any

from schemas.config import Config
from schemas.names import GroupKey, StatusKey
from schemas.record import FieldKey, IssueState


class RuleId(str, enum.Enum):
    INTAKE = "R-INTAKE"
    DECISION = "R-DECISION"
    CONSENT = "R-CONSENT"
    OUTCOME = "R-OUTCOME"
    SHARE = "R-SHARE"
    APPROVAL = "R-APPROVAL"
    ESCALATION = "R-ESCALATION"
    RETENTION = "R-RETENTION"
    AUDIT = "R-AUDIT"


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is saving. `is_service` is the InfoShare service user itself."""

    id: int | None
    login: str | None
    admin: bool = False
    is_service: bool = False


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
    def identity(self) -> str:
        return violation_identity(self.rule.value, self.field.value if self.field else None, self.code)


def violation_identity(rule: str, field: str | None, code: str) -> str:
    """How a violation is recognised across checks (and in the breach list)."""
    return f"{rule}:{field or '-'}:{code}"


# --- Actions -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SetFields:
    values: tuple[tuple[FieldKey, Any], ...]


@dataclasses.dataclass(frozen=True)
class ChangeStatus:
    status: StatusKey


@dataclasses.dataclass(frozen=True)
class AssignTo:
    """Assign to a group, or to a user by id."""

    group: GroupKey | None = None
    user_id: int | None = None


@dataclasses.dataclass(frozen=True)
class AddPrivateNote:
    """A private note. `key` makes it idempotent: the executor posts it only if
    no note of the service carries the same marker."""

    key: str
    text: str


Action = SetFields | ChangeStatus | AssignTo | AddPrivateNote


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

    @property
    def today(self) -> dt.date:
        """Today in the configured time zone: a date typed by a practitioner in
        England late in the evening is not "in the future"."""
        return self.now.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()

    def field_name(self, key: FieldKey) -> str:
        return self.config.names.field(key)

    def status_name(self, key: StatusKey) -> str:
        return self.config.names.status(key)

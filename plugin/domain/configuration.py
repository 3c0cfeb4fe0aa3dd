"""The configuration as the rest of the service sees it: frozen values with
the contract's defaults (DOMAIN.md). Reading and validating `config.toml`
is `schemas.config_toml` (the marshmallow schema) and `plugin.adapters.config_file`
(the file and the environment); nothing here reads anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
from typing import Mapping

from plugin.domain.names import GroupKey, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, RequestChannel, Urgency

# ---------------------------------------------------------------------------
# The Config value objects
# ---------------------------------------------------------------------------


class EventsFrom(str, enum.Enum):
    """How Redmine tells the service of saves."""

    SHIM = "shim"  # redmine_infoshare (Redmine 5.x, 6.x and 7.x): events and the gate
    NATIVE = "native"  # Redmine 7's own webhooks, without the shim: events only, no gate


@dataclasses.dataclass(frozen=True)
class RedmineConfig:
    url: str
    api_key: str
    bot_login: str
    projects: tuple[str, ...]
    connect_timeout: float
    read_timeout: float
    retries: int
    events_from: EventsFrom = EventsFrom.SHIM
    # Whose Redmine 7 webhook sends the events (the payload is rendered as
    # they see the issue); `infoshare doctor` checks their permissions.
    # Empty: the service user.
    webhook_owner: str = ""
    # A file holding an administrator's API key, for `infoshare doctor` only
    # (which reads administrator-only endpoints); readable by its owner alone.
    admin_api_key_file: str = ""

    @property
    def native(self) -> bool:
        return self.events_from is EventsFrom.NATIVE

    @property
    def webhook_owner_login(self) -> str:
        return self.webhook_owner or self.bot_login


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    public_url: str
    database_url: str
    max_body_bytes: int
    log_level: str


@dataclasses.dataclass(frozen=True)
class WebhookConfig:
    secret: str
    timestamp_tolerance_seconds: int
    # Secret rotation: the old secret keeps working until this moment, so
    # Redmine and the service need not change at the same instant.
    previous_secret: str = ""
    previous_secret_expires: dt.datetime | None = None

    def secrets_at(self, moment: dt.datetime) -> tuple[str, ...]:
        """The secrets a signature may be made with at `moment`."""
        if self.previous_secret and self.previous_secret_expires and moment < self.previous_secret_expires:
            return (self.secret, self.previous_secret)
        return (self.secret,)


@dataclasses.dataclass(frozen=True)
class GateConfig:
    timeout_ms: int
    # Status changes refused while the service cannot be reached; any other
    # save goes through and the reconciler checks it later (ARCHITECTURE.md).
    block_when_unreachable: tuple[StatusKey, ...]
    # Administrators' saves are never refused (they repair records, as they
    # bypass Redmine's required fields); what they break is logged as a breach.
    admins_bypass: bool


@dataclasses.dataclass(frozen=True)
class Names:
    trackers: Mapping[TrackerKey, str]
    statuses: Mapping[StatusKey, str]
    roles: Mapping[RoleKey, str]
    groups: Mapping[GroupKey, str]
    fields: Mapping[FieldKey, str]

    def tracker(self, key: TrackerKey) -> str:
        return self.trackers[key]

    def status(self, key: StatusKey) -> str:
        return self.statuses[key]

    def role(self, key: RoleKey) -> str:
        return self.roles[key]

    def group(self, key: GroupKey) -> str:
        return self.groups[key]

    def field(self, key: FieldKey) -> str:
        return self.fields[key]

    def field_keys_by_name(self) -> dict[str, FieldKey]:
        return {name: key for key, name in self.fields.items()}

    def status_keys_by_name(self) -> dict[str, StatusKey]:
        return {name: key for key, name in self.statuses.items()}

    def tracker_keys_by_name(self) -> dict[str, TrackerKey]:
        return {name: key for key, name in self.trackers.items()}

    def key_maps(self) -> dict[str, dict]:
        """The name -> key maps `plugin.domain.record.issue_state` reads an issue with
        (the same maps every time: readers may cache by them)."""
        return self._key_maps

    @functools.cached_property
    def _key_maps(self) -> dict[str, dict]:
        return {
            "tracker_keys": self.tracker_keys_by_name(),
            "status_keys": self.status_keys_by_name(),
            "field_keys": self.field_keys_by_name(),
        }


@dataclasses.dataclass(frozen=True)
class ApprovalConfig:
    channels: tuple[RequestChannel, ...]
    trusted_domains: tuple[str, ...]
    approver_role: RoleKey
    approvers_group: GroupKey


class TargetUnit(str, enum.Enum):
    HOURS = "hours"  # around the clock
    WORKING_HOURS = "working hours"
    WORKING_DAYS = "working days"


@dataclasses.dataclass(frozen=True)
class ResponseTarget:
    amount: int
    unit: TargetUnit

    def __str__(self) -> str:
        unit = self.unit.value
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


@dataclasses.dataclass(frozen=True)
class UrgencyConfig:
    """R-TIMELINESS: per urgency, the time to answer a request from when it
    was logged, and how long it may wait in Awaiting approval before the
    approvers are reminded."""

    targets: Mapping[Urgency, ResponseTarget]
    approval_waits: Mapping[Urgency, ResponseTarget]


@dataclasses.dataclass(frozen=True)
class CalendarConfig:
    country: str
    subdivision: str | None
    timezone: str
    working_day_start: dt.time
    working_day_end: dt.time
    extra_closed_days: tuple[dt.date, ...]


ASSIGNEE_OWNER = "assignee"


@dataclasses.dataclass(frozen=True)
class EscalationStage:
    number: int
    name: str
    # ASSIGNEE_OWNER (the request's assignee, practitioner to practitioner) or a group.
    owner: str
    working_days: int
    urgent_working_days: int
    notify_partnership: bool

    @property
    def label(self) -> str:
        """The value of the `Escalation stage` list field for this stage."""
        return f"Stage {self.number}: {self.name}"

    @property
    def owner_group(self) -> GroupKey | None:
        return None if self.owner == ASSIGNEE_OWNER else GroupKey(self.owner)


@dataclasses.dataclass(frozen=True)
class EscalationConfig:
    stages: tuple[EscalationStage, ...]
    urgent_start_stage: int


@dataclasses.dataclass(frozen=True)
class RetentionCategory:
    name: str
    years: int


class DestroyMode(str, enum.Enum):
    """What Destroy does to the request once the disposal record is written."""

    DELETE = "delete"
    ANONYMISE = "anonymise"




@dataclasses.dataclass(frozen=True)
class RetentionConfig:
    categories: tuple[RetentionCategory, ...]
    review_lead_days: int
    reminder_days_before: tuple[int, ...]
    overdue_reminder_every_days: int
    max_retain_years: int
    # Text fields Anonymise keeps (R-RETENTION v2): everything else that holds
    # text is removed, so a field added later is removed by default.
    keep_fields: tuple[FieldKey, ...]
    redaction_marker: str
    destroy: DestroyMode

    def category(self, name: str) -> RetentionCategory | None:
        return next((c for c in self.categories if c.name == name), None)


@dataclasses.dataclass(frozen=True)
class ReconcilerConfig:
    interval_minutes: int
    overlap_minutes: int
    breach_assignee: GroupKey


@dataclasses.dataclass(frozen=True)
class InboxConfig:
    poll_seconds: float
    max_attempts: int
    keep_processed_days: int


@dataclasses.dataclass(frozen=True)
class SchedulerConfig:
    """When `infoshare scheduler` runs the daily jobs (times of day in
    calendar.timezone). The reconciler runs every reconciler.interval_minutes."""

    retention_at: tuple[dt.time, ...]
    escalations_at: tuple[dt.time, ...]
    approval_reminders_at: tuple[dt.time, ...]
    # Timers counted in hours (incident deadlines) are swept this often.
    timers_every_minutes: int = 15


@dataclasses.dataclass(frozen=True)
class ShareConfig:
    """R-SHARE (West Yorkshire procedures 3.5: confirmed in writing): remind
    the person who shared, each working day, until the confirmation is recorded."""

    written_confirmation_reminders: bool = True


@dataclasses.dataclass(frozen=True)
class Config:
    redmine: RedmineConfig
    service: ServiceConfig
    webhook: WebhookConfig
    gate: GateConfig
    names: Names
    approval: ApprovalConfig
    urgency: "UrgencyConfig"
    calendar: CalendarConfig
    escalation: EscalationConfig
    retention: RetentionConfig
    reconciler: ReconcilerConfig
    inbox: InboxConfig
    scheduler: SchedulerConfig
    share: ShareConfig = ShareConfig()
    # Where the file was read from, for messages and `var/stack.json`.
    source: str = ""

    @property
    def gated_trackers(self) -> tuple[str, ...]:
        return tuple(self.names.trackers[k] for k in TrackerKey)


# ---------------------------------------------------------------------------
# Defaults (DOMAIN.md)
# ---------------------------------------------------------------------------

DEFAULT_STAGES = (
    {"number": 1, "name": "Practitioner to practitioner", "owner": ASSIGNEE_OWNER, "working_days": 2},
    {"number": 2, "name": "Manager to manager", "owner": GroupKey.MASH_MANAGERS.value, "working_days": 5},
    {"number": 3, "name": "Senior manager", "owner": GroupKey.HEADS_OF_SERVICE.value, "working_days": 5},
    {
        "number": 4,
        "name": "Safeguarding partnership",
        "owner": GroupKey.SAFEGUARDING_PARTNERSHIP.value,
        "working_days": 14,
    },
)

DEFAULT_CATEGORIES = (
    {"name": "No further action", "years": 6},
    {"name": "Early help", "years": 6},
    {"name": "Child in need", "years": 6},
    {"name": "Child protection", "years": 35},
    {"name": "Allegation against staff", "years": 10},
)

# Kept by Anonymise by default: the service's own words on why approval was
# needed (the doubts, never a value from the case).
DEFAULT_KEEP_FIELDS = (FieldKey.APPROVAL_REASON.value,)

# A Red request is dealt with to completion whatever the hour (MASH
# procedures), so its target runs around the clock.
DEFAULT_URGENCY = {"Red": "4 hours", "Amber": "1 working day", "Green": "3 working days"}
DEFAULT_APPROVAL_WAITS = {"Red": "1 working hour", "Amber": "4 working hours", "Green": "1 working day"}

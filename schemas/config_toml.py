"""The configuration file (`config.toml`) as a marshmallow schema.

Loading returns the frozen `plugin.domain.configuration.Config`. Every error names
the key it is about (see `schemas.error_messages.flatten_errors`), so an administrator
can fix the file without reading code. No I/O here: reading the file and the
environment is `plugin.adapters.config_file`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

import holidays
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from plugin.domain.configuration import (
    ShareConfig,
    EventsFrom,
    ASSIGNEE_OWNER,
    DEFAULT_KEEP_FIELDS,
    DEFAULT_CATEGORIES,
    DEFAULT_STAGES,
    DEFAULT_APPROVAL_WAITS,
    DEFAULT_URGENCY,
    ApprovalConfig,
    CalendarConfig,
    Config,
    DestroyMode,
    EscalationConfig,
    EscalationStage,
    GateConfig,
    InboxConfig,
    Names,
    ReconcilerConfig,
    RedmineConfig,
    ResponseTarget,
    UrgencyConfig,
    RetentionCategory,
    RetentionConfig,
    SchedulerConfig,
    ServiceConfig,
    TargetUnit,
    WebhookConfig,
)
from plugin.domain.names import GroupKey, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FIELDS, FieldFormat, FieldKey, RequestChannel, Urgency

# ---------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------

_ENV_SECRET_HINT = "set it in the file or in the environment variable {env}"


class _Strict(Schema):
    """Unknown keys are errors (a misspelt key must not be silently ignored).

    `defaults_to_load` lists keys whose default is raw data that still has to
    go through the nested schema (marshmallow does not load `load_default`)."""

    defaults_to_load: dict[str, Any] = {}

    class Meta:
        unknown = RAISE

    @pre_load
    def fill_defaults(self, data, **_):
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for key, default in self.defaults_to_load.items():
            if key not in filled:
                filled[key] = default() if callable(default) else default
        return filled


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("must be an http:// or https:// URL, for example http://127.0.0.1:3000")


def _one_of(enum_cls) -> validate.OneOf:
    choices = [m.value for m in enum_cls]
    return validate.OneOf(choices, error="must be one of: " + ", ".join(choices))


class RedmineSchema(_Strict):
    url = fields.String(required=True, validate=_http_url)
    # Empty here means "read INFOSHARE_REDMINE_API_KEY" (plugin.adapters.config_file fills it in).
    api_key = fields.String(load_default="")
    bot_login = fields.String(load_default="infoshare-bot", validate=validate.Length(min=1))
    projects = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    connect_timeout = fields.Float(load_default=3.0, validate=validate.Range(min=0.1, max=60))
    read_timeout = fields.Float(load_default=15.0, validate=validate.Range(min=0.1, max=300))
    retries = fields.Integer(load_default=3, validate=validate.Range(min=0, max=10))
    events_from = fields.String(load_default=EventsFrom.SHIM.value, validate=_one_of(EventsFrom))
    webhook_owner = fields.String(load_default="")
    admin_api_key_file = fields.String(load_default="")

    @post_load
    def make(self, data, **_):
        data["events_from"] = EventsFrom(data["events_from"])
        if not data["api_key"]:
            raise ValidationError(
                "is missing: the InfoShare service's Redmine API key; "
                + _ENV_SECRET_HINT.format(env="INFOSHARE_REDMINE_API_KEY"),
                "api_key",
            )
        data["projects"] = tuple(data["projects"])
        return RedmineConfig(**data)


class ServiceSchema(_Strict):
    public_url = fields.String(load_default="http://127.0.0.1:5005", validate=_http_url)
    database_url = fields.String(load_default="sqlite:///var/infoshare.sqlite3", validate=validate.Length(min=1))
    max_body_bytes = fields.Integer(load_default=1_048_576, validate=validate.Range(min=1024, max=64 * 1_048_576))
    log_level = fields.String(
        load_default="INFO",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"], error="must be one of DEBUG, INFO, WARNING, ERROR"),
    )

    @post_load
    def make(self, data, **_):
        return ServiceConfig(**data)


class WebhookSchema(_Strict):
    secret = fields.String(load_default="")
    timestamp_tolerance_seconds = fields.Integer(load_default=300, validate=validate.Range(min=10, max=3600))
    previous_secret = fields.String(load_default="")
    previous_secret_expires = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=dt.timezone.utc)

    @post_load
    def make(self, data, **_):
        if len(data["secret"]) < 16:
            raise ValidationError(
                "is missing or shorter than 16 characters: the secret shared with Redmine that signs "
                "events; " + _ENV_SECRET_HINT.format(env="INFOSHARE_WEBHOOK_SECRET"),
                "secret",
            )
        if data["previous_secret"] and data["previous_secret_expires"] is None:
            raise ValidationError(
                "is required with previous_secret: the moment the old secret stops being accepted, for example 2026-12-01T09:00:00Z",
                "previous_secret_expires",
            )
        if data["previous_secret"] and data["previous_secret"] == data["secret"]:
            raise ValidationError("must differ from secret", "previous_secret")
        return WebhookConfig(**data)


class GateSchema(_Strict):
    timeout_ms = fields.Integer(load_default=2000, validate=validate.Range(min=100, max=30_000))
    block_when_unreachable = fields.List(
        fields.String(validate=_one_of(StatusKey)),
        load_default=lambda: [StatusKey.SHARED.value, StatusKey.APPROVED.value, StatusKey.NOT_SHARED.value],
    )
    admins_bypass = fields.Boolean(load_default=True)

    @post_load
    def make(self, data, **_):
        return GateConfig(data["timeout_ms"], tuple(StatusKey(s) for s in data["block_when_unreachable"]), data["admins_bypass"])


def _names_schema(enum_cls) -> type[Schema]:
    attrs = {m.value: fields.String(load_default=m.default_name, validate=validate.Length(min=1)) for m in enum_cls}
    return type(f"{enum_cls.__name__}NamesSchema", (_Strict,), attrs)


class NamesSchema(_Strict):
    defaults_to_load = {"trackers": dict, "statuses": dict, "roles": dict, "groups": dict, "fields": dict}

    trackers = fields.Nested(_names_schema(TrackerKey))
    statuses = fields.Nested(_names_schema(StatusKey))
    roles = fields.Nested(_names_schema(RoleKey))
    groups = fields.Nested(_names_schema(GroupKey))
    fields_ = fields.Nested(_names_schema(FieldKey), data_key="fields")

    @post_load
    def make(self, data, **_):
        sections = {
            "trackers": TrackerKey,
            "statuses": StatusKey,
            "roles": RoleKey,
            "groups": GroupKey,
            "fields_": FieldKey,
        }
        built = {}
        for attr, enum_cls in sections.items():
            given = data[attr]
            mapping = {m: given.get(m.value, m.default_name) for m in enum_cls}
            duplicates = sorted({n for n in mapping.values() if list(mapping.values()).count(n) > 1})
            if duplicates:
                raise ValidationError(
                    f"names must be distinct; used more than once: {', '.join(duplicates)}",
                    "fields" if attr == "fields_" else attr,
                )
            built[attr.rstrip("_")] = mapping
        return Names(**built)


class ApprovalSchema(_Strict):
    channels = fields.List(
        fields.String(validate=_one_of(RequestChannel)),
        load_default=lambda: [RequestChannel.PHONE.value, RequestChannel.EMAIL.value, RequestChannel.SECURE_EMAIL.value],
    )
    trusted_domains = fields.List(fields.String(), load_default=list)
    approver_role = fields.String(load_default=RoleKey.MASH_MANAGER.value, validate=_one_of(RoleKey))
    approvers_group = fields.String(load_default=GroupKey.MASH_MANAGERS.value, validate=_one_of(GroupKey))

    @validates_schema
    def check_domains(self, data, **_):
        bad = [d for d in data.get("trusted_domains", []) if not _DOMAIN_RE.match(d.strip().lower())]
        if bad:
            raise ValidationError(
                f"not a domain name: {', '.join(repr(b) for b in bad)}; write a bare domain such as nhs.net",
                "trusted_domains",
            )

    @post_load
    def make(self, data, **_):
        return ApprovalConfig(
            channels=tuple(RequestChannel(c) for c in data["channels"]),
            trusted_domains=tuple(d.strip().lower() for d in data["trusted_domains"]),
            approver_role=RoleKey(data["approver_role"]),
            approvers_group=GroupKey(data["approvers_group"]),
        )


_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_TARGET_RE = re.compile(r"^\s*(\d+)\s+(working\s+)?(hour|hours|day|days)\s*$", re.IGNORECASE)
# Ten years: anything longer is a typing slip, and would make a sweep look far ahead.
_MAX_TARGET_HOURS = 24 * 3660


def parse_response_target(text: str) -> ResponseTarget:
    """"4 hours" (around the clock), "4 working hours" or "3 working days"."""
    match = _TARGET_RE.match(text)
    example = 'write for example "4 hours" (around the clock), "4 working hours" or "3 working days"'
    if not match or int(match.group(1)) < 1:
        raise ValidationError(f"{text!r} is not a time to answer in; {example}")
    working, day = bool(match.group(2)), match.group(3).lower().startswith("day")
    if day and not working:
        raise ValidationError(f"{text!r}: days are counted as working days here; {example}")
    amount = int(match.group(1))
    if amount * (24 if day else 1) > _MAX_TARGET_HOURS:
        raise ValidationError(f"{text!r} is more than ten years; {example}")
    unit = TargetUnit.WORKING_DAYS if day else TargetUnit.WORKING_HOURS if working else TargetUnit.HOURS
    return ResponseTarget(amount, unit)


def _targets(given: dict, defaults: dict, key: str) -> dict:
    out = {}
    for level, text in {**defaults, **given}.items():
        try:
            out[Urgency(level)] = parse_response_target(text)
        except ValidationError as err:
            raise ValidationError({key: {level: err.messages}}) from None
    return out


class UrgencySchema(_Strict):
    targets = fields.Dict(keys=fields.String(validate=_one_of(Urgency)), values=fields.String(), load_default=dict)
    approval_waits = fields.Dict(keys=fields.String(validate=_one_of(Urgency)), values=fields.String(), load_default=dict)

    @post_load
    def make(self, data, **_):
        return UrgencyConfig(
            targets=_targets(data["targets"], DEFAULT_URGENCY, "targets"),
            approval_waits=_targets(data["approval_waits"], DEFAULT_APPROVAL_WAITS, "approval_waits"),
        )


class CalendarSchema(_Strict):
    country = fields.String(load_default="GB")
    subdivision = fields.String(load_default="ENG", allow_none=True)
    timezone = fields.String(load_default="Europe/London")
    working_day_start = fields.Time(load_default=dt.time(9, 0), format="%H:%M")
    working_day_end = fields.Time(load_default=dt.time(17, 0), format="%H:%M")
    extra_closed_days = fields.List(fields.Date(), load_default=list)

    @validates_schema
    def check_region(self, data, **_):
        supported = holidays.list_supported_countries()
        country = data.get("country", "GB")
        if country not in supported:
            raise ValidationError(f"{country!r} is not a country the holidays library knows; use an ISO code such as GB", "country")
        subdivision = data.get("subdivision", "ENG")
        if subdivision and subdivision not in supported[country]:
            raise ValidationError(
                f"{subdivision!r} is not a subdivision of {country}; use one of: {', '.join(supported[country])}",
                "subdivision",
            )
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(data.get("timezone", "Europe/London"))
        except Exception:
            raise ValidationError("is not a known time zone; use an IANA name such as Europe/London", "timezone") from None
        start, end = data.get("working_day_start", dt.time(9)), data.get("working_day_end", dt.time(17))
        if start >= end:
            raise ValidationError("must be before working_day_end", "working_day_start")

    @post_load
    def make(self, data, **_):
        data["subdivision"] = data["subdivision"] or None
        data["extra_closed_days"] = tuple(data["extra_closed_days"])
        return CalendarConfig(**data)


class StageSchema(_Strict):
    number = fields.Integer(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    owner = fields.String(
        required=True,
        validate=validate.OneOf(
            [ASSIGNEE_OWNER] + [g.value for g in GroupKey],
            error="must be \"assignee\" (the request's assignee) or one of the groups: " + ", ".join(g.value for g in GroupKey),
        ),
    )
    working_days = fields.Integer(required=True, validate=validate.Range(min=1, error="must be a positive number of working days"))
    urgent_working_days = fields.Integer(load_default=1, validate=validate.Range(min=1, error="must be a positive number of working days"))
    notify_partnership = fields.Boolean(load_default=False)

    @post_load
    def make(self, data, **_):
        return EscalationStage(**data)


class EscalationSchema(_Strict):
    defaults_to_load = {"stages": lambda: [dict(s) for s in DEFAULT_STAGES]}

    stages = fields.List(fields.Nested(StageSchema))
    urgent_start_stage = fields.Integer(load_default=2)

    @post_load
    def make(self, data, **_):
        stages = tuple(data["stages"])
        if not stages:
            raise ValidationError("at least one stage is needed", "stages")
        numbers = [s.number for s in stages]
        if numbers != list(range(1, len(stages) + 1)):
            raise ValidationError(f"stages must be numbered 1, 2, 3 ... in order; found {numbers}", "stages")
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValidationError("stage names must be distinct", "stages")
        if not 1 <= data["urgent_start_stage"] <= len(stages):
            raise ValidationError(f"must be a stage number between 1 and {len(stages)}", "urgent_start_stage")
        return EscalationConfig(stages, data["urgent_start_stage"])


class CategorySchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    years = fields.Integer(required=True, validate=validate.Range(min=1, max=100, error="must be between 1 and 100 years"))

    @post_load
    def make(self, data, **_):
        return RetentionCategory(**data)


# Only text can be kept or removed: list, date and yes/no fields (the
# decision record the report counts) always stay.
_KEEPABLE = [d.key.value for d in FIELDS.values() if d.format in (FieldFormat.STRING, FieldFormat.TEXT)]


class RetentionSchema(_Strict):
    defaults_to_load = {"categories": lambda: [dict(c) for c in DEFAULT_CATEGORIES]}

    @pre_load
    def refuse_the_old_list(self, data, **_):
        # Version 1 listed what Anonymise removed; a field added later was
        # then kept without anyone deciding it. Say so rather than "unknown key".
        if isinstance(data, Mapping) and "anonymise_fields" in data:
            raise ValidationError(
                "no longer used: Anonymise now removes every text field except those in keep_fields; "
                "delete this key and list in keep_fields any text field to keep",
                "anonymise_fields",
            )
        return data

    categories = fields.List(fields.Nested(CategorySchema))
    review_lead_days = fields.Integer(load_default=30, validate=validate.Range(min=0, max=365))
    reminder_days_before = fields.List(fields.Integer(validate=validate.Range(min=0, max=365)), load_default=lambda: [30, 7, 0])
    overdue_reminder_every_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))
    max_retain_years = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    keep_fields = fields.List(
        fields.String(
            validate=validate.OneOf(
                _KEEPABLE,
                error="must be the key of a text field such as approval_reason (subject, description and every other text field are removed)",
            )
        ),
        load_default=lambda: list(DEFAULT_KEEP_FIELDS),
    )
    redaction_marker = fields.String(load_default="[redacted under retention review]", validate=validate.Length(min=1, max=100))
    destroy = fields.String(
        load_default=DestroyMode.DELETE.value,
        validate=_one_of(DestroyMode),
    )

    @post_load
    def make(self, data, **_):
        categories = tuple(data["categories"])
        if not categories:
            raise ValidationError("at least one retention category is needed", "categories")
        names = [c.name for c in categories]
        if len(set(names)) != len(names):
            raise ValidationError("category names must be distinct", "categories")
        return RetentionConfig(
            categories=categories,
            review_lead_days=data["review_lead_days"],
            reminder_days_before=tuple(sorted(set(data["reminder_days_before"]), reverse=True)),
            overdue_reminder_every_days=data["overdue_reminder_every_days"],
            max_retain_years=data["max_retain_years"],
            keep_fields=tuple(FieldKey(k) for k in data["keep_fields"]),
            redaction_marker=data["redaction_marker"],
            destroy=DestroyMode(data["destroy"]),
        )


class ReconcilerSchema(_Strict):
    # Default: 10 minutes with the shim; 1 with Redmine 7's webhooks, which
    # never send a delivery again (ConfigSchema.make).
    interval_minutes = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=1440))
    overlap_minutes = fields.Integer(load_default=5, validate=validate.Range(min=0, max=1440))
    breach_assignee = fields.String(load_default=GroupKey.MASH_MANAGERS.value, validate=_one_of(GroupKey))

    @post_load
    def make(self, data, **_):
        return ReconcilerConfig(data["interval_minutes"], data["overlap_minutes"], GroupKey(data["breach_assignee"]))


class InboxSchema(_Strict):
    poll_seconds = fields.Float(load_default=1.0, validate=validate.Range(min=0.05, max=60))
    max_attempts = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))
    keep_processed_days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3650))

    @post_load
    def make(self, data, **_):
        return InboxConfig(**data)


class TimeOfDay(fields.Field):
    """A time of day written "HH:MM" or "HH:MM:SS"."""

    default_error_messages = {"invalid": "must be a time of day written HH:MM or HH:MM:SS, for example \"06:30\""}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
            raise self.make_error("invalid")
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None


def _times_of_day(default: list[str]) -> fields.List:
    return fields.List(
        TimeOfDay(),
        load_default=lambda: [dt.time.fromisoformat(t) for t in default],
        validate=validate.Length(min=1, error="give at least one time of day"),
    )


class SchedulerSchema(_Strict):
    # Retention reviews before the working day starts; escalation timers early
    # and again at midday in case the morning run was missed; reminders of
    # outstanding retrospective approvals when managers start work.
    retention_at = _times_of_day(["06:30"])
    escalations_at = _times_of_day(["07:05", "12:05"])
    approval_reminders_at = _times_of_day(["09:00"])
    timers_every_minutes = fields.Integer(load_default=15, validate=validate.Range(min=1, max=60, error="must be between 1 and 60 minutes"))

    @post_load
    def make(self, data, **_):
        every = data.pop("timers_every_minutes")
        return SchedulerConfig(**{key: tuple(sorted(set(times))) for key, times in data.items()}, timers_every_minutes=every)


class ShareSchema(_Strict):
    written_confirmation_reminders = fields.Boolean(load_default=ShareConfig().written_confirmation_reminders)

    @post_load
    def make(self, data, **_):
        return ShareConfig(**data)


class ConfigSchema(_Strict):
    defaults_to_load = {
        key: dict
        for key in (
            "service", "webhook", "gate", "names", "approval", "urgency", "calendar", "escalation", "retention", "reconciler", "inbox", "scheduler", "share",
        )
    }

    redmine = fields.Nested(RedmineSchema, required=True)
    service = fields.Nested(ServiceSchema)
    webhook = fields.Nested(WebhookSchema)
    gate = fields.Nested(GateSchema)
    names = fields.Nested(NamesSchema)
    approval = fields.Nested(ApprovalSchema)
    urgency = fields.Nested(UrgencySchema)
    calendar = fields.Nested(CalendarSchema)
    escalation = fields.Nested(EscalationSchema)
    retention = fields.Nested(RetentionSchema)
    reconciler = fields.Nested(ReconcilerSchema)
    inbox = fields.Nested(InboxSchema)
    scheduler = fields.Nested(SchedulerSchema)
    share = fields.Nested(ShareSchema)

    @validates_schema
    def native_needs_a_reachable_url(self, data, **_):
        redmine, service = data.get("redmine"), data.get("service")
        if redmine is None or service is None or not redmine.native:
            return
        refused = _refused_by_redmine7(service.public_url)
        if refused:
            raise ValidationError(
                f"is {refused}, which Redmine 7 refuses as a webhook URL (when the webhook is saved and at every delivery); "
                "with redmine.events_from = \"native\" give the address Redmine reaches this service at, such as "
                "http://10.0.0.5:5005 or https://infoshare.example.org, and bind the service there",
                "service.public_url",
            )

    @post_load
    def make(self, data, **_):
        reconciler = data["reconciler"]
        if reconciler.interval_minutes is None:
            every = NATIVE_RECONCILE_MINUTES if data["redmine"].native else SHIM_RECONCILE_MINUTES
            data["reconciler"] = dataclasses.replace(reconciler, interval_minutes=every)
        return Config(**data)


# The reconciler's default interval: with Redmine 7's webhooks a dropped
# delivery is judged by the next pass, so passes are frequent (one Redmine
# request each when nothing changed).
SHIM_RECONCILE_MINUTES = 10
NATIVE_RECONCILE_MINUTES = 1


def _refused_by_redmine7(url: str) -> str | None:
    """Why Redmine 7 would refuse `url` as a webhook target, if it would: it
    refuses hosts that are (or resolve to) loopback, link-local, unspecified
    or multicast addresses (lib/webhook_endpoint_validator.rb). Only what the
    URL itself says is checked here; a name is not resolved."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback address (localhost)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    for test, what in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_multicast, "a multicast address"),
    ):
        if test:
            return f"{what} ({host})"
    return None


def load_config_data(data: Mapping[str, Any], source: str = "") -> Config:
    """Validate already-parsed configuration data. Raises ValidationError."""
    config = ConfigSchema().load(dict(data))
    return dataclasses.replace(config, source=source)

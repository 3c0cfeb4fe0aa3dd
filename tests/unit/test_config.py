"""Configuration: every error names its key; the example documents every key
with its default; secrets can come from the environment."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from marshmallow import ValidationError

from plugin.adapters.config_file import ConfigError, load_config, resolve_config_path
from plugin.domain.configuration import ASSIGNEE_OWNER, DestroyMode, TargetUnit
from schemas.error_messages import CONFIG_UNKNOWN_HINT, flatten_errors
from schemas.config_toml import ConfigSchema, load_config_data, parse_response_target
from plugin.domain.names import GroupKey, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, RequestChannel, Urgency

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
ENV = {"INFOSHARE_REDMINE_API_KEY": "k" * 40, "INFOSHARE_WEBHOOK_SECRET": "s" * 32}
MINIMAL = {"redmine": {"url": "http://r.test", "api_key": "k"}, "webhook": {"secret": "s" * 16}}


def errors_for(data) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load_config_data(data)
    return flatten_errors(info.value.messages, unknown_hint=CONFIG_UNKNOWN_HINT)


def with_(**sections):
    data = {k: dict(v) for k, v in MINIMAL.items()}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


# --- defaults and the example ---------------------------------------------------


def test_defaults_follow_the_domain():
    c = load_config_data(MINIMAL)
    assert c.names.tracker(TrackerKey.INFORMATION_REQUEST) == "Information request"
    assert c.names.status(StatusKey.AWAITING_APPROVAL) == "Awaiting approval"
    assert c.names.role(RoleKey.MASH_MANAGER) == "MASH manager"
    assert c.names.group(GroupKey.HEADS_OF_SERVICE) == "Heads of service"
    assert c.names.field(FieldKey.CONSENT_NOT_SOUGHT_REASON) == "Consent not sought reason"
    assert c.approval.channels == (RequestChannel.PHONE, RequestChannel.EMAIL, RequestChannel.SECURE_EMAIL)
    assert c.approval.approver_role is RoleKey.MASH_MANAGER
    assert [(s.number, s.owner, s.working_days, s.urgent_working_days) for s in c.escalation.stages] == [
        (1, ASSIGNEE_OWNER, 2, 1),
        (2, "mash_managers", 5, 1),
        (3, "heads_of_service", 5, 1),
        (4, "safeguarding_partnership", 14, 1),
    ]
    assert c.escalation.urgent_start_stage == 2
    assert [(k.name, k.years) for k in c.retention.categories] == [
        ("No further action", 6),
        ("Early help", 6),
        ("Child in need", 6),
        ("Child protection", 35),
        ("Allegation against staff", 10),
    ]
    assert c.retention.review_lead_days == 30
    assert c.retention.reminder_days_before == (30, 7, 0)
    assert c.retention.destroy is DestroyMode.DELETE
    assert str(c.urgency.targets[Urgency.RED]) == "4 hours"
    assert c.urgency.targets[Urgency.RED].unit is TargetUnit.HOURS
    assert c.urgency.targets[Urgency.AMBER].unit is TargetUnit.WORKING_DAYS
    assert [str(c.urgency.approval_waits[u]) for u in Urgency] == ["1 working hour", "4 working hours", "1 working day"]
    assert c.gate.block_when_unreachable == (StatusKey.SHARED, StatusKey.APPROVED, StatusKey.NOT_SHARED)
    assert (c.calendar.country, c.calendar.subdivision) == ("GB", "ENG")


def test_example_documents_the_defaults_exactly():
    from_example = load_config(EXAMPLE, environ=ENV)
    defaults = load_config_data(
        {"redmine": {"url": "http://127.0.0.1:3000", "api_key": ENV["INFOSHARE_REDMINE_API_KEY"]}, "webhook": {"secret": ENV["INFOSHARE_WEBHOOK_SECRET"]}}
    )
    assert dataclasses.replace(from_example, source="") == defaults


def _schema_keys(schema, prefix=""):
    keys = set()
    for name, field in schema.fields.items():
        key = field.data_key or name
        path = f"{prefix}{key}"
        nested = getattr(field, "nested", None) or getattr(getattr(field, "inner", None), "nested", None)
        if nested is not None:
            nested_schema = nested() if isinstance(nested, type) else nested
            keys |= _schema_keys(nested_schema, path + ".")
        else:
            keys.add(path)
    return keys


def _toml_keys(data, prefix=""):
    keys = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            keys |= _toml_keys(value, path + ".")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                keys |= _toml_keys(item, path + ".")
        else:
            keys.add(path)
    return keys


def test_example_mentions_every_key():
    example_keys = _toml_keys(tomllib.loads(EXAMPLE.read_text()))
    schema_keys = _schema_keys(ConfigSchema())
    # urgency.targets is a table of levels rather than fixed keys.
    schema_keys -= {"urgency.targets", "urgency.approval_waits"}
    example_keys = {k for k in example_keys if not k.startswith(("urgency.targets.", "urgency.approval_waits."))}
    # Keys with no value by default are documented as comments ("# key = ...").
    text = EXAMPLE.read_text()
    missing = {k for k in schema_keys - example_keys if f"# {k.rsplit('.', 1)[-1]} =" not in text}
    assert missing == set()


# --- errors name their key --------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"webhook": {"secret": "s" * 16}}, "redmine: is required"),
        (with_(redmine={"url": "ftp://x"}), "redmine.url: must be an http:// or https:// URL"),
        (with_(redmine={"api_key": ""}), "redmine.api_key: is missing"),
        (with_(webhook={"secret": "short"}), "webhook.secret: is missing or shorter than 16 characters"),
        (with_(redmine={"colour": "red"}), "redmine.colour: unknown key"),
        (with_(redmine={"retries": "three"}), "redmine.retries: must be a whole number"),
        (with_(names={"fields": {"decison": "Decision"}}), "names.fields.decison: unknown key"),
        (with_(names={"statuses": {"shared": "Closed", "not_shared": "Closed"}}), "names.statuses: names must be distinct; used more than once: Closed"),
        (with_(approval={"channels": ["Pigeon"]}), "approval.channels[1]: must be one of: Phone"),
        (with_(approval={"trusted_domains": ["nhs.net", "not a domain"]}), "approval.trusted_domains: not a domain name: 'not a domain'"),
        (with_(approval={"approver_role": "boss"}), "approval.approver_role: must be one of: mash_practitioner"),
        (with_(urgency={"targets": {"Red": "soon"}}), "urgency.targets.Red: 'soon' is not a time to answer in; write for example \"4 hours\""),
        (with_(urgency={"targets": {"Amber": "2 days"}}), "urgency.targets.Amber: '2 days': days are counted as working days here"),
        (with_(urgency={"targets": {"Green": "99999 working days"}}), "urgency.targets.Green: '99999 working days' is more than ten years"),
        (with_(urgency={"approval_waits": {"Red": "0 working hours"}}), "urgency.approval_waits.Red: '0 working hours' is not a time"),
        (with_(urgency={"targets": {"Purple": "1 working day"}}), "urgency.targets.Purple"),
        (with_(calendar={"country": "XX"}), "calendar.country: 'XX' is not a country"),
        (with_(calendar={"subdivision": "KENT"}), "calendar.subdivision: 'KENT' is not a subdivision of GB"),
        (with_(calendar={"timezone": "Mars/Olympus"}), "calendar.timezone: is not a known time zone"),
        (with_(calendar={"working_day_start": "18:00"}), "calendar.working_day_start: must be before working_day_end"),
        (with_(calendar={"extra_closed_days": ["25/12/2026"]}), "calendar.extra_closed_days[1]: must be a date written YYYY-MM-DD"),
        (
            with_(escalation={"stages": [{"number": 1, "name": "A", "owner": "nobody", "working_days": 2}]}),
            "escalation.stages[1].owner: must be \"assignee\"",
        ),
        (
            with_(escalation={"stages": [{"number": 1, "name": "A", "owner": "assignee", "working_days": 0}]}),
            "escalation.stages[1].working_days: must be a positive number of working days",
        ),
        (
            with_(escalation={"stages": [{"number": 2, "name": "A", "owner": "assignee", "working_days": 1}]}),
            "escalation.stages: stages must be numbered 1, 2, 3 ... in order; found [2]",
        ),
        (
            with_(
                escalation={
                    "stages": [
                        {"number": 1, "name": "A", "owner": "assignee", "working_days": 1},
                        {"number": 2, "name": "A", "owner": "mash_managers", "working_days": 1},
                    ]
                }
            ),
            "escalation.stages: stage names must be distinct",
        ),
        (with_(escalation={"stages": []}), "escalation.stages: at least one stage is needed"),
        (with_(escalation={"urgent_start_stage": 9}), "escalation.urgent_start_stage: must be a stage number between 1 and 4"),
        (with_(retention={"categories": [{"name": "A", "years": 0}]}), "retention.categories[1].years: must be between 1 and 100 years"),
        (with_(retention={"categories": [{"name": "A", "years": 1}, {"name": "A", "years": 2}]}), "retention.categories: category names must be distinct"),
        (with_(retention={"categories": []}), "retention.categories: at least one retention category is needed"),
        (with_(retention={"keep_fields": ["decision"]}), "retention.keep_fields[1]: must be the key of a text field"),
        (with_(retention={"anonymise_fields": ["subject"]}), "retention.anonymise_fields: no longer used: Anonymise now removes every text field except those in keep_fields"),
        (with_(retention={"destroy": "shred"}), "retention.destroy: must be one of: delete, anonymise"),
        (with_(reconciler={"breach_assignee": "everyone"}), "reconciler.breach_assignee: must be one of"),
        (with_(gate={"block_when_unreachable": ["closed"]}), "gate.block_when_unreachable[1]: must be one of"),
        (with_(scheduler={"retention_at": ["6.30am"]}), "scheduler.retention_at[1]: must be a time of day written HH:MM or HH:MM:SS"),
        (with_(scheduler={"escalations_at": ["07:05", "25:00"]}), "scheduler.escalations_at[2]: must be a time of day"),
        (with_(scheduler={"approval_reminders_at": []}), "scheduler.approval_reminders_at: give at least one time of day"),
        (with_(scheduler={"retention_at": "06:30"}), "scheduler.retention_at: must be a list"),
        ({"redmine": "http://x", "webhook": {"secret": "s" * 16}}, "redmine: must be a table"),
    ],
)
def test_each_error_names_the_key_and_what_is_wrong(data, expected):
    lines = errors_for(data)
    assert any(line.startswith(expected) for line in lines), lines


def test_job_times_are_times_of_day_in_order():
    import datetime as dt

    c = load_config_data(with_(scheduler={"escalations_at": ["12:05", "07:05:30", "12:05"]}))
    assert c.scheduler.escalations_at == (dt.time(7, 5, 30), dt.time(12, 5))
    assert load_config_data(MINIMAL).scheduler.retention_at == (dt.time(6, 30),)


def test_all_errors_are_reported_at_once():
    lines = errors_for(with_(redmine={"colour": 1}, calendar={"country": "XX"}, inbox={"max_attempts": 0}))
    assert len(lines) == 3


# --- reading the file -------------------------------------------------------------


def test_secrets_from_the_environment_win(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[redmine]\nurl = "http://r.test"\napi_key = "from-file"\n[webhook]\nsecret = "from-file-0123456789"\n')
    assert load_config(path, environ={}).redmine.api_key == "from-file"
    config = load_config(path, environ=ENV)
    assert config.redmine.api_key == ENV["INFOSHARE_REDMINE_API_KEY"]
    assert config.webhook.secret == ENV["INFOSHARE_WEBHOOK_SECRET"]
    assert config.source == str(path.resolve())


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml", environ={})
    message = str(info.value)
    assert "no file at" in message and "config.example.toml" in message and "INFOSHARE_CONFIG" in message


def test_invalid_toml_is_reported_with_its_position(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[redmine\nurl = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "is not valid TOML" in str(info.value) and "line 1" in str(info.value)


def test_non_utf8_file_is_reported(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_config(path, environ={})


def test_unreadable_path_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path, environ={})  # a directory


def test_validation_errors_are_listed_per_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[redmine]\nurl = "gopher://x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    rendered = info.value.render()
    assert rendered.startswith(f"Configuration {path} cannot be used:")
    assert "  - redmine.url: must be an http:// or https:// URL" in rendered
    assert "  - webhook.secret:" in rendered


def test_config_path_resolution_order():
    assert resolve_config_path("a.toml", {"INFOSHARE_CONFIG": "b.toml"}) == Path("a.toml")
    assert resolve_config_path(None, {"INFOSHARE_CONFIG": "b.toml"}) == Path("b.toml")
    assert resolve_config_path(None, {}) == Path("config.toml")


def test_response_targets_parse():
    assert parse_response_target("1 working day") .amount == 1
    assert parse_response_target("12 Working Hours").unit is TargetUnit.WORKING_HOURS
    with pytest.raises(ValidationError):
        parse_response_target("0 working days")


def test_lookup_helpers():
    c = load_config_data(with_(names={"fields": {"decision": "Outcome"}}))
    assert c.names.field_keys_by_name()["Outcome"] is FieldKey.DECISION
    assert c.names.status_keys_by_name()["Shared"] is StatusKey.SHARED
    assert c.names.tracker_keys_by_name()["Escalation"] is TrackerKey.ESCALATION
    assert c.retention.category("Child protection").years == 35
    assert c.retention.category("Unknown") is None
    assert c.escalation.stages[0].owner_group is None
    assert c.escalation.stages[1].owner_group is GroupKey.MASH_MANAGERS
    assert c.escalation.stages[1].label == "Stage 2: Manager to manager"
    assert c.gated_trackers == ("Information request", "Escalation", "Retention review", "Information incident")


def test_secret_rotation_needs_an_end_and_a_different_secret():
    assert any(line.startswith("webhook.previous_secret_expires: is required") for line in errors_for(with_(webhook={"previous_secret": "o" * 20})))
    same = with_(webhook={"previous_secret": "s" * 16, "previous_secret_expires": "2026-12-01T09:00:00Z"})
    assert "webhook.previous_secret: must differ from secret" in errors_for(same)


def test_the_previous_secret_is_accepted_until_it_expires():
    import datetime as dt

    c = load_config_data(with_(webhook={"previous_secret": "o" * 20, "previous_secret_expires": "2026-12-01T09:00:00Z"}))
    assert c.webhook.secrets_at(dt.datetime(2026, 12, 1, 8, 59, tzinfo=dt.timezone.utc)) == ("s" * 16, "o" * 20)
    assert c.webhook.secrets_at(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)) == ("s" * 16,)
    assert load_config_data(MINIMAL).webhook.secrets_at(dt.datetime.now(dt.timezone.utc)) == ("s" * 16,)


def test_the_previous_secret_can_come_from_the_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[redmine]\nurl = "http://r.test"\n[webhook]\nprevious_secret_expires = 2030-01-01T00:00:00Z\n')
    config = load_config(path, environ={**ENV, "INFOSHARE_WEBHOOK_PREVIOUS_SECRET": "p" * 20})
    assert config.webhook.previous_secret == "p" * 20


# --- Redmine 7's webhooks (issue 16) ----------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:5005", "http://localhost:5005", "http://[::1]:5005", "http://169.254.1.2", "http://0.0.0.0:5005"])
def test_native_mode_refuses_a_public_url_redmine_7_would_refuse(url):
    data = {**MINIMAL, "redmine": {**MINIMAL["redmine"], "events_from": "native"}, "service": {"public_url": url}}
    with pytest.raises(ValidationError) as refused:
        load_config_data(data)
    text = " ".join(flatten_errors(refused.value.messages))
    assert "service.public_url" in text and "Redmine 7 refuses" in text


def test_native_mode_accepts_a_lan_address_and_reconciles_every_minute():
    native = load_config_data({**MINIMAL, "redmine": {**MINIMAL["redmine"], "events_from": "native"}, "service": {"public_url": "http://10.0.0.5:5005"}})
    assert native.redmine.native and native.reconciler.interval_minutes == 1
    assert native.redmine.webhook_owner_login == native.redmine.bot_login
    shim = load_config_data(MINIMAL)
    assert not shim.redmine.native and shim.reconciler.interval_minutes == 10
    # The shim posts from inside Redmine, where loopback is fine.
    assert shim.service.public_url == "http://127.0.0.1:5005"
    chosen = load_config_data({**MINIMAL, "redmine": {**MINIMAL["redmine"], "events_from": "native"}, "service": {"public_url": "http://10.0.0.5:5005"},
                               "reconciler": {"interval_minutes": 5}})
    assert chosen.reconciler.interval_minutes == 5

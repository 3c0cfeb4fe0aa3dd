"""Issue 2: provisioning is idempotent and `infoshare doctor` tells a fresh
Redmine from a provisioned one."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from devstack.stack import BIN_DIR
from tests.support.redmine_env import LiveStack
from tests.support.releases import on_both_redmines


def _doctor(stack: LiveStack) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN_DIR / "infoshare"), "--config", str(stack.config_path), "doctor"],
        capture_output=True,
        text=True,
        env={**stack.service_env(), "INFOSHARE_REDMINE_ADMIN_API_KEY": stack.admin_key_path.read_text().strip()},
        timeout=120,
    )


@pytest.fixture
def fresh(stacks, redmine_release):
    return stacks.fresh(redmine_release)


@on_both_redmines
def test_doctor_reports_a_fresh_redmine_as_incomplete(fresh):
    result = _doctor(fresh)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "is incomplete" in out, result.stderr
    for expected in (
        "missing: tracker 'Information request'",
        "missing: status 'Awaiting approval'",
        "missing: role 'MASH manager'",
        "missing: group 'Information governance'",
        "missing: custom field 'Decision reasons'",
        "missing: service user 'infoshare-bot'",
        "missing: transition Information request / MASH manager: Awaiting approval -> Approved",
        "missing: field rule Information request / MASH practitioner / Shared: Decision reasons required",
        "missing: project 'mash'",
    ):
        assert expected in out


@on_both_redmines
def test_doctor_reports_the_provisioned_redmine_as_complete(live):
    result = _doctor(live)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches the InfoShare spec: complete" in result.stdout


def _provisioned_rows(stack: LiveStack) -> dict[str, list]:
    """Everything provisioning writes, read straight from Redmine's database."""
    queries = {
        "statuses": "SELECT id, name, is_closed FROM issue_statuses ORDER BY id",
        "trackers": "SELECT id, name, default_status_id FROM trackers ORDER BY id",
        "roles": "SELECT id, name, permissions, settings, assignable FROM roles ORDER BY id",
        "custom_fields": "SELECT id, name, possible_values, is_filter, multiple FROM custom_fields ORDER BY id",
        "workflows": "SELECT id, tracker_id, role_id, old_status_id, new_status_id, field_name, rule, type FROM workflows ORDER BY id",
        "users": "SELECT id, login, status, admin FROM users ORDER BY id",
        "settings": "SELECT name, value, updated_on FROM settings ORDER BY name",
    }
    with sqlite3.connect(stack.instance.db_path) as db:
        return {name: db.execute(sql).fetchall() for name, sql in queries.items()}


@on_both_redmines
def test_applying_the_spec_twice_changes_nothing(live):
    # The snapshot was provisioned on other ports, so the first application
    # may only update the service URL in the plugin's settings.
    first = live.provision()
    assert set(first) <= {"InfoShare plugin settings"}
    before = _provisioned_rows(live)
    assert live.provision() == []
    assert _provisioned_rows(live) == before
    assert _doctor(live).returncode == 0


def test_doctor_works_on_the_stack_as_the_readme_says(live):
    """`export INFOSHARE_CONFIG=var/stack/config.toml; infoshare doctor`: the
    stack names its administrator's key file, so no key is passed."""
    result = live.cli("doctor", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches the InfoShare spec: complete" in result.stdout

"""The `infoshare` command line, with click's runner."""

from __future__ import annotations

import json

import responses
from click.testing import CliRunner

from plugin.cli import main
from tests.unit.conftest import SECRET
from tests.unit.test_doctor import perfect_live


def write_config(tmp_path, extra=""):
    path = tmp_path / "config.toml"
    path.write_text(
        f'[redmine]\nurl = "http://redmine.test"\napi_key = "bot"\nprojects = ["mash"]\n'
        f'[webhook]\nsecret = "{SECRET}"\n[service]\ndatabase_url = "sqlite:///{tmp_path}/s.sqlite3"\n{extra}'
    )
    return path


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_check_config_reports_the_source(tmp_path):
    path = write_config(tmp_path)
    result = run("--config", str(path), "check-config")
    assert result.exit_code == 0
    assert str(path.resolve()) in result.output


def test_config_comes_from_the_environment_variable(tmp_path):
    path = write_config(tmp_path)
    assert run("check-config", env={"INFOSHARE_CONFIG": str(path)}).exit_code == 0


def test_bad_config_exits_with_the_keys_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[redmine]\nurl = "nope"\n')
    result = run("--config", str(path), "check-config")
    assert result.exit_code == 1
    assert "redmine.url: must be an http:// or https:// URL" in result.output
    assert "webhook.secret" in result.output


def test_spec_prints_json_or_writes_a_file(tmp_path):
    path = write_config(tmp_path)
    out = run("--config", str(path), "redmine", "spec")
    assert json.loads(out.output)["version"] == 1
    target = tmp_path / "spec.json"
    run("--config", str(path), "redmine", "spec", "--output", str(target))
    assert json.loads(target.read_text())["bot"]["login"] == "infoshare-bot"


def test_inbox_counts(tmp_path):
    path = write_config(tmp_path)
    result = run("--config", str(path), "inbox")
    assert "pending" in result.output and "parked" in result.output


def test_worker_once_drains_and_reports(tmp_path):
    path = write_config(tmp_path)
    result = run("--config", str(path), "worker", "--once")
    assert json.loads(result.output)["processed"] == 0


def _mock_redmine(live, status=200):
    base = "http://redmine.test"
    if status != 200:
        responses.get(f"{base}/infoshare/state.json", status=status)
        return
    responses.get(f"{base}/infoshare/state.json", json=live.shim_state)
    responses.get(f"{base}/issue_statuses.json", json={"issue_statuses": live.statuses})
    responses.get(f"{base}/trackers.json", json={"trackers": live.trackers})
    responses.get(f"{base}/roles.json", json={"roles": [{"id": r["id"], "name": r["name"]} for r in live.roles]})
    for r in live.roles:
        responses.get(f"{base}/roles/{r['id']}.json", json={"role": r})
    responses.get(f"{base}/groups.json", json={"groups": live.groups, "total_count": len(live.groups), "limit": 100, "offset": 0})
    responses.get(f"{base}/custom_fields.json", json={"custom_fields": live.custom_fields})
    responses.get(f"{base}/users.json", json={"users": [live.bot], "total_count": 1, "limit": 100, "offset": 0})
    responses.get(f"{base}/projects/mash.json", json={"project": {"id": 1, "trackers": [{"name": t} for t in live.projects["mash"]["trackers"]]}})
    queries = [{"id": i, "name": name, "is_public": True, "project_id": 1} for i, name in enumerate(live.projects["mash"]["queries"], 1)]
    responses.get(f"{base}/queries.json", json={"queries": queries, "total_count": len(queries), "limit": 100, "offset": 0})
    responses.get(
        f"{base}/projects/mash/memberships.json",
        json={"memberships": [{"user": {"id": 9, "name": "InfoShare service"}, "roles": [{"name": "InfoShare service"}]}], "total_count": 1},
    )


@responses.activate
def test_doctor_exit_codes(tmp_path):
    from plugin.adapters.config_file import load_config
    from plugin.provisioning.spec import build_spec

    path = write_config(tmp_path)
    live = perfect_live(build_spec(load_config(path, environ={})))
    _mock_redmine(live)
    ok = run("--config", str(path), "doctor", "--admin-api-key", "admin")
    assert ok.exit_code == 0, ok.output
    assert "complete" in ok.output
    assert responses.calls[0].request.headers["X-Redmine-API-Key"] == "admin"

    responses.reset()
    live.groups = []
    _mock_redmine(live)
    bad = run("--config", str(path), "doctor", env={"INFOSHARE_REDMINE_ADMIN_API_KEY": "admin"})
    assert bad.exit_code == 1
    assert "is incomplete: 4 problem(s)" in bad.output
    assert "missing: group 'MASH managers'" in bad.output


@responses.activate
def test_doctor_explains_a_refused_key(tmp_path):
    path = write_config(tmp_path)
    _mock_redmine(None, status=403)
    result = run("--config", str(path), "doctor")
    assert result.exit_code == 1
    assert "refused the API key" in result.output and "INFOSHARE_REDMINE_ADMIN_API_KEY" in result.output


def test_doctor_explains_an_unreachable_redmine(tmp_path):
    path = write_config(tmp_path, extra="")
    path.write_text(path.read_text().replace("http://redmine.test", "http://127.0.0.1:9"))
    result = run("--config", str(path), "doctor")
    assert result.exit_code == 1
    assert "cannot be reached" in result.output


def _with_key_file(tmp_path, mode=0o600, text="admin-from-file"):
    key = tmp_path / "admin.key"
    key.write_text(text + "\n")
    key.chmod(mode)
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('projects = ["mash"]\n', f'projects = ["mash"]\nadmin_api_key_file = "{key}"\n'))
    return path, key


@responses.activate
def test_doctor_reads_the_administrators_key_from_a_private_file(tmp_path):
    from plugin.adapters.config_file import load_config
    from plugin.provisioning.spec import build_spec

    path, _ = _with_key_file(tmp_path)
    _mock_redmine(perfect_live(build_spec(load_config(path, environ={}))))
    ok = run("--config", str(path), "doctor")
    assert ok.exit_code == 0, ok.output
    assert responses.calls[0].request.headers["X-Redmine-API-Key"] == "admin-from-file"


def test_doctor_refuses_a_key_file_others_can_read_or_that_is_empty_or_missing(tmp_path):
    path, key = _with_key_file(tmp_path, mode=0o644)
    shared = run("--config", str(path), "doctor")
    assert shared.exit_code == 1 and "is readable by others" in shared.output and f"chmod 600 {key}" in shared.output
    key.chmod(0o600)
    key.write_text("\n")
    assert "is empty" in run("--config", str(path), "doctor").output
    key.unlink()
    assert "cannot be read" in run("--config", str(path), "doctor").output

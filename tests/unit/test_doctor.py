"""`compare`: a live Redmine against the spec. The live state here is a
hand-built fake of a perfectly provisioned Redmine, then broken on purpose."""

from __future__ import annotations


import pytest

from plugin.provisioning.doctor import FindingKind, LiveState, compare
from plugin.provisioning.spec import build_spec
from tests.unit.conftest import make_config


def perfect_live(spec) -> LiveState:
    trackers = [{"id": i, "name": t.name, "default_status": {"id": 1, "name": t.default_status}} for i, t in enumerate(spec.trackers, 1)]
    return LiveState(
        statuses=[{"id": i, "name": s.name, "is_closed": s.is_closed} for i, s in enumerate(spec.statuses, 1)],
        trackers=trackers,
        roles=[{"id": i, "name": r.name, "assignable": r.assignable, "permissions": list(r.permissions)} for i, r in enumerate(spec.roles, 1)],
        groups=[{"id": i, "name": g.name} for i, g in enumerate(spec.groups, 1)],
        custom_fields=[
            {
                "id": i,
                "name": f.name,
                "customized_type": "issue",
                "field_format": f.field_format,
                "possible_values": [{"value": v, "label": v} for v in f.possible_values],
                "multiple": f.multiple,
                "is_filter": f.is_filter,
                "visible": True,
                "trackers": [{"id": 1, "name": t} for t in f.trackers],
            }
            for i, f in enumerate(spec.custom_fields, 1)
        ],
        bot={"id": 9, "login": spec.bot.login, "status": 1, "admin": False},
        shim_state={
            "settings": dict(spec.settings),
            "shim": {
                "service_url_set": True,
                "secret_set": True,
                "trackers": [t.name for t in spec.trackers],
                "block_when_unreachable": list(spec.shim["block_when_unreachable"]),
                "history_fields": list(spec.shim["history_fields"]),
                "gate_value_limit": str(spec.shim["gate_value_limit"]),
            },
            "transitions": [
                {"tracker": t.tracker, "role": t.role, "from_status": t.from_status, "to_status": t.to_status} for t in spec.transitions
            ]
            + [{"tracker": "Bug", "role": "Developer", "from_status": "New", "to_status": "Closed"}],
            "field_rules": [{"tracker": r.tracker, "role": r.role, "status": r.status, "field": r.field, "rule": r.rule} for r in spec.field_rules],
            "tracker_permissions": {
                r.name: {p: (sorted(r.tracker_permissions[p]) if p in r.tracker_permissions else "all") for p in r.permissions if p in ("view_issues", "add_issues", "edit_issues", "add_issue_notes", "delete_issues")}
                for r in spec.roles
            },
        },
        projects={"mash": {"trackers": [t.name for t in spec.trackers], "bot_roles": [spec.bot.role], "queries": [q.name for q in spec.queries]}},
    )


@pytest.fixture
def spec():
    return build_spec(make_config())


@pytest.fixture
def live(spec):
    return perfect_live(spec)


def findings(spec, live):
    return [str(f) for f in compare(spec, live)]


def test_a_perfect_redmine_has_no_findings(spec, live):
    assert compare(spec, live) == []


def test_a_role_that_may_rewrite_history_other_than_the_services_is_reported(spec, live):
    live.roles.append({"id": 99, "name": "Manager", "assignable": True, "permissions": ["view_issues", "infoshare_redact_history"]})
    assert findings(spec, live) == [
        "different: role 'Manager' (holds infoshare_redact_history, which only InfoShare service may hold; apply the spec again to take it away)"
    ]


def test_missing_objects_are_listed(spec, live):
    live.statuses = [s for s in live.statuses if s["name"] != "Approved"]
    live.trackers = [t for t in live.trackers if t["name"] != "Escalation"]
    live.roles = [r for r in live.roles if r["name"] != "MASH manager"]
    live.groups = []
    live.custom_fields = [f for f in live.custom_fields if f["name"] != "Legal hold"]
    live.bot = None
    out = findings(spec, live)
    for expected in (
        "missing: status 'Approved'",
        "missing: tracker 'Escalation'",
        "missing: role 'MASH manager'",
        "missing: group 'Heads of service'",
        "missing: custom field 'Legal hold'",
        "missing: service user 'infoshare-bot'",
    ):
        assert expected in out


def test_differences_are_explained(spec, live):
    live.statuses[0]["is_closed"] = True
    live.trackers[0]["default_status"] = {"id": 2, "name": "Assessing"}
    role = next(r for r in live.roles if r["name"] == "MASH practitioner")
    role["permissions"] = [p for p in role["permissions"] if p != "add_issue_notes"] + ["delete_project"]
    role["assignable"] = False
    urgency = next(f for f in live.custom_fields if f["name"] == "Urgency")
    urgency["possible_values"] = [{"value": "High"}]
    date = next(f for f in live.custom_fields if f["name"] == "Retention review date")
    date["is_filter"] = False
    date["visible"] = False
    date["trackers"] = []
    power = next(f for f in live.custom_fields if f["name"] == "Statutory power")
    power["multiple"] = False
    reasons = next(f for f in live.custom_fields if f["name"] == "Decision reasons")
    reasons["field_format"] = "string"
    live.bot.update(status=3, admin=True)
    out = findings(spec, live)
    for expected in (
        "different: status 'Received' (closed should be False)",
        "different: tracker 'Information request' (default status is 'Assessing', should be 'Received')",
        "different: role 'MASH practitioner' (lacks permissions add_issue_notes)",
        "different: role 'MASH practitioner' (has permissions beyond the spec: delete_project)",
        "different: role 'MASH practitioner' (assignable should be True)",
        "different: custom field 'Urgency' (possible values differ from the spec: Red, Amber, Green)",
        "different: custom field 'Retention review date' (must be 'used as a filter': the service queries by it)",
        "different: custom field 'Retention review date' (must be visible to all roles)",
        "different: custom field 'Retention review date' (not enabled for tracker 'Information request')",
        "different: custom field 'Statutory power' (multiple should be True)",
        "different: custom field 'Decision reasons' (format is 'string', should be 'text')",
        "different: service user 'infoshare-bot' (is locked or not active)",
        "different: service user 'infoshare-bot' (is an administrator; it needs only the service role)",
    ):
        assert expected in out, expected


def test_missing_shim_is_one_clear_finding(spec, live):
    live.shim_state = None
    out = findings(spec, live)
    assert out == ["missing: the redmine_infoshare plugin (GET /infoshare/state.json answered 404; install the shim and restart Redmine)"]


def test_workflow_and_settings_differences(spec, live):
    state = live.shim_state
    state["settings"]["issue_group_assignment"] = "0"
    state["shim"].update(trackers=["Information request"], block_when_unreachable=[], service_url_set=False, secret_set=False, history_fields=[],
                         gate_value_limit="")
    removed = next(t for t in state["transitions"] if t["from_status"] == "Awaiting approval" and t["role"] == "MASH manager")
    state["transitions"].remove(removed)
    state["transitions"].append({"tracker": "Information request", "role": "MASH practitioner", "from_status": "Awaiting approval", "to_status": "Approved"})
    rule = next(r for r in state["field_rules"] if r["rule"] == "readonly" and r["field"] == "Approved by")
    rule["rule"] = "required"
    dropped = next(r for r in state["field_rules"] if r["field"] == "Decision reasons" and r["rule"] == "required")
    state["field_rules"].remove(dropped)
    state["field_rules"].append({"tracker": "Escalation", "role": "MASH manager", "status": "In escalation", "field": "Other agency", "rule": "required"})
    state["tracker_permissions"]["MASH practitioner"]["add_issues"] = "all"
    out = findings(spec, live)
    assert "different: setting issue_group_assignment (should be 1)" in out
    assert "different: plugin setting 'trackers handled' (should be Information request, Escalation, Retention review, Information incident)" in out
    assert "different: plugin setting 'refuse while unreachable' (should be Shared, Approved, Not shared)" in out
    assert "missing: plugin setting 'service URL' (Redmine does not know where the service is)" in out
    assert "different: plugin setting 'history fields' (the gate would not be told the past of the fields the rules read; apply the spec again)" in out
    assert "different: plugin setting 'gate value limit' (should be 256)" in out
    assert "missing: plugin setting 'shared secret' (events cannot be signed)" in out
    assert f"missing: transition Information request / MASH manager: Awaiting approval -> {removed['to_status']}" in out
    assert "extra: transition Information request / MASH practitioner: Awaiting approval -> Approved" in out
    assert any(f.startswith("different: field rule") and "Approved by" in f and "is required, should be readonly" in f for f in out)
    assert any(f.startswith("missing: field rule") and "Decision reasons required" in f for f in out)
    assert "extra: field rule Escalation / MASH manager / In escalation: Other agency required" in out
    assert (
        "different: role 'MASH practitioner' permission add_issues (applies to all, should apply to ['Escalation', 'Information incident', 'Information request'])" in out
    )
    # Workflows of other trackers are not InfoShare's business.
    assert not any("Bug" in f for f in out)


def test_projects_are_checked(spec, live):
    live.projects = {
        "mash": {"trackers": ["Information request"], "bot_roles": [], "queries": ["Awaiting approval"]},
        "absent": None,
    }
    out = findings(spec, live)
    assert "missing: work queue 'Legal holds' in project 'mash' (a public issue query; apply the spec again)" in out
    assert not any("'Awaiting approval' in project" in f for f in out)
    assert "different: project 'mash' (tracker 'Escalation' not enabled)" in out
    assert "different: project 'mash' (infoshare-bot is not a member with role 'InfoShare service')" in out
    assert "missing: project 'absent' (listed in redmine.projects but not found)" in out


def test_a_role_missing_from_state_is_not_reported_twice(spec, live):
    del live.shim_state["tracker_permissions"]["MASH manager"]
    assert compare(spec, live) == []


def test_finding_kinds():
    assert {k.value for k in FindingKind} == {"missing", "different", "extra"}


# --- Redmine 7's webhooks without the shim (issue 16) -----------------------------


def webhook_owner(permissions=("use_webhooks", "view_issues", "view_private_notes"), visibility="all", **user):
    role = {"id": 40, "name": "InfoShare service", "permissions": list(permissions), "issues_visibility": visibility}
    return {"login": "infoshare-bot", "user": {"id": 9, "login": "infoshare-bot", "status": 1, "admin": False, **user}, "projects": {"mash": [role]}}


def test_without_the_shim_a_well_set_webhook_owner_has_no_findings(spec, live):
    live.shim_state = None
    live.webhook_owner = webhook_owner()
    assert compare(spec, live) == []


def test_the_webhook_owners_permissions_membership_and_account_are_checked(spec, live):
    live.shim_state = None
    live.webhook_owner = webhook_owner(permissions=("view_issues",), visibility="own")
    out = findings(spec, live)
    assert "missing: webhook owner 'infoshare-bot' in project 'mash' (no role gives use_webhooks)" in out
    assert any("view_private_notes" in f for f in out)
    assert any("sees only some issues" in f for f in out)
    live.webhook_owner = {**webhook_owner(), "projects": {"mash": []}}
    assert any("not a member" in f for f in findings(spec, live))
    live.webhook_owner = webhook_owner(status=3)
    assert any("locked or not active" in f for f in findings(spec, live))
    live.webhook_owner = {"login": "hook-owner", "user": None, "projects": {}}
    assert any(f.startswith("missing: webhook owner 'hook-owner'") for f in findings(spec, live))


def test_with_the_shim_its_absence_is_a_finding(spec, live):
    live.shim_state = None
    assert any("redmine_infoshare plugin" in f for f in findings(spec, live))

"""The provisioning spec generated from the configuration."""

from __future__ import annotations

import json

from plugin.policy.requirements import DECISION_REQUIRED, INTAKE_REQUIRED, SHARE_DECISION_REQUIRED, SHARE_RECORD_REQUIRED, required_in_status
from plugin.provisioning.spec import build_spec
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FIELDS, FieldKey
from tests.unit.conftest import make_config


def spec(**sections):
    return build_spec(make_config(**sections))


def field(s, name):
    return next(f for f in s.custom_fields if f.name == name)


def test_every_domain_field_is_provisioned_with_its_values():
    s = spec()
    assert len(s.custom_fields) == len(FIELDS) == len(FieldKey)
    channel = field(s, "Request channel")
    assert channel.field_format == "list"
    assert channel.possible_values == ("Phone", "Email", "Secure email", "In person", "Letter", "Secure portal", "Meeting")
    assert field(s, "Statutory power").multiple is True
    assert field(s, "Advice sought from").multiple is True
    assert field(s, "Fact and opinion distinguished").field_format == "bool"
    assert field(s, "Consent date").field_format == "date"
    assert field(s, "Decision reasons").field_format == "text"
    assert field(s, "Requester name").field_format == "string"
    assert field(s, "Agreed actions").trackers == ("Escalation",)
    assert field(s, "Review outcome").trackers == ("Retention review",)


def test_configured_lists_come_from_the_configuration():
    s = spec(retention={"categories": [{"name": "Short", "years": 1}, {"name": "Long", "years": 50}]})
    assert field(s, "Retention category").possible_values == ("Short", "Long")
    assert field(s, "Escalation stage").possible_values == (
        "Stage 1: Practitioner to practitioner",
        "Stage 2: Manager to manager",
        "Stage 3: Senior manager",
        "Stage 4: Safeguarding partnership",
    )


def test_fields_the_service_queries_are_filters():
    s = spec()
    for name in ("Retention review date", "Legal hold", "Approval required", "Emergency override", "Escalation stage", "Disagreement raised"):
        assert field(s, name).is_filter, name


def test_names_follow_the_configuration():
    s = spec(names={"trackers": {"information_request": "Info request"}, "fields": {"decision": "Sharing decision"}})
    assert [t.name for t in s.trackers][0] == "Info request"
    assert field(s, "Sharing decision").trackers == ("Info request",)
    assert any(r.field == "Sharing decision" for r in s.field_rules)


def test_statuses_and_trackers():
    s = spec()
    closed = {st.name for st in s.statuses if st.is_closed}
    assert closed == {"Shared", "Not shared", "Withdrawn", "Escalation resolved", "Review completed", "Incident closed"}
    assert {t.name: t.default_status for t in s.trackers} == {
        "Information request": "Received",
        "Escalation": "In escalation",
        "Retention review": "Review due",
        "Information incident": "Incident reported",
    }


def _moves(s, role, tracker="Information request"):
    return {(t.from_status, t.to_status) for t in s.transitions if t.role == role and t.tracker == tracker}


def test_only_the_approver_role_moves_out_of_awaiting_approval_but_for_an_emergency_share():
    s = spec()
    out_of_awaiting = {(t.role, t.to_status) for t in s.transitions if t.tracker == "Information request" and t.from_status == "Awaiting approval"}
    assert {role for role, _ in out_of_awaiting} == {"MASH manager", "MASH practitioner", "InfoShare service"}
    # A practitioner's only way out is Shared, which the gate allows only under
    # an emergency override (R-APPROVAL 7).
    assert {to for role, to in out_of_awaiting if role == "MASH practitioner"} == {"Shared"}
    assert ("Awaiting approval", "Approved") in _moves(s, "MASH manager")
    assert not any(b == "Approved" for _, b in _moves(s, "MASH practitioner"))
    assert ("Assessing", "Awaiting approval") in _moves(s, "MASH practitioner")


def test_the_approver_role_is_configurable():
    s = spec(approval={"approver_role": "information_governance_lead"})
    assert ("Awaiting approval", "Approved") in _moves(s, "Information governance lead")
    assert ("Awaiting approval", "Approved") not in _moves(s, "MASH manager")
    decision_rules = {(r.role, r.rule) for r in s.field_rules if r.field == "Approval decision" and r.status != "Received"}
    assert ("Information governance lead", "readonly") not in decision_rules
    assert ("MASH manager", "readonly") in decision_rules


def test_service_may_make_every_move_and_governance_completes_reviews():
    s = spec()
    assert len(_moves(s, "InfoShare service")) == 7 * 6
    assert _moves(s, "Information governance lead", "Retention review") == {("Review due", "Review completed")}
    assert _moves(s, "Information governance lead") == set()
    assert _moves(s, "MASH practitioner", "Escalation") == {("In escalation", "Escalation resolved")}


def test_field_rules_make_service_fields_read_only_for_people():
    s = spec()
    for name in ("Approval required", "Approval reason", "Approved by", "Retention review date"):
        rules = {(r.role, r.status, r.rule) for r in s.field_rules if r.field == name}
        assert {role for role, _, _ in rules} == {"MASH practitioner", "MASH manager", "Information governance lead"}
        assert {rule for _, _, rule in rules} == {"readonly"}
        assert len({status for _, status, _ in rules}) == 7
    assert not any(r.role == "InfoShare service" for r in s.field_rules)


def test_required_fields_per_status():
    s = spec()

    def required(status, role="MASH practitioner"):
        return {r.field for r in s.field_rules if r.status == status and r.role == role and r.rule == "required" and r.tracker == "Information request"}

    intake = {f.default_name for f in INTAKE_REQUIRED}
    decision = {f.default_name for f in DECISION_REQUIRED}
    share = {f.default_name for f in SHARE_DECISION_REQUIRED + SHARE_RECORD_REQUIRED}
    assert required("Received") == intake
    assert required("Assessing") == intake
    assert required("Awaiting approval") == intake | decision
    assert required("Shared") == intake | decision | share | {"Retention category"}
    assert required("Not shared") == intake | decision | {"Retention category"}
    assert required("Withdrawn") == intake | {"Retention category"}
    escalation = {r.field for r in s.field_rules if r.tracker == "Escalation" and r.status == "Escalation resolved" and r.rule == "required"}
    assert escalation == {"Escalation outcome", "Agreed actions"}
    review = {r.field for r in s.field_rules if r.tracker == "Retention review" and r.status == "Review completed" and r.rule == "required"}
    assert review == {"Review outcome", "Review justification"}


def test_required_in_status_rejects_a_status_of_another_tracker():
    import pytest

    with pytest.raises(AssertionError):
        required_in_status(TrackerKey.ESCALATION, StatusKey.SHARED)


def test_roles_limit_editing_to_their_trackers():
    s = spec()
    roles = {r.name: r for r in s.roles}
    assert roles["MASH practitioner"].tracker_permissions["add_issues"] == ("Information request", "Escalation", "Information incident")
    # Governance edits a request only to set or clear its legal hold (the field rules keep the rest read-only).
    assert roles["Information governance lead"].tracker_permissions["edit_issues"] == ("Retention review", "Information incident", "Information request")
    assert roles["InfoShare service"].tracker_permissions == {}
    assert "delete_issues" in roles["InfoShare service"].permissions
    assert "delete_issues" not in roles["MASH manager"].permissions
    assert roles["InfoShare service"].assignable is False


def test_spec_serialises_to_json_for_the_rake_task():
    s = spec(gate={"block_when_unreachable": ["shared"]})
    data = json.loads(s.dumps())
    assert data["version"] == 1
    assert data["settings"] == {"rest_api_enabled": "1", "issue_group_assignment": "1"}
    assert {k: data["shim"][k] for k in ("block_when_unreachable", "gate_timeout_ms", "gate_value_limit")} == {
        "block_when_unreachable": ["Shared"], "gate_timeout_ms": 2000, "gate_value_limit": 256
    }
    # The gate is told the past of the fields the approval rule reads, by their Redmine names.
    assert "Decision" in data["shim"]["history_fields"] and "Approval decision" in data["shim"]["history_fields"]
    assert "Decision reasons" not in data["shim"]["history_fields"]
    assert data["bot"]["login"] == "infoshare-bot" and data["bot"]["role"] == "InfoShare service"


def test_every_infoshare_field_says_what_to_record():
    """Redmine shows a field's description under it in the form (issue 20)."""
    from plugin.domain.record import FIELDS

    for definition in FIELDS.values():
        assert 20 <= len(definition.description) <= 160, f"{definition.key.value}: {definition.description!r}"


def _editable(s, role: str, status: str, tracker: str = "Information request") -> list[str]:
    """The request fields Redmine's form shows `role` in `status`, in form order."""
    readonly = {r.field for r in s.field_rules if (r.tracker, r.role, r.status, r.rule) == (tracker, role, status, "readonly")}
    return [f.name for f in s.custom_fields if tracker in f.trackers and f.name not in readonly]


def test_a_new_request_shows_only_what_the_call_needs_in_the_order_of_the_questions():
    s = spec()
    received = _editable(s, "MASH practitioner", "Received")
    assert received == [
        "Request direction", "Request channel", "Requester name", "Requester role", "Requester organisation", "Requester email",
        "Requester phone", "Identity check", "Recipient entitlement", "Urgency", "Case reference", "Information requested",
        "Purpose of sharing", "Shared with",
    ]
    assert len(received) <= 16
    assessing = _editable(s, "MASH practitioner", "Assessing")
    assert {"Decision", "Decision reasons", "Consent status", "Information shared", "Emergency override", "Retention category"} <= set(assessing)
    assert not {"Approval decision", "Legal hold", "Response due", "Shared by", "Approved by"} & set(assessing)
    assert "Approval decision" in _editable(s, "MASH manager", "Awaiting approval")
    assert "Approval decision" not in _editable(s, "MASH manager", "Received")
    assert _editable(s, "Information governance lead", "Shared") == ["Legal hold", "Legal hold reason"]
    order = [f.name for f in s.custom_fields]
    assert order.index("Lawful basis") < order.index("Consent status") < order.index("Public interest justification") < order.index("Decision")
    assert order.index("Decision") < order.index("Information shared") < order.index("Approval decision") < order.index("Retention category")


def test_long_texts_take_the_whole_width_of_the_form():
    s = spec()
    wide = {f.name for f in s.custom_fields if f.full_width}
    assert {"Information requested", "Decision reasons", "Points of disagreement"} <= wide
    assert not {"Requester name", "Decision", "Shared on"} & wide

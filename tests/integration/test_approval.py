"""Issue 4 against a real Redmine: R-APPROVAL on the gate, the worker and the
reconciler, impersonating practitioner1, practitioner2, manager1, manager2."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from plugin.domain.calendar import WorkingCalendar
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.dates import iso_today as today
from tests.support.flows import in_doubt_phone_request, notes_of, refused, route, status_of, wait_for_issue
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until
from tests.support.releases import on_both_redmines

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")



@on_both_redmines
def test_phone_request_in_doubt_needs_manager1s_approval_before_sharing(live, rest):
    issue_id = in_doubt_phone_request(rest)
    issue = wait_for_issue(rest, issue_id, lambda i: rest.field_value(i, F.APPROVAL_REQUIRED) == "1", "Approval required")
    assert rest.field_value(issue, F.APPROVAL_REASON) == "Phone request: recipient's entitlement in doubt"

    # Straight to Shared: refused by Redmine itself, with the rule's message.
    message = refused(
        lambda: rest.update_issue("practitioner1", issue_id, {**decision_values(), **share_values(today())}, status=S.SHARED)
    )
    assert "Approval decision: this request needs a manager's approval before it can be Shared (Phone request: recipient's entitlement in doubt) (R-APPROVAL)." in message

    route(live, rest, issue_id)
    issue = rest.issue(issue_id)
    assert issue["assigned_to"]["name"] == "MASH managers"
    routed = next(j for j in issue["journals"] if "[infoshare:approval-request-" in (j.get("notes") or ""))
    assert routed["private_notes"] is True and routed["user"]["name"] == "InfoShare service"

    # A practitioner's only way out of Awaiting approval is an emergency share...
    message = refused(lambda: rest.update_issue("practitioner1", issue_id, share_values(today()), status=S.SHARED))
    assert "this request needs a manager's approval before it can be Shared" in message
    assert status_of(rest, issue_id) == "Awaiting approval"
    # ...and a manager cannot mark it Approved without recording the approval.
    message = refused(lambda: rest.update_issue("manager2", issue_id, status=S.APPROVED))
    assert "this request needs a manager's approval before it can be Approved" in message

    rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Approved", F.APPROVAL_NOTES: "Entitlement checked with the GP practice"})
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Approved", "the service moving it to Approved")
    assert rest.field_value(issue, F.APPROVED_BY) == "Maya Manager"  # manager1
    assert issue["assigned_to"]["name"] == "Priya Practitioner"  # back to practitioner1

    rest.update_issue("practitioner1", issue_id, share_values(today()), status=S.SHARED)
    assert status_of(rest, issue_id) == "Shared"
    assert rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Maya Manager"
    assert live.store().breaches.open(issue_id) == []


def _dual_role_user(rest) -> str:
    """A user who is both a MASH practitioner and a MASH manager in the project."""
    login = "dualrole1"
    existing = rest.get_json("/users.json", name=login)["users"]
    if not existing:
        user = rest.admin.user.create(login=login, firstname="Dana", lastname="Dual", mail="dualrole1@mash.example.org", password="infoshare-demo")
        roles = {r["name"]: r["id"] for r in rest.get_json("/roles.json")["roles"]}
        rest.admin.project_membership.create(project_id="mash", user_id=user.id, role_ids=[roles["MASH practitioner"], roles["MASH manager"]])
    return login


def test_a_user_with_both_roles_cannot_approve_their_own_decision(live, rest):
    dual = _dual_role_user(rest)
    issue_id = in_doubt_phone_request(rest, login=dual)
    route(live, rest, issue_id, login=dual)
    message = refused(lambda: rest.update_issue(dual, issue_id, {F.APPROVAL_DECISION: "Approved"}))
    assert "Approval decision: you cannot approve a request you logged or a decision you recorded or changed; another manager must approve it (R-APPROVAL)." in message
    # Another manager can.
    rest.update_issue("manager2", issue_id, {F.APPROVAL_DECISION: "Approved"}, status=S.APPROVED)
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Mark Manager", what="Approved by manager2")


def test_secure_email_from_a_trusted_domain_needs_no_approval(live, rest):
    values = intake_values(
        request_channel="Secure email", requester_phone="", requester_email="safeguarding@leeds.nhs.net",
        identity_check="Trusted email domain", recipient_entitlement="Confirmed",
    )
    issue_id = rest.create_issue("practitioner2", values, subject="Trusted secure email")
    live.wait_processed(issue_id)
    assert rest.field_value(rest.issue(issue_id), F.APPROVAL_REQUIRED) in ("", None)
    rest.update_issue("practitioner2", issue_id, {**decision_values(), **share_values(today())}, status=S.SHARED)
    assert status_of(rest, issue_id) == "Shared"


def test_email_from_an_untrusted_domain_needs_approval(live, rest):
    values = intake_values(request_channel="Email", requester_phone="", requester_email="someone@example.com", recipient_entitlement="Confirmed")
    issue_id = rest.create_issue("practitioner2", values, subject="Untrusted email")
    issue = wait_for_issue(rest, issue_id, lambda i: rest.field_value(i, F.APPROVAL_REQUIRED) == "1", "Approval required")
    assert rest.field_value(issue, F.APPROVAL_REASON) == "Email request: e-mail domain not on the trusted list"
    message = refused(lambda: rest.update_issue("practitioner2", issue_id, {**decision_values(), **share_values(today())}, status=S.SHARED))
    assert "needs a manager's approval before it can be Shared (Email request: e-mail domain not on the trusted list)" in message


def test_a_declined_approval_goes_back_to_the_practitioner(live, rest):
    issue_id = in_doubt_phone_request(rest, login="practitioner2")
    route(live, rest, issue_id, login="practitioner2")
    rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Declined", F.APPROVAL_NOTES: "Entitlement not established"})
    issue = wait_for_issue(rest, issue_id, lambda i: i["status"]["name"] == "Assessing", "back to Assessing")
    assert issue["assigned_to"]["name"] == "Paul Practitioner"  # practitioner2, who recorded the decision
    assert any("Approval was declined by Maya Manager" in n for n in notes_of(rest, issue_id))
    # Not shared is open to a declined request.
    rest.update_issue("practitioner2", issue_id, {F.RETENTION_CATEGORY: "No further action"}, status=S.NOT_SHARED)
    assert status_of(rest, issue_id) == "Not shared"


def test_an_emergency_override_shares_now_and_managers_are_reminded_each_working_day(live, rest):
    issue_id = in_doubt_phone_request(rest)
    override = {**decision_values(), **share_values(today()), F.EMERGENCY_OVERRIDE: "1"}
    missing_reason = refused(lambda: rest.update_issue("practitioner1", issue_id, override, status=S.SHARED))
    assert "Emergency override reason: record why the emergency could not wait for a manager's approval (R-APPROVAL)." in missing_reason
    rest.update_issue("practitioner1", issue_id, {**override, F.EMERGENCY_OVERRIDE_REASON: "Child at immediate risk tonight"}, status=S.SHARED)
    assert status_of(rest, issue_id) == "Shared"
    wait_until(lambda: any("[infoshare:retrospective-approval-" in n for n in notes_of(rest, issue_id)), what="retrospective approval request")
    assert rest.issue(issue_id)["assigned_to"]["name"] == "MASH managers"

    calendar = WorkingCalendar(live.config().calendar)
    used_on = dt.datetime.now(LONDON).date()
    next_working = calendar.next_working_day(used_on).isoformat()
    assert "0 reminder(s) posted" in live.cli("approvals", "remind", "--today", used_on.isoformat()).stdout
    assert "would be posted (dry run)" in live.cli("approvals", "remind", "--today", next_working, "--dry-run").stdout
    assert not any("retrospective-reminder" in n for n in notes_of(rest, issue_id))
    assert "1 reminder(s) posted" in live.cli("approvals", "remind", "--today", next_working).stdout
    assert "0 reminder(s) posted" in live.cli("approvals", "remind", "--today", next_working).stdout
    reminders = [n for n in notes_of(rest, issue_id) if f"[infoshare:retrospective-reminder-{next_working}]" in n]
    assert len(reminders) == 1 and f"emergency share made on {used_on.isoformat()}" in reminders[0]

    rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Approved"})
    later = calendar.add_working_days(used_on, 2).isoformat()
    assert "0 reminder(s) posted" in live.cli("approvals", "remind", "--today", later).stdout
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Maya Manager", what="Approved by after the retrospective approval")


@on_both_redmines
def test_an_administrator_who_is_not_an_approver_cannot_approve(live, rest):
    issue_id = in_doubt_phone_request(rest)
    route(live, rest, issue_id)
    # Administrators pass Redmine's own workflow (the field is read-only for
    # practitioners, transitions are managers'), but not the gate.
    message = refused(lambda: rest.update_issue(None, issue_id, {F.APPROVAL_DECISION: "Approved"}))
    assert "Approval decision: only a MASH manager in this project can record an approval decision (R-APPROVAL)." in message

    live.stop_service()
    try:
        # With the gate down, a save that enters no blocked status goes through.
        rest.update_issue(None, issue_id, {F.APPROVAL_DECISION: "Approved"})
    finally:
        live.start_service()
    assert rest.field_value(rest.issue(issue_id), F.APPROVAL_DECISION) == "Approved"
    live.cli("reconcile")
    breaches = [b for b in live.store().breaches.all() if b["issue_id"] == issue_id]
    assert [(b["rule"], b["field"], b["code"]) for b in breaches] == [("R-APPROVAL", "approval_decision", "not_approver")]
    # Found once: by the reconciler, or by the worker when the shim's sender
    # had not yet given the save's event up as the service came back.
    assert breaches[0]["detected_by"] in ("reconciler", "event")
    issue = rest.issue(issue_id)
    assert rest.field_value(issue, F.APPROVED_BY) in ("", None)  # it does not count
    assert issue["status"]["name"] == "Awaiting approval"

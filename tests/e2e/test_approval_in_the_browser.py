"""Issue 8: the approval path in a real browser (Debian's chromium, driven by
Playwright; no browser is downloaded). Screenshots are kept in
var/artifacts/e2e/."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from playwright.sync_api import expect

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from tests.support.browser import IssueForm, log_in, shot
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until

F = FieldKey


def test_a_phone_request_in_doubt_is_shared_only_after_a_managers_approval(live, rest, browser):
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date().isoformat()
    issue_id = rest.create_issue("practitioner1", intake_values(recipient_entitlement="In doubt"), tracker=TrackerKey.INFORMATION_REQUEST, subject="Browser request")
    live.settle()
    base = live.redmine_url
    practitioner = log_in(browser, base, "practitioner1")
    form = IssueForm(practitioner, base, issue_id, rest.field_ids)

    # Sharing at once is refused on the page, with the rule's message.
    form.open()
    form.status("Shared")
    form.set({**decision_values(), **share_values(today)})
    form.submit()
    errors = practitioner.locator("#errorExplanation")
    expect(errors).to_contain_text("this request needs a manager's approval before it can be Shared")
    expect(errors).to_contain_text("(R-APPROVAL)")
    shot(practitioner, "1-practitioner-refused")

    # Recording the decision alone goes through; the service sends it to the managers.
    form.open()
    form.status("Assessing")
    form.set(decision_values())
    form.submit()
    wait_until(lambda: rest.issue(issue_id)["status"]["name"] == "Awaiting approval", what="routing to Awaiting approval")
    live.settle()

    manager = log_in(browser, base, "manager1")
    approval = IssueForm(manager, base, issue_id, rest.field_ids)
    approval.open()
    shot(manager, "2-manager-sees-the-request")
    approval.status("Approved")
    approval.set({F.APPROVAL_DECISION: "Approved", F.APPROVAL_NOTES: "Entitlement checked with the practice manager"})
    approval.submit()
    expect(manager.locator("#errorExplanation")).to_have_count(0)
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.APPROVED_BY) == "Maya Manager", what="Approved by")
    live.settle()
    shot(manager, "3-manager-approved")

    form.open()
    form.status("Shared")
    form.set(share_values(today))
    form.submit()
    expect(practitioner.locator("#errorExplanation")).to_have_count(0)
    expect(practitioner.locator(".issue .status")).to_contain_text("Shared")
    shot(practitioner, "4-practitioner-shared")
    assert rest.issue(issue_id)["status"]["name"] == "Shared"

"""Issue 8: the approval path in a real browser (Debian's chromium, driven by
Playwright; no browser is downloaded). Screenshots are kept in
var/artifacts/e2e/."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from devstack.demo import DEMO_PASSWORD
from devstack.stack import PROJECT_DIR
from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until

F = FieldKey
CHROMIUM = "/usr/bin/chromium"
# As root chromium needs --no-sandbox; the rest keep it off the network it does not have.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = PROJECT_DIR / "var" / "artifacts" / "e2e"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make bootstrap` (it installs Debian's chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def log_in(browser, base: str, login: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    page.goto(f"{base}/login")
    page.fill("#username", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#loggedas")).to_contain_text(login)
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class IssueForm:
    """Redmine's own edit form for one issue."""

    def __init__(self, page: Page, base: str, issue_id: int, field_ids: dict):
        self.page, self.base, self.issue_id, self.field_ids = page, base, issue_id, field_ids

    def open(self) -> None:
        self.page.goto(f"{self.base}/issues/{self.issue_id}/edit")
        expect(self.page.locator("#issue-form")).to_be_visible()

    def status(self, name: str) -> None:
        self.page.select_option("#issue_status_id", label=name)
        # Redmine redraws the form for the new status; wait for it.
        self.page.wait_for_load_state("networkidle")

    def set(self, values: dict) -> None:
        for key, value in values.items():
            selector = f"#issue_custom_field_values_{self.field_ids[key]}"
            element = self.page.locator(selector)
            tag = element.evaluate("e => e.tagName.toLowerCase()")
            if tag == "select":
                element.select_option(value)  # a value, or a list for a multiple field
            else:
                element.fill(value)

    def submit(self) -> None:
        self.page.click("#issue-form input[name=commit]")
        self.page.wait_for_load_state("networkidle")


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

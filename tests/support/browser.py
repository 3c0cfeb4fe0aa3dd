"""A real browser for the e2e tests: Debian's chromium driven by Playwright
(no browser is downloaded), Redmine's login and issue form, and screenshots
kept in var/artifacts/e2e/ (the role guides show them)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from devstack.demo import DEMO_PASSWORD
from devstack.stack import PROJECT_DIR

CHROMIUM = "/usr/bin/chromium"
# As root chromium needs --no-sandbox; the rest keep it off the network it does not have.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = PROJECT_DIR / "var" / "artifacts" / "e2e"


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

"""Issue 20 in a real browser (Debian's chromium driven by Playwright):
the new-request form shows only the intake, in the order of the questions;
a save is refused with one message per problem; the form brings up the
decision fields at Assessing; each role's queue lists its tickets.
Screenshots go to var/artifacts/e2e/ (the role guides show them)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from plugin.domain.names import TrackerKey
from plugin.domain.record import FIELDS, FORM_ORDER, FieldFormat, FieldKey
from plugin.policy.requirements import INTAKE_FORM_FIELDS
from tests.support.browser import IssueForm, log_in, shot
from tests.integration.test_queues import queue_ids
from tests.integration.test_retention import close_request, open_review_for
from tests.support.flows import in_doubt_phone_request, route
from tests.support.rest import intake_values

F = FieldKey


def form_fields(page: Page, rest) -> list[str]:
    """The custom fields the form shows, in the order it shows them."""
    names = {str(i): rest_name for rest_name, i in ((k.default_name, v) for k, v in rest.field_ids.items())}
    ids = page.eval_on_selector_all(
        "#issue-form label[for^='issue_custom_field_values_']", "ls => ls.map(l => l.getAttribute('for').split('_').pop())"
    )
    return [names[i] for i in dict.fromkeys(ids) if i in names]


def new_request_form(page: Page, base: str, rest) -> None:
    page.goto(f"{base}/projects/mash/issues/new?issue[tracker_id]={rest.tracker_ids[TrackerKey.INFORMATION_REQUEST]}")
    expect(page.locator("#issue-form")).to_be_visible()


def test_the_new_request_form_asks_only_for_the_intake_in_the_order_of_the_questions(live, rest, browser):
    page = log_in(browser, live.redmine_url, "practitioner1")
    new_request_form(page, live.redmine_url, rest)
    shown = form_fields(page, rest)
    shot(page, "forms-1-new-request")
    assert 0 < len(shown) <= 16
    assert set(shown) == {k.default_name for k in INTAKE_FORM_FIELDS}
    # Two columns of short fields in the order of the questions, then the long texts across the page.
    ordered = [k for k in FORM_ORDER if k in INTAKE_FORM_FIELDS]
    short = [k.default_name for k in ordered if FIELDS[k].format is not FieldFormat.TEXT]
    long = [k.default_name for k in ordered if FIELDS[k].format is FieldFormat.TEXT]
    assert shown == short + long
    # Each field says what to record (Redmine shows the description when the pointer rests on the name).
    for key in INTAKE_FORM_FIELDS:
        title = page.locator(f"label[for='issue_custom_field_values_{rest.field_ids[key]}'] span.field-description").get_attribute("title")
        assert title == FIELDS[key].description


def test_a_save_is_refused_with_one_message_per_problem(live, rest, browser):
    page = log_in(browser, live.redmine_url, "practitioner1")
    new_request_form(page, live.redmine_url, rest)
    page.fill("#issue_subject", "Phone call from a GP")
    form = IssueForm(page, live.redmine_url, 0, rest.field_ids)
    form.set({F.REQUEST_DIRECTION: "Incoming request", F.REQUEST_CHANNEL: "Phone", F.URGENCY: "Amber"})
    page.click("#issue-form input[name=commit]")
    page.wait_for_load_state("networkidle")
    messages = page.locator("#errorExplanation li").all_inner_texts()
    shot(page, "forms-2-refused")
    assert messages, "the save was refused with messages"
    assert len(messages) == len(set(messages))
    # One message per field, whether Redmine's own required-field rule or InfoShare's found it.
    fields = [m.split(":")[0].split(" cannot be blank")[0] for m in messages]
    assert len(fields) == len(set(fields)), messages
    assert any("(R-INTAKE)" in m for m in messages)
    for name in ("Requester phone", "Requester name", "Information requested"):
        assert sum(m.startswith(name) for m in messages) == 1, messages


def test_the_form_brings_up_the_decision_fields_at_assessing(live, rest, browser):
    issue_id = rest.create_issue("practitioner1", intake_values(), subject="Form at Assessing")
    live.settle()
    page = log_in(browser, live.redmine_url, "practitioner1")
    form = IssueForm(page, live.redmine_url, issue_id, rest.field_ids)
    form.open()
    assert "Decision" not in form_fields(page, rest)
    form.status("Assessing")
    shown = form_fields(page, rest)
    shot(page, "forms-3-assessing")
    assert {"Decision", "Decision reasons", "Lawful basis", "Consent status", "Risk level", "Information shared"} <= set(shown)
    assert not {"Approval decision", "Legal hold", "Response due", "Shared by"} & set(shown)
    assert shown.index("Lawful basis") < shown.index("Consent status") < shown.index("Decision")


def queue_page(page: Page, base: str, rest, queue: str) -> set[int]:
    page.goto(f"{base}/projects/mash/issues?query_id={queue_ids(rest)[queue]}&per_page=100")
    expect(page.locator("#content h2")).to_contain_text(queue)
    ids = page.eval_on_selector_all("table.issues tr.issue", "rows => rows.map(r => r.id.replace('issue-', ''))")
    return {int(i) for i in ids}


def test_each_role_starts_from_its_own_queue(live, rest, browser):
    waiting = in_doubt_phone_request(rest, subject="Queue: for approval")
    route(live, rest, waiting)
    held, _ = close_request(live, rest, subject="Queue: held by governance")
    rest.update_issue("governance1", held, {F.LEGAL_HOLD: "1", F.LEGAL_HOLD_REASON: "Subject access request in progress"})
    request_id, review_id, _ = open_review_for(live, rest, subject="Queue: review due")
    incident = rest.create_issue("practitioner2", {F.INCIDENT_TYPE: "Inadvertent disclosure", F.INCIDENT_SOURCE: "Staff"},
                                 tracker=TrackerKey.INFORMATION_INCIDENT, subject="Queue: a letter to the wrong address")
    live.settle()

    manager = log_in(browser, live.redmine_url, "manager1")
    awaiting = queue_page(manager, live.redmine_url, rest, "Awaiting approval")
    shot(manager, "forms-4-manager-awaiting-approval")
    assert waiting in awaiting and held not in awaiting
    expect(manager.locator("table.issues thead")).to_contain_text("Response due")

    governance = log_in(browser, live.redmine_url, "governance1")
    holds = queue_page(governance, live.redmine_url, rest, "Legal holds")
    shot(governance, "forms-5-governance-legal-holds")
    assert held in holds and waiting not in holds
    reviews = queue_page(governance, live.redmine_url, rest, "Reviews due")
    shot(governance, "forms-6-governance-reviews-due")
    assert review_id in reviews and request_id not in reviews
    incidents = queue_page(governance, live.redmine_url, rest, "Open incidents")
    assert incident in incidents and held not in incidents

"""Issue 6 against a real Redmine, with a controlled clock
(`infoshare retention run --today`) and a real SMTP sink."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo

import pytest
from redminelib.exceptions import ResourceNotFoundError, ValidationError

from devstack import processes
from devstack.stack import BIN_DIR
from plugin.policy.retention import add_years
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.waiting import wait_until
from tests.support.rest import decision_values, intake_values
from tests.support.dates import local_today as today

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")
MARKER = "[redacted under retention review]"



def close_request(live, rest, *, category="No further action", subject="Retention test", **extra) -> tuple[int, dt.date]:
    """A request closed as Not shared today; returns it and its review date."""
    values = intake_values(request_channel="Letter", requester_phone="", requester_name="Dr Retention Example", **extra)
    issue_id = rest.create_issue("practitioner1", values, subject=subject, description="Concerns about a named child at a named school.")
    closing = {**decision_values(decision="Do not share", public_interest_justification=""), F.RETENTION_CATEGORY: category}
    rest.update_issue("practitioner1", issue_id, closing, status=S.NOT_SHARED)
    years = live.config().retention.category(category).years
    expected = add_years(today(), years)
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.RETENTION_REVIEW_DATE) == expected.isoformat(), what="the review date")
    live.settle()
    return issue_id, expected


def run(live, day: dt.date, *extra: str) -> str:
    return live.cli("retention", "run", "--today", day.isoformat(), *extra).stdout


def opened_reviews(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"review #(\d+) opened", out)]


def reviews_of(rest, request_id: int) -> list[dict]:
    relations = rest.get_json(f"/issues/{request_id}.json", include="relations")["issue"].get("relations", [])
    ids = {r["issue_id"] if r["issue_to_id"] == request_id else r["issue_to_id"] for r in relations}
    return [i for i in (rest.issue(i) for i in sorted(ids)) if i["tracker"]["name"] == "Retention review"]


def notes(issue: dict) -> list[str]:
    return [j.get("notes") or "" for j in issue["journals"]]


def test_closing_needs_a_retention_category(rest):
    issue_id = rest.create_issue("practitioner2", intake_values(request_channel="Letter", requester_phone=""), subject="No category")
    with pytest.raises(ValidationError) as refused:
        rest.update_issue("practitioner2", issue_id, decision_values(decision="Do not share", public_interest_justification=""), status=S.NOT_SHARED)
    assert "Retention category: record the retention category before closing the request; it decides when the record is reviewed (R-RETENTION)." in str(refused.value)


def reminders_on(rest, review_id: int) -> list[str]:
    return [n for n in notes(rest.issue(review_id)) if n.startswith("Reminder: this retention review")]


@pytest.mark.early
def test_a_closed_request_reaches_its_review_with_reminders_by_email(live, rest, smtp_sink):
    # Other tests close requests today too, so this one's review is picked out
    # by its relation, and counts are of its own notes.
    request_id, review_date = close_request(live, rest)
    run(live, review_date - dt.timedelta(days=31))
    assert reviews_of(rest, request_id) == []
    out = run(live, review_date - dt.timedelta(days=30))
    (review,) = reviews_of(rest, request_id)
    review_id = review["id"]
    assert review_id in opened_reviews(out)
    assert review["subject"] == f"Retention review of request #{request_id}"
    assert review["assigned_to"]["name"] == "Information governance"
    assert review["due_date"] == review_date.isoformat()

    # Opening the review was the 30-day reminder: a second run that day posts nothing.
    run(live, review_date - dt.timedelta(days=30))
    assert reminders_on(rest, review_id) == []

    # Reminders 7 days before, on the day, then weekly while overdue; each
    # once, however often the job runs.
    expected = []
    for days_before, text in ((7, "in 7 days"), (0, "is due today"), (-7, "is overdue")):
        day = review_date - dt.timedelta(days=days_before)
        run(live, day)
        run(live, day)
        expected.append(text)
        found = reminders_on(rest, review_id)
        assert len(found) == len(expected) and all(t in f for t, f in zip(expected, found))
    assert [r["id"] for r in reviews_of(rest, request_id)] == [review_id]  # exactly one review

    # Redmine's own notification reaches the governance lead.
    mails = smtp_sink.wait_for(lambda m: "governance1@mash.example.org" in m.recipients and f"#{review_id}" in m.subject)
    assert any("Reminder: this retention review" in m.text() for m in mails)


def open_review_for(live, rest, **kw) -> tuple[int, int, dt.date]:
    request_id, review_date = close_request(live, rest, **kw)
    run(live, review_date)
    (review,) = reviews_of(rest, request_id)
    review_id = review["id"]
    live.settle()
    return request_id, review_id, review_date


def complete(rest, review_id, values):
    rest.update_issue("governance1", review_id, values, status=S.REVIEW_COMPLETED)


def test_completing_a_review_needs_its_outcome_and_reason(live, rest):
    _, review_id, _ = open_review_for(live, rest, subject="Refused completion")
    with pytest.raises(ValidationError) as refused:
        complete(rest, review_id, {F.REVIEW_OUTCOME: "Retain"})
    message = str(refused.value)
    assert "Review justification: record why this outcome is right (R-RETENTION)." in message
    assert "Next review date: to retain the record, set the date of its next review (R-RETENTION)." in message
    too_far = add_years(today(), 11).isoformat()
    with pytest.raises(ValidationError) as refused:
        complete(rest, review_id, {F.REVIEW_OUTCOME: "Retain", F.REVIEW_JUSTIFICATION: "Needed", F.NEXT_REVIEW_DATE: too_far})
    assert "the next review can be at most 10 years ahead" in str(refused.value)


def test_retain_sets_the_requests_next_review(live, rest):
    request_id, review_id, _ = open_review_for(live, rest, subject="Retain me")
    next_review = add_years(today(), 2).isoformat()
    complete(rest, review_id, {F.REVIEW_OUTCOME: "Retain", F.REVIEW_JUSTIFICATION: "Care proceedings continue", F.NEXT_REVIEW_DATE: next_review})
    request = wait_until(lambda: (r := rest.issue(request_id)) and rest.field_value(r, F.RETENTION_REVIEW_DATE) == next_review and r, what="the new review date")
    assert any(f"retained by Grace Governance; next review on {next_review}" in n for n in notes(request))


def gone(rest, issue_id: int) -> bool:
    try:
        rest.issue(issue_id)
        return False
    except ResourceNotFoundError:
        return True


def test_destroy_deletes_the_request_and_its_escalations_after_one_disposal_record(live, rest):
    request_id, review_date = close_request(live, rest, subject="Destroy me")
    escalation_id = raise_a_disagreement(live, rest, request_id, "We disagree about the refusal")
    run(live, review_date)
    (review,) = reviews_of(rest, request_id)
    review_id = review["id"]
    complete(rest, review_id, {F.REVIEW_OUTCOME: "Destroy", F.REVIEW_JUSTIFICATION: "Retention period over"})
    wait_until(lambda: gone(rest, request_id) and gone(rest, escalation_id), what="the request and its escalation deleted")
    review = rest.issue(review_id)
    (record,) = [n for n in notes(review) if n.startswith("Disposal record (R-RETENTION)")]
    assert f"request_id: {request_id}" in record and f"escalation_ids: #{escalation_id}" in record
    assert f"review_date: {review_date.isoformat()}" in record
    assert "authorised_by: Grace Governance" in record and "category: No further action" in record
    assert "Dr Retention Example" not in record and "Destroy me" not in record and "disagree" not in record
    audit = live.cli("audit", "show", "--issue", str(request_id)).stdout
    (disposal,) = [line for line in audit.splitlines() if " disposal " in line]
    assert f'"review_id": {review_id}' in disposal and f'"escalation_ids": [{escalation_id}]' in disposal
    assert "Audit log intact" in live.cli("audit", "verify").stdout


def raise_a_disagreement(live, rest, request_id: int, details: str) -> int:
    """A practitioner raises a disagreement on the request; the service opens
    the escalation and copies the details into it. Returns the escalation."""
    # The disagreement fields appear from Assessing: a request still Received moves there in the same save.
    received = rest.issue(request_id)["status"]["name"] == S.RECEIVED.default_name
    rest.update_issue("practitioner1", request_id, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: details},
                      **({"status": S.ASSESSING} if received else {}))

    def escalation():
        relations = rest.get_json(f"/issues/{request_id}.json", include="relations")["issue"].get("relations", [])
        for r in relations:
            other = rest.issue(r["issue_id"] if r["issue_to_id"] == request_id else r["issue_to_id"])
            if other["tracker"]["name"] == "Escalation":
                return other["id"]
        return None

    escalation_id = wait_until(escalation, what="the escalation opened")
    wait_until(lambda: rest.field_value(rest.issue(escalation_id), F.POINTS_OF_DISAGREEMENT) == details, what="the details copied")
    live.settle()
    return escalation_id


# --- legal holds (R-RETENTION v2) ----------------------------------------------------------------


def hold_of(rest, request_id: int) -> tuple[str, str]:
    issue = rest.issue(request_id)
    return rest.field_value(issue, F.LEGAL_HOLD), rest.field_value(issue, F.LEGAL_HOLD_REASON)


def test_a_legal_hold_is_governances_needs_a_reason_is_listed_and_reviewed_yearly(live, rest, tmp_path):
    request_id, review_date = close_request(live, rest, subject="On hold")
    # A practitioner or a manager cannot set it: the field is read-only for them, in the form and over REST.
    for login in ("practitioner1", "manager1"):
        rest.update_issue(login, request_id, {F.LEGAL_HOLD: "1", F.LEGAL_HOLD_REASON: "I think so"})
        assert hold_of(rest, request_id) in (("0", ""), ("", ""), (None, None), ("0", None))
    # Governance without a reason: refused, saying what to do.
    with pytest.raises(ValidationError) as refused:
        rest.update_issue("governance1", request_id, {F.LEGAL_HOLD: "1"})
    assert "Legal hold reason: say why the record must be held" in str(refused.value)
    rest.update_issue("governance1", request_id, {F.LEGAL_HOLD: "1", F.LEGAL_HOLD_REASON: "Civil claim notified by legal services"})
    assert hold_of(rest, request_id) == ("1", "Civil claim notified by legal services")
    # Governance can change nothing else on the request.
    rest.update_issue("governance1", request_id, {F.DECISION_REASONS: "governance rewrote this"}, subject="Changed by governance")
    request = rest.issue(request_id)
    assert request["subject"] == "On hold" and rest.field_value(request, F.DECISION_REASONS) == decision_values()[F.DECISION_REASONS]
    live.settle()

    # Listed in the governance report with the day it was set ...
    live.cli("report", "--from", today().isoformat(), "--to", today().isoformat(), "--out", str(tmp_path))
    rows = (tmp_path / "legal_holds.csv").read_text().splitlines()
    assert f"{request_id},{today().isoformat()}" in rows
    # ... put to governance once a year from that day ...
    # Other tests hold requests too: this one is picked out by its notes.
    def hold_reviews() -> list[str]:
        return [n for n in notes(rest.issue(request_id)) if "under legal hold since" in n]

    a_year_on = add_years(today(), 1)
    run(live, a_year_on - dt.timedelta(days=1))
    assert hold_reviews() == []
    assert "hold(s) put to governance" in run(live, a_year_on)
    (note,) = hold_reviews()
    assert f"since {today().isoformat()} (1 year)" in note and rest.issue(request_id)["assigned_to"]["name"] == "Information governance"
    run(live, a_year_on)  # the same day again: nothing more
    assert len(hold_reviews()) == 1
    # ... and never reviewed for retention, even on its review date (six years on: the sixth yearly hold review).
    out = run(live, review_date)
    assert f"request #{request_id} is under legal hold: not reviewed for retention" in out
    assert reviews_of(rest, request_id) == []
    assert any("(6 years)" in n for n in notes(rest.issue(request_id)))


def test_the_daily_query_costs_follow_the_due_requests_not_all_requests(live, rest):
    _, due_on = close_request(live, rest, subject="Due")
    day = due_on + dt.timedelta(days=1)

    def cost() -> tuple[int, int]:
        out = run(live, day, "--dry-run")
        due, requests = re.search(r"(\d+) request\(s\) due for review: .*; (\d+) Redmine request\(s\)", out).groups()
        return int(due), int(requests)

    due_before, requests_before = cost()
    for n in range(5):  # closed requests whose review is years away
        close_request(live, rest, category="Child protection", subject=f"Not due {n}")
    assert cost() == (due_before, requests_before)
    close_request(live, rest, subject="Also due")
    due_after, requests_after = cost()
    assert due_after == due_before + 1
    assert 0 < requests_after - requests_before <= 4


def retention_runs(log) -> int:
    """Runs of the retention job the scheduler has logged as finished."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return sum(1 for e in entries if e.get("msg") == "job finished" and e.get("job") == "retention")


def test_the_scheduler_opens_a_due_review_unattended(live, rest):
    """No command given: `infoshare scheduler` runs the retention job at its
    configured times; a second run that day changes nothing."""
    request_id, review_id, _ = open_review_for(live, rest, subject="Scheduled review")
    soon = today() + dt.timedelta(days=10)  # within the 30-day lead time
    complete(rest, review_id, {F.REVIEW_OUTCOME: "Retain", F.REVIEW_JUSTIFICATION: "Proceedings continue", F.NEXT_REVIEW_DATE: soon.isoformat()})
    wait_until(lambda: rest.field_value(rest.issue(request_id), F.RETENTION_REVIEW_DATE) == soon.isoformat(), what="the new review date")
    live.settle()

    now = dt.datetime.now(LONDON)
    times = [(now + dt.timedelta(seconds=s)).strftime("%H:%M:%S") for s in (8, 14)]
    config = live.root / "scheduler-timed.toml"
    config.write_text(live.config_path.read_text() + f"\n[scheduler]\nretention_at = {json.dumps(times)}\n")
    log = live.log("scheduler-timed")
    with live.paused_scheduler():
        proc = processes.start([str(BIN_DIR / "infoshare"), "--config", str(config), "scheduler"], log_path=log, env=live.service_env())
        try:
            wait_until(lambda: retention_runs(log) >= 2 or proc.poll() is not None, timeout=60, what="two runs")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert retention_runs(log) == 2, log.read_text()[-2000:]

    open_reviews = [r for r in reviews_of(rest, request_id) if r["status"]["name"] == "Review due"]
    assert len(open_reviews) == 1
    (review,) = open_reviews
    assert review["id"] != review_id and review["due_date"] == soon.isoformat()
    assert review["assigned_to"]["name"] == "Information governance"

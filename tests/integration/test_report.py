"""Issue 8: the governance report on a real Redmine. Its CSV numbers are
compared with counts this test makes itself from Redmine's REST API and the
store, and the HTML is opened in a headless browser to see the charts."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import statistics
import zoneinfo

from devstack.stack import PROJECT_DIR
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from tests.support.flows import in_doubt_phone_request, route, status_of
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


def seed(live, rest, today: str) -> None:
    """A spread of requests, so every count is more than a formality."""
    for channel, urgency in (("Letter", "Red"), ("In person", "Green"), ("Meeting", "Amber")):
        issue = rest.create_issue("practitioner2", intake_values(request_channel=channel, requester_phone="", urgency=urgency), subject="Report seed")
        rest.update_issue("practitioner2", issue, {**decision_values(), **share_values(today)}, status=S.SHARED)
    refused = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone="", urgency="Red"), subject="Report seed")
    rest.update_issue("practitioner1", refused, {**decision_values(decision="Do not share", public_interest_justification=""), F.RETENTION_CATEGORY: "Early help"}, status=S.NOT_SHARED)
    rest.create_issue("practitioner1", intake_values(recipient_entitlement="In doubt"), subject="Report seed")
    # An approval voided by a change of the facts it saw.
    approved = in_doubt_phone_request(rest, subject="Report seed")
    route(live, rest, approved)
    rest.update_issue("manager1", approved, {F.APPROVAL_DECISION: "Approved"})
    wait_until(lambda: status_of(rest, approved) == "Approved", what="approved")
    live.settle()
    rest.update_issue("practitioner1", approved, {F.REQUESTER_ORGANISATION: "Another practice"})
    # Incidents: one logged and closed as reportable, one still open.
    aware = dt.datetime.now(LONDON).replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    stamp = aware.strftime("%Y-%m-%d %H:%M")
    closed = rest.create_issue("practitioner2", {F.INCIDENT_TYPE: "Inadvertent disclosure", F.INCIDENT_SOURCE: "Staff", F.BECAME_AWARE_AT: stamp},
                               tracker=TrackerKey.INFORMATION_INCIDENT, subject="Report seed incident")
    live.settle()
    rest.update_issue("governance1", closed, {F.RISK_TO_INDIVIDUALS: "Medium", F.INCIDENT_OUTCOME: "Upheld", F.LESSONS_LEARNED: "Check recipients",
                                              F.ICO_REPORT_DECISION: "Reportable", F.ICO_REPORTED_AT: stamp}, status=S.INCIDENT_CLOSED)
    rest.create_issue("manager2", {F.INCIDENT_TYPE: "Complaint from the public", F.INCIDENT_SOURCE: "Member of the public"},
                      tracker=TrackerKey.INFORMATION_INCIDENT, subject="Report seed incident")
    live.settle()


def all_issues(rest, tracker_id: int, **filters) -> list[dict]:
    found, offset = [], 0
    while True:
        page = rest.get_json("/issues.json", tracker_id=tracker_id, status_id="*", limit=100, offset=offset, **filters)
        found += page["issues"]
        offset += len(page["issues"])
        if offset >= page["total_count"] or not page["issues"]:
            return found


def value(issue: dict, name: str):
    return next((cf.get("value") for cf in issue.get("custom_fields", []) if cf["name"] == name), None) or None


def service_notes(journals: list[dict], marker: str) -> int:
    """Notes the service posted on the issue with the given marker."""
    return sum(j["user"]["name"] == "InfoShare service" and f"[infoshare:{marker}" in (j.get("notes") or "") for j in journals)


def read_csv(path) -> dict[str, str]:
    rows = list(csv.reader(path.open()))
    return {row[0]: row[1] for row in rows[1:]}


def test_the_report_matches_independent_counts_and_shows_its_charts(live, rest, tmp_path):
    day = dt.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date().isoformat()
    seed(live, rest, day)
    out = tmp_path / "report"
    printed = live.cli("report", "--from", day, "--to", day, "--out", str(out)).stdout
    assert "report.html" in printed

    # Independent counts: straight from Redmine's REST API.
    period = f"><{day}|{day}"
    requests = all_issues(rest, rest.tracker_ids[TrackerKey.INFORMATION_REQUEST], created_on=period)
    assert len(requests) >= 5
    closed = {"Shared", "Not shared", "Withdrawn"}
    # The history of each decided request, read once.
    histories = {i["id"]: rest.issue(i["id"]) for i in requests if value(i, "Decision")}
    expected = {
        "requests_by_channel.csv": collections.Counter(value(i, "Request channel") or "(not recorded)" for i in requests),
        "requests_by_decision.csv": collections.Counter(value(i, "Decision") or "(not recorded)" for i in requests),
        "requests_by_outcome.csv": collections.Counter(i["status"]["name"] if i["status"]["name"] in closed else "Open" for i in requests),
        "approvals.csv": {
            "required": sum(value(i, "Approval required") == "1" for i in requests),
            "granted": sum(value(i, "Approval decision") == "Approved" and bool(value(i, "Approved by")) for i in requests),
            "declined": sum(value(i, "Approval decision") == "Declined" for i in requests),
            "overridden": sum(value(i, "Emergency override") == "1" and bool(value(i, "Emergency override reason")) for i in requests),
            "overridden after a decline": sum(bool(service_notes(h["journals"], "override-after-decline-")) for h in histories.values()),
            "voided by a change": sum(service_notes(h["journals"], "approval-void-") for h in histories.values()),
        },
    }
    shared = [i for i in requests if i["status"]["name"] == "Shared"]
    expected["shares.csv"] = {
        "shared": len(shared),
        "not confirmed in writing": sum(not value(i, "Confirmed in writing on") for i in shared),
        "by a method that is not secure": sum(value(i, "Secure method") == "Other - not secure" for i in shared),
    }
    incidents = [rest.issue(i["id"]) for i in all_issues(rest, rest.tracker_ids[TrackerKey.INFORMATION_INCIDENT], created_on=period)]
    assert len(incidents) >= 2
    expected["incidents_by_type.csv"] = collections.Counter(value(i, "Incident type") or "(not recorded)" for i in incidents)
    expected["incidents_by_source.csv"] = collections.Counter(value(i, "Incident source") or "(not recorded)" for i in incidents)
    expected["incidents_by_outcome.csv"] = collections.Counter(
        (value(i, "Incident outcome") or "(not recorded)") if i["status"]["name"] == "Incident closed" else "Open" for i in incidents
    )
    expected["incidents_ico.csv"] = {
        "logged": len(incidents),
        "reportable": sum(value(i, "ICO report decision") == "Reportable" for i in incidents),
        "reported": sum(bool(value(i, "ICO reported at")) for i in incidents),
        "deadlines missed": 0,  # all logged today: no 72 hours have passed
    }
    escalations = all_issues(rest, rest.tracker_ids[TrackerKey.ESCALATION], created_on=period)
    expected["escalations_by_stage.csv"] = collections.Counter(value(e, "Escalation stage") or "(not recorded)" for e in escalations)
    reviews = all_issues(rest, rest.tracker_ids[TrackerKey.RETENTION_REVIEW], due_date=period)
    expected["retention_reviews.csv"] = {
        "due": len(reviews),
        "overdue": 0,  # due today at the earliest: not late yet
        "completed": sum(r["status"]["name"] == "Review completed" for r in reviews),
    }
    for filename, counts in expected.items():
        got = {k: int(v) for k, v in read_csv(out / filename).items()}
        assert got == {k: v for k, v in counts.items() if v or filename in ("approvals.csv", "retention_reviews.csv", "incidents_ico.csv", "shares.csv")}, filename

    # Median time to decision, from each request's journals.
    hours = collections.defaultdict(list)
    decision_field = str(rest.field_ids[F.DECISION])
    for i in requests:
        if not value(i, "Decision"):
            continue
        issue = histories[i["id"]]
        created = dt.datetime.fromisoformat(issue["created_on"].replace("Z", "+00:00"))
        decided = next(
            (j["created_on"] for j in issue["journals"] for d in j["details"] if d["property"] == "cf" and d["name"] == decision_field and d["new_value"]),
            issue["created_on"],
        )
        hours[value(i, "Urgency")].append((dt.datetime.fromisoformat(decided.replace("Z", "+00:00")) - created).total_seconds() / 3600)
    rows = {r[0]: r for r in list(csv.reader((out / "decision_times.csv").open()))[1:]}
    for urgency, values in hours.items():
        assert int(rows[urgency][1]) == len(values)
        assert float(rows[urgency][2]) == round(statistics.median(values), 1)

    breaches = collections.Counter((b["rule"], b["status"]) for b in live.store().breaches.all())
    got = {(r[0], r[1]): int(r[2]) for r in list(csv.reader((out / "breaches.csv").open()))[1:]}
    assert got == dict(breaches)

    # The HTML opens in a real browser and its charts are drawn.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.goto((out / "report.html").as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        artifacts = PROJECT_DIR / "var" / "artifacts" / "report"
        artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        title = page.title()
        browser.close()
    assert len(widths) == 16 and all(w > 0 for w in widths)
    assert title.startswith("InfoShare governance report")

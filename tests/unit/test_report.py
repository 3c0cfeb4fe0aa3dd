"""The governance report's counting (pure) and rendering."""

from __future__ import annotations

import csv
import datetime as dt

from plugin.policy import timeliness
from plugin.service import report
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IssueState
from tests.unit.conftest import make_config

F = FieldKey
S = StatusKey
CONFIG = make_config()
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)


def request(status=S.ASSESSING, decided_after_hours=None, voided=0, after_decline=False, answered_after_hours=None, **values):
    fields = {F(k): v for k, v in values.items()}
    state = IssueState(1, TrackerKey.INFORMATION_REQUEST, status, fields, created_on=T0)
    answered = T0 + dt.timedelta(hours=answered_after_hours) if answered_after_hours is not None else None
    return report.Request(state, T0 + dt.timedelta(hours=decided_after_hours) if decided_after_hours is not None else None, voided, after_decline,
                          timeliness.measure(CONFIG, state, answered))


def incident(status=S.INCIDENT_REPORTED, decided_after_hours=None, **values):
    fields = {F.ICO_DEADLINE: "2026-11-05 09:00", **{F(k): v for k, v in values.items()}}
    state = IssueState(7, TrackerKey.INFORMATION_INCIDENT, status, fields, created_on=T0)
    return report.Incident(state, T0 + dt.timedelta(hours=decided_after_hours) if decided_after_hours is not None else None)


def data():
    requests = [
        request(S.SHARED, 2, 2, answered_after_hours=2, request_channel="Phone", decision="Share", urgency="Red", approval_required="1", approval_decision="Approved", approved_by="Maya"),
        request(S.NOT_SHARED, 10, answered_after_hours=10, request_channel="Phone", decision="Do not share", urgency="Red", approval_required="1", approval_decision="Declined"),
        request(S.SHARED, 30, after_decline=True, answered_after_hours=30, request_channel="Email", decision="Share", urgency="Green", approval_required="1", emergency_override="1",
                emergency_override_reason="risk", approval_decision="Declined"),
        request(S.RECEIVED, request_channel="Letter", urgency="Amber"),
        request(S.WITHDRAWN),
    ]
    escalations = [
        IssueState(2, TrackerKey.ESCALATION, S.IN_ESCALATION, {F.ESCALATION_STAGE: "Stage 2: Manager to manager"}),
        IssueState(3, TrackerKey.ESCALATION, S.ESCALATION_RESOLVED, {F.ESCALATION_STAGE: "Stage 1: Practitioner to practitioner", F.ESCALATION_OUTCOME: "Resolved"}),
    ]
    reviews = [
        IssueState(4, TrackerKey.RETENTION_REVIEW, S.REVIEW_DUE, {}, due_date=dt.date(2026, 11, 3)),
        IssueState(5, TrackerKey.RETENTION_REVIEW, S.REVIEW_DUE, {}, due_date=dt.date(2026, 11, 29)),
        IssueState(6, TrackerKey.RETENTION_REVIEW, S.REVIEW_COMPLETED, {F.REVIEW_OUTCOME: "Retain"}, due_date=dt.date(2026, 11, 5)),
    ]
    breaches = [{"rule": "R-DECISION", "status": "open"}, {"rule": "R-DECISION", "status": "resolved"}, {"rule": "R-DECISION", "status": "open"}]
    incidents = [
        incident(S.INCIDENT_CLOSED, 30, incident_type="Complaint from the public", incident_source="Member of the public", incident_outcome="Upheld",
                 ico_report_decision="Reportable", ico_reported_at="2026-11-03 10:00"),
        incident(S.INVESTIGATING, 80, incident_type="Override of a declined approval", incident_source="InfoShare service", ico_report_decision="Not reportable"),
        incident(incident_type="Override of a declined approval", incident_source="InfoShare service"),  # no decision, deadline passed
        incident(incident_type="Inadvertent disclosure", incident_source="Staff", ico_deadline=""),
    ]
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    # Holds are listed whatever the period; the local day (23:30 UTC is the next day in London in summer).
    holds = [(9, dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.timezone.utc)), (8, None)]
    return report.aggregate(CONFIG, dt.date(2026, 11, 1), dt.date(2026, 11, 30), now, requests, escalations, reviews, breaches, incidents, holds)


def test_counts():
    d = data()
    assert d.requests == 5
    assert d.by_channel == {"Phone": 2, "(not recorded)": 1, "Email": 1, "Letter": 1}
    assert d.by_decision == {"(not recorded)": 2, "Share": 2, "Do not share": 1}
    assert d.by_outcome == {"Shared": 2, "Not shared": 1, "Open": 1, "Withdrawn": 1}
    assert d.approvals == {"required": 3, "granted": 1, "declined": 2, "overridden": 1, "overridden after a decline": 1, "voided by a change": 2}
    assert d.decision_hours == {"Red": (2, 6.0), "Amber": (0, None), "Green": (1, 30.0)}
    assert d.escalations_by_stage == {"Stage 1: Practitioner to practitioner": 1, "Stage 2: Manager to manager": 1}
    assert d.escalations_by_outcome == {"Open": 1, "Resolved": 1}
    assert d.reviews == {"due": 3, "overdue": 1, "completed": 1}  # the one due on the 29th is not late yet
    assert d.reviews_completed_by_outcome == {"Retain": 1}
    assert d.breaches == {("R-DECISION", "open"): 2, ("R-DECISION", "resolved"): 1}
    assert d.incidents_by_type == {"Override of a declined approval": 2, "Complaint from the public": 1, "Inadvertent disclosure": 1}
    assert d.incidents_by_source == {"InfoShare service": 2, "Member of the public": 1, "Staff": 1}
    assert d.incidents_by_outcome == {"Open": 3, "Upheld": 1}
    # Decided 80 hours after logging (past the deadline), and one never decided.
    assert d.ico == {"logged": 4, "reportable": 1, "reported": 1, "deadlines missed": 2}
    assert d.legal_holds == [(8, None), (9, dt.date(2026, 7, 2))]
    # Logged Monday 09:00. Red (4 hours): answered at 11:00 (2 working hours, in time) and at 19:00 (8, late).
    # Green (3 working days, due Wednesday 17:00): answered Tuesday 15:00, 14 working hours. Amber: due Tuesday, never answered.
    assert d.timeliness == {
        "Red": {"requests": 2, "answered": 2, "answered_within_target": 1, "answered_within_target_pct": 50.0,
                "median_working_hours_to_answer": 5.0, "overdue_now": 0},
        "Amber": {"requests": 1, "answered": 0, "answered_within_target": 0, "answered_within_target_pct": None,
                  "median_working_hours_to_answer": None, "overdue_now": 1},
        "Green": {"requests": 1, "answered": 1, "answered_within_target": 1, "answered_within_target_pct": 100.0,
                  "median_working_hours_to_answer": 14.0, "overdue_now": 0},
    }


def test_written_files(tmp_path):
    written = report.write(data(), tmp_path)
    assert {p.name for p in written} == {"report.html", "decision_times.csv", "timeliness.csv", "breaches.csv", "legal_holds.csv", *report.CSV_FILES}
    rows = list(csv.reader((tmp_path / "requests_by_channel.csv").open()))
    assert rows[0] == ["channel", "count"] and ["Phone", "2"] in rows
    assert list(csv.reader((tmp_path / "decision_times.csv").open()))[1:] == [["Red", "2", "6.0"], ["Amber", "0", ""], ["Green", "1", "30.0"]]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img ") == 16 and page.count("data:image/png;base64,") == 16
    assert list(csv.reader((tmp_path / "timeliness.csv").open()))[1:] == [
        ["Red", "2", "2", "1", "50.0", "5.0", "0"], ["Amber", "1", "0", "0", "", "", "1"], ["Green", "1", "1", "1", "100.0", "14.0", "0"]]
    assert "Answered within target" in page
    assert "2026-11-01 to 2026-11-30" in page
    assert "Requests under legal hold" in page and "<td>#9</td><td>2026-07-02</td>" in page and "<td>#8</td><td>not known</td>" in page
    assert list(csv.reader((tmp_path / "legal_holds.csv").open())) == [["request_id", "hold_set_on"], ["8", ""], ["9", "2026-07-02"]]


def test_the_day_a_hold_was_set_is_read_from_the_journals():
    keys = CONFIG.names.key_maps()
    names = {"status": {}, "custom_field": {1: CONFIG.names.field(F.LEGAL_HOLD)}}

    def journal(at, old, new):
        return {"id": 1, "user": {"id": 20}, "created_on": at, "notes": "", "details": [{"property": "cf", "name": "1", "old_value": old, "new_value": new}]}

    issue = {"id": 5, "created_on": "2026-01-01T09:00:00Z", "custom_fields": [{"id": 1, "name": CONFIG.names.field(F.LEGAL_HOLD), "value": "1"}],
             "journals": [journal("2026-02-01T09:00:00Z", "0", "1"), journal("2026-03-01T09:00:00Z", "1", "0"), journal("2026-04-01T09:00:00Z", "0", "1")]}
    assert report.hold_set_at(issue, names, keys) == dt.datetime(2026, 4, 1, 9, tzinfo=dt.timezone.utc)
    issue["custom_fields"][0]["value"] = "0"
    issue["journals"].append(journal("2026-05-01T09:00:00Z", "1", "0"))
    assert report.hold_set_at(issue, names, keys) is None

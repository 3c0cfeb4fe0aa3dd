"""R-INCIDENT: the register's field rules and the ICO clock."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from plugin.policy import incident
from plugin.policy.model import AddWatcher, AssignTo, Once, SetDates, SetFields
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IncidentType
from tests.unit.policy.helpers import CONFIG, ctx, state

F = FieldKey
S = StatusKey
LOGGED = dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.timezone.utc)  # 14:30 in London (GMT)


def inc(status=S.INCIDENT_REPORTED, created_on=LOGGED, assigned=51, **values):
    st = state(status, tracker=TrackerKey.INFORMATION_INCIDENT, base={F.INCIDENT_TYPE: "Complaint from the public"}, created_on=created_on, **values)
    return dataclasses.replace(st, assigned_to_id=assigned)


def codes(check_ctx):
    return {(v.field.value, v.code) for v in incident.check(check_ctx)}


def onces(actions):
    return {a.key: a for a in actions if isinstance(a, Once)}


def test_investigating_needs_the_risk_to_individuals():
    assert codes(ctx(inc(S.INVESTIGATING))) == {("risk_to_individuals", "missing")}
    assert codes(ctx(inc(S.INVESTIGATING, risk_to_individuals="Low"))) == set()


def test_closing_needs_outcome_lessons_and_the_ico_decision_with_its_reason_or_report_time():
    assert codes(ctx(inc(S.INCIDENT_CLOSED))) == {("incident_outcome", "missing"), ("lessons_learned", "missing"), ("ico_report_decision", "missing")}
    done = dict(incident_outcome="Upheld", lessons_learned="Check addresses twice")
    assert codes(ctx(inc(S.INCIDENT_CLOSED, ico_report_decision="Not reportable", **done))) == {("ico_decision_reason", "missing")}
    assert codes(ctx(inc(S.INCIDENT_CLOSED, ico_report_decision="Not reportable", ico_decision_reason="No risk", **done))) == set()
    assert codes(ctx(inc(S.INCIDENT_CLOSED, ico_report_decision="Reportable", **done))) == {("ico_reported_at", "missing")}
    assert codes(ctx(inc(S.INCIDENT_CLOSED, ico_report_decision="Reportable", ico_reported_at="2026-11-21 10:00", **done))) == set()


@pytest.mark.parametrize("value, code", [("21/11/2026 10:00", "not_a_datetime"), ("2026-11-21", "not_a_datetime"), ("2026-02-30 10:00", "not_a_datetime"),
                                         ("2026-11-23 09:00", "future"), ("2026-11-21 11:59", None)])
def test_date_times_are_checked(value, code):
    found = codes(ctx(inc(became_aware_at=value)))  # now is 2026-11-21 12:00 UTC
    assert found == ({("became_aware_at", code)} if code else set())
    v = incident.check(ctx(inc(ico_reported_at="soon")))[0]
    assert v.message == "ICO reported at: write the date and time as YYYY-MM-DD HH:MM, for example 2026-11-21 14:30 (R-INCIDENT)."


def test_the_service_fills_in_when_it_became_aware_and_sets_the_ico_deadline():
    actions = incident.derive(ctx(inc(), now=LOGGED + dt.timedelta(minutes=5)))
    assert SetFields(((F.BECAME_AWARE_AT, "2026-11-20 14:30"), (F.ICO_DEADLINE, "2026-11-23 14:30"))) in actions
    assert SetDates(start_date=dt.date(2026, 11, 20), due_date=dt.date(2026, 11, 23)) in actions
    # A recorded time wins over the logging time, across a change of clocks (72 real hours).
    summer = inc(became_aware_at="2026-10-23 10:00", ico_deadline="2026-10-26 10:00")
    assert SetFields(((F.ICO_DEADLINE, "2026-10-26 09:00"),)) in incident.derive(ctx(summer, now=LOGGED))


def test_an_unassigned_incident_is_given_to_information_governance_once():
    logged = onces(incident.derive(ctx(inc(assigned=None), now=LOGGED)))["incident-logged"]
    assert logged.actions == (AssignTo(group=incident.INCIDENT_OWNER),)
    assert "ICO deadline 2026-11-23 14:30" in logged.note
    assert "incident-logged" not in onces(incident.derive(ctx(inc(), now=LOGGED)))


@pytest.mark.parametrize("hours, key", [(23, None), (24, "ico-reminder-24h-20261120T1430"), (47, "ico-reminder-24h-20261120T1430"),
                                        (48, "ico-reminder-48h-20261120T1430"), (66, "ico-reminder-66h-20261120T1430"),
                                        (72, "ico-deadline-passed-20261120T1430")])
def test_reminders_at_24_48_and_66_hours_then_the_deadline(hours, key):
    found = onces(incident.derive(ctx(inc(became_aware_at="2026-11-20 14:30"), now=LOGGED + dt.timedelta(hours=hours))))
    timers = {k: o for k, o in found.items() if k.startswith("ico-")}
    assert list(timers) == ([key] if key else [])
    if key and "deadline" in key:
        assert timers[key].actions == (AddWatcher(group=incident.GroupKey.HEADS_OF_SERVICE),)
        assert "UK GDPR article 33" in timers[key].note


def test_no_timers_once_decided_or_closed():
    decided = inc(became_aware_at="2026-11-20 14:30", ico_report_decision="Not reportable")
    assert not any(k.startswith("ico-") for k in onces(incident.derive(ctx(decided, now=LOGGED + dt.timedelta(hours=80)))))
    closed = inc(S.INCIDENT_CLOSED, became_aware_at="2026-11-20 14:30")
    assert not any(k.startswith("ico-") for k in onces(incident.derive(ctx(closed, now=LOGGED + dt.timedelta(hours=80)))))


def test_an_incident_with_no_known_time_is_left_alone():
    assert incident.derive(ctx(inc(created_on=None))) == []


def test_an_incident_opened_by_the_service_names_no_case_details():
    request = state(S.SHARED)
    opened = incident.opened_by_service(ctx(request, now=LOGGED), request, IncidentType.SHARED_WITHOUT_APPROVAL, LOGGED, "Request #1 was shared.")
    assert opened.key == "incident-shared-without-approval-for-1"
    assert opened.subject == "Shared without approval: request #1"
    assert dict(opened.fields) == {
        F.INCIDENT_TYPE: "Shared without approval",
        F.INCIDENT_SOURCE: "InfoShare service",
        F.BECAME_AWARE_AT: "2026-11-20 14:30",
        F.ICO_DEADLINE: "2026-11-23 14:30",
        F.PERSONAL_DATA_INVOLVED: "1",
    }
    assert opened.assign == AssignTo(group=incident.INCIDENT_OWNER) and opened.due_date == dt.date(2026, 11, 23)
    assert CONFIG.names.field(F.INCIDENT_TYPE) == "Incident type"


def test_dates_already_right_are_left_alone():
    right = inc(became_aware_at="2026-11-20 14:30", ico_deadline="2026-11-23 14:30")
    right = dataclasses.replace(right, start_date=dt.date(2026, 11, 20), due_date=dt.date(2026, 11, 23))
    assert incident.derive(ctx(right, now=LOGGED)) == []


def test_the_clock_next_calls_for_the_next_reminder_then_the_deadline_then_nothing():
    aware = inc(became_aware_at="2026-11-20 14:30")
    start = dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.timezone.utc)
    assert incident.next_due(ctx(aware, now=start + dt.timedelta(hours=1))) == start + dt.timedelta(hours=24)
    assert incident.next_due(ctx(aware, now=start + dt.timedelta(hours=24))) == start + dt.timedelta(hours=48)
    assert incident.next_due(ctx(aware, now=start + dt.timedelta(hours=67))) == start + dt.timedelta(hours=72)
    assert incident.next_due(ctx(aware, now=start + dt.timedelta(hours=72))) is None  # the deadline's note is the last
    assert incident.next_due(ctx(inc(became_aware_at="2026-11-20 14:30", ico_report_decision="Not reportable"), now=start)) is None
    assert incident.next_due(ctx(inc(S.INCIDENT_CLOSED, became_aware_at="2026-11-20 14:30"), now=start)) is None
    assert incident.next_due(ctx(inc(created_on=None))) is None


def test_before_its_wake_the_clock_alone_never_calls_for_a_new_incident_note():
    aware = inc(became_aware_at="2026-11-20 14:30")
    grid = [dt.datetime(2026, 11, 20, 14, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=25 * n) for n in range(4 * 24 * 60 // 25)]
    for n, judged in enumerate(grid):
        wake, before = incident.next_due(ctx(aware, now=judged)), set(onces(incident.derive(ctx(aware, now=judged))))
        for later in grid[n + 1 :]:
            if wake is not None and later >= wake:
                break
            assert set(onces(incident.derive(ctx(aware, now=later)))) <= before, f"judged at {judged}, new note at {later}, wake {wake}"

"""Issue 19 against a real Redmine: R-TIMELINESS. Response due from the
logging time and the urgency, recomputed when the urgency changes; the Red
note at logging; overdue notes and reminders on working days only, under a
controlled clock (`--now`); answered requests left alone; the approval-wait
reminder; the dry run; and the timeliness report.

A request "logged at" a chosen moment is a real request whose creation time
is then set in Redmine's database (Redmine's API cannot): in the past, so the
service's own sweeps at the real time, and other tests' requests, are not
involved (only requests due by then are candidates)."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import zoneinfo

import pytest

from plugin.domain.calendar import WorkingCalendar
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.flows import last_read_by_sweep
from tests.support.rest import decision_values, intake_values
from tests.support.waiting import wait_until

F = FieldKey
S = StatusKey
LONDON = zoneinfo.ZoneInfo("Europe/London")


def letter(rest, urgency: str) -> int:
    return rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone="", urgency=urgency), subject="Timeliness")


def log_at(live, issue_id: int, local: str) -> None:
    """As if the request had been logged at `local` (London time) with the
    service down: creation time and start date moved, no Response due yet."""
    moment = dt.datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=LONDON).astimezone(dt.timezone.utc)
    response_due = next(f["id"] for f in live_fields(live) if f["name"] == "Response due")
    with sqlite3.connect(live.instance.db_path, timeout=30) as db:
        db.execute("UPDATE issues SET created_on = ?, start_date = ?, due_date = NULL WHERE id = ?",
                   (moment.strftime("%Y-%m-%d %H:%M:%S"), moment.astimezone(LONDON).date().isoformat(), issue_id))
        db.execute("DELETE FROM custom_values WHERE customized_type = 'Issue' AND customized_id = ? AND custom_field_id = ?",
                   (issue_id, response_due))


def live_fields(live):
    with sqlite3.connect(live.instance.db_path, timeout=30) as db:
        return [{"id": i, "name": n} for i, n in db.execute("SELECT id, name FROM custom_fields")]


def sweep(live, now: str, *extra: str) -> str:
    return live.cli("timeliness", "run", "--now", now, *extra).stdout


def notes_with(rest, issue_id: int, text: str) -> list[str]:
    return [j["notes"] for j in rest.issue(issue_id)["journals"] if text in (j.get("notes") or "")]


def watcher_names(rest, issue_id: int) -> set[str]:
    return {w["name"] for w in rest.get_json(f"/issues/{issue_id}.json", include="watchers")["issue"]["watchers"]}


def test_response_due_follows_logging_and_urgency_and_a_red_request_is_noted_to_the_approvers(live, rest):
    issue_id = letter(rest, "Amber")
    issue = wait_until(lambda: (i := rest.issue(issue_id)) and rest.field_value(i, F.RESPONSE_DUE) and i, what="Response due written")
    calendar = WorkingCalendar(live.config().calendar)
    logged = dt.datetime.fromisoformat(issue["created_on"].replace("Z", "+00:00"))
    due = calendar.add_working_time(logged, calendar.working_day_length).astimezone(LONDON)
    assert rest.field_value(issue, F.RESPONSE_DUE) == due.strftime("%Y-%m-%d %H:%M")
    assert issue["due_date"] == due.date().isoformat()

    live.settle()
    rest.update_issue("practitioner1", issue_id, {F.URGENCY: "Red"})
    red_due = (logged + dt.timedelta(hours=4)).astimezone(LONDON)
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.RESPONSE_DUE) == red_due.strftime("%Y-%m-%d %H:%M"), what="recomputed for Red")
    assert rest.issue(issue_id)["due_date"] == red_due.date().isoformat()
    (note,) = wait_until(lambda: notes_with(rest, issue_id, "Red request for MASH managers"), what="the Red note")
    assert red_due.strftime("%Y-%m-%d %H:%M") in note
    assert "MASH managers" in watcher_names(rest, issue_id)
    # Practitioners cannot move the dates: they are the service's (Redmine leaves a read-only attribute as it was).
    live.settle()
    rest.update_issue("practitioner1", issue_id, {}, due_date="2030-01-01", start_date="2030-01-01")
    issue = rest.issue(issue_id)
    assert issue["due_date"] == red_due.date().isoformat() and issue["start_date"] == logged.astimezone(LONDON).date().isoformat()


@pytest.mark.early
def test_an_unanswered_request_is_noted_when_overdue_then_reminded_on_working_days_only(live, rest):
    with live.paused_scheduler():  # the sweeps here are the test's, at the moments it names
        late, answered = letter(rest, "Amber"), letter(rest, "Amber")
        # Logged on the Friday afternoon before the Summer bank holiday Monday.
        for issue_id in (late, answered):
            log_at(live, issue_id, "2026-08-28 16:00")
        rest.update_issue("practitioner1", answered, decision_values(), status=S.AWAITING_APPROVAL)
        log_at(live, answered, "2026-08-28 16:00")

        first = sweep(live, "2026-08-28 16:30")
        assert f"#{late}" not in first
        issue = rest.issue(late)
        # One working day: the hour left on Friday, then Tuesday until 16:00 (Monday is a bank holiday).
        assert rest.field_value(issue, F.RESPONSE_DUE) == "2026-09-01 16:00" and issue["due_date"] == "2026-09-01"
        assert f"#{late}:" not in sweep(live, "2026-09-01 15:59")

        overdue = f"#{late}: past its Response due and not answered"
        assert overdue in sweep(live, "2026-09-01 16:05")
        assert sweep(live, "2026-09-01 16:05").count(f"#{late}:") == 0  # the same moment again: nothing
        assert f"#{late}:" not in sweep(live, "2026-09-01 16:50")  # later that day: nothing more
        (note,) = notes_with(rest, late, "Response overdue")
        assert "due to be answered by 2026-09-01 16:00" in note
        assert "MASH managers" in watcher_names(rest, late)

        reminded = f"#{late}: still not answered; the approvers were reminded"
        assert reminded in sweep(live, "2026-09-02 09:15")
        assert f"#{late}:" not in sweep(live, "2026-09-05 10:00")  # Saturday
        assert f"#{late}:" not in sweep(live, "2026-09-06 10:00")  # Sunday
        journals = len(rest.issue(late)["journals"])
        dry = sweep(live, "2026-09-07 09:30", "--dry-run")
        assert reminded in dry and "would post" in dry
        assert len(rest.issue(late)["journals"]) == journals  # the dry run changed nothing
        assert reminded in sweep(live, "2026-09-07 09:30")  # Monday
        assert len(notes_with(rest, late, "still not answered")) == 2

        # Answered (it reached Awaiting approval): never reminded as overdue.
        assert not notes_with(rest, answered, "Response overdue") and not notes_with(rest, answered, "still not answered")


@pytest.mark.early
def test_a_request_waiting_for_approval_too_long_reminds_the_approvers_each_working_day(live, rest):
    with live.paused_scheduler():
        issue_id = letter(rest, "Red")
        rest.update_issue("practitioner1", issue_id, decision_values(), status=S.AWAITING_APPROVAL)
        log_at(live, issue_id, "2026-09-03 09:00")
        entered = next(j for j in rest.issue(issue_id)["journals"] if any(d.get("name") == "status_id" for d in j["details"]))
        entered_at = dt.datetime.fromisoformat(entered["created_on"].replace("Z", "+00:00"))
        # The wait counts from entering Awaiting approval (today, for real): Red waits one working hour.
        calendar = WorkingCalendar(live.config().calendar)
        waited = calendar.add_working_time(entered_at, dt.timedelta(hours=1)).astimezone(LONDON)
        # --now is to the minute: the minute before the wait ends, and the first one wholly after it.
        before = (waited - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
        after = (waited + dt.timedelta(seconds=59)).strftime("%Y-%m-%d %H:%M")
        reminded = f"#{issue_id}: waiting for approval too long; the approvers were reminded"
        assert reminded not in sweep(live, before)
        out = sweep(live, after)
        assert reminded in out
        assert reminded not in sweep(live, after)
        next_day = calendar.next_working_day(waited.date())
        assert reminded in sweep(live, f"{next_day.isoformat()} 09:30")
        (first, second) = notes_with(rest, issue_id, "has waited for approval since")
        assert "longer than 1 working hour" in first
        assert "MASH managers" in watcher_names(rest, issue_id)
        assert not notes_with(rest, issue_id, "Response overdue")  # it is answered: waiting on the approvers, not unanswered


def answer_at(live, issue_id: int, local: str) -> None:
    """As if every save of the request had been made at `local` (London time)."""
    moment = dt.datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=LONDON).astimezone(dt.timezone.utc)
    with sqlite3.connect(live.instance.db_path, timeout=30) as db:
        db.execute("UPDATE journals SET created_on = ? WHERE journalized_type = 'Issue' AND journalized_id = ?",
                   (moment.strftime("%Y-%m-%d %H:%M:%S"), issue_id))


def test_the_report_shows_the_share_answered_within_target_by_urgency(live, rest, tmp_path):
    with live.paused_scheduler():
        quick, slow, waiting = letter(rest, "Green"), letter(rest, "Green"), letter(rest, "Green")
        for issue_id in (quick, slow):
            rest.update_issue("practitioner1", issue_id, decision_values(), status=S.AWAITING_APPROVAL)
        # Logged on Monday 1 June 2026 at 10:00 (Green: 3 working days, due Thursday 10:00).
        for issue_id in (quick, slow, waiting):
            log_at(live, issue_id, "2026-06-01 10:00")
        answer_at(live, quick, "2026-06-02 12:00")  # Monday 7 working hours, Tuesday 3: 10
        answer_at(live, slow, "2026-06-10 10:00")  # Monday 7, 4 days of 8, 2 of 8, Wednesday 1: 56
        live.cli("report", "--from", "2026-06-01", "--to", "2026-06-01", "--out", str(tmp_path))
    rows = {r["urgency"]: r for r in csv.DictReader((tmp_path / "timeliness.csv").open())}
    # Counted by hand: three Green requests, two answered, one of them in time, the third overdue now.
    assert rows["Green"] == {"urgency": "Green", "requests": "3", "answered": "2", "answered_within_target": "1",
                             "answered_within_target_pct": "50.0", "median_working_hours_to_answer": "33.0", "overdue_now": "1"}
    assert rows["Red"]["requests"] == rows["Amber"]["requests"] == "0"
    html = (tmp_path / "report.html").read_text()
    assert "Answered within target" in html and "<td>Green</td><td>3</td><td>2</td><td>1</td><td>50.0</td><td>33.0</td><td>1</td>" in html


@pytest.mark.early
@pytest.mark.parametrize("urgency", ["Amber"])
def test_a_request_logged_while_the_service_was_down_gets_its_response_due_from_the_sweep(live, rest, urgency):
    with live.paused_scheduler():
        issue_id = letter(rest, urgency)
        log_at(live, issue_id, "2026-07-06 11:00")  # a Monday
        sweep(live, "2026-07-06 11:05")
        issue = rest.issue(issue_id)
        assert rest.field_value(issue, F.RESPONSE_DUE) == "2026-07-07 11:00" and issue["due_date"] == "2026-07-07"


def test_the_sweep_reads_a_waiting_request_again_only_when_it_changes_or_its_wait_ends(live, rest):
    """Cost what is due: once judged, a request in Awaiting approval is left
    alone by later sweeps until a person saves it or its wait ends (the
    store's sweep_wakes), then reminded as before."""
    with live.paused_scheduler():
        issue_id = letter(rest, "Red")
        rest.update_issue("practitioner1", issue_id, decision_values(), status=S.AWAITING_APPROVAL)
        entered = next(j for j in rest.issue(issue_id)["journals"] if any(d.get("name") == "status_id" for d in j["details"]))
        entered_at = dt.datetime.fromisoformat(entered["created_on"].replace("Z", "+00:00"))
        waited = WorkingCalendar(live.config().calendar).add_working_time(entered_at, dt.timedelta(hours=1))
        before = [(waited - dt.timedelta(minutes=m)).astimezone(LONDON).strftime("%Y-%m-%d %H:%M") for m in (40, 30, 20, 10)]
        after = (waited + dt.timedelta(seconds=59)).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
        reminded = f"#{issue_id}: waiting for approval too long; the approvers were reminded"

        def judged_at():
            return last_read_by_sweep(live, "timeliness", issue_id)

        # The first sweep writes its Response due and the Red note, which
        # moves the request's version: the next reads it once more.
        assert reminded not in sweep(live, before[0]) + sweep(live, before[1])
        assert live.store().wakes.get("timeliness", issue_id).wake_at == waited
        judged = judged_at()
        assert "unchanged and not due yet" in sweep(live, before[2])
        assert judged_at() == judged  # not read: the row is as the last read left it
        rest.update_issue("practitioner2", issue_id, notes="Manager chased by phone")  # a person's save wakes it
        sweep(live, before[3])
        assert judged_at() != judged
        assert reminded in sweep(live, after)
        assert len(notes_with(rest, issue_id, "has waited for approval since")) == 1

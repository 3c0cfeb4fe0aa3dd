"""`infoshare timeliness run` on a fake Redmine: what it asks Redmine for,
what it posts, and that a run repeated posts nothing (R-TIMELINESS)."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.domain.names import StatusKey as S
from plugin.domain.record import FieldKey as F
from plugin.service.executor import RedmineExecutor
from plugin.service.wiring import assemble
from tests.unit.fakes import FakeRedmine
from tests.unit.policy.helpers import CONFIG, INTAKE

# The fake's clock starts at 2026-11-21 09:00 UTC, a Saturday: requests are
# logged a minute apart, so an Amber one falls due on Monday 23 at 17:00.
MONDAY_EVENING = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def redmine():
    return FakeRedmine(CONFIG)


def services(redmine, store, now, dry_run=False):
    executor = None if dry_run else RedmineExecutor(redmine, CONFIG)
    return assemble(CONFIG, redmine, store, executor=executor, dry_run=dry_run, clock=lambda: now, echo=lambda _: None)


def logged(redmine, store, urgency="Amber") -> int:
    issue_id = redmine.create({**INTAKE, F.URGENCY: urgency})
    services(redmine, store, dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone.utc)).reconciler.run()  # the service writes its Response due
    return issue_id


def test_overdue_requests_are_noted_once_and_answered_ones_left_alone(redmine, store):
    late, answered = logged(redmine, store), logged(redmine, store)
    redmine.edit(answered, 10, status=S.NOT_SHARED)
    assert redmine.value(late, F.RESPONSE_DUE) == "2026-11-23 17:00"
    report = services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    assert report.overdue == [late] and report.overdue_reminders == []
    assert any("Response overdue" in n for n in redmine.notes_by_service(late))
    assert not any("overdue" in n for n in redmine.notes_by_service(answered))
    again = services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    assert again.overdue == [] and len([n for n in redmine.notes_by_service(late) if "overdue" in n]) == 1


def test_a_dry_run_posts_nothing(redmine, store):
    late = logged(redmine, store)
    before = len(redmine.updates)
    report = services(redmine, store, MONDAY_EVENING, dry_run=True).timeliness.run(MONDAY_EVENING)
    assert report.overdue == [late] and len(redmine.updates) == before


def test_the_sweep_reads_what_is_due_not_what_exists(redmine, store):
    """Requests not yet due are not read, one by one; each due one is."""
    late = logged(redmine, store)
    for _ in range(30):
        logged(redmine, store, urgency="Green")  # due on Wednesday
    redmine.reads = 0
    report = services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    assert report.checked == 1 and report.overdue == [late]
    assert redmine.reads <= 4 + 2  # the four lists and the one due request (and its relations)


def test_a_request_logged_while_the_service_was_down_is_found_and_given_its_response_due(redmine, store):
    missed = redmine.create({**INTAKE, F.URGENCY: "Amber"})  # no Response due, no Due date
    report = services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    assert report.checked == 1 and report.overdue == [missed]
    assert redmine.value(missed, F.RESPONSE_DUE) == "2026-11-23 17:00" and redmine.issues[missed]["due_date"] == "2026-11-23"


def test_a_request_waiting_for_approval_too_long_is_reminded(redmine, store):
    waiting = logged(redmine, store, urgency="Red")
    redmine.edit(waiting, 10, status=S.AWAITING_APPROVAL)  # at 09:0x on Saturday: the hour of waiting runs from Monday 09:00
    monday = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.timezone.utc)
    report = services(redmine, store, monday).timeliness.run(monday)
    assert report.approval_waits == [waiting] and report.overdue == []  # answered: it reached Awaiting approval
    assert services(redmine, store, monday).timeliness.run(monday).approval_waits == []


def test_a_request_due_later_today_is_not_read_until_it_is_due(redmine, store):
    logged(redmine, store)  # due Monday 17:00
    monday_morning = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
    redmine.reads = 0
    report = services(redmine, store, monday_morning).timeliness.run(monday_morning)
    assert report.checked == 0 and redmine.reads == 4  # the four lists only

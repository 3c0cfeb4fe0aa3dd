"""`infoshare timeliness run` on a fake Redmine: what it asks Redmine for,
what it posts, and that a run repeated posts nothing (R-TIMELINESS)."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.adapters.store.wakes import Wake
from plugin.domain.names import StatusKey as S
from plugin.domain.record import FieldKey as F
from plugin.service.executor import RedmineExecutor
from plugin.service.wiring import assemble
from tests.unit.conftest import make_config
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


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.timezone.utc)


def test_a_request_reminded_today_is_left_alone_until_tomorrow_unless_it_changes(redmine, store):
    late = logged(redmine, store)
    assert services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING).overdue == [late]
    # The note moved the request's version: one more read, and nothing posted.
    second = services(redmine, store, at(23, 17, 35)).timeliness.run(at(23, 17, 35))
    assert second.checked == 1 and second.overdue_reminders == []
    redmine.reads = 0
    third = services(redmine, store, at(23, 17, 40)).timeliness.run(at(23, 17, 40))
    assert (third.checked, third.asleep, redmine.reads) == (0, 1, 4)  # the four lists only
    redmine.edit(late, 10, notes="Chased the school")  # a person's save: read again
    assert services(redmine, store, at(23, 18)).timeliness.run(at(23, 18)).checked == 1
    tuesday = services(redmine, store, at(24, 0, 5)).timeliness.run(at(24, 0, 5))  # midnight in London: a new day
    assert tuesday.checked == 1 and tuesday.overdue_reminders == [late]
    assert store.wakes.get("timeliness", late).wake_at == at(25, 0)


def test_a_request_waiting_for_approval_is_read_again_when_its_wait_ends(redmine, store):
    waiting = logged(redmine, store, urgency="Red")
    redmine.edit(waiting, 10, status=S.AWAITING_APPROVAL)  # Saturday: the hour of waiting is Monday 09:00 to 10:00
    early = services(redmine, store, at(23, 9, 30)).timeliness.run(at(23, 9, 30))
    assert early.checked == 1 and early.approval_waits == []
    assert store.wakes.get("timeliness", waiting).wake_at == at(23, 10)
    assert services(redmine, store, at(23, 9, 59)).timeliness.run(at(23, 9, 59)).checked == 0
    assert services(redmine, store, at(23, 10, 0)).timeliness.run(at(23, 10, 0)).approval_waits == [waiting]


def test_a_status_change_in_the_second_the_request_was_read_is_not_missed(redmine, store):
    waiting = logged(redmine, store, urgency="Red")
    services(redmine, store, at(23, 9, 30)).timeliness.run(at(23, 9, 30))  # read at Received: overdue, asleep till midnight
    services(redmine, store, at(23, 9, 31)).timeliness.run(at(23, 9, 31))
    stamp = redmine.issues[waiting]["updated_on"]
    redmine.edit(waiting, 10, status=S.AWAITING_APPROVAL)
    redmine.issues[waiting]["updated_on"] = stamp  # Redmine's updated_on counts whole seconds
    later = services(redmine, store, at(23, 11)).timeliness.run(at(23, 11))
    assert later.approval_waits == [waiting]


def test_a_changed_wait_or_an_open_problem_makes_a_request_be_read_again(redmine, store):
    waiting = logged(redmine, store, urgency="Amber")
    redmine.edit(waiting, 10, status=S.AWAITING_APPROVAL)
    for minute in (0, 1):
        services(redmine, store, at(23, 9, minute)).timeliness.run(at(23, 9, minute))  # Amber waits 4 working hours: till 13:00
    assert services(redmine, store, at(23, 9, 2)).timeliness.run(at(23, 9, 2)).checked == 0
    shorter = make_config(urgency={"approval_waits": {"Red": "1 working hour", "Amber": "1 working hour", "Green": "1 working day"}})
    now = at(23, 10, 30)
    report = assemble(shorter, redmine, store, executor=RedmineExecutor(redmine, shorter), clock=lambda: now, echo=lambda _: None).timeliness.run(now)
    assert report.approval_waits == [waiting]
    store.problems.record("timeliness", waiting, "HTTPError 422", lambda _: 60, now=at(23, 10, 31))
    assert services(redmine, store, at(23, 10, 32)).timeliness.run(at(23, 10, 32)).checked == 1


def test_a_dry_run_or_a_run_told_it_is_later_puts_no_request_to_sleep(redmine, store):
    late = logged(redmine, store)
    for run in range(2):
        services(redmine, store, MONDAY_EVENING, dry_run=True).timeliness.run(MONDAY_EVENING)
    assert store.wakes.get("timeliness", late) is None
    wednesday = at(25, 12)
    for minute in (0, 1):
        services(redmine, store, wednesday + dt.timedelta(minutes=minute)).timeliness.run(wednesday + dt.timedelta(minutes=minute))
    assert store.wakes.get("timeliness", late).wake_at == at(26, 0)
    # Judged "on Wednesday", the request says nothing of Monday: it is read.
    assert services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING).checked == 1


def test_wakes_of_requests_no_longer_swept_are_forgotten(redmine, store):
    late = logged(redmine, store)
    services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    redmine.edit(late, 10, status=S.NOT_SHARED)
    next_week = dt.datetime(2026, 12, 2, 9, tzinfo=dt.timezone.utc)  # more than eight days on: its row is pruned
    services(redmine, store, next_week).timeliness.run(next_week)
    assert store.wakes.get("timeliness", late) is None


def test_a_request_deleted_between_the_list_and_its_read_leaves_no_wake(redmine, store, monkeypatch):
    late = logged(redmine, store)
    store.wakes.remember("timeliness", late, Wake("an older version", None, "rules"))
    monkeypatch.setattr(redmine, "issue", lambda issue_id: None)  # deleted after the list was read
    report = services(redmine, store, MONDAY_EVENING).timeliness.run(MONDAY_EVENING)
    assert report.checked == 1 and report.overdue == [] and store.wakes.get("timeliness", late) is None


def test_wakes_are_looked_up_in_chunks_whatever_the_number_of_candidates(store):
    now = at(23, 12)
    for issue_id in range(1, 1201):
        store.wakes.remember("timeliness", issue_id, Wake(f"v{issue_id}", at(24, 0) if issue_id % 2 else None, "rules"), now=now)
    listed = {issue_id: f"v{issue_id}" for issue_id in range(1, 1301)} | {7: "moved", 8: None}
    asleep = store.wakes.asleep("timeliness", listed, "rules", now)
    assert asleep == set(range(1, 1201)) - {7, 8}
    assert store.wakes.asleep("timeliness", listed, "other rules", now) == set()
    assert store.wakes.asleep("timeliness", listed, "rules", at(24, 0)) == {n for n in range(2, 1201, 2)} - {8}

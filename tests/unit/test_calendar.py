"""Working days: weekends, bank holidays of the configured region, closures."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from plugin.domain.calendar import WorkingCalendar
from plugin.domain.configuration import ResponseTarget, TargetUnit
from tests.unit.conftest import make_config

D = dt.date
ENGLAND = WorkingCalendar(make_config().calendar)


@pytest.mark.parametrize(
    "day, working",
    [
        (D(2026, 11, 20), True),  # Friday
        (D(2026, 11, 21), False),  # Saturday
        (D(2026, 11, 22), False),  # Sunday
        (D(2026, 12, 25), False),  # Christmas Day
        (D(2026, 12, 28), False),  # Boxing Day (substitute, as the 26th is a Saturday)
        (D(2026, 4, 3), False),  # Good Friday
        (D(2026, 4, 6), False),  # Easter Monday
        (D(2026, 1, 2), True),  # a working day in England, not in Scotland
    ],
)
def test_working_days_in_england(day, working):
    assert ENGLAND.is_working_day(day) is working


def test_adding_working_days_skips_weekends_and_christmas():
    assert ENGLAND.add_working_days(D(2026, 11, 20), 1) == D(2026, 11, 23)  # Friday + 1 = Monday
    assert ENGLAND.add_working_days(D(2026, 12, 23), 2) == D(2026, 12, 29)  # over Christmas and Boxing Day
    assert ENGLAND.add_working_days(D(2026, 4, 2), 1) == D(2026, 4, 7)  # over Easter
    assert ENGLAND.add_working_days(D(2026, 11, 20), 0) == D(2026, 11, 20)
    assert ENGLAND.next_working_day(D(2026, 12, 24)) == D(2026, 12, 29)
    with pytest.raises(ValueError):
        ENGLAND.add_working_days(D(2026, 11, 20), -1)


def test_working_days_between():
    assert ENGLAND.working_days_between(D(2026, 11, 20), D(2026, 11, 23)) == 1
    assert ENGLAND.working_days_between(D(2026, 12, 24), D(2026, 12, 31)) == 3
    assert ENGLAND.working_days_between(D(2026, 11, 23), D(2026, 11, 20)) == 0


def test_another_region_has_its_own_holidays():
    scotland = WorkingCalendar(make_config(calendar={"subdivision": "SCT"}).calendar)
    assert not scotland.is_working_day(D(2026, 1, 2))
    assert not scotland.is_working_day(D(2026, 11, 30))  # St Andrew's Day
    assert ENGLAND.is_working_day(D(2026, 11, 30))
    assert scotland.is_working_day(D(2026, 4, 6))  # Easter Monday is not a Scottish bank holiday


def test_extra_closure_days():
    closed = WorkingCalendar(make_config(calendar={"extra_closed_days": ["2026-11-23"]}).calendar)
    assert not closed.is_working_day(D(2026, 11, 23))
    assert closed.add_working_days(D(2026, 11, 20), 1) == D(2026, 11, 24)


# --- Working hours (R-TIMELINESS) -------------------------------------------------

LONDON = zoneinfo.ZoneInfo("Europe/London")


def local(text: str) -> dt.datetime:
    """A wall-clock time in London, "YYYY-MM-DD HH:MM"."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=LONDON)


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


CAL = WorkingCalendar(make_config().calendar)


@pytest.mark.parametrize(
    "start, amount, due",
    [
        ("2026-12-01 10:00", 4, "2026-12-01 14:00"),  # within one working day
        ("2026-12-01 15:00", 4, "2026-12-02 11:00"),  # the evening does not count
        ("2026-12-01 17:00", 1, "2026-12-02 10:00"),  # logged at closing time
        ("2026-12-01 20:30", 1, "2026-12-02 10:00"),  # logged in the evening: from the next opening
        ("2026-12-01 07:00", 1, "2026-12-01 10:00"),  # logged before opening
        ("2026-12-04 16:00", 2, "2026-12-07 10:00"),  # Friday afternoon: the weekend does not count
        ("2026-12-05 11:00", 1, "2026-12-07 10:00"),  # logged on a Saturday
        ("2026-12-24 16:30", 1, "2026-12-29 09:30"),  # Christmas Eve: Christmas and the Boxing Day holiday are closed
        ("2027-05-28 16:00", 8, "2027-06-01 16:00"),  # the Friday before the Spring bank holiday Monday
        ("2026-03-27 16:00", 2, "2026-03-30 10:00"),  # across the clocks going forward
        ("2027-03-25 16:00", 2, "2027-03-30 10:00"),  # Easter: Good Friday and Easter Monday are closed
        ("2026-10-23 16:30", 1, "2026-10-26 09:30"),  # across the clocks going back
        ("2026-12-01 20:30", 0, "2026-12-02 09:00"),  # nothing to add: the next opening
        ("2026-12-01 12:00", 0, "2026-12-01 12:00"),
    ],
)
def test_adding_working_hours(start, amount, due):
    assert CAL.add_working_time(local(start), hours(amount)) == local(due)


def test_working_hours_move_with_the_clocks():
    """09:00 to 17:00 by the wall clock, in summer and in winter."""
    summer = CAL.working_hours_of(dt.date(2027, 6, 1))
    winter = CAL.working_hours_of(dt.date(2026, 12, 1))
    assert [t.astimezone(dt.timezone.utc).hour for t in summer] == [8, 16]
    assert [t.astimezone(dt.timezone.utc).hour for t in winter] == [9, 17]
    assert CAL.working_hours_of(dt.date(2026, 12, 25)) is None


def test_hours_around_the_clock_are_real_hours_across_a_change_of_the_clocks():
    red = ResponseTarget(4, TargetUnit.HOURS)
    assert CAL.add_target(local("2027-03-27 23:00"), red) == local("2027-03-28 04:00")  # the clocks went forward: 5 on the wall
    assert CAL.add_target(local("2026-10-24 23:30"), red) == local("2026-10-25 02:30")  # back: 3 on the wall
    assert CAL.add_target(local("2026-12-05 22:00"), red) == local("2026-12-06 02:00")  # a Saturday night counts


def test_working_days_are_whole_working_days_of_working_hours():
    amber, green = ResponseTarget(1, TargetUnit.WORKING_DAYS), ResponseTarget(3, TargetUnit.WORKING_DAYS)
    assert CAL.add_target(local("2026-12-01 10:15"), amber) == local("2026-12-02 10:15")
    assert CAL.add_target(local("2027-05-28 16:00"), amber) == local("2027-06-01 16:00")  # bank holiday Monday
    assert CAL.add_target(local("2026-12-04 19:00"), green) == local("2026-12-09 17:00")  # Friday evening: Mon, Tue, Wed
    assert CAL.add_target(local("2026-12-01 10:00"), ResponseTarget(4, TargetUnit.WORKING_HOURS)) == local("2026-12-01 14:00")


@pytest.mark.parametrize(
    "start, end, expected",
    [
        ("2026-12-01 10:00", "2026-12-01 12:30", 2.5),
        ("2026-12-01 10:00", "2026-12-02 11:00", 9),  # 7 on Tuesday, 2 on Wednesday
        ("2026-12-01 19:00", "2026-12-02 08:00", 0),  # overnight
        ("2027-05-28 16:00", "2027-06-01 10:00", 2),  # a weekend and a bank holiday between
        ("2026-03-27 16:00", "2026-03-30 10:00", 2),  # the clocks changed between
        ("2026-12-02 10:00", "2026-12-01 10:00", 0),  # the end before the start
    ],
)
def test_working_time_between(start, end, expected):
    assert CAL.working_time_between(local(start), local(end)) == hours(expected)


def test_working_time_and_adding_it_agree():
    start = local("2026-12-04 15:20")
    for n in (0.5, 3, 8, 13, 40):
        assert CAL.working_time_between(start, CAL.add_working_time(start, hours(n))) == hours(n)


def test_a_negative_amount_or_a_calendar_with_no_working_hours_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        CAL.add_working_time(local("2026-12-01 10:00"), hours(-1))

    class Closed(WorkingCalendar):
        def is_working_day(self, day):
            return False

    with pytest.raises(ValueError, match="no working hours within 3660 days"):
        Closed(make_config().calendar).add_working_time(local("2026-12-01 10:00"), hours(1))


def test_working_hours_are_configurable():
    early = WorkingCalendar(make_config(calendar={"working_day_start": "08:00", "working_day_end": "16:00"}).calendar)
    assert early.add_working_time(local("2026-12-01 15:00"), hours(2)) == local("2026-12-02 09:00")
    assert early.working_day_length == hours(8)

"""Working days: weekends, bank holidays of the configured region, closures."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.domain.calendar import WorkingCalendar
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

"""Working days: weekdays that are not public holidays of the configured
region (England and Wales bank holidays by default, from the maintained
`holidays` library) nor extra closure days. Pure: no clock is read here."""

from __future__ import annotations

import datetime as dt
import functools

import holidays

from plugin.domain.configuration import CalendarConfig


class WorkingCalendar:
    def __init__(self, config: CalendarConfig):
        self.config = config
        self._closed = frozenset(config.extra_closed_days)

    @functools.lru_cache(maxsize=64)
    def _holidays(self, year: int) -> frozenset[dt.date]:
        return frozenset(holidays.country_holidays(self.config.country, subdiv=self.config.subdivision, years=year))

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self._holidays(day.year) and day not in self._closed

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day after `day`."""
        return self.add_working_days(day, 1)

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The date `count` working days after `day` (count >= 0; 0 is `day` itself)."""
        if count < 0:
            raise ValueError("count must not be negative")
        current = day
        while count:
            current += dt.timedelta(days=1)
            if self.is_working_day(current):
                count -= 1
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 if end <= start)."""
        days, current = 0, start
        while current < end:
            current += dt.timedelta(days=1)
            days += self.is_working_day(current)
        return days

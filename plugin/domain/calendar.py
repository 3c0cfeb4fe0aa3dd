"""Working days: weekdays that are not public holidays of the configured
region (England and Wales bank holidays by default, from the maintained
`holidays` library) nor extra closure days; working hours on those days.
Pure: no clock is read here."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import holidays

from plugin.domain.configuration import CalendarConfig, ResponseTarget, TargetUnit


# A calendar with no working hours this far ahead is a misconfiguration.
MAX_DAYS_AHEAD = 3660


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

    # --- Working hours (R-TIMELINESS) -------------------------------------------------------
    #
    # Moments are aware datetimes. A working day's hours are its local wall-clock
    # times (calendar.working_day_start to working_day_end in calendar.timezone),
    # so a day on which the clocks change still opens and closes at the same
    # local times; hours around the clock are counted in real time.

    @property
    def _zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.config.timezone)

    def working_hours_of(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """When `day`'s working hours open and close, or None on a day off."""
        if not self.is_working_day(day):
            return None
        # In UTC, so that arithmetic on them is real time (Python adds and
        # subtracts wall-clock time between datetimes of one zone).
        opens = dt.datetime.combine(day, self.config.working_day_start, tzinfo=self._zone).astimezone(dt.timezone.utc)
        closes = dt.datetime.combine(day, self.config.working_day_end, tzinfo=self._zone).astimezone(dt.timezone.utc)
        return opens, closes

    @property
    def working_day_length(self) -> dt.timedelta:
        """The working hours of a day, as the clock on the wall reads them."""
        day = dt.date(2000, 1, 1)
        return dt.datetime.combine(day, self.config.working_day_end) - dt.datetime.combine(day, self.config.working_day_start)

    def add_working_time(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """The moment `amount` of working time after `start`. A start outside
        working hours counts from the next opening; a zero amount is that
        opening (or `start` itself within working hours)."""
        if amount < dt.timedelta(0):
            raise ValueError("amount must not be negative")
        start = start.astimezone(dt.timezone.utc)
        day = start.astimezone(self._zone).date()
        while True:
            if (day - start.date()).days > MAX_DAYS_AHEAD:
                raise ValueError(f"no working hours within {MAX_DAYS_AHEAD} days of {start.date()}: check calendar.extra_closed_days")
            hours = self.working_hours_of(day)
            if hours is not None:
                opens, closes = hours
                begin = max(opens, start)
                if begin < closes:
                    if begin + amount <= closes:
                        return begin + amount
                    amount -= closes - begin
            day += dt.timedelta(days=1)

    def working_time_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Working time from `start` to `end` (zero if end <= start)."""
        total = dt.timedelta(0)
        if end <= start:
            return total
        day, last = start.astimezone(self._zone).date(), end.astimezone(self._zone).date()
        while day <= last:
            hours = self.working_hours_of(day)
            if hours is not None:
                begin, finish = max(hours[0], start), min(hours[1], end)
                if begin < finish:
                    total += finish - begin
            day += dt.timedelta(days=1)
        return total

    def add_target(self, start: dt.datetime, target: ResponseTarget) -> dt.datetime:
        """When a target counted from `start` falls due: hours around the clock
        in real time; working hours in working time; working days as that many
        whole working days of working time (Amber logged at 16:00 on a Friday
        before a bank holiday Monday falls due at 16:00 on the Tuesday)."""
        if target.unit is TargetUnit.HOURS:
            return start.astimezone(dt.timezone.utc) + dt.timedelta(hours=target.amount)
        if target.unit is TargetUnit.WORKING_HOURS:
            return self.add_working_time(start, dt.timedelta(hours=target.amount))
        return self.add_working_time(start, self.working_day_length * target.amount)

"""Today as the service sees it: the configured calendar's time zone (the
test stacks use the default, Europe/London), not the machine's."""

from __future__ import annotations

import datetime as dt
import zoneinfo

LONDON = zoneinfo.ZoneInfo("Europe/London")


def local_today(offset_days: int = 0) -> dt.date:
    return dt.datetime.now(LONDON).date() + dt.timedelta(days=offset_days)


def iso_today(offset_days: int = 0) -> str:
    return local_today(offset_days).isoformat()


def a_minute_ago() -> str:
    """A moment just before a test began, for `infoshare reconcile --since`:
    the reconciler then judges what the test did, not the whole session."""
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

"""The one place the service reads the wall clock. The rules never do (time
is passed to them); everything else asks here, so tests can pass a moment."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

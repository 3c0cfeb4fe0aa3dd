"""How a batch waits before trying something again, and what it records of
why it failed (the error's type and code: messages can quote case details)."""

from __future__ import annotations

import random


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt: 2, 4, 8 ... up to 5 minutes, jittered."""
    return min(300.0, 2.0**attempts) * random.uniform(0.8, 1.2)


def describe_error(exc: Exception) -> str:
    """An error description for the inbox record. Only the exception type and
    our own codes: Redmine's validation errors can quote field values."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}" + (f" ({code})" if code else "")

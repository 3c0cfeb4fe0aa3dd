"""Waiting for what the service does after a save (it acts within seconds)."""

from __future__ import annotations

import time


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    """Poll `check` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")

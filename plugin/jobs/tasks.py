"""The job functions APScheduler calls, by textual reference so its job store
(in the service's database) can hold them. They act on the services the
scheduler process installs with `install` before it starts."""

from __future__ import annotations

import logging
import time

from plugin.services import Services

log = logging.getLogger("infoshare.jobs")
_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def _require() -> Services:
    if _services is None:
        raise RuntimeError("the scheduler's services are not installed; run jobs through `infoshare scheduler`")
    return _services


def reconcile() -> None:
    started = time.monotonic()
    report = _require().enforcer.reconcile()
    log.info(
        "job finished",
        extra={"job": "reconcile", "count": report.issues, "duration_ms": int((time.monotonic() - started) * 1000)},
    )


def approval_reminders() -> None:
    from plugin.store import utcnow

    _require().enforcer.remind_retrospective_approvals(utcnow())


def escalations() -> None:
    from plugin.store import utcnow

    _require().enforcer.run_escalations(utcnow())


def retention() -> None:
    from plugin.store import utcnow

    _require().enforcer.run_retention(utcnow())

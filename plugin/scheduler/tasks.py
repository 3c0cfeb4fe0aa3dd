"""The job functions APScheduler calls, by textual reference so its job store
(in the service's database) can hold them. They act on the services the
scheduler process installs with `install` before it starts."""

from __future__ import annotations

import logging
import time

from plugin.service.wiring import Services

log = logging.getLogger("infoshare.jobs")
_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def _run(name: str, call) -> None:
    """Run a job, timing it; a run already in progress elsewhere is skipped."""
    from plugin.service.judge import JobBusy

    started = time.monotonic()
    try:
        call()
    except JobBusy:
        log.info("job skipped: another run is in progress", extra={"job": name})
        return
    log.info("job finished", extra={"job": name, "duration_ms": int((time.monotonic() - started) * 1000)})


def _require() -> Services:
    if _services is None:
        raise RuntimeError("the scheduler's services are not installed; run jobs through `infoshare scheduler`")
    return _services


def reconcile() -> None:
    _run("reconcile", lambda: _require().reconciler.run())


def approval_reminders() -> None:
    from plugin.clock import utcnow

    _run("approval_reminders", lambda: _require().approvals.run(utcnow()))


def escalations() -> None:
    from plugin.clock import utcnow

    _run("escalations", lambda: _require().escalations.run(utcnow()))


def retention() -> None:
    from plugin.clock import utcnow

    _run("retention", lambda: _require().retention.run(utcnow()))


def incidents() -> None:
    from plugin.clock import utcnow

    _run("incidents", lambda: _require().incidents.run(utcnow()))


def timeliness() -> None:
    from plugin.clock import utcnow

    _run("timeliness", lambda: _require().timeliness.run(utcnow()))

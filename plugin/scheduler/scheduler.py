"""`infoshare scheduler`: APScheduler 3 in one process, its job store in the
service's database, plus the inbox worker on a thread of its own."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from plugin.scheduler import tasks
from plugin.scheduler.lock import SchedulerLock
from plugin.service.wiring import Services

log = logging.getLogger("infoshare.scheduler")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 600}
LOCK_CHECK_SECONDS = 15.0


def at_times(times: tuple[dt.time, ...], timezone: str) -> BaseTrigger:
    """A trigger firing every day at each of `times` (local to `timezone`)."""
    daily = [CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=timezone) for t in times]
    return daily[0] if len(daily) == 1 else OrTrigger(daily)


def build_scheduler(services: Services) -> BlockingScheduler:
    config = services.config
    tz = config.calendar.timezone
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.store.engine, tablename="scheduler_jobs")},
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults=JOB_DEFAULTS,
        timezone=tz,
    )
    # Fixed ids and replace_existing: a restart with a changed interval
    # updates the stored job instead of adding a second one.
    scheduler.add_job(
        "plugin.scheduler.tasks:reconcile",
        "interval",
        minutes=config.reconciler.interval_minutes,
        id="reconcile",
        replace_existing=True,
    )
    daily = config.scheduler
    # Retrospective-approval reminders; the rule itself skips days that are
    # not working days.
    scheduler.add_job("plugin.scheduler.tasks:approval_reminders", at_times(daily.approval_reminders_at, tz), id="approval_reminders", replace_existing=True)
    # Escalation timers: due dates are days, so a run or two a day suffices.
    scheduler.add_job("plugin.scheduler.tasks:escalations", at_times(daily.escalations_at, tz), id="escalations", replace_existing=True)
    # Retention reviews and their reminders.
    scheduler.add_job("plugin.scheduler.tasks:retention", at_times(daily.retention_at, tz), id="retention", replace_existing=True)
    # Timers counted in hours: ICO deadlines of information incidents.
    scheduler.add_job("plugin.scheduler.tasks:incidents", "interval", minutes=daily.timers_every_minutes, id="incidents", replace_existing=True)
    # Written confirmations of shares (R-SHARE), on the same beat.
    scheduler.add_job("plugin.scheduler.tasks:timeliness", "interval", minutes=daily.timers_every_minutes, id="timeliness", replace_existing=True)
    return scheduler


def run(services: Services, lock: SchedulerLock | None = None) -> None:
    """Stand by until this is the one active scheduler, then run the jobs and
    the inbox worker until stopped (or until the lock is lost)."""
    lock = lock or SchedulerLock(services.store)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not lock.acquire(stop):
        return
    log.info("scheduler active")
    try:
        _run_active(services, lock, stop)
    finally:
        lock.release()


def _run_active(services: Services, lock: SchedulerLock, stop: threading.Event) -> None:
    tasks.install(services)
    scheduler = build_scheduler(services)
    inbox = threading.Thread(
        target=services.inbox_worker().run_forever,
        args=(services.config.inbox.poll_seconds, stop),
        name="inbox",
        daemon=True,
    )

    def watch():
        # Stop when asked, or if the lock is lost (a second scheduler may
        # then take over; two must never run the jobs at once).
        checked = time.monotonic()
        while not stop.wait(1.0):
            if time.monotonic() - checked >= LOCK_CHECK_SECONDS:
                checked = time.monotonic()
                if not lock.still_held():
                    log.error("scheduler lock lost; stopping")
                    stop.set()
        scheduler.shutdown(wait=False)

    inbox.start()
    threading.Thread(target=watch, name="scheduler-watch", daemon=True).start()
    log.info("scheduler started", extra={"count": len(scheduler.get_jobs())})
    scheduler.start()
    stop.set()
    inbox.join(timeout=10)

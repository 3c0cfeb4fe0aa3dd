"""The scheduler's jobs: fixed ids in the service's database, fired at the
configured times of day in the configured time zone."""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo

import sqlalchemy as sa

from plugin.scheduler.scheduler import at_times, build_scheduler
from plugin.adapters.store import Store
from schemas.config_toml import load_config_data

LONDON = zoneinfo.ZoneInfo("Europe/London")
MINIMAL = {"redmine": {"url": "http://r.test", "api_key": "k"}, "webhook": {"secret": "s" * 16}}


class _Services:
    """What build_scheduler reads: the configuration and the store."""

    def __init__(self, config, store):
        self.config, self.store = config, store


def test_each_job_fires_at_its_times_of_day_in_local_time():
    trigger = at_times((dt.time(7, 5), dt.time(12, 5)), "Europe/London")
    # 29 March 2026: the clocks go forward; times stay local.
    after = dt.datetime(2026, 3, 29, 8, 0, tzinfo=LONDON)
    first = trigger.get_next_fire_time(None, after)
    assert first == dt.datetime(2026, 3, 29, 12, 5, tzinfo=LONDON)
    second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1))
    assert (second.date(), second.hour, second.minute) == (dt.date(2026, 3, 30), 7, 5)
    assert second.utcoffset() == dt.timedelta(hours=1)
    single = at_times((dt.time(6, 30, 15),), "Europe/London")
    fire = single.get_next_fire_time(None, after)
    assert (fire.date(), fire.time()) == (dt.date(2026, 3, 30), dt.time(6, 30, 15))


def _start_and_stop(scheduler) -> None:
    """Start a (blocking) scheduler on a thread, as `infoshare scheduler`
    does on its main one, until its jobs are stored; then stop it."""
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not scheduler.running and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.shutdown(wait=True)
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_jobs_are_stored_in_the_services_database_once(tmp_path):
    config = load_config_data({**MINIMAL, "scheduler": {"retention_at": ["02:00"]}, "reconciler": {"interval_minutes": 15}})
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    for _ in range(2):  # a restart replaces the stored jobs, never adds more
        _start_and_stop(build_scheduler(_Services(config, store)))
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, next_run_time FROM scheduler_jobs")).all())
    assert set(rows) == {"reconcile", "retention", "escalations", "approval_reminders", "incidents", "timeliness"}
    next_retention = dt.datetime.fromtimestamp(rows["retention"], LONDON)
    assert next_retention.time() == dt.time(2, 0)

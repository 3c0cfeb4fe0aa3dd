"""Leases: one holder per name, across threads and processes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from plugin.service.judge import JobBusy
from plugin.service.wiring import assemble
from plugin.service.executor import RedmineExecutor
from plugin.adapters.store.leases import LeaseBusy, Leases, holder_id, holder_is_dead
from tests.unit.fakes import FakeRedmine
from tests.unit.policy.helpers import CONFIG

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)


def test_one_holder_at_a_time_until_released_or_expired(store):
    leases = Leases(store.db, ttl_seconds=60)
    assert leases.try_acquire("issue:1", "host:1:1", now=NOW)
    assert leases.try_acquire("issue:1", "host:1:1", now=NOW)  # already ours
    assert not leases.try_acquire("issue:1", "host:2:1", now=NOW)
    assert leases.try_acquire("issue:2", "host:2:1", now=NOW)  # another name
    assert leases.try_acquire("issue:1", "host:2:1", now=NOW + dt.timedelta(seconds=61))  # expired
    leases.release("issue:1", "host:2:1")
    assert leases.try_acquire("issue:1", "host:3:1", now=NOW + dt.timedelta(seconds=62))


def test_a_dead_holder_on_this_host_gives_way_at_once(store):
    import socket

    leases = Leases(store.db, ttl_seconds=600)
    dead = f"{socket.gethostname()}:99999999:1"
    assert holder_is_dead(dead) and not holder_is_dead(holder_id()) and not holder_is_dead("elsewhere:1:1")
    assert not holder_is_dead("not a holder")
    assert leases.try_acquire("issue:1", dead)
    assert leases.try_acquire("issue:1", holder_id())


def test_hold_waits_then_gives_up_and_is_reentrant(store):
    leases = store.leases
    with leases.hold("issue:7"):
        with leases.hold("issue:7"):  # the same thread again
            pass
        other = {}

        def contender():
            try:
                with leases.hold("issue:7", wait_seconds=0.2):
                    other["got"] = True
            except LeaseBusy:
                other["busy"] = True

        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
        assert other == {"busy": True}
    # Released on leaving: another thread gets it now.
    thread = threading.Thread(target=lambda: leases.hold("issue:7", wait_seconds=0.2).__enter__())
    thread.start()
    thread.join()


def test_a_job_runs_once_at_a_time_and_is_recorded(store):
    redmine = FakeRedmine(CONFIG)
    enforcer = assemble(CONFIG, redmine, store, executor=RedmineExecutor(redmine, CONFIG), clock=lambda: NOW)
    assert store.leases.try_acquire("job:retention", "elsewhere:1:1")
    with pytest.raises(JobBusy, match="another retention run is in progress"):
        enforcer.retention.run(NOW)
    store.leases.release("job:retention", "elsewhere:1:1")
    enforcer.retention.run(NOW)
    (run,) = store.job_runs.list("retention")
    assert run["ok"] is True and '"due": 0' in run["summary"]
    with pytest.raises(ZeroDivisionError):
        with enforcer.judge.job("reconcile"):
            1 / 0
    assert store.job_runs.list("reconcile")[0]["ok"] is False
    with enforcer.judge.job("reconcile"):
        pass  # the lease was released after the failure

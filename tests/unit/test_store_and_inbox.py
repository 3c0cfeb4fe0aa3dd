"""The durable inbox and the worker that drains it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from plugin.inbox import InboxWorker
from plugin.store import SCHEMA_VERSION, DeliveryStatus, Store, schema_info
from schemas.events import ShimEventSchema
from tests.support.payloads import shim_event


def event(issue_id=42, **kw):
    return ShimEventSchema().load(shim_event(issue_id, **kw))


def test_accept_is_idempotent_per_delivery_id(store):
    e = event()
    assert store.accept(e) is True
    assert store.accept(e) is False
    assert store.counts() == {"pending": 1, "processed": 0, "failed": 0, "parked": 0}


def test_stored_event_round_trips(store):
    e = event(7, type="issue.created")
    store.accept(e)
    (row,) = store.pending()
    assert store.load_event(row) == e
    assert store.get(e.delivery_id)["issue_id"] == 7


def test_migrate_is_idempotent_and_refuses_a_newer_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'nested' / 's.sqlite3'}")
    s.migrate()
    s.migrate()
    with s.engine.begin() as conn:
        conn.execute(schema_info.update().values(version=SCHEMA_VERSION + 1))
    with pytest.raises(RuntimeError, match="newer than this release"):
        s.migrate()


def test_safe_url_hides_passwords():
    s = Store("sqlite://")
    assert Store.safe_url(s) == "sqlite://"
    pg = Store.__new__(Store)
    pg.url = "postgresql://user:hunter2@db/infoshare"
    assert "hunter2" not in pg.safe_url()


def test_worker_processes_in_order_and_marks_processed(store):
    seen = []
    for issue_id in (1, 2, 1):
        store.accept(event(issue_id))
    worker = InboxWorker(store, lambda e: seen.append(e.issue_id) or "ok", max_attempts=3, keep_processed_days=7)
    result = worker.drain()
    assert seen == [1, 2, 1]
    assert (result.processed, result.failed, result.parked) == (3, 0, 0)
    assert all(r["status"] == "processed" and r["outcome"] == "ok" for r in store.iter_all())
    assert worker.drain().handled == 0


def test_a_failing_event_holds_back_only_its_own_issue(store):
    first, second, other = event(1), event(1), event(2)
    for e in (first, second, other):
        store.accept(e)

    def process(e):
        if e.delivery_id == first.delivery_id:
            raise RuntimeError("Redmine said: Requester name 'Jane Doe' is invalid")
        return "ok"

    worker = InboxWorker(store, process, max_attempts=3, keep_processed_days=7)
    result = worker.drain()
    assert (result.processed, result.failed, result.deferred) == (1, 1, 1)
    row = store.get(first.delivery_id)
    assert row["status"] == "failed" and row["attempts"] == 1
    # Only the exception type is kept: its message may quote case details.
    assert row["last_error"] == "RuntimeError"
    assert store.get(second.delivery_id)["status"] == "pending"
    assert store.get(other.delivery_id)["status"] == "processed"


def test_an_event_that_keeps_failing_is_parked_and_stops_blocking(store):
    bad, later = event(1), event(1)
    store.accept(bad)
    store.accept(later)

    def process(e):
        if e.delivery_id == bad.delivery_id:
            raise ValueError("boom")
        return "ok"

    worker = InboxWorker(store, process, max_attempts=2, keep_processed_days=7)
    assert worker.drain().failed == 1
    assert worker.drain().parked == 1
    assert store.get(bad.delivery_id)["status"] == DeliveryStatus.PARKED.value
    assert worker.drain().processed == 1
    assert store.get(later.delivery_id)["status"] == "processed"
    assert store.counts()["parked"] == 1


def test_processed_payloads_are_purged_after_the_keep_period(store):
    e = event()
    store.accept(e)
    (row,) = store.pending()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8)
    store.mark_processed(row["id"], "ok", now=old)
    store.accept(event(5))
    assert store.purge_payloads(keep_days=7) == 1
    purged = store.get(e.delivery_id)
    assert purged["payload"] is None and purged["status"] == "processed"
    assert json.loads(store.pending()[0]["payload"])["issue"]["id"] == 5


def test_run_forever_stops_when_asked(store):
    import threading

    stop = threading.Event()
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        stop.set()

    InboxWorker(store, lambda e: "ok", max_attempts=3, keep_processed_days=7).run_forever(0.5, stop, sleep=sleep)
    assert calls == [0.5]


def test_run_forever_survives_a_store_outage(store):
    import threading

    stop = threading.Event()
    worker = InboxWorker(store, lambda e: "ok", max_attempts=3, keep_processed_days=7)
    worker.drain = lambda: (_ for _ in ()).throw(RuntimeError("database is locked"))
    worker.run_forever(0.1, stop, sleep=lambda s: stop.set())
    assert stop.is_set()

"""The durable inbox and the worker that drains it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from plugin.service.event_worker import InboxWorker
from plugin.adapters.store.database import SCHEMA_VERSION, schema_info
from plugin.adapters.store.inbox import DeliveryStatus
from plugin.adapters.store import Store
from schemas.event_payloads import ShimEventSchema
from tests.support.payloads import shim_event
from tests.support import inbox_rows


def event(issue_id=42, **kw):
    return ShimEventSchema().load(shim_event(issue_id, **kw))


def test_accept_is_idempotent_per_delivery_id(store):
    e = event()
    assert store.inbox.accept(e) is True
    assert store.inbox.accept(e) is False
    assert store.inbox.counts() == {"pending": 1, "processed": 0, "failed": 0, "parked": 0}


def test_the_inbox_keeps_what_the_worker_needs_and_no_case_details(store):
    from schemas.event_payloads import NativeEventSchema
    from tests.support.payloads import native_event

    for e in (ShimEventSchema().load(shim_event(7)), NativeEventSchema().load(native_event(8))):
        store.inbox.accept(e)
        row = inbox_rows.delivery(store, e.delivery_id)
        loaded = store.inbox.load_event(row)
        assert (loaded.delivery_id, loaded.source, loaded.type, loaded.issue_id, loaded.journal_id, loaded.actor_id, loaded.actor_login) == (
            e.delivery_id, e.source, e.type, e.issue_id, e.journal_id, e.actor_id, e.actor_login
        )
        assert loaded.occurred_at == e.occurred_at
        assert loaded.issue_id == e.issue_id and row["payload"] is None
        stored_text = json.dumps({k: str(v) for k, v in row.items()})
        assert "Phone" not in stored_text and "Children Act" not in stored_text and "Request" not in stored_text


def test_a_store_of_version_2_keeps_the_ids_and_drops_the_payloads(tmp_path):
    import sqlalchemy as sa

    from plugin.adapters.store.inbox import deliveries

    s = Store(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    s.migrate()
    payload = {"delivery_id": "d1", "source": "shim", "type": "issue.updated", "occurred_at": "2026-11-21T10:00:01+00:00",
               "issue": {"id": 5, "subject": "Case details"}, "journal": {"id": 9}, "actor_id": 10, "actor_login": "practitioner1"}
    with s.engine.begin() as conn:
        conn.execute(sa.insert(deliveries).values(delivery_id="d1", source="shim", event_type="issue.updated", issue_id=5, journal_id=9,
                                                  payload=json.dumps(payload), received_at=dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc),
                                                  status="pending", attempts=0))
        conn.execute(sa.update(deliveries).values(occurred_at=None, actor_id=None, actor_login=None))
        conn.execute(schema_info.update().values(version=2))
    s.migrate()
    row = inbox_rows.delivery(s, "d1")
    assert row["payload"] is None and (row["actor_id"], row["actor_login"]) == (10, "practitioner1")
    assert s.inbox.load_event(row).occurred_at == dt.datetime(2026, 11, 21, 10, 0, 1, tzinfo=dt.timezone.utc)


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
    from plugin.adapters.store.database import Database

    pg = Database.__new__(Database)
    pg.url = "postgresql://user:hunter2@db/infoshare"
    assert "hunter2" not in pg.safe_url()


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


def worker_for(store, process, clock, **kw):
    return InboxWorker(store, process, max_attempts=kw.pop("max_attempts", 3), keep_processed_days=7, clock=clock, **kw)


def test_an_issues_events_are_handled_one_at_a_time_in_order(store):
    clock = Clock()
    seen = []
    for issue_id in (1, 2, 1):
        store.inbox.accept(event(issue_id))
    worker = worker_for(store, lambda e: seen.append(e.issue_id) or "ok", clock)
    # Issue 1's second event waits until its first is done.
    assert worker.drain().processed == 2
    assert worker.drain().processed == 1
    assert seen == [1, 2, 1]
    assert all(r["status"] == "processed" and r["outcome"] == "ok" and r["claimed_by"] is None for r in inbox_rows.every(store))
    assert worker.drain().handled == 0


def test_a_failing_event_holds_back_only_its_own_issue_and_is_retried_later(store):
    clock = Clock()
    first, second, other = event(1), event(1), event(2)
    for e in (first, second, other):
        store.inbox.accept(e)
    fail = {"once": True}

    def process(e):
        if e.delivery_id == first.delivery_id and fail["once"]:
            fail["once"] = False
            raise RuntimeError("Redmine said: Requester name 'Jane Doe' is invalid")
        return "ok"

    worker = worker_for(store, process, clock)
    result = worker.drain()
    assert (result.processed, result.failed) == (1, 1)
    row = inbox_rows.delivery(store, first.delivery_id)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "RuntimeError"  # never its message: it may quote case details
    assert inbox_rows.delivery(store, second.delivery_id)["status"] == "pending"
    assert inbox_rows.delivery(store, other.delivery_id)["status"] == "processed"
    assert worker.drain().handled == 0  # not before its backoff
    clock.advance(5)
    assert worker.drain().processed == 1
    assert worker.drain().processed == 1
    assert inbox_rows.delivery(store, second.delivery_id)["status"] == "processed"


def test_an_event_that_keeps_failing_is_parked_and_stops_blocking(store):
    clock = Clock()
    bad, later = event(1), event(1)
    store.inbox.accept(bad)
    store.inbox.accept(later)

    def process(e):
        if e.delivery_id == bad.delivery_id:
            raise ValueError("boom")
        return "ok"

    worker = worker_for(store, process, clock, max_attempts=2)
    assert worker.drain().failed == 1
    clock.advance(10)
    assert worker.drain().parked == 1
    assert inbox_rows.delivery(store, bad.delivery_id)["status"] == DeliveryStatus.PARKED.value
    assert worker.drain().processed == 1
    assert inbox_rows.delivery(store, later.delivery_id)["status"] == "processed"
    assert [r["delivery_id"] for r in store.inbox.parked()] == [bad.delivery_id]
    assert store.inbox.retry_parked() == 1
    assert inbox_rows.delivery(store, bad.delivery_id)["status"] == "pending" and inbox_rows.delivery(store, bad.delivery_id)["attempts"] == 0


def test_while_redmine_is_unreachable_events_wait_without_using_attempts(store):
    from plugin.adapters.redmine.client import RedmineUnavailable

    clock = Clock()
    for issue_id in (1, 2, 3):
        store.inbox.accept(event(issue_id))
    down = {"yes": True}

    def process(e):
        if down["yes"]:
            raise RedmineUnavailable("Redmine cannot be reached (ConnectionError)")
        return "ok"

    worker = worker_for(store, process, clock, max_attempts=1)
    result = worker.drain()
    assert result.redmine_unavailable and result.postponed == 3 and result.handled == 0
    assert all(r["attempts"] == 0 and r["status"] == "pending" for r in inbox_rows.every(store))
    down["yes"] = False
    assert worker.drain().handled == 0  # it leaves Redmine alone for a moment
    clock.advance(6)
    assert worker.drain_all().processed == 3


def test_an_issue_busy_elsewhere_is_tried_again_shortly(store):
    from plugin.adapters.store.leases import LeaseBusy

    clock = Clock()
    store.inbox.accept(event(1))
    busy = {"yes": True}

    def process(e):
        if busy["yes"]:
            busy["yes"] = False
            raise LeaseBusy("issue:1 is busy")
        return "ok"

    worker = worker_for(store, process, clock)
    assert worker.drain().postponed == 1
    clock.advance(3)
    assert worker.drain().processed == 1
    assert list(inbox_rows.every(store))[0]["attempts"] == 1


def test_two_workers_never_claim_the_same_delivery(store):
    now = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
    for issue_id in range(1, 7):
        store.inbox.accept(event(issue_id))
    a = store.inbox.claim("host:1:1", limit=4, now=now)
    b = store.inbox.claim("host:2:1", limit=4, now=now)
    assert len(a) == 4 and len(b) == 2
    assert not {r["id"] for r in a} & {r["id"] for r in b}
    # A claim lapses with its lease (a worker killed mid-event)...
    assert store.inbox.claim("host:3:1", limit=10, now=now + dt.timedelta(seconds=30)) == []
    assert len(store.inbox.claim("host:3:1", limit=10, now=now + dt.timedelta(seconds=61))) == 6
    # ...or at once when the holder is known to be dead.
    assert store.inbox.release_claims("host:3:", lambda holder: True) == 6
    assert len(store.inbox.claim("host:4:1", limit=10, now=now + dt.timedelta(seconds=62))) == 6


def test_an_older_store_is_migrated(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'v1.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, delivery_id VARCHAR(200) UNIQUE NOT NULL, source VARCHAR(20) NOT NULL, "
            "event_type VARCHAR(40) NOT NULL, issue_id INTEGER NOT NULL, journal_id INTEGER, payload TEXT, received_at DATETIME NOT NULL, "
            "status VARCHAR(20) NOT NULL, attempts INTEGER NOT NULL, last_error TEXT, outcome VARCHAR(200), processed_at DATETIME)"
        )
        conn.exec_driver_sql("CREATE TABLE schema_info (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO schema_info VALUES (1, 1)")
    s = Store(url)
    s.migrate()
    s.migrate()
    columns = {c["name"] for c in sa.inspect(s.engine).get_columns("deliveries")}
    assert {"next_attempt_at", "claimed_by", "claim_expires"} <= columns
    with s.engine.connect() as conn:
        assert conn.execute(sa.select(schema_info.c.version)).scalar() == SCHEMA_VERSION
    assert s.inbox.accept(event(9)) and len(s.inbox.claim("w", now=dt.datetime.now(dt.timezone.utc))) == 1


def test_processed_deliveries_are_pruned_after_the_keep_period(store):
    old, recent = event(1), event(2)
    for e in (old, recent):
        store.inbox.accept(e)
    rows = {r["issue_id"]: r for r in inbox_rows.pending(store)}
    store.inbox.mark_processed(rows[1]["id"], "judged 1", now=dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc))
    store.inbox.mark_processed(rows[2]["id"], "judged 1", now=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc))
    assert store.inbox.prune_processed(keep_days=90, now=dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)) == 1
    assert inbox_rows.delivery(store, old.delivery_id) is None and inbox_rows.delivery(store, recent.delivery_id)["status"] == "processed"


def test_run_forever_stops_when_asked(store):
    import threading

    stop = threading.Event()
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        stop.set()

    InboxWorker(store, lambda e: "ok", max_attempts=3, keep_processed_days=7).run_forever(0.5, stop, sleep=sleep)
    assert calls == [0.5]


def test_run_forever_pauses_while_redmine_is_unreachable(store):
    import threading

    from plugin.service.event_worker import OUTAGE_PAUSE, DrainResult

    stop = threading.Event()
    calls = []
    worker = InboxWorker(store, lambda e: "ok", max_attempts=3, keep_processed_days=7)
    worker.drain = lambda: DrainResult(postponed=1, redmine_unavailable=True)
    worker.run_forever(0.5, stop, sleep=lambda s: calls.append(s) or stop.set())
    assert calls == [OUTAGE_PAUSE]


def test_run_forever_survives_a_store_outage(store):
    import threading

    stop = threading.Event()
    worker = InboxWorker(store, lambda e: "ok", max_attempts=3, keep_processed_days=7)
    worker.drain = lambda: (_ for _ in ()).throw(RuntimeError("database is locked"))
    worker.run_forever(0.1, stop, sleep=lambda s: stop.set())
    assert stop.is_set()


def test_a_second_store_in_a_process_leaves_the_first_ones_locks_alone(tmp_path):
    """SQLite's locks are POSIX locks, dropped on every descriptor of a file
    when a process closes any one of them. Opening the second Store must not
    touch the file: if it did, another process ending its connection would
    take this one for gone, checkpoint and delete the WAL under it, and this
    process's next commits (acknowledged deliveries) would be lost. A fault
    test lost 91 of 688 that way."""
    import subprocess
    import sys

    import sqlalchemy as sa

    path = tmp_path / "store.sqlite3"
    first = Store(f"sqlite:///{path}")
    first.migrate()
    first.inbox.accept(event(1))
    with first.engine.connect() as held:
        held.execute(sa.text("SELECT count(*) FROM deliveries")).scalar()
        Store(f"sqlite:///{path}")
        other = f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('SELECT count(*) FROM deliveries').fetchall(); c.close()"
        subprocess.run([sys.executable, "-c", other], check=True, timeout=60)
        assert (tmp_path / "store.sqlite3-wal").exists(), "another process took the store for unused and removed its WAL"
        first.inbox.accept(event(2))
    assert Store(f"sqlite:///{path}").inbox.counts()["pending"] == 2

"""Issue 7, scale-out: the store on a real PostgreSQL shared by several web
instances, workers and schedulers. Uses INFOSHARE_TEST_PG_URL (which .ci/run
sets); without it these tests are skipped, saying why."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import defaultdict

import pytest
import requests
import sqlalchemy as sa

from plugin.adapters.store.audit import EntryKind
from devstack import processes
from devstack.stack import BIN_DIR, PROJECT_DIR
from plugin.service.event_worker import InboxWorker
from plugin.adapters.store.database import SCHEMA_VERSION
from plugin.adapters.store import Store
from schemas.event_payloads import ShimEventSchema
from tests.support.payloads import encode, shim_event, shim_headers
from tests.support import inbox_rows

PG_ENV = "INFOSHARE_TEST_PG_URL"
SECRET = "postgres-test-secret-0123456789"


@pytest.fixture(scope="module")
def pg_url():
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL store tests need a server (.ci/run sets it)")
    name = f"infoshare_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def store(pg_url):
    s = Store(pg_url)
    s.migrate()
    with s.engine.begin() as conn:
        for table in ("deliveries", "leases", "audit_log", "breaches", "job_runs"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})
    yield s
    s.engine.dispose()


def event(issue_id, **kw):
    return ShimEventSchema().load(shim_event(issue_id, **kw))


def test_the_store_runs_on_postgresql(store):
    e = event(1)
    assert store.inbox.accept(e) and not store.inbox.accept(e)
    assert store.inbox.counts()["pending"] == 1
    store.migrate()  # idempotent on PostgreSQL too
    loaded = store.inbox.load_event(inbox_rows.pending(store)[0])
    assert (loaded.delivery_id, loaded.type, loaded.issue_id, loaded.journal_id, loaded.actor_id, loaded.occurred_at) == (
        e.delivery_id, e.type, e.issue_id, e.journal_id, e.actor_id, e.occurred_at
    )


def test_processes_starting_together_on_a_new_database_migrate_it_once(pg_url):
    """Every web worker and instance migrates the store at start-up; on a new
    PostgreSQL database they take turns instead of colliding."""
    fresh = f"infoshare_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{fresh}"'))
    url = sa.engine.make_url(pg_url).set(database=fresh).render_as_string(hide_password=False)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def starting_process():
        store = Store(url)  # its own engine, as a separate process has
        try:
            start.wait()
            store.migrate()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            store.engine.dispose()

    try:
        threads = [threading.Thread(target=starting_process) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        check = Store(url)
        with check.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version FROM schema_info")).scalars().all() == [SCHEMA_VERSION]
            assert conn.execute(sa.text("SELECT seq FROM audit_head")).scalars().all() == [0]
        assert check.inbox.accept(event(1))
        check.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
        admin.dispose()


def test_workers_on_several_instances_never_process_a_delivery_twice_and_keep_each_issues_order(pg_url, store):
    issues = list(range(1, 21))
    sent = [event(random.choice(issues)) for _ in range(300)]
    for e in sent:
        store.inbox.accept(e)
    processed: list[tuple[int, str]] = []
    busy: set[int] = set()
    overlap = []
    lock = threading.Lock()

    def process(e):
        with lock:
            if e.issue_id in busy:
                overlap.append(e.issue_id)
            busy.add(e.issue_id)
        time.sleep(random.uniform(0, 0.003))
        with lock:
            busy.discard(e.issue_id)
            processed.append((e.issue_id, e.delivery_id))
        return "ok"

    def instance():
        # Each worker has its own engine, as separate hosts would.
        worker = InboxWorker(Store(pg_url), process, max_attempts=3, keep_processed_days=7, batch=5)
        while worker.drain_all().processed:
            pass

    threads = [threading.Thread(target=instance) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d for _, d in processed) == sorted(e.delivery_id for e in sent)  # each once, none lost
    assert overlap == []  # never two workers on one issue
    order = {e.delivery_id: i for i, e in enumerate(sent)}
    by_issue = defaultdict(list)
    for issue_id, delivery_id in processed:
        by_issue[issue_id].append(order[delivery_id])
    assert all(seq == sorted(seq) for seq in by_issue.values())  # accepted order, per issue
    assert store.inbox.counts()["processed"] == len(sent)


def test_concurrent_audit_appends_keep_one_chain(pg_url, store):
    def writer(n):
        log = Store(pg_url).audit
        for i in range(40):
            log.append(EntryKind.ACTION, source="test", issue_id=n, detail={"i": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = store.audit.verify()
    assert result.ok and result.entries == 200


def test_leases_on_postgresql(pg_url, store):
    a, b = Store(pg_url).leases, Store(pg_url).leases
    assert a.try_acquire("issue:1", "host-a:1:1")
    assert not b.try_acquire("issue:1", "host-b:1:1")
    a.release("issue:1", "host-a:1:1")
    assert b.try_acquire("issue:1", "host-b:1:1")


def _config(tmp_path, name: str, pg_url: str, port: int) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        '[redmine]\nurl = "http://127.0.0.1:9"\napi_key = "not-used-here"\n'
        f'[service]\ndatabase_url = "{pg_url}"\npublic_url = "http://127.0.0.1:{port}"\n'
        f'[webhook]\nsecret = "{SECRET}"\n[inbox]\npoll_seconds = 0.5\n'
    )
    return str(path)


def _env(config_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOSHARE_")}
    env.update(INFOSHARE_CONFIG=config_path, PYTHONPATH=str(PROJECT_DIR))
    return env


def test_two_web_instances_share_the_store_and_store_each_delivery_once(pg_url, store, tmp_path):
    instances = []
    try:
        for name in ("web-a", "web-b"):
            port = processes.free_port()
            config = _config(tmp_path, name, pg_url, port)
            log = tmp_path / f"{name}.log"
            proc = processes.start(
                [str(BIN_DIR / "infoshare"), "--config", config, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                log_path=log,
                env=_env(config),
            )
            processes.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, proc=proc, log_path=log)
            instances.append((proc, port))
        bodies = [encode(shim_event(i % 10 + 1)) for i in range(100)]
        statuses: list[int] = []
        lock = threading.Lock()

        def send(port):
            session = requests.Session()
            for body in bodies:  # both instances get every delivery
                r = session.post(f"http://127.0.0.1:{port}/v1/events", data=body, headers=shim_headers(SECRET, body), timeout=10)
                with lock:
                    statuses.append(r.status_code)

        threads = [threading.Thread(target=send, args=(port,)) for _, port in instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(statuses)) in ([200, 202], [202])
        assert statuses.count(202) == 100 and len(statuses) == 200
        assert store.inbox.counts()["pending"] == 100
    finally:
        for proc, _ in instances:
            processes.stop_pid(proc.pid)


def test_two_schedulers_one_active_the_other_takes_over_when_it_dies(pg_url, store, tmp_path):
    started = []
    try:
        for name in ("scheduler-a", "scheduler-b"):
            config = _config(tmp_path, name, pg_url, 1)
            log = tmp_path / f"{name}.log"
            started.append((processes.start([str(BIN_DIR / "infoshare"), "--config", config, "scheduler"], log_path=log, env=_env(config)), log))
            time.sleep(1.0)  # a definite first

        def state(log):
            text = log.read_text() if log.exists() else ""
            return "active" if "scheduler active" in text else ("standby" if "standing by" in text else "starting")

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sorted(state(log) for _, log in started) != ["active", "standby"]:
            time.sleep(0.3)
        assert sorted(state(log) for _, log in started) == ["active", "standby"]
        active, standby = sorted(started, key=lambda s: state(s[1]) != "active")
        os.killpg(active[0].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 60 and state(standby[1]) != "active":
            time.sleep(0.3)
        took = time.monotonic() - killed_at
        assert state(standby[1]) == "active", standby[1].read_text()[-2000:]
        assert took < 60
        print(f"\nscheduler fail-over took {took:.1f} s")
    finally:
        for proc, _ in started:
            processes.stop_pid(proc.pid, timeout=5)

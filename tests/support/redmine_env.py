"""Real Redmine instances for tests: Debian 12's Redmine 5.0 and Debian 13's
Redmine 6.0 (in a chroot built once into /var/cache/infoshare, outside the clone).

Building a provisioned Redmine takes ~20 s (migrate, default data, provision,
demo users), so it is done once per release and content hash and kept as
SQLite files in var/cache/redmine-snapshots/<hash>/. Each test session then gets its own
instance: a copy of the snapshot, its own ports, the real shim, and the real
service (gunicorn) and worker, exactly as the local stack runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from devstack import debian, processes
from devstack.stack import PROJECT_DIR, RedmineRelease, Stack, prepare_release, release_version
from plugin.provisioning.spec import build_spec
from plugin.adapters.store import Store
from tests.support import inbox_rows

def read_from_another_process(path: Path) -> bytes:
    """A live SQLite file's bytes, read by a child process. SQLite's locks
    are POSIX locks, which a process loses on every descriptor of a file
    when it closes any one: reading the store's files here would drop the
    locks of this process's own connections to it, so the service's last
    connection to close would take itself for the last one, delete the WAL
    and leave those connections reading a stale copy."""
    return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout


SNAPSHOT_ROOT = PROJECT_DIR / "var" / "cache" / "redmine-snapshots"
FILES_IN_KEY = (
    PROJECT_DIR / "devstack" / "demo.py",
    PROJECT_DIR / "devstack" / "debian.py",
    PROJECT_DIR / "devstack" / "trixie.py",
    PROJECT_DIR / "devstack" / "stack.py",
)


def _tree_digest(root: Path, h) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())


# Bumped when how a snapshot is made changes (2: databases copied through
# SQLite's backup, so Redmine 6's WAL is included).
SNAPSHOT_FORMAT = 2


def snapshot_key(release: RedmineRelease) -> str:
    """Changes whenever anything that shapes the snapshot changes."""
    h = hashlib.sha256(f"{SNAPSHOT_FORMAT}:{release.value}".encode())
    probe = Stack(root=Path(tempfile.gettempdir()) / "infoshare-probe", instance_name="probe", redmine_port=1, service_port=2)
    h.update(build_spec(probe._provisioning_config(secret="0" * 32)).dumps().encode())
    _tree_digest(debian.SHIM_SOURCE, h)
    for f in FILES_IN_KEY:
        h.update(f.read_bytes())
    h.update(release_version(release).encode())
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    dir: Path
    release: RedmineRelease = RedmineRelease.DEBIAN_12

    @property
    def fresh_db(self) -> Path:
        return self.dir / "fresh.sqlite3"

    @property
    def fresh_admin_key(self) -> str:
        return (self.dir / "fresh-admin.key").read_text().strip()

    @property
    def db(self) -> Path:
        return self.dir / "provisioned.sqlite3"

    @property
    def admin_key(self) -> str:
        return (self.dir / "admin.key").read_text().strip()

    @property
    def bot_key(self) -> str:
        return (self.dir / "bot.key").read_text().strip()

    @property
    def secret(self) -> str:
        return (self.dir / "secret").read_text().strip()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a Redmine SQLite database through SQLite itself:
    Redmine 6 (Rails 7.2) keeps its database in WAL mode, so the newest
    writes may still be in the -wal file beside it, which copying the file
    alone would lose."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _build_snapshot(target: Path, release: RedmineRelease) -> None:
    work = Path(tempfile.mkdtemp(prefix="infoshare-snapshot-"))
    stack = Stack(
        root=work,
        instance_name=f"infoshare-snap-{os.getpid()}",
        redmine_port=processes.free_port(),
        service_port=processes.free_port(),
        release=release,
    )
    try:
        stack.prepare_redmine()
        stack.instance.enable_api_access(work / "fresh-admin.key")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        copy_database(stack.instance.db_path, staging / "fresh.sqlite3")
        shutil.copy2(work / "fresh-admin.key", staging / "fresh-admin.key")
        stack.provision()
        stack.start_redmine()
        stack.seed_demo()
        stack.provision(projects=stack.config().redmine.projects)
        stack.down()
        copy_database(stack.instance.db_path, staging / "provisioned.sqlite3")
        shutil.copy2(stack.admin_key_path, staging / "admin.key")
        shutil.copy2(stack.bot_key_path, staging / "bot.key")
        processes.write_private(staging / "secret", stack.config().webhook.secret)
        staging.rename(target)
    finally:
        stack.down()
        stack.instance.remove()
        shutil.rmtree(work, ignore_errors=True)


def snapshot(release: RedmineRelease = RedmineRelease.DEBIAN_12) -> Snapshot:
    """The provisioned snapshot of `release` for the current code, built if
    missing (and, for Redmine 6, the chroot with it: it raises, saying why,
    when that cannot be built)."""
    prepare_release(release)
    SNAPSHOT_ROOT.mkdir(parents=True, exist_ok=True)
    target = SNAPSHOT_ROOT / snapshot_key(release)
    with open(SNAPSHOT_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (CI and a developer)
        if not (target / "secret").exists():
            _build_snapshot(target, release)
    return Snapshot(target, release)


class LiveStack(Stack):
    """A Stack started from a snapshot for one test session."""

    snapshot: Snapshot

    @classmethod
    def from_snapshot(cls, snap: Snapshot, root: Path, *, use_fresh: bool = False, smtp_port: int | None = None) -> "LiveStack":
        stack = cls(
            root=root,
            instance_name=f"infoshare-test-{os.getpid()}-{root.name}",
            redmine_port=processes.free_port(),
            service_port=processes.free_port(),
            smtp_port=smtp_port,
            release=snap.release,
        )
        stack.snapshot = snap
        stack.instance.remove()
        stack.instance.create()
        stack.instance.configure_email(smtp_port)
        shutil.copy2(snap.fresh_db if use_fresh else snap.db, stack.instance.db_path)
        processes.write_private(stack.admin_key_path, snap.fresh_admin_key if use_fresh else snap.admin_key)
        processes.write_private(stack.bot_key_path, snap.bot_key)
        stack.write_config(api_key=snap.bot_key, secret=snap.secret)
        return stack

    def _secret(self) -> str:
        return self.snapshot.secret

    def store(self) -> Store:
        """The service's store, opened once per database: tests read it
        hundreds of times, and each Store is an engine with its own pool."""
        url = self.config().service.database_url
        stores = self.__dict__.setdefault("_stores", {})
        if url not in stores:
            stores[url] = Store(url)
        return stores[url]

    @contextlib.contextmanager
    def without_the_shim(self):
        """Redmine as a Redmine 7 site without the shim sees it: no events
        sent and no save gated (the plugin's settings turned off), put back
        afterwards."""
        script = Path(__file__).with_name("shim_settings.rb")
        before = json.loads(self.instance.runner(script, {"SETTINGS": json.dumps({"events_enabled": "0", "trackers": []})}).strip().splitlines()[-1])
        try:
            yield
        finally:
            self.instance.runner(script, {"SETTINGS": json.dumps(before)})

    def wait_for_deliveries(self, issue_id: int, count: int, timeout: float = 15.0) -> list[dict]:
        """The inbox rows of an issue, once at least `count` have arrived."""
        store = self.store()
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            try:
                rows = inbox_rows.for_issue(store, issue_id)
            except sa.exc.OperationalError:
                rows = []  # the service has not created its tables yet
            if len(rows) >= count:
                return rows
            time.sleep(0.1)
        raise AssertionError(f"expected {count} deliveries for issue {issue_id} within {timeout} s, got {len(rows)}")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run an `infoshare` command against this stack, as an operator would."""
        from devstack.stack import BIN_DIR

        result = subprocess.run(
            [str(BIN_DIR / "infoshare"), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            env=self.service_env(),
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"infoshare {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def stop_service(self) -> None:
        processes.stop_pidfile(self.pid("scheduler"))
        processes.stop_pidfile(self.pid("web"))

    @contextlib.contextmanager
    def paused_scheduler(self):
        """Events still arrive in the inbox, but nothing processes them until
        the block ends: what happens meanwhile is for the reconciler to find."""
        processes.stop_pidfile(self.pid("scheduler"))
        try:
            yield
        finally:
            self.start_service()

    def wait_processed(self, issue_id: int, timeout: float = 20.0) -> list[dict]:
        """Wait until every delivery of the issue has been handled."""
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = inbox_rows.for_issue(self.store(), issue_id)
            if rows and all(r["status"] in ("processed", "parked") for r in rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"deliveries of issue {issue_id} not processed within {timeout} s: {[r['status'] for r in rows]}")

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until the worker has handled every delivery (and what its own
        saves sent back). Redmine on SQLite locks the whole database during a
        save, so a person's save that overlaps the service's can fail with
        "database is locked"; production Redmine (PostgreSQL, MySQL) locks
        rows. Tests let the service finish before acting as a person."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            counts = self.store().inbox.counts()
            quiet = quiet + 1 if counts["pending"] == 0 and counts["failed"] == 0 else 0
            if quiet >= 3:
                return
            time.sleep(0.15)
        raise AssertionError(f"the inbox did not settle within {timeout} s: {self.store().inbox.counts()}")

    def teardown(self) -> None:
        self.down()
        # Keep Redmine's own log with the session's other logs for diagnosis.
        redmine_log = self.instance.path / "log" / "production.log"
        if redmine_log.exists():
            shutil.copy2(redmine_log, self.log("redmine-production"))
        self.instance.remove()

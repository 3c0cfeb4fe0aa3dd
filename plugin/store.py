"""The service's own durable state, in SQLAlchemy Core: the inbox of accepted
deliveries (unique delivery id), breaches, cursors, leases, job runs, the audit
log, and the schema version.

SQLite file by default; PostgreSQL by URL when several web instances share it.
Tables are created and migrated by `Store.migrate()`, which every process
calls at start-up; it is idempotent (see MIGRATIONS).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from schemas.events import Event, stored_event

SCHEMA_VERSION = 4
# PostgreSQL advisory lock key (64-bit, from the name) under which processes
# migrate the store one at a time.
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"infoshare:migrate").digest()[:8], "big", signed=True)

metadata = sa.MetaData()

schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"  # will be retried
    PARKED = "parked"  # gave up after max attempts; retried by hand


deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("issue_id", sa.Integer, nullable=False),
    sa.Column("journal_id", sa.Integer, nullable=True),
    # Up to version 2 the whole payload (case details included); emptied by
    # the migration to version 3 and never written since: the worker reads
    # the issue from Redmine and needs only the ids below.
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default=DeliveryStatus.PENDING.value),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("outcome", sa.String(200), nullable=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
    # Version 2: claiming by workers, and backoff between attempts.
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(120), nullable=True),
    sa.Column("claim_expires", sa.DateTime(timezone=True), nullable=True),
    # Version 3: the event itself, as ids (no case details).
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_login", sa.String(255), nullable=True),
    sa.Index("ix_deliveries_status_id", "status", "id"),
    sa.Index("ix_deliveries_issue", "issue_id", "id"),
)

# Mutual exclusion across processes and hosts: one holder per name (an issue,
# a job) until it releases or its lease expires (a crashed holder).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(120), primary_key=True),
    sa.Column("holder", sa.String(120), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# Every run of a scheduled job or its command: for /metrics and operators.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(60), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("summary", sa.String(400), nullable=True),  # counts and ids only
    sa.Index("ix_job_runs_job", "job", "id"),
)


class BreachStatus(str, enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"


# A rule violation that got past the gate (R-AUDIT). `open_key` is set while
# the breach is open and unique, so the worker and the reconciler finding the
# same violation at once record it once; it is cleared when resolved.
breaches = sa.Table(
    "breaches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.Integer, nullable=False),
    sa.Column("rule", sa.String(20), nullable=False),
    sa.Column("field", sa.String(60), nullable=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("journal_id", sa.Integer, nullable=True),  # the save that introduced it; None = creation
    sa.Column("user_id", sa.Integer, nullable=True),  # who made that save (a Redmine user id)
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_by", sa.String(20), nullable=False),  # event | reconciler
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("open_key", sa.String(200), nullable=True, unique=True),
    # Version 4: the breach as a violation introduced by one save, recorded
    # once for ever (a later look at the same save finds it recorded).
    sa.Column("breach_key", sa.String(240), nullable=True),
    sa.Index("ix_breaches_issue", "issue_id"),
    sa.Index("ux_breaches_breach_key", "breach_key", unique=True),
)


# An issue a batch (the reconciler, a timer job) could not handle: recorded,
# retried with growing pauses, and never in the way of the others. Open
# while `resolved_at` is null; one open problem per source and issue.
problems = sa.Table(
    "problems",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),  # reconcile | retention | escalations | incidents | approval_reminders
    sa.Column("issue_id", sa.Integer, nullable=False),
    sa.Column("error", sa.String(200), nullable=False),  # the exception's type and code, never a message
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    # The reconciler's window when it failed: a retry judges the saves since then.
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("open_key", sa.String(80), nullable=True, unique=True),
    sa.Index("ix_problems_source", "source", "resolved_at"),
)

# The gate's refusals (and administrators' bypasses), by the shim's request
# id, for the timestamp window: a replayed question gets the first answer and
# leaves no second audit entry. Allowed saves are not kept (nothing is
# audited for them, and deciding again gives the same answer).
gate_answers = sa.Table(
    "gate_answers",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),  # the JSON sent back: allow, violations (rule messages, no case details)
    sa.Index("ix_gate_answers_at", "answered_at"),
)

# The roles of people in projects as the service has seen them over time:
# Redmine keeps no history of memberships, so a save is judged with the roles
# seen at its time (R-AUDIT: a later role change re-opens nothing).
role_observations = sa.Table(
    "role_observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),  # JSON list of role names
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_role_observations", "project_id", "user_id", "observed_at"),
)

# Where each periodic job got to (the reconciler's updated-since cursor).
cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("value", sa.DateTime(timezone=True), nullable=False),
)


# The audit log (see plugin/audit.py). `recorded_at` is ISO text so it is
# hashed exactly as stored.
GENESIS = "0" * 64

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("source", sa.String(30), nullable=False),
    sa.Column("issue_id", sa.Integer, nullable=True),
    sa.Column("rule", sa.String(20), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_issue", "issue_id"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


# Steps from one schema version to the next (new tables come from create_all).
# The upgrade note in the README describes them.
MIGRATIONS: dict[int, list[str]] = {
    2: [
        "ALTER TABLE deliveries ADD COLUMN next_attempt_at TIMESTAMP WITH TIME ZONE",
        "ALTER TABLE deliveries ADD COLUMN claimed_by VARCHAR(120)",
        "ALTER TABLE deliveries ADD COLUMN claim_expires TIMESTAMP WITH TIME ZONE",
    ],
    3: [
        "ALTER TABLE deliveries ADD COLUMN occurred_at TIMESTAMP WITH TIME ZONE",
        "ALTER TABLE deliveries ADD COLUMN actor_id INTEGER",
        "ALTER TABLE deliveries ADD COLUMN actor_login VARCHAR(255)",
    ],
    4: [
        "ALTER TABLE breaches ADD COLUMN breach_key VARCHAR(240)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_breaches_breach_key ON breaches (breach_key)",
    ],
}


def breach_key(issue_id: int, identity: str, journal_id: int | None) -> str:
    """A breach's identity for ever: the issue, the violation, the save."""
    return f"{issue_id}:{identity}:{'created' if journal_id is None else journal_id}"


def _move_payloads_to_columns(conn) -> None:
    """Version 3: keep of each stored payload only what the worker needs (the
    actor and when), and drop the rest, which held case details."""
    rows = conn.execute(sa.select(deliveries.c.id, deliveries.c.payload).where(deliveries.c.payload.is_not(None))).all()
    for row_id, payload in rows:
        try:
            data = json.loads(payload)
            values = {
                "occurred_at": dt.datetime.fromisoformat(data["occurred_at"]),
                "actor_id": data.get("actor_id"),
                "actor_login": data.get("actor_login"),
            }
        except (ValueError, KeyError, TypeError):
            values = {}
        conn.execute(sa.update(deliveries).where(deliveries.c.id == row_id).values(payload=None, **values))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


STORE_FILE_MODE = 0o600


def _private_file(path: Path) -> None:
    """The SQLite store, for the service's own user only: it holds the audit
    log and the inbox. SQLite gives its WAL and shared-memory files the
    database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, STORE_FILE_MODE))
    if path.stat().st_mode & 0o777 != STORE_FILE_MODE:
        path.chmod(STORE_FILE_MODE)


def create_store_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            _private_file(Path(path))
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the web workers append while the worker reads; busy
            # timeout makes concurrent writers wait instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, url: str, engine: Engine | None = None):
        self.url = url
        self.engine = engine or create_store_engine(url)

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> None:
        """Create what is missing and bring an older store up to this release.
        Every process does this at start-up, several at once under gunicorn
        and across instances: on PostgreSQL they take turns (an advisory
        lock), as two CREATE TABLEs of one name collide there; on SQLite a
        table another process created a moment ago is not an error."""
        with self._migration_turn():
            self._migrate()

    @contextlib.contextmanager
    def _migration_turn(self) -> Iterator[None]:
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            # A session lock, held while other connections migrate; it ends
            # with the connection if this process dies half way.
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()

    def _migrate(self) -> None:
        for attempt in range(5):
            try:
                existed = sa.inspect(self.engine).has_table("deliveries")
                metadata.create_all(self.engine)
                break
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        with self.engine.begin() as conn:
            # A store created just now has every column: it starts at this version.
            first = SCHEMA_VERSION if not existed else 1
            conn.execute(self._insert(schema_info).values(id=1, version=first).on_conflict_do_nothing(index_elements=["id"]))
            conn.execute(self._insert(audit_head).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"]))
            row = conn.execute(sa.select(schema_info.c.version).where(schema_info.c.id == 1)).one()
            if row.version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"The store at {self.safe_url()} has schema version {row.version}, newer than this "
                    f"release understands ({SCHEMA_VERSION}); upgrade the service before starting it."
                )
        for version in range(row.version + 1, SCHEMA_VERSION + 1):
            self._upgrade_to(version)

    def _upgrade_to(self, version: int) -> None:
        """One migration step, in its own transaction, recorded when done.
        Steps only add, so a step interrupted half way is simply redone."""
        with self.engine.begin() as conn:
            for statement in MIGRATIONS[version]:
                if " ADD COLUMN " in statement:
                    table = statement.split("ALTER TABLE ")[1].split()[0]
                    column = statement.split(" ADD COLUMN ")[1].split()[0]
                    if column in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
                        continue
                conn.exec_driver_sql(statement)
            if version == 3:
                _move_payloads_to_columns(conn)
            conn.execute(sa.update(schema_info).where(schema_info.c.id == 1, schema_info.c.version < version).values(version=version))

    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _insert(self, table: sa.Table):
        """An INSERT that can say ON CONFLICT DO NOTHING, in this store's dialect."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(table)
        if dialect == "postgresql":
            return postgresql.insert(table)
        raise RuntimeError(f"unsupported store dialect {dialect}; use SQLite or PostgreSQL")

    # -- inbox ------------------------------------------------------------------

    def accept(self, event: Event, now: dt.datetime | None = None) -> bool:
        """Store a verified event. Returns False when its delivery id was
        already stored (a redelivery): nothing is written then."""
        row = {
            "delivery_id": event.delivery_id,
            "source": event.source.value,
            "event_type": event.type.value,
            "issue_id": event.issue_id,
            "journal_id": event.journal_id,
            "occurred_at": event.occurred_at,
            "actor_id": event.actor_id,
            "actor_login": event.actor_login,
            "received_at": now or utcnow(),
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
        }
        with self.engine.begin() as conn:
            return conn.execute(self._accept_statement, row).first() is not None

    @functools.cached_property
    def _accept_statement(self):
        # Built once per store, values bound at each call: every event goes
        # through here, and building the statement cost as much as running it.
        return (
            self._insert(deliveries)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            # RETURNING says whether a row was written (rowcount is not
            # reliable for INSERT ... ON CONFLICT across drivers).
            .returning(deliveries.c.id)
        )

    def _claimable(self, now: dt.datetime):
        """Deliveries a worker may take: waiting, due, not held by a live
        claim, and with no earlier unfinished delivery of the same issue
        (so an issue's events are handled one at a time, in order)."""
        earlier = deliveries.alias("earlier")
        waiting = [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]
        return (
            sa.select(deliveries.c.id)
            .where(
                deliveries.c.status.in_(waiting),
                sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
                sa.or_(deliveries.c.claim_expires.is_(None), deliveries.c.claim_expires < now),
                ~sa.exists().where(
                    earlier.c.issue_id == deliveries.c.issue_id,
                    earlier.c.id < deliveries.c.id,
                    earlier.c.status.in_(waiting),
                ),
            )
            .order_by(deliveries.c.id)
        )

    def claim(self, worker: str, limit: int = 20, lease_seconds: float = 60, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Take up to `limit` deliveries for `worker` until `lease_seconds`
        from now. One UPDATE: atomic on SQLite; on PostgreSQL the candidate
        rows are locked with SKIP LOCKED, so concurrent workers never take the
        same row. A crashed worker's claims lapse when their lease does."""
        now = now or utcnow()
        candidates = self._claimable(now).limit(limit)
        if self.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        expires = now + dt.timedelta(seconds=lease_seconds)
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id.in_(candidates.scalar_subquery()))
                .values(claimed_by=worker, claim_expires=expires)
            )
            rows = conn.execute(
                sa.select(deliveries)
                .where(deliveries.c.claimed_by == worker, deliveries.c.claim_expires == expires)
                .order_by(deliveries.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries still to process, oldest first (for reports)."""
        query = (
            sa.select(deliveries)
            .where(deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def load_event(self, row: dict[str, Any]) -> Event:
        """The event a row records, as the worker needs it: which issue, which
        save, what kind, who (the issue itself is read from Redmine)."""
        return stored_event(row)

    _UNCLAIM = dict(claimed_by=None, claim_expires=None)

    def mark_processed(self, row_id: int, outcome: str, now: dt.datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == row_id)
                .values(
                    status=DeliveryStatus.PROCESSED.value,
                    outcome=outcome[:200],
                    processed_at=now or utcnow(),
                    attempts=deliveries.c.attempts + 1,
                    last_error=None,
                    next_attempt_at=None,
                    **self._UNCLAIM,
                )
            )

    def mark_failed(self, row_id: int, error: str, max_attempts: int, retry_in: float = 0, now: dt.datetime | None = None) -> DeliveryStatus:
        """Record a failed attempt and when to try again; park the delivery
        once it has used its attempts, so it no longer holds up its issue."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            attempts = conn.execute(sa.select(deliveries.c.attempts).where(deliveries.c.id == row_id)).scalar_one() + 1
            status = DeliveryStatus.PARKED if attempts >= max_attempts else DeliveryStatus.FAILED
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == row_id)
                .values(
                    status=status.value,
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=now + dt.timedelta(seconds=retry_in),
                    **self._UNCLAIM,
                )
            )
            return status

    def postpone(self, row_id: int, seconds: float, now: dt.datetime | None = None) -> None:
        """Give a delivery back untried (Redmine was unreachable): no attempt
        is counted, so an outage never parks an event."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == row_id)
                .values(next_attempt_at=(now or utcnow()) + dt.timedelta(seconds=seconds), **self._UNCLAIM)
            )

    def release_claims(self, holder_prefix: str, is_dead) -> int:
        """Free the claims of workers on this host whose process has died,
        so their deliveries need not wait for the lease to lapse."""
        released = 0
        with self.engine.begin() as conn:
            holders = conn.execute(
                sa.select(deliveries.c.claimed_by).where(deliveries.c.claimed_by.like(f"{holder_prefix}%")).distinct()
            ).scalars()
            for holder in list(holders):
                if is_dead(holder):
                    released += conn.execute(
                        sa.update(deliveries).where(deliveries.c.claimed_by == holder).values(**self._UNCLAIM)
                    ).rowcount
        return released

    def parked(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries).where(deliveries.c.status == DeliveryStatus.PARKED.value).order_by(deliveries.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def retry_parked(self, row_id: int | None = None) -> int:
        """Put parked deliveries (one, or all) back in the queue with fresh attempts."""
        query = sa.update(deliveries).where(deliveries.c.status == DeliveryStatus.PARKED.value)
        if row_id is not None:
            query = query.where(deliveries.c.id == row_id)
        with self.engine.begin() as conn:
            return conn.execute(
                query.values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=None, **self._UNCLAIM)
            ).rowcount

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)).first()
            return dict(row._mapping) if row else None

    def deliveries_for_issue(self, issue_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries).where(deliveries.c.issue_id == issue_id).order_by(deliveries.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status))
            found = {status: n for status, n in rows}
        return {s.value: found.get(s.value, 0) for s in DeliveryStatus}

    def prune_processed(self, keep_days: int, now: dt.datetime | None = None) -> int:
        """Delete the records of deliveries processed more than `keep_days`
        ago: ids only, kept for `infoshare inbox` and to recognise a late
        redelivery; what the service did is in the audit log for good."""
        cutoff = (now or utcnow()) - dt.timedelta(days=keep_days)
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(deliveries).where(deliveries.c.status == DeliveryStatus.PROCESSED.value, deliveries.c.processed_at < cutoff)
            )
            return result.rowcount

    # -- breaches -----------------------------------------------------------------

    def open_breach(
        self,
        *,
        issue_id: int,
        rule: str,
        field: str | None,
        code: str,
        identity: str,
        journal_id: int | None,
        user_id: int | None,
        detected_by: str,
        now: dt.datetime | None = None,
    ) -> int | None:
        """Record a breach: the violation `identity` introduced by save
        `journal_id` (None: the creation). Once for ever per save (however
        often and by whatever that save is looked at again), and one open at a
        time per violation. Returns the new breach's id, or None when it was
        already recorded."""
        values = dict(
            issue_id=issue_id,
            rule=rule,
            field=field,
            code=code,
            journal_id=journal_id,
            user_id=user_id,
            detected_at=now or utcnow(),
            detected_by=detected_by,
            status=BreachStatus.OPEN.value,
            open_key=f"{issue_id}:{identity}",
            breach_key=breach_key(issue_id, identity, journal_id),
        )
        try:
            with self.engine.begin() as conn:
                return conn.execute(sa.insert(breaches).values(**values)).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            return None

    def open_breaches(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(breaches).where(breaches.c.status == BreachStatus.OPEN.value).order_by(breaches.c.id)
        if issue_id is not None:
            query = query.where(breaches.c.issue_id == issue_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def resolve_breach(self, breach_id: int, now: dt.datetime | None = None) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(breaches)
                .where(breaches.c.id == breach_id, breaches.c.status == BreachStatus.OPEN.value)
                .values(status=BreachStatus.RESOLVED.value, resolved_at=now or utcnow(), open_key=None)
            )
            return result.rowcount == 1

    def all_breaches(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(breaches).order_by(breaches.c.id))]

    # -- problems -----------------------------------------------------------------

    def record_problem(self, source: str, issue_id: int, error: str, backoff: Callable[[int], float], now: dt.datetime | None = None,
                       since: dt.datetime | None = None) -> int:
        """Record that `source` could not handle the issue (or that it failed
        again): counts the attempt and sets when to try again, `backoff(attempts)`
        seconds on. Returns the number of attempts."""
        now = now or utcnow()
        key = f"{source}:{issue_id}"
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(problems.c.id, problems.c.attempts).where(problems.c.open_key == key)).first()
            when = now + dt.timedelta(seconds=backoff((current.attempts if current else 0) + 1))
            if current is None:
                conn.execute(sa.insert(problems).values(
                    source=source, issue_id=issue_id, error=error[:200], attempts=1, first_seen_at=now, last_seen_at=now,
                    next_attempt_at=when, since=since, open_key=key,
                ))
                return 1
            conn.execute(sa.update(problems).where(problems.c.id == current.id).values(
                error=error[:200], attempts=current.attempts + 1, last_seen_at=now, next_attempt_at=when,
            ))
            return current.attempts + 1

    def resolve_problem(self, source: str, issue_id: int, now: dt.datetime | None = None) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(problems).where(problems.c.open_key == f"{source}:{issue_id}").values(resolved_at=now or utcnow(), open_key=None)
            ).rowcount == 1

    def problems(self, *, include_resolved: bool = False, source: str | None = None, due_by: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Problems, oldest first: open ones (and resolved ones if asked), of
        one source, or only those due for another try by `due_by`."""
        query = sa.select(problems).order_by(problems.c.id)
        if not include_resolved:
            query = query.where(problems.c.resolved_at.is_(None))
        if source is not None:
            query = query.where(problems.c.source == source)
        if due_by is not None:
            query = query.where(problems.c.next_attempt_at <= due_by)
        with self.engine.connect() as conn:
            return [{**r._mapping, "since": _as_utc(r.since)} for r in conn.execute(query)]

    # -- gate answers ----------------------------------------------------------------

    def remember_gate_answer(self, request_id: str, answer: str, keep_seconds: float, now: dt.datetime | None = None) -> str | None:
        """Keep the answer to a gate question, unless the question was answered
        before: then return that first answer (a replay). Answers older than
        `keep_seconds` are forgotten on the way."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(gate_answers).where(gate_answers.c.answered_at < now - dt.timedelta(seconds=keep_seconds)))
            inserted = conn.execute(
                self._insert(gate_answers)
                .values(request_id=request_id, answered_at=now, answer=answer)
                .on_conflict_do_nothing(index_elements=["request_id"])
                .returning(gate_answers.c.request_id)
            ).first()
            if inserted is not None:
                return None
            return conn.execute(sa.select(gate_answers.c.answer).where(gate_answers.c.request_id == request_id)).scalar()

    # -- roles as seen over time ------------------------------------------------------

    def observe_roles(self, project_id: int, roles_by_user: dict[int, frozenset[str]], now: dt.datetime | None = None) -> int:
        """Note the roles people hold now, where they differ from what was last
        seen. Returns how many changes were noted."""
        now = now or utcnow()
        latest = self._latest_roles(project_id)
        changed = [
            {"project_id": project_id, "user_id": user, "roles": json.dumps(sorted(roles)), "observed_at": now}
            for user, roles in roles_by_user.items()
            if latest.get(user) != frozenset(roles)
        ]
        # Someone who was a member and no longer is holds no roles now.
        changed += [
            {"project_id": project_id, "user_id": user, "roles": "[]", "observed_at": now}
            for user, roles in latest.items()
            if user not in roles_by_user and roles
        ]
        if changed:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(role_observations), changed)
        return len(changed)

    def _latest_roles(self, project_id: int) -> dict[int, frozenset[str]]:
        history = self.role_history(project_id)
        return {user: seen[-1][1] for user, seen in history.items()}

    def role_history(self, project_id: int) -> dict[int, tuple[tuple[dt.datetime, frozenset[str]], ...]]:
        """Each person's roles in the project as seen over time, oldest first."""
        query = (
            sa.select(role_observations.c.user_id, role_observations.c.roles, role_observations.c.observed_at)
            .where(role_observations.c.project_id == project_id)
            .order_by(role_observations.c.user_id, role_observations.c.observed_at, role_observations.c.id)
        )
        found: dict[int, list[tuple[dt.datetime, frozenset[str]]]] = {}
        with self.engine.connect() as conn:
            for user, roles, at in conn.execute(query):
                found.setdefault(user, []).append((_as_utc(at), frozenset(json.loads(roles))))
        return {user: tuple(seen) for user, seen in found.items()}

    # -- job runs ------------------------------------------------------------------

    def start_job(self, job: str, now: dt.datetime | None = None) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(job_runs).values(job=job, started_at=now or utcnow())).inserted_primary_key[0]

    def finish_job(self, run_id: int, ok: bool, summary: str, now: dt.datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(job_runs).where(job_runs.c.id == run_id).values(finished_at=now or utcnow(), ok=ok, summary=summary[:400]))

    def job_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(job_runs).order_by(job_runs.c.id)
        if job:
            query = query.where(job_runs.c.job == job)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- cursors ------------------------------------------------------------------

    def cursor(self, name: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            return _as_utc(conn.execute(sa.select(cursors.c.value).where(cursors.c.name == name)).scalar())

    def set_cursor(self, name: str, value: dt.datetime) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(sa.update(cursors).where(cursors.c.name == name).values(value=value)).rowcount
            if not updated:
                conn.execute(sa.insert(cursors).values(name=name, value=value))

    def iter_all(self) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(deliveries).order_by(deliveries.c.id)):
                yield {**row._mapping, "received_at": _as_utc(row.received_at)}

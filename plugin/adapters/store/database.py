"""The service's own durable state, in SQLAlchemy Core: the database, its
schema version and the migrations every process runs at start-up
(idempotently; see MIGRATIONS). SQLite file by default; PostgreSQL by URL when
several web instances share it. Each concern (the inbox, breaches, problems,
the audit log, leases, ...) has its module here, owning its tables and SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

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


# The inbox as version 3's migration sees it (its module defines the table).
_deliveries = sa.table("deliveries", sa.column("id"), sa.column("payload"), sa.column("occurred_at"), sa.column("actor_id"), sa.column("actor_login"))


def _move_payloads_to_columns(conn) -> None:
    """Version 3: keep of each stored payload only what the worker needs (the
    actor and when), and drop the rest, which held case details."""
    rows = conn.execute(sa.select(_deliveries.c.id, _deliveries.c.payload).where(_deliveries.c.payload.is_not(None))).all()
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
        conn.execute(sa.update(_deliveries).where(_deliveries.c.id == row_id).values(payload=None, **values))


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


STORE_FILE_MODE = 0o600


def _private_file(path: Path) -> None:
    """The SQLite store, for the service's own user only: it holds the audit
    log and the inbox. SQLite gives its WAL and shared-memory files the
    database file's permissions.

    An existing store is never opened here: SQLite's locks are POSIX locks,
    which a process loses on *every* descriptor of the file when it closes
    any one of them, so opening and closing the file beside a live
    connection (a second Store in the scheduler, say) let another process
    write over a transaction in flight and lost acknowledged deliveries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, STORE_FILE_MODE))
    except FileExistsError:
        pass
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


class Database:
    """The store's database: its engine, and the schema every process brings
    up to date at start-up. The tables belong to the modules beside this one
    (one per concern), which the package imports before anything migrates."""

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
            conn.execute(self.insert(schema_info).values(id=1, version=first).on_conflict_do_nothing(index_elements=["id"]))
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

    def insert(self, table: sa.Table):
        """An INSERT that can say ON CONFLICT DO NOTHING, in this store's dialect."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(table)
        if dialect == "postgresql":
            return postgresql.insert(table)
        raise RuntimeError(f"unsupported store dialect {dialect}; use SQLite or PostgreSQL")

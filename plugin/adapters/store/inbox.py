"""The inbox: accepted deliveries (unique delivery id), claimed by workers,
retried with backoff, parked when they keep failing. A row says which issue,
which save, what kind and who; never what the issue holds."""

from __future__ import annotations

import datetime as dt
import enum
import functools
from typing import Any, Mapping

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow
from plugin.domain.event import Event, EventSource, EventType


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


class Inbox:
    """The deliveries table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

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
        with self.db.engine.begin() as conn:
            return conn.execute(self._accept_statement, row).first() is not None

    @functools.cached_property

    def _accept_statement(self):
        # Built once per store, values bound at each call: every event goes
        # through here, and building the statement cost as much as running it.
        return (
            self.db.insert(deliveries)
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
        if self.db.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        expires = now + dt.timedelta(seconds=lease_seconds)
        with self.db.engine.begin() as conn:
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

    def load_event(self, row: dict[str, Any]) -> Event:
        """The event a row records, as the worker needs it: which issue, which
        save, what kind, who (the issue itself is read from Redmine)."""
        return stored_event(row)

    _UNCLAIM = dict(claimed_by=None, claim_expires=None)

    def mark_processed(self, row_id: int, outcome: str, now: dt.datetime | None = None) -> None:
        with self.db.engine.begin() as conn:
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
        with self.db.engine.begin() as conn:
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
        with self.db.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == row_id)
                .values(next_attempt_at=(now or utcnow()) + dt.timedelta(seconds=seconds), **self._UNCLAIM)
            )

    def release_claims(self, holder_prefix: str, is_dead) -> int:
        """Free the claims of workers on this host whose process has died,
        so their deliveries need not wait for the lease to lapse."""
        released = 0
        with self.db.engine.begin() as conn:
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
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries).where(deliveries.c.status == DeliveryStatus.PARKED.value).order_by(deliveries.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def retry_parked(self, row_id: int | None = None) -> int:
        """Put parked deliveries (one, or all) back in the queue with fresh attempts."""
        query = sa.update(deliveries).where(deliveries.c.status == DeliveryStatus.PARKED.value)
        if row_id is not None:
            query = query.where(deliveries.c.id == row_id)
        with self.db.engine.begin() as conn:
            return conn.execute(
                query.values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=None, **self._UNCLAIM)
            ).rowcount

    def counts(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status))
            found = {status: n for status, n in rows}
        return {s.value: found.get(s.value, 0) for s in DeliveryStatus}

    def prune_processed(self, keep_days: int, now: dt.datetime | None = None) -> int:
        """Delete the records of deliveries processed more than `keep_days`
        ago: ids only, kept for `infoshare inbox` and to recognise a late
        redelivery; what the service did is in the audit log for good."""
        cutoff = (now or utcnow()) - dt.timedelta(days=keep_days)
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.delete(deliveries).where(deliveries.c.status == DeliveryStatus.PROCESSED.value, deliveries.c.processed_at < cutoff)
            )
            return result.rowcount



def stored_event(row: Mapping[str, Any]) -> Event:
    """An event as the inbox keeps it: ids, kind and actor only. The worker
    reads the issue from Redmine (the payload only says which save to judge),
    so the inbox holds no case details."""
    occurred = row.get("occurred_at") or row.get("received_at")
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.timezone.utc)  # SQLite hands back naive times; all are UTC
    return Event(
        delivery_id=row["delivery_id"],
        source=EventSource(row["source"]),
        type=EventType(row["event_type"]),
        occurred_at=occurred,
        issue_id=row["issue_id"],
        journal_id=row.get("journal_id"),
        actor_id=row.get("actor_id"),
        actor_login=row.get("actor_login"),
    )

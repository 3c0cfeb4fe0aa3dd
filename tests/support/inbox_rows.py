"""Reading the inbox's rows in tests (and benchmarks): what was accepted,
for an issue or in all, as the service stored them."""

from __future__ import annotations

from typing import Any, Iterator

import sqlalchemy as sa

from plugin.adapters.store import Store
from plugin.adapters.store.database import as_utc
from plugin.adapters.store.inbox import DeliveryStatus, deliveries


def _rows(store: Store, query) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def pending(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries still to process, oldest first."""
    waiting = [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]
    return _rows(store, sa.select(deliveries).where(deliveries.c.status.in_(waiting)).order_by(deliveries.c.id).limit(limit))


def delivery(store: Store, delivery_id: str) -> dict[str, Any] | None:
    found = _rows(store, sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id))
    return found[0] if found else None


def for_issue(store: Store, issue_id: int) -> list[dict[str, Any]]:
    return _rows(store, sa.select(deliveries).where(deliveries.c.issue_id == issue_id).order_by(deliveries.c.id))


def every(store: Store) -> Iterator[dict[str, Any]]:
    for row in _rows(store, sa.select(deliveries).order_by(deliveries.c.id)):
        yield {**row, "received_at": as_utc(row["received_at"])}

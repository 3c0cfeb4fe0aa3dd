"""The inbox worker: drains accepted deliveries in order and hands each event to
the processor (the rule engine). A delivery that fails is retried on later
drains and parked after `inbox.max_attempts`, so one bad event never holds up
the others; later events of the same issue wait behind it within a drain, so an
issue's events are never handled out of order.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable, Protocol

from plugin.store import DeliveryStatus, Store
from schemas.events import Event

log = logging.getLogger("infoshare.inbox")


class EventProcessor(Protocol):
    def __call__(self, event: Event) -> str:
        """Handle one event; return a short outcome (no personal data)."""


@dataclasses.dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0
    parked: int = 0
    deferred: int = 0  # waiting behind an earlier failed event of the same issue

    @property
    def handled(self) -> int:
        return self.processed + self.failed + self.parked


class InboxWorker:
    def __init__(self, store: Store, process: EventProcessor, *, max_attempts: int, keep_processed_days: int):
        self.store = store
        self.process = process
        self.max_attempts = max_attempts
        self.keep_processed_days = keep_processed_days

    def drain(self, limit: int = 200) -> DrainResult:
        result = DrainResult()
        blocked_issues: set[int] = set()
        for row in self.store.pending(limit):
            extra = {"row_id": row["id"], "issue_id": row["issue_id"], "event_type": row["event_type"]}
            if row["issue_id"] in blocked_issues:
                result.deferred += 1
                continue
            try:
                outcome = self.process(self.store.load_event(row))
            except Exception as exc:  # noqa: BLE001 - any failure is recorded against the delivery
                status = self.store.mark_failed(row["id"], _describe(exc), self.max_attempts)
                blocked_issues.add(row["issue_id"])
                if status is DeliveryStatus.PARKED:
                    result.parked += 1
                    log.error("event parked after repeated failures", extra={**extra, "error_type": type(exc).__name__})
                else:
                    result.failed += 1
                    log.warning("event failed; will retry", extra={**extra, "error_type": type(exc).__name__})
                continue
            self.store.mark_processed(row["id"], outcome)
            result.processed += 1
            log.info("event processed", extra={**extra, "outcome": outcome})
        return result

    def purge(self) -> int:
        return self.store.purge_payloads(self.keep_processed_days)

    def run_forever(self, poll_seconds: float, stop: threading.Event, sleep: Callable[[float], None] | None = None) -> None:
        wait = sleep or stop.wait
        last_purge = 0.0
        while not stop.is_set():
            try:
                result = self.drain()
                if time.monotonic() - last_purge > 3600:
                    self.purge()
                    last_purge = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the store may be briefly unavailable; keep going
                log.error("inbox drain failed", extra={"error_type": type(exc).__name__})
                result = DrainResult()
            if result.handled == 0:
                wait(poll_seconds)


def _describe(exc: Exception) -> str:
    """An error description for the inbox record. Only the exception type and
    our own messages: Redmine's validation errors can quote field values."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}" + (f" ({code})" if code else "")

"""The event worker (the second enforcement point): `EventWorker` judges the
save an event names; `InboxWorker` takes accepted deliveries from the inbox
(claiming them, so several workers can share it) and hands each to it.

- An issue's events are handled one at a time, in the order they were accepted.
- A delivery that fails is tried again with growing pauses and parked after
  `inbox.max_attempts`, so one bad event never holds up the others; parked
  ones are listed by `infoshare inbox` and put back by `infoshare inbox retry`.
- While Redmine cannot be reached nothing is counted against the events: they
  wait, and are handled in order when it returns.
- A worker killed mid-event loses nothing: its claim lapses and the event is
  handled again, which the executor's checks make harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Any, Callable, Protocol

from plugin.adapters.store.leases import LeaseBusy, holder_id, holder_is_dead, holder_prefix
from plugin.adapters.redmine.client import RedmineUnavailable
from plugin.adapters.store.inbox import DeliveryStatus
from plugin.adapters.store import Store
from plugin.clock import utcnow
from plugin.domain import history
from plugin.domain.event import Event, EventType
from plugin.service.judge import Judge, Source
from plugin.service.retries import describe_error, retry_delay

log = logging.getLogger("infoshare.inbox")

class EventWorker:
    """Judges the save an event names. The issue is read from Redmine, never
    taken from the event: the event says which save to judge, not what it was."""

    def __init__(self, judge: Judge):
        self.judge = judge

    def _is_own(self, issue: dict[str, Any], event: Event) -> bool:
        bot = self.judge.redmine.service_user_id()
        if event.type is EventType.ISSUE_CREATED:
            return (issue.get("author") or {}).get("id") == bot
        journal = next((j for j in issue.get("journals") or [] if j["id"] == event.journal_id), None)
        return journal is not None and (journal.get("user") or {}).get("id") == bot

    def handle(self, event: Event) -> str:
        """The worker's processor. The issue is read from Redmine, never taken
        from the payload: the payload says which save to judge, not what it was."""
        if event.type is EventType.ISSUE_DELETED:
            return "issue deleted"
        with self.judge.leases.hold(f"issue:{event.issue_id}"):
            return self._handle(event)

    def _handle(self, event: Event) -> str:
        issue = self.judge.redmine.issue(event.issue_id)
        if issue is None:
            return "issue no longer exists"
        if self.judge.state(issue).tracker is None:
            return "tracker not handled"
        if self._is_own(issue, event):
            return "own change"
        all_changes = history.changes(issue, self.judge.redmine.names_by_id())
        return self.judge.check(issue, all_changes, history.for_journal(all_changes, event.journal_id), Source.EVENT).outcome


# Seconds to leave Redmine alone after it could not be reached.
OUTAGE_PAUSE = 5.0
# Seconds before a delivery whose issue is busy elsewhere is tried again.
BUSY_PAUSE = 2.0


class EventProcessor(Protocol):
    def __call__(self, event: Event) -> str:
        """Handle one event; return a short outcome (no personal data)."""


@dataclasses.dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0
    parked: int = 0
    postponed: int = 0  # Redmine unreachable, or the issue busy elsewhere
    redmine_unavailable: bool = False

    @property
    def handled(self) -> int:
        return self.processed + self.failed + self.parked


class InboxWorker:
    def __init__(
        self,
        store: Store,
        process: EventProcessor,
        *,
        max_attempts: int,
        keep_processed_days: int,
        lease_seconds: float = 120,
        batch: int = 20,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.store = store
        self.process = process
        self.max_attempts = max_attempts
        self.keep_processed_days = keep_processed_days
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.clock = clock or utcnow

    def drain(self) -> DrainResult:
        """Take one batch and handle it."""
        result = DrainResult()
        worker = holder_id()
        now = self.clock()
        rows = self.store.inbox.claim(worker, limit=self.batch, lease_seconds=self.lease_seconds, now=now)
        for index, row in enumerate(rows):
            extra = {"row_id": row["id"], "issue_id": row["issue_id"], "event_type": row["event_type"]}
            try:
                outcome = self.process(self.store.inbox.load_event(row))
            except RedmineUnavailable:
                # Hand back this and the rest of the batch untried.
                for pending in rows[index:]:
                    self.store.inbox.postpone(pending["id"], OUTAGE_PAUSE, now=now)
                result.postponed += len(rows) - index
                result.redmine_unavailable = True
                log.warning("redmine unavailable; events wait", extra={**extra, "count": len(rows) - index})
                return result
            except LeaseBusy:
                self.store.inbox.postpone(row["id"], BUSY_PAUSE, now=now)
                result.postponed += 1
                continue
            except Exception as exc:  # noqa: BLE001 - any other failure is the event's, recorded against it
                status = self.store.inbox.mark_failed(row["id"], describe_error(exc), self.max_attempts, retry_in=retry_delay(row["attempts"] + 1), now=now)
                if status is DeliveryStatus.PARKED:
                    result.parked += 1
                    log.error("event parked after repeated failures", extra={**extra, "error_type": type(exc).__name__})
                else:
                    result.failed += 1
                    log.warning("event failed; will retry", extra={**extra, "error_type": type(exc).__name__})
                continue
            self.store.inbox.mark_processed(row["id"], outcome, now=now)
            result.processed += 1
            log.info("event processed", extra={**extra, "outcome": outcome})
        return result

    def drain_all(self, max_rounds: int = 1000) -> DrainResult:
        """Drain until nothing is claimable now (for `worker --once`)."""
        total = DrainResult()
        for _ in range(max_rounds):
            result = self.drain()
            for field in ("processed", "failed", "parked", "postponed"):
                setattr(total, field, getattr(total, field) + getattr(result, field))
            if result.redmine_unavailable or (result.handled == 0 and result.postponed == 0):
                total.redmine_unavailable = result.redmine_unavailable
                return total
        return total

    def recover(self) -> int:
        """At start-up: free the claims of dead workers on this host."""
        return self.store.inbox.release_claims(holder_prefix(), holder_is_dead)

    def prune(self) -> int:
        return self.store.inbox.prune_processed(self.keep_processed_days)

    def run_forever(self, poll_seconds: float, stop: threading.Event, sleep: Callable[[float], None] | None = None) -> None:
        wait = sleep or stop.wait
        self.recover()
        last_prune = 0.0
        while not stop.is_set():
            try:
                result = self.drain()
                if time.monotonic() - last_prune > 3600:
                    self.prune()
                    last_prune = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the store may be briefly unavailable; keep going
                log.error("inbox drain failed", extra={"error_type": type(exc).__name__})
                result = DrainResult()
            if result.redmine_unavailable:
                wait(OUTAGE_PAUSE)
            elif result.handled == 0:
                wait(poll_seconds)

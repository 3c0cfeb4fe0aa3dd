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
from typing import Callable, Protocol

from plugin.adapters.store.leases import LeaseBusy, holder_id, holder_is_dead, holder_prefix
from plugin.adapters.redmine.client import RedmineUnavailable
from plugin.adapters.store.inbox import DeliveryStatus
from plugin.adapters.store import Store
from plugin.clock import utcnow
from plugin.domain import history
from plugin.domain.event import Event, EventSource, EventType
from plugin.service.judge import Judge, Source
from plugin.service.retries import describe_error, retry_delay

log = logging.getLogger("infoshare.inbox")

class EventWorker:
    """Judges the saves an event tells of. The issue is read from Redmine,
    never taken from the event: the event says that the issue changed, not
    what it holds.

    Every save after the last one judged for the issue is judged, not only
    the one the event names: Redmine 7's webhooks may name no journal (a save
    Redmine journals nothing of, or a journal its owner may not see), or only
    the private-notes half of a save Redmine split in two, and a delivery
    Redmine dropped is never sent again. Saves already judged are not judged
    again, and neither are the service's own."""

    def __init__(self, judge: Judge):
        self.judge = judge

    def handle(self, event: Event) -> str:
        if event.type is EventType.ISSUE_DELETED:
            if not self.judge.dry_run:
                self.judge.store.judged.forget(event.issue_id)
            return "issue deleted"
        with self.judge.leases.hold(f"issue:{event.issue_id}"):
            return self._handle(event)

    def _handle(self, event: Event) -> str:
        issue = self.judge.redmine.issue(event.issue_id)
        if issue is None:
            return "issue no longer exists"
        if self.judge.state(issue).tracker is None:
            return "tracker not handled"
        all_changes = history.changes(issue, self.judge.redmine.names_by_id())
        last = self.judge.store.judged.last(issue["id"])
        unjudged = history.after(all_changes, last.journal_id if last else None)
        bot = self.judge.redmine.service_user_id()
        theirs = [c for c in unjudged if c.user_id != bot]
        if unjudged and not theirs:
            outcome = "own change"
        elif not unjudged and self._names_own_save(all_changes, event, bot):
            return "own change"
        else:
            outcome = self.judge.check(issue, all_changes, theirs, Source.EVENT).outcome
        self.judge.judged_to_the_end(issue, all_changes)
        return outcome

    @staticmethod
    def _names_own_save(all_changes: list[history.Change], event: Event, bot: int) -> bool:
        """The event is of the service's own save (judged or not, it acts on
        nothing): the creation or the journal it names is the service's."""
        named = next((c for c in all_changes if c.journal_id == event.journal_id), None) if event.type is not EventType.ISSUE_CREATED else all_changes[0]
        return named is not None and named.user_id == bot


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
    native: int = 0  # of the processed, Redmine 7 deliveries
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
        after_native: Callable[[], None] | None = None,
    ):
        self.store = store
        self.process = process
        self.max_attempts = max_attempts
        self.keep_processed_days = keep_processed_days
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.clock = clock or utcnow
        # Called after a batch with a Redmine 7 delivery in it: Redmine 7
        # never sends a delivery again, so each one it does send prompts a
        # look for the saves whose deliveries it dropped.
        self.after_native = after_native

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
            result.native += row["source"] == EventSource.REDMINE_NATIVE.value
            log.info("event processed", extra={**extra, "outcome": outcome})
        if result.native and self.after_native is not None:
            try:
                self.after_native()
            except Exception as exc:  # noqa: BLE001 - the periodic pass will look again
                log.warning("prompted reconcile failed", extra={"error_type": type(exc).__name__})
        return result

    def drain_all(self, max_rounds: int = 1000) -> DrainResult:
        """Drain until nothing is claimable now (for `worker --once`)."""
        total = DrainResult()
        for _ in range(max_rounds):
            result = self.drain()
            for field in ("processed", "failed", "parked", "postponed", "native"):
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

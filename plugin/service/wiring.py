"""Wiring: the store, Redmine adapter, executor, judge, workers and jobs a
process needs, built from the configuration (never at import time). The one
place that puts the parts together; the command line, the scheduler and the
web app each ask it for what they run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Callable

from plugin.adapters.redmine.adapter import RedmineAdapter
from plugin.adapters.redmine.client import make_redmine
from plugin.adapters.redmine.port import RedminePort
from plugin.adapters.store import Store
from plugin.adapters.store.audit import AuditLog, EntryKind
from plugin.clock import utcnow
from plugin.domain.configuration import Config
from plugin.service.event_worker import EventWorker, InboxWorker
from plugin.service.executor import PrintingExecutor, RedmineExecutor
from plugin.service.jobs.approval_reminders import ApprovalReminders
from plugin.service.jobs.escalation_timers import EscalationTimers
from plugin.service.jobs.incident_deadlines import IncidentDeadlines
from plugin.service.jobs.timeliness import Timeliness
from plugin.service.jobs.retention_reviews import RetentionReviews
from plugin.service.judge import JobBusy, Judge, lease_guard
from plugin.service.reconciler import Reconciler

log = logging.getLogger("infoshare.inbox")


@dataclasses.dataclass
class Services:
    config: Config
    store: Store
    redmine: RedminePort
    judge: Judge
    events: EventWorker
    reconciler: Reconciler
    approvals: ApprovalReminders
    retention: RetentionReviews
    escalations: EscalationTimers
    incidents: IncidentDeadlines
    timeliness: Timeliness

    @property
    def audit(self) -> AuditLog:
        return self.store.audit

    def inbox_worker(self, *, prompts_in_background: bool = True) -> InboxWorker:
        """`prompts_in_background` False for a worker that drains once and
        exits: its prompted pass must end before it does."""
        inbox = self.config.inbox
        return InboxWorker(
            self.store,
            self.events.handle,
            max_attempts=inbox.max_attempts,
            keep_processed_days=inbox.keep_processed_days,
            after_native=PromptedReconcile(self.reconciler, in_background=prompts_in_background),
        )


class PromptedReconcile:
    """A reconciler pass prompted by a Redmine 7 delivery, at most one every
    GAP_SECONDS (a burst of deliveries prompts one), skipped when a pass is
    already running. A pass with nothing new costs one Redmine request.

    In the background (a long-running worker) the pass runs on a thread of
    its own, so the deliveries that come meanwhile are judged without waiting
    for it, however much the pass has to read; a prompt within the gap is
    kept and served when the gap ends. In the foreground (`worker --once`)
    the pass runs before the prompt returns and one within the gap is left
    to the periodic pass."""

    GAP_SECONDS = 5.0

    def __init__(self, reconciler: Reconciler, monotonic: Callable[[], float] = time.monotonic, *, in_background: bool = False,
                 sleep: Callable[[float], None] = time.sleep):
        self.reconciler = reconciler
        self.monotonic = monotonic
        self.in_background = in_background
        self.sleep = sleep
        self.last: float | None = None
        self._changed = threading.Condition()
        self._pending = False  # a prompt not yet served
        self._running = False
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        if not self.in_background:
            if self.last is None or self.monotonic() - self.last >= self.GAP_SECONDS:
                self._run_pass()
            return
        with self._changed:
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="prompted-reconcile", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once every prompt so far has been served."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._running, timeout)

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending)
            if self.last is not None:
                self.sleep(max(0.0, self.GAP_SECONDS - (self.monotonic() - self.last)))
            with self._changed:
                self._pending = False  # a prompt from here on wants another pass
                self._running = True
            try:
                self._run_pass()
            finally:
                with self._changed:
                    self._running = False
                    self._changed.notify_all()

    def _run_pass(self) -> None:
        self.last = self.monotonic()
        try:
            self.reconciler.run()
        except JobBusy:
            pass  # the running pass looks at the same window
        except Exception as exc:  # noqa: BLE001 - the periodic pass will look again
            log.warning("prompted reconcile failed", extra={"error_type": type(exc).__name__})


def disposal_recorder(audit: AuditLog):
    """Writes the disposal record (R-RETENTION) before a request is deleted."""

    def record(disposal: dict) -> None:
        audit.append(EntryKind.DISPOSAL, source="retention", issue_id=disposal.get("request_id"), rule="R-RETENTION", detail=disposal)

    return record


def redaction_recorder(audit: AuditLog):
    """Records each history rewrite (R-RETENTION) before Redmine is asked for it."""

    def record(issue_id: int, counts: dict) -> None:
        audit.append(EntryKind.REDACTION, source="retention", issue_id=issue_id, rule="R-RETENTION", detail=counts)

    return record


def assemble(
    config: Config,
    redmine: RedminePort,
    store: Store,
    *,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
    clock: Callable[[], dt.datetime] = utcnow,
    executor: RedmineExecutor | None = None,
) -> Services:
    """The parts on a given Redmine port and store (the running service's, or
    a test's fake Redmine, with an executor of the test's own if it has one)."""
    if executor is None:
        guard = lease_guard(store)
        if dry_run:
            executor = PrintingExecutor(redmine, config, echo=echo, guard=guard)
        else:
            executor = RedmineExecutor(
                redmine, config, on_disposal=disposal_recorder(store.audit), guard=guard, on_redaction=redaction_recorder(store.audit)
            )
    judge = Judge(config, redmine, store, executor, clock=clock, echo=echo)
    return Services(
        config,
        store,
        redmine,
        judge,
        EventWorker(judge),
        Reconciler(judge),
        ApprovalReminders(judge),
        RetentionReviews(judge),
        EscalationTimers(judge),
        IncidentDeadlines(judge),
        Timeliness(judge),
    )


def build_services(config: Config, *, dry_run: bool = False, echo: Callable[[str], None] = print) -> Services:
    store = Store(config.service.database_url)
    store.migrate()
    return assemble(config, RedmineAdapter(make_redmine(config.redmine), config), store, dry_run=dry_run, echo=echo)

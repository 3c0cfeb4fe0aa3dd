"""Wiring: the store, Redmine adapter, executor, judge, workers and jobs a
process needs, built from the configuration (never at import time). The one
place that puts the parts together; the command line, the scheduler and the
web app each ask it for what they run."""

from __future__ import annotations

import dataclasses
import datetime as dt
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

    def inbox_worker(self) -> InboxWorker:
        inbox = self.config.inbox
        return InboxWorker(
            self.store,
            self.events.handle,
            max_attempts=inbox.max_attempts,
            keep_processed_days=inbox.keep_processed_days,
            after_native=PromptedReconcile(self.reconciler),
        )


class PromptedReconcile:
    """A reconciler pass prompted by a Redmine 7 delivery, at most one every
    GAP_SECONDS (a burst of deliveries prompts one), skipped when a pass is
    already running. A pass with nothing new costs one Redmine request."""

    GAP_SECONDS = 5.0

    def __init__(self, reconciler: Reconciler, monotonic: Callable[[], float] = time.monotonic):
        self.reconciler = reconciler
        self.monotonic = monotonic
        self.last: float | None = None

    def __call__(self) -> None:
        now = self.monotonic()
        if self.last is not None and now - self.last < self.GAP_SECONDS:
            return
        self.last = now
        try:
            self.reconciler.run()
        except JobBusy:
            pass  # the running pass looks at the same window


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

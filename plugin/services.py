"""Wiring: the store, audit log, Redmine adapter, executor and enforcer a
process needs, built from the configuration (never at import time)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from plugin.audit import AuditLog, EntryKind
from plugin.enforcement import Enforcer
from plugin.executor import PrintingExecutor, RedmineExecutor
from plugin.inbox import InboxWorker
from plugin.redmine.adapter import RedmineAdapter
from plugin.redmine.client import make_redmine
from plugin.store import Store
from schemas.config import Config


@dataclasses.dataclass
class Services:
    config: Config
    store: Store
    audit: AuditLog
    redmine: RedmineAdapter
    enforcer: Enforcer

    def inbox_worker(self) -> InboxWorker:
        inbox = self.config.inbox
        return InboxWorker(self.store, self.enforcer.handle_event, max_attempts=inbox.max_attempts, keep_processed_days=inbox.keep_processed_days)


def disposal_recorder(audit: AuditLog):
    """Writes the disposal record (R-RETENTION) before a request is deleted."""

    def record(disposal: dict) -> None:
        audit.append(EntryKind.DISPOSAL, source="retention", issue_id=disposal.get("request_id"), rule="R-RETENTION", detail=disposal)

    return record


def build_services(config: Config, *, dry_run: bool = False, echo: Callable[[str], None] = print) -> Services:
    store = Store(config.service.database_url)
    store.migrate()
    audit = AuditLog(store)
    redmine = RedmineAdapter(make_redmine(config.redmine), config)
    executor = PrintingExecutor(redmine, config, echo=echo) if dry_run else RedmineExecutor(redmine, config, on_disposal=disposal_recorder(audit))
    enforcer = Enforcer(config, redmine, store, executor, audit=audit, echo=echo)
    return Services(config, store, audit, redmine, enforcer)

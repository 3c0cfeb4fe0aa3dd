"""The service's own durable state: one database, one module per concern,
each owning its tables and SQL, and `Store`, which gives a process all of
them on one database."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from plugin.adapters.store.audit import AuditLog
from plugin.adapters.store.breaches import Breaches
from plugin.adapters.store.cursors import Cursors
from plugin.adapters.store.database import Database
from plugin.adapters.store.gate_answers import GateAnswers
from plugin.adapters.store.inbox import Inbox
from plugin.adapters.store.job_runs import JobRuns
from plugin.adapters.store.judged import JudgedSaves
from plugin.adapters.store.leases import Leases
from plugin.adapters.store.problems import Problems
from plugin.adapters.store.roles import RoleObservations
from plugin.adapters.store.wakes import SweepWakes


class Store:
    """Every concern of the store, on one database (importing them all first,
    so that migrating creates every table)."""

    def __init__(self, url: str, engine: Engine | None = None):
        self.db = Database(url, engine)
        self.inbox = Inbox(self.db)
        self.breaches = Breaches(self.db)
        self.problems = Problems(self.db)
        self.cursors = Cursors(self.db)
        self.job_runs = JobRuns(self.db)
        self.roles = RoleObservations(self.db)
        self.gate_answers = GateAnswers(self.db)
        self.audit = AuditLog(self.db)
        self.leases = Leases(self.db)
        self.judged = JudgedSaves(self.db)
        self.wakes = SweepWakes(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def migrate(self) -> None:
        self.db.migrate()
        self.audit.ensure_head()

    def safe_url(self) -> str:
        return self.db.safe_url()

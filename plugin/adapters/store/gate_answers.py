"""The gate's answers to refused (and bypassed) questions, kept for the
timestamp window so that a replay is answered once."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow

# The gate's refusals (and administrators' bypasses), by the shim's request
# id, for the timestamp window: a replayed question gets the first answer and
# leaves no second audit entry. Allowed saves are not kept (nothing is
# audited for them, and deciding again gives the same answer).
gate_answers = sa.Table(
    "gate_answers",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),  # the JSON sent back: allow, violations (rule messages, no case details)
    sa.Index("ix_gate_answers_at", "answered_at"),
)


class GateAnswers:
    """The gate_answers table and its SQL."""

    def __init__(self, db: Database):
        self.db = db

    def remember(self, request_id: str, answer: str, keep_seconds: float, now: dt.datetime | None = None) -> str | None:
        """Keep the answer to a gate question, unless the question was answered
        before: then return that first answer (a replay). Answers older than
        `keep_seconds` are forgotten on the way."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            conn.execute(sa.delete(gate_answers).where(gate_answers.c.answered_at < now - dt.timedelta(seconds=keep_seconds)))
            inserted = conn.execute(
                self.db.insert(gate_answers)
                .values(request_id=request_id, answered_at=now, answer=answer)
                .on_conflict_do_nothing(index_elements=["request_id"])
                .returning(gate_answers.c.request_id)
            ).first()
            if inserted is not None:
                return None
            return conn.execute(sa.select(gate_answers.c.answer).where(gate_answers.c.request_id == request_id)).scalar()

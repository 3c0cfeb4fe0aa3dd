"""The audit log (R-AUDIT; Buckinghamshire code section 5: breaches are
collated): every verdict the service acts on, every action it takes and every
breach, append-only and hash-chained.

Each entry's hash covers its own content and the previous entry's hash, and a
one-row head records the last sequence number and hash, so `verify` finds an
entry that was changed, removed (in the middle or at the end), inserted or
reordered, and names the first one. Entries hold ids, rule ids and outcomes;
never field values. A chain only proves integrity against someone who cannot
rewrite all of it: sites that need more copy the head hash `verify` prints to
somewhere else (a ticket, a log server) now and then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any, Iterator

import sqlalchemy as sa

from plugin.adapters.store.database import Database, metadata
from plugin.clock import utcnow

# The log's entries. `recorded_at` is ISO text so it is
# hashed exactly as stored.
GENESIS = "0" * 64

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("source", sa.String(30), nullable=False),
    sa.Column("issue_id", sa.Integer, nullable=True),
    sa.Column("rule", sa.String(20), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_issue", "issue_id"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

class EntryKind:
    VERDICT = "verdict"  # a verdict acted on: a gate refusal, violations or actions found
    ACTION = "action"  # something the service did in Redmine
    BREACH = "breach"  # a violation that got past the gate
    BREACH_RESOLVED = "breach_resolved"
    GATE_BYPASS = "gate_bypass"  # a save allowed despite violations (an administrator's)
    DISPOSAL = "disposal"  # a request destroyed after a retention review (ids, category, dates, who)
    # A ticket's history rewritten by the service (R-RETENTION: only the
    # service may), written before Redmine is asked: counts, never values.
    REDACTION = "redaction"
    # A gate answer given after the shim's timeout: Redmine had already applied
    # its fail mode, so the answer (a refusal, say) did not take effect.
    GATE_LATE = "gate_late"


def _canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + "|" + _canonical(entry)).encode("ascii")).hexdigest()


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("seq", "recorded_at", "kind", "source", "issue_id", "rule", "detail")}


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


class AuditLog:
    def __init__(self, db: Database):
        self.db = db

    def ensure_head(self) -> None:
        """The head row of an empty log (at start-up, after migrating)."""
        with self.db.engine.begin() as conn:
            conn.execute(self.db.insert(audit_head).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"]))

    def append(
        self,
        kind: str,
        *,
        source: str,
        issue_id: int | None = None,
        rule: str | None = None,
        detail: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """Append one entry; returns its sequence number. Safe with several
        writers: the head row is locked (SQLite: the database write lock;
        PostgreSQL: the row lock) for the length of the append."""
        detail_text = _canonical(detail or {})
        recorded_at = (now or utcnow()).astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
        with self.db.engine.begin() as conn:
            # Taking the write lock first serialises concurrent appends.
            conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))
            head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
            content = {
                "seq": head.seq + 1,
                "recorded_at": recorded_at,
                "kind": kind,
                "source": source,
                "issue_id": issue_id,
                "rule": rule,
                "detail": detail_text,
            }
            digest = entry_hash(head.hash, content)
            conn.execute(sa.insert(audit_log).values(**content, prev_hash=head.hash, hash=digest))
            conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=content["seq"], hash=digest))
            return content["seq"]

    def entries(self, issue_id: int | None = None, kind: str | None = None) -> Iterator[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.seq)
        if issue_id is not None:
            query = query.where(audit_log.c.issue_id == issue_id)
        if kind is not None:
            query = query.where(audit_log.c.kind == kind)
        with self.db.engine.connect() as conn:
            for row in conn.execute(query):
                entry = dict(row._mapping)
                entry["detail"] = json.loads(entry["detail"])
                yield entry

    def verify(self) -> VerifyResult:
        expected_seq, prev = 1, GENESIS
        with self.db.engine.connect() as conn:
            head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
            rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq))
            for row in rows:
                entry = dict(row._mapping)
                seq = entry["seq"]
                if seq != expected_seq:
                    return VerifyResult(False, expected_seq - 1, prev, expected_seq, f"entry {expected_seq} is missing: it was removed")
                if entry["prev_hash"] != prev:
                    return VerifyResult(False, seq - 1, prev, seq, f"entry {seq} does not follow entry {seq - 1}: entries were reordered or inserted")
                if entry_hash(prev, _content(entry)) != entry["hash"]:
                    return VerifyResult(False, seq - 1, prev, seq, f"entry {seq} was changed: its content no longer matches its hash")
                prev = entry["hash"]
                expected_seq += 1
        count = expected_seq - 1
        head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
        if head_seq != count or head_hash != prev:
            return VerifyResult(
                False, count, prev, count + 1, f"the log ends at entry {count} but its head records entry {head_seq}: entries after {count} were removed"
            )
        return VerifyResult(True, count, prev)

"""The hash-chained audit log and its verification."""

from __future__ import annotations

import sqlalchemy as sa

from plugin.adapters.store.audit import EntryKind
from plugin.adapters.store.audit import audit_head, audit_log


def filled(store, n=5):
    log = store.audit
    for i in range(n):
        log.append(EntryKind.ACTION, source="event", issue_id=i + 1, rule="R-DECISION", detail={"n": i})
    return log


def test_a_clean_log_verifies(store):
    log = filled(store)
    result = log.verify()
    assert result.ok and result.entries == 5 and len(result.head_hash) == 64
    assert [e["seq"] for e in log.entries()] == [1, 2, 3, 4, 5]
    assert [e["detail"] for e in log.entries(issue_id=3)] == [{"n": 2}]


def test_an_empty_log_verifies(store):
    assert store.audit.verify().ok


def _execute(store, stmt):
    with store.engine.begin() as conn:
        conn.execute(stmt)


def test_a_changed_entry_is_named(store):
    log = filled(store)
    _execute(store, sa.update(audit_log).where(audit_log.c.seq == 3).values(detail='{"n":99}'))
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3 and result.entries == 2
    assert result.problem == "entry 3 was changed: its content no longer matches its hash"


def test_a_removed_entry_is_named(store):
    log = filled(store)
    _execute(store, sa.delete(audit_log).where(audit_log.c.seq == 2))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "entry 2 is missing" in result.problem


def test_removing_the_last_entries_is_detected(store):
    log = filled(store)
    _execute(store, sa.delete(audit_log).where(audit_log.c.seq >= 4))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "entries after 3 were removed" in result.problem


def test_reordered_entries_are_detected(store):
    log = filled(store)
    with store.engine.begin() as conn:
        rows = {r.seq: dict(r._mapping) for r in conn.execute(sa.select(audit_log).where(audit_log.c.seq.in_([2, 3])))}
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq.in_([2, 3])))
        conn.execute(sa.insert(audit_log).values({**rows[3], "seq": 2}))
        conn.execute(sa.insert(audit_log).values({**rows[2], "seq": 3}))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "does not follow entry 1" in result.problem


def test_a_rewritten_hash_is_still_caught_by_the_next_link(store):
    log = filled(store)
    _execute(store, sa.update(audit_log).where(audit_log.c.seq == 2).values(detail='{"n":7}', hash="f" * 64))
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_appends_continue_the_chain(store):
    log = filled(store, 2)
    with store.engine.connect() as conn:
        head = conn.execute(sa.select(audit_head)).one()
    assert head.seq == 2
    seq = log.append(EntryKind.BREACH, source="reconciler")
    assert seq == 3 and log.verify().ok

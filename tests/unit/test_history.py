"""Rebuilding an issue's past states from its journals."""

from __future__ import annotations

import datetime as dt

from plugin.domain import history
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey, issue_state
from tests.unit.fakes import FakeRedmine
from tests.unit.policy.helpers import CONFIG, INTAKE

F = FieldKey


def value(issue, key):
    return next(cf["value"] for cf in issue["custom_fields"] if cf["name"] == CONFIG.names.field(key))


def test_each_save_is_rebuilt_with_its_before_and_after():
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create(dict(INTAKE))
    j1 = redmine.edit(issue_id, 10, values={F.URGENCY: "Red"}, status=StatusKey.ASSESSING)
    j2 = redmine.edit(issue_id, 11, values={F.URGENCY: "Green", F.DECISION: "Share"}, assigned_to_id=50)
    j3 = redmine.edit(issue_id, 12, notes="just a note")
    changes = history.changes(redmine.issue(issue_id), redmine.names_by_id())

    assert [c.journal_id for c in changes] == [None, j1, j2, j3]
    creation, first, second, note = changes
    assert creation.is_creation and creation.before is None and creation.user_id == 10
    assert value(creation.after, F.URGENCY) == "Amber"
    assert creation.after["status"] == {"id": 1, "name": "Received"}
    assert value(first.after, F.URGENCY) == "Red" and first.after["status"]["name"] == "Assessing"
    assert first.before == creation.after
    assert value(second.after, F.DECISION) == "Share" and value(second.before, F.DECISION) is None
    assert "assigned_to" not in second.before and second.after["assigned_to"]["id"] == 50
    assert note.before == note.after
    assert note.user_id == 12 and note.at > second.at


def test_multiple_values_are_rebuilt_one_at_a_time():
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create({**INTAKE, F.STATUTORY_POWER: ["Children Act 1989 s47"]})
    redmine.edit(issue_id, 10, values={F.STATUTORY_POWER: ["Children Act 1989 s17", "Court order"]})
    creation, change = history.changes(redmine.issue(issue_id), redmine.names_by_id())
    assert value(creation.after, F.STATUTORY_POWER) == ["Children Act 1989 s47"]
    assert sorted(value(change.after, F.STATUTORY_POWER)) == ["Children Act 1989 s17", "Court order"]


def test_undo_handles_attributes_and_unknown_details():
    after = {"id": 1, "status": {"id": 2}, "subject": "new", "custom_fields": [{"id": 3, "name": "X", "value": "b"}], "parent": {"id": 7}}
    before = history.undo(
        after,
        [
            {"property": "attr", "name": "subject", "old_value": "old", "new_value": "new"},
            {"property": "attr", "name": "parent_id", "old_value": None, "new_value": "7"},
            {"property": "attr", "name": "status_id", "old_value": "1", "new_value": "2"},
            {"property": "cf", "name": "99", "old_value": "gone", "new_value": "field no longer exists"},
            {"property": "attachment", "name": "5", "old_value": None, "new_value": "report.pdf"},
            {"property": "cf", "name": "3", "old_value": "a", "new_value": "b"},
        ],
        {"status": {1: "Received"}},
    )
    assert before["subject"] == "old" and "parent" not in before
    assert before["status"] == {"id": 1, "name": "Received"}
    assert before["custom_fields"][0]["value"] == "a"
    assert after["subject"] == "new"  # the input is not changed


def test_choosing_saves():
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create(dict(INTAKE))
    j1 = redmine.edit(issue_id, 10, notes="one")
    j2 = redmine.edit(issue_id, 10, notes="two")
    changes = history.changes(redmine.issue(issue_id), redmine.names_by_id())
    assert history.after(changes, None) == changes  # nothing judged yet: every save
    assert [c.journal_id for c in history.after(changes, history.CREATION_MARK)] == [j1, j2]
    assert [c.journal_id for c in history.after(changes, j1)] == [j2]
    assert history.after(changes, j2) == []
    assert history.judged_mark(changes) == j2
    assert history.judged_mark(changes[:1]) == history.CREATION_MARK
    assert history.since(changes, changes[1].at) == changes[1:]
    assert history.since(changes, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)) == changes


def test_steps_read_each_state_once_and_undo_leaves_the_current_issue_alone():
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create(dict(INTAKE))
    for n in range(5):
        redmine.edit(issue_id, 10, values={F.URGENCY: ["Red", "Green"][n % 2]})
    issue = redmine.issue(issue_id)
    snapshot = repr({k: v for k, v in issue.items() if k != "journals"})
    changes = history.changes(issue, redmine.names_by_id())
    reads = []

    def read(state, **layout):
        reads.append(state)
        return issue_state(state, **CONFIG.names.key_maps(), **layout)

    steps = history.to_steps(changes, read)
    assert len(steps) == 6 and len(reads) == 6  # six distinct states, not eleven reads
    assert [s.key for s in steps] == ["created", *(str(c.journal_id) for c in changes[1:])]
    assert all(a.after is b.before for a, b in zip(steps, steps[1:]))
    assert repr({k: v for k, v in issue.items() if k != "journals"}) == snapshot  # the shallow copies did not leak

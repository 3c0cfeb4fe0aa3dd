"""The executor: only what differs is sent, in one update, and twice is once."""

from __future__ import annotations

from plugin.service.executor import PrintingExecutor, RedmineExecutor, note_marker
from plugin.policy.model import AssignTo, ChangeStatus, Once, SetFields
from plugin.domain.names import GroupKey, StatusKey
from plugin.domain.record import FieldKey
from tests.unit.fakes import BOT_ID, FakeRedmine
from tests.unit.policy.helpers import CONFIG, INTAKE

F = FieldKey
ACTIONS = (
    SetFields(((F.APPROVAL_REQUIRED, "1"), (F.APPROVAL_REASON, "entitlement in doubt"))),
    ChangeStatus(StatusKey.AWAITING_APPROVAL),
    AssignTo(group=GroupKey.MASH_MANAGERS),
    Once("approval-requested", "Approval requested."),
)


def setup():
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create(dict(INTAKE))
    return redmine, issue_id, RedmineExecutor(redmine, CONFIG)


def test_all_actions_go_in_one_update():
    redmine, issue_id, executor = setup()
    outcomes = executor.apply(redmine.issue(issue_id), ACTIONS)
    assert [o.status for o in outcomes] == ["applied"] * 4
    ((updated_id, attributes),) = redmine.updates
    assert updated_id == issue_id
    assert attributes["status_id"] == 3 and attributes["assigned_to_id"] == 50
    assert attributes["private_notes"] is True
    assert attributes["notes"] == "Approval requested.\n\n" + note_marker("approval-requested")
    assert {cf["value"] for cf in attributes["custom_fields"]} == {"1", "entitlement in doubt"}
    assert redmine.value(issue_id, F.APPROVAL_REQUIRED) == "1"


def test_applying_twice_changes_nothing_the_second_time():
    redmine, issue_id, executor = setup()
    executor.apply(redmine.issue(issue_id), ACTIONS)
    outcomes = executor.apply(redmine.issue(issue_id), ACTIONS)
    assert [o.status for o in outcomes] == ["already"] * 4
    assert len(redmine.updates) == 1


def test_a_note_is_recognised_by_its_marker_only_on_the_services_own_journals():
    redmine, issue_id, executor = setup()
    # A person quoting the marker does not stop the service's note.
    redmine.edit(issue_id, 10, notes="as it said: " + note_marker("k"))
    assert executor.apply(redmine.issue(issue_id), [Once("k", "text")])[0].status == "applied"
    redmine2, issue2, executor2 = setup()
    redmine2.edit(issue2, BOT_ID, notes="earlier\n\n" + note_marker("k"))
    assert executor2.apply(redmine2.issue(issue2), [Once("k", "text")])[0].status == "already"


def test_the_same_note_twice_in_one_plan_is_posted_once():
    redmine, issue_id, executor = setup()
    outcomes = executor.apply(redmine.issue(issue_id), [Once("k", "a"), Once("k", "a"), Once("j", "b")])
    assert [o.status for o in outcomes] == ["applied", "already", "applied"]
    assert redmine.updates[0][1]["notes"].count("[infoshare:") == 2


def test_what_cannot_be_done_is_skipped_with_a_reason():
    redmine, issue_id, executor = setup()
    redmine.issues[issue_id]["custom_fields"] = [cf for cf in redmine.issues[issue_id]["custom_fields"] if cf["name"] != "Approval reason"]
    outcomes = executor.apply(
        redmine.issue(issue_id),
        [SetFields(((F.APPROVAL_REQUIRED, "1"), (F.APPROVAL_REASON, "x"))), AssignTo(group=GroupKey.HEADS_OF_SERVICE)],
    )
    assert outcomes[0].status == "skipped" and "approval_reason" in outcomes[0].reason
    assert outcomes[1].status == "applied"
    assert "custom_fields" not in redmine.updates[0][1]  # a skipped SetFields sends nothing
    # A group that is not a project member cannot be assigned.
    redmine.group_id = lambda project_id, name: None
    skipped = executor.apply(redmine.issue(issue_id), [AssignTo(group=GroupKey.HEADS_OF_SERVICE)])[0]
    assert skipped.status == "skipped" and "not a member" in skipped.reason


def test_lists_compare_regardless_of_order_and_blanks_are_equal():
    redmine, issue_id, executor = setup()
    redmine.edit(issue_id, 10, values={F.STATUTORY_POWER: ["Court order", "Children Act 1989 s47"]})
    same = SetFields(((F.STATUTORY_POWER, ["Children Act 1989 s47", "Court order"]), (F.APPROVAL_NOTES, None)))
    assert executor.apply(redmine.issue(issue_id), [same])[0].status == "already"


def test_assign_to_a_user():
    redmine, issue_id, executor = setup()
    assert executor.apply(redmine.issue(issue_id), [AssignTo(user_id=11)])[0].status == "applied"
    assert executor.apply(redmine.issue(issue_id), [AssignTo(user_id=11)])[0].status == "already"


def test_outcomes_describe_themselves_without_values():
    redmine, issue_id, executor = setup()
    described = [o.describe() for o in executor.apply(redmine.issue(issue_id), ACTIONS)]
    assert described[0] == {"action": "SetFields", "status": "applied", "fields": ["approval_required", "approval_reason"]}
    assert described[1] == {"action": "ChangeStatus", "status": "applied", "to_status": "awaiting_approval"}
    assert described[2] == {"action": "AssignTo", "status": "applied", "group": "mash_managers", "user_id": None}
    assert described[3] == {"action": "Once", "status": "applied", "once": "approval-requested"}
    assert "entitlement in doubt" not in str(described)


def test_dry_run_plans_the_same_and_prints_instead():
    redmine, issue_id, _ = setup()
    printed = []
    outcomes = PrintingExecutor(redmine, CONFIG, echo=printed.append).apply(redmine.issue(issue_id), ACTIONS)
    assert [o.status for o in outcomes] == ["applied"] * 4
    assert redmine.updates == []
    assert printed[0].startswith(f"would update issue #{issue_id}:") and "(note text)" in printed[0]
    assert PrintingExecutor(redmine, CONFIG, echo=printed.append).apply(redmine.issue(issue_id), []) == []
    assert len(printed) == 1


def test_once_does_its_actions_with_the_note_and_never_again():
    redmine, issue_id, executor = setup()
    once = Once("route-1", "Routed.", (ChangeStatus(StatusKey.AWAITING_APPROVAL), AssignTo(group=GroupKey.MASH_MANAGERS)))
    outcomes = executor.apply(redmine.issue(issue_id), [once])
    assert [(type(o.action).__name__, o.status) for o in outcomes] == [("ChangeStatus", "applied"), ("AssignTo", "applied"), ("Once", "applied")]
    # A person takes the ticket back; the same Once does not fight them.
    redmine.edit(issue_id, 10, status=StatusKey.ASSESSING, assigned_to_id=10)
    again = executor.apply(redmine.issue(issue_id), [once])
    assert [o.status for o in again] == ["already"]
    assert redmine.issues[issue_id]["status"]["name"] == "Assessing" and len(redmine.updates) == 1


def test_assigning_to_nobody_is_skipped():
    redmine, issue_id, executor = setup()
    (outcome,) = executor.apply(redmine.issue(issue_id), [AssignTo()])
    assert outcome.status == "skipped" and outcome.reason == "nobody to assign to"


# --- effects: linked issues, watchers, other issues, dates ---------------------------------

import datetime as dt  # noqa: E402

from plugin.policy.model import AddWatcher, CreateLinkedIssue, OnIssue, SetDates  # noqa: E402
from plugin.domain.names import TrackerKey  # noqa: E402

CREATE = CreateLinkedIssue(
    key="escalation-for-1-5",
    tracker=TrackerKey.ESCALATION,
    subject="Escalation: disagreement about request #1",
    description="Opened by InfoShare.",
    fields=((F.ESCALATION_STAGE, "Stage 1: Practitioner to practitioner"), (F.POINTS_OF_DISAGREEMENT, "details")),
    assign=AssignTo(user_id=10),
    note="Escalation opened.",
    start_date=dt.date(2026, 11, 23),
    due_date=dt.date(2026, 11, 25),
)


def test_a_linked_issue_is_created_related_filled_and_noted():
    redmine, issue_id, executor = setup()
    outcomes = executor.apply(redmine.issue(issue_id), [Once("escalation-for-1-5", "Opened.", (CREATE,))])
    created = next(o for o in outcomes if isinstance(o.action, CreateLinkedIssue))
    new_id = created.created_issue_id
    new = redmine.issues[new_id]
    assert new["tracker"]["name"] == "Escalation" and new["assigned_to"]["id"] == 10
    assert (new["start_date"], new["due_date"]) == ("2026-11-23", "2026-11-25")
    assert "[infoshare:escalation-for-1-5]" in new["description"]
    assert redmine.value(new_id, F.ESCALATION_STAGE) == "Stage 1: Practitioner to practitioner"
    assert redmine.value(new_id, F.POINTS_OF_DISAGREEMENT) == "details"
    assert {r["issue_to_id"] for r in new["relations"]} == {issue_id}
    assert any("Escalation opened." in n for n in redmine.notes_by_service(new_id))
    assert any("Opened." in n for n in redmine.notes_by_service(issue_id))
    assert created.describe() == {"action": "CreateLinkedIssue", "status": "applied", "tracker": "escalation", "created_issue_id": new_id}


def test_a_retry_after_a_crash_finds_the_issue_it_created():
    redmine, issue_id, executor = setup()
    original = redmine.update_issue
    calls = []

    def crash_on_the_requests_note(target, attributes):
        if target == issue_id and not calls:
            calls.append(target)
            raise ConnectionError("Redmine went away")
        original(target, attributes)

    redmine.update_issue = crash_on_the_requests_note
    try:
        executor.apply(redmine.issue(issue_id), [Once("escalation-for-1-5", "Opened.", (CREATE,))])
    except ConnectionError:
        pass
    outcomes = executor.apply(redmine.issue(issue_id), [Once("escalation-for-1-5", "Opened.", (CREATE,))])
    assert len(redmine.creates) == 1
    assert next(o for o in outcomes if isinstance(o.action, CreateLinkedIssue)).status == "already"
    escalations = [i for i in redmine.issues.values() if i["tracker"]["name"] == "Escalation"]
    assert len(escalations) == 1 and len(escalations[0]["relations"]) == 1
    assert sum("Escalation opened." in n for n in redmine.notes_by_service(escalations[0]["id"])) == 1


def test_dates_watchers_and_other_issues():
    redmine, issue_id, executor = setup()
    other = redmine.create(dict(INTAKE))
    actions = [
        SetDates(start_date=dt.date(2026, 11, 23), due_date=dt.date(2026, 11, 25)),
        AddWatcher(GroupKey.SAFEGUARDING_PARTNERSHIP),
        OnIssue(other, (SetFields(((F.DISAGREEMENT_RAISED, "1"),)),)),
    ]
    outcomes = executor.apply(redmine.issue(issue_id), actions)
    assert [o.status for o in outcomes] == ["applied"] * 4
    assert redmine.issues[issue_id]["due_date"] == "2026-11-25"
    assert redmine.issues[issue_id]["watchers"] == [{"id": 53, "name": "principal 53"}]
    assert redmine.value(other, F.DISAGREEMENT_RAISED) == "1"
    again = executor.apply(redmine.issue(issue_id), actions)
    assert [o.status for o in again] == ["already", "already", "applied", "already"]
    assert again[0].describe()["dates"] == ["start_date", "due_date"]


def test_effects_that_cannot_be_done_are_skipped():
    redmine, issue_id, executor = setup()
    redmine.group_id = lambda project_id, name: None
    outcomes = executor.apply(redmine.issue(issue_id), [AddWatcher(GroupKey.SAFEGUARDING_PARTNERSHIP), OnIssue(4242, (ChangeStatus(StatusKey.ASSESSING),))])
    assert outcomes[0].status == "skipped" and outcomes[1].status == "skipped"
    assert outcomes[1].reason == "the issue no longer exists"


def test_dry_run_prints_effects_instead():
    redmine, issue_id, _ = setup()
    other = redmine.create(dict(INTAKE))
    printed = []
    PrintingExecutor(redmine, CONFIG, echo=printed.append).apply(
        redmine.issue(issue_id), [CREATE, AddWatcher(GroupKey.SAFEGUARDING_PARTNERSHIP), OnIssue(other, (ChangeStatus(StatusKey.ASSESSING),)), OnIssue(999, ())]
    )
    assert printed == [
        f"would create a linked escalation issue on issue #{issue_id}",
        f"would add group 53 as a watcher on issue #{issue_id}",
        f'would update issue #{other}: {{"status_id": 2}}',
    ]
    assert redmine.creates == [] and redmine.updates == []

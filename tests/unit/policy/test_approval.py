"""R-APPROVAL: doubt, who approved, routing, decline, emergency override."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.policy import approval
from plugin.policy.model import Actor, AssignTo, ChangeStatus, Context, Once, Principal, SetFields, Step
from schemas.names import GroupKey, StatusKey
from schemas.record import FieldKey
from tests.unit.conftest import make_config
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE, NOW, SHARE_RECORD, state

F = FieldKey
S = StatusKey
PRACTITIONER, OTHER_PRACTITIONER, MANAGER, OTHER_MANAGER, DUAL = 10, 11, 12, 13, 14
PRINCIPALS = {
    PRACTITIONER: Principal(PRACTITIONER, "Priya Practitioner", frozenset({"MASH practitioner"})),
    OTHER_PRACTITIONER: Principal(OTHER_PRACTITIONER, "Paul Practitioner", frozenset({"MASH practitioner"})),
    MANAGER: Principal(MANAGER, "Maya Manager", frozenset({"MASH manager"})),
    OTHER_MANAGER: Principal(OTHER_MANAGER, "Mark Manager", frozenset({"MASH manager"})),
    DUAL: Principal(DUAL, "Dana Dual", frozenset({"MASH practitioner", "MASH manager"})),
}
IN_DOUBT = {**INTAKE, F.RECIPIENT_ENTITLEMENT: "In doubt"}


def s(status=S.ASSESSING, author=PRACTITIONER, **values):
    base = dict(IN_DOUBT)
    base.update({F(k): v for k, v in values.items()})
    st = state(status, base=base)
    return st.__class__(**{**st.__dict__, "author_id": author})


def timeline(*saves, now=NOW, config=CONFIG, principals=PRINCIPALS) -> Context:
    """saves: (user_id, state[, at]) oldest first; the first is the creation."""
    steps, before = [], None
    for i, save in enumerate(saves):
        user, after = save[0], save[1]
        at = save[2] if len(save) > 2 else NOW - dt.timedelta(hours=len(saves) - i)
        steps.append(Step("created" if i == 0 else str(100 + i), user, PRINCIPALS.get(user, Principal(user)).name, before, after, at))
        before = after
    last = steps[-1]
    return Context(last.before, last.after, Actor(last.user_id, None), config, now, tuple(steps), principals)


def codes(ctx):
    return {(v.field.value, v.code) for v in approval.check(ctx)}


# --- doubt --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ({}, []),
        ({F.RECIPIENT_ENTITLEMENT: "In doubt"}, [approval.Doubt.ENTITLEMENT_IN_DOUBT]),
        ({F.IDENTITY_CHECK: "Not checked"}, [approval.Doubt.IDENTITY_NOT_CHECKED]),
        ({F.RECIPIENT_ENTITLEMENT: "In doubt", F.IDENTITY_CHECK: "Not checked"}, [approval.Doubt.ENTITLEMENT_IN_DOUBT, approval.Doubt.IDENTITY_NOT_CHECKED]),
    ],
)
def test_phone_doubts(values, expected):
    assert list(approval.doubts(state(base={**INTAKE, **values}), CONFIG)) == expected


def test_other_channels_never_need_approval():
    letter = state(base={**IN_DOUBT, F.REQUEST_CHANNEL: "Letter", F.IDENTITY_CHECK: "Not checked"})
    assert approval.doubts(letter, CONFIG) == () and approval.approval_reason(letter, CONFIG) == ""


def test_approval_channels_are_configurable():
    config = make_config(approval={"channels": ["Letter"]})
    assert approval.approval_required(state(base={**IN_DOUBT, F.REQUEST_CHANNEL: "Letter"}), config)
    assert not approval.approval_required(state(base=IN_DOUBT), config)


TRUSTED = make_config(approval={"trusted_domains": ["nhs.net", "police.uk"]})


@pytest.mark.parametrize("channel", ["Email", "Secure email"])
@pytest.mark.parametrize(
    "address, doubt",
    [
        ("gp@nhs.net", None),
        ("GP@NHS.NET", None),
        ("someone@leeds.nhs.net", None),
        ("officer@wyp.police.uk", None),
        ("someone@notnhs.net", approval.Doubt.UNTRUSTED_DOMAIN),
        ("someone@nhs.net.example.com", approval.Doubt.UNTRUSTED_DOMAIN),
        ("someone@gmail.com", approval.Doubt.UNTRUSTED_DOMAIN),
        ("", approval.Doubt.INVALID_EMAIL),
        ("not an address", approval.Doubt.INVALID_EMAIL),
        ("a@b@nhs.net", approval.Doubt.INVALID_EMAIL),
        ("@nhs.net", approval.Doubt.INVALID_EMAIL),
        ("gp@localhost", approval.Doubt.INVALID_EMAIL),
        ("Dr A <gp@nhs.net>", approval.Doubt.INVALID_EMAIL),
    ],
)
def test_email_domains(channel, address, doubt):
    st = state(base={**INTAKE, F.REQUEST_CHANNEL: channel, F.REQUESTER_EMAIL: address})
    assert list(approval.doubts(st, TRUSTED)) == ([doubt] if doubt else [])


def test_with_no_trusted_domains_every_email_request_is_in_doubt():
    st = state(base={**INTAKE, F.REQUEST_CHANNEL: "Email", F.REQUESTER_EMAIL: "gp@nhs.net"})
    assert approval.doubts(st, CONFIG) == (approval.Doubt.UNTRUSTED_DOMAIN,)


def test_reason_names_conditions_not_people():
    st = state(base={**IN_DOUBT, F.REQUEST_CHANNEL: "Email", F.REQUESTER_EMAIL: "jane.doe@gmail.com", F.IDENTITY_CHECK: "Not checked"})
    reason = approval.approval_reason(st, CONFIG)
    assert reason == "Email request: recipient's entitlement in doubt; requester's identity not checked; e-mail domain not on the trusted list"
    assert "jane" not in reason and "gmail" not in reason


# --- who recorded what -------------------------------------------------------------------


def test_the_share_decision_recorder_comes_from_history():
    ctx = timeline((PRACTITIONER, s(S.RECEIVED)), (OTHER_PRACTITIONER, s(**DECISION)), (MANAGER, s(**DECISION, approval_notes="x")))
    assert approval.share_decision_recorder(ctx) == OTHER_PRACTITIONER
    # Changing to another share decision is not a new decision.
    ctx = timeline((PRACTITIONER, s(**DECISION)), (OTHER_PRACTITIONER, s(**{**DECISION, F.DECISION: "Share in part"})))
    assert approval.share_decision_recorder(ctx) == PRACTITIONER
    # Without history, the author.
    assert approval.share_decision_recorder(Context(None, s(author=DUAL), Actor(1, None), CONFIG, NOW)) == DUAL


def approved_by(user, decided_by=PRACTITIONER, author=PRACTITIONER, status=S.AWAITING_APPROVAL):
    return timeline(
        (author, s(S.RECEIVED, author=author)),
        (decided_by, s(author=author, **DECISION)),
        (user, s(status, author=author, **DECISION, approval_decision="Approved")),
    )


def test_a_valid_approval():
    assert approval.approval_problem(approved_by(MANAGER)) is None


@pytest.mark.parametrize(
    "ctx, problem",
    [
        (timeline((PRACTITIONER, s(**DECISION))), "approval_missing"),
        (approved_by(OTHER_PRACTITIONER), "approver_not_entitled"),
        (approved_by(1), "approver_not_entitled"),  # an administrator who is not a member
        (approved_by(MANAGER, author=MANAGER), "self_approval"),
        (approved_by(DUAL, decided_by=DUAL), "self_approval"),
        (Context(None, s(**DECISION, approval_decision="Approved"), Actor(1, None), CONFIG, NOW), "approver_not_entitled"),
    ],
)
def test_approvals_that_do_not_count(ctx, problem):
    assert approval.approval_problem(ctx) == problem


# --- violations ------------------------------------------------------------------------------


def test_only_the_approver_role_records_a_decision():
    assert codes(approved_by(OTHER_PRACTITIONER)) == {("approval_decision", "not_approver")}
    declined = timeline((PRACTITIONER, s(**DECISION)), (OTHER_PRACTITIONER, s(**DECISION, approval_decision="Declined")))
    assert codes(declined) == {("approval_decision", "not_approver")}
    v = approval.check(approved_by(1))[0]
    assert v.message == "Approval decision: only a MASH manager in this project can record an approval decision (R-APPROVAL)."
    assert not v.bypassable


def test_nobody_approves_their_own_request_or_decision():
    assert codes(approved_by(DUAL, decided_by=DUAL)) == {("approval_decision", "self_approval")}
    assert codes(approved_by(MANAGER, author=MANAGER)) == {("approval_decision", "self_approval")}
    # Declining one's own is not self-approval.
    own_decline = timeline((DUAL, s(author=DUAL, **DECISION)), (DUAL, s(author=DUAL, **DECISION, approval_decision="Declined")))
    assert codes(own_decline) == set()


def test_a_valid_approval_recorded_raises_nothing():
    assert codes(approved_by(MANAGER)) == set()
    assert codes(approved_by(MANAGER, status=S.APPROVED)) == set()


def test_an_unchanged_or_initial_approval_decision_is_not_a_recording():
    same = timeline((PRACTITIONER, s(**DECISION, approval_decision="Approved")), (OTHER_PRACTITIONER, s(**DECISION, approval_decision="Approved", approval_notes="n")))
    assert ("approval_decision", "not_approver") not in codes(same)
    assert codes(Context(None, s(**DECISION), Actor(1, None), CONFIG, NOW)) == set()


@pytest.mark.parametrize("status", [S.APPROVED, S.SHARED])
def test_approved_and_shared_need_a_valid_approval(status):
    missing = timeline((PRACTITIONER, s(S.ASSESSING, **DECISION)), (PRACTITIONER, s(status, **DECISION, **SHARE_RECORD)))
    (v,) = approval.check(missing)
    assert v.code == "approval_missing"
    status_name = "Approved" if status is S.APPROVED else "Shared"
    assert v.message == (
        f"Approval decision: this request needs a manager's approval before it can be {status_name} "
        "(Phone request: recipient's entitlement in doubt) (R-APPROVAL)."
    )
    ctx = approved_by(OTHER_PRACTITIONER)
    invalid = timeline(*[(st.user_id, st.after) for st in ctx.history], (PRACTITIONER, s(status, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(invalid) == {("approval_decision", "approval_invalid")}
    valid = approved_by(MANAGER)
    ok = timeline(*[(st.user_id, st.after) for st in valid.history], (PRACTITIONER, s(status, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(ok) == set()


def test_no_approval_needed_without_doubt_or_before_sharing():
    confirmed = {**DECISION, F.RECIPIENT_ENTITLEMENT: "Confirmed"}
    assert codes(timeline((PRACTITIONER, s(S.SHARED, **confirmed, **SHARE_RECORD)))) == set()
    assert codes(timeline((PRACTITIONER, s(S.AWAITING_APPROVAL, **DECISION)))) == set()


def test_an_emergency_override_with_a_reason_allows_sharing_without_approval():
    override = {**DECISION, **SHARE_RECORD, F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "child at immediate risk"}
    assert codes(timeline((PRACTITIONER, s(S.SHARED, **override)))) == set()
    # ...but not entering Approved, which is a manager's word.
    assert codes(timeline((PRACTITIONER, s(S.APPROVED, **override)))) == {("approval_decision", "approval_missing")}


def test_an_emergency_override_needs_its_reason():
    no_reason = {**DECISION, **SHARE_RECORD, F.EMERGENCY_OVERRIDE: "1"}
    assert codes(timeline((PRACTITIONER, s(S.SHARED, **no_reason)))) == {("emergency_override_reason", "missing")}
    assert codes(timeline((PRACTITIONER, s(S.ASSESSING, emergency_override="0")))) == set()


# --- actions ------------------------------------------------------------------------------


def fields_set(actions):
    return dict(next((a.values for a in actions if isinstance(a, SetFields)), ()))


def onces(actions):
    return {a.key: a for a in actions if isinstance(a, Once)}


def test_the_service_sets_approval_required_and_reason():
    actions = approval.derive(timeline((PRACTITIONER, s(S.RECEIVED))))
    assert fields_set(actions) == {F.APPROVAL_REQUIRED: "1", F.APPROVAL_REASON: "Phone request: recipient's entitlement in doubt"}


def test_when_the_doubt_goes_the_fields_are_cleared():
    cleared = s(S.ASSESSING, recipient_entitlement="Confirmed", approval_required="1", approval_reason="Phone request: x")
    assert fields_set(approval.derive(timeline((PRACTITIONER, cleared)))) == {F.APPROVAL_REQUIRED: "0", F.APPROVAL_REASON: None}
    never = s(S.ASSESSING, recipient_entitlement="Confirmed")
    assert approval.derive(timeline((PRACTITIONER, never))) == []


def test_fields_already_right_are_left_alone():
    right = s(S.RECEIVED, approval_required="1", approval_reason="Phone request: recipient's entitlement in doubt")
    assert approval.derive(timeline((PRACTITIONER, right))) == []


def synced(status=S.ASSESSING, **values):
    return s(status, approval_required="1", approval_reason="Phone request: recipient's entitlement in doubt", **values)


def test_a_share_decision_needing_approval_is_routed_once():
    ctx = timeline((PRACTITIONER, synced(S.RECEIVED)), (PRACTITIONER, synced(**DECISION)))
    (route,) = onces(approval.derive(ctx)).values()
    assert route.key == "approval-request-101"
    assert route.actions == (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=GroupKey.MASH_MANAGERS))
    assert "assigned to MASH managers" in route.note and "(R-APPROVAL)" in route.note


@pytest.mark.parametrize(
    "values",
    [
        {**DECISION, F.DECISION: "Do not share"},
        {**DECISION, F.APPROVAL_DECISION: "Declined"},
        {**DECISION, F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "risk"},
        {**DECISION, F.RECIPIENT_ENTITLEMENT: "Confirmed"},
    ],
)
def test_no_routing_when_it_is_not_called_for(values):
    ctx = timeline((PRACTITIONER, synced(**values)))
    assert "approval-request-created" not in onces(approval.derive(ctx))


def test_a_valid_approval_moves_the_request_on_and_names_the_approver():
    ctx = approved_by(MANAGER)
    actions = approval.derive(ctx)
    assert fields_set(actions)[F.APPROVED_BY] == "Maya Manager"
    granted = onces(actions)["approval-granted-102"]
    assert granted.actions == (ChangeStatus(S.APPROVED), AssignTo(user_id=PRACTITIONER))
    assert granted.note.startswith("Approved by Maya Manager.")


def test_an_approval_that_does_not_count_names_nobody_and_moves_nothing():
    ctx = approved_by(OTHER_PRACTITIONER)
    actions = approval.derive(ctx)
    assert F.APPROVED_BY not in fields_set(actions)
    assert not any(k.startswith("approval-granted") for k in onces(actions))
    stale = timeline((PRACTITIONER, s(**DECISION, approved_by="Someone")))
    assert fields_set(approval.derive(stale))[F.APPROVED_BY] is None


def test_a_decline_sends_the_request_back_to_the_practitioner():
    ctx = timeline((PRACTITIONER, synced(S.RECEIVED)), (OTHER_PRACTITIONER, synced(**DECISION)), (MANAGER, synced(S.AWAITING_APPROVAL, **DECISION, approval_decision="Declined")))
    declined = onces(approval.derive(ctx))["approval-declined-102"]
    assert declined.actions == (ChangeStatus(S.ASSESSING), AssignTo(user_id=OTHER_PRACTITIONER))
    assert "declined by Maya Manager" in declined.note


def test_a_decline_by_someone_without_the_role_is_not_acted_on():
    ctx = timeline((PRACTITIONER, synced(**DECISION)), (OTHER_PRACTITIONER, synced(S.AWAITING_APPROVAL, **DECISION, approval_decision="Declined")))
    assert not any(k.startswith("approval-declined") for k in onces(approval.derive(ctx)))


OVERRIDE = {**DECISION, **SHARE_RECORD, F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "child at immediate risk"}


def test_an_emergency_share_asks_for_a_retrospective_approval():
    ctx = timeline((PRACTITIONER, synced(**DECISION)), (PRACTITIONER, synced(S.SHARED, **OVERRIDE)))
    retro = onces(approval.derive(ctx))["retrospective-approval-101"]
    assert retro.actions == (AssignTo(group=GroupKey.MASH_MANAGERS),)
    assert "retrospective Approval decision" in retro.note


FRIDAY = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.timezone.utc)


def override_used_on_friday(now):
    return timeline((PRACTITIONER, synced(**DECISION), FRIDAY - dt.timedelta(hours=2)), (PRACTITIONER, synced(S.SHARED, **OVERRIDE), FRIDAY), now=now)


def at_noon(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T12:00:00+00:00")


def test_reminders_come_every_working_day_after_the_override():
    assert approval.retrospective_reminder(override_used_on_friday(at_noon("2026-11-20"))) is None  # the same day
    assert approval.retrospective_reminder(override_used_on_friday(at_noon("2026-11-21"))) is None  # Saturday
    monday = approval.retrospective_reminder(override_used_on_friday(at_noon("2026-11-23")))
    assert monday.key == "retrospective-reminder-2026-11-23"
    assert "emergency share made on 2026-11-20" in monday.note
    tuesday = approval.retrospective_reminder(override_used_on_friday(at_noon("2026-11-24")))
    assert tuesday.key == "retrospective-reminder-2026-11-24"


def test_no_reminder_once_an_approval_decision_is_recorded_or_without_a_known_date():
    ctx = override_used_on_friday(at_noon("2026-11-23"))
    decided = Context(ctx.previous, s(S.SHARED, **OVERRIDE, approval_decision="Approved"), ctx.actor, CONFIG, ctx.now, ctx.history, PRINCIPALS)
    assert approval.retrospective_reminder(decided) is None
    undated = timeline((PRACTITIONER, synced(S.SHARED, **OVERRIDE), None), now=at_noon("2026-11-23"))
    undated = Context(undated.previous, undated.proposed, undated.actor, CONFIG, undated.now, (Step("created", PRACTITIONER, "", None, undated.proposed, None),))
    assert approval.retrospective_reminder(undated) is None


def test_step_keys_fall_back_when_unknown():
    assert approval._step_key(None) == "unknown"

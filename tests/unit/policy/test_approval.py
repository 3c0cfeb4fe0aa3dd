"""R-APPROVAL: doubt, who approved, routing, decline, emergency override."""

from __future__ import annotations

import datetime as dt

import pytest

from plugin.policy import approval
from plugin.policy.model import Actor, AddWatcher, AssignTo, ChangeStatus, Context, Once, Principal, SetFields, Step
from plugin.domain.names import GroupKey, StatusKey
from plugin.domain.record import FieldKey
from tests.unit.conftest import make_config
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE, NOW, SHARE_RECORD, state

F = FieldKey
S = StatusKey
PRACTITIONER, OTHER_PRACTITIONER, MANAGER, OTHER_MANAGER, DUAL, BOT = 10, 11, 12, 13, 14, 9
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
    assert approval.doubts(state(base={**IN_DOUBT, F.REQUEST_CHANNEL: "Letter"}), config)
    assert not approval.doubts(state(base=IN_DOUBT), config)


def test_an_outgoing_request_never_needs_approval_and_a_proactive_disclosure_only_for_entitlement():
    outgoing = state(base={**IN_DOUBT, F.REQUEST_DIRECTION: "Outgoing request", F.IDENTITY_CHECK: "Not checked"})
    assert approval.doubts(outgoing, CONFIG) == ()
    proactive = {**IN_DOUBT, F.REQUEST_DIRECTION: "Proactive disclosure", F.IDENTITY_CHECK: "Not checked", F.REQUEST_CHANNEL: "Email"}
    assert approval.doubts(state(base=proactive), CONFIG) == (approval.Doubt.ENTITLEMENT_IN_DOUBT,)
    assert approval.doubts(state(base={**proactive, F.RECIPIENT_ENTITLEMENT: "Confirmed"}), CONFIG) == ()
    # A request whose direction is not recorded is treated as incoming.
    assert approval.doubts(state(base={**IN_DOUBT, F.REQUEST_DIRECTION: ""}), CONFIG) == (approval.Doubt.ENTITLEMENT_IN_DOUBT,)


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


# --- what the history says -----------------------------------------------------------------

P = approval.Problem


def test_relabelling_how_a_request_arrived_does_not_remove_the_need():
    # Refused for want of approval, the practitioner changes the channel to In
    # person (or the direction to Outgoing), the doubt unchanged.
    relabelled = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(request_channel="In person")), (PRACTITIONER, s(request_channel="In person", **DECISION)))
    a = approval.analyse(relabelled)
    assert a.required and a.reason == "Phone request: recipient's entitlement in doubt"
    outgoing = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(request_direction="Outgoing request", **DECISION)))
    assert approval.analyse(outgoing).required


def test_the_need_sticks_once_a_share_decision_was_recorded_with_doubt():
    resolved = timeline(
        (PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(**DECISION)), (PRACTITIONER, s(**DECISION, recipient_entitlement="Confirmed"))
    )
    a = approval.analyse(resolved)
    assert a.required
    assert a.reason == "Phone request: recipient's entitlement in doubt (when the share decision was recorded)"
    # Resolving the doubt before any share decision is the practitioner's to do.
    early = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(recipient_entitlement="Confirmed")), (PRACTITIONER, s(recipient_entitlement="Confirmed", **DECISION)))
    assert not approval.analyse(early).required


def test_the_decision_maker_is_whoever_last_set_or_changed_the_decision():
    ctx = timeline((PRACTITIONER, s(S.RECEIVED)), (OTHER_PRACTITIONER, s(**DECISION)), (MANAGER, s(**DECISION, approval_notes="x")))
    assert approval.share_decision_recorder(ctx) == OTHER_PRACTITIONER
    changed = timeline((PRACTITIONER, s(**DECISION)), (OTHER_PRACTITIONER, s(**{**DECISION, F.DECISION: "Share in part"})))
    assert approval.share_decision_recorder(changed) == OTHER_PRACTITIONER
    assert approval.analyse(changed).deciders == {PRACTITIONER, OTHER_PRACTITIONER}
    # Without history, the author.
    assert approval.share_decision_recorder(Context(None, s(author=DUAL), Actor(1, None), CONFIG, NOW)) == DUAL


def approved_by(user, decided_by=PRACTITIONER, author=PRACTITIONER, status=S.AWAITING_APPROVAL, **after):
    return timeline(
        (author, s(S.RECEIVED, author=author)),
        (decided_by, s(author=author, **DECISION)),
        (user, s(status, author=author, **DECISION, approval_decision="Approved", **after)),
    )


def then(ctx, *saves):
    """The same history, with more saves (user, state) after it."""
    return timeline(*[(st.user_id, st.after) for st in ctx.history], *saves)


def test_a_valid_approval():
    a = approval.analyse(approved_by(MANAGER))
    assert a.valid and a.recorded.user_id == MANAGER and a.problem is None


@pytest.mark.parametrize(
    "ctx, problem",
    [
        (timeline((PRACTITIONER, s(**DECISION))), P.MISSING),
        (timeline((PRACTITIONER, s(**DECISION, approval_decision="Declined"))), P.DECLINED),
        (approved_by(OTHER_PRACTITIONER), P.NOT_ENTITLED),
        (approved_by(1), P.NOT_ENTITLED),  # an administrator who is not a member
        (approved_by(MANAGER, author=MANAGER), P.SELF_APPROVAL),
        (approved_by(DUAL, decided_by=DUAL), P.SELF_APPROVAL),
        (Context(None, s(**DECISION, approval_decision="Approved"), Actor(1, None), CONFIG, NOW), P.NOT_ENTITLED),
    ],
)
def test_approvals_that_do_not_count(ctx, problem):
    assert approval.analyse(ctx).problem is problem


def test_a_manager_who_once_made_the_decision_cannot_approve_it_after_a_colleague_flipped_it_back():
    flipped = timeline(
        (PRACTITIONER, s(S.RECEIVED)),
        (MANAGER, s(**DECISION)),
        (OTHER_PRACTITIONER, s(**{**DECISION, F.DECISION: "Do not share"})),
        (OTHER_PRACTITIONER, s(**DECISION)),
        (MANAGER, s(S.AWAITING_APPROVAL, **DECISION, approval_decision="Approved")),
    )
    assert approval.analyse(flipped).problem is P.SELF_APPROVAL
    assert codes(flipped) == {("approval_decision", "self_approval")}


def test_an_approval_recorded_before_the_share_decision_does_not_count():
    early = timeline((PRACTITIONER, s(S.RECEIVED)), (MANAGER, s(S.RECEIVED, approval_decision="Approved")), (PRACTITIONER, s(S.ASSESSING, **DECISION, approval_decision="Approved")))
    assert approval.analyse(early).problem is P.BEFORE_DECISION
    # The gate refuses recording it in the first place.
    v = approval.check(timeline((PRACTITIONER, s(S.RECEIVED)), (MANAGER, s(S.RECEIVED, approval_decision="Approved"))))
    assert [(x.code, x.message) for x in v] == [
        ("no_decision", "Approval decision: there is no share decision to approve yet; approve once the decision is recorded (R-APPROVAL).")
    ]
    shared = then(early, (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(shared) == {("approval_decision", "approval_before_decision")}


# --- an approval holds only for the facts it saw (R-APPROVAL 4) ------------------------------


@pytest.mark.parametrize("fact, value", [(F.REQUESTER_EMAIL, "other@example.com"), (F.RECIPIENT_ENTITLEMENT, "Confirmed"), (F.DECISION, "Share in part"),
                                         (F.REQUEST_CHANNEL, "In person"), (F.PURPOSE_OF_SHARING, "something else")])
def test_changing_an_approved_fact_voids_the_approval(fact, value):
    ctx = then(approved_by(MANAGER, status=S.APPROVED), (PRACTITIONER, s(S.APPROVED, **{**DECISION, fact: value}, approval_decision="Approved")))
    a = approval.analyse(ctx)
    assert a.problem is P.VOID and a.void_fields == (fact,)


def test_shared_with_and_case_reference_may_be_filled_in_but_not_changed():
    approved = approved_by(MANAGER, status=S.APPROVED, shared_with="Dr A")
    filled = then(approved, (PRACTITIONER, s(S.APPROVED, **DECISION, approval_decision="Approved", shared_with="Dr A", case_reference="CR-1")))
    assert approval.analyse(filled).valid
    changed = then(filled, (PRACTITIONER, s(S.APPROVED, **DECISION, approval_decision="Approved", shared_with="Someone else", case_reference="CR-1")))
    assert approval.analyse(changed).void_fields == (F.SHARED_WITH,)
    # Flipped away and back: changed all the same (whether the service saw
    # the save in between must not decide whether the approval counts).
    back = then(changed, (PRACTITIONER, s(S.APPROVED, **DECISION, approval_decision="Approved", shared_with="Dr A", case_reference="CR-1")))
    assert approval.analyse(back).void_fields == (F.SHARED_WITH,)


@pytest.mark.parametrize("fact, value", [(F.REQUESTER_ORGANISATION, "Elsewhere Ltd"), (F.RECIPIENT_ENTITLEMENT, "Confirmed"), (F.DECISION, "Share in part")])
def test_a_fact_changed_and_changed_back_after_the_approval_still_voids_it(fact, value):
    approved = approved_by(MANAGER, status=S.APPROVED)
    away = then(approved, (PRACTITIONER, s(S.APPROVED, **{**DECISION, fact: value}, approval_decision="Approved")))
    back = then(away, (PRACTITIONER, s(S.APPROVED, **DECISION, approval_decision="Approved")))
    assert approval.analyse(back).void_fields == (fact,)
    shared = then(back, (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(shared) == {("approval_decision", "approval_void")}
    assert any(k.startswith("approval-void") for k in onces(approval.derive(back)))
    # A manager's approval given after the change counts: only saves since it are read.
    again = then(back, (BOT, s(S.AWAITING_APPROVAL, **DECISION)), (OTHER_MANAGER, s(S.AWAITING_APPROVAL, **DECISION, approval_decision="Approved")))
    assert approval.analyse(again).valid
    assert codes(then(again, (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")))) == set()


def test_a_fact_changed_while_approved_is_not_refused_but_sharing_on_the_void_approval_is():
    approved = approved_by(MANAGER, status=S.APPROVED)
    edited = then(approved, (PRACTITIONER, s(S.APPROVED, **{**DECISION, F.REQUESTER_PHONE: "01632 960999"}, approval_decision="Approved")))
    assert approval.check(edited) == []
    shared = then(edited, (PRACTITIONER, s(S.SHARED, **{**DECISION, F.REQUESTER_PHONE: "01632 960999"}, **SHARE_RECORD, approval_decision="Approved")))
    (v,) = approval.check(shared)
    assert v.code == "approval_void"
    assert v.message == (
        "Approval decision: the approval no longer counts because Requester phone changed after it was given; "
        "a MASH manager must approve the request again before it can be Shared (R-APPROVAL)."
    )
    assert "01632" not in v.message
    # Once Shared, a fact changed is refused as the record of the disclosure, not as wanting a new approval.
    done = then(approved, (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert approval.check(done) == []
    corrected = then(done, (PRACTITIONER, s(S.SHARED, **{**DECISION, F.REQUESTER_PHONE: "01632 960999"}, **SHARE_RECORD, approval_decision="Approved")))
    (v,) = approval.check(corrected)
    assert (v.code, v.message) == ("approval_void", (
        "Approval decision: Requester phone cannot be changed now that the request is Shared: the approval was given on it and it "
        "records what was disclosed; put it back as it was and write any correction in a note (R-APPROVAL)."
    ))
    both = then(done, (PRACTITIONER, s(S.SHARED, **{**DECISION, F.REQUESTER_PHONE: "x", F.REQUESTER_NAME: "y"}, **SHARE_RECORD, approval_decision="Approved")))
    assert "cannot be changed now that the request is Shared: the approval was given on them and they record what was disclosed; put them back as they were" in approval.check(both)[0].message
    # Entering Approved by hand on a void approval is refused too.
    entered = then(then(approved_by(MANAGER), (PRACTITIONER, s(S.AWAITING_APPROVAL, **{**DECISION, F.REQUESTER_PHONE: "x"}, approval_decision="Approved"))),
                   (OTHER_MANAGER, s(S.APPROVED, **{**DECISION, F.REQUESTER_PHONE: "x"}, approval_decision="Approved")))
    assert codes(entered) == {("approval_decision", "approval_void")}


def test_a_void_approval_is_cleared_and_the_request_goes_back_to_the_managers():
    approved = approved_by(MANAGER, status=S.APPROVED)
    edited = then(approved, (PRACTITIONER, s(S.APPROVED, **{**DECISION, F.REQUESTER_NAME: "Someone else"}, approval_decision="Approved", approved_by="Maya Manager")))
    void = onces(approval.derive(edited))["approval-void-102"]
    assert void.actions == (
        SetFields(((F.APPROVAL_DECISION, None), (F.APPROVED_BY, None))),
        ChangeStatus(S.AWAITING_APPROVAL),
        AssignTo(group=GroupKey.MASH_MANAGERS),
    )
    assert void.note.startswith("The approval recorded by Maya Manager no longer counts: Requester name changed after it was given.")
    assert "Someone else" not in void.note
    # Before there was a decision, in Assessing: cleared, no move.
    early = timeline((PRACTITIONER, s(S.RECEIVED)), (MANAGER, s(S.RECEIVED, approval_decision="Approved")), (PRACTITIONER, s(S.ASSESSING, **DECISION, approval_decision="Approved")))
    found = onces(approval.derive(early))
    (cleared,) = [o for k, o in found.items() if k.startswith("approval-void")]
    assert cleared.actions == (SetFields(((F.APPROVAL_DECISION, None), (F.APPROVED_BY, None))),)
    assert "before there was a share decision" in cleared.note
    # ...and routed to the managers in the same update.
    (routed,) = [o for k, o in found.items() if k.startswith("approval-request")]
    assert routed.actions == (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=GroupKey.MASH_MANAGERS))
    # Once shared, a later correction voids nothing.
    shared = then(approved_by(MANAGER, status=S.APPROVED), (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")),
                  (PRACTITIONER, s(S.SHARED, **{**DECISION, F.REQUESTER_NAME: "typo fixed"}, **SHARE_RECORD, approval_decision="Approved")))
    assert not any(k.startswith("approval-void") for k in onces(approval.derive(shared)))


def test_an_approved_request_without_an_approval_that_counts_goes_back():
    bypassed = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(**DECISION)), (OTHER_PRACTITIONER, s(S.APPROVED, **DECISION, approval_decision="Approved")))
    back = onces(approval.derive(bypassed))["approved-without-approval-102"]
    assert back.actions == (ChangeStatus(S.AWAITING_APPROVAL), AssignTo(group=GroupKey.MASH_MANAGERS))


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


def test_an_unchanged_initial_or_cleared_approval_decision_is_not_a_recording():
    same = timeline((PRACTITIONER, s(**DECISION, approval_decision="Approved")), (OTHER_PRACTITIONER, s(**DECISION, approval_decision="Approved", approval_notes="n")))
    assert ("approval_decision", "not_approver") not in codes(same)
    assert codes(Context(None, s(**DECISION), Actor(1, None), CONFIG, NOW)) == set()
    cleared = timeline((PRACTITIONER, s(**DECISION, approval_decision="Declined")), (OTHER_PRACTITIONER, s(**DECISION)))
    assert codes(cleared) == set()


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
    invalid = then(approved_by(OTHER_PRACTITIONER), (PRACTITIONER, s(status, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(invalid) == {("approval_decision", "approval_invalid")}
    ok = then(approved_by(MANAGER), (PRACTITIONER, s(status, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert codes(ok) == set()


def test_after_a_decline_sharing_needs_a_new_approval_or_an_override():
    declined = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(**DECISION)), (MANAGER, s(S.AWAITING_APPROVAL, **DECISION, approval_decision="Declined")))
    # Changing the entitlement to Confirmed after the decline changes nothing.
    shared = then(declined, (PRACTITIONER, s(S.SHARED, **{**DECISION, F.RECIPIENT_ENTITLEMENT: "Confirmed"}, **SHARE_RECORD, approval_decision="Declined")))
    (v,) = approval.check(shared)
    assert v.code == "approval_declined" and "a manager declined approval" in v.message
    overridden = then(declined, (PRACTITIONER, s(S.SHARED, **OVERRIDE, approval_decision="Declined")))
    assert codes(overridden) == set()
    again = then(declined, (OTHER_MANAGER, s(S.AWAITING_APPROVAL, **DECISION, approval_decision="Approved")))
    assert approval.analyse(again).valid


def test_no_approval_needed_without_doubt_or_before_sharing():
    confirmed = {**DECISION, F.RECIPIENT_ENTITLEMENT: "Confirmed"}
    assert codes(timeline((PRACTITIONER, s(S.SHARED, **confirmed, **SHARE_RECORD)))) == set()
    assert codes(timeline((PRACTITIONER, s(S.AWAITING_APPROVAL, **DECISION)))) == set()


OVERRIDE = {**DECISION, **SHARE_RECORD, F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "child at immediate risk"}


def test_an_emergency_override_with_a_reason_allows_sharing_without_approval_from_any_open_status():
    assert codes(timeline((PRACTITIONER, s(S.SHARED, **OVERRIDE)))) == set()
    waiting = timeline((PRACTITIONER, s(S.RECEIVED)), (PRACTITIONER, s(S.AWAITING_APPROVAL, **DECISION)), (PRACTITIONER, s(S.SHARED, **OVERRIDE)))
    assert codes(waiting) == set()
    # ...but not entering Approved, which is a manager's word.
    assert codes(timeline((PRACTITIONER, s(S.APPROVED, **OVERRIDE)))) == {("approval_decision", "approval_missing")}


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


def test_when_the_doubt_goes_before_a_decision_the_fields_are_cleared():
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
    # A later save that changes neither decision nor status keeps the same key.
    later = then(ctx, (PRACTITIONER, synced(**{**DECISION, F.DECISION_REASONS: "more"})))
    assert "approval-request-101" in onces(approval.derive(later))


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
    assert not any(k.startswith("approval-request") for k in onces(approval.derive(ctx)))


def test_a_valid_approval_moves_the_request_on_and_names_the_approver():
    actions = approval.derive(approved_by(MANAGER))
    assert fields_set(actions)[F.APPROVED_BY] == "Maya Manager"
    granted = onces(actions)["approval-granted-102"]
    assert granted.actions == (ChangeStatus(S.APPROVED), AssignTo(user_id=PRACTITIONER))
    assert granted.note.startswith("Approved by Maya Manager.")


def test_an_approval_that_does_not_count_names_nobody_and_moves_nothing():
    actions = approval.derive(approved_by(OTHER_PRACTITIONER))
    assert F.APPROVED_BY not in fields_set(actions)
    assert not any(k.startswith("approval-granted") for k in onces(actions))
    stale = timeline((PRACTITIONER, s(**DECISION, approved_by="Someone")))
    assert fields_set(approval.derive(stale))[F.APPROVED_BY] is None


@pytest.mark.parametrize("status", [S.AWAITING_APPROVAL, S.APPROVED])
def test_a_decline_sends_the_request_back_to_the_practitioner(status):
    ctx = timeline((PRACTITIONER, synced(S.RECEIVED)), (OTHER_PRACTITIONER, synced(**DECISION)), (MANAGER, synced(status, **DECISION, approval_decision="Declined")))
    declined = onces(approval.derive(ctx))["approval-declined-102"]
    assert declined.actions == (ChangeStatus(S.ASSESSING), AssignTo(user_id=OTHER_PRACTITIONER))
    assert "declined by Maya Manager" in declined.note and "emergency override" in declined.note


def test_a_decline_by_someone_without_the_role_or_before_the_decision_is_not_acted_on():
    ctx = timeline((PRACTITIONER, synced(**DECISION)), (OTHER_PRACTITIONER, synced(S.AWAITING_APPROVAL, **DECISION, approval_decision="Declined")))
    assert not any(k.startswith("approval-declined") for k in onces(approval.derive(ctx)))
    stale = timeline((PRACTITIONER, synced()), (MANAGER, synced(approval_decision="Declined")), (PRACTITIONER, synced(**DECISION, approval_decision="Declined")))
    assert not any(k.startswith("approval-declined") for k in onces(approval.derive(stale)))


# --- emergency override (R-APPROVAL 7) -----------------------------------------------------------


def test_an_emergency_share_asks_for_a_retrospective_approval():
    ctx = timeline((PRACTITIONER, synced(**DECISION)), (PRACTITIONER, synced(S.SHARED, **OVERRIDE)))
    retro = onces(approval.derive(ctx))["retrospective-approval-101"]
    assert retro.actions == (AssignTo(group=GroupKey.MASH_MANAGERS),)
    assert "retrospective Approval decision" in retro.note


def test_an_override_that_was_not_needed_asks_for_nothing():
    approved = then(approved_by(MANAGER, status=S.APPROVED), (PRACTITIONER, s(S.SHARED, **OVERRIDE, approval_decision="Approved")))
    assert not any(k.startswith(("retrospective", "override")) for k in onces(approval.derive(approved)))


def declined_then_overridden():
    return timeline(
        (PRACTITIONER, synced(S.RECEIVED)),
        (PRACTITIONER, synced(**DECISION)),
        (MANAGER, synced(S.AWAITING_APPROVAL, **DECISION, approval_decision="Declined")),
        (PRACTITIONER, synced(S.ASSESSING, **DECISION, approval_decision="Declined")),
        (PRACTITIONER, synced(S.SHARED, **OVERRIDE, approval_decision="Declined")),
    )


def test_an_override_after_a_decline_tells_the_manager_and_opens_an_incident():
    actions = onces(approval.derive(declined_then_overridden()))
    # The decline is cleared so that the retrospective decision is recorded afresh.
    assert actions["retrospective-approval-104"].actions == (
        SetFields(((F.APPROVAL_DECISION, None), (F.APPROVED_BY, None))), AssignTo(group=GroupKey.MASH_MANAGERS)
    )
    told = actions["override-after-decline-104"]
    watcher, opened = told.actions
    assert watcher == AddWatcher(user_id=MANAGER)
    assert opened.tracker.value == "information_incident" and opened.key == "incident-override-of-declined-approval-for-1"
    assert dict(opened.fields)[F.INCIDENT_TYPE] == "Override of a declined approval"
    assert told.note.startswith("Maya Manager declined approval of this request; it was then shared under an emergency override by Priya Practitioner.")


def test_a_retrospective_decline_opens_an_incident_and_stops_the_reminders():
    ctx = then(declined_then_overridden(), (BOT, synced(S.SHARED, **OVERRIDE)), (OTHER_MANAGER, synced(S.SHARED, **OVERRIDE, approval_decision="Declined")))
    actions = onces(approval.derive(ctx))
    assert "retrospective-approval-104" not in actions
    (opened,) = actions["retrospective-declined-106"].actions
    assert dict(opened.fields)[F.INCIDENT_TYPE] == "Retrospective approval declined"
    assert "declined by Mark Manager" in actions["retrospective-declined-106"].note
    assert approval.retrospective_reminder(dataclass_replace(ctx, now=at_noon("2026-11-24"))) is None


def dataclass_replace(ctx, **changes):
    import dataclasses

    return dataclasses.replace(ctx, **changes)


def test_a_share_recorded_without_approval_or_override_opens_an_incident():
    past_the_gate = timeline((PRACTITIONER, synced(S.RECEIVED)), (PRACTITIONER, synced(**DECISION)), (PRACTITIONER, synced(S.SHARED, **DECISION, **SHARE_RECORD)))
    found = onces(approval.derive(past_the_gate))["shared-without-approval-102"]
    (opened,) = found.actions
    assert dict(opened.fields)[F.INCIDENT_TYPE] == "Shared without approval"
    assert dict(opened.fields)[F.INCIDENT_SOURCE] == "InfoShare service"
    # With a valid approval, or no need, nothing is opened.
    fine = then(approved_by(MANAGER, status=S.APPROVED), (PRACTITIONER, s(S.SHARED, **DECISION, **SHARE_RECORD, approval_decision="Approved")))
    assert not any(k.startswith("shared-without") for k in onces(approval.derive(fine)))
    assert not any(k.startswith("shared-without") for k in onces(approval.derive(timeline((PRACTITIONER, synced(**DECISION))))))
    # Without a history there is nothing to go on.
    bare = Context(None, synced(S.SHARED, **DECISION, **SHARE_RECORD), Actor(1, None), CONFIG, NOW)
    assert not any(k.startswith("shared-without") for k in onces(approval.derive(bare)))


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
    decided = timeline(*[(st.user_id, st.after, st.at) for st in ctx.history], (MANAGER, synced(S.SHARED, **OVERRIDE, approval_decision="Approved"), FRIDAY),
                       now=at_noon("2026-11-23"))
    assert approval.retrospective_reminder(decided) is None
    undated = timeline((PRACTITIONER, synced(S.SHARED, **OVERRIDE), None), now=at_noon("2026-11-23"))
    undated = Context(undated.previous, undated.proposed, undated.actor, CONFIG, undated.now, (Step("created", PRACTITIONER, "", None, undated.proposed, None),))
    assert approval.retrospective_reminder(undated) is None


def test_a_retrospective_approval_closes_the_matter():
    ctx = then(declined_then_overridden(), (BOT, synced(S.SHARED, **OVERRIDE)), (OTHER_MANAGER, synced(S.SHARED, **OVERRIDE, approval_decision="Approved")))
    keys = set(onces(approval.derive(ctx)))
    assert not any(k.startswith(("retrospective-approval", "retrospective-declined")) for k in keys)
    assert fields_set(approval.derive(ctx))[F.APPROVED_BY] == "Mark Manager"

import pytest

from plugin.policy import outcome
from plugin.domain.names import StatusKey
from tests.unit.policy.helpers import ctx, decided, found, shared, state


@pytest.mark.parametrize("decision", ["Share", "Share in part"])
def test_shared_with_a_share_decision_passes(decision):
    assert outcome.check(ctx(shared(decision=decision))) == []


def test_shared_needs_a_share_decision():
    assert found(outcome.check, shared(decision="Do not share")) == {("R-OUTCOME", "decision", "not_a_share")}


def test_shared_without_any_decision_is_left_to_r_decision():
    assert outcome.check(ctx(shared(decision=""))) == []


def test_not_shared_needs_do_not_share_or_a_declined_approval():
    assert found(outcome.check, decided(StatusKey.NOT_SHARED, decision="Share")) == {("R-OUTCOME", "decision", "not_a_refusal")}
    assert outcome.check(ctx(decided(StatusKey.NOT_SHARED, decision="Do not share"))) == []
    assert outcome.check(ctx(decided(StatusKey.NOT_SHARED, decision="Share", approval_decision="Declined"))) == []
    assert outcome.check(ctx(decided(StatusKey.NOT_SHARED, decision=""))) == []


def test_approved_status_is_not_checked_against_the_decision():
    assert outcome.check(ctx(decided(StatusKey.APPROVED, decision="Do not share"))) == []


@pytest.mark.parametrize(
    "proposed",
    [
        decided(StatusKey.ASSESSING, recipient_entitlement="Not entitled", decision="Share"),
        decided(StatusKey.ASSESSING, recipient_entitlement="Not entitled", decision="Share in part"),
        state(StatusKey.APPROVED, recipient_entitlement="Not entitled"),
        shared(recipient_entitlement="Not entitled", decision="Do not share"),
    ],
)
def test_a_recipient_who_is_not_entitled_is_never_shared_with(proposed):
    assert ("R-OUTCOME", "recipient_entitlement", "not_entitled") in found(outcome.check, proposed)


def test_refusing_a_recipient_who_is_not_entitled_passes():
    assert outcome.check(ctx(decided(StatusKey.NOT_SHARED, recipient_entitlement="Not entitled", decision="Do not share"))) == []


def test_message():
    (v,) = outcome.check(ctx(shared(decision="Do not share")))
    assert v.message == "Decision: a request can be Shared only when the decision is Share or Share in part (R-OUTCOME)."

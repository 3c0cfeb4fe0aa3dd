import pytest

from plugin.policy import decision
from plugin.policy.requirements import DECISION_REQUIRED, DECISION_STATUSES
from plugin.domain.names import StatusKey
from tests.unit.policy.helpers import ctx, decided, found, make_config, state


@pytest.mark.parametrize("status", [StatusKey.RECEIVED, StatusKey.ASSESSING, StatusKey.WITHDRAWN])
def test_no_decision_is_needed_before_it_is_made(status):
    assert decision.check(ctx(state(status))) == []


@pytest.mark.parametrize("status", DECISION_STATUSES)
def test_every_decision_field_is_needed_in_decision_statuses(status):
    assert found(decision.check, state(status)) == {("R-DECISION", f.value, "missing") for f in DECISION_REQUIRED}
    assert decision.check(ctx(decided(status))) == []


def test_the_message_names_the_status_and_what_to_do():
    (v,) = decision.check(ctx(decided(StatusKey.NOT_SHARED, decision_reasons="")))
    assert v.message == (
        "Decision reasons: before the request can be Not shared, record the reasons for your decision, "
        "whether or not you share (R-DECISION)."
    )


def test_messages_use_the_site_names():
    config = make_config(names={"statuses": {"shared": "Disclosed"}, "fields": {"decision_reasons": "Rationale"}})
    (v,) = decision.check(ctx(decided(StatusKey.SHARED, decision_reasons=""), config=config))
    assert v.message.startswith("Rationale: before the request can be Disclosed,")

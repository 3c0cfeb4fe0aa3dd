import pytest

from plugin.policy import intake
from plugin.policy.requirements import INTAKE_REQUIRED
from tests.unit.policy.helpers import INTAKE, ctx, found, state


def test_a_complete_intake_passes():
    assert intake.check(ctx(state())) == []


@pytest.mark.parametrize("field", INTAKE_REQUIRED)
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_each_intake_field_is_required(field, empty):
    assert ("R-INTAKE", field.value, "missing") in found(intake.check, state(**{field.value: empty}))


def test_messages_say_what_to_do_and_cite_the_rule():
    (violation,) = intake.check(ctx(state(requester_name="")))
    assert violation.message == "Requester name: record the name of the person asking (R-INTAKE)."


def test_a_phone_request_needs_the_phone_number():
    assert found(intake.check, state(requester_phone="")) == {("R-INTAKE", "requester_phone", "missing")}


@pytest.mark.parametrize("channel", ["Email", "Secure email"])
def test_an_email_request_needs_the_email_address(channel):
    assert found(intake.check, state(request_channel=channel, requester_phone="")) == {("R-INTAKE", "requester_email", "missing")}
    assert intake.check(ctx(state(request_channel=channel, requester_email="a@nhs.net"))) == []


@pytest.mark.parametrize("channel", ["Letter", "In person", "Secure portal", "Meeting"])
def test_other_channels_need_neither(channel):
    assert intake.check(ctx(state(request_channel=channel, requester_phone=""))) == []


def test_an_empty_request_lists_every_missing_field_once():
    violations = intake.check(ctx(state(base={})))
    assert [v.field for v in violations] == list(INTAKE_REQUIRED)
    assert len(INTAKE) == len(INTAKE_REQUIRED) + 4 + 1  # what an incoming request asks, and the phone (its channel's)

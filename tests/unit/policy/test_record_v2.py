"""The decision record of DOMAIN.md version 2: asked in the words of the
case's direction, a refusal not asked for a lawful basis, consent timed and
its limits explained, the share timed, by whom, how far it may go, and
confirmed in writing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from plugin.policy import consent, decision, intake, share
from plugin.policy.model import Actor, AddWatcher, Context, Milestone, Once, Principal, SetFields, Step
from tests.unit.conftest import make_config
from tests.unit.policy.helpers import CONFIG, INTAKE, NOW, ctx, decided, found, shared, state

F = FieldKey
S = StatusKey


# --- R-INTAKE by direction -------------------------------------------------------------


def test_an_outgoing_request_asks_only_for_the_agency_asked():
    outgoing = state(base={k: v for k, v in INTAKE.items() if k in (F.REQUEST_DIRECTION, F.REQUEST_CHANNEL, F.INFORMATION_REQUESTED, F.PURPOSE_OF_SHARING, F.URGENCY)},
                     request_direction="Outgoing request")
    (v,) = intake.check(ctx(outgoing))
    assert v.field is F.REQUESTER_ORGANISATION and "the agency you are asking" in v.message
    assert intake.check(ctx(dataclasses.replace(outgoing, fields={**outgoing.fields, F.REQUESTER_ORGANISATION: "Police"}))) == []


def test_a_proactive_disclosure_asks_who_it_goes_to_not_who_asked():
    bare = {k: v for k, v in INTAKE.items() if k in (F.REQUEST_CHANNEL, F.INFORMATION_REQUESTED, F.PURPOSE_OF_SHARING, F.URGENCY)}
    proactive = state(base=bare, request_direction="Proactive disclosure")
    messages = {v.field: v.message for v in intake.check(ctx(proactive))}
    assert set(messages) == {F.SHARED_WITH, F.RECIPIENT_ENTITLEMENT}
    assert "the person or agency you are disclosing to" in messages[F.SHARED_WITH]
    assert "the person you are disclosing to is entitled" in messages[F.RECIPIENT_ENTITLEMENT]
    assert "asking" not in " ".join(messages.values())


def test_an_incoming_request_asks_about_the_person_asking():
    messages = {v.field: v.message for v in intake.check(ctx(state(base={F.REQUEST_DIRECTION: "Incoming request"})))}
    assert "the name of the person asking" in messages[F.REQUESTER_NAME]
    assert "how you checked who the person asking is" in messages[F.IDENTITY_CHECK]


def test_an_email_request_needs_the_address_and_a_phone_request_the_number():
    assert found(intake.check, state(request_channel="Email", requester_phone="")) == {("R-INTAKE", "requester_email", "missing")}
    assert found(intake.check, state(requester_phone="")) == {("R-INTAKE", "requester_phone", "missing")}


def test_a_trusted_domain_check_needs_a_domain_on_the_sites_list():
    trusting = make_config(approval={"trusted_domains": ["nhs.net"]})
    email = dict(request_channel="Email", identity_check="Trusted email domain")
    assert found(intake.check, state(requester_email="gp@nhs.net", **email), config=trusting) == set()
    (v,) = intake.check(ctx(state(requester_email="someone@example.org", **email), config=trusting))
    assert (v.field, v.code) == (F.IDENTITY_CHECK, "untrusted_domain") and "not on this site's list" in v.message
    assert "example.org" not in v.message  # no personal data in messages
    assert found(intake.check, state(requester_email="not an address", **email), config=trusting) == {("R-INTAKE", "requester_email", "no_domain")}


# --- R-DECISION -----------------------------------------------------------------------------


def test_a_refusal_needs_no_lawful_basis_nor_consent():
    refusal = decided(S.NOT_SHARED, decision="Do not share", lawful_basis="", consent_status="", subject_informed="", special_category_condition="")
    assert decision.check(ctx(refusal)) == []


def test_a_share_needs_its_lawful_footing_never_not_applicable():
    assert found(decision.check, decided(S.AWAITING_APPROVAL, lawful_basis="Not applicable", consent_status="Not applicable")) == {
        ("R-DECISION", "lawful_basis", "not_applicable"),
        ("R-DECISION", "consent_status", "not_applicable"),
    }
    assert found(decision.check, decided(S.AWAITING_APPROVAL, special_category_condition="")) == {("R-DECISION", "special_category_condition", "missing")}


def test_a_share_in_part_says_what_was_withheld():
    assert found(decision.check, decided(S.AWAITING_APPROVAL, decision="Share in part")) == {("R-DECISION", "information_withheld", "missing")}
    assert decision.check(ctx(decided(S.AWAITING_APPROVAL, decision="Share in part", information_withheld="third-party details"))) == []


# --- R-CONSENT --------------------------------------------------------------------------------


GIVEN = dict(consent_status="Given", consent_given_by="Child or young person", consent_date="2026-11-20", consent_time="09:15",
             consent_limits_explained="1", consent_not_sought_reason="")


def test_consent_given_is_dated_timed_and_its_limits_explained_for_a_share():
    assert consent.check(ctx(decided(**GIVEN))) == []
    assert found(consent.check, decided(**{**GIVEN, "consent_time": "", "consent_limits_explained": "0"})) == {
        ("R-CONSENT", "consent_time", "missing"),
        ("R-CONSENT", "consent_limits_explained", "not_confirmed"),
    }
    # Limits matter only when sharing.
    assert found(consent.check, decided(**{**GIVEN, "consent_limits_explained": "0"}, decision="Do not share")) == set()


@pytest.mark.parametrize("typed", ["9.15", "25:00", "quarter past", "12:60"])
def test_a_time_that_is_not_a_time_is_told_so(typed):
    (v,) = consent.check(ctx(decided(**{**GIVEN, "consent_time": typed})))
    assert (v.field, v.code) == (F.CONSENT_TIME, "not_a_time") and "HH:MM" in v.message


def test_public_task_without_consent_needs_no_justification():
    assert consent.check(ctx(decided(public_interest_justification=""))) == []  # helpers: not sought, consent is not the basis


def test_consent_is_not_the_basis_needs_a_basis_without_consent():
    assert found(consent.check, decided(lawful_basis="Not applicable")) == {("R-CONSENT", "lawful_basis", "needs_basis_without_consent")}
    assert found(consent.check, decided(lawful_basis="UK GDPR 6(1)(c) legal obligation")) == set()


def test_sharing_without_consent_for_another_reason_needs_the_public_interest():
    other = decided(consent_not_sought_reason="Would cause unjustified delay", public_interest_justification="")
    assert found(consent.check, other) == {("R-CONSENT", "public_interest_justification", "missing")}
    refused = decided(consent_status="Refused", consent_not_sought_reason="", public_interest_justification="")
    assert found(consent.check, refused) == {("R-CONSENT", "public_interest_justification", "missing")}
    assert consent.check(ctx(decided(consent_status="Refused", public_interest_justification="risk of harm"))) == []
    # Not sought without a reason: the reason is asked for first.
    assert found(consent.check, decided(consent_not_sought_reason="", public_interest_justification="")) == {
        ("R-CONSENT", "consent_not_sought_reason", "missing")
    }


def test_early_help_is_shared_only_with_consent():
    assert found(consent.check, decided(risk_level="Early help")) == {("R-CONSENT", "consent_status", "early_help_needs_consent")}
    assert consent.check(ctx(decided(risk_level="Early help", lawful_basis="UK GDPR 6(1)(a) consent", **GIVEN))) == []
    assert found(consent.check, decided(risk_level="Early help", decision="Do not share")) == set()


# --- R-SHARE ----------------------------------------------------------------------------------------


def test_a_share_is_timed_not_in_the_future_and_may_be_recorded_after_the_fact():
    assert share.check(ctx(shared())) == []
    today = NOW.date().isoformat()
    assert found(share.check, shared(shared_on=today, shared_at="23:59")) == {("R-SHARE", "shared_at", "future")}
    assert found(share.check, shared(shared_at="")) == {("R-SHARE", "shared_at", "missing")}
    assert found(share.check, shared(shared_at="noonish")) == {("R-SHARE", "shared_at", "not_a_time")}
    # Logged at 09:00 on the 10th; shared at 08:00 that day and recorded later: fine.
    assert share.check(ctx(shared(shared_on="2026-11-10", shared_at="08:00"))) == []


def test_a_method_that_is_not_secure_is_said_with_its_reason():
    assert found(share.check, shared(secure_method="Other - not secure")) == {("R-SHARE", "insecure_method_reason", "missing")}
    assert share.check(ctx(shared(secure_method="Other - not secure", insecure_method_reason="recipient has no secure e-mail"))) == []


def test_the_written_confirmation_is_dated_after_the_share_and_not_in_the_future():
    assert found(share.check, shared(confirmed_in_writing_on="2026-11-25")) == {("R-SHARE", "confirmed_in_writing_on", "future")}
    assert found(share.check, shared(confirmed_in_writing_on="2026-11-19")) == {("R-SHARE", "confirmed_in_writing_on", "before_share")}
    assert share.check(ctx(shared(confirmed_in_writing_on="2026-11-21"))) == []


def sharing_ctx(after, *, user=10, now=NOW, config=CONFIG):
    before = decided()
    steps = (Step("created", 10, "", None, before, dt.datetime(2026, 11, 10, 9, tzinfo=dt.timezone.utc)), Step("801", user, "", before, after, now))
    return Context(before, after, Actor(user, "p"), config, now, steps, {10: Principal(10, "Priya Practitioner")}, (), 9)


def test_the_service_writes_who_shared():
    (set_by,) = share.derive(sharing_ctx(shared(shared_on="2026-11-21")))
    assert set_by == SetFields(((F.SHARED_BY, "Priya Practitioner"),))
    assert share.derive(sharing_ctx(shared(), user=9)) == []  # the service itself shares nothing
    assert share.derive(ctx(decided())) == []


def test_the_sharer_is_reminded_each_working_day_until_it_is_confirmed_in_writing():
    monday = dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc)  # shared the Friday before
    context = sharing_ctx(shared(shared_on="2026-11-20"), now=monday)
    _, reminder = share.derive(context)
    assert isinstance(reminder, Once) and reminder.key == "confirm-in-writing-2026-11-23" and reminder.milestone is Milestone.CONFIRMATION_REMINDER
    assert reminder.actions == (AddWatcher(user_id=10),) and "Priya Practitioner" in reminder.note and "2026-11-20" in reminder.note
    saturday = dt.datetime(2026, 11, 21, 10, tzinfo=dt.timezone.utc)
    assert len(share.derive(sharing_ctx(shared(shared_on="2026-11-20"), now=saturday))) == 1  # no reminder at the weekend
    assert len(share.derive(sharing_ctx(shared(shared_on="2026-11-23"), now=monday))) == 1  # not on the day itself
    assert len(share.derive(sharing_ctx(shared(shared_on="2026-11-20", confirmed_in_writing_on="2026-11-20"), now=monday))) == 1
    off = make_config(share={"written_confirmation_reminders": False})
    assert len(share.derive(sharing_ctx(shared(shared_on="2026-11-20"), now=monday, config=off))) == 1


def test_a_share_awaiting_its_written_confirmation_wakes_the_sweep_each_midnight_until_it_is_recorded():
    monday = dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc)
    waiting = sharing_ctx(shared(shared_on="2026-11-20"), now=monday)
    assert share.next_due(waiting) == dt.datetime(2026, 11, 24, 0, tzinfo=dt.timezone.utc)  # midnight in London (GMT)
    assert share.next_due(sharing_ctx(shared(shared_on="2026-11-20", confirmed_in_writing_on="2026-11-20"), now=monday)) is None
    assert share.next_due(sharing_ctx(shared(), user=9)) is None  # shared by the service: nobody to remind
    off = make_config(share={"written_confirmation_reminders": False})
    assert share.next_due(sharing_ctx(shared(shared_on="2026-11-20"), now=monday, config=off)) is None
    # Before the wake, no moment calls for a reminder the judged one did not.
    for hours in range(1, 14):
        later = dataclasses.replace(waiting, now=monday + dt.timedelta(hours=hours))
        assert {o.key for o in share.derive(later) if isinstance(o, Once)} == {"confirm-in-writing-2026-11-23"}

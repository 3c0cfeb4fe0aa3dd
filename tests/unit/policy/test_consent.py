import datetime as dt

import pytest

from plugin.policy import consent
from tests.unit.policy.helpers import ctx, decided, found

GIVEN = dict(consent_status="Given", consent_given_by="Person with parental responsibility", consent_date="2026-11-01", consent_time="14:30",
             consent_limits_explained="1", lawful_basis="UK GDPR 6(1)(a) consent", consent_not_sought_reason="")


def test_given_consent_with_who_and_when_passes():
    assert consent.check(ctx(decided(**GIVEN))) == []


def test_given_consent_needs_who_and_when():
    assert found(consent.check, decided(**{**GIVEN, "consent_given_by": "", "consent_date": ""})) == {
        ("R-CONSENT", "consent_given_by", "missing"),
        ("R-CONSENT", "consent_date", "missing"),
    }


def test_a_consent_date_that_is_not_a_date_counts_as_missing():
    assert found(consent.check, decided(**{**GIVEN, "consent_date": "yesterday"})) == {("R-CONSENT", "consent_date", "missing")}


def test_a_future_consent_date_is_refused_today_is_not():
    assert found(consent.check, decided(**{**GIVEN, "consent_date": "2026-11-22"})) == {("R-CONSENT", "consent_date", "future")}
    assert consent.check(ctx(decided(**{**GIVEN, "consent_date": "2026-11-21"}))) == []


def test_today_is_the_local_date():
    # 23:30 UTC on 30 June is already 1 July in London (BST).
    late = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc)
    assert consent.check(ctx(decided(**{**GIVEN, "consent_date": "2026-07-01"}), now=late)) == []


def test_not_sought_needs_a_reason():
    assert found(consent.check, decided(consent_status="Not sought", decision="Do not share", consent_not_sought_reason="")) == {
        ("R-CONSENT", "consent_not_sought_reason", "missing")
    }
    assert consent.check(ctx(decided(consent_status="Not sought", decision="Do not share", consent_not_sought_reason="Would cause unjustified delay"))) == []


@pytest.mark.parametrize("status", ["Refused", "Withdrawn", "Not sought"])
@pytest.mark.parametrize("decision", ["Share", "Share in part"])
def test_sharing_without_consent_needs_a_public_interest_justification(status, decision):
    proposed = decided(consent_status=status, decision=decision, consent_not_sought_reason="Would increase risk of significant harm")
    assert ("R-CONSENT", "public_interest_justification", "missing") in found(consent.check, proposed)
    assert consent.check(ctx(decided(consent_status=status, decision=decision, consent_not_sought_reason="Would increase risk of significant harm", public_interest_justification="risk of significant harm"))) == []


def test_not_sharing_without_consent_needs_no_justification():
    assert consent.check(ctx(decided(consent_status="Refused", decision="Do not share"))) == []


def test_consent_as_lawful_basis_needs_consent_given():
    assert found(consent.check, decided(lawful_basis="UK GDPR 6(1)(a) consent", consent_status="Not applicable")) == {
        ("R-CONSENT", "lawful_basis", "consent_not_given")
    }
    assert found(consent.check, decided(lawful_basis="UK GDPR 6(1)(a) consent", consent_status="")) == {
        ("R-CONSENT", "lawful_basis", "consent_not_given")
    }


def test_another_lawful_basis_needs_no_consent():
    assert consent.check(ctx(decided(lawful_basis="UK GDPR 6(1)(c) legal obligation", consent_status="Refused", decision="Do not share"))) == []


def test_not_informed_for_another_reason_needs_the_reason():
    assert found(consent.check, decided(subject_informed="No - other reason")) == {("R-CONSENT", "not_informed_reason", "missing")}
    assert consent.check(ctx(decided(subject_informed="No - other reason", not_informed_reason="subject abroad"))) == []
    assert consent.check(ctx(decided(subject_informed="No - would increase risk"))) == []


def test_messages_cite_the_rule_and_carry_no_values():
    v = consent.check(ctx(decided(subject_informed="No - other reason")))[0]
    assert v.message == "Not informed reason: the person was not told for another reason: record that reason (R-CONSENT)."

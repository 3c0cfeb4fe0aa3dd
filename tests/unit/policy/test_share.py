import datetime as dt

import pytest

from plugin.policy import share
from plugin.policy.requirements import SHARE_RECORD_REQUIRED
from plugin.domain.names import StatusKey
from tests.unit.policy.helpers import ctx, decided, found, shared


def test_a_complete_share_record_passes():
    assert share.check(ctx(shared())) == []


@pytest.mark.parametrize("status", [s for s in StatusKey if s is not StatusKey.SHARED])
def test_only_shared_needs_the_share_record(status):
    assert share.check(ctx(decided(status))) == []


@pytest.mark.parametrize("field", [f for f in SHARE_RECORD_REQUIRED])
def test_each_part_of_the_record_is_required(field):
    codes = {"fact_and_opinion_distinguished": "not_confirmed"}
    assert found(share.check, shared(**{field.value: ""})) == {("R-SHARE", field.value, codes.get(field.value, "missing"))}


@pytest.mark.parametrize("value", ["0", "", None])
def test_fact_and_opinion_must_be_confirmed_yes(value):
    assert found(share.check, shared(fact_and_opinion_distinguished=value)) == {("R-SHARE", "fact_and_opinion_distinguished", "not_confirmed")}


def test_shared_on_cannot_be_in_the_future():
    assert found(share.check, shared(shared_on="2026-11-22")) == {("R-SHARE", "shared_on", "future")}
    assert share.check(ctx(shared(shared_on="2026-11-21"))) == []


def test_shared_on_cannot_be_before_the_request_was_logged():
    assert found(share.check, shared(shared_on="2026-11-09")) == {("R-SHARE", "shared_on", "before_request")}
    assert share.check(ctx(shared(shared_on="2026-11-10"))) == []


def test_the_logged_date_is_local():
    # Logged at 23:30 UTC on 30 June = 1 July in London: sharing on 30 June is too early.
    created = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc)
    assert found(share.check, shared(shared_on="2026-06-30", created_on=created)) == {("R-SHARE", "shared_on", "before_request")}


def test_a_new_request_has_no_creation_date_to_compare():
    assert share.check(ctx(shared(created_on=None))) == []


def test_an_unreadable_date_counts_as_missing():
    assert found(share.check, shared(shared_on="21/11/2026")) == {("R-SHARE", "shared_on", "missing")}

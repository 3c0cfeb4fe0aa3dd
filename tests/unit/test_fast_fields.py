"""The plain checks for the payload parts that come in numbers
(schemas/fast_fields.py): same results and error shapes as the nested
marshmallow schemas they replaced."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError

from schemas.error_messages import flatten_errors
from schemas.gate_messages import PRINCIPAL, STATUS
from schemas.fast_fields import (
    CUSTOM_FIELD_VALUE,
    ISSUE,
    JOURNAL,
    JOURNAL_DETAIL,
    PROPOSED_ISSUE,
    REF,
    Record,
    Invalid,
    Key,
    Records,
    Shape,
    boolean,
    integer,
    records,
    string,
)


def problems(shape: Shape, data) -> dict:
    with pytest.raises(Invalid) as caught:
        shape.load(data)
    return caught.value.messages


def test_a_custom_field_value_keeps_unknown_keys_and_reads_multiple_as_marshmallow_does():
    loaded = CUSTOM_FIELD_VALUE.load({"id": 3, "name": "Statutory power", "multiple": "true", "value": ["s47"], "extra": 1})
    assert loaded == {"id": 3, "name": "Statutory power", "multiple": True, "value": ["s47"], "extra": 1}
    assert CUSTOM_FIELD_VALUE.load({"id": 3, "name": "Urgency", "value": None})["value"] is None


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"name": "Urgency"}, {"id": ["Missing data for required field."]}),
        ({"id": "3", "name": "Urgency"}, {"id": ["Not a valid integer."]}),
        ({"id": True, "name": "Urgency"}, {"id": ["Not a valid integer."]}),
        ({"id": 3, "name": None}, {"name": ["Field may not be null."]}),
        ({"id": 3, "name": 7}, {"name": ["Not a valid string."]}),
        ({"id": 3, "name": "Urgency", "multiple": []}, {"multiple": ["Not a valid boolean."]}),
        ({"id": 3, "name": "Urgency", "multiple": "perhaps"}, {"multiple": ["Not a valid boolean."]}),
        ({"id": 3, "name": "Urgency", "value": {"nested": 1}}, {"value": ["must be a string, a list of strings or null"]}),
        ({"id": 3, "name": "Urgency", "value": ["a", 2]}, {"value": ["must be a string, a list of strings or null"]}),
        ("not a record", {"_schema": ["Invalid input type."]}),
    ],
)
def test_a_bad_custom_field_value_is_named(entry, expected):
    assert problems(CUSTOM_FIELD_VALUE, entry) == expected


def test_list_errors_are_keyed_by_position_and_flatten_counting_from_one():
    check = records(CUSTOM_FIELD_VALUE)
    with pytest.raises(Invalid) as caught:
        check([{"id": 1, "name": "A", "value": "x"}, {"id": 2, "name": "B", "value": 5}])
    assert caught.value.messages == {1: {"value": ["must be a string, a list of strings or null"]}}
    with pytest.raises(Invalid) as caught:
        check({"id": 1})
    assert caught.value.messages == ["Not a valid list."]


def test_inside_a_marshmallow_schema_the_errors_read_like_any_other():
    issue = {"id": 42, "project": {"id": 1}, "tracker": {"id": 4, "name": "Information request"}, "status": None}
    issue["custom_fields"] = [{"id": 1, "name": "Urgency", "value": "Red"}, {"id": 2, "name": "Decision", "value": 9}]
    class Holder(Schema):
        issue = Record(ISSUE, required=True)

    with pytest.raises(ValidationError) as caught:
        Holder().load({"issue": issue})
    lines = flatten_errors(caught.value.messages)
    assert "issue.status: Field may not be null." in lines
    assert "issue.custom_fields[2].value: must be a string, a list of strings or null" in lines


def test_an_issue_needs_a_positive_id_unless_it_is_new():
    issue = {"project": {"id": 1}, "tracker": {"id": 4, "name": "Information request"}, "status": {"id": 1, "name": "Received"}}
    assert problems(ISSUE, issue) == {"id": ["Missing data for required field."]}
    assert problems(ISSUE, {**issue, "id": 0}) == {"id": ["Must be greater than or equal to 1."]}
    assert problems(ISSUE, {**issue, "id": "7"}) == {"id": ["Not a valid integer."]}
    assert PROPOSED_ISSUE.load(issue) == {**issue, "id": None, "custom_fields": []}
    assert ISSUE.load({**issue, "id": 7, "later": "kept"})["later"] == "kept"


def test_a_checked_field_is_required_and_defaults_as_declared():
    class Holder(Schema):
        refs = Records(REF, required=True)

    with pytest.raises(ValidationError) as caught:
        Holder().load({})
    assert caught.value.messages == {"refs": ["Missing data for required field."]}
    assert Holder().load({"refs": [{"id": 1, "name": None}]}) == {"refs": [{"id": 1, "name": None}]}


def test_journal_details_keep_rests_spelling_whichever_redmine_sent():
    rest = JOURNAL_DETAIL.load({"property": "attr", "name": "status_id", "old_value": "1", "new_value": "2"})
    native = JOURNAL_DETAIL.load({"property": "attr", "prop_key": "status_id", "old_value": "1", "value": "2"})
    assert rest == native == {"property": "attr", "name": "status_id", "old_value": "1", "new_value": "2"}


def test_a_journal_gets_its_defaults_and_checks_its_user_and_details():
    assert JOURNAL.load({"id": 7}) == {"id": 7, "notes": None, "private_notes": False, "user": None, "details": []}
    assert problems(JOURNAL, {"id": 7, "user": {"name": "x"}, "details": [{"name": "status_id"}]}) == {
        "user": {"id": ["Missing data for required field."]},
        "details": {0: {"property": ["Missing data for required field."]}},
    }


def test_gate_lists_drop_keys_they_do_not_know():
    assert PRINCIPAL.load({"id": 5, "email": "never kept"}) == {"id": 5, "name": "", "roles": []}
    assert STATUS.load({"id": 1, "name": "Received", "is_closed": False}) == {"id": 1, "name": "Received"}
    assert problems(PRINCIPAL, {"id": 5, "roles": ["MASH manager", 3]}) == {"roles": ["Not a valid list of strings."]}


def test_the_scalar_checks():
    assert integer(3) == 3 and string("a") == "a"
    assert boolean("yes") is True and boolean(0) is False
    with pytest.raises(Invalid):
        boolean({"unhashable": 1})
    shape = Shape({"n": Key(integer, default=0), "tags": Key(records(REF), default=list)}, keep_unknown=False)
    assert shape.load({"other": 1}) == {"n": 0, "tags": []}

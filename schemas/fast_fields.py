"""Flat records checked in plain Python, for the parts of a payload that come
in numbers: an issue's custom field values, journals and their details, the
statuses and members a gate request lists.

A nested marshmallow schema costs 10-20 microseconds per object; a gate
request for a request with a long history carries hundreds of them, and the
gate is on the path of every save (benchmarks/RESULTS.md has the figures).
These checks do the same job at a fraction of the cost, and are plugged into
the marshmallow schemas as fields (`Record`, `Records`). Their errors have
marshmallow's shape ({key: [message]}, {index: {...}}), so `flatten_errors`
reports them like any other.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from marshmallow import ValidationError, fields

REQUIRED = "Missing data for required field."
NOT_NULL = "Field may not be null."
NOT_A_RECORD = "Invalid input type."


class Invalid(Exception):
    """A value that does not fit: `messages` is a list of strings, or a dict
    for a nested record or list."""

    def __init__(self, messages: list[str] | dict):
        super().__init__(messages)
        self.messages = messages


Check = Callable[[Any], Any]


def integer(value: Any) -> int:
    if type(value) is not int:  # strict: not "3", not True
        raise Invalid(["Not a valid integer."])
    return value


def positive_integer(value: Any) -> int:
    if integer(value) < 1:
        raise Invalid(["Must be greater than or equal to 1."])
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(["Not a valid string."])
    return value


def boolean(value: Any) -> bool:
    """As marshmallow's Boolean reads one (true, "1", "yes", ...)."""
    try:
        if value in fields.Boolean.truthy:
            return True
        if value in fields.Boolean.falsy:
            return False
    except TypeError:  # unhashable
        pass
    raise Invalid(["Not a valid boolean."])


def raw(value: Any) -> Any:
    return value


def strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(["Not a valid list of strings."])
    return value


def field_value(value: Any) -> str | list[str]:
    """A custom field's value (null is allowed by its Key)."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise Invalid(["must be a string, a list of strings or null"])


_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Key:
    check: Check
    required: bool = False
    allow_none: bool = False
    default: Any = _MISSING  # a value, or a callable making one (list, dict)


@dataclasses.dataclass(frozen=True)
class Shape:
    keys: Mapping[str, Key]
    keep_unknown: bool = True  # marshmallow's INCLUDE (else EXCLUDE)
    normalise: Callable[[dict], dict] | None = None
    # A quick test that a record is valid as it stands and needs nothing
    # converted or filled in; it is then taken as it is. Any other record
    # goes key by key, which also finds the messages for what is wrong.
    fast: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        assert self.fast is None or (
            self.keep_unknown and self.normalise is None and all(k.default is _MISSING for k in self.keys.values())
        ), "a fast test only fits a shape that keeps records as they are"
        # The keys as plain tuples, read once: `load` runs for every custom
        # field of every issue in a payload.
        plan = tuple((name, key.check, key.required, key.allow_none, key.default) for name, key in self.keys.items())
        object.__setattr__(self, "_plan", plan)

    def load(self, data: Any) -> dict[str, Any]:
        if self.fast is not None and self.fast(data):
            return dict(data)
        if type(data) is not dict:
            raise Invalid({"_schema": [NOT_A_RECORD]})
        out = dict(data) if self.keep_unknown else {}
        problems: dict[str, Any] | None = None
        for name, check, required, allow_none, default in self._plan:
            value = data.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    problems = problems or {}
                    problems[name] = [REQUIRED]
                elif default is not _MISSING:
                    out[name] = default() if callable(default) else default
                continue
            if value is None:
                if allow_none:
                    out[name] = None
                else:
                    problems = problems or {}
                    problems[name] = [NOT_NULL]
                continue
            try:
                out[name] = check(value)
            except Invalid as exc:
                problems = problems or {}
                problems[name] = exc.messages
        if problems:
            raise Invalid(problems)
        return self.normalise(out) if self.normalise else out


def record(shape: Shape) -> Check:
    return shape.load


def records(shape: Shape) -> Check:
    def check(value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise Invalid(["Not a valid list."])
        loaded, problems = [], {}
        for index, item in enumerate(value):
            try:
                loaded.append(shape.load(item))
            except Invalid as exc:
                problems[index] = exc.messages
        if problems:
            raise Invalid(problems)
        return loaded

    return check


class Checked(fields.Field):
    """A marshmallow field whose value is checked by a plain check."""

    def __init__(self, check: Check, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return self.check(value)
        except Invalid as exc:
            raise ValidationError(exc.messages) from None


def Record(shape: Shape, **kwargs: Any) -> Checked:  # noqa: N802 - reads as a field type
    return Checked(record(shape), **kwargs)


def Records(shape: Shape, **kwargs: Any) -> Checked:  # noqa: N802 - reads as a field type
    return Checked(records(shape), **kwargs)


# --- The shapes Redmine's payloads share --------------------------------------------------

# {id, name} references: project, tracker, status, user.
REF = Shape({"id": Key(integer, required=True), "name": Key(string, allow_none=True)})

def _custom_field_value_as_sent(entry: Any) -> bool:
    """An entry as Redmine sends it: a whole-number id, a name, `multiple`
    absent or a real boolean, and a value that is null, a string or a list
    of strings. Every custom field of every issue in a payload is one."""
    if type(entry) is not dict:
        return False
    multiple = entry.get("multiple", False)
    value = entry.get("value")
    return (
        type(entry.get("id")) is int
        and type(entry.get("name")) is str
        and (multiple is True or multiple is False)
        and (value is None or type(value) is str or (type(value) is list and all(type(v) is str for v in value)))
    )


CUSTOM_FIELD_VALUE = Shape(
    {
        "id": Key(integer, required=True),
        "name": Key(string, required=True),
        "multiple": Key(boolean),
        "value": Key(field_value, allow_none=True),
    },
    fast=_custom_field_value_as_sent,
)


def _rest_spelling(detail: dict) -> dict:
    # Redmine's REST journal details say `name` and `new_value`; Redmine 7's
    # webhook says `prop_key` and `value`. Keep one spelling: REST's.
    key = detail.pop("prop_key", None)
    detail["name"] = detail.get("name") or key
    value = detail.pop("value", None)
    if detail.get("new_value") is None:
        detail["new_value"] = value
    return detail


JOURNAL_DETAIL = Shape(
    {
        "property": Key(string, required=True),
        "name": Key(string, allow_none=True, default=None),
        "prop_key": Key(string, allow_none=True, default=None),
        "old_value": Key(raw, allow_none=True, default=None),
        "value": Key(raw, allow_none=True, default=None),
        "new_value": Key(raw, allow_none=True, default=None),
    },
    normalise=_rest_spelling,
)

JOURNAL = Shape(
    {
        "id": Key(integer, required=True),
        "notes": Key(string, allow_none=True, default=None),
        "private_notes": Key(boolean, default=False),
        "user": Key(record(REF), allow_none=True, default=None),
        "details": Key(records(JOURNAL_DETAIL), default=list),
    }
)

# An issue in Redmine's REST shape: what the service relies on is checked,
# anything else (a newer Redmine's attributes) is kept.
ISSUE = Shape(
    {
        "id": Key(positive_integer, required=True),
        "project": Key(record(REF), required=True),
        "tracker": Key(record(REF), required=True),
        "status": Key(record(REF), required=True),
        "subject": Key(string, allow_none=True),
        "custom_fields": Key(records(CUSTOM_FIELD_VALUE), default=list),
    }
)

# An issue the gate is asked about: a new one has no id yet.
PROPOSED_ISSUE = Shape({**ISSUE.keys, "id": Key(positive_integer, allow_none=True, default=None)})

# The stored issue told as what differs from the proposed one (the gate's
# `previous_diff`): attributes by their REST names, null where the stored
# issue has none, and the custom fields whose stored value differs. A save
# changes a field or two, so this is a fraction of a whole issue.
ISSUE_DIFF = Shape(
    {
        "project": Key(record(REF)),
        "tracker": Key(record(REF)),
        "status": Key(record(REF)),
        "custom_fields": Key(records(CUSTOM_FIELD_VALUE), default=list),
    }
)

"""The gate's request and response: the shim asks before Redmine saves an issue."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validates_schema

from schemas.fast_fields import ISSUE, ISSUE_DIFF, JOURNAL, PROPOSED_ISSUE, Key, Record, Records, Shape, integer, string, strings


class GateActorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(allow_none=True, load_default=None)
    login = fields.String(allow_none=True, load_default=None)
    admin = fields.Boolean(load_default=False)


# A user named in the request (the actor, the author, whoever wrote a
# journal) with their roles in the issue's project.
PRINCIPAL = Shape(
    {"id": Key(integer, required=True), "name": Key(string, default=""), "roles": Key(strings, default=list)},
    keep_unknown=False,
)
STATUS = Shape({"id": Key(integer, required=True), "name": Key(string, required=True)}, keep_unknown=False)


class GateRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    request_id = fields.UUID(required=True)
    issue = Record(PROPOSED_ISSUE, required=True)
    # The issue as stored (null for a new one), whole or as `previous_diff`:
    # what differs from `issue`, which keeps the question small.
    previous = Record(ISSUE, allow_none=True, load_default=None)
    previous_diff = Record(ISSUE_DIFF, allow_none=True, load_default=None)
    # The previous issue's journals (without notes), oldest first: who
    # recorded what is read from them.
    journals = Records(JOURNAL, load_default=list)
    statuses = Records(STATUS, load_default=list)
    principals = Records(PRINCIPAL, load_default=list)
    actor = fields.Nested(GateActorSchema, required=True)

    @validates_schema
    def _one_previous(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("previous_diff") is None:
            return
        if data.get("previous") is not None:
            raise ValidationError("send the stored issue as previous or as previous_diff, not both", "previous_diff")
        if data["issue"].get("id") is None:
            raise ValidationError("a new issue has no stored version: send previous as null", "previous_diff")

    @post_load
    def _whole_previous(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        diff = data.pop("previous_diff", None)
        if diff is not None:
            data["previous"] = stored_issue(data["issue"], diff)
        return data


def stored_issue(proposed: dict[str, Any], diff: dict[str, Any]) -> dict[str, Any]:
    """The stored issue from the proposed one and what differs: the diff's
    attributes in place of the proposed ones (null: none stored), and its
    custom field entries in place of those with the same id."""
    stored = {k: v for k, v in proposed.items() if k != "custom_fields"}
    for key, value in diff.items():
        if key == "custom_fields":
            continue
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    differing = {entry["id"]: entry for entry in diff.get("custom_fields") or []}
    stored["custom_fields"] = [differing.get(entry["id"], entry) for entry in proposed.get("custom_fields") or []]
    return stored


class GateViolationSchema(Schema):
    rule = fields.String()
    field = fields.String(allow_none=True)
    field_name = fields.String(allow_none=True)
    code = fields.String()
    message = fields.String()


class GateResponseSchema(Schema):
    allow = fields.Boolean()
    violations = fields.List(fields.Nested(GateViolationSchema))

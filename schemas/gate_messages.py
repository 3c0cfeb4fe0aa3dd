"""The gate's request and response: the shim asks before Redmine saves an issue."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields

from schemas.fast_fields import ISSUE, JOURNAL, PROPOSED_ISSUE, Key, Record, Records, Shape, integer, string, strings


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
    previous = Record(ISSUE, allow_none=True, load_default=None)
    # The previous issue's journals (without notes), oldest first: who
    # recorded what is read from them.
    journals = Records(JOURNAL, load_default=list)
    statuses = Records(STATUS, load_default=list)
    principals = Records(PRINCIPAL, load_default=list)
    actor = fields.Nested(GateActorSchema, required=True)


class GateViolationSchema(Schema):
    rule = fields.String()
    field = fields.String(allow_none=True)
    field_name = fields.String(allow_none=True)
    code = fields.String()
    message = fields.String()


class GateResponseSchema(Schema):
    allow = fields.Boolean()
    violations = fields.List(fields.Nested(GateViolationSchema))

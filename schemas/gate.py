"""The gate's request and response: the shim asks before Redmine saves an issue."""

from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, validate

from schemas.events import IssueSchema


class ProposedIssueSchema(IssueSchema):
    """A new issue has no id yet."""

    class Meta:
        unknown = INCLUDE

    id = fields.Integer(required=False, allow_none=True, load_default=None, strict=True, validate=validate.Range(min=1))


class GateActorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(allow_none=True, load_default=None)
    login = fields.String(allow_none=True, load_default=None)
    admin = fields.Boolean(load_default=False)


class GateRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    request_id = fields.UUID(required=True)
    issue = fields.Nested(ProposedIssueSchema, required=True)
    previous = fields.Nested(IssueSchema, allow_none=True, load_default=None)
    actor = fields.Nested(GateActorSchema, required=True)


class GateViolationSchema(Schema):
    rule = fields.String()
    field = fields.String(allow_none=True)
    code = fields.String()
    message = fields.String()


class GateResponseSchema(Schema):
    allow = fields.Boolean()
    violations = fields.List(fields.Nested(GateViolationSchema))

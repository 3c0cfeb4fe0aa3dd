"""Building issue states and contexts for rule tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from plugin.policy.model import Actor, Context
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IssueState
from tests.unit.conftest import make_config

F = FieldKey
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)
CREATED = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.timezone.utc)
CONFIG = make_config()

INTAKE = {
    F.REQUEST_DIRECTION: "Incoming request",
    F.REQUEST_CHANNEL: "Phone",
    F.REQUESTER_NAME: "Dr A",
    F.REQUESTER_ORGANISATION: "Surgery",
    F.REQUESTER_PHONE: "01632 960000",
    F.INFORMATION_REQUESTED: "attendance",
    F.PURPOSE_OF_SHARING: "s47 enquiry",
    F.URGENCY: "Amber",
    F.IDENTITY_CHECK: "Known contact",
    F.RECIPIENT_ENTITLEMENT: "Confirmed",
}

DECISION = {
    F.DECISION: "Share",
    F.DECISION_REASONS: "needed for the enquiry",
    F.LAWFUL_BASIS: "UK GDPR 6(1)(e) public task",
    F.SPECIAL_CATEGORY_CONDITION: "DPA 2018 Sch 1 para 18 safeguarding",
    # Public task: consent is not the basis, and needs no public interest justification.
    F.CONSENT_STATUS: "Not sought",
    F.CONSENT_NOT_SOUGHT_REASON: "Consent is not the lawful basis",
    F.RISK_LEVEL: "Significant harm",
    F.SUBJECT_INFORMED: "Yes",
}

SHARE_RECORD = {
    F.INFORMATION_SHARED: "attendance summary",
    F.SHARED_WITH: "Dr A",
    F.SHARED_ON: "2026-11-20",
    F.SHARED_AT: "10:30",
    F.CASE_REFERENCE: "CS-1234",
    F.ONWARD_SHARING: "Recipient will not pass it on",
    F.SECURE_METHOD: "Secure email",
    F.FACT_AND_OPINION_DISTINGUISHED: "1",
    F.RETENTION_CATEGORY: "Child protection",
}


def state(
    status: StatusKey | None = StatusKey.RECEIVED,
    *,
    tracker: TrackerKey | None = TrackerKey.INFORMATION_REQUEST,
    base: dict | None = None,
    created_on: dt.datetime | None = CREATED,
    **overrides: Any,
) -> IssueState:
    fields = dict(INTAKE if base is None else base)
    for key, value in overrides.items():
        fields[F(key)] = value
    return IssueState(id=1, tracker=tracker, status=status, fields=fields, created_on=created_on)


def decided(status: StatusKey = StatusKey.ASSESSING, **overrides) -> IssueState:
    return state(status, base={**INTAKE, **DECISION}, **overrides)


def shared(**overrides) -> IssueState:
    return state(StatusKey.SHARED, base={**INTAKE, **DECISION, **SHARE_RECORD}, **overrides)


def ctx(proposed: IssueState, previous: IssueState | None = None, *, now: dt.datetime = NOW, config=CONFIG, actor: Actor | None = None) -> Context:
    return Context(previous, proposed, actor or Actor(10, "practitioner1"), config, now)


def found(check, proposed: IssueState, **kw) -> set[tuple[str, str | None, str]]:
    return {(v.rule.value, v.field.value if v.field else None, v.code) for v in check(ctx(proposed, **kw))}

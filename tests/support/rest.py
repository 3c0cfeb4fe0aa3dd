"""Acting as the demo users against a real Redmine over REST (an administrator's
key with X-Redmine-Switch-User, as python-redmine's `impersonate`)."""

from __future__ import annotations

import functools
from typing import Any, Mapping

from plugin.adapters.redmine.client import make_redmine
from plugin.domain.configuration import Config
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey

PROJECT = "mash"


class RedmineRest:
    def __init__(self, url: str, admin_key: str, config: Config):
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.config = config
        self.admin = self.as_user(None)

    def as_user(self, login: str | None):
        return make_redmine(self.config.redmine, api_key=self.admin_key, impersonate=login, url=self.url)

    def get_json(self, path: str, **params: Any) -> dict[str, Any]:
        return self.admin.engine.request("get", f"{self.url}{path}", params=params)

    @functools.cached_property
    def field_ids(self) -> dict[FieldKey, int]:
        by_name = {f["name"]: f["id"] for f in self.get_json("/custom_fields.json")["custom_fields"]}
        return {key: by_name[name] for key, name in self.config.names.fields.items()}

    @functools.cached_property
    def tracker_ids(self) -> dict[TrackerKey, int]:
        by_name = {t["name"]: t["id"] for t in self.get_json("/trackers.json")["trackers"]}
        return {key: by_name[name] for key, name in self.config.names.trackers.items()}

    @functools.cached_property
    def status_ids(self) -> dict[StatusKey, int]:
        by_name = {s["name"]: s["id"] for s in self.get_json("/issue_statuses.json")["issue_statuses"]}
        return {key: by_name[name] for key, name in self.config.names.statuses.items()}

    def custom_fields(self, values: Mapping[FieldKey, Any]) -> list[dict[str, Any]]:
        return [{"id": self.field_ids[key], "value": value} for key, value in values.items()]

    def create_issue(
        self,
        login: str,
        values: Mapping[FieldKey, Any],
        *,
        tracker: TrackerKey = TrackerKey.INFORMATION_REQUEST,
        subject: str = "Information request",
        **attrs: Any,
    ) -> int:
        issue = self.as_user(login).issue.create(
            project_id=PROJECT,
            tracker_id=self.tracker_ids[tracker],
            subject=subject,
            custom_fields=self.custom_fields(values),
            **attrs,
        )
        return issue.id

    def update_issue(
        self,
        login: str,
        issue_id: int,
        values: Mapping[FieldKey, Any] | None = None,
        *,
        status: StatusKey | None = None,
        **attrs: Any,
    ) -> None:
        if values:
            attrs["custom_fields"] = self.custom_fields(values)
        if status is not None:
            attrs["status_id"] = self.status_ids[status]
        self.as_user(login).issue.update(issue_id, **attrs)

    def issue(self, issue_id: int) -> dict[str, Any]:
        return self.get_json(f"/issues/{issue_id}.json", include="journals")["issue"]

    def field_value(self, issue: Mapping[str, Any], key: FieldKey) -> Any:
        name = self.config.names.field(key)
        return next((cf.get("value") for cf in issue.get("custom_fields", []) if cf["name"] == name), None)


def intake_values(**overrides: Any) -> dict[FieldKey, Any]:
    """A complete intake (R-INTAKE) for a phone request; override per test."""
    values: dict[FieldKey, Any] = {
        FieldKey.REQUEST_DIRECTION: "Incoming request",
        FieldKey.REQUEST_CHANNEL: "Phone",
        FieldKey.REQUESTER_NAME: "Dr Alex Example",
        FieldKey.REQUESTER_ROLE: "GP",
        FieldKey.REQUESTER_ORGANISATION: "Example Surgery",
        FieldKey.REQUESTER_PHONE: "01632 960000",
        FieldKey.IDENTITY_CHECK: "Call-back to independently sourced number",
        FieldKey.RECIPIENT_ENTITLEMENT: "Confirmed",
        FieldKey.URGENCY: "Amber",
        FieldKey.INFORMATION_REQUESTED: "School attendance for the last term",
        FieldKey.PURPOSE_OF_SHARING: "Section 47 enquiry",
    }
    values.update({FieldKey(k): v for k, v in overrides.items()})
    return values


def decision_values(**overrides: Any) -> dict[FieldKey, Any]:
    """A complete decision record (R-DECISION) to share."""
    values: dict[FieldKey, Any] = {
        FieldKey.DECISION: "Share",
        FieldKey.DECISION_REASONS: "Attendance is relevant to the enquiry",
        FieldKey.LAWFUL_BASIS: "UK GDPR 6(1)(e) public task",
        FieldKey.CONSENT_STATUS: "Not sought",
        FieldKey.CONSENT_NOT_SOUGHT_REASON: "Would increase risk of significant harm",
        FieldKey.PUBLIC_INTEREST_JUSTIFICATION: "Risk of significant harm to the child",
        FieldKey.RISK_LEVEL: "Reasonable cause to suspect significant harm",
        FieldKey.SUBJECT_INFORMED: "No - would increase risk",
        FieldKey.SPECIAL_CATEGORY_CONDITION: "DPA 2018 Sch 1 para 18 safeguarding",
        FieldKey.STATUTORY_POWER: ["Children Act 1989 s47"],
    }
    values.update({FieldKey(k): v for k, v in overrides.items()})
    return values


def share_values(shared_on: str, **overrides: Any) -> dict[FieldKey, Any]:
    """A complete share record (R-SHARE) and a retention category."""
    values: dict[FieldKey, Any] = {
        FieldKey.INFORMATION_SHARED: "Attendance summary for the autumn term",
        FieldKey.SHARED_WITH: "Dr Alex Example",
        FieldKey.SHARED_ON: shared_on,
        FieldKey.SHARED_AT: "00:01",  # early, so a share recorded today is never in the future
        FieldKey.CASE_REFERENCE: "CS-2026-0001",
        FieldKey.ONWARD_SHARING: "Recipient will not pass it on",
        FieldKey.SECURE_METHOD: "Secure email",
        FieldKey.FACT_AND_OPINION_DISTINGUISHED: "1",
        FieldKey.RETENTION_CATEGORY: "Child protection",
    }
    values.update({FieldKey(k): v for k, v in overrides.items()})
    return values

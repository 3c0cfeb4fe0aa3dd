"""Logical keys for the Redmine objects the project provisions, with their
default names (DOMAIN.md, "Redmine objects").

Code refers to trackers, statuses, roles and groups by these keys only; the
configuration maps each key to the name a site uses in Redmine, so a site with
existing objects can adopt them. The defaults are what users see.
"""

from __future__ import annotations

import enum


class _Named(str, enum.Enum):
    """A logical key whose enum value is the key and whose default Redmine name
    is carried alongside it."""

    default_name: str

    def __new__(cls, key: str, default_name: str):
        member = str.__new__(cls, key)
        member._value_ = key
        member.default_name = default_name
        return member

    def __str__(self) -> str:
        return self.value


class TrackerKey(_Named):
    INFORMATION_REQUEST = ("information_request", "Information request")
    ESCALATION = ("escalation", "Escalation")
    RETENTION_REVIEW = ("retention_review", "Retention review")
    INFORMATION_INCIDENT = ("information_incident", "Information incident")


class StatusKey(_Named):
    # Information request
    RECEIVED = ("received", "Received")
    ASSESSING = ("assessing", "Assessing")
    AWAITING_APPROVAL = ("awaiting_approval", "Awaiting approval")
    APPROVED = ("approved", "Approved")
    SHARED = ("shared", "Shared")
    NOT_SHARED = ("not_shared", "Not shared")
    WITHDRAWN = ("withdrawn", "Withdrawn")
    # Escalation
    IN_ESCALATION = ("in_escalation", "In escalation")
    ESCALATION_RESOLVED = ("escalation_resolved", "Escalation resolved")
    # Retention review
    REVIEW_DUE = ("review_due", "Review due")
    REVIEW_COMPLETED = ("review_completed", "Review completed")
    # Information incident (R-INCIDENT)
    INCIDENT_REPORTED = ("incident_reported", "Incident reported")
    INVESTIGATING = ("investigating", "Investigating")
    INCIDENT_CLOSED = ("incident_closed", "Incident closed")


CLOSED_STATUSES = frozenset(
    {
        StatusKey.SHARED,
        StatusKey.NOT_SHARED,
        StatusKey.WITHDRAWN,
        StatusKey.ESCALATION_RESOLVED,
        StatusKey.REVIEW_COMPLETED,
        StatusKey.INCIDENT_CLOSED,
    }
)

# Statuses of each tracker in workflow order; the first is the tracker's default.
TRACKER_STATUSES: dict[TrackerKey, tuple[StatusKey, ...]] = {
    TrackerKey.INFORMATION_REQUEST: (
        StatusKey.RECEIVED,
        StatusKey.ASSESSING,
        StatusKey.AWAITING_APPROVAL,
        StatusKey.APPROVED,
        StatusKey.SHARED,
        StatusKey.NOT_SHARED,
        StatusKey.WITHDRAWN,
    ),
    TrackerKey.ESCALATION: (StatusKey.IN_ESCALATION, StatusKey.ESCALATION_RESOLVED),
    TrackerKey.RETENTION_REVIEW: (StatusKey.REVIEW_DUE, StatusKey.REVIEW_COMPLETED),
    TrackerKey.INFORMATION_INCIDENT: (StatusKey.INCIDENT_REPORTED, StatusKey.INVESTIGATING, StatusKey.INCIDENT_CLOSED),
}


class RoleKey(_Named):
    MASH_PRACTITIONER = ("mash_practitioner", "MASH practitioner")
    MASH_MANAGER = ("mash_manager", "MASH manager")
    INFORMATION_GOVERNANCE_LEAD = ("information_governance_lead", "Information governance lead")
    INFOSHARE_SERVICE = ("infoshare_service", "InfoShare service")


# Roles held by people (as opposed to the service's own role). Field rules that
# guide people (required, read-only) apply to these roles only, so the service can
# always write the fields it owns.
HUMAN_ROLES = (RoleKey.MASH_PRACTITIONER, RoleKey.MASH_MANAGER, RoleKey.INFORMATION_GOVERNANCE_LEAD)


class GroupKey(_Named):
    MASH_MANAGERS = ("mash_managers", "MASH managers")
    INFORMATION_GOVERNANCE = ("information_governance", "Information governance")
    HEADS_OF_SERVICE = ("heads_of_service", "Heads of service")
    SAFEGUARDING_PARTNERSHIP = ("safeguarding_partnership", "Safeguarding partnership")

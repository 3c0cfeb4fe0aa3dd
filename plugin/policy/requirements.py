"""Which fields each rule requires, and in which statuses.

The rule modules enforce these (with their conditional parts, which Redmine
cannot express); provisioning turns the unconditional parts into Redmine's
required-field workflow so the web form already guides people.
"""

from __future__ import annotations

from plugin.domain.names import CLOSED_STATUSES, TRACKER_STATUSES, StatusKey, TrackerKey
from plugin.domain.record import FieldKey

# R-INTAKE: who asked, how, what and why (every seed asks for this record).
INTAKE_REQUIRED = (
    FieldKey.REQUEST_DIRECTION,
    FieldKey.REQUEST_CHANNEL,
    FieldKey.REQUESTER_NAME,
    FieldKey.REQUESTER_ORGANISATION,
    FieldKey.INFORMATION_REQUESTED,
    FieldKey.PURPOSE_OF_SHARING,
    FieldKey.URGENCY,
    FieldKey.IDENTITY_CHECK,
    FieldKey.RECIPIENT_ENTITLEMENT,
)

# R-DECISION: the decision and its reasons, whether or not information is shared.
DECISION_STATUSES = (StatusKey.AWAITING_APPROVAL, StatusKey.APPROVED, StatusKey.SHARED, StatusKey.NOT_SHARED)
DECISION_REQUIRED = (
    FieldKey.DECISION,
    FieldKey.DECISION_REASONS,
    FieldKey.LAWFUL_BASIS,
    FieldKey.CONSENT_STATUS,
    FieldKey.RISK_LEVEL,
    FieldKey.SUBJECT_INFORMED,
)

# R-SHARE: what was shared, with whom, when and how.
SHARE_RECORD_REQUIRED = (
    FieldKey.INFORMATION_SHARED,
    FieldKey.SHARED_WITH,
    FieldKey.SHARED_ON,
    FieldKey.SECURE_METHOD,
    FieldKey.FACT_AND_OPINION_DISTINGUISHED,
)

# R-RETENTION: a closed request needs a retention category.
CLOSURE_REQUIRED = (FieldKey.RETENTION_CATEGORY,)

# R-ESCALATION: resolving needs an outcome and agreed actions.
RESOLUTION_REQUIRED = (FieldKey.ESCALATION_OUTCOME, FieldKey.AGREED_ACTIONS)

# R-RETENTION: completing a review needs an outcome and a justification
# (Retain also a next review date, checked with the rule).
REVIEW_COMPLETION_REQUIRED = (FieldKey.REVIEW_OUTCOME, FieldKey.REVIEW_JUSTIFICATION)

# R-INCIDENT: investigating needs the risk to individuals; closing needs the
# outcome, the lessons learned and the ICO report decision (with its reason or
# its report time, checked with the rule).
INVESTIGATION_REQUIRED = (FieldKey.RISK_TO_INDIVIDUALS,)
CLOSE_INCIDENT_REQUIRED = (FieldKey.INCIDENT_OUTCOME, FieldKey.LESSONS_LEARNED, FieldKey.ICO_REPORT_DECISION)

# Fields only the service writes; people see them read-only.
SERVICE_OWNED_FIELDS = (
    FieldKey.APPROVAL_REQUIRED,
    FieldKey.APPROVAL_REASON,
    FieldKey.APPROVED_BY,
    FieldKey.RETENTION_REVIEW_DATE,
)
INCIDENT_SERVICE_OWNED_FIELDS = (FieldKey.ICO_DEADLINE,)

# R-ESCALATION: an Escalation's start date (the day its stage began) and due
# date are the service's timers; people move the stage, the service the dates.
# R-INCIDENT: an incident's are the day of becoming aware and of the ICO deadline.
SERVICE_DATE_ATTRIBUTES = ("start_date", "due_date")
SERVICE_DATED_TRACKERS = (TrackerKey.ESCALATION, TrackerKey.INFORMATION_INCIDENT)

# R-RETENTION (v2): a legal hold is governance's. Everyone else sees these
# read-only; a governance lead sees only these editable on a request, with
# the request's own attributes read-only too.
GOVERNANCE_ONLY_FIELDS = (FieldKey.LEGAL_HOLD, FieldKey.LEGAL_HOLD_REASON)
GOVERNANCE_READONLY_ATTRIBUTES = (
    "project_id", "tracker_id", "subject", "description", "priority_id", "is_private", "assigned_to_id", "category_id",
    "fixed_version_id", "parent_issue_id", "start_date", "due_date", "estimated_hours", "done_ratio",
)

# R-APPROVAL: fields only the approver role may edit.
APPROVER_ONLY_FIELDS = (FieldKey.APPROVAL_DECISION, FieldKey.APPROVAL_NOTES)


def required_in_status(tracker: TrackerKey, status: StatusKey) -> tuple[FieldKey, ...]:
    """The fields that must be filled for an issue of `tracker` to be in `status`
    (the unconditional part of the rules)."""
    required: list[FieldKey] = []
    if tracker is TrackerKey.INFORMATION_REQUEST:
        required += INTAKE_REQUIRED
        if status in DECISION_STATUSES:
            required += DECISION_REQUIRED
        if status is StatusKey.SHARED:
            required += SHARE_RECORD_REQUIRED
        if status in CLOSED_STATUSES:
            required += CLOSURE_REQUIRED
    elif tracker is TrackerKey.ESCALATION and status is StatusKey.ESCALATION_RESOLVED:
        required += RESOLUTION_REQUIRED
    elif tracker is TrackerKey.RETENTION_REVIEW and status is StatusKey.REVIEW_COMPLETED:
        required += REVIEW_COMPLETION_REQUIRED
    elif tracker is TrackerKey.INFORMATION_INCIDENT and status is StatusKey.INVESTIGATING:
        required += INVESTIGATION_REQUIRED
    elif tracker is TrackerKey.INFORMATION_INCIDENT and status is StatusKey.INCIDENT_CLOSED:
        required += CLOSE_INCIDENT_REQUIRED
    assert status in TRACKER_STATUSES[tracker], f"{status} is not a status of {tracker}"
    return tuple(required)

"""Which fields each rule requires, and in which statuses.

The rule modules enforce these (with their conditional parts, which Redmine
cannot express); provisioning turns the unconditional parts into Redmine's
required-field workflow so the web form already guides people.
"""

from __future__ import annotations

from plugin.domain.names import CLOSED_STATUSES, TRACKER_STATUSES, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, RequestDirection

# R-INTAKE: who asked, how, what and why (every seed asks for this record).
# Every direction records these (provisioned as Redmine's required fields) ...
INTAKE_REQUIRED = (
    FieldKey.REQUEST_DIRECTION,
    FieldKey.REQUEST_CHANNEL,
    FieldKey.INFORMATION_REQUESTED,
    FieldKey.PURPOSE_OF_SHARING,
    FieldKey.URGENCY,
)
# ... and each direction its own (v2): someone asking us, an agency we ask,
# or someone we disclose to unasked (checked by the rule only: Redmine's field
# rules cannot depend on another field).
INTAKE_BY_DIRECTION = {
    RequestDirection.INCOMING: (
        FieldKey.REQUESTER_NAME,
        FieldKey.REQUESTER_ORGANISATION,
        FieldKey.IDENTITY_CHECK,
        FieldKey.RECIPIENT_ENTITLEMENT,
    ),
    RequestDirection.OUTGOING: (FieldKey.REQUESTER_ORGANISATION,),
    RequestDirection.PROACTIVE: (FieldKey.SHARED_WITH, FieldKey.RECIPIENT_ENTITLEMENT),
}

# What a request's form asks for while it is Received (DOMAIN.md, "Working in
# Redmine": a practitioner taking a call sees only what the call needs): the
# intake of every direction, and where the child's own record is. Every
# other field appears from Assessing (Redmine leaves read-only fields out of
# the form, and brings up the new status's fields when the status changes,
# so entering Shared from Received or Assessing in one save still works).
INTAKE_FORM_FIELDS = tuple(dict.fromkeys((
    *INTAKE_REQUIRED,
    *(f for fields in INTAKE_BY_DIRECTION.values() for f in fields),
    FieldKey.REQUESTER_ROLE,
    FieldKey.REQUESTER_EMAIL,
    FieldKey.REQUESTER_PHONE,
    FieldKey.CASE_REFERENCE,
)))

# R-DECISION: the decision and its reasons, whether or not information is shared.
DECISION_STATUSES = (StatusKey.AWAITING_APPROVAL, StatusKey.APPROVED, StatusKey.SHARED, StatusKey.NOT_SHARED)
DECISION_REQUIRED = (
    FieldKey.DECISION,
    FieldKey.DECISION_REASONS,
    FieldKey.RISK_LEVEL,
)
# A decision to share (Share, Share in part) also needs its lawful footing
# (v2); Do not share discloses nothing and needs none of it.
SHARE_DECISION_REQUIRED = (
    FieldKey.LAWFUL_BASIS,
    FieldKey.SPECIAL_CATEGORY_CONDITION,
    FieldKey.CONSENT_STATUS,
    FieldKey.SUBJECT_INFORMED,
)

# R-SHARE: what was shared, with whom, when, how, and where else it is recorded.
SHARE_RECORD_REQUIRED = (
    FieldKey.INFORMATION_SHARED,
    FieldKey.SHARED_WITH,
    FieldKey.SHARED_ON,
    FieldKey.SHARED_AT,
    FieldKey.CASE_REFERENCE,
    FieldKey.ONWARD_SHARING,
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
    FieldKey.SHARED_BY,
    FieldKey.RESPONSE_DUE,
)
INCIDENT_SERVICE_OWNED_FIELDS = (FieldKey.ICO_DEADLINE,)

# R-ESCALATION: an Escalation's start date (the day its stage began) and due
# date are the service's timers; people move the stage, the service the dates.
# R-INCIDENT: an incident's are the day of becoming aware and of the ICO deadline.
SERVICE_DATE_ATTRIBUTES = ("start_date", "due_date")
SERVICE_DATED_TRACKERS = (TrackerKey.ESCALATION, TrackerKey.INFORMATION_INCIDENT)
# R-TIMELINESS: a request's start date is the day it was logged, its due
# date the day of its Response due.
REQUEST_SERVICE_DATE_ATTRIBUTES = ("start_date", "due_date")

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
            # Shared is reached only with a share decision (R-OUTCOME).
            required += SHARE_DECISION_REQUIRED + SHARE_RECORD_REQUIRED
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

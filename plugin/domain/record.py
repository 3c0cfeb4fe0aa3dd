"""The information-request record: custom fields, their allowed values and the
schema that turns a Redmine issue into a typed record (DOMAIN.md, "Custom fields").

Enum values are exactly the values people pick in Redmine; they are part of the
contract and are not renamed per site (field *names* are, see `FieldKey`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from typing import Any, Iterable, Mapping

from plugin.domain.names import StatusKey, TrackerKey, _Named


class FieldFormat(str, enum.Enum):
    """The kinds of value a field holds. Most are Redmine's own custom-field
    formats; a time (`HH:MM`) and a date-time (`YYYY-MM-DD HH:MM`, the site's
    time zone) are Redmine string fields whose text the rules check (DOMAIN.md,
    "Custom fields")."""

    LIST = "list"
    STRING = "string"  # one line
    TEXT = "text"  # long text
    DATE = "date"
    BOOL = "bool"
    TIME = "time"
    DATETIME = "datetime"

    @property
    def redmine_format(self) -> str:
        """The format Redmine stores the field in."""
        return "string" if self in (FieldFormat.TIME, FieldFormat.DATETIME) else self.value


# --- Allowed values -------------------------------------------------------


class RequestDirection(str, enum.Enum):
    INCOMING = "Incoming request"
    OUTGOING = "Outgoing request"
    PROACTIVE = "Proactive disclosure"


class RequestChannel(str, enum.Enum):
    PHONE = "Phone"
    EMAIL = "Email"
    SECURE_EMAIL = "Secure email"
    IN_PERSON = "In person"
    LETTER = "Letter"
    SECURE_PORTAL = "Secure portal"
    MEETING = "Meeting"


EMAIL_CHANNELS = frozenset({RequestChannel.EMAIL, RequestChannel.SECURE_EMAIL})


class IdentityCheck(str, enum.Enum):
    CALL_BACK = "Call-back to independently sourced number"
    KNOWN_CONTACT = "Known contact"
    TRUSTED_EMAIL_DOMAIN = "Trusted email domain"
    WRITTEN_ON_LETTERHEAD = "Written request on letterhead"
    NOT_CHECKED = "Not checked"


class RecipientEntitlement(str, enum.Enum):
    CONFIRMED = "Confirmed"
    IN_DOUBT = "In doubt"
    NOT_ENTITLED = "Not entitled"


class Urgency(str, enum.Enum):
    RED = "Red"
    AMBER = "Amber"
    GREEN = "Green"


class Decision(str, enum.Enum):
    SHARE = "Share"
    SHARE_IN_PART = "Share in part"
    DO_NOT_SHARE = "Do not share"


SHARE_DECISIONS = frozenset({Decision.SHARE, Decision.SHARE_IN_PART})


class LawfulBasis(str, enum.Enum):
    PUBLIC_TASK = "UK GDPR 6(1)(e) public task"
    LEGAL_OBLIGATION = "UK GDPR 6(1)(c) legal obligation"
    VITAL_INTERESTS = "UK GDPR 6(1)(d) vital interests"
    CONSENT = "UK GDPR 6(1)(a) consent"
    NOT_APPLICABLE = "Not applicable"


class SpecialCategoryCondition(str, enum.Enum):
    SAFEGUARDING = "DPA 2018 Sch 1 para 18 safeguarding"
    HEALTH_OR_SOCIAL_CARE = "UK GDPR 9(2)(h) health or social care"
    VITAL_INTERESTS = "UK GDPR 9(2)(c) vital interests"
    EXPLICIT_CONSENT = "UK GDPR 9(2)(a) explicit consent"
    NONE = "No special category data"


class StatutoryPower(str, enum.Enum):
    CA1989_S17 = "Children Act 1989 s17"
    CA1989_S47 = "Children Act 1989 s47"
    CA2004_S10 = "Children Act 2004 s10"
    CA2004_S11 = "Children Act 2004 s11"
    CDA1998_S115 = "Crime and Disorder Act 1998 s115"
    COURT_ORDER = "Court order"
    NONE_CITED = "None cited"


class ConsentStatus(str, enum.Enum):
    GIVEN = "Given"
    REFUSED = "Refused"
    WITHDRAWN = "Withdrawn"
    NOT_SOUGHT = "Not sought"
    NOT_APPLICABLE = "Not applicable"


class ConsentGivenBy(str, enum.Enum):
    CHILD = "Child or young person"
    PARENTAL_RESPONSIBILITY = "Person with parental responsibility"
    LOCAL_AUTHORITY_CARE_ORDER = "Local authority under a care order"
    ADULT_SUBJECT = "Adult subject"
    OTHER_LEGAL_AUTHORITY = "Other legal authority"


class ConsentNotSoughtReason(str, enum.Enum):
    RISK_OF_SIGNIFICANT_HARM = "Would increase risk of significant harm"
    ADULT_AT_RISK = "Would put an adult at risk of serious harm"
    PREJUDICE_INVESTIGATION = "Would prejudice a serious crime investigation"
    UNJUSTIFIED_DELAY = "Would cause unjustified delay"
    CANNOT_OBTAIN = "Cannot reasonably be obtained"
    NOT_LAWFUL_BASIS = "Consent is not the lawful basis"


class RiskLevel(str, enum.Enum):
    SIGNIFICANT_HARM = "Significant harm"
    REASONABLE_CAUSE = "Reasonable cause to suspect significant harm"
    CHILD_IN_NEED = "Child in need"
    EARLY_HELP = "Early help"  # shared only with consent (West Yorkshire 3.2)
    NO_CURRENT_CONCERN = "No current concern"


# Values renamed in version 2 of the contract: provisioning moves existing
# tickets from the old value to the new (the field's key, old, new).
RENAMED_VALUES = (("risk_level", "Child in need or early help", RiskLevel.CHILD_IN_NEED.value),)


class AdviceSoughtFrom(str, enum.Enum):
    LINE_MANAGER = "Line manager"
    DSL = "Designated safeguarding lead"
    DPO = "Data protection officer"
    CALDICOTT = "Caldicott Guardian"
    LEGAL = "Legal services"
    NONE = "None"


class SubjectInformed(str, enum.Enum):
    YES = "Yes"
    NO_RISK = "No - would increase risk"
    NO_INVESTIGATION = "No - would prejudice investigation"
    NO_OTHER = "No - other reason"


class SecureMethod(str, enum.Enum):
    SECURE_EMAIL = "Secure email"
    SECURE_PORTAL = "Secure portal"
    IN_PERSON = "In person"
    PHONE_TO_VERIFIED_NUMBER = "Phone to verified number"
    RECORDED_POST = "Recorded post"
    # Not secure, said so with a reason rather than mislabelled (v2).
    OTHER_NOT_SECURE = "Other - not secure"


class OnwardSharing(str, enum.Enum):
    """Whether the recipient will pass it on (Buckinghamshire appendix 1, question 6)."""

    WILL_NOT = "Recipient will not pass it on"
    WITHIN_LIMITS = "Recipient may pass it on within agreed limits"
    NOT_DISCUSSED = "Not discussed"


class ApprovalDecision(str, enum.Enum):
    APPROVED = "Approved"
    DECLINED = "Declined"


class DisagreementType(str, enum.Enum):
    WAY_SHARED = "Way information is being shared"
    DECISION_NOT_TO_SHARE = "Decision not to share"
    OTHER = "Other"


class EscalationOutcome(str, enum.Enum):
    RESOLVED = "Resolved"
    REFERRED_TO_PARTNERSHIP = "Referred to partnership"
    WITHDRAWN = "Withdrawn"
    OVERTAKEN = "Overtaken by safeguarding action"


class ReviewOutcome(str, enum.Enum):
    RETAIN = "Retain"
    ANONYMISE = "Anonymise"
    DESTROY = "Destroy"


class IncidentType(str, enum.Enum):
    COMPLAINT = "Complaint from the public"
    INADVERTENT_DISCLOSURE = "Inadvertent disclosure"
    SHARED_WITHOUT_APPROVAL = "Shared without approval"
    OVERRIDE_OF_DECLINED_APPROVAL = "Override of a declined approval"
    RETROSPECTIVE_APPROVAL_DECLINED = "Retrospective approval declined"
    OTHER_CONCERN = "Other concern"


class IncidentSource(str, enum.Enum):
    MEMBER_OF_THE_PUBLIC = "Member of the public"
    STAFF = "Staff"
    PARTNER_AGENCY = "Partner agency"
    INFOSHARE_SERVICE = "InfoShare service"


class RiskToIndividuals(str, enum.Enum):
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    NONE = "None"


class IcoReportDecision(str, enum.Enum):
    REPORTABLE = "Reportable"
    NOT_REPORTABLE = "Not reportable"


class SubjectsInformedOfIncident(str, enum.Enum):
    YES = "Yes"
    NO_RISK = "No - would increase risk"
    NO_NOT_NEEDED = "No - not needed"
    NOT_YET = "Not yet"


class IncidentOutcome(str, enum.Enum):
    UPHELD = "Upheld"
    PARTLY_UPHELD = "Partly upheld"
    NOT_UPHELD = "Not upheld"
    NO_BREACH_FOUND = "No breach found"


class ConfiguredValues(str, enum.Enum):
    """List fields whose values come from the configuration, not from an enum."""

    RETENTION_CATEGORIES = "retention_categories"
    ESCALATION_STAGES = "escalation_stages"


# --- Field catalogue ------------------------------------------------------


class FieldKey(_Named):
    # Intake
    REQUEST_DIRECTION = ("request_direction", "Request direction")
    REQUEST_CHANNEL = ("request_channel", "Request channel")
    REQUESTER_NAME = ("requester_name", "Requester name")
    REQUESTER_ROLE = ("requester_role", "Requester role")
    REQUESTER_ORGANISATION = ("requester_organisation", "Requester organisation")
    REQUESTER_EMAIL = ("requester_email", "Requester email")
    REQUESTER_PHONE = ("requester_phone", "Requester phone")
    IDENTITY_CHECK = ("identity_check", "Identity check")
    RECIPIENT_ENTITLEMENT = ("recipient_entitlement", "Recipient entitlement")
    URGENCY = ("urgency", "Urgency")
    INFORMATION_REQUESTED = ("information_requested", "Information requested")
    PURPOSE_OF_SHARING = ("purpose_of_sharing", "Purpose of sharing")
    CASE_REFERENCE = ("case_reference", "Case reference")
    RESPONSE_DUE = ("response_due", "Response due")
    # Decision
    DECISION = ("decision", "Decision")
    DECISION_REASONS = ("decision_reasons", "Decision reasons")
    INFORMATION_WITHHELD = ("information_withheld", "Information withheld")
    LAWFUL_BASIS = ("lawful_basis", "Lawful basis")
    SPECIAL_CATEGORY_CONDITION = ("special_category_condition", "Special category condition")
    STATUTORY_POWER = ("statutory_power", "Statutory power")
    CONSENT_STATUS = ("consent_status", "Consent status")
    CONSENT_GIVEN_BY = ("consent_given_by", "Consent given by")
    CONSENT_DATE = ("consent_date", "Consent date")
    CONSENT_TIME = ("consent_time", "Consent time")
    CONSENT_LIMITS_EXPLAINED = ("consent_limits_explained", "Consent limits explained")
    CONSENT_NOT_SOUGHT_REASON = ("consent_not_sought_reason", "Consent not sought reason")
    PUBLIC_INTEREST_JUSTIFICATION = ("public_interest_justification", "Public interest justification")
    RISK_LEVEL = ("risk_level", "Risk level")
    ADVICE_SOUGHT_FROM = ("advice_sought_from", "Advice sought from")
    SUBJECT_INFORMED = ("subject_informed", "Subject informed")
    NOT_INFORMED_REASON = ("not_informed_reason", "Not informed reason")
    # Share record
    INFORMATION_SHARED = ("information_shared", "Information shared")
    SHARED_WITH = ("shared_with", "Shared with")
    SHARED_ON = ("shared_on", "Shared on")
    SHARED_AT = ("shared_at", "Shared at")
    SHARED_BY = ("shared_by", "Shared by")
    SECURE_METHOD = ("secure_method", "Secure method")
    INSECURE_METHOD_REASON = ("insecure_method_reason", "Insecure method reason")
    ONWARD_SHARING = ("onward_sharing", "Onward sharing")
    FACT_AND_OPINION_DISTINGUISHED = ("fact_and_opinion_distinguished", "Fact and opinion distinguished")
    CONFIRMED_IN_WRITING_ON = ("confirmed_in_writing_on", "Confirmed in writing on")
    # Approval
    APPROVAL_REQUIRED = ("approval_required", "Approval required")
    APPROVAL_REASON = ("approval_reason", "Approval reason")
    APPROVAL_DECISION = ("approval_decision", "Approval decision")
    APPROVAL_NOTES = ("approval_notes", "Approval notes")
    APPROVED_BY = ("approved_by", "Approved by")
    EMERGENCY_OVERRIDE = ("emergency_override", "Emergency override")
    EMERGENCY_OVERRIDE_REASON = ("emergency_override_reason", "Emergency override reason")
    # Disagreement and retention
    DISAGREEMENT_RAISED = ("disagreement_raised", "Disagreement raised")
    DISAGREEMENT_DETAILS = ("disagreement_details", "Disagreement details")
    RETENTION_CATEGORY = ("retention_category", "Retention category")
    RETENTION_REVIEW_DATE = ("retention_review_date", "Retention review date")
    LEGAL_HOLD = ("legal_hold", "Legal hold")
    LEGAL_HOLD_REASON = ("legal_hold_reason", "Legal hold reason")
    # Escalation tracker
    ESCALATION_STAGE = ("escalation_stage", "Escalation stage")
    DISAGREEMENT_TYPE = ("disagreement_type", "Disagreement type")
    OTHER_AGENCY = ("other_agency", "Other agency")
    POINTS_OF_DISAGREEMENT = ("points_of_disagreement", "Points of disagreement")
    IMPACT_ON_CHILD = ("impact_on_child", "Impact on child")
    AGREED_ACTIONS = ("agreed_actions", "Agreed actions")
    ESCALATION_OUTCOME = ("escalation_outcome", "Escalation outcome")
    URGENT_ESCALATION = ("urgent_escalation", "Urgent escalation")
    # Retention review tracker
    REVIEW_OUTCOME = ("review_outcome", "Review outcome")
    REVIEW_JUSTIFICATION = ("review_justification", "Review justification")
    NEXT_REVIEW_DATE = ("next_review_date", "Next review date")
    # Information incident tracker (R-INCIDENT)
    INCIDENT_TYPE = ("incident_type", "Incident type")
    INCIDENT_SOURCE = ("incident_source", "Incident source")
    BECAME_AWARE_AT = ("became_aware_at", "Became aware at")
    PERSONAL_DATA_INVOLVED = ("personal_data_involved", "Personal data involved")
    RISK_TO_INDIVIDUALS = ("risk_to_individuals", "Risk to individuals")
    CONTAINMENT_ACTIONS = ("containment_actions", "Containment actions")
    ICO_REPORT_DECISION = ("ico_report_decision", "ICO report decision")
    ICO_DECISION_REASON = ("ico_decision_reason", "ICO decision reason")
    ICO_REPORTED_AT = ("ico_reported_at", "ICO reported at")
    ICO_DEADLINE = ("ico_deadline", "ICO deadline")
    SUBJECTS_INFORMED_OF_INCIDENT = ("subjects_informed_of_incident", "Subjects informed of incident")
    INCIDENT_OUTCOME = ("incident_outcome", "Incident outcome")
    LESSONS_LEARNED = ("lessons_learned", "Lessons learned")


@dataclasses.dataclass(frozen=True)
class FieldDef:
    key: FieldKey
    format: FieldFormat
    trackers: tuple[TrackerKey, ...]
    values: type[enum.Enum] | ConfiguredValues | None = None
    multiple: bool = False
    # "Used as a filter" in Redmine: the service (or a report) queries by it.
    filter: bool = False
    description: str = ""

    def value_names(self) -> tuple[str, ...]:
        if isinstance(self.values, type):
            return tuple(v.value for v in self.values)
        return ()


_IR = TrackerKey.INFORMATION_REQUEST
_ESC = TrackerKey.ESCALATION
_REV = TrackerKey.RETENTION_REVIEW
_INC = TrackerKey.INFORMATION_INCIDENT
F = FieldFormat


# What to record, in a line, shown under the field in Redmine's form (and,
# where a rule needs it, why). Fields the service writes say so themselves.
_DESCRIPTIONS = {
    FieldKey.REQUEST_DIRECTION: 'Incoming: someone asks us. Outgoing: we ask another agency. Proactive disclosure: we share unasked. What is asked next depends on it.',
    FieldKey.REQUEST_CHANNEL: "How the request reached us. A phone or e-mail request where entitlement is in doubt needs a manager's approval (R-APPROVAL).",
    FieldKey.REQUESTER_NAME: 'The person asking (or asked, or disclosed to).',
    FieldKey.REQUESTER_ROLE: 'Their job or role in their agency.',
    FieldKey.REQUESTER_ORGANISATION: 'The agency they work for.',
    FieldKey.REQUESTER_EMAIL: "Needed for an e-mail request; its domain is checked against the site's trusted domains (R-APPROVAL).",
    FieldKey.REQUESTER_PHONE: 'Needed for a phone request, so the caller can be checked by ringing back (R-INTAKE).',
    FieldKey.IDENTITY_CHECK: 'How you confirmed who they are: ring back on a number you found yourself, not one they gave.',
    FieldKey.RECIPIENT_ENTITLEMENT: 'Whether they are entitled to the information. In doubt on a phone or e-mail request: a manager approves first.',
    FieldKey.URGENCY: 'Sets when the request must be answered by (Response due); a Red request is dealt with whatever the hour (R-TIMELINESS).',
    FieldKey.INFORMATION_REQUESTED: 'Exactly what is asked for, so that only what is needed is shared.',
    FieldKey.PURPOSE_OF_SHARING: 'Why it is needed: the safeguarding purpose it serves.',
    FieldKey.DECISION: 'Share, share in part or do not share: every decision, either way, is recorded with its reasons (golden rule 7).',
    FieldKey.DECISION_REASONS: 'Why you decided as you did, in your own words (golden rule 7).',
    FieldKey.LAWFUL_BASIS: 'The UK GDPR article 6 basis for the share; public task for most statutory safeguarding work.',
    FieldKey.SPECIAL_CATEGORY_CONDITION: 'For health and other special category data, the condition that allows it (DPA 2018 schedule 1).',
    FieldKey.STATUTORY_POWER: 'The law that gives the power or duty to share, for example Children Act 1989 section 47.',
    FieldKey.CONSENT_STATUS: 'Whether consent was sought and the answer; consent is not needed where another lawful basis applies.',
    FieldKey.CONSENT_GIVEN_BY: 'Who gave consent: the young person, or a parent or carer.',
    FieldKey.CONSENT_DATE: 'The day consent was given (R-CONSENT).',
    FieldKey.CONSENT_LIMITS_EXPLAINED: 'Tick to confirm you explained what would be shared, with whom and why.',
    FieldKey.CONSENT_NOT_SOUGHT_REASON: 'Why consent was not sought.',
    FieldKey.PUBLIC_INTEREST_JUSTIFICATION: 'Why sharing without consent is justified: the risk to the child outweighs the duty of confidence.',
    FieldKey.RISK_LEVEL: 'Your assessment of the risk to the child.',
    FieldKey.ADVICE_SOUGHT_FROM: 'Whom you asked for advice before deciding, if anyone.',
    FieldKey.SUBJECT_INFORMED: 'Whether the person it is about was told it would be shared.',
    FieldKey.NOT_INFORMED_REASON: 'Why they were not told, for example because telling them would put the child at risk.',
    FieldKey.INFORMATION_SHARED: 'What was actually shared: only what the purpose needs (golden rule 6).',
    FieldKey.SHARED_WITH: 'Who the information is given to (for a disclosure we make unasked, from the start).',
    FieldKey.SHARED_ON: 'The day the information was shared.',
    FieldKey.SECURE_METHOD: 'How it was sent; a method that is not secure needs its reason (R-SHARE).',
    FieldKey.INSECURE_METHOD_REASON: 'Why a method that is not secure was used.',
    FieldKey.ONWARD_SHARING: 'Whether the recipient will pass it on.',
    FieldKey.FACT_AND_OPINION_DISTINGUISHED: 'Tick to confirm that what was shared kept fact apart from opinion.',
    FieldKey.CONFIRMED_IN_WRITING_ON: 'The day the share was confirmed in writing; reminders come until it is (West Yorkshire procedures 3.5).',
    FieldKey.APPROVAL_DECISION: 'For a manager: Approved or Declined. Nobody who recorded the decision may approve it (R-APPROVAL).',
    FieldKey.APPROVAL_NOTES: 'For a manager: the reasons, and any conditions.',
    FieldKey.EMERGENCY_OVERRIDE: 'Only when a child is at immediate risk and no manager can be reached: share now, approval follows.',
    FieldKey.EMERGENCY_OVERRIDE_REASON: 'Why the share could not wait for a manager.',
    FieldKey.DISAGREEMENT_RAISED: 'Tick when you and the other agency disagree about the sharing: an Escalation is opened (R-ESCALATION).',
    FieldKey.DISAGREEMENT_DETAILS: 'What the disagreement is about.',
    FieldKey.RETENTION_CATEGORY: 'Needed to close: sets how long the record is kept before it is reviewed (R-RETENTION).',
    FieldKey.ESCALATION_STAGE: "The stage of the escalation procedure; moved on by the service when a stage's time runs out.",
    FieldKey.DISAGREEMENT_TYPE: 'What kind of disagreement this is.',
    FieldKey.OTHER_AGENCY: 'The agency you disagree with.',
    FieldKey.POINTS_OF_DISAGREEMENT: 'The points you disagree on.',
    FieldKey.IMPACT_ON_CHILD: 'What the disagreement means for the child.',
    FieldKey.AGREED_ACTIONS: 'Needed to resolve: what was agreed, and by whom.',
    FieldKey.ESCALATION_OUTCOME: 'Needed to resolve: how the disagreement ended.',
    FieldKey.URGENT_ESCALATION: 'Urgent escalations start at stage 2 and run on shorter timescales.',
    FieldKey.REVIEW_OUTCOME: 'Retain, Anonymise or Destroy the request under review (R-RETENTION).',
    FieldKey.REVIEW_JUSTIFICATION: 'Why: the reason the information is or is not still needed.',
    FieldKey.NEXT_REVIEW_DATE: 'Needed with Retain: the day of the next review.',
    FieldKey.INCIDENT_TYPE: 'What kind of incident this is.',
    FieldKey.INCIDENT_SOURCE: 'Who raised it, or how it came to light.',
    FieldKey.BECAME_AWARE_AT: "When the organisation first knew (YYYY-MM-DD HH:MM): the ICO's 72 hours count from here.",
    FieldKey.PERSONAL_DATA_INVOLVED: 'Whether personal data was disclosed or put at risk.',
    FieldKey.RISK_TO_INDIVIDUALS: 'Needed to investigate: the risk to the people the information is about.',
    FieldKey.CONTAINMENT_ACTIONS: 'What was done to limit the harm (information recalled, recipient asked to delete it).',
    FieldKey.ICO_REPORT_DECISION: 'Needed to close: whether the incident must be reported to the ICO (UK GDPR article 33).',
    FieldKey.ICO_DECISION_REASON: 'Needed when not reportable: why not.',
    FieldKey.ICO_REPORTED_AT: 'When it was reported to the ICO (YYYY-MM-DD HH:MM).',
    FieldKey.SUBJECTS_INFORMED_OF_INCIDENT: 'Whether the people concerned were told.',
    FieldKey.INCIDENT_OUTCOME: 'Needed to close: the outcome of the investigation.',
    FieldKey.LESSONS_LEARNED: 'Needed to close: what will change as a result.',
}


def _d(key, fmt, tracker=_IR, values=None, multiple=False, filter=False, description=""):
    trackers = tracker if isinstance(tracker, tuple) else (tracker,)
    return FieldDef(key, fmt, trackers, values, multiple, filter, description or _DESCRIPTIONS.get(key, ""))


FIELDS: dict[FieldKey, FieldDef] = {
    d.key: d
    for d in (
        _d(FieldKey.REQUEST_DIRECTION, F.LIST, values=RequestDirection, filter=True),
        _d(FieldKey.REQUEST_CHANNEL, F.LIST, values=RequestChannel, filter=True),
        _d(FieldKey.REQUESTER_NAME, F.STRING),
        _d(FieldKey.REQUESTER_ROLE, F.STRING),
        _d(FieldKey.REQUESTER_ORGANISATION, F.STRING),
        _d(FieldKey.REQUESTER_EMAIL, F.STRING),
        _d(FieldKey.REQUESTER_PHONE, F.STRING),
        _d(FieldKey.IDENTITY_CHECK, F.LIST, values=IdentityCheck),
        _d(FieldKey.RECIPIENT_ENTITLEMENT, F.LIST, values=RecipientEntitlement),
        _d(FieldKey.URGENCY, F.LIST, values=Urgency, filter=True),
        _d(FieldKey.INFORMATION_REQUESTED, F.TEXT),
        _d(FieldKey.PURPOSE_OF_SHARING, F.TEXT),
        _d(FieldKey.CASE_REFERENCE, F.STRING, description="The child's reference in your agency's own case system, where the share is recorded too."),
        _d(FieldKey.RESPONSE_DUE, F.DATETIME, description="Set by the InfoShare service from when the request was logged and its urgency (R-TIMELINESS)."),
        _d(FieldKey.DECISION, F.LIST, values=Decision, filter=True),
        _d(FieldKey.DECISION_REASONS, F.TEXT),
        _d(FieldKey.INFORMATION_WITHHELD, F.TEXT, description="What was not shared, and why."),
        _d(FieldKey.LAWFUL_BASIS, F.LIST, values=LawfulBasis),
        _d(FieldKey.SPECIAL_CATEGORY_CONDITION, F.LIST, values=SpecialCategoryCondition),
        _d(FieldKey.STATUTORY_POWER, F.LIST, values=StatutoryPower, multiple=True),
        _d(FieldKey.CONSENT_STATUS, F.LIST, values=ConsentStatus),
        _d(FieldKey.CONSENT_GIVEN_BY, F.LIST, values=ConsentGivenBy),
        _d(FieldKey.CONSENT_DATE, F.DATE),
        _d(FieldKey.CONSENT_TIME, F.TIME, description="HH:MM, 24-hour clock."),
        _d(FieldKey.CONSENT_LIMITS_EXPLAINED, F.BOOL),
        _d(FieldKey.CONSENT_NOT_SOUGHT_REASON, F.LIST, values=ConsentNotSoughtReason),
        _d(FieldKey.PUBLIC_INTEREST_JUSTIFICATION, F.TEXT),
        _d(FieldKey.RISK_LEVEL, F.LIST, values=RiskLevel),
        _d(FieldKey.ADVICE_SOUGHT_FROM, F.LIST, values=AdviceSoughtFrom, multiple=True),
        _d(FieldKey.SUBJECT_INFORMED, F.LIST, values=SubjectInformed),
        _d(FieldKey.NOT_INFORMED_REASON, F.TEXT),
        _d(FieldKey.INFORMATION_SHARED, F.TEXT),
        _d(FieldKey.SHARED_WITH, F.STRING),
        _d(FieldKey.SHARED_ON, F.DATE),
        _d(FieldKey.SHARED_AT, F.TIME, description="HH:MM, 24-hour clock."),
        _d(FieldKey.SHARED_BY, F.STRING, description="Set by the InfoShare service."),
        _d(FieldKey.SECURE_METHOD, F.LIST, values=SecureMethod),
        _d(FieldKey.INSECURE_METHOD_REASON, F.TEXT),
        _d(FieldKey.ONWARD_SHARING, F.LIST, values=OnwardSharing),
        _d(FieldKey.FACT_AND_OPINION_DISTINGUISHED, F.BOOL),
        _d(FieldKey.CONFIRMED_IN_WRITING_ON, F.DATE, filter=True),
        _d(FieldKey.APPROVAL_REQUIRED, F.BOOL, filter=True, description="Set by the InfoShare service."),
        _d(FieldKey.APPROVAL_REASON, F.STRING, description="Set by the InfoShare service."),
        _d(FieldKey.APPROVAL_DECISION, F.LIST, values=ApprovalDecision, filter=True),
        _d(FieldKey.APPROVAL_NOTES, F.TEXT),
        _d(FieldKey.APPROVED_BY, F.STRING, description="Set by the InfoShare service."),
        _d(FieldKey.EMERGENCY_OVERRIDE, F.BOOL, filter=True),
        _d(FieldKey.EMERGENCY_OVERRIDE_REASON, F.TEXT),
        _d(FieldKey.DISAGREEMENT_RAISED, F.BOOL, filter=True),
        _d(FieldKey.DISAGREEMENT_DETAILS, F.TEXT),
        _d(FieldKey.RETENTION_CATEGORY, F.LIST, (_IR, _INC), ConfiguredValues.RETENTION_CATEGORIES, filter=True),
        _d(FieldKey.RETENTION_REVIEW_DATE, F.DATE, filter=True, description="Set by the InfoShare service."),
        _d(FieldKey.LEGAL_HOLD, F.BOOL, filter=True, description="Set and cleared by an Information governance lead only."),
        _d(FieldKey.LEGAL_HOLD_REASON, F.TEXT, description="Why the record is held (required with a legal hold)."),
        _d(FieldKey.ESCALATION_STAGE, F.LIST, _ESC, ConfiguredValues.ESCALATION_STAGES, filter=True),
        _d(FieldKey.DISAGREEMENT_TYPE, F.LIST, _ESC, DisagreementType),
        _d(FieldKey.OTHER_AGENCY, F.STRING, _ESC),
        _d(FieldKey.POINTS_OF_DISAGREEMENT, F.TEXT, _ESC),
        _d(FieldKey.IMPACT_ON_CHILD, F.TEXT, _ESC),
        _d(FieldKey.AGREED_ACTIONS, F.TEXT, _ESC),
        _d(FieldKey.ESCALATION_OUTCOME, F.LIST, _ESC, EscalationOutcome, filter=True),
        _d(FieldKey.URGENT_ESCALATION, F.BOOL, _ESC, filter=True),
        _d(FieldKey.REVIEW_OUTCOME, F.LIST, _REV, ReviewOutcome, filter=True),
        _d(FieldKey.REVIEW_JUSTIFICATION, F.TEXT, _REV),
        _d(FieldKey.NEXT_REVIEW_DATE, F.DATE, _REV),
        _d(FieldKey.INCIDENT_TYPE, F.LIST, _INC, IncidentType, filter=True),
        _d(FieldKey.INCIDENT_SOURCE, F.LIST, _INC, IncidentSource, filter=True),
        _d(FieldKey.BECAME_AWARE_AT, F.DATETIME, _INC),
        _d(FieldKey.PERSONAL_DATA_INVOLVED, F.BOOL, _INC),
        _d(FieldKey.RISK_TO_INDIVIDUALS, F.LIST, _INC, RiskToIndividuals),
        _d(FieldKey.CONTAINMENT_ACTIONS, F.TEXT, _INC),
        _d(FieldKey.ICO_REPORT_DECISION, F.LIST, _INC, IcoReportDecision, filter=True),
        _d(FieldKey.ICO_DECISION_REASON, F.TEXT, _INC),
        _d(FieldKey.ICO_REPORTED_AT, F.DATETIME, _INC),
        _d(FieldKey.ICO_DEADLINE, F.DATETIME, _INC, description="Set by the InfoShare service."),
        _d(FieldKey.SUBJECTS_INFORMED_OF_INCIDENT, F.LIST, _INC, SubjectsInformedOfIncident),
        _d(FieldKey.INCIDENT_OUTCOME, F.LIST, _INC, IncidentOutcome, filter=True),
        _d(FieldKey.LESSONS_LEARNED, F.TEXT, _INC),
    )
}

assert set(FIELDS) == set(FieldKey), "every field key has a definition"



def fields_of(tracker: TrackerKey) -> tuple[FieldDef, ...]:
    return tuple(d for d in FIELDS.values() if tracker in d.trackers)


# An information request's fields in the order of the Buckinghamshire code's
# decision questions (appendix 1), after the intake (who asks, how, what, why
# and how soon): 1 the purpose and its legal footing, 4 consent, 5 the public
# interest (with the risk it rests on and the advice sought), 7 the decision
# and its reasons (the answer to the questions before), 6 what was shared and
# how (recorded once it is done); then the approval, an override, a
# disagreement and the record's keeping. Other trackers' fields follow in
# the order they are defined.
_K = FieldKey
FORM_ORDER = (
    _K.REQUEST_DIRECTION, _K.REQUEST_CHANNEL, _K.REQUESTER_NAME, _K.REQUESTER_ROLE, _K.REQUESTER_ORGANISATION, _K.REQUESTER_EMAIL,
    _K.REQUESTER_PHONE, _K.IDENTITY_CHECK, _K.RECIPIENT_ENTITLEMENT, _K.URGENCY, _K.RESPONSE_DUE, _K.CASE_REFERENCE,
    _K.INFORMATION_REQUESTED, _K.PURPOSE_OF_SHARING,
    _K.STATUTORY_POWER, _K.LAWFUL_BASIS, _K.SPECIAL_CATEGORY_CONDITION,
    _K.CONSENT_STATUS, _K.CONSENT_GIVEN_BY, _K.CONSENT_DATE, _K.CONSENT_TIME, _K.CONSENT_LIMITS_EXPLAINED, _K.CONSENT_NOT_SOUGHT_REASON,
    _K.RISK_LEVEL, _K.ADVICE_SOUGHT_FROM, _K.PUBLIC_INTEREST_JUSTIFICATION,
    _K.DECISION, _K.SUBJECT_INFORMED, _K.DECISION_REASONS, _K.INFORMATION_WITHHELD, _K.NOT_INFORMED_REASON,
    _K.SHARED_WITH, _K.SHARED_ON, _K.SHARED_AT, _K.SECURE_METHOD, _K.ONWARD_SHARING, _K.FACT_AND_OPINION_DISTINGUISHED,
    _K.CONFIRMED_IN_WRITING_ON, _K.SHARED_BY, _K.INFORMATION_SHARED, _K.INSECURE_METHOD_REASON,
    _K.APPROVAL_REQUIRED, _K.APPROVAL_REASON, _K.APPROVAL_DECISION, _K.APPROVED_BY, _K.APPROVAL_NOTES,
    _K.EMERGENCY_OVERRIDE, _K.EMERGENCY_OVERRIDE_REASON,
    _K.DISAGREEMENT_RAISED, _K.DISAGREEMENT_DETAILS,
    _K.RETENTION_CATEGORY, _K.RETENTION_REVIEW_DATE, _K.LEGAL_HOLD, _K.LEGAL_HOLD_REASON,
)
assert set(FORM_ORDER) == {d.key for d in fields_of(TrackerKey.INFORMATION_REQUEST)}, "every request field has its place in the form"


# --- Reading values as Redmine stores them --------------------------------

# Redmine's boolean custom fields store "1", "0" or "" (unset).
BOOL_TRUE = "1"
BOOL_FALSE = "0"


def is_blank(value: Any) -> bool:
    """A custom-field value Redmine would show as empty."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, tuple)):
        return all(is_blank(v) for v in value)
    return False


class CustomFieldValues(Mapping):
    """`custom_field_values` of an issue, read a field at a time. The gate and
    the worker rebuild a state for every save in an issue's history, and the
    rules look at a few fields of most of them: each is found by its place in
    the list (the same for every state of one issue), and no state's fields
    are read into a dict unless they are all asked for."""

    __slots__ = ("_entries", "_places", "_values")

    def __init__(self, issue_custom_fields: Iterable[Mapping[str, Any]], names_to_keys: Mapping[str, FieldKey], names: tuple | None = None):
        self._entries = issue_custom_fields if isinstance(issue_custom_fields, list) else list(issue_custom_fields)
        self._places = field_places(self._entries, names_to_keys, names)
        self._values: dict[FieldKey, Any] | None = None

    @property
    def values(self) -> dict[FieldKey, Any]:
        if self._values is None:
            self._values = {key: self._entries[place].get("value") for key, place in self._places.items()}
        return self._values

    def __getitem__(self, key: FieldKey) -> Any:
        return self._entries[self._places[key]].get("value")

    def get(self, key: FieldKey, default: Any = None) -> Any:
        place = self._places.get(key)
        return default if place is None else self._entries[place].get("value", default)

    def __contains__(self, key: object) -> bool:
        return key in self._places

    def __iter__(self):
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def __repr__(self) -> str:
        return repr(self.values)


# Where each field is in an issue's list, by the list's names: every state of
# one issue (rebuilt from its journals) has its fields in the same order, and
# there are few such orders, so the names are looked up once per order.
_PLACES: dict[tuple[int, tuple], dict[FieldKey, int]] = {}
_MAX_LAYOUTS = 256


def field_names(issue_custom_fields: Iterable[Mapping[str, Any]]) -> tuple:
    """The names of an issue's custom fields in their order (its layout)."""
    return tuple(cf.get("name") for cf in issue_custom_fields)


def field_places(entries: list, names_to_keys: Mapping[str, FieldKey], names: tuple | None = None) -> dict[FieldKey, int]:
    """Logical key -> place in the list, for a list laid out as `names`
    (computed from the list when not given). The last entry of a name wins."""
    names = field_names(entries) if names is None else names
    cache_key = (id(names_to_keys), names)
    places = _PLACES.get(cache_key)
    if places is None:
        places = {}
        for place, name in enumerate(names):
            key = names_to_keys.get(name)
            if key is not None:
                places[key] = place
        if len(_PLACES) < _MAX_LAYOUTS:
            _PLACES[cache_key] = places
    return places


def custom_field_values(issue_custom_fields: Iterable[Mapping[str, Any]], names_to_keys: Mapping[str, FieldKey]) -> dict[FieldKey, Any]:
    """Map a REST-shaped `custom_fields` list ([{id, name, value}, ...]) to
    logical keys, ignoring fields the project does not own."""
    return dict(CustomFieldValues(issue_custom_fields, names_to_keys).values)



# --- A typed snapshot of an issue -------------------------------------------


@dataclasses.dataclass(frozen=True)
class IssueState:
    """What the rules look at: one issue at one moment, with custom fields by
    logical key. Values stay as Redmine stores them (strings, lists of strings
    for multiple fields, None or "" when empty); the helpers interpret them."""

    id: int | None
    tracker: TrackerKey | None  # None: a tracker InfoShare does not handle
    status: StatusKey | None
    fields: Mapping[FieldKey, Any]
    project_id: int | None = None
    author_id: int | None = None
    assigned_to_id: int | None = None
    created_on: dt.datetime | None = None
    closed_on: dt.datetime | None = None
    start_date: dt.date | None = None
    due_date: dt.date | None = None
    # Issues this one is related to (Redmine relations, any type).
    related_ids: frozenset[int] = frozenset()

    def raw(self, key: FieldKey) -> Any:
        return self.fields.get(key)

    def is_set(self, key: FieldKey) -> bool:
        return not is_blank(self.fields.get(key))

    def value(self, key: FieldKey) -> str | None:
        """A single-valued field's value, or None when empty."""
        value = self.fields.get(key)
        if isinstance(value, (list, tuple)):
            value = next((v for v in value if not is_blank(v)), None)
        return None if is_blank(value) else str(value)

    def values(self, key: FieldKey) -> tuple[str, ...]:
        value = self.fields.get(key)
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(str(v) for v in items if not is_blank(v))

    def flag(self, key: FieldKey) -> bool:
        """A boolean field is yes only when Redmine stores "1"."""
        return self.value(key) == BOOL_TRUE

    def date(self, key: FieldKey) -> dt.date | None:
        value = self.value(key)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None

    def is_one_of(self, key: FieldKey, allowed: Iterable[enum.Enum]) -> bool:
        return self.value(key) in {a.value for a in allowed}

    def time(self, key: FieldKey) -> dt.time | None:
        """A time field's `HH:MM` (24-hour), or None when empty or not a time."""
        return parse_clock_time(self.value(key))


_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_clock_time(value: str | None) -> dt.time | None:
    found = _CLOCK_TIME.fullmatch((value or "").strip())
    return dt.time(int(found.group(1)), int(found.group(2))) if found else None


def parse_time(value: Any) -> dt.datetime | None:
    """A Redmine timestamp ("2026-11-21T10:00:00Z") as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _ref_id(value: Any) -> int | None:
    return value.get("id") if isinstance(value, dict) else None


def _parse_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def related_ids(issue: Mapping[str, Any]) -> frozenset[int]:
    """The ids of the issues a REST issue (with `include=relations`) relates to."""
    own = issue.get("id")
    found = set()
    for relation in issue.get("relations") or []:
        for key in ("issue_id", "issue_to_id"):
            other = relation.get(key)
            if other is not None and other != own:
                found.add(other)
    return frozenset(found)


def issue_state(
    issue: Mapping[str, Any],
    *,
    tracker_keys: Mapping[str, TrackerKey],
    status_keys: Mapping[str, StatusKey],
    field_keys: Mapping[str, FieldKey],
    names: tuple | None = None,
) -> IssueState:
    """Read a REST-shaped issue (`GET /issues/:id.json`, an event, a gate
    call) with the site's names mapped to logical keys. `names` is the
    layout of its custom fields when the caller knows it (every state of one
    issue shares one)."""
    tracker = issue.get("tracker") or {}
    status = issue.get("status") or {}
    return IssueState(
        id=issue.get("id"),
        tracker=tracker_keys.get(tracker.get("name")),
        status=status_keys.get(status.get("name")),
        fields=CustomFieldValues(issue.get("custom_fields") or [], field_keys, names),
        project_id=_ref_id(issue.get("project")),
        author_id=_ref_id(issue.get("author")),
        assigned_to_id=_ref_id(issue.get("assigned_to")),
        created_on=parse_time(issue.get("created_on")),
        closed_on=parse_time(issue.get("closed_on")),
        start_date=_parse_date(issue.get("start_date")),
        due_date=_parse_date(issue.get("due_date")),
        related_ids=related_ids(issue),
    )

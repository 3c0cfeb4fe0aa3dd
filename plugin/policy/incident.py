"""R-INCIDENT: complaints about inappropriate disclosure and their outcomes are
collated and reviewed, inadvertent disclosure is investigated, and problems
staff meet are recorded (Buckinghamshire code, sections 3 and 5).

An `Information incident` is logged by anyone in the project, or opened by
the service for what got past the approval controls (R-APPROVAL). It belongs
to Information governance, and the clock is UK GDPR article 33's: a reportable
personal data breach goes to the ICO within 72 hours of becoming aware of it.
The deadline and the reminders are recomputed from `Became aware at` on every
run, so nothing is lost across restarts.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from plugin.policy.model import AddWatcher, AssignTo, Context, CreateLinkedIssue, Milestone, Once, RuleId, SetDates, SetFields, Violation
from plugin.policy.requirements import CLOSE_INCIDENT_REQUIRED, INVESTIGATION_REQUIRED
from plugin.domain.names import CLOSED_STATUSES, GroupKey, StatusKey, TrackerKey
from plugin.domain.record import BOOL_TRUE, FieldKey, IcoReportDecision, IncidentSource, IncidentType, IssueState

F = FieldKey
S = StatusKey

INCIDENT_OWNER = GroupKey.INFORMATION_GOVERNANCE
# UK GDPR article 33(1): notify the ICO within 72 hours of becoming aware.
ICO_DEADLINE = dt.timedelta(hours=72)
# Reminders to governance while no ICO report decision is recorded (DOMAIN.md).
REMINDER_HOURS = (24, 48, 66)
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")

_WHAT_TO_DO = {
    F.RISK_TO_INDIVIDUALS: "before investigating, record the risk to the people the information is about",
    F.INCIDENT_OUTCOME: "record the outcome of the investigation before closing the incident",
    F.LESSONS_LEARNED: "record the lessons learned before closing the incident",
    F.ICO_REPORT_DECISION: "record whether the incident is reportable to the ICO before closing it",
}


# --- Date-times as people write them ---------------------------------------------------


def parse_datetime(value: str | None, timezone: str) -> dt.datetime | None:
    """`YYYY-MM-DD HH:MM` in the site's time zone, as an aware moment; None
    when empty or not such a date-time."""
    if not value or not _DATETIME.fullmatch(value.strip()):
        return None
    try:
        naive = dt.datetime.strptime(value.strip(), DATETIME_FORMAT)
    except ValueError:
        return None
    # In UTC: adding 72 hours to a local time would add wall-clock hours,
    # one too many or too few across a change of the clocks.
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(timezone)).astimezone(dt.timezone.utc)


def format_datetime(moment: dt.datetime, timezone: str) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).strftime(DATETIME_FORMAT)


def became_aware(state: IssueState, ctx: Context) -> dt.datetime | None:
    """When the organisation became aware: as recorded, else when it was logged."""
    return parse_datetime(state.value(F.BECAME_AWARE_AT), ctx.config.calendar.timezone) or state.created_on


# --- Violations ----------------------------------------------------------------------------


def _v(ctx: Context, field: FieldKey, code: str, what: str) -> Violation:
    return Violation(RuleId.INCIDENT, field, code, f"{ctx.field_name(field)}: {what} (R-INCIDENT).")


def _datetime_checks(ctx: Context, field: FieldKey) -> list[Violation]:
    value = ctx.proposed.value(field)
    if value is None:
        return []
    moment = parse_datetime(value, ctx.config.calendar.timezone)
    if moment is None:
        return [_v(ctx, field, "not_a_datetime", "write the date and time as YYYY-MM-DD HH:MM, for example 2026-11-21 14:30")]
    if moment > ctx.now + dt.timedelta(minutes=1):
        return [_v(ctx, field, "future", "the time is in the future: record when it actually happened")]
    return []


def check(ctx: Context) -> list[Violation]:
    state = ctx.proposed
    out = _datetime_checks(ctx, F.BECAME_AWARE_AT) + _datetime_checks(ctx, F.ICO_REPORTED_AT)
    required = INVESTIGATION_REQUIRED if state.status is S.INVESTIGATING else CLOSE_INCIDENT_REQUIRED if state.status is S.INCIDENT_CLOSED else ()
    out += [_v(ctx, f, "missing", _WHAT_TO_DO[f]) for f in required if not state.is_set(f)]
    if state.status is not S.INCIDENT_CLOSED:
        return out
    decision = state.value(F.ICO_REPORT_DECISION)
    if decision == IcoReportDecision.NOT_REPORTABLE.value and not state.is_set(F.ICO_DECISION_REASON):
        out.append(_v(ctx, F.ICO_DECISION_REASON, "missing", "the incident is not reportable to the ICO: record why"))
    if decision == IcoReportDecision.REPORTABLE.value and not state.is_set(F.ICO_REPORTED_AT):
        out.append(_v(ctx, F.ICO_REPORTED_AT, "missing", "the incident is reportable: record when it was reported to the ICO (YYYY-MM-DD HH:MM)"))
    return out


# --- Opening one ------------------------------------------------------------------------------


def opened_by_service(ctx: Context, request: IssueState, kind: IncidentType, aware_at: dt.datetime, summary: str) -> CreateLinkedIssue:
    """An incident the service opens about a request, related to it and
    assigned to governance. At most one per request and kind: its key carries
    no save, so finding the cause again (or a crash half way) never opens a
    second. `summary` names ids and what happened, never case details."""
    tz = ctx.config.calendar.timezone
    deadline = aware_at + ICO_DEADLINE
    group = ctx.config.names.group(INCIDENT_OWNER)
    return CreateLinkedIssue(
        key=f"incident-{kind.name.lower().replace('_', '-')}-for-{request.id}",
        tracker=TrackerKey.INFORMATION_INCIDENT,
        subject=f"{kind.value}: request #{request.id}",
        description=(
            f"{summary} The InfoShare service opened this incident (R-INCIDENT). Investigate what was shared and with "
            "whom, record the risk to the people concerned and the containment actions, and decide whether it is "
            f"reportable to the ICO by the ICO deadline ({format_datetime(deadline, tz)})."
        ),
        fields=(
            (F.INCIDENT_TYPE, kind.value),
            (F.INCIDENT_SOURCE, IncidentSource.INFOSHARE_SERVICE.value),
            (F.BECAME_AWARE_AT, format_datetime(aware_at, tz)),
            (F.ICO_DEADLINE, format_datetime(deadline, tz)),
            (F.PERSONAL_DATA_INVOLVED, BOOL_TRUE),
        ),
        assign=AssignTo(group=INCIDENT_OWNER),
        note=f"Incident opened for {group}; ICO deadline {format_datetime(deadline, tz)} (R-INCIDENT).",
        start_date=ctx.local_date(aware_at),
        due_date=ctx.local_date(deadline),
    )


# --- The incident's own timers ------------------------------------------------------------------


def _reminder(ctx: Context, aware: dt.datetime, deadline: dt.datetime) -> list[Once]:
    """The latest reminder reached (earlier ones missed while nothing ran are
    not sent late), or the deadline note; each once per awareness time."""
    tz = ctx.config.calendar.timezone
    stamp = aware.astimezone(zoneinfo.ZoneInfo(tz)).strftime("%Y%m%dT%H%M")
    group = ctx.config.names.group(INCIDENT_OWNER)
    if ctx.now >= deadline:
        heads = GroupKey.HEADS_OF_SERVICE
        return [
            Once(
                f"ico-deadline-passed-{stamp}",
                f"The ICO deadline ({format_datetime(deadline, tz)}) has passed and no ICO report decision is recorded. "
                "A reportable personal data breach must be reported to the ICO within 72 hours of becoming aware of it "
                f"(UK GDPR article 33): {group}, record the decision now, and report it if it is reportable. "
                f"{ctx.config.names.group(heads)} have been added as watchers (R-INCIDENT).",
                (AddWatcher(group=heads),),
                milestone=Milestone.ICO_DEADLINE_PASSED,
            )
        ]
    elapsed = ctx.now - aware
    reached = [h for h in REMINDER_HOURS if elapsed >= dt.timedelta(hours=h)]
    if not reached:
        return []
    hours = max(reached)
    return [
        Once(
            f"ico-reminder-{hours}h-{stamp}",
            f"Reminder for {group}: {hours} hours since becoming aware of this incident, and no ICO report decision is "
            f"recorded. The ICO deadline is {format_datetime(deadline, tz)} (R-INCIDENT).",
            milestone=Milestone.ICO_REMINDER,
        )
    ]


def next_due(ctx: Context) -> dt.datetime | None:
    """The first moment after now at which the clock alone can make `derive`
    call for a note this incident has not had: its next reminder or its ICO
    deadline while it is open with no ICO report decision; after the
    deadline's note, nothing more (None)."""
    state = ctx.proposed
    aware = became_aware(state, ctx)
    if aware is None or state.status in CLOSED_STATUSES or state.is_set(F.ICO_REPORT_DECISION):
        return None
    moments = [aware + dt.timedelta(hours=h) for h in REMINDER_HOURS] + [aware + ICO_DEADLINE]
    return min((m for m in moments if m > ctx.now), default=None)


def derive(ctx: Context) -> list:
    state = ctx.proposed
    tz = ctx.config.calendar.timezone
    aware = became_aware(state, ctx)
    if aware is None:
        return []
    deadline = aware + ICO_DEADLINE
    actions: list = []
    wanted = []
    if not state.is_set(F.BECAME_AWARE_AT):
        wanted.append((F.BECAME_AWARE_AT, format_datetime(aware, tz)))
    if state.value(F.ICO_DEADLINE) != format_datetime(deadline, tz):
        wanted.append((F.ICO_DEADLINE, format_datetime(deadline, tz)))
    if wanted:
        actions.append(SetFields(tuple(wanted)))
    start, due = ctx.local_date(aware), ctx.local_date(deadline)
    if state.start_date != start or state.due_date != due:
        actions.append(SetDates(start_date=start, due_date=due))
    if state.assigned_to_id is None:
        group = ctx.config.names.group(INCIDENT_OWNER)
        actions.append(
            Once(
                "incident-logged",
                f"Incident assigned to {group}. ICO deadline {format_datetime(deadline, tz)}: 72 hours from becoming aware "
                "(UK GDPR article 33). Record the risk to individuals, the containment actions and the ICO report decision "
                "(R-INCIDENT).",
                (AssignTo(group=INCIDENT_OWNER),),
            )
        )
    if state.status not in CLOSED_STATUSES and not state.is_set(F.ICO_REPORT_DECISION):
        actions += _reminder(ctx, aware, deadline)
    return actions

"""The governance report (DOMAIN.md, "Reports"): for a period, counts and
charts of requests, approvals, decision times, escalations, retention reviews
and breaches, as HTML (charts embedded) and CSV. Counts only: the report
carries no personal data.

`aggregate` is pure; `gather` reads Redmine and the store; `write` renders.
"""

from __future__ import annotations

import base64
import collections
import csv
import dataclasses
import datetime as dt
import html
import io
import statistics
import zoneinfo
from pathlib import Path
from typing import Any, Callable

from plugin.domain import history
from plugin.service.executor import note_marker
from plugin.policy import incident, timeliness
from plugin.adapters.redmine.port import RedminePort
from plugin.adapters.store import Store
from plugin.domain.configuration import Config
from plugin.domain.names import CLOSED_STATUSES, StatusKey, TrackerKey
from plugin.domain.record import FieldKey, IcoReportDecision, IssueState, SecureMethod, Urgency, issue_state, parse_time

F = FieldKey
NOT_RECORDED = "(not recorded)"
OPEN = "Open"


@dataclasses.dataclass
class Request:
    state: IssueState
    decided_at: dt.datetime | None  # the save that first recorded a decision
    # What the service noted on it (R-APPROVAL 4 and 7), from its journals.
    approvals_voided: int = 0
    overridden_after_decline: bool = False
    # R-TIMELINESS: its answer against its urgency's target.
    answer: timeliness.Answer | None = None


@dataclasses.dataclass
class Incident:
    state: IssueState
    decided_at: dt.datetime | None  # the save that first recorded the ICO report decision


@dataclasses.dataclass
class ReportData:
    start: dt.date
    end: dt.date
    generated_at: dt.datetime
    requests: int
    by_channel: dict[str, int]
    by_decision: dict[str, int]
    by_outcome: dict[str, int]
    approvals: dict[str, int]
    decision_hours: dict[str, tuple[int, float | None]]  # urgency -> (decided, median hours)
    escalations_by_stage: dict[str, int]
    escalations_by_outcome: dict[str, int]
    reviews: dict[str, int]
    reviews_completed_by_outcome: dict[str, int]
    breaches: dict[tuple[str, str], int]  # (rule, status) -> count
    incidents_by_type: dict[str, int] = dataclasses.field(default_factory=dict)
    incidents_by_source: dict[str, int] = dataclasses.field(default_factory=dict)
    incidents_by_outcome: dict[str, int] = dataclasses.field(default_factory=dict)
    ico: dict[str, int] = dataclasses.field(default_factory=dict)
    # Every request under legal hold now, whatever the period, with the day
    # its hold was set (R-RETENTION v2): (request id, date or None if unknown).
    legal_holds: list[tuple[int, dt.date | None]] = dataclasses.field(default_factory=list)
    # R-SHARE: shares of the period, those not yet confirmed in writing, and
    # those sent by a method that is not secure.
    shares: dict[str, int] = dataclasses.field(default_factory=dict)
    # R-TIMELINESS, by urgency: requests, answered, answered within target
    # (count and %), median working hours to answer, overdue now.
    timeliness: dict[str, dict[str, float | int | None]] = dataclasses.field(default_factory=dict)


def _count(values) -> dict[str, int]:
    return dict(sorted(collections.Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def aggregate(
    config: Config,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    requests: list[Request],
    escalations: list[IssueState],
    reviews: list[IssueState],
    breaches: list[dict[str, Any]],
    incidents: list[Incident] = (),
    legal_holds: list[tuple[int, dt.datetime | None]] = (),
) -> ReportData:
    names = config.names
    states = [r.state for r in requests]
    tz = zoneinfo.ZoneInfo(config.calendar.timezone)
    today = now.astimezone(tz).date()

    def outcome(state: IssueState) -> str:
        return names.status(state.status) if state.status in CLOSED_STATUSES else OPEN

    hours: dict[str, list[float]] = {u.value: [] for u in Urgency}
    for r in requests:
        urgency = r.state.value(F.URGENCY)
        if r.decided_at is not None and r.state.created_on is not None and urgency in hours:
            hours[urgency].append((r.decided_at - r.state.created_on).total_seconds() / 3600)
    overdue_until = min(end, today)
    return ReportData(
        timeliness=_timeliness(requests, now),
        start=start,
        end=end,
        generated_at=now,
        requests=len(states),
        by_channel=_count(s.value(F.REQUEST_CHANNEL) or NOT_RECORDED for s in states),
        by_decision=_count(s.value(F.DECISION) or NOT_RECORDED for s in states),
        by_outcome=_count(outcome(s) for s in states),
        approvals={
            "required": sum(s.flag(F.APPROVAL_REQUIRED) for s in states),
            "granted": sum(s.value(F.APPROVAL_DECISION) == "Approved" and s.is_set(F.APPROVED_BY) for s in states),
            "declined": sum(s.value(F.APPROVAL_DECISION) == "Declined" for s in states),
            "overridden": sum(s.flag(F.EMERGENCY_OVERRIDE) and s.is_set(F.EMERGENCY_OVERRIDE_REASON) for s in states),
            "overridden after a decline": sum(r.overridden_after_decline for r in requests),
            "voided by a change": sum(r.approvals_voided for r in requests),
        },
        decision_hours={u: (len(v), round(statistics.median(v), 1) if v else None) for u, v in hours.items()},
        escalations_by_stage=_count(e.value(F.ESCALATION_STAGE) or NOT_RECORDED for e in escalations),
        escalations_by_outcome=_count(
            (e.value(F.ESCALATION_OUTCOME) or NOT_RECORDED) if e.status is StatusKey.ESCALATION_RESOLVED else OPEN for e in escalations
        ),
        reviews={
            "due": len(reviews),
            "overdue": sum(r.status is StatusKey.REVIEW_DUE and r.due_date is not None and r.due_date < overdue_until for r in reviews),
            "completed": sum(r.status is StatusKey.REVIEW_COMPLETED for r in reviews),
        },
        reviews_completed_by_outcome=_count(
            r.value(F.REVIEW_OUTCOME) or NOT_RECORDED for r in reviews if r.status is StatusKey.REVIEW_COMPLETED
        ),
        breaches=dict(sorted(collections.Counter((b["rule"], b["status"]) for b in breaches).items())),
        incidents_by_type=_count(i.state.value(F.INCIDENT_TYPE) or NOT_RECORDED for i in incidents),
        incidents_by_source=_count(i.state.value(F.INCIDENT_SOURCE) or NOT_RECORDED for i in incidents),
        incidents_by_outcome=_count(
            (i.state.value(F.INCIDENT_OUTCOME) or NOT_RECORDED) if i.state.status is StatusKey.INCIDENT_CLOSED else OPEN for i in incidents
        ),
        ico={
            "logged": len(incidents),
            "reportable": sum(i.state.value(F.ICO_REPORT_DECISION) == IcoReportDecision.REPORTABLE.value for i in incidents),
            "reported": sum(i.state.is_set(F.ICO_REPORTED_AT) for i in incidents),
            "deadlines missed": sum(_missed_deadline(i, now, config) for i in incidents),
        },
        legal_holds=sorted((issue_id, at.astimezone(tz).date() if at else None) for issue_id, at in legal_holds),
        shares={
            "shared": sum(s.status is StatusKey.SHARED for s in states),
            "not confirmed in writing": sum(s.status is StatusKey.SHARED and not s.is_set(F.CONFIRMED_IN_WRITING_ON) for s in states),
            "by a method that is not secure": sum(
                s.status is StatusKey.SHARED and s.value(F.SECURE_METHOD) == SecureMethod.OTHER_NOT_SECURE.value for s in states
            ),
        },
    )


def _timeliness(requests: list[Request], now: dt.datetime) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for level in Urgency:
        answers = [r.answer for r in requests if r.answer is not None and r.answer.urgency is level]
        answered = [a for a in answers if a.answered is not None]
        within = sum(a.within_target for a in answered)
        out[level.value] = {
            "requests": len(answers),
            "answered": len(answered),
            "answered_within_target": within,
            "answered_within_target_pct": round(100 * within / len(answered), 1) if answered else None,
            "median_working_hours_to_answer": round(statistics.median(a.working_hours for a in answered), 1) if answered else None,
            "overdue_now": sum(a.answered is None and now >= a.due for a in answers),
        }
    return out


def _missed_deadline(found: Incident, now: dt.datetime, config: Config) -> bool:
    """No ICO report decision by the deadline (72 hours after becoming aware)."""
    deadline = incident.parse_datetime(found.state.value(F.ICO_DEADLINE), config.calendar.timezone)
    if deadline is None:
        return False
    return (found.decided_at or now) > deadline


# --- Reading ---------------------------------------------------------------------------


def _range(start: dt.date, end: dt.date) -> str:
    return f"><{start.isoformat()}|{end.isoformat()}"


def first_set(issue: dict[str, Any], key: FieldKey, names: dict, keys: dict) -> dt.datetime | None:
    """When a field was first set, from the issue's journals."""
    for change in history.changes(issue, names):
        if issue_state(change.after, **keys).is_set(key):
            return change.at
    return None


def decision_time(issue: dict[str, Any], names: dict, keys: dict) -> dt.datetime | None:
    return first_set(issue, F.DECISION, names, keys)


def answered_time(issue: dict[str, Any], names: dict, keys: dict) -> dt.datetime | None:
    """When the request first reached an answering status (R-TIMELINESS)."""
    for change in history.changes(issue, names):
        if issue_state(change.after, **keys).status in timeliness.ANSWERING_STATUSES:
            return change.at or parse_time(issue.get("created_on"))
    return None


def hold_set_at(issue: dict[str, Any], names: dict, keys: dict) -> dt.datetime | None:
    """When the current legal hold was set: the latest save that turned it on."""
    set_at, held = None, False
    for change in history.changes(issue, names):
        now_held = issue_state(change.after, **keys).flag(F.LEGAL_HOLD)
        if now_held and not held:
            set_at = change.at
        held = now_held
    return set_at if held else None


def _service_notes(issue: dict[str, Any], prefix: str, service_user_id: int) -> int:
    """How many notes the service posted with a marker starting with `prefix`."""
    marker = note_marker(prefix)[:-1]  # the marker without its closing bracket
    return sum(
        (j.get("user") or {}).get("id") == service_user_id and marker in (j.get("notes") or "") for j in issue.get("journals") or []
    )


def gather(
    config: Config,
    redmine: RedminePort,
    store: Store,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    progress: Callable[[int, int], None] | None = None,
) -> ReportData:
    keys = config.names.key_maps()
    refs = list(redmine.issues_where(TrackerKey.INFORMATION_REQUEST, {}, status_id="*", created_on=_range(start, end)))
    requests = []
    bot = redmine.service_user_id()
    for done, ref in enumerate(refs, 1):
        state = issue_state(ref, **keys)
        found = Request(state, None, answer=timeliness.measure(config, state, None))
        # A request still in Received was never answered nor decided: its list entry says all.
        if state.is_set(F.DECISION) or state.status is not StatusKey.RECEIVED:
            issue = redmine.issue(ref["id"])  # its journals say when it was answered and decided, and what the service did
            if issue:
                found.decided_at = decision_time(issue, redmine.names_by_id(), keys)
                found.approvals_voided = _service_notes(issue, "approval-void-", bot)
                found.overridden_after_decline = _service_notes(issue, "override-after-decline-", bot) > 0
                found.answer = timeliness.measure(config, state, answered_time(issue, redmine.names_by_id(), keys))
        requests.append(found)
        if progress:
            progress(done, len(refs))
    incidents = []
    for ref in redmine.issues_where(TrackerKey.INFORMATION_INCIDENT, {}, status_id="*", created_on=_range(start, end)):
        issue = redmine.issue(ref["id"])
        if issue:
            incidents.append(Incident(issue_state(issue, **keys), first_set(issue, F.ICO_REPORT_DECISION, redmine.names_by_id(), keys)))
    escalations = [issue_state(e, **keys) for e in redmine.issues_where(TrackerKey.ESCALATION, {}, status_id="*", created_on=_range(start, end))]
    reviews = [issue_state(r, **keys) for r in redmine.issues_where(TrackerKey.RETENTION_REVIEW, {}, status_id="*", due_date=_range(start, end))]
    tz = zoneinfo.ZoneInfo(config.calendar.timezone)
    breaches = [b for b in store.breaches.all() if start <= b["detected_at"].astimezone(tz).date() <= end]
    holds = []
    for ref in redmine.issues_where(TrackerKey.INFORMATION_REQUEST, {F.LEGAL_HOLD: "1"}, status_id="*"):
        issue = redmine.issue(ref["id"])
        if issue:
            holds.append((issue["id"], hold_set_at(issue, redmine.names_by_id(), keys)))
    return aggregate(config, start, end, now, requests, escalations, reviews, breaches, incidents, holds)


# --- Writing ----------------------------------------------------------------------------

CSV_FILES = {
    "requests_by_channel.csv": ("channel", "by_channel"),
    "requests_by_decision.csv": ("decision", "by_decision"),
    "requests_by_outcome.csv": ("outcome", "by_outcome"),
    "approvals.csv": ("measure", "approvals"),
    "shares.csv": ("measure", "shares"),
    "escalations_by_stage.csv": ("stage", "escalations_by_stage"),
    "escalations_by_outcome.csv": ("outcome", "escalations_by_outcome"),
    "retention_reviews.csv": ("measure", "reviews"),
    "retention_reviews_by_outcome.csv": ("outcome", "reviews_completed_by_outcome"),
    "incidents_by_type.csv": ("type", "incidents_by_type"),
    "incidents_by_source.csv": ("source", "incidents_by_source"),
    "incidents_by_outcome.csv": ("outcome", "incidents_by_outcome"),
    "incidents_ico.csv": ("measure", "ico"),
}


TIMELINESS_COLUMNS = (
    "requests", "answered", "answered_within_target", "answered_within_target_pct", "median_working_hours_to_answer", "overdue_now",
)


def write_csv(data: ReportData, out: Path) -> list[Path]:
    written = []
    for filename, (label, attribute) in CSV_FILES.items():
        path = out / filename
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([label, "count"])
            for key, count in getattr(data, attribute).items():
                w.writerow([key, count])
        written.append(path)
    path = out / "decision_times.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["urgency", "decided", "median_hours"])
        for urgency, (decided, median) in data.decision_hours.items():
            w.writerow([urgency, decided, "" if median is None else median])
    written.append(path)
    path = out / "timeliness.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["urgency", *TIMELINESS_COLUMNS])
        for urgency, row in data.timeliness.items():
            w.writerow([urgency, *("" if row[c] is None else row[c] for c in TIMELINESS_COLUMNS)])
    written.append(path)
    path = out / "breaches.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "status", "count"])
        for (rule, status), count in data.breaches.items():
            w.writerow([rule, status, count])
    written.append(path)
    path = out / "legal_holds.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["request_id", "hold_set_on"])
        for issue_id, since in data.legal_holds:
            w.writerow([issue_id, since.isoformat() if since else ""])
    written.append(path)
    return written


def _chart(title: str, counts: dict[str, float], unit: str = "") -> str:
    """A horizontal bar chart as an embedded PNG (data URI)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = list(counts) or ["(none)"]
    values = list(counts.values()) or [0]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.2), dpi=100)
    ax.barh(labels[::-1], values[::-1], color="#3b6ea5")
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel(unit)
    ax.set_xlim(0, max(values) * 1.15 or 1)
    if all(float(v).is_integer() for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:g}", va="center", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(header: tuple[str, ...], rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(data: ReportData, out: Path) -> Path:
    sections = []

    def section(title: str, counts: dict, label: str, unit: str = "requests", note: str = "") -> None:
        sections.append(
            f"<section><h2>{html.escape(title)}</h2>{f'<p>{html.escape(note)}</p>' if note else ''}"
            f"<img alt='{html.escape(title)}' src='{_chart(title, counts, unit)}'>"
            f"{_table((label, 'count'), counts.items())}</section>"
        )

    section("Requests by channel", data.by_channel, "channel")
    section("Requests by decision", data.by_decision, "decision")
    section("Requests by outcome", data.by_outcome, "outcome")
    section(
        "Approvals",
        data.approvals,
        "measure",
        note="Required: the request needed a manager's approval (R-APPROVAL). Granted and declined: the recorded approval decision. "
        "Overridden: shared under an emergency override; after a decline: the override went against a manager's decline. "
        "Voided by a change: approvals that stopped counting because a fact they approved changed.",
    )
    section(
        "Shares",
        data.shares,
        "measure",
        note="Requests shared in the period; of them, those whose written confirmation is not recorded yet (West Yorkshire "
        "procedures 3.5), and those sent by a method that is not secure, with the reason recorded (R-SHARE).",
    )
    medians = {u: m for u, (_, m) in data.decision_hours.items() if m is not None}
    sections.append(
        "<section><h2>Median time from receipt to decision</h2><p>Hours from logging a request to recording its decision, by urgency.</p>"
        f"<img alt='Median time to decision' src='{_chart('Median hours to decision', medians, 'hours')}'>"
        f"{_table(('urgency', 'decided', 'median hours'), ((u, n, '' if m is None else m) for u, (n, m) in data.decision_hours.items()))}</section>"
    )
    within = {u: row["answered_within_target_pct"] for u, row in data.timeliness.items() if row["answered_within_target_pct"] is not None}
    sections.append(
        "<section><h2>Answered within target</h2><p>Requests logged in the period, by urgency: answered (first reached Awaiting "
        "approval, Approved, Shared, Not shared or Withdrawn), answered by their Response due, the median working hours from logging "
        "to the answer, and those past their Response due and not answered now (R-TIMELINESS).</p>"
        f"<img alt='Answered within target' src='{_chart('Answered within target (%)', within, '% of answered')}'>"
        + _table(
            ("urgency", "requests", "answered", "within target", "within target %", "median working hours", "overdue now"),
            ((u, *("" if row[c] is None else row[c] for c in TIMELINESS_COLUMNS)) for u, row in data.timeliness.items()),
        )
        + "</section>"
    )
    section("Escalations by stage", data.escalations_by_stage, "stage", "escalations")
    section("Escalations by outcome", data.escalations_by_outcome, "outcome", "escalations")
    section("Retention reviews", data.reviews, "measure", "reviews", note="Reviews due in the period; overdue: still open after their due date; completed.")
    section("Completed reviews by outcome", data.reviews_completed_by_outcome, "outcome", "reviews")
    section("Incidents by type", data.incidents_by_type, "type", "incidents", note="Information incidents logged in the period (R-INCIDENT).")
    section("Incidents by source", data.incidents_by_source, "source", "incidents")
    section("Incidents by outcome", data.incidents_by_outcome, "outcome", "incidents")
    section(
        "Incidents and the ICO",
        data.ico,
        "measure",
        "incidents",
        note="Reportable: the ICO report decision. Reported: an ICO report time is recorded. Deadlines missed: no ICO report "
        "decision within 72 hours of becoming aware (UK GDPR article 33).",
    )
    breaches = {f"{rule} ({status})": n for (rule, status), n in data.breaches.items()}
    section("Breaches", breaches, "rule (status)", "breaches", note="Rules broken past the gate, by when they were found (R-AUDIT).")
    sections.append(
        "<section><h2>Requests under legal hold</h2><p>Every request held now, whatever the period, with the day its hold was "
        "set; held requests are not reviewed for retention, and each hold is put to information governance once a year (R-RETENTION).</p>"
        f"{_table(('request', 'hold set on'), ((f'#{i}', since.isoformat() if since else 'not known') for i, since in data.legal_holds))}"
        f"<p>{len(data.legal_holds)} request(s) under legal hold.</p></section>"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>InfoShare governance report {data.start} to {data.end}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }} td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>InfoShare governance report</h1>
<p>Period: {data.start.isoformat()} to {data.end.isoformat()} (requests, escalations and incidents logged, reviews due, breaches found in the period).
{data.requests} information request(s). Generated {data.generated_at.astimezone(dt.timezone.utc).isoformat(timespec='minutes')}. Counts only; no personal data.</p>
{''.join(sections)}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path


def write(data: ReportData, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [write_html(data, out), *write_csv(data, out)]

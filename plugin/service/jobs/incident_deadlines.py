"""R-INCIDENT: the ICO clock of open information incidents (reminders 24,
48 and 66 hours after becoming aware, a note when 72 hours pass with no ICO
report decision)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from plugin.policy.model import Milestone
from plugin.service.judge import Judge, Source, reached

log = logging.getLogger("infoshare.jobs.incidents")
JOB = "incidents"
# How long after its ICO deadline an undecided incident is still looked at:
# the deadline note is posted on the first run after the deadline; the
# window only covers a scheduler that was down meanwhile.
LOOKBACK_DAYS = 7


@dataclasses.dataclass
class IncidentReport:
    checked: int = 0
    reminders: list[int] = dataclasses.field(default_factory=list)
    deadlines_passed: list[int] = dataclasses.field(default_factory=list)
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class IncidentDeadlines:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, now: dt.datetime) -> IncidentReport:
        """Post the reminders and deadline notes of open incidents with no ICO
        report decision. Found with Redmine's filters (open, no decision, due
        date from a week ago on), so the cost follows the incidents whose
        clock is running, not all incidents."""
        judge, report = self.judge, IncidentReport()
        calls_before = judge.redmine.requests_sent
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        since = today - dt.timedelta(days=LOOKBACK_DAYS)
        with judge.job(JOB) as summary:
            refs = list(judge.redmine.issues_where(
                TrackerKey.INFORMATION_INCIDENT, {FieldKey.ICO_REPORT_DECISION: "!*"}, status_id="o", due_date=f">={since.isoformat()}"
            ))
            known = judge.open_problems(JOB)
            for ref in judge.each(refs):
                outcomes = judge.isolated(JOB, ref["id"], lambda r=ref: judge.act_on_current(r, now, Source.SCHEDULER), report.problems,
                                          open_problems=known) or []
                if reached(outcomes, Milestone.ICO_DEADLINE_PASSED):
                    report.deadlines_passed.append(ref["id"])
                elif reached(outcomes, Milestone.ICO_REMINDER):
                    report.reminders.append(ref["id"])
            report.checked = len(refs)
            report.redmine_requests = judge.redmine.requests_sent - calls_before
            summary.update(checked=report.checked, reminders=len(report.reminders), deadlines_passed=len(report.deadlines_passed),
                           problems=len(report.problems))
        log.info("incident deadlines", extra={"job": JOB, "count": len(report.reminders) + len(report.deadlines_passed)})
        return report

"""R-INCIDENT: the ICO clock of open information incidents (reminders 24,
48 and 66 hours after becoming aware, a note when 72 hours pass with no ICO
report decision).

Redmine's filters find the incidents whose clock runs (a window of days);
each is then read only when it has changed or its next reminder or deadline
has come (`jobs/wakes.py`), not at every sweep of those days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo
from typing import Any, Iterator

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey, issue_state
from plugin.policy import incident
from plugin.policy.model import Milestone
from plugin.service.jobs.wakes import Wakes
from plugin.service.judge import Judge, reached

log = logging.getLogger("infoshare.jobs.incidents")
JOB = "incidents"
# How long after its ICO deadline an undecided incident is still looked at:
# the deadline note is posted on the first run after the deadline; the
# window only covers a scheduler that was down meanwhile.
LOOKBACK_DAYS = 7
# How far ahead: the first reminder is due 24 hours after becoming aware,
# 48 hours before the deadline, so an incident whose deadline is more than
# two days off has nothing due yet (one day more for the change of clocks).
LOOKAHEAD_DAYS = 3


@dataclasses.dataclass
class IncidentReport:
    checked: int = 0  # incidents read: their clock had come, or they had changed
    asleep: int = 0  # incidents left alone: unchanged since read, and nothing due yet
    reminders: list[int] = dataclasses.field(default_factory=list)
    deadlines_passed: list[int] = dataclasses.field(default_factory=list)
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class IncidentDeadlines:
    def __init__(self, judge: Judge):
        self.judge = judge
        self.wakes = Wakes(judge, JOB, (incident,), (judge.config.names, judge.config.calendar.timezone))

    def run(self, now: dt.datetime) -> IncidentReport:
        """Post the reminders and deadline notes of open incidents with no ICO
        report decision. Found with Redmine's filters on the issue's own
        columns (open, and due within the clock's window, or with no due date
        yet: logged while the service was down), so the cost follows the
        incidents whose clock is running, not all incidents."""
        judge, report = self.judge, IncidentReport()
        calls_before = judge.redmine.requests_sent
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        with judge.job(JOB) as summary:
            refs = {ref["id"]: ref for ref in self._candidates(today)}
            known = judge.open_problems(JOB)
            report.asleep, swept = self.wakes.run(refs, now, known, report.problems)
            report.checked = len(swept)
            for issue_id, outcomes in swept:
                if reached(outcomes, Milestone.ICO_DEADLINE_PASSED):
                    report.deadlines_passed.append(issue_id)
                elif reached(outcomes, Milestone.ICO_REMINDER):
                    report.reminders.append(issue_id)
            report.redmine_requests = judge.redmine.requests_sent - calls_before
            summary.update(checked=report.checked, asleep=report.asleep, reminders=len(report.reminders), deadlines_passed=len(report.deadlines_passed),
                           problems=len(report.problems))
        log.info("incident deadlines", extra={"job": JOB, "count": len(report.reminders) + len(report.deadlines_passed)})
        return report

    def _candidates(self, today: dt.date) -> Iterator[dict[str, Any]]:
        """Open incidents due from a week ago to a few days ahead, and open
        ones with no due date. Not Redmine's filter on the ICO report
        decision: on a custom field it is a subquery per incident, which timed
        out over 50,000 incidents (benchmarks/RESULTS.md); the decision is
        read from the list instead, and the rules judge the rest."""
        redmine = self.judge.redmine
        since, until = today - dt.timedelta(days=LOOKBACK_DAYS), today + dt.timedelta(days=LOOKAHEAD_DAYS)
        incident = TrackerKey.INFORMATION_INCIDENT
        keys = self.judge.config.names.key_maps()
        for ref in redmine.issues_where(incident, {}, status_id="o", due_date=f"><{since.isoformat()}|{until.isoformat()}"):
            if not issue_state(ref, **keys).is_set(FieldKey.ICO_REPORT_DECISION):
                yield ref
        yield from redmine.issues_where(incident, {}, status_id="o", due_date="!*")

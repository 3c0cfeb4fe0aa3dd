"""R-APPROVAL 7: the reminders of retrospective approvals still outstanding
after an emergency override, every working day until one is recorded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from plugin.domain.names import TrackerKey
from plugin.domain.record import BOOL_TRUE, FieldKey
from plugin.policy import approval
from plugin.service.judge import Judge, Source

log = logging.getLogger("infoshare.jobs.approvals")
JOB = "approval_reminders"


@dataclasses.dataclass
class ReminderReport:
    reminders: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class ApprovalReminders:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, now: dt.datetime) -> ReminderReport:
        """Post today's reminder on every request shared under an emergency
        override whose retrospective approval is still outstanding. Found
        with Redmine's filters (override set, no approval decision), so the
        cost follows the outstanding requests."""
        judge, report = self.judge, ReminderReport()
        with judge.job(JOB) as summary:
            candidates = judge.redmine.issues_where(
                TrackerKey.INFORMATION_REQUEST,
                {FieldKey.EMERGENCY_OVERRIDE: BOOL_TRUE, FieldKey.APPROVAL_DECISION: "!*"},
                status_id="*",
            )
            known = judge.open_problems(JOB)
            for ref in judge.each(candidates):
                posted = judge.isolated(JOB, ref["id"], lambda r=ref: self._remind(r["id"], now), report.problems, open_problems=known)
                report.reminders += bool(posted)
            summary.update(reminders=report.reminders, problems=len(report.problems))
        log.info("retrospective approval reminders", extra={"job": JOB, "count": report.reminders})
        return report

    def _remind(self, issue_id: int, now: dt.datetime) -> bool:
        judge = self.judge
        with judge.leases.hold(f"issue:{issue_id}"):
            issue = judge.redmine.issue(issue_id)
            if issue is None:
                return False
            reminder = approval.retrospective_reminder(judge.current_context(issue, now))
            if reminder is None:
                return False
            return any(o.status == "applied" for o in judge.act(issue, [reminder], Source.SCHEDULER))

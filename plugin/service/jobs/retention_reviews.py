"""R-RETENTION: the daily run that opens the retention reviews that are due
and posts their reminders."""

from __future__ import annotations

import dataclasses
import itertools
import datetime as dt
import logging
import zoneinfo

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from plugin.policy import engine
from plugin.policy.model import CreateLinkedIssue, Milestone
from plugin.service.judge import Judge, Source, reached

log = logging.getLogger("infoshare.jobs.retention")
JOB = "retention"


@dataclasses.dataclass
class RetentionReport:
    due: int = 0
    opened: list[int] = dataclasses.field(default_factory=list)
    reminders: int = 0
    on_hold: list[int] = dataclasses.field(default_factory=list)
    hold_reviews: int = 0
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class RetentionReviews:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, now: dt.datetime) -> RetentionReport:
        """Open the reviews that are due and post their reminders. Due
        requests are found with Redmine's filter on the review date (closed,
        review date within the lead time), so the cost follows them, not all
        requests. Requests under legal hold (Redmine's filter on the field)
        are never reviewed; each is put to governance once a year."""
        judge, report = self.judge, RetentionReport()
        calls_before = judge.redmine.requests_sent
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        horizon = today + dt.timedelta(days=judge.config.retention.review_lead_days)
        with judge.job(JOB) as summary:
            known = judge.open_problems(JOB)
            due = judge.redmine.issues_where(TrackerKey.INFORMATION_REQUEST, {FieldKey.RETENTION_REVIEW_DATE: f"<={horizon.isoformat()}"}, status_id="c")
            held = judge.redmine.issues_where(TrackerKey.INFORMATION_REQUEST, {FieldKey.LEGAL_HOLD: "1"}, status_id="*")
            for ref in judge.each(_distinct(itertools.chain(due, held))):
                judge.isolated(JOB, ref["id"], lambda r=ref: self._review(r["id"], now, report), report.problems, open_problems=known)
            report.redmine_requests = judge.redmine.requests_sent - calls_before
            summary.update(due=report.due, opened=len(report.opened), reminders=report.reminders, on_hold=len(report.on_hold),
                           hold_reviews=report.hold_reviews, problems=len(report.problems))
        log.info("retention reviews", extra={"job": JOB, "count": len(report.opened)})
        return report

    def _review(self, issue_id: int, now: dt.datetime, report: RetentionReport) -> None:
        judge = self.judge
        with judge.leases.hold(f"issue:{issue_id}"):
            issue = judge.redmine.issue(issue_id)
            if issue is None:
                return
            ctx = judge.current_context(issue, now)
            if ctx.proposed.flag(FieldKey.LEGAL_HOLD):
                report.on_hold.append(issue["id"])
            else:
                report.due += 1
            verdict = engine.evaluate(ctx)
            outcomes = judge.act(issue, list(verdict.actions), Source.SCHEDULER, verdict.violations)
        report.opened += [o.created_issue_id for o in outcomes if isinstance(o.action, CreateLinkedIssue) and o.status == "applied"]
        report.reminders += reached(outcomes, Milestone.REVIEW_REMINDER)
        report.hold_reviews += reached(outcomes, Milestone.LEGAL_HOLD_REVIEW)


def _distinct(refs):
    """A held request whose review date is near comes in both lists: once."""
    seen: set[int] = set()
    for ref in refs:
        if ref["id"] not in seen:
            seen.add(ref["id"])
            yield ref

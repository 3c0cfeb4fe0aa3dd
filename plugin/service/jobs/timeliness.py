"""Timeliness sweeps (golden rule 6: shared in a timely fashion, and what is
shared is confirmed): for now the R-SHARE written-confirmation reminders.
`infoshare timeliness run`, in the scheduler every `timers_every_minutes`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo

from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from plugin.policy.model import Milestone
from plugin.service.judge import Judge, Source, reached

log = logging.getLogger("infoshare.jobs.timeliness")
JOB = "timeliness"


@dataclasses.dataclass
class TimelinessReport:
    unconfirmed: int = 0  # shares found waiting for their written confirmation
    confirmation_reminders: list[int] = dataclasses.field(default_factory=list)
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class Timeliness:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, now: dt.datetime) -> TimelinessReport:
        """Remind the sharer of each share not yet confirmed in writing, once
        each working day after the share. Found with Redmine's filters
        (Shared, no confirmation date, shared before today), so the cost
        follows the unconfirmed shares, not all requests."""
        judge, report = self.judge, TimelinessReport()
        calls_before = judge.redmine.requests_sent
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        with judge.job(JOB) as summary:
            refs = []
            if judge.config.share.written_confirmation_reminders:
                shared = judge.config.names.status(StatusKey.SHARED)
                shared_id = next(i for i, name in judge.redmine.names_by_id()["status"].items() if name == shared)
                refs = list(judge.redmine.issues_where(
                    TrackerKey.INFORMATION_REQUEST,
                    {FieldKey.CONFIRMED_IN_WRITING_ON: "!*", FieldKey.SHARED_ON: f"<={(today - dt.timedelta(days=1)).isoformat()}"},
                    status_id=str(shared_id),
                ))
            known = judge.open_problems(JOB)
            for ref in judge.each(refs):
                outcomes = judge.isolated(JOB, ref["id"], lambda r=ref: judge.act_on_current(r, now, Source.SCHEDULER), report.problems,
                                          open_problems=known) or []
                if reached(outcomes, Milestone.CONFIRMATION_REMINDER):
                    report.confirmation_reminders.append(ref["id"])
            report.unconfirmed = len(refs)
            report.redmine_requests = judge.redmine.requests_sent - calls_before
            summary.update(unconfirmed=report.unconfirmed, confirmation_reminders=len(report.confirmation_reminders), problems=len(report.problems))
        log.info("timeliness", extra={"job": JOB, "count": len(report.confirmation_reminders)})
        return report

"""R-ESCALATION: the timers of the escalation procedure. Every overdue
unresolved escalation moves to its next stage, once; escalations people
opened without the service noticing are started."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo

from plugin.domain.names import TrackerKey
from plugin.domain.record import FieldKey
from plugin.policy.model import Milestone
from plugin.service.judge import Judge, Source, reached

log = logging.getLogger("infoshare.jobs.escalations")
JOB = "escalations"


@dataclasses.dataclass
class EscalationReport:
    checked: int = 0
    moved: list[int] = dataclasses.field(default_factory=list)
    set_by_hand: list[int] = dataclasses.field(default_factory=list)
    started: list[int] = dataclasses.field(default_factory=list)
    final_stage_overdue: list[int] = dataclasses.field(default_factory=list)
    problems: list[int] = dataclasses.field(default_factory=list)


# What each milestone a run reaches is counted as.
_COUNTED = {
    Milestone.STAGE_MOVED: "moved",
    Milestone.STAGE_SET_BY_HAND: "set_by_hand",
    Milestone.ESCALATION_STARTED: "started",
    Milestone.FINAL_STAGE_OVERDUE: "final_stage_overdue",
}


class EscalationTimers:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, now: dt.datetime) -> EscalationReport:
        """Move every overdue unresolved escalation on, and start any that a
        person opened without the service noticing. Both are found with
        Redmine's filters (tracker, open, due date / no stage), so the cost
        follows the overdue and new escalations, not all of them."""
        judge, report = self.judge, EscalationReport()
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        with judge.job(JOB) as summary:
            yesterday = (today - dt.timedelta(days=1)).isoformat()
            overdue = list(judge.redmine.issues_where(TrackerKey.ESCALATION, {}, status_id="o", due_date=f"<={yesterday}"))
            unstarted = list(judge.redmine.issues_where(TrackerKey.ESCALATION, {FieldKey.ESCALATION_STAGE: "!*"}, status_id="o"))
            known = judge.open_problems(JOB)
            for ref in judge.each(overdue + unstarted):
                outcomes = judge.isolated(JOB, ref["id"], lambda r=ref: judge.act_on_current(r, now, Source.SCHEDULER), report.problems,
                                          open_problems=known) or []
                for milestone, counted in _COUNTED.items():
                    if reached(outcomes, milestone):
                        getattr(report, counted).append(ref["id"])
            report.checked = len(overdue) + len(unstarted)
            summary.update(checked=report.checked, moved=len(report.moved), set_by_hand=len(report.set_by_hand), started=len(report.started),
                           final_stage_overdue=len(report.final_stage_overdue), problems=len(report.problems))
        log.info("escalation timers", extra={"job": JOB, "count": len(report.moved)})
        return report

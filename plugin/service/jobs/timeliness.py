"""Timeliness sweeps (golden rule 6: shared in a timely fashion, and what is
shared is confirmed): requests past their Response due and not answered,
requests waiting for approval longer than their urgency allows (R-TIMELINESS),
and shares not yet confirmed in writing (R-SHARE).
`infoshare timeliness run`, in the scheduler every `timers_every_minutes`.

Each kind of candidate is found with Redmine's own filters: unanswered
requests whose Due date (the day of their Response due) is today or earlier,
or not yet written; requests in Awaiting approval; shares with no
confirmation date from before today. Those filters are rough (a request stays
overdue, or waiting, for days, and the sweep runs every few minutes), so the
sweep also remembers, per request, when its rules said the clock next calls
for something (`next_due`) and leaves alone a candidate that has not changed
since and whose moment has not come (`jobs/wakes.py`). A sweep then reads
what is due, not what exists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo
from typing import Any, Iterable

from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey, issue_state
from plugin.policy import share, timeliness
from plugin.policy.incident import parse_datetime
from plugin.policy.model import Milestone
from plugin.policy.timeliness import UNANSWERED_STATUSES
from plugin.service.jobs.wakes import Wakes
from plugin.service.judge import Judge, reached

log = logging.getLogger("infoshare.jobs.timeliness")
JOB = "timeliness"

# What each reminder counted in the report stands for.
COUNTED = {
    Milestone.RESPONSE_OVERDUE: "overdue",
    Milestone.OVERDUE_REMINDER: "overdue_reminders",
    Milestone.APPROVAL_WAIT_REMINDER: "approval_waits",
    Milestone.CONFIRMATION_REMINDER: "confirmation_reminders",
    Milestone.RED_REQUEST_NOTED: "red_noted",
}


@dataclasses.dataclass
class TimelinessReport:
    checked: int = 0  # candidates read: what was due, not what exists
    asleep: int = 0  # candidates left alone: unchanged since judged, and nothing due yet
    unconfirmed: int = 0  # shares found waiting for their written confirmation
    overdue: list[int] = dataclasses.field(default_factory=list)  # first noted overdue in this run
    overdue_reminders: list[int] = dataclasses.field(default_factory=list)
    approval_waits: list[int] = dataclasses.field(default_factory=list)
    confirmation_reminders: list[int] = dataclasses.field(default_factory=list)
    red_noted: list[int] = dataclasses.field(default_factory=list)  # Red requests the worker had not noted yet
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class Timeliness:
    def __init__(self, judge: Judge):
        self.judge = judge
        # The rules whose reminders this sweep is for, and what they read of the configuration.
        config = judge.config
        self.wakes = Wakes(judge, JOB, (timeliness, share), (config.urgency, config.calendar, config.share, config.names, config.approval))

    def _status_ids(self, *keys: StatusKey) -> str:
        names = {self.judge.config.names.status(k) for k in keys}
        return "|".join(str(i) for i, name in self.judge.redmine.names_by_id()["status"].items() if name in names)

    def _due_later(self, ref: dict[str, Any], now: dt.datetime) -> bool:
        config = self.judge.config
        due = parse_datetime(issue_state(ref, **config.names.key_maps()).value(FieldKey.RESPONSE_DUE), config.calendar.timezone)
        return due is not None and due > now

    def _candidates(self, today: dt.date, now: dt.datetime) -> Iterable[dict[str, Any]]:
        """Every issue a reminder may be due on, each once."""
        redmine, share = self.judge.redmine, self.judge.config.share
        unanswered = self._status_ids(*UNANSWERED_STATUSES)
        request = TrackerKey.INFORMATION_REQUEST
        # Due today or before, or with no Response due written yet (logged
        # while the service was down). The list carries each one's Response
        # due: one due later today is left until it is (read, it would be
        # read at every sweep of the day for nothing).
        for ref in redmine.issues_where(request, {}, status_id=unanswered, due_date=f"<={today.isoformat()}"):
            if not self._due_later(ref, now):
                yield ref
        yield from redmine.issues_where(request, {}, status_id=unanswered, due_date="!*")
        yield from redmine.issues_where(request, {}, status_id=self._status_ids(StatusKey.AWAITING_APPROVAL))
        if share.written_confirmation_reminders:
            for ref in redmine.issues_where(
                request,
                {FieldKey.CONFIRMED_IN_WRITING_ON: "!*", FieldKey.SHARED_ON: f"<={(today - dt.timedelta(days=1)).isoformat()}"},
                status_id=self._status_ids(StatusKey.SHARED),
            ):
                yield {**ref, "unconfirmed": True}

    def run(self, now: dt.datetime) -> TimelinessReport:
        """Post what is due now on each candidate: the overdue note or today's
        reminder, the approval-wait reminder, the written-confirmation
        reminder. The rules decide; a candidate with nothing due is left alone."""
        judge, report = self.judge, TimelinessReport()
        calls_before = judge.redmine.requests_sent
        today = now.astimezone(zoneinfo.ZoneInfo(judge.config.calendar.timezone)).date()
        with judge.job(JOB) as summary:
            refs: dict[int, dict[str, Any]] = {}
            for ref in self._candidates(today, now):
                refs.setdefault(ref["id"], ref)
            report.unconfirmed = sum(1 for r in refs.values() if r.get("unconfirmed"))
            known = judge.open_problems(JOB)
            report.asleep, swept = self.wakes.run(refs, now, known, report.problems)
            report.checked = len(swept)
            for issue_id, outcomes in swept:
                for milestone, name in COUNTED.items():
                    if reached(outcomes, milestone):
                        getattr(report, name).append(issue_id)
            report.redmine_requests = judge.redmine.requests_sent - calls_before
            summary.update(checked=report.checked, asleep=report.asleep, **{name: len(getattr(report, name)) for name in COUNTED.values()},
                           problems=len(report.problems))
        log.info("timeliness", extra={"job": JOB, "count": report.checked})
        return report

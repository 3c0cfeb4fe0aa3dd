"""The reconciler (the third enforcement point): reads every issue of the
InfoShare trackers updated since its cursor (less an overlap) and judges
every save since then, so a rule broken and then hidden by a later edit is
still found, as is anything that got past while the gate was down or an event
was lost. Issues it cannot handle are problems, tried again over the window
they failed in; the cursor moves on without them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from plugin.domain import history
from plugin.domain.record import parse_time
from plugin.service.judge import Judge, Source

log = logging.getLogger("infoshare.reconciler")

RECONCILER_CURSOR = "reconciler"
# The first reconciliation looks at everything.
BEGINNING = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


@dataclasses.dataclass
class ReconcileReport:
    window_start: dt.datetime
    issues: int = 0
    new_breaches: int = 0
    resolved_breaches: int = 0
    actions_applied: int = 0
    cursor: dt.datetime | None = None
    problems: list[int] = dataclasses.field(default_factory=list)
    retried: int = 0
    unchanged: int = 0  # updated in the window but judged since, so not read again


class Reconciler:
    def __init__(self, judge: Judge):
        self.judge = judge

    def run(self, since: dt.datetime | None = None) -> ReconcileReport:
        with self.judge.job("reconcile") as summary:
            report = self._reconcile(since)
            summary.update(issues=report.issues, new_breaches=report.new_breaches, resolved=report.resolved_breaches, actions=report.actions_applied,
                           problems=len(report.problems), retried=report.retried)
        return report

    def _reconcile_one(self, issue_id: int, since: dt.datetime, report: ReconcileReport) -> None:
        with self.judge.leases.hold(f"issue:{issue_id}", wait_seconds=60):
            issue = self.judge.redmine.issue(issue_id)
            if issue is None:
                return  # deleted while we looked
            all_changes = history.changes(issue, self.judge.redmine.names_by_id())
            # The saves in the window, and any older one never judged (an
            # event Redmine dropped before the window began).
            last = self.judge.store.judged.last(issue_id)
            wanted = {id(c) for c in history.since(all_changes, since)}
            if last is not None:
                wanted |= {id(c) for c in history.after(all_changes, last.journal_id)}
            judged = [c for c in all_changes if id(c) in wanted]
            checked = self.judge.check(issue, all_changes, judged, Source.RECONCILER)
            self.judge.judged_to_the_end(issue, all_changes)
        report.issues += 1
        report.new_breaches += len(checked.new_breaches)
        report.resolved_breaches += len(checked.resolved_breaches)
        report.actions_applied += sum(o.status == "applied" for o in checked.outcomes)

    def _reconcile(self, since: dt.datetime | None) -> ReconcileReport:
        cursor = self.judge.store.cursors.get(RECONCILER_CURSOR)
        periodic = since is None
        if since is None:
            since = (cursor - dt.timedelta(minutes=self.judge.config.reconciler.overlap_minutes)) if cursor else BEGINNING
        report = ReconcileReport(window_start=since)
        newest = cursor
        known = self.judge.open_problems("reconcile")
        # Issues that failed before and are due another try, over the window
        # they failed in (the cursor has moved on without them).
        for problem in self.judge.store.problems.list(source="reconcile", due_by=self.judge.clock()):
            report.retried += 1
            window = problem["since"] or since
            self.judge.isolated("reconcile", problem["issue_id"], lambda p=problem, w=window: self._reconcile_one(p["issue_id"], w, report), report.problems,
                          open_problems=known, since=window)
        refs = list(self.judge.redmine.issues_updated_since(since))
        # A periodic pass leaves alone an issue unchanged since it was judged
        # (the same updated_on): with nothing new, a pass costs one request.
        # A window asked for (--since) judges everything in it again.
        seen = self.judge.store.judged.updated_on([r["id"] for r in refs]) if periodic else {}
        for ref in self.judge.each(refs):
            if ref.get("updated_on") is not None and seen.get(ref["id"]) == ref.get("updated_on"):
                report.unchanged += 1
            else:
                self.judge.isolated("reconcile", ref["id"], lambda r=ref: self._reconcile_one(r["id"], since, report), report.problems,
                                    open_problems=known, since=since)
            updated = parse_time(ref.get("updated_on"))
            if updated and (newest is None or updated > newest):
                newest = updated
        # Redmine's own timestamps move the cursor, so a clock difference
        # between the two hosts cannot make the reconciler skip a change. A
        # window asked for that starts after the cursor leaves it alone: the
        # changes between the two are still to be judged.
        covered = since <= cursor if cursor is not None else since <= BEGINNING
        if newest and covered and not self.judge.dry_run:
            self.judge.store.cursors.set(RECONCILER_CURSOR, newest)
        report.cursor = newest
        log.info("reconciled", extra={"count": report.issues, "outcome": f"breaches {report.new_breaches}"})
        return report

"""The enforcement points after a save: the event worker and the reconciler.

Both ask the same rules (`plugin.policy.engine`) about the same things: each
save being judged (rebuilt from the issue's journals) and the issue as it is
now. A violation in a saved state got past the gate, so it is a breach: logged,
noted privately on the ticket and assigned for review. Derived actions are
computed on the current state and applied by the one executor. Everything
done is written to the audit log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import zoneinfo
from typing import Any, Callable, Iterator

from plugin import history
from plugin.audit import AuditLog, EntryKind
from plugin.executor import ActionOutcome, RedmineExecutor
from plugin.inbox import describe_error, retry_delay
from plugin.leases import Leases, holder_id
from plugin.policy import approval, engine
from plugin.policy.breach import breach_actions
from plugin.policy.model import Action, Actor, Context, CreateLinkedIssue, Once, Principal, RuleId, Step, Violation, violation_identity
from plugin.redmine.adapter import RedminePort
from plugin.redmine.client import RedmineUnavailable
from plugin.store import Store, utcnow
from schemas.config import Config
from schemas.events import Event, EventType
from schemas.names import TrackerKey
from schemas.record import BOOL_TRUE, FieldKey, IssueState, issue_state, parse_time, related_ids

log = logging.getLogger("infoshare.enforcement")

RECONCILER_CURSOR = "reconciler"
# Seconds to wait for another issue's lease from inside one already held:
# short, so two actors reaching for each other's issue back off quickly.
NESTED_WAIT = 5.0
# The first reconciliation looks at everything.
BEGINNING = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


class JobBusy(RuntimeError):
    """Another run of the same job is in progress (here or on another host)."""


@dataclasses.dataclass
class ReminderReport:
    reminders: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


class Source:
    EVENT = "event"
    RECONCILER = "reconciler"
    GATE = "gate"
    SCHEDULER = "scheduler"


@dataclasses.dataclass
class IssueCheck:
    issue_id: int
    judged: int = 0
    new_breaches: list[int] = dataclasses.field(default_factory=list)
    resolved_breaches: list[int] = dataclasses.field(default_factory=list)
    outcomes: list[ActionOutcome] = dataclasses.field(default_factory=list)

    @property
    def outcome(self) -> str:
        applied = sum(o.status == "applied" for o in self.outcomes)
        parts = [f"judged {self.judged}"]
        if self.new_breaches:
            parts.append(f"breaches {len(self.new_breaches)}")
        if self.resolved_breaches:
            parts.append(f"resolved {len(self.resolved_breaches)}")
        parts.append(f"actions applied {applied}")
        return ", ".join(parts)


@dataclasses.dataclass
class EscalationReport:
    checked: int = 0
    moved: list[int] = dataclasses.field(default_factory=list)
    started: list[int] = dataclasses.field(default_factory=list)
    final_stage_overdue: list[int] = dataclasses.field(default_factory=list)
    problems: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RetentionReport:
    due: int = 0
    opened: list[int] = dataclasses.field(default_factory=list)
    reminders: int = 0
    on_hold: list[int] = dataclasses.field(default_factory=list)
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class IncidentReport:
    checked: int = 0
    reminders: list[int] = dataclasses.field(default_factory=list)
    deadlines_passed: list[int] = dataclasses.field(default_factory=list)
    redmine_requests: int = 0
    problems: list[int] = dataclasses.field(default_factory=list)


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


class Enforcer:
    def __init__(
        self,
        config: Config,
        redmine: RedminePort,
        store: Store,
        executor: RedmineExecutor,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        echo: Callable[[str], None] = print,
    ):
        self.config = config
        self.redmine = redmine
        self.store = store
        self.audit = audit or AuditLog(store)
        self.executor = executor
        self.clock = clock
        self.echo = echo
        # One actor per issue at a time: the worker, the reconciler and the
        # jobs (and an escalation acting on its request) take turns.
        self.leases = Leases(store)
        # Set by the command line on a terminal: called with (done, total).
        self.progress: Callable[[int, int], None] | None = None
        executor.guard = lambda issue_id: self.leases.hold(f"issue:{issue_id}", wait_seconds=NESTED_WAIT)
        self._keys = config.names.key_maps()
        # The roles this process last noted per project (see `people`).
        self._observed: dict[int, dict[int, frozenset[str]]] = {}

    @property
    def dry_run(self) -> bool:
        return self.executor.dry_run

    def state(self, issue: dict[str, Any] | None, names: tuple | None = None) -> IssueState | None:
        return None if issue is None else issue_state(issue, **self._keys, names=names)

    def steps(self, changes: list[history.Change]) -> tuple[Step, ...]:
        return history.to_steps(changes, self.state)

    def related(self, issue: dict[str, Any]) -> tuple[IssueState, ...]:
        """The current states of the issues related to this one and of those
        related to them (two calls at most; none for an unrelated issue)."""
        first_ids = related_ids(issue)
        if not first_ids:
            return ()
        first = self.redmine.issues_by_id(sorted(first_ids))
        second_ids = set().union(*(related_ids(r) for r in first)) - first_ids - {issue["id"]}
        second = self.redmine.issues_by_id(sorted(second_ids)) if second_ids else []
        return tuple(self.state(r) for r in first + second)

    def context(
        self,
        steps: tuple[Step, ...],
        upto: int,
        principals: dict[int, Principal],
        now: dt.datetime,
        related: tuple[IssueState, ...] = (),
        role_history: dict | None = None,
    ) -> Context:
        """The context of save `upto` (an index into `steps`): its before and
        after, and the history up to it."""
        step = steps[upto]
        return Context(
            previous=step.before,
            proposed=step.after,
            actor=Actor(id=step.user_id, login=None),
            config=self.config,
            now=now,
            history=steps[: upto + 1],
            principals=principals,
            related=related,
            service_user_id=self.redmine.service_user_id(),
            role_history=role_history or {},
        )

    def people(self, project_id: int, fresh: bool = False) -> tuple[dict[int, Principal], dict]:
        """The project's members now, and their roles as seen over time. What
        is seen now is noted first (when it differs from what this process
        last noted), so each save is judged with the roles of its time."""
        principals = self.redmine.principals(project_id, fresh=fresh)
        roles = {user: p.roles for user, p in principals.items()}
        if not self.dry_run and self._observed.get(project_id) != roles:
            self.store.observe_roles(project_id, roles, now=self.clock())
            self._observed[project_id] = roles
        return principals, self.store.role_history(project_id)

    # -- one issue ---------------------------------------------------------------------

    def _record_breach(self, issue_id: int, change: history.Change, violation: Violation, source: str) -> int | None:
        if self.dry_run:
            self.echo(f"would record a breach on issue #{issue_id}: {violation.identity}")
            return 0
        breach_id = self.store.open_breach(
            issue_id=issue_id,
            rule=violation.rule.value,
            field=violation.field.value if violation.field else None,
            code=violation.code,
            identity=violation.identity,
            journal_id=change.journal_id,
            user_id=change.user_id,
            detected_by=source,
            now=self.clock(),
        )
        if breach_id is not None:
            self.audit.append(
                EntryKind.BREACH,
                source=source,
                issue_id=issue_id,
                rule=violation.rule.value,
                detail={
                    "breach_id": breach_id,
                    "field": violation.field.value if violation.field else None,
                    "code": violation.code,
                    "journal_id": change.journal_id,
                    "user_id": change.user_id,
                },
            )
            log.warning("breach recorded", extra={"issue_id": issue_id, "rule": violation.rule.value, "source": source})
        return breach_id

    def _resolve_breaches(self, issue_id: int, current: tuple[Violation, ...], source: str) -> list[int]:
        if self.dry_run:
            return []
        still = {v.identity for v in current}
        resolved = []
        for breach in self.store.open_breaches(issue_id):
            if violation_identity(breach["rule"], breach["field"], breach["code"]) in still:
                continue
            if self.store.resolve_breach(breach["id"], now=self.clock()):
                self.audit.append(EntryKind.BREACH_RESOLVED, source=source, issue_id=issue_id, rule=breach["rule"], detail={"breach_id": breach["id"]})
                resolved.append(breach["id"])
        return resolved

    def check(self, issue: dict[str, Any], all_changes: list[history.Change], judged: list[history.Change], source: str) -> IssueCheck:
        """Judge the given saves of `issue`, then act on its current state
        (the last of `all_changes`). A save is judged as the gate would have
        judged it: what it broke that was not broken before it is a breach
        (it got past the gate), recorded against that save once for ever."""
        now = self.clock()
        result = IssueCheck(issue_id=issue["id"], judged=len(judged))
        steps = self.steps(all_changes)
        principals, roles = self.people(issue["project"]["id"])
        actions: list[Action] = []
        found = self._new_violations(steps, all_changes, judged, principals, roles, now)
        if any(v.rule is RuleId.APPROVAL for _, v in found):
            # Memberships are a recent copy: a breach of who may approve is
            # recorded only on the roles as Redmine has them now (a manager
            # added a minute ago approves at once).
            principals, roles = self.people(issue["project"]["id"], fresh=True)
            found = self._new_violations(steps, all_changes, judged, principals, roles, now)
        for change, violation in found:
            breach_id = self._record_breach(issue["id"], change, violation, source)
            if breach_id is not None:
                result.new_breaches.append(breach_id)
                actions += breach_actions(breach_id, violation, self.config)

        verdict = engine.evaluate(self.context(steps, len(steps) - 1, principals, now, self.related(issue), roles))
        result.resolved_breaches = self._resolve_breaches(issue["id"], verdict.violations, source)
        # An open breach whose note did not get posted (Redmine refused the
        # update, or the process died) is noted now: the note's marker makes
        # this safe to repeat.
        standing = {v.identity: v for v in verdict.violations}
        for breach in [] if self.dry_run else self.store.open_breaches(issue["id"]):
            violation = standing.get(violation_identity(breach["rule"], breach["field"], breach["code"]))
            if violation is not None and breach["id"] not in result.new_breaches:
                actions += breach_actions(breach["id"], violation, self.config)
        result.outcomes = self.act(issue, actions + list(verdict.actions), source, verdict.violations)
        return result

    def _new_violations(self, steps, all_changes, judged, principals, roles, now) -> list[tuple[history.Change, Violation]]:
        """What each judged save broke that was not broken before it."""
        judged_ids = {id(c) for c in judged}
        return [
            (change, violation)
            for index, change in enumerate(all_changes)
            if id(change) in judged_ids
            for violation in engine.new_violations(self.context(steps, index, principals, now, role_history=roles))
        ]

    def current_context(self, issue: dict[str, Any], now: dt.datetime) -> Context:
        """The issue as it is now, with all its history."""
        steps = self.steps(history.changes(issue, self.redmine.names_by_id()))
        principals, roles = self.people(issue["project"]["id"])
        return self.context(steps, len(steps) - 1, principals, now, self.related(issue), roles)

    def act_on_current(self, ref: dict[str, Any], now: dt.datetime, source: str) -> list[ActionOutcome]:
        """Evaluate an issue as it is now and apply what it calls for (the
        timer jobs: the clock, not a save, is what changed)."""
        with self.leases.hold(f"issue:{ref['id']}"):
            issue = self.redmine.issue(ref["id"])
            if issue is None:
                return []
            verdict = engine.evaluate(self.current_context(issue, now))
            return self.act(issue, list(verdict.actions), source, verdict.violations)

    def act(self, issue: dict[str, Any], actions: list[Action], source: str, violations: tuple[Violation, ...] = ()) -> list[ActionOutcome]:
        """Apply actions through the executor and audit what was done."""
        if not actions:
            return []
        outcomes = self.executor.apply(issue, actions)
        if not self.dry_run:
            self._audit_actions(issue["id"], violations, outcomes, source)
        return outcomes

    def _audit_actions(self, issue_id: int, violations: tuple[Violation, ...], outcomes: list[ActionOutcome], source: str) -> None:
        taken = [o for o in outcomes if o.status != "already"]
        if not taken:
            return
        self.audit.append(
            EntryKind.VERDICT,
            source=source,
            issue_id=issue_id,
            detail={"violations": [v.identity for v in violations], "actions": len(taken)},
        )
        for outcome in taken:
            self.audit.append(EntryKind.ACTION, source=source, issue_id=issue_id, detail=outcome.describe())

    # -- events ---------------------------------------------------------------------------

    def _is_own(self, issue: dict[str, Any], event: Event) -> bool:
        bot = self.redmine.service_user_id()
        if event.type is EventType.ISSUE_CREATED:
            return (issue.get("author") or {}).get("id") == bot
        journal = next((j for j in issue.get("journals") or [] if j["id"] == event.journal_id), None)
        return journal is not None and (journal.get("user") or {}).get("id") == bot

    def handle_event(self, event: Event) -> str:
        """The worker's processor. The issue is read from Redmine, never taken
        from the payload: the payload says which save to judge, not what it was."""
        if event.type is EventType.ISSUE_DELETED:
            return "issue deleted"
        with self.leases.hold(f"issue:{event.issue_id}"):
            return self._handle_event(event)

    def _handle_event(self, event: Event) -> str:
        issue = self.redmine.issue(event.issue_id)
        if issue is None:
            return "issue no longer exists"
        if self.state(issue).tracker is None:
            return "tracker not handled"
        if self._is_own(issue, event):
            return "own change"
        all_changes = history.changes(issue, self.redmine.names_by_id())
        return self.check(issue, all_changes, history.for_journal(all_changes, event.journal_id), Source.EVENT).outcome

    # -- jobs -------------------------------------------------------------------------------------

    def _each(self, refs) -> Iterator[dict[str, Any]]:
        """Iterate refs, reporting progress to a terminal if one is watching."""
        refs = list(refs)
        for done, ref in enumerate(refs, 1):
            yield ref
            if self.progress:
                self.progress(done, len(refs))

    @contextlib.contextmanager
    def job(self, name: str):
        """One run of a job at a time across every process, recorded in
        job_runs (with counts, never case details). Yields a dict the run
        fills with its summary."""
        holder = holder_id()
        if not self.leases.try_acquire(f"job:{name}", holder):
            raise JobBusy(f"another {name} run is in progress; try again when it has finished")
        summary: dict[str, Any] = {}
        run_id = None if self.dry_run else self.store.start_job(name, now=self.clock())
        ok = False
        try:
            yield summary
            ok = True
        finally:
            self.leases.release(f"job:{name}", holder)
            if run_id is not None:
                self.store.finish_job(run_id, ok, json.dumps(summary, sort_keys=True, default=str), now=self.clock())

    def isolated(self, source: str, issue_id: int, work: Callable[[], Any], problems: list[int], *, open_problems: set[int],
                 since: dt.datetime | None = None) -> Any:
        """Do one issue's part of a batch. If it fails, the issue is recorded
        as a problem (its error type only: messages can quote case details)
        to be tried again with growing pauses, and the batch goes on; a
        success clears a problem it had. Only Redmine being unreachable stops
        the batch: that is nobody's ticket, and the next run starts over."""
        try:
            value = work()
        except RedmineUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad ticket never stops the others
            problems.append(issue_id)
            log.error("issue not handled; recorded as a problem", extra={"job": source, "issue_id": issue_id, "error_type": type(exc).__name__})
            if self.dry_run:
                self.echo(f"issue #{issue_id} could not be handled ({describe_error(exc)})")
                return None
            self.store.record_problem(source, issue_id, describe_error(exc), retry_delay, now=self.clock(), since=since)
            return None
        if issue_id in open_problems and not self.dry_run:
            self.store.resolve_problem(source, issue_id, now=self.clock())
        return value

    def open_problems(self, source: str) -> set[int]:
        return {p["issue_id"] for p in self.store.problems(source=source)}

    # -- retrospective approvals ---------------------------------------------------------------

    def remind_retrospective_approvals(self, now: dt.datetime) -> ReminderReport:
        """Post today's reminder on every request shared under an emergency
        override whose retrospective approval is still outstanding. Found
        with Redmine's filters (override set, no approval decision), so the
        cost follows the outstanding requests."""
        report = ReminderReport()
        with self.job("approval_reminders") as summary:
            candidates = self.redmine.issues_where(
                TrackerKey.INFORMATION_REQUEST,
                {FieldKey.EMERGENCY_OVERRIDE: BOOL_TRUE, FieldKey.APPROVAL_DECISION: "!*"},
                status_id="*",
            )
            known = self.open_problems("approval_reminders")
            for ref in self._each(candidates):
                posted = self.isolated("approval_reminders", ref["id"], lambda r=ref: self._remind_one(r["id"], now), report.problems, open_problems=known)
                report.reminders += bool(posted)
            summary.update(reminders=report.reminders, problems=len(report.problems))
        log.info("retrospective approval reminders", extra={"job": "approval_reminders", "count": report.reminders})
        return report

    def _remind_one(self, issue_id: int, now: dt.datetime) -> bool:
        with self.leases.hold(f"issue:{issue_id}"):
            issue = self.redmine.issue(issue_id)
            if issue is None:
                return False
            reminder = approval.retrospective_reminder(self.current_context(issue, now))
            if reminder is None:
                return False
            return any(o.status == "applied" for o in self.act(issue, [reminder], Source.SCHEDULER))

    # -- retention reviews ------------------------------------------------------------------------

    def run_retention(self, now: dt.datetime) -> RetentionReport:
        """Open the reviews that are due and post their reminders. Due
        requests are found with Redmine's filter on the review date (closed,
        review date within the lead time), so the cost follows them, not all
        requests. Requests under legal hold are listed, never reviewed."""
        calls_before = getattr(self.redmine, "requests_sent", 0)
        today = now.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()
        horizon = today + dt.timedelta(days=self.config.retention.review_lead_days)
        report = RetentionReport()
        with self.job("retention") as summary:
            known = self.open_problems("retention")
            for ref in self._each(self.redmine.issues_where(
                TrackerKey.INFORMATION_REQUEST, {FieldKey.RETENTION_REVIEW_DATE: f"<={horizon.isoformat()}"}, status_id="c"
            )):
                self.isolated("retention", ref["id"], lambda r=ref: self._review_held(r["id"], now, report), report.problems, open_problems=known)
            report.redmine_requests = getattr(self.redmine, "requests_sent", 0) - calls_before
            summary.update(due=report.due, opened=len(report.opened), reminders=report.reminders, on_hold=len(report.on_hold),
                           problems=len(report.problems))
        log.info("retention reviews", extra={"job": "retention", "count": len(report.opened)})
        return report

    def _review_held(self, issue_id: int, now: dt.datetime, report: RetentionReport) -> None:
        with self.leases.hold(f"issue:{issue_id}"):
            self._review_one(issue_id, now, report)

    def _review_one(self, issue_id: int, now: dt.datetime, report: RetentionReport) -> None:
        issue = self.redmine.issue(issue_id)
        if issue is None:
            return
        report.due += 1
        ctx = self.current_context(issue, now)
        if ctx.proposed.flag(FieldKey.LEGAL_HOLD):
            report.on_hold.append(issue["id"])
            return
        verdict = engine.evaluate(ctx)
        for outcome in self.act(issue, list(verdict.actions), Source.SCHEDULER, verdict.violations):
            if isinstance(outcome.action, CreateLinkedIssue) and outcome.status == "applied":
                report.opened.append(outcome.created_issue_id)
            elif isinstance(outcome.action, Once) and outcome.action.key.startswith("reminder-") and outcome.status == "applied":
                report.reminders += 1

    # -- escalation timers -----------------------------------------------------------------------

    def run_escalations(self, now: dt.datetime) -> EscalationReport:
        """Move every overdue unresolved escalation on, and start any that a
        person opened without the service noticing. Both are found with
        Redmine's filters (tracker, open, due date / no stage), so the cost
        follows the overdue and new escalations, not all of them."""
        today = now.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()
        report = EscalationReport()
        with self.job("escalations") as summary:
            self._run_escalations(now, today, report)
            summary.update(checked=report.checked, moved=len(report.moved), started=len(report.started), final_stage_overdue=len(report.final_stage_overdue),
                           problems=len(report.problems))
        log.info("escalation timers", extra={"job": "escalations", "count": len(report.moved)})
        return report

    def _run_escalations(self, now: dt.datetime, today: dt.date, report: EscalationReport) -> None:
        yesterday = (today - dt.timedelta(days=1)).isoformat()
        overdue = list(self.redmine.issues_where(TrackerKey.ESCALATION, {}, status_id="o", due_date=f"<={yesterday}"))
        unstarted = list(self.redmine.issues_where(TrackerKey.ESCALATION, {FieldKey.ESCALATION_STAGE: "!*"}, status_id="o"))
        known = self.open_problems("escalations")
        for ref in self._each(overdue + unstarted):
            outcomes = self.isolated("escalations", ref["id"], lambda r=ref: self.act_on_current(r, now, Source.SCHEDULER), report.problems,
                                     open_problems=known) or []
            for outcome in outcomes:
                if isinstance(outcome.action, Once) and outcome.status == "applied":
                    key = outcome.action.key
                    if key.startswith("final-stage-overdue"):
                        report.final_stage_overdue.append(ref["id"])
                    elif key.startswith("stage-"):
                        report.moved.append(ref["id"])
                    elif key == "escalation-started":
                        report.started.append(ref["id"])
        report.checked = len(overdue) + len(unstarted)

    # -- incident deadlines ------------------------------------------------------------------

    # How long after its ICO deadline an undecided incident is still looked
    # at by the sweep: the deadline note is posted on the first run after the
    # deadline; the window only covers a scheduler that was down meanwhile.
    INCIDENT_LOOKBACK_DAYS = 7

    def run_incidents(self, now: dt.datetime) -> IncidentReport:
        """Post the ICO-deadline reminders and deadline notes of open incidents
        with no ICO report decision (R-INCIDENT). Found with Redmine's filters
        (open, no decision, due date from a week ago on), so the cost follows
        the incidents whose clock is running, not all incidents."""
        calls_before = getattr(self.redmine, "requests_sent", 0)
        today = now.astimezone(zoneinfo.ZoneInfo(self.config.calendar.timezone)).date()
        since = today - dt.timedelta(days=self.INCIDENT_LOOKBACK_DAYS)
        report = IncidentReport()
        with self.job("incidents") as summary:
            refs = list(self.redmine.issues_where(
                TrackerKey.INFORMATION_INCIDENT, {FieldKey.ICO_REPORT_DECISION: "!*"}, status_id="o", due_date=f">={since.isoformat()}"
            ))
            known = self.open_problems("incidents")
            for ref in self._each(refs):
                outcomes = self.isolated("incidents", ref["id"], lambda r=ref: self.act_on_current(r, now, Source.SCHEDULER), report.problems,
                                         open_problems=known) or []
                for outcome in outcomes:
                    if isinstance(outcome.action, Once) and outcome.status == "applied":
                        if outcome.action.key.startswith("ico-deadline-passed"):
                            report.deadlines_passed.append(ref["id"])
                        elif outcome.action.key.startswith("ico-reminder"):
                            report.reminders.append(ref["id"])
            report.checked = len(refs)
            report.redmine_requests = getattr(self.redmine, "requests_sent", 0) - calls_before
            summary.update(checked=report.checked, reminders=len(report.reminders), deadlines_passed=len(report.deadlines_passed), problems=len(report.problems))
        log.info("incident deadlines", extra={"job": "incidents", "count": len(report.reminders) + len(report.deadlines_passed)})
        return report

    # -- reconciliation -----------------------------------------------------------------------

    def reconcile(self, since: dt.datetime | None = None) -> ReconcileReport:
        with self.job("reconcile") as summary:
            report = self._reconcile(since)
            summary.update(issues=report.issues, new_breaches=report.new_breaches, resolved=report.resolved_breaches, actions=report.actions_applied,
                           problems=len(report.problems), retried=report.retried)
        return report

    def _reconcile_one(self, issue_id: int, since: dt.datetime, report: ReconcileReport) -> None:
        with self.leases.hold(f"issue:{issue_id}", wait_seconds=60):
            issue = self.redmine.issue(issue_id)
            if issue is None:
                return  # deleted while we looked
            all_changes = history.changes(issue, self.redmine.names_by_id())
            checked = self.check(issue, all_changes, history.since(all_changes, since), Source.RECONCILER)
        report.issues += 1
        report.new_breaches += len(checked.new_breaches)
        report.resolved_breaches += len(checked.resolved_breaches)
        report.actions_applied += sum(o.status == "applied" for o in checked.outcomes)

    def _reconcile(self, since: dt.datetime | None) -> ReconcileReport:
        cursor = self.store.cursor(RECONCILER_CURSOR)
        if since is None:
            since = (cursor - dt.timedelta(minutes=self.config.reconciler.overlap_minutes)) if cursor else BEGINNING
        report = ReconcileReport(window_start=since)
        newest = cursor
        known = self.open_problems("reconcile")
        # Issues that failed before and are due another try, over the window
        # they failed in (the cursor has moved on without them).
        for problem in self.store.problems(source="reconcile", due_by=self.clock()):
            report.retried += 1
            window = problem["since"] or since
            self.isolated("reconcile", problem["issue_id"], lambda p=problem, w=window: self._reconcile_one(p["issue_id"], w, report), report.problems,
                          open_problems=known, since=window)
        for ref in self._each(self.redmine.issues_updated_since(since)):
            self.isolated("reconcile", ref["id"], lambda r=ref: self._reconcile_one(r["id"], since, report), report.problems,
                          open_problems=known, since=since)
            updated = parse_time(ref.get("updated_on"))
            if updated and (newest is None or updated > newest):
                newest = updated
        # Redmine's own timestamps move the cursor, so a clock difference
        # between the two hosts cannot make the reconciler skip a change. A
        # window asked for that starts after the cursor leaves it alone: the
        # changes between the two are still to be judged.
        covered = since <= cursor if cursor is not None else since <= BEGINNING
        if newest and covered and not self.dry_run:
            self.store.set_cursor(RECONCILER_CURSOR, newest)
        report.cursor = newest
        log.info("reconciled", extra={"count": report.issues, "outcome": f"breaches {report.new_breaches}"})
        return report

"""What the worker, the reconciler and the timer jobs share: reading an issue
and its history into the rules' terms, judging saves against the same rules as
the gate (`plugin.policy.engine`), recording breaches, and acting on the
issue as it is now through the one executor. Everything done is audited.

A violation in a saved state got past the gate, so it is a breach: logged,
noted privately on the ticket and assigned for review.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
from typing import Any, Callable, Iterator

from plugin.adapters.redmine.client import RedmineUnavailable
from plugin.adapters.redmine.port import RedminePort
from plugin.adapters.store import Store
from plugin.adapters.store.audit import AuditLog, EntryKind
from plugin.adapters.store.leases import holder_id
from plugin.clock import utcnow
from plugin.domain import history
from plugin.domain.configuration import Config
from plugin.domain.record import IssueState, issue_state, related_ids
from plugin.policy import engine
from plugin.policy.breach import breach_actions
from plugin.policy.model import Action, Actor, Context, Milestone, Once, Principal, RuleId, Step, Violation, violation_identity
from plugin.service.executor import ActionOutcome, RedmineExecutor
from plugin.service.retries import describe_error, retry_delay

log = logging.getLogger("infoshare.judge")

# Seconds to wait for another issue's lease from inside one already held:
# short, so two actors reaching for each other's issue back off quickly.
NESTED_WAIT = 5.0


class JobBusy(RuntimeError):
    """Another run of the same job is in progress (here or on another host)."""


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
class ActedOnCurrent:
    outcomes: list[ActionOutcome]
    issue: dict[str, Any] | None
    context: Context | None


def reached(outcomes: list[ActionOutcome], milestone: Milestone) -> bool:
    """Whether the applied actions include a `Once` standing for `milestone`."""
    return any(isinstance(o.action, Once) and o.action.milestone is milestone and o.status == "applied" for o in outcomes)


def lease_guard(store: Store) -> Callable[[int], Any]:
    """What the executor holds while it acts on another issue: that issue's
    lease (an escalation acting on its request, say)."""
    return lambda issue_id: store.leases.hold(f"issue:{issue_id}", wait_seconds=NESTED_WAIT)


class Judge:
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
        self.audit = audit or store.audit
        self.executor = executor
        self.clock = clock
        self.echo = echo
        # One actor per issue at a time: the worker, the reconciler and the
        # jobs (and an escalation acting on its request) take turns.
        self.leases = store.leases
        # Set by the command line on a terminal: called with (done, total).
        self.progress: Callable[[int, int], None] | None = None
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
            self.store.roles.observe(project_id, roles, now=self.clock())
            self._observed[project_id] = roles
        return principals, self.store.roles.history(project_id)

    # -- one issue ---------------------------------------------------------------------

    def _record_breach(self, issue_id: int, change: history.Change, violation: Violation, source: str) -> int | None:
        if self.dry_run:
            self.echo(f"would record a breach on issue #{issue_id}: {violation.identity}")
            return 0
        breach_id = self.store.breaches.record(
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
        for breach in self.store.breaches.open(issue_id):
            if violation_identity(breach["rule"], breach["field"], breach["code"]) in still:
                continue
            if self.store.breaches.resolve(breach["id"], now=self.clock()):
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
        for breach in [] if self.dry_run else self.store.breaches.open(issue["id"]):
            violation = standing.get(violation_identity(breach["rule"], breach["field"], breach["code"]))
            if violation is not None and breach["id"] not in result.new_breaches:
                actions += breach_actions(breach["id"], violation, self.config)
        result.outcomes = self.act(issue, actions + list(verdict.actions), source, verdict.violations)
        return result

    def judged_to_the_end(self, issue: dict[str, Any], all_changes: list[history.Change]) -> None:
        """Mark every save of `issue` (as read) judged."""
        if not self.dry_run:
            self.store.judged.advance(issue["id"], history.judged_mark(all_changes), issue.get("updated_on"), now=self.clock())

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
        return self.acted_on_current(ref, now, source).outcomes

    def acted_on_current(self, ref: dict[str, Any], now: dt.datetime, source: str) -> "ActedOnCurrent":
        """`act_on_current`, with the issue as read and the context it was
        judged in (None when the issue is gone)."""
        with self.leases.hold(f"issue:{ref['id']}"):
            issue = self.redmine.issue(ref["id"])
            if issue is None:
                return ActedOnCurrent([], None, None)
            ctx = self.current_context(issue, now)
            verdict = engine.evaluate(ctx)
            return ActedOnCurrent(self.act(issue, list(verdict.actions), source, verdict.violations), issue, ctx)

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

    # -- batches ----------------------------------------------------------------------

    def each(self, refs) -> Iterator[dict[str, Any]]:
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
        run_id = None if self.dry_run else self.store.job_runs.start(name, now=self.clock())
        ok = False
        try:
            yield summary
            ok = True
        finally:
            self.leases.release(f"job:{name}", holder)
            if run_id is not None:
                self.store.job_runs.finish(run_id, ok, json.dumps(summary, sort_keys=True, default=str), now=self.clock())

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
            self.store.problems.record(source, issue_id, describe_error(exc), retry_delay, now=self.clock(), since=since)
            return None
        if issue_id in open_problems and not self.dry_run:
            self.store.problems.resolve(source, issue_id, now=self.clock())
        return value

    def open_problems(self, source: str) -> set[int]:
        return {p["issue_id"] for p in self.store.problems.list(source=source)}

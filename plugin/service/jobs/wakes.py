"""What a timed sweep remembers of each candidate it read: when its rules
said the clock next calls for something on it (`next_due`), and the
candidate's version then (the store's sweep_wakes). Redmine's filters find a
sweep's candidates only roughly (a request stays overdue, an incident's clock
runs, for days, and the sweep runs every few minutes); a candidate that has
not changed since it was read, whose moment has not come, is left alone, so a
sweep reads what is due, not what exists."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from plugin.adapters.store.wakes import Wake, issue_version
from plugin.policy.model import Context
from plugin.service.executor import ActionOutcome
from plugin.service.judge import Judge, Source

Clock = Callable[[Context], "dt.datetime | None"]

# Forgotten after this long unread: rows of issues no longer candidates.
WAKES_KEPT = dt.timedelta(days=8)


@dataclasses.dataclass(frozen=True)
class Wakes:
    """One sweep's use of sweep_wakes. `rules`: the policy modules whose
    `next_due` say when the clock next calls for something (their code,
    with `config_parts` of the configuration, makes the digest a wake was
    worked out under: a new release or a changed setting reads every
    candidate again once)."""

    judge: Judge
    sweep: str
    rules: tuple[ModuleType, ...]
    config_parts: tuple[Any, ...]

    @functools.cached_property
    def digest(self) -> str:
        """Worked out once: the rules' files and `config_parts` it is made
        of are fixed for the life of this Wakes."""
        digest = hashlib.sha256()
        for module in self.rules:
            digest.update(Path(module.__file__).read_bytes())
        digest.update(repr(self.config_parts).encode())
        return digest.hexdigest()

    def next_due(self, ctx: Context) -> dt.datetime | None:
        return min((m for m in (module.next_due(ctx) for module in self.rules) if m is not None), default=None)

    def run(self, refs: dict[int, dict[str, Any]], now: dt.datetime, open_problems: set[int],
            problems: list[int]) -> tuple[int, list[tuple[int, list[ActionOutcome]]]]:
        """One sweep over its candidates: how many are left alone, and, for
        each one read, what was done on it (each in isolation: one that fails
        is recorded in `problems` and the others go on). Old wakes are pruned
        once every candidate is done."""
        digest = self.digest
        due, asleep = self.split(refs, now, digest, open_problems)
        swept = [
            (ref["id"], self.judge.isolated(self.sweep, ref["id"], lambda r=ref: self.act(r, now, digest), problems, open_problems=open_problems) or [])
            for ref in self.judge.each(due)
        ]
        self.prune(now)
        return asleep, swept

    def split(self, refs: dict[int, dict[str, Any]], now: dt.datetime, digest: str, problems: set[int]) -> tuple[list[dict[str, Any]], int]:
        """The candidates to read now (each one listed changed, due, never
        read, or with an open problem to retry) and how many are left alone."""
        asleep = self.judge.store.wakes.asleep(self.sweep, {i: issue_version(r) for i, r in refs.items()}, digest, now) - problems
        return [ref for issue_id, ref in refs.items() if issue_id not in asleep], len(asleep)

    def act(self, ref: dict[str, Any], now: dt.datetime, digest: str) -> list[ActionOutcome]:
        """Apply what one candidate calls for now, and remember when it is
        next due a look with its version as read (a note posted now moves
        the version, so the next sweep reads it once more)."""
        judge = self.judge
        acted = judge.acted_on_current(ref, now, Source.SCHEDULER)
        if judge.dry_run:
            return acted.outcomes
        if acted.issue is None:
            judge.store.wakes.forget(self.sweep, ref["id"])
        else:
            judge.store.wakes.remember(self.sweep, ref["id"], Wake(issue_version(acted.issue), self.next_due(acted.context), digest), now=now)
        return acted.outcomes

    def prune(self, now: dt.datetime) -> None:
        if not self.judge.dry_run:
            self.judge.store.wakes.prune(self.sweep, now - WAKES_KEPT)

"""An issue's past states, rebuilt from its journals (pure).

Redmine keeps the current issue and, per save, a journal of what changed (old
and new values). Walking the journals backwards from the current issue gives
the state before and after every save, so the rules can judge the state a save
produced even if a later edit hid it: the worker judges the save an event
reports, the reconciler every save since its cursor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Callable, Iterable, Mapping

from plugin.domain.record import IssueState, field_names, parse_time

Issue = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Step:
    """One save in an issue's history: the state before (None for the
    creation) and after, and who made it. `key` names the save for
    idempotence markers: the journal id, "created", or "pending" for the save
    the gate is judging."""

    key: str
    user_id: int | None
    user_name: str
    before: IssueState | None
    after: IssueState
    at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Change:
    """One save: the issue before (None for the creation) and after it."""

    journal_id: int | None  # None: the creation
    user_id: int | None
    user_name: str
    at: dt.datetime | None
    before: Issue | None
    after: Issue

    @property
    def is_creation(self) -> bool:
        return self.journal_id is None


def _ref(value: Any, names: Mapping[int, str]) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    ref_id = int(value)
    ref: dict[str, Any] = {"id": ref_id}
    if ref_id in names:
        ref["name"] = names[ref_id]
    return ref


def _undo_attribute(issue: Issue, name: str, old: Any, names: Mapping[str, Mapping[int, str]]) -> None:
    if name.endswith("_id"):
        key = name[: -len("_id")]
        ref = _ref(old, names.get(key, {}))
        if ref is None:
            issue.pop(key, None)
        else:
            issue[key] = ref
    else:
        issue[name] = old


def positions(issue: Issue) -> dict[str, int]:
    """Where each custom field is in the issue's list, by id as journals name
    it. Undoing a save keeps the list's order, so this holds for every
    earlier state too."""
    return {str(cf.get("id")): i for i, cf in enumerate(issue.get("custom_fields") or [])}


def _undo_custom_field(issue: Issue, field_id: str, old: Any, new: Any, position: Mapping[str, int]) -> None:
    entries = issue.get("custom_fields", [])
    index = position.get(field_id)
    if index is None:
        return  # the field is no longer on this issue
    # A copy of the entry replaces it: the entries are shared with the
    # states after this one.
    entry = entries[index] = dict(entries[index])
    value = entry.get("value")
    if entry.get("multiple") or isinstance(value, list):
        # Redmine journals a multiple field one value at a time: added values
        # have no old value, removed values no new one.
        values = list(value or [])
        if new not in (None, "") and new in values:
            values.remove(new)
        if old not in (None, "") and old not in values:
            values.append(old)
        entry["value"] = values
    else:
        entry["value"] = old


def undo(
    after: Issue, details: Iterable[Mapping[str, Any]], names: Mapping[str, Mapping[int, str]], position: Mapping[str, int] | None = None
) -> Issue:
    """The issue as it was before a journal's details were applied.
    `position` is `positions(after)`, when the caller has it at hand."""
    # The undo steps replace values and the custom field entries they change
    # (never change them in place), so copying the issue and the list of its
    # entries is enough; a deep copy of every journal's issue was most of the
    # gate's decision time.
    before = {**after, "custom_fields": list(after.get("custom_fields") or [])}
    position = positions(after) if position is None else position
    for d in details:
        prop, name = d.get("property"), str(d.get("name"))
        if prop == "attr":
            _undo_attribute(before, name, d.get("old_value"), names)
        elif prop == "cf":
            _undo_custom_field(before, name, d.get("old_value"), d.get("new_value"), position)
        # attachments and relations do not change what the rules look at
    return before


def changes(issue: Issue, names: Mapping[str, Mapping[int, str]]) -> list[Change]:
    """Every save of the issue, oldest first. `issue` is REST-shaped with
    `journals`; `names` maps, per reference ("status", "tracker", ...), ids
    to names, so a rebuilt status can be recognised by name."""
    current = {k: v for k, v in issue.items() if k != "journals"}
    journals = sorted(issue.get("journals") or [], key=lambda j: j["id"])
    found: list[Change] = []
    after = current
    position = positions(current)
    for journal in reversed(journals):
        before = undo(after, journal.get("details") or [], names, position)
        user = journal.get("user") or {}
        found.append(Change(journal["id"], user.get("id"), user.get("name") or "", parse_time(journal.get("created_on")), before, after))
        after = before
    author = issue.get("author") or {}
    found.append(Change(None, author.get("id"), author.get("name") or "", parse_time(issue.get("created_on")), None, after))
    found.reverse()
    return found


def to_steps(changes: Iterable[Change], read: Callable[..., IssueState]) -> tuple[Step, ...]:
    """The saves as the rules see them. One save's issue after is the next
    one's before (the same object), so each is read once: with a long
    history that halves the gate's time. Every state's custom fields are in
    the current issue's order (undo keeps it), so their layout is read once:
    `read(issue, names=...)`."""
    read_by_id: dict[int, IssueState] = {}
    layout: list[tuple] = []

    def state(issue: Issue | None) -> IssueState | None:
        if issue is None:
            return None
        if id(issue) not in read_by_id:
            if not layout:
                layout.append(field_names(issue.get("custom_fields") or []))
            read_by_id[id(issue)] = read(issue, names=layout[0])
        return read_by_id[id(issue)]

    return tuple(
        Step(
            key=str(c.journal_id) if c.journal_id is not None else "created",
            user_id=c.user_id,
            user_name=c.user_name,
            before=state(c.before),
            after=state(c.after),
            at=c.at,
        )
        for c in changes
    )


def since(all_changes: list[Change], moment: dt.datetime) -> list[Change]:
    """The saves made at or after `moment`."""
    return [c for c in all_changes if c.at is None or c.at >= moment]


# The mark of a history judged up to its creation (journal ids start at 1).
CREATION_MARK = 0


def after(all_changes: list[Change], last_judged: int | None) -> list[Change]:
    """The saves after the last one judged (`last_judged`: a journal id, or
    CREATION_MARK; None when nothing was judged yet: every save)."""
    if last_judged is None:
        return list(all_changes)
    return [c for c in all_changes if c.journal_id is not None and c.journal_id > last_judged]


def judged_mark(all_changes: list[Change]) -> int:
    """The mark of a history judged to its end: its latest journal id."""
    return max((c.journal_id for c in all_changes if c.journal_id is not None), default=CREATION_MARK)

"""A hand-written in-memory Redmine for unit tests of the executor and the
enforcer: issues in REST shape, journals with details, the service user."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any, Iterator

from plugin.policy.model import Principal
from plugin.adapters.redmine.port import RedminePort
from plugin.domain.configuration import Config
from plugin.domain.names import CLOSED_STATUSES, TRACKER_STATUSES, RoleKey, StatusKey, TrackerKey
from plugin.domain.record import FIELDS, FieldKey

BOT_ID = 9
STATUS_IDS = {key: i for i, key in enumerate(StatusKey, start=1)}
TRACKER_IDS = {key: i for i, key in enumerate(TrackerKey, start=4)}
FIELD_IDS = {key: i for i, key in enumerate(FieldKey, start=1)}
GROUP_IDS = {"MASH managers": 50, "Information governance": 51, "Heads of service": 52, "Safeguarding partnership": 53}


class FakeRedmine(RedminePort):
    def __init__(self, config: Config):
        self.config = config
        self.issues: dict[int, dict[str, Any]] = {}
        self.updates: list[tuple[int, dict[str, Any]]] = []
        self.creates: list[dict[str, Any]] = []
        self.deleted: list[int] = []
        self.anonymised: list[int] = []
        self.fail_anonymise_after: int | None = None
        self.reads = 0
        self._ids = itertools.count(1)
        self._journal_ids = itertools.count(1000)
        self.clock = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.timezone.utc)
        # The demo project's people: practitioners 10 and 11, managers 12 and
        # 13 (through the MASH managers group), 14 holding both roles.
        role = config.names.role
        self.members: dict[int, Principal] = {
            10: Principal(10, "Priya Practitioner", frozenset({role(RoleKey.MASH_PRACTITIONER)})),
            11: Principal(11, "Paul Practitioner", frozenset({role(RoleKey.MASH_PRACTITIONER)})),
            12: Principal(12, "Maya Manager", frozenset({role(RoleKey.MASH_MANAGER)})),
            13: Principal(13, "Mark Manager", frozenset({role(RoleKey.MASH_MANAGER)})),
            14: Principal(14, "Dual Role", frozenset({role(RoleKey.MASH_PRACTITIONER), role(RoleKey.MASH_MANAGER)})),
            BOT_ID: Principal(BOT_ID, "InfoShare service", frozenset({role(RoleKey.INFOSHARE_SERVICE)})),
        }

    # -- building issues ------------------------------------------------------------

    def _tick(self) -> str:
        self.clock += dt.timedelta(minutes=1)
        return self.clock.isoformat().replace("+00:00", "Z")

    def _name(self, user_id: int) -> str:
        member = self.members.get(user_id)
        return member.name if member else f"user {user_id}"

    def _status(self, key: StatusKey) -> dict[str, Any]:
        return {"id": STATUS_IDS[key], "name": self.config.names.status(key)}

    def create(self, values: dict[FieldKey, Any], *, status: StatusKey = StatusKey.RECEIVED, author_id: int = 10,
               tracker: TrackerKey = TrackerKey.INFORMATION_REQUEST) -> int:
        issue_id = next(self._ids)
        stamp = self._tick()
        self.issues[issue_id] = {
            "id": issue_id,
            "project": {"id": 1, "name": "MASH"},
            "tracker": {"id": TRACKER_IDS[tracker], "name": self.config.names.tracker(tracker)},
            "status": self._status(status),
            "author": {"id": author_id, "name": self._name(author_id)},
            "subject": "Request",
            "custom_fields": [
                {"id": FIELD_IDS[d.key], "name": self.config.names.field(d.key), "value": ([] if d.multiple else "") if d.key not in values else values[d.key]}
                | ({"multiple": True} if d.multiple else {})
                for d in FIELDS.values()
                if tracker in d.trackers
            ],
            "created_on": stamp,
            "updated_on": stamp,
            "journals": [],
            "relations": [],
            "watchers": [],
            "attachments": [],
        }
        return issue_id

    def attach(self, issue_id: int, user_id: int, filename: str) -> int:
        """A person attaches a file (Redmine journals its name)."""
        attachment_id = next(self._journal_ids)
        self.issues[issue_id]["attachments"].append({"id": attachment_id, "filename": filename})
        self.issues[issue_id]["journals"].append(
            {"id": next(self._journal_ids), "user": {"id": user_id, "name": self._name(user_id)}, "notes": "", "private_notes": False,
             "created_on": self._tick(), "details": [{"property": "attachment", "name": str(attachment_id), "old_value": None, "new_value": filename}]}
        )
        return attachment_id

    def relate(self, issue_id: int, other_id: int) -> None:
        """A person relates two issues (Redmine journals it on both, without
        saving either issue)."""
        relation = {"id": next(self._journal_ids), "issue_id": issue_id, "issue_to_id": other_id, "relation_type": "relates"}
        for one in (issue_id, other_id):
            self.issues[one]["relations"].append(relation)

    def edit(self, issue_id: int, user_id: int, *, values: dict[FieldKey, Any] | None = None, status: StatusKey | None = None,
             notes: str = "", assigned_to_id: int | None = None, private_notes: bool = False, dates: dict[str, str] | None = None,
             text: dict[str, str] | None = None) -> int:
        """A save by a person: changes the issue and journals it, as Redmine does."""
        issue = self.issues[issue_id]
        details = []
        for key, value in (values or {}).items():
            entry = next(cf for cf in issue["custom_fields"] if cf["name"] == self.config.names.field(key))
            if entry.get("multiple"):
                old = set(entry["value"])
                new = set(value)
                details += [{"property": "cf", "name": str(entry["id"]), "old_value": None, "new_value": v} for v in sorted(new - old)]
                details += [{"property": "cf", "name": str(entry["id"]), "old_value": v, "new_value": None} for v in sorted(old - new)]
            elif entry["value"] != value:
                details.append({"property": "cf", "name": str(entry["id"]), "old_value": entry["value"] or None, "new_value": value})
            entry["value"] = value
        if status is not None and issue["status"]["id"] != STATUS_IDS[status]:
            details.append({"property": "attr", "name": "status_id", "old_value": str(issue["status"]["id"]), "new_value": str(STATUS_IDS[status])})
            issue["status"] = self._status(status)
            closed = status in CLOSED_STATUSES
            issue["closed_on"] = self.clock.isoformat().replace("+00:00", "Z") if closed else None
        for key in ("subject", "description"):
            if text and key in text and issue.get(key) != text[key]:
                details.append({"property": "attr", "name": key, "old_value": issue.get(key), "new_value": text[key]})
                issue[key] = text[key]
        for key in ("start_date", "due_date"):
            if dates and key in dates and issue.get(key) != dates[key]:
                details.append({"property": "attr", "name": key, "old_value": issue.get(key), "new_value": dates[key]})
                issue[key] = dates[key]
        if assigned_to_id is not None and (issue.get("assigned_to") or {}).get("id") != assigned_to_id:
            old = (issue.get("assigned_to") or {}).get("id")
            details.append({"property": "attr", "name": "assigned_to_id", "old_value": str(old) if old else None, "new_value": str(assigned_to_id)})
            issue["assigned_to"] = {"id": assigned_to_id, "name": f"principal {assigned_to_id}"}
        journal_id = next(self._journal_ids)
        stamp = self._tick()
        issue["journals"].append(
            {"id": journal_id, "user": {"id": user_id, "name": self._name(user_id)}, "notes": notes, "private_notes": private_notes,
             "created_on": stamp, "details": details}
        )
        issue["updated_on"] = stamp
        return journal_id

    def value(self, issue_id: int, key: FieldKey) -> Any:
        return next(cf["value"] for cf in self.issues[issue_id]["custom_fields"] if cf["name"] == self.config.names.field(key))

    def notes_by_service(self, issue_id: int) -> list[str]:
        return [j["notes"] for j in self.issues[issue_id]["journals"] if j["user"]["id"] == BOT_ID and j["notes"]]

    # -- RedminePort ------------------------------------------------------------------

    @property
    def requests_sent(self) -> int:
        return self.reads + len(self.updates) + len(self.creates)

    def issue(self, issue_id: int) -> dict[str, Any] | None:
        self.reads += 1
        issue = self.issues.get(issue_id)
        return copy.deepcopy(issue) if issue else None

    def update_issue(self, issue_id: int, attributes: dict[str, Any]) -> None:
        self.updates.append((issue_id, copy.deepcopy(attributes)))
        by_id = {FIELD_IDS[k]: k for k in FieldKey}
        values = {by_id[cf["id"]]: cf["value"] for cf in attributes.get("custom_fields", [])}
        status = next((k for k, i in STATUS_IDS.items() if i == attributes.get("status_id")), None)
        dates = {k: attributes[k] for k in ("start_date", "due_date") if k in attributes}
        text = {k: attributes[k] for k in ("subject", "description") if k in attributes}
        self.edit(issue_id, BOT_ID, values=values, status=status, notes=attributes.get("notes", ""),
                  assigned_to_id=attributes.get("assigned_to_id"), private_notes=attributes.get("private_notes", False), dates=dates, text=text)

    def issues_by_id(self, issue_ids: list[int]) -> list[dict[str, Any]]:
        self.reads += 1
        return [{k: v for k, v in copy.deepcopy(self.issues[i]).items() if k not in ("journals", "watchers")} for i in issue_ids if i in self.issues]

    def create_issue(self, attributes: dict[str, Any]) -> int:
        self.creates.append(copy.deepcopy(attributes))
        tracker = next(k for k, i in TRACKER_IDS.items() if i == attributes["tracker_id"])
        issue_id = self.create({}, status=TRACKER_STATUSES[tracker][0], author_id=BOT_ID, tracker=tracker)
        issue = self.issues[issue_id]
        issue["subject"] = attributes["subject"]
        issue["description"] = attributes["description"]
        for key in ("start_date", "due_date"):
            if key in attributes:
                issue[key] = attributes[key]
        if "assigned_to_id" in attributes:
            issue["assigned_to"] = {"id": attributes["assigned_to_id"], "name": self._name(attributes["assigned_to_id"])}
        return issue_id

    def find_issue_with_marker(self, tracker: TrackerKey, marker: str) -> int | None:
        self.reads += 1
        return next((i["id"] for i in self.issues.values() if i["tracker"]["id"] == TRACKER_IDS[tracker] and marker in (i.get("description") or "")), None)

    def add_relation(self, issue_id: int, issue_to_id: int, relation_type: str) -> None:
        self.relate(issue_id, issue_to_id)

    def add_watcher(self, issue_id: int, principal_id: int) -> None:
        self.issues[issue_id]["watchers"].append({"id": principal_id, "name": f"principal {principal_id}"})

    def tracker_id(self, tracker: TrackerKey) -> int:
        return TRACKER_IDS[tracker]

    def delete_issue(self, issue_id: int) -> None:
        self.deleted.append(issue_id)
        self.issues.pop(issue_id, None)
        for other in self.issues.values():
            other["relations"] = [r for r in other["relations"] if issue_id not in (r["issue_id"], r["issue_to_id"])]

    def anonymise(self, issue_id, *, custom_field_ids, attributes, journal_ids, attachment_ids, marker) -> dict[str, int]:
        """As the shim does it: one transaction, so `fail_anonymise_after`
        (a count of issues) stands for a worker killed between two issues."""
        if self.fail_anonymise_after is not None:
            if self.fail_anonymise_after <= 0:
                raise ConnectionError("killed mid-way (a test's fault)")
            self.fail_anonymise_after -= 1
        self.anonymised.append(issue_id)
        issue = self.issues[issue_id]
        ids = {str(i) for i in custom_field_ids}
        for cf in issue["custom_fields"]:
            if str(cf["id"]) in ids and cf.get("value") not in (None, ""):
                cf["value"] = marker
        for attribute in attributes:
            if issue.get(attribute):
                issue[attribute] = marker
        for journal in issue["journals"]:
            if journal["id"] in journal_ids:
                journal["notes"] = marker
            for d in journal["details"]:
                if (d["property"] == "cf" and d["name"] in ids) or (d["property"] == "attr" and d["name"] in attributes) or d["property"] == "attachment":
                    for key in ("old_value", "new_value"):
                        if d.get(key) not in (None, ""):
                            d[key] = marker
        issue["attachments"] = [a for a in issue.get("attachments", []) if a["id"] not in attachment_ids]
        return {"notes": len(journal_ids), "attachments": len(attachment_ids)}

    def issues_updated_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        self.reads += 1
        found = [i for i in self.issues.values() if dt.datetime.fromisoformat(i["updated_on"].replace("Z", "+00:00")) >= since]
        for issue in sorted(found, key=lambda i: (i["updated_on"], i["id"])):
            yield {"id": issue["id"], "updated_on": issue["updated_on"]}

    def issues_where(self, tracker: TrackerKey, field_filters: dict[FieldKey, str], **filters: str) -> Iterator[dict[str, Any]]:
        """Redmine's filter semantics for what the service asks: a value,
        "!*" (none), "<=date", ">=date", "><from|to"; and status_id "*" (any), "o" (open), "c" (closed) or ids
        joined by "|"."""
        self.reads += 1
        closed = {self.config.names.status(k) for k in CLOSED_STATUSES}
        statuses = filters.get("status_id", "o")
        for issue in sorted(self.issues.values(), key=lambda i: i["id"]):
            if issue["tracker"]["name"] != self.config.names.tracker(tracker):
                continue
            if statuses == "o" and issue["status"]["name"] in closed:
                continue
            if statuses == "c" and issue["status"]["name"] not in closed:
                continue
            if statuses not in ("o", "c", "*") and str(issue["status"]["id"]) not in statuses.split("|"):
                continue
            due = filters.get("due_date")
            if due and not self._matches(issue.get("due_date"), due):
                continue
            if all(self._matches(self.value(issue["id"], key), wanted) for key, wanted in field_filters.items()):
                # As Redmine lists them: the issue's own fields, no journals.
                yield copy.deepcopy({k: v for k, v in issue.items() if k not in ("journals", "watchers", "relations", "attachments")})

    @staticmethod
    def _matches(value: Any, wanted: str) -> bool:
        empty = value in (None, "", [])
        if wanted == "!*":
            return empty
        if wanted.startswith("<="):
            return not empty and value <= wanted[2:]
        if wanted.startswith(">="):
            return not empty and value >= wanted[2:]
        if wanted.startswith("><"):  # between two dates, both included
            low, high = wanted[2:].split("|")
            return not empty and low <= value <= high
        return value == wanted

    def service_user_id(self) -> int:
        return BOT_ID

    def names_by_id(self) -> dict[str, dict[int, str]]:
        return {
            "status": {i: self.config.names.status(k) for k, i in STATUS_IDS.items()},
            "tracker": {i: self.config.names.tracker(k) for k, i in TRACKER_IDS.items()},
        }

    def group_id(self, project_id: int, group_name: str) -> int | None:
        return GROUP_IDS.get(group_name)

    def principals(self, project_id: int, fresh: bool = False) -> dict[int, Principal]:
        return dict(self.members)

    def delete(self, issue_id: int) -> None:
        del self.issues[issue_id]

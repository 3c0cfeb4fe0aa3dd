"""The gate is told only part of a request's past: the journal details of the
fields the rules read (`approval.HISTORY_FIELDS`) and the status, with long
values as digests (the shim's IssuePayload). Whatever the history, the gate
must decide exactly as it would with all of it: this generates histories and
compares the two answers."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.service.gate_decision import decide
from plugin.policy.approval import HISTORY_FIELDS
from plugin.provisioning.spec import GATE_VALUE_LIMIT
from plugin.domain.names import StatusKey
from plugin.domain.record import FIELDS, FieldFormat, FieldKey
from schemas.gate_messages import GateRequestSchema
from tests.unit.fakes import FIELD_IDS, STATUS_IDS, FakeRedmine
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE, SHARE_RECORD

F = FieldKey
S = StatusKey
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)
LONG = "A very long account of the family's circumstances. " * 30  # over the limit
USERS = (10, 11, 12, 13, 14)  # practitioners, managers, a dual-role user

# Values a save may put in a field: enough to make every rule's branches turn.
CHOICES = {
    F.REQUEST_DIRECTION: ["Incoming request", "Outgoing request", "Proactive disclosure"],
    F.REQUEST_CHANNEL: ["Phone", "Email", "In person", "Letter"],
    F.REQUESTER_EMAIL: ["gp@nhs.net", "someone@example.com", ""],
    F.RECIPIENT_ENTITLEMENT: ["Confirmed", "In doubt", "Not entitled"],
    F.IDENTITY_CHECK: ["Known contact", "Not checked"],
    F.DECISION: ["Share", "Share in part", "Do not share", ""],
    F.APPROVAL_DECISION: ["Approved", "Declined", ""],
    F.REQUESTER_NAME: ["Dr A", "Dr B", LONG],
    F.INFORMATION_REQUESTED: ["attendance", LONG, LONG + "changed"],
    F.SHARED_WITH: ["", "Dr A", "Someone else"],
    F.DECISION_REASONS: ["needed", LONG, ""],
    F.EMERGENCY_OVERRIDE: ["0", "1"],
    F.EMERGENCY_OVERRIDE_REASON: ["", "risk", LONG],
    F.PUBLIC_INTEREST_JUSTIFICATION: ["", "risk", LONG],
}
STATUSES = [S.RECEIVED, S.ASSESSING, S.AWAITING_APPROVAL, S.APPROVED, S.SHARED]


def bounded(value):
    if isinstance(value, list):
        return [bounded(v) for v in value]
    if isinstance(value, str) and len(value.encode()) > GATE_VALUE_LIMIT:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


def as_the_shim_sends(issue: dict) -> dict:
    """An issue (REST shape) with long values as digests."""
    out = copy.deepcopy(issue)
    for cf in out.get("custom_fields", []):
        cf["value"] = bounded(cf["value"])
    return out


def journals_as_the_shim_sends(journals: list[dict]) -> list[dict]:
    wanted = {str(FIELD_IDS[k]) for k in HISTORY_FIELDS}
    out = []
    for j in journals:
        details = [
            {**d, "old_value": bounded(d["old_value"]), "new_value": bounded(d["new_value"])}
            for d in j["details"]
            if (d["property"] == "cf" and d["name"] in wanted) or (d["property"] == "attr" and d["name"] in ("status_id", "tracker_id", "project_id"))
        ]
        if details:
            # No notes, nor whether they were private; the user by id (the principals carry names).
            told = {k: v for k, v in j.items() if k not in ("notes", "private_notes", "user")}
            out.append({**told, "user": {"id": j["user"]["id"]} if j.get("user") else None, "details": details})
    return out


def diff_as_the_shim_sends(stored: dict, proposed: dict) -> dict:
    """The stored issue as what differs from the proposed one (IssuePayload.stored_diff)."""
    diff = {k: v for k, v in stored.items() if k not in ("custom_fields", "journals") and proposed.get(k) != v}
    diff.update({k: None for k in proposed if k not in stored})
    told = {cf["id"]: cf for cf in proposed["custom_fields"]}
    diff["custom_fields"] = [cf for cf in stored["custom_fields"] if told.get(cf["id"]) != cf]
    return diff


def request(issue: dict, journals: list[dict], proposed: dict, actor: int, redmine: FakeRedmine) -> dict:
    return {
        "request_id": "00000000-0000-0000-0000-000000000001",
        "issue": proposed,
        "previous": issue,
        "journals": journals,
        "statuses": [{"id": i, "name": CONFIG.names.status(k)} for k, i in STATUS_IDS.items()],
        "principals": [{"id": p.id, "name": p.name, "roles": sorted(p.roles)} for p in redmine.members.values()],
        "actor": {"id": actor, "login": f"user{actor}", "admin": False},
    }


save = st.tuples(
    st.sampled_from(USERS),
    st.dictionaries(st.sampled_from(sorted(CHOICES, key=str)), st.integers(0, 2), max_size=4),
    st.one_of(st.none(), st.sampled_from(STATUSES)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(save, min_size=1, max_size=8), save)
def test_the_gate_decides_the_same_on_the_part_of_the_past_it_is_told(saves, pending):
    redmine = FakeRedmine(CONFIG)
    issue_id = redmine.create({**INTAKE, F.RECIPIENT_ENTITLEMENT: "In doubt", **{k: v for k, v in DECISION.items() if k is not F.DECISION}})
    for user, changes, status in saves:
        values = {k: CHOICES[k][i % len(CHOICES[k])] for k, i in changes.items()}
        redmine.edit(issue_id, user, values=values, status=status, notes="a note with case details")
    stored = redmine.issue(issue_id)
    journals = stored.pop("journals")
    user, changes, status = pending
    proposed = copy.deepcopy(stored)
    for cf in proposed["custom_fields"]:
        key = next(k for k in FieldKey if FIELD_IDS[k] == cf["id"])
        if key in changes:
            cf["value"] = CHOICES[key][changes[key] % len(CHOICES[key])]
        elif key in SHARE_RECORD and FIELDS[key].format is not FieldFormat.BOOL:
            cf["value"] = SHARE_RECORD[key]
    if status is not None:
        proposed["status"] = {"id": STATUS_IDS[status], "name": CONFIG.names.status(status)}

    everything = decide(CONFIG, request(stored, journals, proposed, user, redmine), NOW)
    question = request(None, journals_as_the_shim_sends(journals), as_the_shim_sends(proposed), user, redmine)
    question["previous_diff"] = diff_as_the_shim_sends(as_the_shim_sends(stored), question["issue"])
    told = decide(CONFIG, GateRequestSchema().load(json.loads(json.dumps(question))), NOW)
    assert (told.outcome, [(v.identity, v.message) for v in told.violations]) == (everything.outcome, [(v.identity, v.message) for v in everything.violations])

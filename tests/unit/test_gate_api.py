"""POST /v1/gate over the Flask test client."""

from __future__ import annotations

import json
import time
import uuid

from plugin.domain.record import FieldKey
from tests.support.payloads import encode, shim_headers
from tests.unit.conftest import SECRET
from tests.unit.policy.helpers import CONFIG, DECISION, INTAKE


def rest_issue(status="Received", values=None, issue_id=7):
    values = values if values is not None else INTAKE
    issue = {
        "tracker": {"id": 4, "name": "Information request"},
        "status": {"id": 1, "name": status},
        "project": {"id": 1, "name": "MASH"},
        "custom_fields": [{"id": i, "name": CONFIG.names.field(k), "value": v} for i, (k, v) in enumerate(values.items(), 1)],
    }
    if issue_id:
        issue["id"] = issue_id
    return issue


def gate_body(issue, previous=None, login="practitioner1", admin=False):
    return encode({"request_id": str(uuid.uuid4()), "issue": issue, "previous": previous, "actor": {"id": 10, "login": login, "admin": admin}})


def ask(client, body, headers=None):
    return client.post("/v1/gate", data=body, headers=headers or shim_headers(SECRET, body))


def test_a_save_that_breaks_nothing_is_allowed(client, store):
    r = ask(client, gate_body(rest_issue(issue_id=None)))
    assert r.status_code == 200
    assert r.json == {"allow": True, "violations": []}
    assert list(store.audit.entries()) == []


def test_a_save_that_breaks_a_rule_is_refused_with_messages(client, store):
    previous = rest_issue()
    proposed = rest_issue("Not shared", {**INTAKE, **DECISION, FieldKey.DECISION: "Do not share", FieldKey.DECISION_REASONS: ""})
    r = ask(client, gate_body(proposed, previous))
    assert r.status_code == 200 and r.json["allow"] is False
    assert [(v["rule"], v["field"], v["code"]) for v in r.json["violations"]] == [
        ("R-DECISION", "decision_reasons", "missing"),
        ("R-RETENTION", "retention_category", "missing"),
    ]
    assert all("(R-" in v["message"] for v in r.json["violations"])
    (entry,) = store.audit.entries()
    assert entry["kind"] == "verdict" and entry["source"] == "gate" and entry["issue_id"] == 7
    assert entry["detail"]["outcome"] == "refused" and entry["detail"]["actor_id"] == 10


def diff_body(issue, diff, login="practitioner1"):
    return encode({"request_id": str(uuid.uuid4()), "issue": issue, "previous_diff": diff, "actor": {"id": 10, "login": login, "admin": False}})


def test_the_stored_issue_told_as_what_differs_is_judged_as_the_whole(client, store):
    previous = rest_issue()
    proposed = rest_issue("Not shared", {**INTAKE, **DECISION, FieldKey.DECISION: "Do not share", FieldKey.DECISION_REASONS: ""})
    whole = ask(client, gate_body(proposed, previous)).json
    # Only the status and the fields whose stored value differs, as the shim sends them.
    stored = {cf["id"]: cf for cf in previous["custom_fields"]}
    differing = [stored.get(cf["id"], {**cf, "value": None}) for cf in proposed["custom_fields"] if stored.get(cf["id"]) != cf]
    told = ask(client, diff_body(proposed, {"status": previous["status"], "custom_fields": differing})).json
    assert told == whole and told["allow"] is False


def test_a_diff_says_where_the_stored_issue_has_no_attribute(client):
    from schemas.gate_messages import stored_issue

    proposed = {**rest_issue(), "assigned_to": {"id": 51}, "due_date": "2026-12-01"}
    stored = stored_issue(proposed, {"assigned_to": None, "custom_fields": [{"id": 1, "name": "x", "value": "before"}]})
    assert "assigned_to" not in stored and stored["due_date"] == "2026-12-01"
    assert stored["custom_fields"][0]["value"] == "before" and stored["custom_fields"][1:] == proposed["custom_fields"][1:]
    assert proposed["assigned_to"] == {"id": 51} and proposed["custom_fields"][0]["value"] != "before"  # the proposed issue untouched


def test_a_diff_with_the_whole_stored_issue_or_for_a_new_issue_is_refused_clearly(client):
    both = encode({"request_id": str(uuid.uuid4()), "issue": rest_issue(), "previous": rest_issue(), "previous_diff": {},
                   "actor": {"id": 10, "login": "practitioner1"}})
    r = ask(client, both)
    assert r.status_code == 422 and "previous_diff: send the stored issue as previous or as previous_diff, not both" in r.json["error"]["message"]
    r = ask(client, diff_body(rest_issue(issue_id=None), {}))
    assert r.status_code == 422 and "a new issue has no stored version" in r.json["error"]["message"]


def test_an_administrators_save_passes_and_is_recorded(client, store):
    proposed = rest_issue("Shared", INTAKE)
    r = ask(client, gate_body(proposed, rest_issue(), admin=True))
    assert r.json["allow"] is True and r.json["violations"]
    (entry,) = store.audit.entries()
    assert entry["kind"] == "gate_bypass"


def test_the_gate_checks_the_signature(client, store):
    body = gate_body(rest_issue())
    r = ask(client, body, {**shim_headers(SECRET, body), "X-InfoShare-Signature": "sha256=" + "0" * 64})
    assert (r.status_code, r.json["error"]["code"]) == (401, "bad_signature")
    # Redmine 7's body-only signature is for events, not the gate.
    from tests.support.payloads import native_headers

    r = ask(client, body, native_headers(SECRET, body))
    assert (r.status_code, r.json["error"]["code"]) == (401, "missing_signature")


def test_a_malformed_gate_request_gets_a_clear_error(client):
    body = encode({"request_id": "not-a-uuid", "issue": {"tracker": {}}, "actor": {}})
    r = ask(client, body)
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_payload"
    assert "request_id" in r.json["error"]["message"] and "issue.tracker.id" in r.json["error"]["message"]


def test_the_decision_stands_when_the_audit_log_is_unavailable(client, store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_head")
    r = ask(client, gate_body(rest_issue("Shared", INTAKE), rest_issue()))
    assert r.status_code == 200 and r.json["allow"] is False


def refusing_body(request_id=None):
    proposed = rest_issue("Not shared", {**INTAKE, **DECISION, FieldKey.DECISION: "Do not share", FieldKey.DECISION_REASONS: ""})
    body = json.loads(gate_body(proposed, rest_issue()))
    if request_id:
        body["request_id"] = request_id
    return encode(body)


def test_a_replayed_question_gets_the_first_answer_and_no_second_entry(client, store):
    body = refusing_body(str(uuid.uuid4()))
    answers = [ask(client, body).json for _ in range(20)]
    assert all(a == answers[0] for a in answers) and answers[0]["allow"] is False
    assert len(list(store.audit.entries())) == 1
    # Another question (another request id) about the same save is audited: it is another save attempt.
    ask(client, refusing_body())
    assert len(list(store.audit.entries())) == 2


def test_an_answer_the_shim_no_longer_waits_for_is_audited_as_late(client, store):
    body = refusing_body()
    # Signed 5 seconds ago: the shim (2 s timeout) has applied its fail mode.
    r = ask(client, body, shim_headers(SECRET, body, timestamp=int(time.time()) - 5))
    assert r.json["allow"] is False
    (entry,) = store.audit.entries()
    assert entry["kind"] == "gate_late" and entry["detail"]["outcome"] == "refused"
    assert entry["detail"]["timeout_ms"] == 2000 and entry["detail"]["waited_ms"] >= 3000
    # Late and allowed: recorded too, for the save went through on the fail mode.
    allowed = gate_body(rest_issue(issue_id=None))
    ask(client, allowed, shim_headers(SECRET, allowed, timestamp=int(time.time()) - 5))
    assert [e["kind"] for e in store.audit.entries()] == ["gate_late", "gate_late"]


def test_a_body_too_large_is_counted_on_metrics(client):
    big = b'{"pad": "' + b"x" * 2_000_000 + b'"}'
    assert ask(client, big).status_code == 413
    assert client.post("/v1/events", data=big, headers=shim_headers(SECRET, big)).status_code == 413
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'infoshare_gate_decisions_total{outcome="body_too_large"}' in metrics
    assert 'infoshare_events_received_total{outcome="body_too_large"}' in metrics

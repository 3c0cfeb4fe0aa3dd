"""POST /v1/events: what is accepted, what is refused and why, and that nothing
is stored for a refused delivery."""

from __future__ import annotations

import time

import pytest
import responses

from tests.support import redmine7
from tests.support.payloads import encode, native_event, native_headers, rest_issue, shim_event, shim_headers
from tests.unit.conftest import SECRET
from tests.support import inbox_rows


def post(client, body: bytes, headers: dict):
    return client.post("/v1/events", data=body, headers=headers)


def stored(store) -> list[dict]:
    return list(inbox_rows.every(store))


def test_signed_event_is_stored_and_acknowledged_with_202(client, store):
    body = encode(shim_event(42))
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 202
    assert r.json["status"] == "accepted"
    (row,) = stored(store)
    assert row["issue_id"] == 42
    assert row["event_type"] == "issue.updated"
    assert row["journal_id"] == 942
    assert row["status"] == "pending"
    event = store.inbox.load_event(row)
    assert event.actor_login == "practitioner1" and event.actor_id == 10
    # The inbox keeps which issue, which save, what kind and who: no case details.
    assert (event.issue_id, event.journal_id, event.tracker_name) == (42, 942, None)
    assert row["payload"] is None


def test_duplicate_delivery_is_acknowledged_and_stored_once(client, store):
    body = encode(shim_event(42, delivery_id="6f1c1b9e-3b0a-4c55-9d59-1d2b3c4d5e6f"))
    first = post(client, body, shim_headers(SECRET, body))
    again = post(client, body, shim_headers(SECRET, body))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "delivery_id": "6f1c1b9e-3b0a-4c55-9d59-1d2b3c4d5e6f"}
    assert len(stored(store)) == 1


@pytest.mark.parametrize(
    "mangle, status, code",
    [
        (lambda body, h: {**h, "X-InfoShare-Signature": "sha256=" + "0" * 64}, 401, "bad_signature"),
        (lambda body, h: {k: v for k, v in h.items() if k != "X-InfoShare-Signature"}, 401, "missing_signature"),
        (lambda body, h: {**h, "X-InfoShare-Signature": "md5=abc"}, 401, "bad_signature"),
        (lambda body, h: {k: v for k, v in h.items() if k != "X-InfoShare-Timestamp"}, 401, "missing_timestamp"),
        (lambda body, h: {**h, "X-InfoShare-Timestamp": "yesterday"}, 401, "bad_timestamp"),
        (lambda body, h: shim_headers("another-secret-entirely", body), 401, "bad_signature"),
        (lambda body, h: shim_headers(SECRET, body, timestamp=int(time.time()) - 301), 401, "stale_timestamp"),
        (lambda body, h: shim_headers(SECRET, body, timestamp=int(time.time()) + 301), 401, "stale_timestamp"),
    ],
)
def test_untrusted_deliveries_are_refused_and_not_stored(client, store, mangle, status, code):
    body = encode(shim_event(42))
    r = post(client, body, mangle(body, shim_headers(SECRET, body)))
    assert r.status_code == status
    assert r.json["error"]["code"] == code
    assert r.json["error"]["message"]
    assert stored(store) == []


def test_signature_covers_the_timestamp(client, store):
    body = encode(shim_event(42))
    headers = shim_headers(SECRET, body)
    headers["X-InfoShare-Timestamp"] = str(int(headers["X-InfoShare-Timestamp"]) - 1)
    r = post(client, body, headers)
    assert (r.status_code, r.json["error"]["code"]) == (401, "bad_signature")


@pytest.mark.parametrize(
    "body, code, fragment",
    [
        (b"{not json", "malformed_json", "not valid JSON (line 1, column 2)"),
        (b"\xff\xfe", "malformed_json", "not valid UTF-8 text"),
        (b"[1, 2]", "malformed_json", "must be a JSON object"),
    ],
)
def test_malformed_bodies_get_400(client, store, body, code, fragment):
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 400
    assert r.json["error"]["code"] == code
    assert fragment in r.json["error"]["message"]
    assert stored(store) == []


def test_unknown_event_type_gets_422_naming_it(client, store):
    body = encode(shim_event(42, type="issue.exploded"))
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 422
    assert r.json["error"]["code"] == "unknown_event_type"
    assert "'issue.exploded'" in r.json["error"]["message"]
    assert "issue.created" in r.json["error"]["message"]
    assert stored(store) == []


def test_payload_without_required_parts_gets_422_naming_the_keys(client, store):
    payload = shim_event(42)
    del payload["issue"]["tracker"]
    payload["issue"]["id"] = "forty-two"
    body = encode(payload)
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 422
    error = r.json["error"]
    assert error["code"] == "invalid_payload"
    assert "issue.tracker: is required" in error["message"]
    assert "issue.id" in error["message"]
    assert "forty-two" not in error["message"]  # never echo content
    assert stored(store) == []


def test_custom_field_values_must_be_strings(client, store):
    payload = shim_event(42)
    payload["issue"]["custom_fields"][0]["value"] = {"nested": "object"}
    body = encode(payload)
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 422
    assert "custom_fields[1].value" in r.json["error"]["message"]


def test_oversized_body_gets_413_and_nothing_stored(client, store, config):
    payload = shim_event(42)
    payload["issue"]["description"] = "x" * config.service.max_body_bytes
    body = encode(payload)
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 413
    assert r.json["error"]["code"] == "body_too_large"
    assert str(config.service.max_body_bytes) in r.json["error"]["message"]
    assert stored(store) == []


def test_other_trackers_are_acknowledged_but_not_stored(client, store):
    body = encode(shim_event(42, tracker="Bug"))
    r = post(client, body, shim_headers(SECRET, body))
    assert r.status_code == 200
    assert r.json["status"] == "ignored"
    assert stored(store) == []


def test_redmine7_native_delivery_is_normalised_to_the_same_event(client, store):
    body = encode(native_event(42, journal_id=77))
    r = post(client, body, native_headers(SECRET, body))
    assert r.status_code == 202
    (row,) = stored(store)
    event = store.inbox.load_event(row)
    assert event.source.value == "redmine7"
    assert event.delivery_id == "redmine7:issue.updated:42:j77"
    assert event.actor_id == 12
    assert event.actor_login is None
    assert event.journal_id == 77 and row["payload"] is None
    assert row["journal_id"] == 77


def test_redmine7_redelivery_is_recognised_by_content(client, store):
    body = encode(native_event(42, journal_id=77))
    assert post(client, body, native_headers(SECRET, body)).status_code == 202
    # Same change, re-sent later with a new timestamp: still a duplicate.
    later = native_event(42, journal_id=77)
    later["timestamp"] = "2026-11-21T10:05:00Z"
    body2 = encode(later)
    assert post(client, body2, native_headers(SECRET, body2)).json["status"] == "duplicate"
    assert len(stored(store)) == 1


# A REST issue as Redmine returns it, for building Redmine 7 deliveries (tests/support/redmine7.py).
REST_ISSUE = {
    **rest_issue(43),
    "priority": {"id": 2, "name": "Normal"},
    "description": "",
    "start_date": "2026-11-21",
    "due_date": None,
    "done_ratio": 0,
    "is_private": False,
    "estimated_hours": None,
    "total_estimated_hours": None,
    "created_on": "2026-11-21T10:00:00Z",
    "updated_on": "2026-11-21T10:00:00Z",
    "closed_on": None,
    "journals": [],
}


def send7(client, payload, secret=SECRET):
    sent = redmine7.body(payload)
    return post(client, sent, redmine7.headers(secret, sent))


def test_redmine7_created_event_has_no_journal_and_is_named_by_its_body(client, store):
    payload = redmine7.created(REST_ISSUE)
    assert "journals" not in payload["data"]["issue"] and payload["data"]["issue"]["custom_fields"]
    assert send7(client, payload).status_code == 202
    (row,) = stored(store)
    assert row["delivery_id"].startswith("redmine7:issue.created:43:sha256:")
    assert row["journal_id"] is None
    assert send7(client, payload).json["status"] == "duplicate"  # the very same delivery again


def test_two_journal_less_updates_in_one_second_are_two_deliveries(client, store):
    """Keyed by updated_on (to the second) the second was taken for the first
    and dropped; Redmine 7 would never have sent it again."""
    first = {**REST_ISSUE, "status": {"id": 8, "name": "Assessing", "is_closed": False}, "updated_on": "2026-11-21T10:00:07Z"}
    second = {**first, "custom_fields": [{**REST_ISSUE["custom_fields"][0], "value": "Email"}, *REST_ISSUE["custom_fields"][1:]]}
    assert [send7(client, redmine7.updated(i)).status_code for i in (first, second)] == [202, 202]
    assert len({r["delivery_id"] for r in stored(store)}) == 2


def test_a_private_note_split_from_its_changes_is_named_by_its_notes_only_journal(client, store):
    journals = [
        {"id": 80, "user": {"id": 10, "name": "Priya Practitioner"}, "notes": "", "private_notes": False, "created_on": "2026-11-21T10:01:00Z",
         "details": [{"property": "attr", "name": "status_id", "old_value": "7", "new_value": "8"}]},
        {"id": 81, "user": {"id": 10, "name": "Priya Practitioner"}, "notes": "Private", "private_notes": True, "created_on": "2026-11-21T10:01:00Z",
         "details": []},
    ]
    seen = redmine7.split_private_note({**REST_ISSUE, "updated_on": "2026-11-21T10:01:00Z"}, journals)
    assert send7(client, seen).status_code == 202
    unseen = redmine7.split_private_note({**REST_ISSUE, "updated_on": "2026-11-21T10:01:00Z"}, journals, owner_sees_private_notes=False)
    assert send7(client, unseen).status_code == 202
    assert [r["journal_id"] for r in stored(store)] == [81, None]  # the worker judges every save since the last judged


def test_redmine7_deletion_is_accepted_with_its_custom_values_gone(client, store):
    import datetime as dt

    payload = redmine7.deleted(REST_ISSUE, dt.datetime(2026, 11, 21, 11, 0, tzinfo=dt.timezone.utc))
    assert all(cf["value"] in (None, []) for cf in payload["data"]["issue"]["custom_fields"])
    assert send7(client, payload).status_code == 202
    assert stored(store)[0]["event_type"] == "issue.deleted"


def test_redmine7_bad_signature_is_refused(client, store):
    body = encode(native_event(42))
    r = post(client, body, native_headers("not-the-secret-at-all", body))
    assert (r.status_code, r.json["error"]["code"]) == (401, "bad_signature")
    assert stored(store) == []


@pytest.mark.parametrize(
    "payload",
    [
        redmine7.time_entry_created(310, 43, {"id": 1, "name": "MASH"}, {"id": 10, "name": "Priya Practitioner"}, "2026-11-21T10:00:00Z"),
        redmine7.wiki_page_updated({"id": 1, "name": "MASH"}, {"id": 10, "name": "Priya Practitioner"}, "2026-11-21T10:00:00Z"),
    ],
    ids=["time_entry.created", "wiki_page.updated"],
)
def test_redmine7_webhooks_of_other_objects_are_acknowledged_and_ignored(client, store, payload):
    """Redmine logs every refusal; a hook also set to send time entries or wiki
    pages must not fill its log."""
    r = send7(client, payload)
    assert (r.status_code, r.json["status"]) == (200, "ignored")
    assert stored(store) == []


def test_redmine7_webhooks_of_other_objects_still_need_the_signature(client, store):
    payload = redmine7.time_entry_created(310, 43, {"id": 1, "name": "MASH"}, {"id": 10, "name": "P"}, "2026-11-21T10:00:00Z")
    assert send7(client, payload, secret="not-the-secret-at-all").status_code == 401


def test_an_unknown_issue_event_is_still_refused(client, store):
    r = send7(client, {**redmine7.created(REST_ISSUE), "type": "issue.exploded"})
    assert (r.status_code, r.json["error"]["code"]) == (422, "unknown_event_type")


def test_an_unsigned_redmine7_delivery_is_told_to_give_the_webhook_its_secret(client, store):
    r = send7(client, redmine7.created(REST_ISSUE), secret=None)
    assert (r.status_code, r.json["error"]["code"]) == (401, "missing_signature")
    assert "X-Redmine-Signature-256" in r.json["error"]["message"] and "secret" in r.json["error"]["message"]
    body = encode(shim_event(42))
    unsigned_shim = post(client, body, {"Content-Type": "application/json"})
    assert "X-InfoShare-Signature" in unsigned_shim.json["error"]["message"]
    assert stored(store) == []


def test_store_failure_answers_503_so_the_sender_knows(client, store):
    store.engine.dispose()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE deliveries")
    body = encode(shim_event(42))
    r = post(client, body, shim_headers(SECRET, body))
    assert (r.status_code, r.json["error"]["code"]) == (503, "inbox_unavailable")


@pytest.mark.parametrize("method, path, status, code", [("GET", "/v1/events", 405, "method_not_allowed"), ("GET", "/nope", 404, "not_found")])
def test_other_requests_get_json_errors(client, method, path, status, code):
    r = client.open(path, method=method)
    assert r.status_code == status
    assert r.json["error"]["code"] == code


@responses.activate
def test_health_endpoints(client):
    base = "http://redmine.test"
    responses.get(f"{base}/users/current.json", json={"user": {"id": 9}})
    responses.get(f"{base}/trackers.json", json={"trackers": [{"id": i, "name": n} for i, n in enumerate(["Information request", "Escalation", "Retention review", "Information incident"])]})
    statuses = ["Received", "Assessing", "Awaiting approval", "Approved", "Shared", "Not shared", "Withdrawn", "In escalation",
                "Escalation resolved", "Review due", "Review completed", "Incident reported", "Investigating", "Incident closed"]
    responses.get(f"{base}/issue_statuses.json", json={"issue_statuses": [{"id": i, "name": n} for i, n in enumerate(statuses)]})
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["checks"] == {"store": "ok", "redmine": "ok", "spec": "ok"}


def test_readiness_reports_what_is_wrong(app, store):
    from webhooks.health import RedmineReadiness

    app.config["INFOSHARE_READINESS"] = RedmineReadiness(app.config["INFOSHARE"])  # Redmine at http://redmine.test: unreachable
    app.config["INFOSHARE_READINESS"]._check_now = lambda: {"redmine": "ok", "spec": "missing Escalation (run infoshare doctor)"}
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_head")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["store"].startswith("unavailable")
    assert r.json["checks"]["spec"] == "missing Escalation (run infoshare doctor)"


def test_during_a_rotation_both_secrets_are_accepted(store):
    import datetime as dt

    from tests.unit.conftest import make_config
    from webhooks import create_app

    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    app = create_app(make_config(webhook={"previous_secret": "the-old-secret-0123", "previous_secret_expires": later}), store, configure_logs=False)
    client = app.test_client()
    for secret in (SECRET, "the-old-secret-0123"):
        body = encode(shim_event(42))
        assert post(client, body, shim_headers(secret, body)).status_code == 202
    body = encode(shim_event(42))
    assert post(client, body, shim_headers("yet-another-secret-99", body)).status_code == 401
    earlier = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    expired = create_app(make_config(webhook={"previous_secret": "the-old-secret-0123", "previous_secret_expires": earlier}), store, configure_logs=False)
    body = encode(shim_event(43))
    assert post(expired.test_client(), body, shim_headers("the-old-secret-0123", body)).status_code == 401

"""POST /v1/events: what is accepted, what is refused and why, and that nothing
is stored for a refused delivery."""

from __future__ import annotations

import time

import pytest
import responses

from tests.support.payloads import encode, native_event, native_headers, shim_event, shim_headers
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
        (b"\xff\xfe", "malformed_json", "not valid JSON"),
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


def test_redmine7_created_event_has_no_journal(client, store):
    body = encode(native_event(43, type="issue.created", journal_id=None))
    assert post(client, body, native_headers(SECRET, body)).status_code == 202
    (row,) = stored(store)
    assert row["delivery_id"] == "redmine7:issue.created:43:u2026-11-21T10:00:00Z"


def test_redmine7_bad_signature_is_refused(client, store):
    body = encode(native_event(42))
    r = post(client, body, native_headers("not-the-secret-at-all", body))
    assert (r.status_code, r.json["error"]["code"]) == (401, "bad_signature")
    assert stored(store) == []


def test_redmine7_other_webhook_types_are_unknown(client, store):
    body = encode({"type": "project.created", "timestamp": "2026-11-21T10:00:00Z", "data": {"project": {"id": 1}}})
    r = post(client, body, native_headers(SECRET, body))
    assert (r.status_code, r.json["error"]["code"]) == (422, "unknown_event_type")


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

"""The checked-in OpenAPI document matches the app, and /metrics carries
counts and codes only."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.payloads import encode, shim_event, shim_headers
from tests.unit.conftest import SECRET

DOC = json.loads((Path(__file__).resolve().parents[2] / "webhooks" / "openapi.json").read_text())


def test_the_document_describes_exactly_the_apps_endpoints(app):
    routes = {(rule.rule, method.lower()) for rule in app.url_map.iter_rules() if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in DOC["paths"].items() for method in item}
    assert routes == documented


def test_every_reference_resolves():
    text = json.dumps(DOC)
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in DOC["components"]["schemas"], name


def test_the_document_is_served(client):
    r = client.get("/v1/openapi.json")
    assert r.status_code == 200 and r.get_json() == DOC


def test_metrics_count_outcomes_and_read_the_store(client, store):
    body = encode(shim_event(77))
    client.post("/v1/events", data=body, headers=shim_headers(SECRET, body))
    client.post("/v1/events", data=body, headers=shim_headers(SECRET, body))
    client.post("/v1/events", data=b"{}", headers={"Content-Type": "application/json"})
    store.problems.record("reconcile", 5, "ValidationError", lambda attempts: 2.0)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'infoshare_problems{source="reconcile"} 1.0' in text
    assert 'infoshare_events_received_total{outcome="accepted"}' in text
    assert 'infoshare_events_received_total{outcome="duplicate"}' in text
    assert 'infoshare_events_received_total{outcome="missing_signature"}' in text
    assert 'infoshare_inbox_deliveries{status="pending"} 1.0' in text
    assert "practitioner1" not in text and "Request channel" not in text

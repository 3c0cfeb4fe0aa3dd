"""Issue 8, operations, on the running service (gunicorn, several workers) and
Redmine: health and readiness, /metrics with every worker's counters, and
the shim's gate payload (built from memory, with few queries) equal to the
same payload built the plain way."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.dates import iso_today
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until
from tests.support.releases import on_both_redmines

F = FieldKey
CHECK_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "shim_payload_check.rb"


def samples(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_readiness(live):
    assert requests.get(f"{live.service_url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{live.service_url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


def test_metrics_carry_the_counters_of_every_web_worker(live, rest):
    before = samples(live.service_url)
    for n in range(6):  # several saves: the gate and events land on both workers
        issue_id = rest.create_issue("practitioner1", intake_values(), subject=f"Metrics {n}")
    live.wait_for_deliveries(issue_id, 1)
    after = wait_until(
        lambda: (found := samples(live.service_url))
        and value(found, "infoshare_events_received_total", outcome="accepted") >= value(before, "infoshare_events_received_total", outcome="accepted") + 6
        and found,
        what="six more accepted events in /metrics",
    )
    gate = "infoshare_gate_decisions_total"
    assert value(after, gate, outcome="allowed") >= value(before, gate, outcome="allowed") + 6
    latency = "infoshare_gate_duration_seconds_count"
    assert value(after, latency) >= value(before, latency) + 6
    assert value(after, "infoshare_gate_duration_seconds_bucket", le="+Inf") == value(after, latency)
    assert value(after, "infoshare_inbox_deliveries", status="processed") + value(after, "infoshare_inbox_deliveries", status="pending") > 0


@on_both_redmines
def test_the_gate_payload_built_from_memory_equals_a_fresh_load(live, rest):
    """Requests with long and varied histories (status changes, a multiple
    field, approvals by a manager, a service-made escalation), then every
    issue's payload parts compared with the plain reading, in Redmine."""
    routed = rest.create_issue("practitioner2", intake_values(recipient_entitlement="In doubt"), subject="Payload approval")
    rest.update_issue("practitioner2", routed, decision_values(), status=StatusKey.ASSESSING)
    wait_until(lambda: rest.issue(routed)["status"]["name"] == "Awaiting approval", what="routed for approval")
    live.settle()
    rest.update_issue("manager1", routed, {F.APPROVAL_DECISION: "Approved", F.APPROVAL_NOTES: "Checked"})
    wait_until(lambda: rest.issue(routed)["status"]["name"] == "Approved", what="approved")
    live.settle()
    rest.update_issue("practitioner2", routed, {F.STATUTORY_POWER: ["Children Act 1989 s47", "Children Act 2004 s11"]})
    rest.update_issue("practitioner2", routed, share_values(iso_today()), status=StatusKey.SHARED)
    disputed = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject="Payload dispute")
    rest.update_issue("practitioner1", disputed, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Threshold"}, status=StatusKey.ASSESSING)
    live.settle()

    report = json.loads(live.instance.runner(CHECK_SCRIPT).strip().splitlines()[-1])
    assert report["issues"] >= 3 and report["users"] >= 8  # this test's two requests and the escalation, at least
    assert report["differences"] == []

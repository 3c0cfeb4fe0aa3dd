"""Issue 7, fault tests on loopback, bounded in time and count:

- a burst of 1,000 deliveries (duplicates, replays, out of order) with the web
  service and the scheduler killed (kill -9) in the middle and restarted;
- Redmine stopped for 30 s while a burst is processed;
- two retention runs at once.

Each ends with every accepted event processed, none lost, no effect applied
twice (no note posted twice, no second escalation or review), and the audit
chain intact. The figures are printed at the end of the run.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import requests

from devstack import processes
from devstack.stack import BIN_DIR
from plugin.policy.retention import add_years
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.figures import report
from tests.support.payloads import as_sent, shim_headers
from tests.support.rest import decision_values, intake_values, share_values
from tests.support.waiting import wait_until
from tests.support.dates import local_today as today
from tests.support import inbox_rows

F = FieldKey
S = StatusKey
MARKER = re.compile(r"\[infoshare:[^\]]+\]")


def make_issues(live, rest) -> list[int]:
    """Requests whose events have effects: breaches, routing to managers,
    escalations. Created while nothing processes events, so the burst does
    the first processing."""
    made = []
    for n in range(3):
        breach = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject=f"Fault breach {n}")
        rest.update_issue(None, breach, {**decision_values(decision_reasons=""), **share_values(today().isoformat())}, status=S.SHARED)
        routed = rest.create_issue("practitioner2", intake_values(recipient_entitlement="In doubt"), subject=f"Fault approval {n}")
        rest.update_issue("practitioner2", routed, decision_values(), status=S.ASSESSING)
        disagreement = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject=f"Fault escalation {n}")
        rest.update_issue("practitioner1", disagreement, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Disputed"}, status=S.ASSESSING)
        made += [breach, routed, disagreement]
    return made


def base_payloads(live, issue_ids) -> list[dict]:
    """The real events of those issues, as the shim sent them."""
    payloads = []
    for issue_id in issue_ids:
        rows = wait_until(lambda: inbox_rows.for_issue(live.store(), issue_id) or None, what=f"events of #{issue_id}")
        payloads.extend(as_sent(row) for row in rows)
    return payloads


def burst(payloads: list[dict], count: int, rng: random.Random) -> list[bytes]:
    """`count` deliveries: replays of the real events under new delivery ids,
    exact redeliveries, all shuffled (out of order)."""
    bodies: list[bytes] = []
    for _ in range(count):
        if bodies and rng.random() < 0.3:
            bodies.append(rng.choice(bodies))  # the same delivery again
        else:
            bodies.append(json.dumps({**rng.choice(payloads), "delivery_id": str(uuid.uuid4())}).encode())
    rng.shuffle(bodies)
    return bodies


class Sender:
    """Posts deliveries as the shim would, retrying those the service did not
    answer (it was down): a delivery counts as accepted only on 202 or 200."""

    def __init__(self, live, bodies: list[bytes]):
        self.url = f"{live.service_url}/v1/events"
        self.secret = live.config().webhook.secret
        self.bodies = bodies
        self.sent = 0  # HTTP attempts
        self.status = collections.Counter()
        self.accepted: set[str] = set()
        self.progress = 0

    def run(self) -> None:
        session = requests.Session()
        for body in self.bodies:
            deadline = time.monotonic() + 90
            while True:
                self.sent += 1
                try:
                    r = session.post(self.url, data=body, headers=shim_headers(self.secret, body), timeout=10)
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise
                    session = requests.Session()
                    time.sleep(0.2)
                    continue
                self.status[r.status_code] += 1
                if r.status_code in (200, 202):
                    self.accepted.add(json.loads(body)["delivery_id"])
                    break
                if r.status_code >= 500 and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise AssertionError(f"delivery refused: HTTP {r.status_code}")
            self.progress += 1


def effects_duplicated(rest, issue_ids) -> int:
    """Service notes posted more than once (same marker), and requests with
    more than one escalation."""
    duplicated = 0
    seen_issues = set(issue_ids)
    for issue_id in issue_ids:
        relations = rest.get_json(f"/issues/{issue_id}.json", include="relations")["issue"].get("relations", [])
        related = {r["issue_id"] if r["issue_to_id"] == issue_id else r["issue_to_id"] for r in relations}
        escalations = [i for i in related if rest.issue(i)["tracker"]["name"] == "Escalation"]
        duplicated += max(0, len(escalations) - 1)
        seen_issues |= set(escalations)
    for issue_id in seen_issues:
        markers = collections.Counter(
            m for j in rest.issue(issue_id)["journals"] if j["user"]["name"] == "InfoShare service" for m in MARKER.findall(j.get("notes") or "")
        )
        duplicated += sum(n - 1 for n in markers.values() if n > 1)
    return duplicated


def drain(live, timeout=240) -> dict:
    live.settle(timeout=timeout)
    return live.store().inbox.counts()


def kill9(live, name: str) -> None:
    pid = processes.read_pid(live.pid(name))
    assert pid, f"{name} is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not processes.pid_alive(pid), what=f"{name} gone")


def test_a_burst_of_1000_deliveries_survives_kill_9_of_the_service(live, rest):
    rng = random.Random(7)
    with live.paused_scheduler():
        issues = make_issues(live, rest)
        payloads = base_payloads(live, issues)
        before = live.store().inbox.counts()["processed"]
        live.stop_service()  # the scheduler restarts with the web service below
    live.start_service()
    sender = Sender(live, burst(payloads, 1000, rng))
    thread = threading.Thread(target=sender.run)
    started = time.monotonic()
    thread.start()
    wait_until(lambda: sender.progress >= 400, timeout=120, what="400 deliveries sent")
    kill9(live, "web")
    kill9(live, "scheduler")
    time.sleep(1.0)
    live.start_service()
    thread.join(timeout=300)
    assert not thread.is_alive()
    counts = drain(live)
    took = time.monotonic() - started

    ours = [r for r in inbox_rows.every(live.store()) if r["delivery_id"] in sender.accepted]
    processed = sum(r["status"] == "processed" for r in ours)
    lost = len(sender.accepted) - processed
    duplicated = effects_duplicated(rest, issues)
    audit = live.cli("audit", "verify").stdout
    report(
        f"kill -9 burst: deliveries {len(sender.bodies)} ({len(sender.accepted)} distinct), HTTP attempts {sender.sent}, "
        f"accepted {sender.status[202]}, duplicates acknowledged {sender.status[200]}, processed {processed}, lost {lost}, "
        f"parked {counts['parked']}, effects duplicated {duplicated}, {took:.0f} s"
    )
    assert sender.status[202] + sender.status[200] == len(sender.bodies)
    assert lost == 0 and counts["pending"] == 0 and counts["failed"] == 0 and counts["parked"] == 0
    assert counts["processed"] >= before + processed
    assert duplicated == 0
    assert "Audit log intact" in audit
    # The effects happened: breaches noted, requests routed, escalations opened.
    assert sum(1 for b in live.store().breaches.all() if b["issue_id"] in issues[0::3]) >= 3
    assert all(rest.issue(i)["status"]["name"] == "Awaiting approval" for i in issues[1::3])


def test_redmine_stopped_for_30_seconds_during_a_burst(live, rest):
    rng = random.Random(11)
    with live.paused_scheduler():
        issues = make_issues(live, rest)
        payloads = base_payloads(live, issues)
    drain(live)
    bodies = burst(payloads, 300, rng)
    processes.stop_pidfile(live.pid("redmine"))
    stopped = time.monotonic()
    try:
        sender = Sender(live, bodies)
        sender.run()  # the service accepts while Redmine is down
        wait_until(lambda: time.monotonic() - stopped >= 30, timeout=60, what="30 s")
        counts = live.store().inbox.counts()
        assert counts["parked"] == 0  # an outage parks nothing
        waiting = counts["pending"] + counts["failed"]
    finally:
        live.start_redmine()
    counts = drain(live)
    ours = [r for r in inbox_rows.every(live.store()) if r["delivery_id"] in sender.accepted]
    processed = sum(r["status"] == "processed" for r in ours)
    lost = len(sender.accepted) - processed
    duplicated = effects_duplicated(rest, issues)
    report(
        f"Redmine down 30 s: deliveries {len(bodies)}, accepted {sender.status[202]}, duplicates acknowledged {sender.status[200]}, "
        f"waiting while down {waiting}, processed {processed}, lost {lost}, parked {counts['parked']}, effects duplicated {duplicated}"
    )
    assert waiting > 0 and lost == 0 and counts["parked"] == 0 and duplicated == 0
    assert "Audit log intact" in live.cli("audit", "verify").stdout


def test_two_retention_runs_at_once_open_one_review(live, rest):
    issue_id = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject="Two runs")
    rest.update_issue("practitioner1", issue_id, {**decision_values(decision="Do not share", public_interest_justification=""), F.RETENTION_CATEGORY: "Early help"}, status=S.NOT_SHARED)
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.RETENTION_REVIEW_DATE), what="review date")
    live.settle()
    day = add_years(today(), 6).isoformat()
    runs = [
        subprocess.Popen([str(BIN_DIR / "infoshare"), "--config", str(live.config_path), "retention", "run", "--today", day],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=live.service_env())
        for _ in range(2)
    ]
    results = [r.communicate(timeout=180) for r in runs]
    codes = sorted(r.returncode for r in runs)
    relations = rest.get_json(f"/issues/{issue_id}.json", include="relations")["issue"].get("relations", [])
    reviews = [r for r in relations if rest.issue(r["issue_id"] if r["issue_to_id"] == issue_id else r["issue_to_id"])["tracker"]["name"] == "Retention review"]
    report(f"two retention runs at once: exit codes {codes}, reviews opened for the request {len(reviews)}")
    assert len(reviews) == 1
    busy = [err for (_, err), r in zip(results, runs) if r.returncode != 0]
    assert all("another retention run is in progress" in err for err in busy)


def test_a_worker_killed_between_opening_an_incident_and_noting_it_opens_no_second(live, rest):
    from tests.support.flows import has_note, incidents_of, route, status_of

    issue_id = rest.create_issue("practitioner1", intake_values(recipient_entitlement="In doubt"), subject="Fault incident")
    route(live, rest, issue_id)
    rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Declined"})
    wait_until(lambda: status_of(rest, issue_id) == "Assessing", what="back to Assessing")
    live.settle()
    delivered = len(inbox_rows.for_issue(live.store(), issue_id))
    with live.paused_scheduler():
        override = {F.EMERGENCY_OVERRIDE: "1", F.EMERGENCY_OVERRIDE_REASON: "Immediate risk"}
        rest.update_issue("practitioner1", issue_id, {**share_values(today().isoformat()), **override}, status=S.SHARED)
        live.wait_for_deliveries(issue_id, delivered + 1)
        env = {**live.service_env(), "PYTHONPATH": f"{Path(__file__).resolve().parents[1] / 'support' / 'kill_after_create'}:{live.service_env()['PYTHONPATH']}"}
        crashed = subprocess.run([str(BIN_DIR / "infoshare"), "--config", str(live.config_path), "worker", "--once"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert crashed.returncode == -signal.SIGKILL
        assert len(incidents_of(rest, issue_id)) == 1  # opened...
        assert not has_note(rest, issue_id, "override-after-decline-")  # ...and not yet noted
    live.settle()  # the scheduler's worker runs again
    wait_until(lambda: has_note(rest, issue_id, "override-after-decline-"), what="the note after the restart")
    incidents = incidents_of(rest, issue_id)
    report(f"kill -9 between opening an incident and noting it: incidents for the request {len(incidents)}")
    assert len(incidents) == 1
    assert effects_duplicated(rest, [issue_id]) == 0


def test_a_timeliness_run_killed_half_way_posts_nothing_twice(live, rest):
    """R-TIMELINESS: kill -9 after the second overdue note of a run; the run
    at the same moment afterwards notes the rest, and nothing is posted twice."""
    from tests.integration.test_timeliness import letter, log_at, notes_with

    with live.paused_scheduler():
        late = [letter(rest, "Amber") for _ in range(4)]
        for issue_id in late:
            log_at(live, issue_id, "2026-03-02 10:00")  # a Monday: due Tuesday 10:00, before any other test's requests
        live.cli("timeliness", "run", "--now", "2026-03-02 10:05")  # their Response due written; nothing due yet
        env = {**live.service_env(),
               "PYTHONPATH": f"{Path(__file__).resolve().parents[1] / 'support' / 'kill_after_second_note'}:{live.service_env()['PYTHONPATH']}"}
        crashed = subprocess.run([str(BIN_DIR / "infoshare"), "--config", str(live.config_path), "timeliness", "run", "--now", "2026-03-03 11:00"],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert crashed.returncode == -signal.SIGKILL
        noted = [i for i in late if notes_with(rest, i, "Response overdue")]
        assert len(noted) == 2
        after = live.cli("timeliness", "run", "--now", "2026-03-03 11:00").stdout
        assert all(f"#{i}: past its Response due" in after for i in late if i not in noted)
        assert not any(f"#{i}:" in after for i in noted)
    report(f"kill -9 half way through a timeliness run: {len(noted)} noted before, {len(late) - len(noted)} after")
    assert all(len(notes_with(rest, i, "Response overdue")) == 1 for i in late)
    assert effects_duplicated(rest, late) == 0

"""Issue 7, privacy: every personal field of many tickets is filled with a
unique marker, a full workflow runs (refusals, approvals, breaches,
escalations, retention with anonymisation, bad requests), and no marker
appears in any log of the service or of Redmine, in /metrics, in the audit
log, in command output, or in any error the service or the gate returned."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo

import requests
from redminelib.exceptions import ValidationError

from plugin.policy.retention import add_years
from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.support.payloads import shim_event, shim_headers
from tests.support.redmine_env import read_from_another_process
from tests.support.rest import decision_values, intake_values
from tests.support.waiting import wait_until

F = FieldKey
S = StatusKey
TAG = f"PIIMARK{uuid.uuid4().hex[:8]}"


def mark(what: str) -> str:
    return f"{TAG}-{what}-{uuid.uuid4().hex[:6]}"


def personal_intake(n: int) -> dict:
    return intake_values(
        request_channel="Phone",
        requester_name=mark(f"name{n}"),
        requester_role=mark(f"role{n}"),
        requester_organisation=mark(f"org{n}"),
        requester_phone=mark(f"phone{n}"),
        requester_email=f"{mark(f'email{n}').lower()}@example.org",
        information_requested=mark(f"asked{n}"),
        purpose_of_sharing=mark(f"purpose{n}"),
        recipient_entitlement="In doubt" if n % 4 == 0 else "Confirmed",  # the ones routed to managers
    )


def personal_decision(n: int, **kw) -> dict:
    values = dict(
        decision_reasons=mark(f"reasons{n}"),
        public_interest_justification=mark(f"interest{n}"),
        subject_informed="No - other reason",
        not_informed_reason=mark(f"notinformed{n}"),
    )
    return decision_values(**{**values, **kw})


def test_no_marker_in_logs_metrics_audit_or_errors(live, rest, redmine_web):
    errors: list[str] = []  # every error text returned to anyone
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/London")).date()

    def refused(action) -> None:
        try:
            action()
        except ValidationError as exc:
            errors.append(str(exc))

    tickets = []
    for n in range(8):
        issue_id = rest.create_issue("practitioner1", personal_intake(n), subject=mark(f"subject{n}"), description=mark(f"description{n}"))
        tickets.append(issue_id)
        # Refused saves: their messages go back through Redmine.
        refused(lambda: rest.update_issue("practitioner1", issue_id, {F.DECISION: "Share"}, status=S.SHARED))
        refused(lambda: rest.update_issue("practitioner1", issue_id, {F.CONSENT_STATUS: "Given"}))
        if n % 4 == 0:  # routed to managers (phone, in doubt) or shared
            rest.update_issue("practitioner1", issue_id, personal_decision(n), status=S.ASSESSING)
        elif n % 4 == 1:  # an administrator's bypass: a breach
            values = {**personal_decision(n, decision_reasons=""), F.INFORMATION_SHARED: mark(f"shared{n}"), F.SHARED_WITH: mark(f"with{n}"),
                      F.SHARED_ON: today.isoformat(), F.SECURE_METHOD: "Secure email", F.FACT_AND_OPINION_DISTINGUISHED: "1", F.RETENTION_CATEGORY: "Early help"}
            rest.update_issue(None, issue_id, values, status=S.SHARED)
        elif n % 4 == 2:  # a disagreement: an escalation
            rest.update_issue("practitioner1", issue_id, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: mark(f"disagree{n}")}, status=S.ASSESSING)
        else:  # closed, reviewed, anonymised
            closing = {**personal_decision(n, decision="Do not share", public_interest_justification=""), F.RETENTION_CATEGORY: "No further action"}
            rest.update_issue("practitioner1", issue_id, closing, status=S.NOT_SHARED)
    live.settle()

    # The timers and the reconciler, with their output.
    review_day = add_years(today, 6)
    outputs = [
        live.cli("reconcile").stdout,
        live.cli("escalations", "run", "--today", (today + dt.timedelta(days=30)).isoformat()).stdout,
        live.cli("retention", "run", "--today", review_day.isoformat()).stdout,
    ]
    live.settle()
    for issue_id in tickets[3::4]:
        related = rest.get_json(f"/issues/{issue_id}.json", include="relations")["issue"].get("relations", [])
        for relation in related:
            other = relation["issue_id"] if relation["issue_to_id"] == issue_id else relation["issue_to_id"]
            review = rest.issue(other)
            if review["tracker"]["name"] == "Retention review":
                rest.update_issue("governance1", other, {F.REVIEW_OUTCOME: "Anonymise", F.REVIEW_JUSTIFICATION: mark("justify")}, status=S.REVIEW_COMPLETED)
    live.settle()

    # Bad requests straight to the service, carrying markers.
    secret = live.config().webhook.secret
    for body in (
        json.dumps({"type": "issue.updated", "name": mark("junk")}).encode(),
        json.dumps({**shim_event(1), "issue": {"id": mark("id")}}).encode(),
        json.dumps({**shim_event(1), mark("key"): 1}).encode(),
        json.dumps({"request_id": mark("req"), "issue": {"subject": mark("s")}, "actor": {}}).encode(),
        mark("notjson").encode(),
    ):
        for path in ("/v1/events", "/v1/gate"):
            for headers in (shim_headers(secret, body), {"X-InfoShare-Signature": "sha256=" + mark("sig")}):
                errors.append(requests.post(f"{live.service_url}{path}", data=body, headers=headers, timeout=10).text)
    # And a gate request that is refused, as the shim would send it.
    issue = rest.issue(tickets[0])
    gate = json.dumps({"request_id": str(uuid.uuid4()), "issue": {**issue, "status": {"id": 1, "name": "Shared"}}, "previous": issue, "actor": {"id": 10, "login": "practitioner1"}}).encode()
    answer = requests.post(f"{live.service_url}/v1/gate", data=gate, headers=shim_headers(secret, gate), timeout=10).json()
    assert answer["allow"] is False
    errors.append(json.dumps(answer))

    # Searches and filters carrying case details, as a person in the web UI
    # and a REST client make them: Redmine's request log must not show them.
    needle = TAG + "-search"
    field = rest.field_ids[F.REQUESTER_NAME]
    web = redmine_web("practitioner1")
    web.http.get(f"{live.redmine_url}/search", params={"q": needle}, timeout=10)
    web.http.get(f"{live.redmine_url}/projects/mash/issues", params={"set_filter": "1", "f[]": f"cf_{field}", f"op[cf_{field}]": "~", f"v[cf_{field}][]": needle},
                 timeout=10)
    web.http.get(f"{live.redmine_url}/projects/mash/issues?set_filter=1&f%5B%5D=subject&op%5Bsubject%5D=~&v%5Bsubject%5D%5B%5D={needle}", timeout=10)
    rest.get_json("/issues.json", **{f"cf_{field}": f"~{needle}"})
    rest.get_json("/search.json", q=needle)

    outputs += [
        live.cli("audit", "show").stdout,
        live.cli("breaches", "--all").stdout,
        live.cli("inbox").stdout,
        requests.get(f"{live.service_url}/metrics", timeout=10).text,
    ]
    live.settle()
    # The service's logs, and Redmine's own (which the shim filters).
    logs = {path.name: path.read_text(errors="replace") for path in (live.root / "logs").glob("*.log")}
    logs["redmine production.log"] = (live.instance.path / "log" / "production.log").read_text(errors="replace")

    assert any("(R-" in e for e in errors)  # refusals did happen, with rule messages
    assert any("breach" in line for line in outputs[-3].splitlines())
    wait_until(lambda: TAG in json.dumps(rest.issue(tickets[0])), what="markers stored in Redmine itself")  # the data is there...
    assert "Started GET" in logs["redmine production.log"] and "[FILTERED]" in logs["redmine production.log"]
    # The store keeps no case details: its database and WAL files, read as bytes.
    store_files = {p.name: read_from_another_process(p).decode("latin-1") for p in live.root.glob("infoshare.sqlite3*") if p.suffix != ".lock"}
    assert "infoshare.sqlite3" in store_files
    for name, text in {**logs, **store_files, **{f"output {i}": o for i, o in enumerate(outputs)}, **{f"error {i}": e for i, e in enumerate(errors)}}.items():
        assert TAG not in text, f"a personal-data marker leaked into {name}: ...{text[max(0, text.find(TAG) - 200):text.find(TAG) + 60]}..."


def test_what_holds_case_details_or_secrets_is_not_readable_by_other_users(live):
    modes = {}
    for path in [*live.root.glob("infoshare.sqlite3*"), live.admin_key_path, live.bot_key_path, live.config_path]:
        modes[path.name] = path.stat().st_mode & 0o777
    for path in (live.root / "logs").glob("*.log"):
        modes[path.name] = path.stat().st_mode & 0o777
    redmine_log = live.instance.path / "log" / "production.log"
    modes["production.log"] = redmine_log.stat().st_mode & 0o777
    modes["Redmine's log folder"] = redmine_log.parent.stat().st_mode & 0o777
    assert {"infoshare.sqlite3", "admin.key", "bot.key", "config.toml", "web.log", "redmine.log"} <= set(modes)
    readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o007}
    assert readable_by_others == {}
    store = {"infoshare.sqlite3", "infoshare.sqlite3-wal", "infoshare.sqlite3-shm"}
    assert all(modes[name] == 0o600 for name in modes if name in store or name.endswith((".key", ".toml"))), {n: oct(m) for n, m in modes.items()}

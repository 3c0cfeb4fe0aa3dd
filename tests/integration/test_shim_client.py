"""The shim's client (lib/redmine_infoshare/service_client.rb), which sends
the gate's question before Redmine's own validations and reads the answer
after them: against the real service over HTTP, and over HTTPS with the
service's certificate checked."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import pytest
import trustme

from devstack import processes
from devstack.stack import BIN_DIR, PROJECT_DIR
from tests.support.rest import intake_values
from tests.support.waiting import wait_until
from tests.support.releases import on_both_redmines

CHECK_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "shim_gate_check.rb"


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2, context=context).close()
        return True
    except OSError:
        return False


def ask_through_the_shim(live, service_url: str, **env: str) -> dict:
    out = live.instance.runner(
        CHECK_SCRIPT,
        {
            "INFOSHARE_SERVICE_URL": service_url,
            "INFOSHARE_WEBHOOK_SECRET": live.config().webhook.secret,
            "INFOSHARE_TRACKER": "Information request",
            **env,
        },
    )
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def tls_service(live, tmp_path_factory):
    """The service again, behind TLS with a certificate from a test CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    port = processes.free_port()
    env = {**live.service_env(), "GUNICORN_CMD_ARGS": f"--certfile={folder / 'cert.pem'} --keyfile={folder / 'key.pem'}"}
    argv = [str(BIN_DIR / "infoshare"), "--config", str(live.config_path), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    pid = folder / "web.pid"
    proc = processes.start(argv, log_path=folder / "web.log", pid_path=pid, env=env, cwd=PROJECT_DIR)
    try:
        url = f"https://127.0.0.1:{port}"
        trusting = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        wait_until(lambda: proc.poll() is not None or _answers(f"{url}/healthz", trusting), timeout=30, what="the TLS service")
        assert proc.poll() is None, (folder / "web.log").read_text()[-2000:]
        yield url, folder / "ca.pem"
    finally:
        processes.stop_pidfile(pid)


@on_both_redmines
def test_the_shim_asks_the_gate_over_http(live, rest):
    issue_id = rest.create_issue("practitioner1", intake_values(), subject="Shim client over HTTP")
    answer = ask_through_the_shim(live, live.service_url)
    assert answer == {"issue_id": issue_id, "reachable": True, "messages": []}


@on_both_redmines
def test_the_shim_asks_the_gate_over_https_and_checks_the_certificate(live, rest, tls_service):
    url, ca = tls_service
    issue_id = rest.create_issue("practitioner1", intake_values(), subject="Shim client over HTTPS")
    assert ask_through_the_shim(live, url, SSL_CERT_FILE=str(ca)) == {"issue_id": issue_id, "reachable": True, "messages": []}
    # A certificate Redmine does not trust: no answer, so the fail mode applies.
    assert ask_through_the_shim(live, url)["reachable"] is False


@on_both_redmines
def test_redmine_says_what_the_gate_has_cost_its_saves(live, rest):
    """/infoshare/state.json (administrators only) counts this Redmine
    process's gate questions and the time its saves spent asking and then
    waiting for the answer (the gate benchmark reads it)."""
    before = rest.get_json("/infoshare/state.json")["shim"]["gate_timing"]
    issue_id = rest.create_issue("practitioner1", intake_values(), subject="Gate timing")
    rest.update_issue("practitioner1", issue_id, notes="A second gated save")
    state = rest.get_json("/infoshare/state.json")
    shim = state["shim"]
    assert set(state["process"]) == {"gc_runs", "gc_ms"} and state["process"]["gc_runs"] >= 0  # the process's collector
    after = shim["gate_timing"]
    assert after["questions"] - before["questions"] >= 2
    assert after["ask_ms"] > before["ask_ms"] and after["wait_ms"] >= before["wait_ms"]
    # Of the asking: reading the history (the second save's) and sending.
    assert after["history_ms"] > before["history_ms"] and after["send_ms"] > before["send_ms"]
    assert after["ask_ms"] - before["ask_ms"] >= after["history_ms"] - before["history_ms"] + after["send_ms"] - before["send_ms"]
    assert set(after) == {"questions", "ask_ms", "history_ms", "send_ms", "wait_ms"}  # counts and times, nothing of a case
    # The second save committed, so this process remembers the request's history.
    assert shim["history_remembered"] >= 1
    with pytest.raises(Exception, match="forbidden"):
        rest.as_user("practitioner1").engine.request("get", f"{rest.url}/infoshare/state.json")

"""The benchmarks themselves. Each takes the BenchStack and yields results:
{name, measured, goal, met, method, details, notes}.

Everything runs against what production runs: Debian's Redmine with the real
shim, the service under gunicorn, the real store. Both sides of each ratio are
measured in the same run, interleaved where they share a machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import http.client
import itertools
import json
import logging
import multiprocessing
import os
import random
import selectors
import shutil
import socket
import sqlite3
import statistics
import tempfile
import time
import uuid
import zoneinfo
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from devstack import processes
from devstack.stack import BIN_DIR, PROJECT_DIR, stack_config_text
from plugin.service.gate_decision import GateOutcome, decide
from plugin.service.wiring import build_services
from plugin.adapters.store import Store
from plugin.clock import utcnow
from schemas.gate_messages import GateRequestSchema
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.calendar import WorkingCalendar
from plugin.domain.record import FieldKey, Urgency
from tests.support.dates import local_today as today
from tests.support.payloads import as_sent, shim_headers
from tests.support.redmine_env import LiveStack, snapshot
from tests.support.rest import RedmineRest, decision_values, intake_values, share_values
from tests.support import inbox_rows

F = FieldKey
S = StatusKey
BENCH_ROOT = PROJECT_DIR / "var" / "bench"
SEED_SCRIPT = Path(__file__).with_name("seed_requests.rb")
LONG_HISTORY_SCRIPT = Path(__file__).with_name("long_history.rb")
QUESTION_SCRIPT = Path(__file__).with_name("gate_question.rb")
PG_URL = os.environ.get("INFOSHARE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class BenchError(RuntimeError):
    """A benchmark could not measure what it should (a refused update, a
    service that did not start): the message says which and where to look."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class BenchStack:
    """One Redmine instance (a copy of the test snapshot: provisioned, demo
    users) and the service's web process under gunicorn. Besides the stack's
    own Redmine process, which the other benchmarks use, two twin processes
    ("slots" a and b) serve the same database for the gate benchmark: started
    together and given the same requests, one with the shim's gate and one
    with INFOSHARE_GATE=off, so the two sides differ in nothing but the gate
    (not in their age, their heap or what they served before). Two
    processes still differ a little in speed of their own, so the gate
    benchmark restarts them with the sides swapped half way, and once more
    with the gate off on both, as a control that shows the method's error. The scheduler is not running: each benchmark drains
    the inbox itself when it needs to, so nothing else competes for the two
    cores."""

    SLOTS = ("a", "b")
    GATE_OFF = {"INFOSHARE_GATE": "off"}

    def __init__(self, quick: bool):
        self.quick = quick

    def __enter__(self) -> "BenchStack":
        shutil.rmtree(BENCH_ROOT, ignore_errors=True)
        BENCH_ROOT.mkdir(parents=True)
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=BENCH_ROOT))
        # What the in-process worker and jobs log goes to a file, not the terminal.
        handler = logging.FileHandler(self.root / "bench.log")
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        print("Preparing Redmine (the test snapshot) and the service...", flush=True)
        self.live = LiveStack.from_snapshot(snapshot(), self.root / "stack")
        self.live.start_redmine()
        self.live.start_service()
        processes.stop_pidfile(self.live.pid("scheduler"))
        self.twin_ports = {slot: processes.free_port() for slot in self.SLOTS}
        self.start_twins({"a": True, "b": False})
        self.admin_key = self.live.admin_key_path.read_text().strip()
        self.rest = RedmineRest(self.live.redmine_url, self.admin_key, self.live.config())
        self.secret = self.live.config().webhook.secret
        return self

    def start_twins(self, gated: dict[str, bool]) -> None:
        """(Re)starts the twins, each with the gate on or off, together."""
        self.stop_twins()
        started = {
            slot: self.live.instance.start(
                self.twin_ports[slot],
                log_path=self.live.log(f"redmine-twin-{slot}"),
                pid_path=self.live.pid(f"redmine-twin-{slot}"),
                env={"INFOSHARE_SERVICE_URL": self.live.service_url, "INFOSHARE_WEBHOOK_SECRET": self.live.config().webhook.secret,
                     **({} if gated[slot] else self.GATE_OFF)},
            )
            for slot in self.SLOTS
        }
        for slot, proc in started.items():
            processes.wait_http(f"{self.twin_url(slot)}/", timeout=90, proc=proc, log_path=self.live.log(f"redmine-twin-{slot}"))

    def stop_twins(self) -> None:
        for slot in self.SLOTS:
            processes.stop_pidfile(self.live.pid(f"redmine-twin-{slot}"))

    def __exit__(self, *exc) -> None:
        self.stop_twins()
        self.live.teardown()
        print(f"Logs and files of this run: {self.root}", flush=True)

    def twin_url(self, slot: str) -> str:
        return f"http://127.0.0.1:{self.twin_ports[slot]}"

    def wait_for_events(self, quiet_seconds: float = 1.5, timeout: float = 120) -> None:
        """The shim posts events from a background thread after each save:
        wait until no new delivery has arrived for `quiet_seconds`."""
        store = self.live.store()
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = sum(store.inbox.counts().values())
            if total != last:
                last, since = total, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return
            time.sleep(0.1)
        raise BenchError(f"events were still arriving after {timeout} s")

    def drain(self) -> tuple[int, int]:
        """Process every pending event in this process; returns (events
        processed, Redmine requests made)."""
        services = build_services(self.live.config(), echo=lambda _line: None)
        worker = services.inbox_worker()
        result = worker.drain_all(max_rounds=100_000)
        if result.failed or result.parked:
            raise BenchError(f"{result.failed} events failed and {result.parked} were parked; see the store in {self.live.root}")
        return result.processed, services.redmine.requests_sent


# -- gate overhead -------------------------------------------------------------------------


def _new_requests(bench: BenchStack, count: int, label: str) -> list[int]:
    """Requests as a practitioner logs them (a letter, so no approval is due)."""
    return [
        bench.rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject=f"{label} {n}")
        for n in range(count)
    ]


def _being_assessed(bench: BenchStack, issues: list[int]) -> list[int]:
    """The requests moved on to Assessing, where the practitioner may write
    the decision's reasons (at Received only the intake can be changed, and
    Redmine ignores a change to any other field)."""
    for issue_id in issues:
        bench.rest.update_issue("practitioner1", issue_id, status=StatusKey.ASSESSING)
    return issues


class TimedUpdates:
    """REST updates of a request as practitioner1 (an administrator's key
    with X-Redmine-Switch-User), one keep-alive connection per Redmine."""

    def __init__(self, bench: BenchStack):
        # A long text the rules only ask to be set of (not one of the facts
        # an approval is given on), so the timed saves do not themselves grow
        # the history the gate is told.
        self.field_id = bench.rest.field_ids[F.DECISION_REASONS]
        self.bench = bench
        # Every timed save writes a text no earlier save wrote: a save that
        # sets the value already stored changes nothing, writes no journal
        # and costs Redmine a fifth less, and when the twins took turns with
        # the same text on the same request, every second save was one; the
        # medians then compared two mixtures of such saves and real ones.
        self.saves = itertools.count()
        self.last_text = ""
        self.reconnect()

    def reconnect(self) -> None:
        """New connections, after the twins were restarted."""
        self.sessions = {}
        for url in (self.bench.twin_url(slot) for slot in self.bench.SLOTS):
            session = requests.Session()
            session.headers.update(
                {"X-Redmine-API-Key": self.bench.admin_key, "X-Redmine-Switch-User": "practitioner1", "Content-Type": "application/json"}
            )
            self.sessions[url] = session

    @staticmethod
    def text(n: int) -> str:
        return f"Attendance is relevant to the enquiry ({n})"

    def put(self, url: str, issue_id: int) -> float:
        self.last_text = self.text(next(self.saves))
        body = json.dumps({"issue": {"custom_fields": [{"id": self.field_id, "value": self.last_text}]}})
        started = time.perf_counter()
        response = self.sessions[url].put(f"{url}/issues/{issue_id}.json", data=body, timeout=60)
        took = time.perf_counter() - started
        if response.status_code != 204:
            raise BenchError(f"update of #{issue_id} through {url} answered HTTP {response.status_code}; the benchmark needs updates the rules allow")
        return took


def service_gate_seconds(bench: BenchStack) -> tuple[float, int]:
    """The service's own total time deciding gate requests, and how many
    (from /metrics: the infoshare_gate_duration_seconds histogram)."""
    text = requests.get(f"{bench.live.service_url}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        if line.startswith(("infoshare_gate_duration_seconds_sum", "infoshare_gate_duration_seconds_count")):
            name, value = line.rsplit(" ", 1)
            values[name.split("{")[0]] = float(value)
    return values.get("infoshare_gate_duration_seconds_sum", 0.0), int(values.get("infoshare_gate_duration_seconds_count", 0))


def _long_history(bench: BenchStack, issue_id: int, journals: int, facts: bool = True) -> dict[str, Any]:
    env = {"ISSUE_ID": str(issue_id), "JOURNALS": str(journals), "AUTHOR": "practitioner1", "FACTS": "1" if facts else "0"}
    out = bench.live.instance.runner(LONG_HISTORY_SCRIPT, env, timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def _gate_rounds(bench: BenchStack, pool: list[int], rounds: int, timed: "TimedUpdates", rng: random.Random) -> dict[str, list[float]]:
    """PUTs through both twins, alternating in random order on the same
    requests; the times by slot."""
    times: dict[str, list[float]] = {slot: [] for slot in bench.SLOTS}
    for n in range(rounds):
        issue_id = pool[n % len(pool)]
        order = list(bench.SLOTS)
        rng.shuffle(order)  # neither side always goes first
        for slot in order:
            times[slot].append(timed.put(bench.twin_url(slot), issue_id))
    return times


def _warm(bench: BenchStack, timed: "TimedUpdates", issues: list[int]) -> None:
    for n in range(10):  # Rails loads lazily
        for slot in bench.SLOTS:
            timed.put(bench.twin_url(slot), issues[n % len(issues)])
    # Each timed save changes the text (and so writes a journal), as a
    # practitioner's save does; a save Redmine ignored would be measured as
    # one that costs nothing of its own.
    issue_id = issues[0]
    timed.put(bench.twin_url(bench.SLOTS[0]), issue_id)
    stored = next(f["value"] for f in bench.rest.issue(issue_id)["custom_fields"] if f["id"] == timed.field_id)
    if stored != timed.last_text:
        raise BenchError(f"the timed saves do not change request #{issue_id}: the text stayed as it was")


def _journals_of(bench: BenchStack, issues: list[int]) -> int:
    """How many journals the requests have, read from Redmine's database."""
    with contextlib.closing(sqlite3.connect(f"file:{bench.live.instance.db_path}?mode=ro", uri=True, timeout=30)) as db:
        marks = ",".join("?" * len(issues))
        return db.execute(f"SELECT COUNT(*) FROM journals WHERE journalized_type = 'Issue' AND journalized_id IN ({marks})", issues).fetchone()[0]


def _twin_states(bench: BenchStack) -> dict[str, dict[str, Any]]:
    """Each twin's /infoshare/state.json: what the gate has cost its saves
    so far as the shim counts it inside Redmine (`shim`), and its garbage
    collector (`process`)."""
    found = {}
    for slot in bench.SLOTS:
        r = requests.get(f"{bench.twin_url(slot)}/infoshare/state.json", headers={"X-Redmine-API-Key": bench.admin_key}, timeout=60)
        r.raise_for_status()
        found[slot] = r.json()
    return found


def _ratios(on: list[float], off: list[float]) -> tuple[float, float]:
    return statistics.median(on) / statistics.median(off), percentile(on, 95) / percentile(off, 95)


# The gate benchmark's pairs of twin processes: GATE_SWAPS with the gate in
# a then in b, and CONTROL_PAIRS with the gate in neither.
GATE_SWAPS = 2
CONTROL_PAIRS = 2


def gate(bench: BenchStack) -> Iterator[dict[str, Any]]:
    rounds = 40 if bench.quick else 400
    long_journals = 200 if bench.quick else 1000
    pool = _being_assessed(bench, _new_requests(bench, 20, "Gate benchmark"))
    long_pool = _being_assessed(bench, _new_requests(bench, 2, "Gate benchmark, long history"))
    # The first with a change to a fact every hundredth save, the second with none.
    seeded = [_long_history(bench, issue_id, long_journals, facts=n == 0) for n, issue_id in enumerate(long_pool)]
    timed = TimedUpdates(bench)
    rng = random.Random(8)
    pools = {"20": pool, str(long_journals): long_pool}
    on: dict[str, list[float]] = {label: [] for label in pools}
    off: dict[str, list[float]] = {label: [] for label in pools}
    control: dict[str, dict[str, list[float]]] = {}
    service_seconds, decided = 0.0, 0
    inside = {label: {"questions": 0, "ask_ms": 0.0, "history_ms": 0.0, "send_ms": 0.0, "wait_ms": 0.0} for label in pools}
    remembered = 0
    collected: dict[tuple[str, str], list] = {}  # (journals, side): GC runs, ms, saves
    # The rounds in four parts, the gate in twin a, then b, a and b (both
    # restarted each time with the sides swapped: a pair of processes
    # differs a little in speed of its own, and four pairs average it out
    # better than two), then the control in two parts: the gate off in both.
    phases = [{"a": True, "b": False}, {"a": False, "b": True}] * GATE_SWAPS + [{"a": False, "b": False}] * CONTROL_PAIRS
    for phase, gated in enumerate(phases):
        if phase:
            bench.start_twins(gated)
            timed.reconnect()
        _warm(bench, timed, pool + long_pool)
        gate_slot = next((slot for slot, is_on in gated.items() if is_on), None)
        for label, issues in pools.items():
            before, states_before, journals_before = service_gate_seconds(bench), _twin_states(bench), _journals_of(bench, issues)
            times = _gate_rounds(bench, issues, rounds // (2 * GATE_SWAPS), timed, rng)
            after, states_after = service_gate_seconds(bench), _twin_states(bench)
            saves, written = sum(len(t) for t in times.values()), _journals_of(bench, issues) - journals_before
            if written != saves:
                raise BenchError(f"{saves} timed saves wrote {written} journals: each must change the request, as a practitioner's does")
            for slot in bench.SLOTS:
                side = "control" if gate_slot is None else "on" if slot == gate_slot else "off"
                gc_before, gc_after = states_before[slot]["process"], states_after[slot]["process"]
                runs, spent, saves = collected.get((label, side), [0, 0.0, 0])
                collected[(label, side)] = [runs + gc_after["gc_runs"] - gc_before["gc_runs"], spent + float(gc_after["gc_ms"]) - float(gc_before["gc_ms"]),
                                            saves + len(times[slot])]
            if gate_slot is None:
                for slot, t in times.items():
                    control.setdefault(label, {}).setdefault(slot, []).extend(t)
                continue
            if label == "20":
                service_seconds, decided = service_seconds + after[0] - before[0], decided + after[1] - before[1]
            shim_before, shim_after = states_before[gate_slot]["shim"], states_after[gate_slot]["shim"]
            for key in inside[label]:
                inside[label][key] += shim_after["gate_timing"][key] - shim_before["gate_timing"][key]
            remembered = max(remembered, shim_after["history_remembered"])
            for slot, t in times.items():
                (on if slot == gate_slot else off)[label].extend(t)
    bench.stop_twins()  # no other benchmark uses them
    ratios = {label: _ratios(on[label], off[label]) for label in pools}
    errors = {label: _ratios(times["a"], times["b"]) for label, times in control.items()}
    service_mean = service_seconds / decided if decided else 0.0
    rounds_question = 30 if bench.quick else 300
    questions = [_gate_question(bench, issue_id, timed.field_id, rounds_question) for issue_id in (pool[0], *long_pool)]
    (short_ratio, long_ratio), sizes = ratios.values(), [q["bytes"] for q in questions]
    told = [q["journals"] for q in questions]
    # Flat: a long history of drafts and notes adds nothing to the question
    # (within 5 %); its changes to the facts an approval is given on add what
    # the rules must read, a bounded size each.
    per_told = (sizes[1] - sizes[0]) / (told[1] - told[0]) if told[1] > told[0] else 0.0
    flat = sizes[2] <= 1.05 * sizes[0] and per_told <= 250
    yield {
        "name": "gate overhead",
        "measured": (
            f"20 journals: median {short_ratio[0]:.3f}, p95 {short_ratio[1]:.3f}; {long_journals} journals: median {long_ratio[0]:.3f}, "
            f"p95 {long_ratio[1]:.3f}; the question {sizes[0]:,} bytes, and {sizes[2]:,} with {long_journals} journals of drafts and "
            f"notes ({sizes[1]:,} with {told[1]} changes to facts among them)"
        ),
        "goal": "<= 1.05 (median and p95) at both; the question's size flat",
        "met": all(r <= 1.05 for pair in ratios.values() for r in pair) and flat,
        "method": (
            f"{rounds} REST updates (PUT /issues/N.json, the decision's reasons changed at Assessing, as practitioner1) through each "
            "of two twin Redmine processes serving the same database, started together and warmed alike, one with the gate and "
            "one with INFOSHARE_GATE=off; each save writes a text none before it wrote, so each changes the request and writes "
            "a journal (checked against the journals written); the two sides alternate in random order on the same requests, so both see the same "
            f"histories. The rounds are run in {2 * GATE_SWAPS} parts, both processes restarted between them with the sides "
            "swapped, so neither process's own speed counts for or against the gate. Both send events. First on 20 requests "
            f"with about 20 journals each, then on two requests with {long_journals} more journals each (notes, drafts of a long "
            "text with a megabyte pasted and taken out; on the first, a change to a fact an approval is given on every hundredth "
            f"save). Then the control: {CONTROL_PAIRS} more parts with the gate off in both processes, whose ratio is the "
            "method's own error."
        ),
        "details": [
            *(f"{label} journals: gate on median {ms(statistics.median(on[label]))}, p95 {ms(percentile(on[label], 95))}; "
              f"gate off median {ms(statistics.median(off[label]))}, p95 {ms(percentile(off[label], 95))}" for label in pools),
            "control, the gate off in both (twin a against twin b): "
            + "; ".join(f"{label} journals median {m:.3f}, p95 {p:.3f}" for label, (m, p) in errors.items()),
            f"the long histories seeded: {seeded[0]['journals']:,} journals with {seeded[0]['details']:,} changes each",
            f"the question grows by {per_told:.0f} bytes per journal it is told of (a change to a field the rules read: "
            f"{told[0]}, {told[1]} and {told[2]} on the three requests) and by {sizes[2] - sizes[0]:+,} bytes for "
            f"{long_journals} journals of drafts and notes",
            "inside the gated twin, per save (the shim's own count, /infoshare/state.json): "
            + "; ".join(f"{label} journals: asking (building and sending the question) {t['ask_ms'] / max(t['questions'], 1):.2f} ms "
                        f"(of which reading the history {t['history_ms'] / max(t['questions'], 1):.2f} ms, connecting and sending "
                        f"{t['send_ms'] / max(t['questions'], 1):.2f} ms), then waiting for the answer after Redmine's validations "
                        f"{t['wait_ms'] / max(t['questions'], 1):.2f} ms"
                        for label, t in inside.items())
            + f"; the requests whose history the gated twin remembered: {remembered}",
            f"the service's own time per decision (its /metrics histogram, 20 journals): mean {ms(service_mean)} over {decided} decisions",
            "Redmine's garbage collector per save (GC.stat of each twin): "
            + "; ".join(f"{label} journals, gate {side}: {runs / max(saves, 1):.3f} runs, {spent / max(saves, 1):.2f} ms"
                        for (label, side), (runs, spent, saves) in sorted(collected.items()) if side != "control"),
            *(
                f"building the question inside Redmine (request #{q['issue_id']}, {q['journals']} journals told of, {q['bytes']:,} bytes): "
                + "; ".join(f"{part} {figures['ms']:.2f} ms, {figures['objects']:,} objects" for part, figures in q["parts"].items())
                for q in questions
            ),
        ],
    }


def _gate_question(bench: BenchStack, issue_id: int, field_id: int, rounds: int) -> dict[str, Any]:
    """The shim's own cost of building the gate's question, by part, timed
    inside the benchmark's Redmine with `rails runner` (gate_question.rb)."""
    out = bench.live.instance.runner(QUESTION_SCRIPT, {"ISSUE_ID": str(issue_id), "FIELD_ID": str(field_id), "ROUNDS": str(rounds)}, timeout=600)
    return json.loads(out.strip().splitlines()[-1])


# -- the gate service -----------------------------------------------------------------------


def _gate_request(bench: BenchStack) -> dict[str, Any]:
    """A gate request as the shim builds one, from a real request's data: the
    previous issue, its journals, the statuses and the project's members."""
    rest = bench.rest
    issue_id = bench.rest.create_issue("practitioner1", intake_values(recipient_entitlement="In doubt"), subject="Gate service benchmark")
    rest.update_issue("practitioner1", issue_id, decision_values())
    rest.update_issue("practitioner1", issue_id, {F.INFORMATION_REQUESTED: "Attendance and exclusions"})
    previous = rest.issue(issue_id)
    journals = previous.pop("journals")
    proposed = json.loads(json.dumps(previous))
    for cf in proposed["custom_fields"]:
        if cf["id"] == rest.field_ids[F.INFORMATION_REQUESTED]:
            cf["value"] = "Attendance, exclusions and health"
    members = rest.get_json("/projects/mash/memberships.json", limit=100)["memberships"]
    principals = [
        {"id": m["user"]["id"], "name": m["user"]["name"], "roles": [r["name"] for r in m["roles"]]} for m in members if "user" in m
    ]
    actor = next(p for p in principals if p["name"] == previous["author"]["name"])
    return {
        "request_id": str(uuid.uuid4()),
        "issue": proposed,
        "previous": previous,
        "journals": journals,
        "statuses": [{"id": s["id"], "name": s["name"]} for s in rest.get_json("/issue_statuses.json")["issue_statuses"]],
        "principals": principals,
        "actor": {"id": actor["id"], "login": "practitioner1", "admin": False},
    }


def _in_process_rate(bench: BenchStack, body: bytes, seconds: float) -> tuple[float, float]:
    """Decisions per second (parse + validate + decide), and decide() alone."""
    config = bench.live.config()
    schema = GateRequestSchema()
    first = decide(config, schema.load(json.loads(body)), utcnow())
    if first.outcome is not GateOutcome.ALLOWED:
        raise BenchError(f"the benchmark's gate request was {first.outcome.value}; it should be an allowed save")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        decide(config, schema.load(json.loads(body)), utcnow())
        count += 1
    full = count / (time.perf_counter() - started)
    data = schema.load(json.loads(body))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        decide(config, data, utcnow())
        count += 1
    return full, count / (time.perf_counter() - started)


def open_loop(url: str, body: bytes | None, secret: str, rate: int, seconds: float) -> list[float]:
    """Send requests at a fixed rate whatever the answers' speed (an open loop:
    a slow answer delays no later request), a new connection each, as the shim
    makes; `body` None sends GETs. One thread multiplexes every connection
    with non-blocking sockets, so the load generator's own threads never wait
    for each other and count against the service. Latency runs from when the
    request was due, so a client that falls behind counts against the
    service, never hides it."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    total = int(rate * seconds)
    latencies: list[float] = [0.0] * total
    errors: list[str] = []
    selector = selectors.DefaultSelector()
    start = time.perf_counter() + 0.2
    sent = done = 0

    def request() -> bytes:
        if body is None:
            return f"GET {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        headers = {"Host": f"{host}:{port}", "Connection": "close", "Content-Length": str(len(body)), **shim_headers(secret, body)}
        return ("POST " + parts.path + " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body

    while done < total:
        while sent < total and start + sent / rate <= time.perf_counter():
            sock = socket.socket()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect_ex((host, port))
            selector.register(sock, selectors.EVENT_WRITE, [sent, request(), bytearray()])
            sent += 1
        wait = max(0.0, start + sent / rate - time.perf_counter()) if sent < total else 1.0
        for key, events in selector.select(wait):
            sock, state = key.fileobj, key.data
            if events & selectors.EVENT_WRITE:
                state[1] = state[1][sock.send(state[1]) :]
                if not state[1]:
                    selector.modify(sock, selectors.EVENT_READ, state)
                continue
            chunk = sock.recv(65536)
            if chunk:
                state[2] += chunk
                continue
            index, answer = state[0], bytes(state[2])
            latencies[index] = time.perf_counter() - (start + index / rate)
            if not answer.startswith(b"HTTP/1.1 200"):
                errors.append(answer[:12].decode(errors="replace") or "no answer")
            selector.unregister(sock)
            sock.close()
            done += 1
    selector.close()
    if errors:
        raise BenchError(f"{len(errors)} requests to {url} failed ({errors[0]}); see its log")
    return latencies


def gate_service(bench: BenchStack) -> Iterator[dict[str, Any]]:
    body = json.dumps(_gate_request(bench)).encode()
    (bench.root / "gate-request.json").write_bytes(body)  # for profiling: python -m cProfile ...
    full, decide_only = _in_process_rate(bench, body, 1.0 if bench.quick else 5.0)
    yield {
        "name": "gate decisions in-process",
        "measured": f"{full:,.0f}/s",
        "goal": "(reported)",
        "met": True,
        "method": (
            f"One gate request ({len(body):,} bytes: a phone request in doubt with its decision recorded, 3 journals, "
            "the project's members) parsed, validated and decided repeatedly in one Python process."
        ),
        "details": [f"parse + validate + decide: {full:,.0f}/s ({1e6 / full:.0f} us each)", f"decide alone: {decide_only:,.0f}/s ({1e6 / decide_only:.0f} us each)"],
    }
    rate, seconds = 200, 5 if bench.quick else 30
    service = bench.live.service_url
    open_loop(f"{service}/v1/gate", body, bench.secret, rate, 1.0)  # warm the workers
    # The floor: the same load on /healthz, which does no work, shows what
    # this machine's process wake-ups and loopback cost before any decision.
    floor = open_loop(f"{service}/healthz", None, bench.secret, rate, seconds)
    latencies = open_loop(f"{service}/v1/gate", body, bench.secret, rate, seconds)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    yield {
        "name": "gate over HTTP at 200/s",
        "measured": f"p50 {ms(p50)}, p99 {ms(p99)}",
        "goal": "p99 <= 5 ms at 200 requests/s",
        "met": p99 <= 0.005,
        "method": (
            f"The same request POSTed, signed, to /v1/gate under gunicorn (the shipped configuration, {bench.live.web_workers} sync "
            f"workers) at a fixed {rate} requests/s for {seconds} s ({len(latencies):,} requests), a new connection each (as the "
            "shim), from one client thread multiplexing non-blocking sockets on the same machine. Latency from when each request "
            "was due to its answer. Before it, in the same run, the same load on /healthz, which does no work: the floor."
        ),
        "details": [
            f"/v1/gate: p50 {ms(p50)}, p90 {ms(percentile(latencies, 90))}, p99 {ms(p99)}, max {ms(max(latencies))}",
            f"/healthz (the floor): p50 {ms(percentile(floor, 50))}, p90 {ms(percentile(floor, 90))}, p99 {ms(percentile(floor, 99))}, "
            f"max {ms(max(floor))}",
        ],
    }


# -- ingestion ------------------------------------------------------------------------------


def _post_events(args: tuple[str, str, list[bytes]]) -> tuple[int, list[str]]:
    url, secret, bodies = args
    parts = urlsplit(url)
    accepted, errors = 0, []
    for body in bodies:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("POST", parts.path, body=body, headers=shim_headers(secret, body))
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        if response.status == 202:
            accepted += 1
        else:
            errors.append(f"HTTP {response.status}")
    return accepted, errors


@contextlib.contextmanager
def _postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for the store, or None without a server."""
    name = f"infoshare_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextlib.contextmanager
def _ingestion_service(bench: BenchStack, name: str, database_url: str) -> Iterator[str]:
    """A second web service (same code, same gunicorn configuration) with an
    empty store of its own, so the benchmark's events touch nothing else."""
    live = bench.live
    config_path = bench.root / f"{name}.toml"
    config_path.write_text(
        stack_config_text(
            redmine_url=live.redmine_url,
            api_key=live.bot_key_path.read_text().strip(),
            service_url=live.service_url,
            database_url=database_url,
            secret=bench.secret,
        )
    )
    port = processes.free_port()
    pid_path = bench.root / f"{name}.pid"
    log_path = live.log(name)
    env = {**live.service_env(), "INFOSHARE_CONFIG": str(config_path)}
    argv = [str(BIN_DIR / "infoshare"), "--config", str(config_path), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(live.web_workers)]
    proc = processes.start(argv, log_path=log_path, pid_path=pid_path, env=env, cwd=PROJECT_DIR)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, proc=proc, log_path=log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop_pidfile(pid_path)


def _real_events(bench: BenchStack, wanted: int = 200) -> list[dict[str, Any]]:
    """Events the shim sent for this run's requests, as it sent them (the
    earlier benchmarks made some; if run alone, make a few)."""
    if not bench.live.store().inbox.counts()["pending"] + bench.live.store().inbox.counts()["processed"]:
        _new_requests(bench, 5, "Ingestion benchmark")
        bench.wait_for_events()
    events = [as_sent(row) for row, _ in zip(inbox_rows.every(bench.live.store()), range(wanted))]
    if not events:
        raise BenchError("Redmine sent no events; see the logs of this run")
    return events


def _ingest(bench: BenchStack, name: str, database_url: str, total: int, clients: int) -> dict[str, Any]:
    events = _real_events(bench)
    rng = random.Random(5)
    bodies = [json.dumps({**rng.choice(events), "delivery_id": str(uuid.uuid4())}).encode() for _ in range(total)]
    with _ingestion_service(bench, name, database_url) as url:
        _post_events((f"{url}/v1/events", bench.secret, bodies[:50]))  # warm up, not counted
        shares = [(f"{url}/v1/events", bench.secret, bodies[50 + n :: clients]) for n in range(clients)]
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            started = time.perf_counter()
            answers = pool.map(_post_events, shares)
            took = time.perf_counter() - started
    accepted = sum(a for a, _ in answers)
    errors = [e for _, es in answers for e in es]
    stored = Store(database_url).inbox.counts()["pending"]
    if errors or stored != total:
        raise BenchError(f"{len(errors)} events refused ({errors[:1]}); {stored} of {total} in the inbox; see {bench.live.log(name)}")
    return {"rate": accepted / took, "accepted": accepted, "took": took, "stored": stored}


def ingestion(bench: BenchStack) -> Iterator[dict[str, Any]]:
    total, clients = (1_000, 4) if bench.quick else (10_000, 4)
    method = (
        "Signed shim events (the real events of this run's requests, under new delivery ids) POSTed to /v1/events by "
        f"{clients} client processes on the same machine, a new connection each, to a web service under gunicorn "
        f"({bench.live.web_workers} sync workers) with an empty store; accepted = answered 202 and found pending in the store afterwards."
    )
    sqlite = _ingest(bench, "ingestion-sqlite", f"sqlite:///{bench.root / 'ingestion.sqlite3'}", total, clients)
    yield {
        "name": "ingestion (SQLite store)",
        "measured": f"{sqlite['rate']:,.0f} events/s",
        "goal": ">= 500/s on 2 cores",
        "met": sqlite["rate"] >= 500,
        "method": method,
        "details": [f"{sqlite['accepted']:,} events in {sqlite['took']:.1f} s; {sqlite['stored']:,} pending in the inbox afterwards"],
    }
    with _postgres_database() as pg_url:
        if pg_url is None:
            return
        pg = _ingest(bench, "ingestion-postgres", pg_url, total, clients)
        yield {
            "name": "ingestion (PostgreSQL store)",
            "measured": f"{pg['rate']:,.0f} events/s",
            "goal": "(reported; the goal is for the inbox as shipped, on SQLite)",
            "met": True,
            "method": (
                "As above, with the store on this machine's PostgreSQL (the multi-instance store), whose server shares the "
                "same two cores and flushes each event's commit to disk before the 202."
            ),
            "details": [f"{pg['accepted']:,} events in {pg['took']:.1f} s; {pg['stored']:,} pending in the inbox afterwards"],
        }


# -- Redmine calls per event ----------------------------------------------------------------


def _lifecycles(bench: BenchStack, count: int) -> Iterator[None]:
    """What a MASH team does in a day, in steps: the service's answers to one
    step (routing for approval) come before the people's next step. Each
    yield is a point where the service catches up."""
    rest = bench.rest
    routed = []
    for n in range(count):
        clean = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject=f"Calls clean {n}")
        rest.update_issue("practitioner1", clean, decision_values(), status=S.ASSESSING)
        rest.update_issue("practitioner1", clean, share_values(today().isoformat()), status=S.SHARED)
        phone = rest.create_issue("practitioner2", intake_values(recipient_entitlement="In doubt"), subject=f"Calls approval {n}")
        rest.update_issue("practitioner2", phone, decision_values(), status=S.ASSESSING)
        routed.append(phone)
        disputed = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject=f"Calls escalation {n}")
        rest.update_issue("practitioner1", disputed, {F.DISAGREEMENT_RAISED: "1", F.DISAGREEMENT_DETAILS: "Disputed threshold"})
        breach = rest.create_issue(None, intake_values(request_channel="Letter", requester_phone=""), subject=f"Calls breach {n}")
        rest.update_issue(None, breach, {**decision_values(decision_reasons=""), **share_values(today().isoformat())}, status=S.SHARED)
    yield
    for issue_id in routed:
        rest.update_issue("manager1", issue_id, {F.APPROVAL_DECISION: "Approved", F.APPROVAL_NOTES: "Entitlement checked"})
    yield
    for issue_id in routed:
        rest.update_issue("practitioner2", issue_id, share_values(today().isoformat()), status=S.SHARED)
    yield


def calls(bench: BenchStack) -> Iterator[dict[str, Any]]:
    bench.drain()  # what earlier benchmarks left in the inbox; not counted
    count = 3 if bench.quick else 15
    processed = requests_made = 0
    for _ in _lifecycles(bench, count):
        bench.wait_for_events()
        events, made = bench.drain()
        processed += events
        requests_made += made
    per_event = requests_made / processed if processed else float("inf")
    yield {
        "name": "Redmine calls per event",
        "measured": f"{per_event:.2f}",
        "goal": "<= 2 on average",
        "met": per_event <= 2,
        "method": (
            f"{count} of each of four request lifecycles (shared without approval; routed for approval, approved by "
            "manager1, then shared; a disagreement escalated; an administrator's save breaking R-DECISION) made through "
            "Redmine's REST API; the worker drained the inbox after each step, counting every HTTP request it sent to Redmine."
        ),
        "details": [f"{processed} events processed, {requests_made} Redmine requests"],
    }


# -- sweeps -----------------------------------------------------------------------------------


def _timeliness_slots(config, overdue: bool) -> list[dict[str, str]]:
    """Logging times with the Response due and Due date the service would
    write for a Green request (its own calendar): ten days ago for the
    overdue ones, within the last two hours for the rest (due days ahead)."""
    calendar = WorkingCalendar(config.calendar)
    tz = zoneinfo.ZoneInfo(config.calendar.timezone)
    target = config.urgency.targets[Urgency.GREEN]
    now = utcnow().replace(second=0, microsecond=0)
    slots = []
    for minutes in range(0, 120, 5):
        logged = now - (dt.timedelta(days=10) if overdue else dt.timedelta(0)) - dt.timedelta(minutes=minutes)
        due = calendar.add_target(logged, target).astimezone(tz)
        slots.append({"created_on": logged.isoformat(), "start_date": logged.astimezone(tz).date().isoformat(),
                      "response_due": due.strftime("%Y-%m-%d %H:%M"), "due_date": due.date().isoformat()})
    return slots


def _seed(bench: BenchStack, requests_total: int, requests_due: int, escalations: int, overdue: int, incidents: int = 0, incidents_open: int = 0,
          open_requests: int = 0, open_overdue: int = 0) -> float:
    """Closed, complete requests, open escalations and information incidents
    written straight into the benchmark Redmine's database
    (benchmarks/seed_requests.rb)."""
    config = bench.live.config()
    names = config.names
    values = {
        **intake_values(request_channel="Letter", requester_phone=""),
        **decision_values(),
        **share_values(today().isoformat(), retention_category="Child in need"),
        F.LEGAL_HOLD: "0",
    }
    stage = config.escalation.stages[0]
    seed = {
        "project": "mash",
        "author": "practitioner1",
        "service_login": config.redmine.bot_login,
        "today": today().isoformat(),
        "requests": requests_total,
        "requests_due": requests_due,
        "request_values": {names.field(k): v for k, v in values.items() if k is not F.SHARED_ON},
        "shared_on_field": names.field(F.SHARED_ON),
        "category_years": config.retention.category("Child in need").years,
        "escalations": escalations,
        "escalations_overdue": overdue,
        "escalation_values": {
            names.field(F.ESCALATION_STAGE): stage.label,
            names.field(F.POINTS_OF_DISAGREEMENT): "Threshold for sharing",
            names.field(F.URGENT_ESCALATION): "0",
        },
        "escalation_request_status": names.status(S.RECEIVED),
        "escalation_request_values": {
            names.field(k): v
            for k, v in {
                **intake_values(request_channel="Letter", requester_phone=""),
                F.DISAGREEMENT_RAISED: "1",
                F.DISAGREEMENT_DETAILS: "Threshold for sharing",
            }.items()
        },
    }
    if incidents:
        seed.update(
            incidents=incidents,
            incidents_open=incidents_open,
            time_zone=config.calendar.timezone,
            incident_tracker=names.tracker(TrackerKey.INFORMATION_INCIDENT),
            incident_owner=names.group(GroupKey.INFORMATION_GOVERNANCE),
            incident_open_status=names.status(S.INCIDENT_REPORTED),
            incident_closed_status=names.status(S.INCIDENT_CLOSED),
            incident_fields={"aware": names.field(F.BECAME_AWARE_AT), "deadline": names.field(F.ICO_DEADLINE)},
            incident_values={
                names.field(F.INCIDENT_TYPE): "Complaint from the public",
                names.field(F.INCIDENT_SOURCE): "Member of the public",
                names.field(F.PERSONAL_DATA_INVOLVED): "1",
            },
            incident_closed_values={
                names.field(F.RISK_TO_INDIVIDUALS): "Low",
                names.field(F.ICO_REPORT_DECISION): "Not reportable",
                names.field(F.ICO_DECISION_REASON): "No risk to the person",
                names.field(F.INCIDENT_OUTCOME): "Not upheld",
                names.field(F.LESSONS_LEARNED): "None",
            },
        )
    if open_requests:
        seed.update(
            open_requests=open_requests,
            open_overdue=open_overdue,
            open_status=names.status(S.RECEIVED),
            response_due_field=names.field(F.RESPONSE_DUE),
            open_values={names.field(k): v for k, v in intake_values(request_channel="Letter", requester_phone="", urgency="Green").items()},
            overdue_slots=_timeliness_slots(config, overdue=True),
            timely_slots=_timeliness_slots(config, overdue=False),
        )
    started = time.perf_counter()
    bench.live.instance.runner(SEED_SCRIPT, {"SEED": json.dumps(seed)}, timeout=1800)
    return time.perf_counter() - started


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), zoneinfo.ZoneInfo("Europe/London"))


def _timed(fn) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


@dataclasses.dataclass
class FullScan:
    """A job without Redmine's filters: list every issue of the tracker, then
    read and evaluate each as it is now (its history included), as a job
    that cannot select must. The listing is always measured in full; the
    evaluation on every issue, or on a random sample when there are too
    many to wait for (its cost per issue is the same for each, so it is
    scaled by the count, and the figures say so)."""

    listed: int = 0
    list_requests: int = 0
    list_seconds: float = 0.0
    evaluated: int = 0
    eval_requests: int = 0
    eval_seconds: float = 0.0
    acting: int = 0

    @property
    def seconds(self) -> float:
        """The whole scan's time (the evaluation scaled up if sampled)."""
        return self.list_seconds + self.eval_seconds / self.evaluated * self.listed if self.evaluated else self.list_seconds

    @property
    def requests(self) -> int:
        return self.list_requests + round(self.eval_requests / self.evaluated * self.listed) if self.evaluated else self.list_requests

    @property
    def sampled(self) -> bool:
        return self.evaluated < self.listed

    def describe(self) -> str:
        scaled = f" (evaluation measured on a random {self.evaluated:,} and scaled to {self.listed:,})" if self.sampled else ""
        return (
            f"full scan: listing {self.listed:,} issues took {self.list_requests:,} requests and {self.list_seconds:.1f} s; "
            f"with each evaluated {self.requests:,} requests and {self.seconds:.0f} s{scaled}"
        )


class Sweep:
    """Runs a job, or a full scan, counting Redmine requests and seconds."""

    def __init__(self, bench: BenchStack, *, dry_run: bool):
        self.services = build_services(bench.live.config(), dry_run=dry_run, echo=lambda _line: None)
        self.judge = self.services.judge
        self.redmine = self.services.redmine

    def run(self, fn) -> tuple[Any, int, float]:
        before = self.redmine.requests_sent
        value, took = _timed(fn)
        return value, self.redmine.requests_sent - before, took

    def full_scan(self, tracker: TrackerKey, status: str, now: dt.datetime, sample: int | None = None) -> FullScan:
        scan = FullScan()
        refs, scan.list_requests, scan.list_seconds = self.run(lambda: list(self.redmine.issues_where(tracker, {}, status_id=status)))
        scan.listed = len(refs)
        if sample is not None and sample < len(refs):
            refs = random.Random(3).sample(refs, sample)
        scan.evaluated = len(refs)

        def evaluate() -> int:
            return sum(bool(self.judge.act_on_current(ref, now, "scheduler")) for ref in refs)

        scan.acting, scan.eval_requests, scan.eval_seconds = self.run(evaluate)
        return scan


def sweeps(bench: BenchStack) -> Iterator[dict[str, Any]]:
    total, escalations, sample = (5_000, 200, None) if bench.quick else (50_000, 1_000, 2_000)
    due, overdue = total // 100, escalations // 100
    print(f"   seeding {total:,} closed requests ({due} due) and {escalations:,} escalations ({overdue} overdue)...", flush=True)
    seeded = _seed(bench, total, due, escalations, overdue)
    now = _noon(today())

    dry = Sweep(bench, dry_run=True)
    growth = []
    for days_before in (20, 10, 0):
        report, made, took = dry.run(lambda d=days_before: dry.services.retention.run(_noon(today() - dt.timedelta(days=d))))
        growth.append((report.due, made, took))
    selected_due, selected_requests, selected_time = growth[-1]
    print("   full scan of the closed requests (read-only)...", flush=True)
    scan = dry.full_scan(TrackerKey.INFORMATION_REQUEST, "c", now, sample)
    if not scan.sampled and scan.acting < selected_due:
        raise BenchError(f"the full scan found {scan.acting} requests to act on, the job {selected_due}: they should agree")

    real = Sweep(bench, dry_run=False)
    first, first_requests, first_time = real.run(lambda: real.services.retention.run(now))
    again, again_requests, again_time = real.run(lambda: real.services.retention.run(now))
    speedup, listing_speedup = scan.seconds / selected_time, scan.list_seconds / selected_time
    grows = growth[0][1] < growth[1][1] < growth[2][1] and selected_requests <= selected_due + 10
    yield {
        "name": "retention sweep",
        "measured": (
            f"{speedup:.0f}x faster than a full scan ({listing_speedup:.0f}x faster than only listing every request); "
            f"{selected_requests / selected_due:.2f} Redmine requests per due request"
        ),
        "goal": ">= 20x; requests grow with the due count",
        "met": speedup >= 20 and grows,
        "method": (
            f"{total:,} closed information requests seeded into Redmine ({due} = 1% due for review within the 30-day lead time; "
            f"seeded in {seeded:.0f} s). The retention job (Redmine's filter on the review date) against a full scan; both "
            "read-only (dry run), so each does the same work per request it looks at. The job was also run on earlier days, "
            "when fewer were due. Then the job for real, twice: opening the reviews, and the next run finding them open."
        ),
        "details": [
            *(f"job with {d} due: {r:,} Redmine requests, {t:.1f} s" for d, r, t in growth),
            scan.describe(),
            f"job for real: {len(first.opened)} reviews opened; {first_requests:,} requests, {first_time:.1f} s",
            f"next run: {len(again.opened)} opened, {again.reminders} reminders posted; {again_requests:,} requests, {again_time:.1f} s",
        ],
    }

    growth = []
    for days_later in (0, 2, 3):  # later days find more escalations overdue
        report, made, took = dry.run(lambda d=days_later: dry.services.escalations.run(_noon(today() + dt.timedelta(days=d))))
        growth.append((report.checked, made, took))
    timers_checked, timer_requests, timer_time = growth[0]
    print("   full scan of the open escalations (read-only)...", flush=True)
    scan = dry.full_scan(TrackerKey.ESCALATION, "o", now)
    moved, moved_requests, moved_time = real.run(lambda: real.services.escalations.run(now))
    speedup = scan.seconds / timer_time
    # Each overdue escalation costs a read of it and one of its request;
    # the two searches are the constant.
    grows = growth[0][1] < growth[1][1] < growth[2][1] and all(r <= 2 * c + 10 for c, r, _ in growth)
    yield {
        "name": "escalation sweep",
        "measured": f"{speedup:.0f}x faster than a full scan; {timer_requests / timers_checked:.1f} Redmine requests per due escalation",
        "goal": ">= 20x; requests grow with the due count",
        "met": speedup >= 20 and grows,
        "method": (
            f"{escalations:,} open escalations seeded ({overdue} = 1% past their stage's due date, the rest due over the next "
            "60 days). The escalation job (Redmine's filters: open and due before today; open without a stage) against a full "
            "scan of every open escalation, both read-only; the job also as if on later days, when more were due; then the "
            "job for real."
        ),
        "details": [
            *(f"job with {c} due: {r:,} Redmine requests, {t:.2f} s" for c, r, t in growth),
            scan.describe(),
            f"job for real: {len(moved.moved)} moved on, {moved_requests:,} requests, {moved_time:.1f} s",
        ],
    }

    yield from incidents(bench)

def timeliness(bench: BenchStack) -> Iterator[dict[str, Any]]:
    """R-TIMELINESS: the sweep of unanswered requests past their Response due."""
    total, sample = (5_000, None) if bench.quick else (50_000, 2_000)
    late = total // 100
    print(f"   seeding {total:,} open requests ({late} past their Response due)...", flush=True)
    seeded = _seed(bench, 0, 0, 0, 0, open_requests=total, open_overdue=late)
    dry, real = Sweep(bench, dry_run=True), Sweep(bench, dry_run=False)
    swept, swept_requests, swept_time = dry.run(lambda: dry.services.timeliness.run(utcnow()))
    if len(swept.overdue) + len(swept.overdue_reminders) != late:
        raise BenchError(f"the timeliness sweep found {len(swept.overdue) + len(swept.overdue_reminders)} overdue requests, {late} were seeded")
    print("   full scan of the open requests (read-only)...", flush=True)
    scan = dry.full_scan(TrackerKey.INFORMATION_REQUEST, "o", utcnow(), sample)
    noted, noted_requests, noted_time = real.run(lambda: real.services.timeliness.run(utcnow()))
    again, again_requests, again_time = real.run(lambda: real.services.timeliness.run(utcnow()))
    rested, rested_requests, rested_time = real.run(lambda: real.services.timeliness.run(utcnow()))
    speedup = scan.seconds / swept_time
    # Each overdue request costs a read of it (and its related issues); the searches are the constant.
    follows = swept_requests <= 2 * swept.checked + 10 and swept.checked <= late + 10
    yield {
        "name": "timeliness sweep",
        "measured": f"{speedup:.0f}x faster than a full scan; {swept_requests / max(swept.checked, 1):.2f} Redmine requests per request swept",
        "goal": ">= 20x; requests follow the number due; a run with nothing due reads no request",
        "met": speedup >= 20 and follows and not again.overdue and not again.overdue_reminders and rested.checked == 0 and rested.asleep >= late,
        "method": (
            f"{total:,} open, unanswered Green requests seeded ({late} = 1% logged ten days ago and past their Response due, the "
            f"rest logged in the last two hours; seeded in {seeded:.0f} s). The timeliness job "
            "(Redmine's filters: Received or Assessing and due by today, or with no due date; Awaiting approval; shares not "
            "confirmed) against a full scan of every open request, both read-only; then the job for real, three times: the "
            "second posts nothing and reads each overdue request once more (the first one's note moved it), the third finds "
            "them all unchanged and not due again until midnight, and reads none."
        ),
        "details": [
            f"job: {swept.checked:,} requests swept, {swept_requests:,} Redmine requests, {swept_time:.2f} s",
            scan.describe(),
            f"job for real: {len(noted.overdue) + len(noted.overdue_reminders)} overdue notes; {noted_requests:,} requests, {noted_time:.1f} s",
            f"next run: {len(again.overdue) + len(again.overdue_reminders)} notes; {again_requests:,} requests, {again_time:.1f} s",
            f"the run after: {rested.checked:,} requests read, {rested.asleep:,} unchanged and not due yet; {rested_requests:,} Redmine "
            f"requests (the lists), {rested_time:.2f} s",
        ],
    }


def incidents(bench: BenchStack) -> Iterator[dict[str, Any]]:
    """R-INCIDENT: the sweep of incidents whose ICO clock is running."""
    incidents, sample = (5_000, None) if bench.quick else (50_000, 2_000)
    incidents_open = incidents // 100
    print(f"   seeding {incidents:,} incidents ({incidents_open} open without an ICO decision)...", flush=True)
    seeded = _seed(bench, 0, 0, 0, 0, incidents, incidents_open)
    # Now, not noon: the open incidents became aware a day before seeding,
    # so their first reminder is due from then on.
    now = utcnow()
    dry, real = Sweep(bench, dry_run=True), Sweep(bench, dry_run=False)
    growth = []
    for days_before in (40, 20, 0):  # earlier days find the long-past deadlines still in their week
        report, made, took = dry.run(lambda d=days_before: dry.services.incidents.run(now - dt.timedelta(days=d)))
        growth.append((report.checked, made, took))
    running, running_requests, running_time = growth[-1]
    print("   full scan of every incident (read-only)...", flush=True)
    scan = dry.full_scan(TrackerKey.INFORMATION_INCIDENT, "*", now, sample)
    posted, posted_requests, posted_time = real.run(lambda: real.services.incidents.run(now))
    again, again_requests, again_time = real.run(lambda: real.services.incidents.run(now))
    rested, rested_requests, rested_time = real.run(lambda: real.services.incidents.run(now))
    speedup = scan.seconds / running_time
    # Each incident whose clock runs costs one read of it; the search is the constant.
    follows = all(r <= c + 10 for c, r, _ in growth) and len({c for c, _, _ in growth}) > 1
    yield {
        "name": "incident sweep",
        "measured": f"{speedup:.0f}x faster than a full scan; {running_requests / max(running, 1):.2f} Redmine requests per incident swept",
        "goal": ">= 20x; requests follow the incidents whose clock runs; a run with nothing due reads no incident",
        "met": (speedup >= 20 and follows and bool(posted.reminders) and not again.reminders and not again.deadlines_passed
                and rested.checked == 0 and rested.asleep >= len(posted.reminders)),
        "method": (
            f"{incidents:,} information incidents seeded ({incidents_open} = 1% open without an ICO report decision: half became "
            f"aware a day ago, half 20 to 60 days ago; the rest closed and decided; seeded in {seeded:.0f} s). The incident job "
            "(Redmine's filters: open and due from a week ago to three days ahead, or with no due date; the decision read from "
            "the list) against a full scan of every incident, both read-only; the job also as if on earlier days; then the job "
            "for real, three times: the second posts nothing and reads each incident noted once more (the first one's note "
            "moved it), the third finds them unchanged with no reminder due before the next, and reads none."
        ),
        "details": [
            *(f"job sweeping {c} incidents: {r:,} Redmine requests, {t:.2f} s" for c, r, t in growth),
            scan.describe(),
            f"job for real: {len(posted.reminders)} reminders, {len(posted.deadlines_passed)} deadline notes; {posted_requests:,} requests, {posted_time:.1f} s",
            f"next run: {len(again.reminders)} reminders, {len(again.deadlines_passed)} deadline notes; {again_requests:,} requests, {again_time:.1f} s",
            f"the run after: {rested.checked:,} incidents read, {rested.asleep:,} unchanged and not due yet; {rested_requests:,} Redmine "
            f"requests (the searches), {rested_time:.2f} s",
        ],
    }

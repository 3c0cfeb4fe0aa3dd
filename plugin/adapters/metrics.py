"""Prometheus metrics.

Counters and the gate's latency are kept by each web worker (prometheus
multiprocess mode under gunicorn, files in PROMETHEUS_MULTIPROC_DIR). What the
store knows (inbox depth by status, breaches, verdicts and actions by rule,
job runs) is read at scrape time, so it is right whichever process did the
work. Labels are outcomes, codes and rule ids: never a field value.
"""

from __future__ import annotations

import functools
import os
from typing import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from plugin.adapters.store import Store
from plugin.adapters.store.audit import audit_log
from plugin.adapters.store.breaches import breaches
from plugin.adapters.store.inbox import deliveries
from plugin.adapters.store.job_runs import job_runs
from plugin.adapters.store.problems import problems

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@functools.lru_cache(maxsize=1)
def web_metrics():
    """Created on first use, not at import."""

    class WebMetrics:
        events = Counter("infoshare_events_received", "Deliveries to /v1/events, by outcome", ["outcome"])
        gate = Counter("infoshare_gate_decisions", "Gate decisions, by outcome", ["outcome"])
        gate_seconds = Histogram(
            "infoshare_gate_duration_seconds",
            "Time to decide a gate request",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    return WebMetrics


class StoreCollector(Collector):
    def __init__(self, store: Store):
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.store.engine.connect() as conn:
            inbox = GaugeMetricFamily("infoshare_inbox_deliveries", "Deliveries in the inbox, by status", labels=["status"])
            for status, count in conn.execute(sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)):
                inbox.add_metric([status], count)
            yield inbox

            found = GaugeMetricFamily("infoshare_breaches", "Breaches recorded, by rule and status", labels=["rule", "status"])
            for rule, status, count in conn.execute(
                sa.select(breaches.c.rule, breaches.c.status, sa.func.count()).group_by(breaches.c.rule, breaches.c.status)
            ):
                found.add_metric([rule, status], count)
            yield found

            open_problems = GaugeMetricFamily("infoshare_problems", "Issues a batch could not handle and will try again, by source", labels=["source"])
            for source, count in conn.execute(
                sa.select(problems.c.source, sa.func.count()).where(problems.c.resolved_at.is_(None)).group_by(problems.c.source)
            ):
                open_problems.add_metric([source], count)
            yield open_problems

            entries = GaugeMetricFamily("infoshare_audit_entries", "Audit log entries, by kind and rule", labels=["kind", "rule"])
            for kind, rule, count in conn.execute(
                sa.select(audit_log.c.kind, audit_log.c.rule, sa.func.count()).group_by(audit_log.c.kind, audit_log.c.rule)
            ):
                entries.add_metric([kind, rule or ""], count)
            yield entries

            runs = GaugeMetricFamily("infoshare_job_runs", "Job runs, by job and result", labels=["job", "result"])
            last = GaugeMetricFamily("infoshare_job_last_duration_seconds", "Duration of each job's last finished run", labels=["job"])
            latest: dict[str, float] = {}
            rows = conn.execute(sa.select(job_runs.c.job, job_runs.c.ok, job_runs.c.started_at, job_runs.c.finished_at).order_by(job_runs.c.id))
            counts: dict[tuple[str, str], int] = {}
            for job, ok, started, finished in rows:
                result = "ok" if ok else ("failed" if ok is False else "running")
                counts[(job, result)] = counts.get((job, result), 0) + 1
                if started and finished:
                    latest[job] = (finished - started).total_seconds()
            for (job, result), count in sorted(counts.items()):
                runs.add_metric([job, result], count)
            for job, seconds in sorted(latest.items()):
                last.add_metric([job], seconds)
            yield runs
            yield last


def render(store: Store) -> bytes:
    """The /metrics page: this process's (or all workers') counters and the store's gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        web_metrics()
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(StoreCollector(store))
    return generate_latest(registry)

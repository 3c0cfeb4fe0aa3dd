"""Liveness, readiness, metrics and the API document."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

from plugin.adapters.store.audit import audit_head

bp = Blueprint("health", __name__)
OPENAPI = Path(__file__).with_name("openapi.json")
# Redmine is asked at most this often by /readyz (per web worker).
REDMINE_CHECK_SECONDS = 30.0


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


class RedmineReadiness:
    """Is Redmine reachable with the service's key, and does it have the
    spec's trackers and statuses? (`infoshare doctor` checks everything; this
    is the cheap part, cached so a load balancer's probes cost Redmine little.)"""

    def __init__(self, config):
        self.config = config
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._result: dict[str, str] = {}

    def check(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._checked_at < REDMINE_CHECK_SECONDS:
                return self._result
        result = self._check_now()
        with self._lock:
            self._result, self._checked_at = result, time.monotonic()
        return result

    def _check_now(self) -> dict[str, str]:
        from plugin.adapters.redmine.rest import RestReader
        from plugin.adapters.redmine.client import make_redmine

        reader = RestReader(make_redmine(self.config.redmine))
        try:
            reader.get("/users/current.json")
            trackers = {t["name"] for t in reader.get("/trackers.json")["trackers"]}
            statuses = {s["name"] for s in reader.get("/issue_statuses.json")["issue_statuses"]}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready, reported by type
            return {"redmine": f"unreachable ({type(exc).__name__})", "spec": "unknown"}
        names = self.config.names
        missing = sorted(set(names.trackers.values()) - trackers) + sorted(set(names.statuses.values()) - statuses)
        return {"redmine": "ok", "spec": "ok" if not missing else "missing " + ", ".join(missing) + " (run infoshare doctor)"}


def _store_writable(store) -> str:
    try:
        with store.engine.connect() as conn:
            with conn.begin() as transaction:
                conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))
                transaction.rollback()
        return "ok"
    except sa.exc.SQLAlchemyError as exc:
        return f"unavailable ({type(exc).__name__})"


@bp.get("/readyz")
def readyz():
    app = current_app
    readiness = app.config.setdefault("INFOSHARE_READINESS", RedmineReadiness(app.config["INFOSHARE"]))
    checks = {"store": _store_writable(app.config["INFOSHARE_STORE"]), **readiness.check()}
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


@bp.get("/v1/openapi.json")
def openapi():
    """The API description, checked in next to the code (webhooks/openapi.json)."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")


@bp.get("/metrics")
def metrics():
    from plugin.adapters.metrics import render

    return Response(render(current_app.config["INFOSHARE_STORE"]), mimetype="text/plain; version=0.0.4")

"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)
OPENAPI = Path(__file__).with_name("openapi.json")


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/v1/openapi.json")
def openapi():
    """The API description, checked in next to the code (webhooks/openapi.json)."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")


@bp.get("/metrics")
def metrics():
    from plugin.metrics import render

    return Response(render(current_app.config["INFOSHARE_STORE"]), mimetype="text/plain; version=0.0.4")


@bp.get("/readyz")
def readyz():
    store = current_app.config["INFOSHARE_STORE"]
    checks = {}
    try:
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["store"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["store"] = f"unavailable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503

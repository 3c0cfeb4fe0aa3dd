"""POST /v1/gate: the shim asks, while Redmine validates a save, whether the
save breaks a rule. 200 with {"allow", "violations"}; the shim turns each
violation's message into a Redmine validation error."""

from __future__ import annotations

import json
import logging
import time

import sqlalchemy.exc
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from plugin.adapters.store.audit import EntryKind
from plugin.service.gate_decision import GateOutcome, decide
from plugin.adapters.metrics import web_metrics
from plugin.clock import utcnow
from schemas.error_messages import flatten_errors
from schemas.gate_messages import GateRequestSchema, GateResponseSchema
from webhooks.delivery import parse_object, verify
from webhooks.signing import SHIM_TIMESTAMP_HEADER
from webhooks.errors import ApiError

log = logging.getLogger("infoshare.gate")
bp = Blueprint("gate", __name__)
# Built once: a schema instance keeps no state between loads, and building
# one (with its nested fields) cost a quarter of the gate's time.
_REQUEST = GateRequestSchema()
_RESPONSE = GateResponseSchema()


def _audit(decision, data, waited_ms: float | None) -> None:
    """A refusal is a verdict acted on; an administrator's bypass is recorded
    too. Allowed saves leave no entry. An answer the shim no longer waited
    for (`waited_ms` past the gate's timeout) is recorded as late whatever it
    said: Redmine had applied its fail mode, and the worker judges whatever
    it saved."""
    late = waited_ms is not None
    if decision.outcome not in (GateOutcome.REFUSED, GateOutcome.BYPASSED) and not late:
        return
    issue_id = data["issue"].get("id")
    kind = EntryKind.GATE_LATE if late else EntryKind.VERDICT if decision.outcome is GateOutcome.REFUSED else EntryKind.GATE_BYPASS
    detail = {
        "outcome": decision.outcome.value,
        "violations": [v.identity for v in decision.violations],
        "actor_id": data["actor"].get("id"),
    }
    if late:
        detail.update(waited_ms=round(waited_ms), timeout_ms=current_app.config["INFOSHARE"].gate.timeout_ms)
    try:
        current_app.config["INFOSHARE_AUDIT"].append(
            kind,
            source="gate",
            issue_id=issue_id,
            rule=decision.violations[0].rule.value if decision.violations else None,
            detail=detail,
        )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        # The decision stands; the event and the reconciler still see the save.
        log.error("gate audit entry not written", extra={"issue_id": issue_id, "error_type": type(exc).__name__})


def _late_by(started: float, config) -> float | None:
    """How long the shim has waited, if longer than it waits: the time spent
    here, or since the signed timestamp (whole seconds, so less one)."""
    here_ms = (time.perf_counter() - started) * 1000
    try:
        since_signed_ms = (time.time() - int(request.headers.get(SHIM_TIMESTAMP_HEADER, ""))) * 1000 - 1000
    except ValueError:
        since_signed_ms = 0.0
    waited = max(here_ms, since_signed_ms)
    return waited if waited > config.gate.timeout_ms else None


def _replayed(decision, data, answer: dict) -> dict | None:
    """The first answer to this question, if it was asked before (a replay
    within the timestamp window); else None, and this answer is kept."""
    if decision.outcome not in (GateOutcome.REFUSED, GateOutcome.BYPASSED):
        return None
    config = current_app.config["INFOSHARE"]
    try:
        first = current_app.config["INFOSHARE_STORE"].gate_answers.remember(
            str(data["request_id"]), json.dumps(answer, sort_keys=True), keep_seconds=2 * config.webhook.timestamp_tolerance_seconds
        )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        log.error("gate answer not kept", extra={"issue_id": data["issue"].get("id"), "error_type": type(exc).__name__})
        return None
    return json.loads(first) if first is not None else None


@bp.post("/v1/gate")
def gate():
    metrics = web_metrics()
    started = time.perf_counter()
    try:
        body = request.get_data(cache=False)
        verify(body, allow_native=False)
        try:
            data = _REQUEST.load(parse_object(body))
        except ValidationError as exc:
            raise ApiError(
                422, "invalid_payload", "The gate request does not have the expected shape: " + "; ".join(flatten_errors(exc.messages, name_unknown=False))
            ) from None
    except ApiError as exc:
        metrics.gate.labels(outcome=exc.code).inc()
        raise
    config = current_app.config["INFOSHARE"]
    decision = decide(config, data, utcnow())
    answer = _RESPONSE.dump(
        {
            "allow": decision.allow,
            "violations": [
                {
                    "rule": v.rule.value,
                    "field": v.field.value if v.field else None,
                    # Redmine's name for it: the shim drops Redmine's own "cannot be
                    # blank" for a field this message already covers (one message per problem).
                    "field_name": config.names.field(v.field) if v.field else None,
                    "code": v.code,
                    "message": v.message,
                }
                for v in decision.violations
            ],
        }
    )
    first = _replayed(decision, data, answer)
    if first is not None:
        metrics.gate.labels(outcome="replay").inc()
        log.info("gate question replayed; first answer given", extra={"issue_id": data["issue"].get("id"), "outcome": decision.outcome.value})
        return jsonify(first)
    metrics.gate.labels(outcome=decision.outcome.value).inc()
    metrics.gate_seconds.observe(time.perf_counter() - started)
    late = _late_by(started, config)
    if late is not None:
        metrics.gate.labels(outcome="late").inc()
    _audit(decision, data, late)
    # Allowed saves are the many: /metrics counts them; refusals and
    # bypasses are the ones an operator looks for (and are audited).
    log.log(
        logging.DEBUG if decision.outcome is GateOutcome.ALLOWED else logging.INFO,
        "gate decision",
        extra={
            "issue_id": data["issue"].get("id"),
            "outcome": decision.outcome.value,
            "rules": sorted({v.rule.value for v in decision.violations}),
        },
    )
    return jsonify(answer)

"""POST /v1/gate: the shim asks, while Redmine validates a save, whether the
save breaks a rule. 200 with {"allow", "violations"}; the shim turns each
violation's message into a Redmine validation error."""

from __future__ import annotations

import logging
import time

import sqlalchemy.exc
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from plugin.audit import EntryKind
from plugin.gate import GateOutcome, decide
from plugin.metrics import web_metrics
from plugin.store import utcnow
from schemas.config import flatten_errors
from schemas.gate import GateRequestSchema, GateResponseSchema
from webhooks.delivery import parse_object, verify
from webhooks.errors import ApiError

log = logging.getLogger("infoshare.gate")
bp = Blueprint("gate", __name__)
# Built once: a schema instance keeps no state between loads, and building
# one (with its nested fields) cost a quarter of the gate's time.
_REQUEST = GateRequestSchema()
_RESPONSE = GateResponseSchema()


def _audit(decision, data) -> None:
    """A refusal is a verdict acted on; an administrator's bypass is recorded
    too. Allowed saves leave no entry."""
    if decision.outcome not in (GateOutcome.REFUSED, GateOutcome.BYPASSED):
        return
    issue_id = data["issue"].get("id")
    kind = EntryKind.VERDICT if decision.outcome is GateOutcome.REFUSED else EntryKind.GATE_BYPASS
    try:
        current_app.config["INFOSHARE_AUDIT"].append(
            kind,
            source="gate",
            issue_id=issue_id,
            rule=decision.violations[0].rule.value,
            detail={
                "outcome": decision.outcome.value,
                "violations": [v.identity for v in decision.violations],
                "actor_id": data["actor"].get("id"),
            },
        )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        # The decision stands; the event and the reconciler still see the save.
        log.error("gate audit entry not written", extra={"issue_id": issue_id, "error_type": type(exc).__name__})


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
    decision = decide(current_app.config["INFOSHARE"], data, utcnow())
    metrics.gate.labels(outcome=decision.outcome.value).inc()
    metrics.gate_seconds.observe(time.perf_counter() - started)
    _audit(decision, data)
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
    return jsonify(
        _RESPONSE.dump(
            {
                "allow": decision.allow,
                "violations": [
                    {"rule": v.rule.value, "field": v.field.value if v.field else None, "code": v.code, "message": v.message}
                    for v in decision.violations
                ],
            }
        )
    )

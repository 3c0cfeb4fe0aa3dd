"""POST /v1/events: verify signature -> validate payload -> durable inbox -> 202."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from plugin.adapters.metrics import web_metrics
from schemas.error_messages import flatten_errors
from plugin.domain.event import Event
from schemas.event_payloads import ShimEventSchema, UnknownEventType, load_native
from webhooks.delivery import is_native, parse_object, verify
from webhooks.errors import ApiError

log = logging.getLogger("infoshare.events")
bp = Blueprint("events", __name__)
# Built once: a schema instance keeps no state between loads, and building
# one (with its nested fields) costs more than a load.
_SHIM = ShimEventSchema()


class OtherObject(Exception):
    """A Redmine 7 webhook about something other than an issue."""


def _load(data: dict, body: bytes, native: bool) -> Event:
    try:
        return load_native(data, body) if native else _SHIM.load(data)
    except UnknownEventType as exc:
        if native and exc.other_object:
            raise OtherObject() from None
        raise ApiError(422, "unknown_event_type", str(exc)) from None
    except ValidationError as exc:
        raise ApiError(
            422, "invalid_payload", "The event does not have the expected shape: " + "; ".join(flatten_errors(exc.messages, name_unknown=False))
        ) from None


@bp.post("/v1/events")
def receive_event():
    counter = web_metrics().events
    try:
        body = request.get_data(cache=False)
        native = is_native()
        verify(body, allow_native=True)
        event = _load(parse_object(body), body, native)
    except OtherObject:
        # Acknowledged, not refused: Redmine logs every refusal, and a hook set
        # to send time entries or wiki pages as well would fill its log.
        counter.labels(outcome="ignored").inc()
        return jsonify({"status": "ignored", "reason": "InfoShare handles issue events only"}), 200
    except ApiError as exc:
        counter.labels(outcome=exc.code).inc()
        raise

    config = current_app.config["INFOSHARE"]
    if event.tracker_name not in config.gated_trackers:
        # Redmine 7 sends every issue's events; only the project's trackers matter.
        counter.labels(outcome="ignored").inc()
        return jsonify({"status": "ignored", "reason": "tracker not handled by InfoShare"}), 200

    store = current_app.config["INFOSHARE_STORE"]
    try:
        is_new = store.inbox.accept(event)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        log.error("inbox unavailable", extra={"error_type": type(exc).__name__, "issue_id": event.issue_id})
        counter.labels(outcome="inbox_unavailable").inc()
        raise ApiError(503, "inbox_unavailable", "The service could not store the event; send it again later.") from None
    extra = {"delivery_id": event.delivery_id, "issue_id": event.issue_id, "event_type": event.type.value}
    if not is_new:
        counter.labels(outcome="duplicate").inc()
        log.info("duplicate delivery acknowledged", extra=extra)
        return jsonify({"status": "duplicate", "delivery_id": event.delivery_id}), 200
    counter.labels(outcome="accepted").inc()
    log.info("event accepted", extra=extra)
    return jsonify({"status": "accepted", "delivery_id": event.delivery_id}), 202

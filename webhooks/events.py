"""POST /v1/events: verify signature -> validate payload -> durable inbox -> 202."""

from __future__ import annotations

import json
import logging
import time

import sqlalchemy.exc
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from schemas.config import flatten_errors
from schemas.events import Event, NativeEventSchema, ShimEventSchema, UnknownEventType
from webhooks.errors import ApiError
from webhooks.signing import (
    NATIVE_SIGNATURE_HEADER,
    SHIM_SIGNATURE_HEADER,
    SHIM_TIMESTAMP_HEADER,
    SignatureError,
    verify_native,
    verify_shim,
)

log = logging.getLogger("infoshare.events")
bp = Blueprint("events", __name__)


def _is_native(req) -> bool:
    return NATIVE_SIGNATURE_HEADER in req.headers and SHIM_SIGNATURE_HEADER not in req.headers


def _verify(body: bytes, native: bool) -> None:
    config = current_app.config["INFOSHARE"]
    secrets = current_app.config["INFOSHARE_SECRETS"]
    try:
        if native:
            verify_native(secrets, request.headers.get(NATIVE_SIGNATURE_HEADER), body)
        else:
            verify_shim(
                secrets,
                request.headers.get(SHIM_TIMESTAMP_HEADER),
                request.headers.get(SHIM_SIGNATURE_HEADER),
                body,
                now=time.time(),
                tolerance_seconds=config.webhook.timestamp_tolerance_seconds,
            )
    except SignatureError as exc:
        log.warning("delivery refused", extra={"error_code": exc.code, "path": request.path})
        raise ApiError(401, exc.code, str(exc)) from None


def _parse(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(400, "malformed_json", f"The body is not valid JSON{where}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return data


def _load(data: dict, native: bool) -> Event:
    schema = NativeEventSchema() if native else ShimEventSchema()
    try:
        return schema.load(data)
    except UnknownEventType as exc:
        raise ApiError(422, "unknown_event_type", str(exc)) from None
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_payload",
            "The event does not have the expected shape: " + "; ".join(flatten_errors(exc.messages)),
            details=exc.messages,
        ) from None


@bp.post("/v1/events")
def receive_event():
    body = request.get_data(cache=False)
    native = _is_native(request)
    _verify(body, native)
    event = _load(_parse(body), native)

    config = current_app.config["INFOSHARE"]
    if event.tracker_name not in config.gated_trackers:
        # Redmine 7 sends every issue's events; only the project's trackers matter.
        return jsonify({"status": "ignored", "reason": "tracker not handled by InfoShare"}), 200

    store = current_app.config["INFOSHARE_STORE"]
    try:
        is_new = store.accept(event)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        log.error("inbox unavailable", extra={"error_type": type(exc).__name__, "issue_id": event.issue_id})
        raise ApiError(503, "inbox_unavailable", "The service could not store the event; send it again later.") from None
    extra = {"delivery_id": event.delivery_id, "issue_id": event.issue_id, "event_type": event.type.value}
    if not is_new:
        log.info("duplicate delivery acknowledged", extra=extra)
        return jsonify({"status": "duplicate", "delivery_id": event.delivery_id}), 200
    log.info("event accepted", extra=extra)
    return jsonify({"status": "accepted", "delivery_id": event.delivery_id}), 202

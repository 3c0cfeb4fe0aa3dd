"""JSON errors for every bad request: a stable code, a message that says what is
wrong and what to do, and never any of the request's content."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None):
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        super().__init__(message)


def error_response(status: int, code: str, message: str, details: Any = None):
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return jsonify(body), status


_HTTP_MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "No such endpoint. The service answers /v1/events, /v1/gate, /v1/openapi.json, /healthz, /readyz and /metrics."),
    405: ("method_not_allowed", "This endpoint does not accept that HTTP method."),
    415: ("unsupported_media_type", "Send the body as application/json."),
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(413)
    def _too_large(_exc):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        # Refused before the endpoint runs, so counted here: an operator sees
        # on /metrics that Redmine is sending what the service cannot take.
        from flask import request

        from plugin.adapters.metrics import web_metrics

        counters = {"/v1/gate": web_metrics().gate, "/v1/events": web_metrics().events}
        if request.path in counters:
            counters[request.path].labels(outcome="body_too_large").inc()
        app.logger.warning("request body too large", extra={"path": request.path, "http_status": 413})
        return error_response(
            413,
            "body_too_large",
            f"The request body is larger than the limit of {limit} bytes (service.max_body_bytes). "
            "Events carry one issue; a body this large is not an event.",
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code, message = _HTTP_MESSAGES.get(exc.code or 500, ("http_error", exc.name))
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Logged by type only: the exception text may quote request content.
        app.logger.error("unexpected error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "The service failed to handle this request; it has been logged.")

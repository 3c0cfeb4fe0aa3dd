"""What every signed endpoint does first: check the signature and the
timestamp window, then parse the JSON body. Errors are ApiErrors with a code
and a message that says what to do; nothing of the body is echoed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from flask import current_app, request

from webhooks.errors import ApiError
from webhooks.signing import (
    NATIVE_SIGNATURE_HEADER,
    SHIM_SIGNATURE_HEADER,
    SHIM_TIMESTAMP_HEADER,
    SignatureError,
    verify_native,
    verify_shim,
)

log = logging.getLogger("infoshare.delivery")


def is_native() -> bool:
    """A Redmine 7 native webhook: its own signature header and no timestamp."""
    return NATIVE_SIGNATURE_HEADER in request.headers and SHIM_SIGNATURE_HEADER not in request.headers


def verify(body: bytes, *, allow_native: bool) -> None:
    config = current_app.config["INFOSHARE"]
    secrets = config.webhook.secrets_at(dt.datetime.now(dt.timezone.utc))
    try:
        if allow_native and is_native():
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
        log.warning("request refused", extra={"error_code": exc.code, "path": request.path})
        raise ApiError(401, exc.code, str(exc)) from None


def parse_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(400, "malformed_json", f"The body is not valid JSON{where}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return data

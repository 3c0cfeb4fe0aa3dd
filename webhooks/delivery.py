"""What every signed endpoint does first: check the signature and the
timestamp window, then parse the JSON body. Errors are ApiErrors with a code
and a message that says what to do; nothing of the body is echoed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
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


def _looks_native(body: bytes) -> bool:
    """Whether an unsigned body has Redmine 7's webhook shape (a type, a
    timestamp and data, no delivery id): read for the error message only, so
    a byte search, not a parse, before the body is trusted."""
    return b'"data"' in body and b'"timestamp"' in body and b'"delivery_id"' not in body


def verify(body: bytes, *, allow_native: bool) -> None:
    config = current_app.config["INFOSHARE"]
    secrets = config.webhook.secrets_at(dt.datetime.now(dt.timezone.utc))
    try:
        unsigned = NATIVE_SIGNATURE_HEADER not in request.headers and SHIM_SIGNATURE_HEADER not in request.headers
        if allow_native and unsigned and _looks_native(body):
            raise SignatureError(
                "missing_signature",
                f"The {NATIVE_SIGNATURE_HEADER} header is missing. Redmine 7 signs a webhook only when it has a secret: "
                "give the webhook (Administration, Webhooks) the same secret as the service's webhook.secret.",
            )
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


class DuplicateKey(ValueError):
    """A JSON object that names a key twice: parsers disagree on which value
    wins, so a signed body could be read one way here and another elsewhere."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise DuplicateKey()
    return data


# \uD800 to \uDFFF, in either case: the escapes of UTF-16 surrogates.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]")


def _no_constant(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON


def parse_object(body: bytes) -> dict:
    """The body as a JSON object. Whatever the body, a bad one is a 400 that
    says what is wrong (never a 500): invalid JSON or UTF-8, a key named
    twice, nesting too deep for the parser, a number too long to read."""
    try:
        # Decoded strictly here: json.loads(bytes) lets lone surrogates
        # through ("surrogatepass"), which then fail wherever text is encoded.
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        # A \ud800 escape is valid JSON but no Unicode text either. Only a
        # body with such an escape can hold one: the others are not encoded
        # again (on the path of every gated save).
        if _SURROGATE_ESCAPE.search(body):
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "malformed_json", "The body holds text that is not valid Unicode (a lone surrogate).") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON (line {exc.lineno}, column {exc.colno}).") from None
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "The body is not valid UTF-8 text.") from None
    except DuplicateKey:
        raise ApiError(400, "malformed_json", "The body names a key twice in one object; send each key once.") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "The body is nested too deeply to be an event or a gate request.") from None
    except ValueError:
        # Python refuses integers of thousands of digits (and NaN/Infinity here).
        raise ApiError(400, "malformed_json", "The body holds a number that is not a valid JSON number of reasonable length.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return data

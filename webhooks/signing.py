"""Signature and timestamp checks for deliveries (pure: the clock is passed in).

The shim signs `"{timestamp}.{body}"` with HMAC-SHA256 and sends
`X-InfoShare-Timestamp` and `X-InfoShare-Signature: sha256=<hex>`; binding the
timestamp into the signature is what makes the replay window enforceable.
Redmine 7's native webhooks sign the body alone (`X-Redmine-Signature-256`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

SHIM_TIMESTAMP_HEADER = "X-InfoShare-Timestamp"
SHIM_SIGNATURE_HEADER = "X-InfoShare-Signature"
NATIVE_SIGNATURE_HEADER = "X-Redmine-Signature-256"
SCHEME = "sha256="


class SignatureError(Exception):
    """A delivery that cannot be trusted. `code` is stable for clients and tests."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_shim(secret: str, timestamp: int | str, body: bytes) -> str:
    return SCHEME + _hex_hmac(secret, str(timestamp).encode("ascii") + b"." + body)


def sign_native(secret: str, body: bytes) -> str:
    return SCHEME + _hex_hmac(secret, body)


def _matches_any(given: str, expected: Iterable[str]) -> bool:
    # Compare against every secret without stopping early, in constant time
    # per comparison, so timing says nothing about which secret is near.
    found = False
    for candidate in expected:
        found |= hmac.compare_digest(given.encode("utf-8", "replace"), candidate.encode("ascii"))
    return found


def _signature_value(header: str | None, header_name: str) -> str:
    if not header:
        raise SignatureError(
            "missing_signature",
            f"The {header_name} header is missing. Deliveries must be signed with the secret shared "
            "between Redmine's InfoShare settings and the service's webhook.secret.",
        )
    if not header.startswith(SCHEME):
        raise SignatureError("bad_signature", f"The {header_name} header must start with '{SCHEME}'.")
    return header


def verify_shim(
    secrets: Iterable[str],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> int:
    """Returns the verified timestamp or raises SignatureError."""
    signature = _signature_value(signature_header, SHIM_SIGNATURE_HEADER)
    if not timestamp_header:
        raise SignatureError(
            "missing_timestamp",
            f"The {SHIM_TIMESTAMP_HEADER} header is missing; signed deliveries carry the Unix time they were sent.",
        )
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError(
            "bad_timestamp", f"The {SHIM_TIMESTAMP_HEADER} header must be a whole number of seconds since 1970."
        ) from None
    if not _matches_any(signature, [sign_shim(s, timestamp, body) for s in secrets]):
        raise SignatureError(
            "bad_signature",
            "The signature does not match the body. Check that Redmine's InfoShare settings and the "
            "service's webhook.secret hold the same secret.",
        )
    skew = abs(now - timestamp)
    if skew > tolerance_seconds:
        raise SignatureError(
            "stale_timestamp",
            f"The delivery's timestamp is {int(skew)} s away from the service's clock; the limit is "
            f"{tolerance_seconds} s. A replayed delivery looks like this; otherwise check both clocks.",
        )
    return timestamp


def verify_native(secrets: Iterable[str], signature_header: str | None, body: bytes) -> None:
    signature = _signature_value(signature_header, NATIVE_SIGNATURE_HEADER)
    if not _matches_any(signature, [sign_native(s, body) for s in secrets]):
        raise SignatureError(
            "bad_signature",
            "The signature does not match the body. Check that the Redmine webhook's secret and the "
            "service's webhook.secret are the same.",
        )

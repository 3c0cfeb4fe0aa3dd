from __future__ import annotations

import pytest

from webhooks.signing import SignatureError, sign_native, sign_shim, verify_native, verify_shim


def test_shim_signature_round_trip_and_rotation():
    body = b'{"a":1}'
    sig = sign_shim("old-secret-0123456789", 1000, body)
    assert verify_shim(["new-secret-0123456789", "old-secret-0123456789"], "1000", sig, body, now=1000, tolerance_seconds=300) == 1000


def test_timestamp_window_is_inclusive_at_the_edge():
    body = b"{}"
    sig = sign_shim("s" * 20, 1000, body)
    assert verify_shim(["s" * 20], "1000", sig, body, now=1300, tolerance_seconds=300) == 1000
    with pytest.raises(SignatureError) as info:
        verify_shim(["s" * 20], "1000", sig, body, now=1301, tolerance_seconds=300)
    assert info.value.code == "stale_timestamp"


def test_a_changed_body_fails():
    sig = sign_shim("s" * 20, 1000, b"{}")
    with pytest.raises(SignatureError, match="does not match"):
        verify_shim(["s" * 20], "1000", sig, b"{ }", now=1000, tolerance_seconds=300)


def test_native_signature():
    body = b'{"type":"issue.created"}'
    verify_native(["s" * 20], sign_native("s" * 20, body), body)
    with pytest.raises(SignatureError) as info:
        verify_native(["s" * 20], None, body)
    assert info.value.code == "missing_signature"


def test_non_ascii_signature_header_is_just_wrong():
    with pytest.raises(SignatureError) as info:
        verify_native(["s" * 20], "sha256=é" + "0" * 63, b"{}")
    assert info.value.code == "bad_signature"

"""Issue 7, bad input: /v1/events and /v1/gate fuzzed with generated requests
(hypothesis): valid payloads mutated key by key, arbitrary JSON, arbitrary
bytes, signed and unsigned. Whatever arrives, the answer is never a 5xx, and
every 4xx is a JSON error with a code and a message that quotes nothing sent."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.payloads import native_headers, rest_issue, shim_event, shim_headers
from tests.unit.conftest import SECRET, make_config
from tests.unit.test_gate_api import rest_issue as gate_issue
from webhooks import create_app

EXAMPLES = 1000
MARK = "FUZZ-7b1c"  # put into generated strings, then looked for in every answer

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63), st.floats(allow_nan=False),
    st.text(max_size=40).map(lambda t: MARK + t),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)


def _mutate(payload: dict, data) -> dict:
    """Replace, delete or add keys at random depths of a valid payload."""
    payload = json.loads(json.dumps(payload))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        node = payload
        while isinstance(node, dict) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], (dict, list)):
                break
            child = node[key]
            node = child if isinstance(child, dict) else (child[0] if child and isinstance(child[0], dict) else node)
            if node is child:
                continue
            break
        if not isinstance(node, dict):
            continue
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not node:
            node[MARK + data.draw(st.text(max_size=6))] = data.draw(json_values)
        elif action == "delete":
            node.pop(data.draw(st.sampled_from(sorted(node))))
        else:
            node[data.draw(st.sampled_from(sorted(node)))] = data.draw(json_values)
    return payload


def _valid_event(data) -> dict:
    kind = data.draw(st.sampled_from(["shim", "native"]))
    if kind == "shim":
        return shim_event(data.draw(st.integers(min_value=1, max_value=10**6)), type=data.draw(st.sampled_from(["issue.created", "issue.updated", "issue.deleted"])))
    return {"type": "issue.updated", "timestamp": "2026-11-21T10:00:00Z", "data": {"issue": rest_issue(5), "journal": {"id": 3, "details": []}}}


def _valid_gate(data) -> dict:
    return {
        "request_id": str(uuid.uuid4()),
        "issue": gate_issue(data.draw(st.sampled_from(["Received", "Shared", "Not shared", "Awaiting approval"]))),
        "previous": gate_issue(),
        "journals": [{"id": 1, "user": {"id": 10, "name": "x"}, "details": [{"property": "cf", "name": "1", "old_value": None, "new_value": "Phone"}]}],
        "statuses": [{"id": 1, "name": "Received"}],
        "principals": [{"id": 10, "name": "x", "roles": ["MASH practitioner"]}],
        "actor": {"id": 10, "login": "practitioner1", "admin": data.draw(st.booleans())},
    }


def _hostile(data, valid) -> bytes:
    """What a JSON parser can choke on, inside an otherwise valid payload:
    nesting thousands deep, numbers of thousands of digits, NaN, bytes that
    are not UTF-8, a key named twice."""
    text = json.dumps(valid)
    how = data.draw(st.sampled_from(["deep", "deep_object", "long_number", "nan", "invalid_utf8", "duplicate_key"]))
    depth = data.draw(st.integers(min_value=500, max_value=50_000))
    if how == "deep":
        return (text[:-1] + ', "pad": ' + "[" * depth + "]" * depth + "}").encode()
    if how == "deep_object":
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    if how == "long_number":
        return (text[:-1] + ', "pad": ' + "9" * data.draw(st.integers(min_value=4301, max_value=20_000)) + "}").encode()
    if how == "nan":
        return (text[:-1] + ', "pad": ' + data.draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])) + "}").encode()
    if how == "invalid_utf8":
        cut = data.draw(st.integers(min_value=1, max_value=len(text) - 1))
        return text[:cut].encode() + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])) + text[cut:].encode()
    key = data.draw(st.sampled_from(sorted(valid)))
    return (text[:-1] + f", {json.dumps(key)}: {json.dumps(MARK)}" + "}").encode()


def _body(data, valid) -> bytes:
    shape = data.draw(st.sampled_from(["mutated", "mutated", "valid", "json", "bytes", "huge", "hostile", "hostile"]))
    if shape == "hostile":
        return _hostile(data, valid)
    if shape == "valid":
        return json.dumps(valid).encode()
    if shape == "mutated":
        return json.dumps(_mutate(valid, data)).encode()
    if shape == "json":
        return json.dumps(data.draw(json_values)).encode()
    if shape == "huge":
        return b'{"pad": "' + MARK.encode() * 80_000 + b'"}'
    return data.draw(st.binary(max_size=300))


def _headers(data, body: bytes, native_ok: bool) -> dict:
    how = data.draw(st.sampled_from(["signed", "signed", "signed", "native", "unsigned", "stale", "garbage"]))
    if how == "signed":
        return shim_headers(SECRET, body)
    if how == "native" and native_ok:
        return native_headers(SECRET, body)
    if how == "stale":
        return shim_headers(SECRET, body, timestamp=int(time.time()) - 10_000)
    if how == "garbage":
        printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
        return {"X-InfoShare-Timestamp": data.draw(printable),
                "X-InfoShare-Signature": "sha256=" + data.draw(st.text(alphabet="0123456789abcdef", max_size=64))}
    return {"Content-Type": data.draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))}


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from plugin.adapters.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'store.sqlite3'}")
    store.migrate()
    app = create_app(make_config(service={"max_body_bytes": 65536}), store, configure_logs=False)
    return app.test_client()


def _check(response) -> None:
    assert response.status_code < 500, response.data[:300]
    text = response.get_data(as_text=True)
    assert MARK not in text  # nothing sent is echoed back
    if response.status_code >= 400:
        error = response.get_json()["error"]
        assert error["code"] and error["message"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(data=st.data())
def test_events_endpoint_never_fails_on_bad_input(fuzz_client, data):
    body = _body(data, _valid_event(data))
    _check(fuzz_client.post("/v1/events", data=body, headers=_headers(data, body, native_ok=True)))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(data=st.data())
def test_gate_endpoint_never_fails_on_bad_input(fuzz_client, data):
    body = _body(data, _valid_gate(data))
    _check(fuzz_client.post("/v1/gate", data=body, headers=_headers(data, body, native_ok=False)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.from_regex(r"[a-z0-9._-][a-z0-9/._-]{0,29}", fullmatch=True), method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
def test_any_other_request_gets_a_json_error_or_a_page(fuzz_client, path, method):
    response = fuzz_client.open("/" + path, method=method, data=b"{}")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
        (b'{"issue": ' + b"1" * 5000 + b"}", "number that is not a valid JSON number"),
        (b'{"pad": NaN}', "number that is not a valid JSON number"),
        (b'{"pad": "\xff"}', "not valid UTF-8"),
        (b'{"type": "issue.updated", "type": "issue.created"}', "names a key twice"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/gate"])
def test_each_parser_limit_is_a_400_that_says_what_is_wrong(fuzz_client, body, message, path):
    r = fuzz_client.post(path, data=body, headers=shim_headers(SECRET, body))
    assert r.status_code == 400 and r.json["error"]["code"] == "malformed_json"
    assert message in r.json["error"]["message"]


def test_lone_surrogates_are_a_400_not_a_500():
    """Found by the fuzzer: a UTF-8-encoded surrogate (which json.loads(bytes)
    lets through) and a \\ud800 escape both reach text that cannot be encoded."""
    import pytest

    from webhooks.delivery import parse_object
    from webhooks.errors import ApiError

    for body in (b'{"a": "x\xed\xa0\x80y"}', b'{"a": "\\ud800"}'):
        with pytest.raises(ApiError) as refused:
            parse_object(body)
        assert refused.value.status == 400

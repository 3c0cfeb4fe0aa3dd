"""The Redmine client's HTTP behaviour: timeouts on every call, bounded
retries for reads only. `responses` is right here: the HTTP shape is under test."""

from __future__ import annotations

import pytest
import requests
import responses
from redminelib.exceptions import ServerError

from plugin.adapters.redmine.client import RedmineUnavailable, TimeoutRetryEngine, make_redmine
from tests.unit.conftest import make_config

URL = "http://redmine.test"


def client(**redmine):
    config = make_config(redmine={"url": URL, **redmine})
    r = make_redmine(config.redmine)
    r.engine._sleep = lambda s: None
    return r


@responses.activate
def test_every_request_carries_the_configured_timeouts():
    responses.get(f"{URL}/trackers.json", json={"trackers": []})
    r = client(connect_timeout=1.5, read_timeout=7)
    seen = {}
    original = r.engine.session.request

    def spy(method, url, **kwargs):
        seen.update(kwargs)
        return original(method, url, **kwargs)

    r.engine.session.request = spy
    r.engine.request("get", f"{URL}/trackers.json")
    assert seen["timeout"] == (1.5, 7.0)
    assert responses.calls[0].request.headers["X-Redmine-API-Key"] == "bot-key"


@responses.activate
def test_reads_are_retried_after_a_busy_answer():
    responses.get(f"{URL}/issues/1.json", status=503)
    responses.get(f"{URL}/issues/1.json", json={"issue": {"id": 1}})
    assert client().engine.request("get", f"{URL}/issues/1.json") == {"issue": {"id": 1}}
    assert len(responses.calls) == 2


@responses.activate
def test_reads_are_retried_after_a_connection_error_then_give_up():
    for _ in range(3):
        responses.get(f"{URL}/issues/1.json", body=requests.ConnectionError("refused"))
    with pytest.raises(RedmineUnavailable, match="cannot be reached"):
        client(retries=2).engine.request("get", f"{URL}/issues/1.json")
    assert len(responses.calls) == 3


@responses.activate
def test_writes_are_not_retried():
    responses.put(f"{URL}/issues/1.json", status=503)
    with pytest.raises(RedmineUnavailable, match="HTTP 503"):
        client().engine.request("put", f"{URL}/issues/1.json", data={"issue": {"notes": "once"}})
    assert len(responses.calls) == 1


@responses.activate
def test_a_persistent_server_error_surfaces():
    responses.get(f"{URL}/issues/1.json", status=500)
    with pytest.raises(ServerError):
        client().engine.request("get", f"{URL}/issues/1.json")
    assert len(responses.calls) == 1  # 500 is not a transient "busy"


def test_backoff_grows_and_is_jittered():
    engine = TimeoutRetryEngine(backoff=1.0, key="k")
    delays = [engine._delay(a) for a in range(4) for _ in range(20)]
    assert all(0 <= d <= 8 for d in delays)
    assert len(set(delays)) > 1


@responses.activate
def test_impersonation_header():
    responses.get(f"{URL}/users/current.json", json={"user": {"id": 3}})
    config = make_config(redmine={"url": URL})
    r = make_redmine(config.redmine, api_key="admin-key", impersonate="practitioner1")
    r.engine.request("get", f"{URL}/users/current.json")
    headers = responses.calls[0].request.headers
    assert headers["X-Redmine-Switch-User"] == "practitioner1"
    assert headers["X-Redmine-API-Key"] == "admin-key"


@responses.activate
def test_requests_are_counted():
    responses.get(f"{URL}/issues/1.json", status=503)
    responses.get(f"{URL}/issues/1.json", json={"issue": {"id": 1}})
    r = client()
    r.engine.request("get", f"{URL}/issues/1.json")
    assert r.engine.requests_sent == 2


def _listing(issues):
    """/issues.json over a list that may change between pages: filter by
    updated_on >= stamp, sort by (updated_on, id), then offset and limit."""
    def answer(request):
        from urllib.parse import parse_qs, urlsplit
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        stamp = q["updated_on"].removeprefix(">=")
        rows = sorted((i for i in issues if i["updated_on"] >= stamp), key=lambda i: (i["updated_on"], i["id"]))
        offset, limit = int(q.get("offset", 0)), int(q["limit"])
        body = {"issues": [dict(i) for i in rows[offset:offset + limit]], "total_count": len(rows)}
        import json
        return 200, {}, json.dumps(body)
    return answer


def _stamp(second: int) -> str:
    return f"2026-12-01T{10 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


@responses.activate
def test_a_list_by_time_misses_nothing_when_issues_change_while_it_is_read():
    from plugin.adapters.redmine.rest import RestReader
    issues = [{"id": n, "updated_on": _stamp(n)} for n in range(1, 251)]
    pages = []

    def changing(request):
        pages.append(request.url)
        if len(pages) == 2:  # between pages, ten issues already read are saved again
            for issue in issues[:10]:
                issue["updated_on"] = _stamp(1000)
        return _listing(issues)(request)

    responses.add_callback(responses.GET, f"{URL}/issues.json", callback=changing)
    got = RestReader(client()).get_all_updated_since("/issues.json", "issues", _stamp(0))
    assert sorted(i["id"] for i in got) == list(range(1, 251))  # offsets alone would have lost ten
    assert [i["id"] for i in got][-10:] == list(range(1, 11))  # read again at their new time, kept once
    assert len(got) == 250


@responses.activate
def test_a_list_by_time_pages_through_more_than_a_page_saved_in_one_second():
    from plugin.adapters.redmine.rest import RestReader
    issues = [{"id": n, "updated_on": _stamp(5)} for n in range(1, 231)] + [{"id": 231, "updated_on": _stamp(6)}]
    responses.add_callback(responses.GET, f"{URL}/issues.json", callback=_listing(issues))
    got = RestReader(client()).get_all_updated_since("/issues.json", "issues", _stamp(5))
    assert [i["id"] for i in got] == list(range(1, 232))
    assert len(responses.calls) == 3

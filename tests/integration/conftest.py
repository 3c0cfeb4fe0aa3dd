"""A real Redmine (Debian's package) with the real shim, plus the real service
and worker, for the whole session. If Redmine cannot be started the tests
error: they never skip."""

from __future__ import annotations

import pytest

from tests.support.redmine_env import LiveStack, snapshot
from tests.support.rest import RedmineRest
from tests.support.smtp import SmtpSink


@pytest.fixture(scope="session")
def redmine_snapshot():
    return snapshot()


@pytest.fixture(scope="session")
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def live(redmine_snapshot, smtp_sink, tmp_path_factory) -> LiveStack:
    """Redmine delivers its notification e-mail to the session's SMTP sink."""
    stack = LiveStack.from_snapshot(redmine_snapshot, tmp_path_factory.mktemp("live"), smtp_port=smtp_sink.port)
    try:
        stack.start_redmine()
        stack.start_service()
        yield stack
    finally:
        stack.teardown()


@pytest.fixture(scope="session")
def rest(live) -> RedmineRest:
    return RedmineRest(live.redmine_url, live.admin_key_path.read_text().strip(), live.config())

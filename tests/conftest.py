"""Markers follow the folders: tests/unit, tests/integration, tests/e2e.

The session's real Redmine (Debian's package, the real shim), with the real
service and scheduler, and an SMTP sink Redmine delivers to: shared by the
integration and browser tests. If Redmine cannot be started they error; they
never skip.
"""

from pathlib import Path

import pytest

from tests.support.redmine_env import LiveStack, snapshot
from tests.support.rest import RedmineRest
from tests.support.smtp import SmtpSink

_FOLDER_MARKERS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if folder in _FOLDER_MARKERS:
            item.add_marker(_FOLDER_MARKERS[folder])


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


@pytest.fixture(scope="session")
def redmine_web(live):
    """Web sessions of the demo users, logged in once each: redmine_web("manager1")."""
    from devstack.demo import DEMO_PASSWORD
    from tests.support.webform import WebSession

    sessions: dict[str, WebSession] = {}

    def session(login: str) -> WebSession:
        if login not in sessions:
            sessions[login] = WebSession(live.redmine_url)
            sessions[login].login(login, DEMO_PASSWORD)
        return sessions[login]

    return session


def pytest_terminal_summary(terminalreporter):
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("InfoShare figures")
        for line in FIGURES:
            terminalreporter.write_line(line)

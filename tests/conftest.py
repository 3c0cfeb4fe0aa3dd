"""Markers follow the folders: tests/unit, tests/integration, tests/e2e.

The session's real Redmines (Debian's packages: 5.0 on this machine, 6.0 from
Debian 13 in a chroot; the real shim), each with the real service and
scheduler, and an SMTP sink Redmine delivers to: shared by the integration and
browser tests. If a Redmine cannot be built or started its tests error with the
reason; they never skip.
"""

from pathlib import Path

import pytest

from devstack.stack import RedmineRelease
from tests.support.redmine_env import LiveStack, snapshot
from tests.support.rest import RedmineRest
from tests.support.smtp import SmtpSink

_FOLDER_MARKERS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def _folder(item) -> str:
    return Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = _folder(item)
        if folder in _FOLDER_MARKERS:
            item.add_marker(_FOLDER_MARKERS[folder])
    # A test marked `early` runs a sweep as of a later day, which acts on
    # every request then due on the session's shared Redmine (a sweep costs
    # what is due): run first, while the session has created few, it takes
    # seconds instead of minutes. Each picks out its own requests by id.
    early, rest = [], []
    for item in items:
        (early if item.get_closest_marker("early") else rest).append(item)
    if early:
        at = next((n for n, item in enumerate(rest) if _folder(item) == "integration"), len(rest))
        items[:] = rest[:at] + early + rest[at:]


def pytest_generate_tests(metafunc):
    """A test marked `redmines(...)` runs once on each release it names (its
    `live`, `rest` and `redmine_web` are that release's); others run on
    Debian 12's Redmine 5.0."""
    marker = metafunc.definition.get_closest_marker("redmines")
    if marker is not None and "redmine_release" in metafunc.fixturenames:
        metafunc.parametrize("redmine_release", marker.args, ids=[f"redmine{r.value}" for r in marker.args])


class Stacks:
    """The session's stacks, one per release, each started when a test first
    needs it: a snapshot copy, its own ports, the real service and scheduler.
    A release whose Redmine cannot be built or started fails the tests that
    need it, with the reason; nothing is skipped."""

    def __init__(self, smtp_port: int, tmp_path_factory):
        self.smtp_port = smtp_port
        self.tmp = tmp_path_factory
        self._live: dict[RedmineRelease, LiveStack] = {}
        self._fresh: dict[RedmineRelease, LiveStack] = {}
        self._rest: dict[RedmineRelease, RedmineRest] = {}
        self._web: dict[RedmineRelease, dict] = {}
        self._failed: dict[RedmineRelease, str] = {}

    def _start(self, release: RedmineRelease, *, fresh: bool) -> LiveStack:
        if release in self._failed:
            raise RuntimeError(self._failed[release])
        try:
            snap = snapshot(release)
            name = f"{'fresh' if fresh else 'live'}{release.value.replace('.', '')}"
            stack = LiveStack.from_snapshot(snap, self.tmp.mktemp(name), use_fresh=fresh, smtp_port=None if fresh else self.smtp_port)
            stack.start_redmine()
            if not fresh:
                stack.start_service()
        except Exception as exc:
            self._failed[release] = f"{release.label} could not be started for the tests: {exc}"
            raise RuntimeError(self._failed[release]) from exc
        return stack

    def live(self, release: RedmineRelease) -> LiveStack:
        if release not in self._live:
            self._live[release] = self._start(release, fresh=False)
        return self._live[release]

    def fresh(self, release: RedmineRelease) -> LiveStack:
        """A Redmine of that release as installed: not provisioned, no service."""
        if release not in self._fresh:
            self._fresh[release] = self._start(release, fresh=True)
        return self._fresh[release]

    def rest(self, release: RedmineRelease) -> RedmineRest:
        if release not in self._rest:
            stack = self.live(release)
            self._rest[release] = RedmineRest(stack.redmine_url, stack.admin_key_path.read_text().strip(), stack.config())
        return self._rest[release]

    def web(self, release: RedmineRelease):
        """Web sessions of the demo users, logged in once each."""
        from devstack.demo import DEMO_PASSWORD
        from tests.support.webform import WebSession

        stack = self.live(release)
        sessions = self._web.setdefault(release, {})

        def session(login: str) -> WebSession:
            if login not in sessions:
                sessions[login] = WebSession(stack.redmine_url)
                sessions[login].login(login, DEMO_PASSWORD)
            return sessions[login]

        return session

    def teardown(self) -> None:
        for stack in [*self._live.values(), *self._fresh.values()]:
            stack.teardown()


@pytest.fixture(scope="session")
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def stacks(smtp_sink, tmp_path_factory):
    """Redmine delivers its notification e-mail to the session's SMTP sink."""
    pool = Stacks(smtp_sink.port, tmp_path_factory)
    yield pool
    pool.teardown()


@pytest.fixture
def redmine_release() -> RedmineRelease:
    return RedmineRelease.DEBIAN_12


@pytest.fixture
def live(stacks, redmine_release) -> LiveStack:
    return stacks.live(redmine_release)


@pytest.fixture
def rest(stacks, redmine_release) -> RedmineRest:
    return stacks.rest(redmine_release)


@pytest.fixture
def redmine_web(stacks, redmine_release):
    """Web sessions of the demo users: redmine_web("manager1")."""
    return stacks.web(redmine_release)


def pytest_terminal_summary(terminalreporter):
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("InfoShare figures")
        for line in FIGURES:
            terminalreporter.write_line(line)

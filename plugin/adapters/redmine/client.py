"""A python-redmine client whose HTTP calls have connect/read timeouts and
bounded retries.

python-redmine 2.5.0 drops a `timeout` passed through `requests=` (it sets
the options as Session attributes, and Session has no timeout), so the engine
passes the timeout on every request itself. Only reads are retried here:
retrying a write could post a note twice, so writes are made safe by their
callers checking state first.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable

import requests
from redminelib import Redmine
from redminelib.engines.sync import SyncEngine

from plugin.domain.configuration import RedmineConfig

log = logging.getLogger("infoshare.redmine")

IDEMPOTENT_METHODS = frozenset({"get", "head", "options"})
RETRYABLE_STATUS = frozenset({502, 503, 504})


class RedmineUnavailable(RuntimeError):
    """Redmine could not be reached, or said it is busy, after the retries.
    Not the event's fault: the worker waits and tries again, counting no
    attempt. (A write that failed this way may or may not have happened;
    the executor's checks make trying it again safe.)"""


class TimeoutRetryEngine(SyncEngine):
    """SyncEngine with per-request timeouts and retries with backoff and jitter."""

    def __init__(
        self,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        retries: int = 3,
        backoff: float = 0.3,
        sleep: Callable[[float], None] = time.sleep,
        **options,
    ):
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        # Every HTTP request sent, retries included: jobs report it, tests
        # and benchmarks check that costs follow the work, not the data.
        self.requests_sent = 0
        self.backoff = backoff
        self._sleep = sleep
        super().__init__(**options)

    def _delay(self, attempt: int) -> float:
        # Full jitter: spreads the retries of several workers after an outage.
        return random.uniform(0, self.backoff * (2**attempt))

    def request(self, method, url, headers=None, params=None, data=None):
        kwargs = self.construct_request_kwargs(method, headers, params, data)
        kwargs["timeout"] = self.timeout
        attempts = 1 + (self.retries if method.lower() in IDEMPOTENT_METHODS else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                self.requests_sent += 1
                response = self.session.request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise RedmineUnavailable(f"Redmine cannot be reached ({type(exc).__name__})") from exc
                log.warning("redmine call failed; retrying", extra={"method": method, "error_type": type(exc).__name__, "attempts": attempt + 1})
                self._sleep(self._delay(attempt))
                continue
            if response.status_code in RETRYABLE_STATUS:
                if last:
                    raise RedmineUnavailable(f"Redmine answered HTTP {response.status_code}")
                log.warning("redmine busy; retrying", extra={"method": method, "http_status": response.status_code, "attempts": attempt + 1})
                self._sleep(self._delay(attempt))
                continue
            return self.process_response(response)
        raise AssertionError("unreachable")  # pragma: no cover


def make_redmine(
    config: RedmineConfig,
    *,
    api_key: str | None = None,
    impersonate: str | None = None,
    url: str | None = None,
) -> Redmine:
    """A client for the configured Redmine, as the service user unless another
    key is given. `impersonate` needs an administrator's key."""
    return Redmine(
        url or config.url,
        key=api_key or config.api_key,
        impersonate=impersonate,
        engine=TimeoutRetryEngine,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries=config.retries,
    )

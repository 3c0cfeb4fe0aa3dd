"""A real SMTP server on loopback that keeps what it receives, so tests can
assert that Redmine's own notification e-mails arrived."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller

from devstack.processes import free_port


@dataclasses.dataclass
class Received:
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        parts = [self.message] if not self.message.is_multipart() else list(self.message.walk())
        return "\n".join(p.get_content() for p in parts if p.get_content_type() == "text/plain")


class SmtpSink:
    def __init__(self):
        self.port = free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, predicate, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [m for m in self.received if predicate(m)]
            if found:
                return found
            time.sleep(0.2)
        with self._lock:
            subjects = [m.subject for m in self.received]
        raise AssertionError(f"no matching e-mail within {timeout} s; received: {subjects}")

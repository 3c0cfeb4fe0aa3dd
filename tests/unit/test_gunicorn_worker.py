"""The service's gunicorn worker waits for connections in epoll with
EPOLLEXCLUSIVE (one worker woken per connection, not all of them): its wait
reports a listener with a connection waiting, its signal pipe, and nothing
when nothing came, as the stock sync worker's does."""

from __future__ import annotations

import os
import select
import socket

import pytest

from webhooks import gunicorn_conf
from webhooks.gunicorn_worker import SyncWorker

pytestmark = pytest.mark.skipif(not hasattr(select, "EPOLLEXCLUSIVE"), reason="EPOLLEXCLUSIVE is Linux's (the service's platform)")


@pytest.fixture
def worker():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    pipe = os.pipe()
    w = SyncWorker.__new__(SyncWorker)  # gunicorn's arbiter builds it; only wait() is under test
    w.sockets, w.PIPE, w.notified = [listener], pipe, 0

    def notify():
        w.notified += 1

    w.notify = notify
    yield w
    listener.close()
    os.close(pipe[0])
    os.close(pipe[1])


def test_nothing_came(worker):
    assert worker.wait(0.05) == []
    assert worker.notified == 1  # the arbiter hears from it while it waits


def test_a_connection_is_reported_as_its_listener(worker):
    client = socket.create_connection(worker.sockets[0].getsockname())
    try:
        client.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert worker.wait(1) == [worker.sockets[0]]
        connection, _ = worker.sockets[0].accept()
        connection.close()
        assert worker.wait(0.05) == []  # accepted: nothing more to report
    finally:
        client.close()


def test_a_signal_is_reported_and_its_byte_read(worker):
    os.write(worker.PIPE[1], b".")
    assert worker.wait(1) == [worker.PIPE[0]]
    assert worker.wait(0.05) == []


def test_the_service_runs_this_worker():
    assert gunicorn_conf.worker_class == "webhooks.gunicorn_worker.SyncWorker"


def test_a_worker_is_told_of_a_connection_once_its_request_has_come():
    """TCP_DEFER_ACCEPT on the service's TCP listeners (when_ready): one
    wake-up per request, not one for the connection and one for its data."""

    class Listener:
        def __init__(self, sock):
            self.sock = sock

    tcp = socket.create_server(("127.0.0.1", 0))
    try:
        server = type("Server", (), {"LISTENERS": [Listener(tcp)]})()
        gunicorn_conf.when_ready(server)
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0
    finally:
        tcp.close()

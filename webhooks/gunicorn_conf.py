"""gunicorn settings for the InfoShare web service:
`gunicorn -c python:webhooks.gunicorn_conf "webhooks:create_app()"`.

Values can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("INFOSHARE_BIND", "127.0.0.1:5005")
# The gate is on Redmine's save path: several workers so one slow Redmine
# call elsewhere never queues a gate decision.
workers = int(os.environ.get("INFOSHARE_WEB_WORKERS", max(2, multiprocessing.cpu_count())))
# gunicorn's sync worker, woken alone for each connection (see the module).
worker_class = "webhooks.gunicorn_worker.SyncWorker"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Bounded request line and headers; the body limit is the app's (service.max_body_bytes).
limit_request_line = 8190
limit_request_fields = 50
# The access log would carry query strings; the app logs what matters, by id.
accesslog = None
errorlog = "-"
# Several services may run on one host; gunicorn's control socket would clash.
control_socket_disable = True


def on_starting(server):
    """Workers share their metrics through files (prometheus multiprocess
    mode); a fresh, private directory per service start."""
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="infoshare-metrics-")
    # Loading this file imported the webhooks package, and with it
    # prometheus_client, which picks how metrics keep their values when it is
    # imported: before the directory was set, so in-process. Pick again, so
    # the workers forked from here write to the shared files.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


def when_ready(server):
    """A sync worker waits for a connection, then for its request. Told only
    once the request has arrived (TCP_DEFER_ACCEPT), it wakes once per
    request instead of twice: Redmine's save connects and writes the gate's
    question on its own thread, and each wake-up of a worker there costs it
    (benchmarks/FINDINGS.md)."""
    import socket

    for listener in server.LISTENERS:
        sock = getattr(listener, "sock", None)
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6) and hasattr(socket, "TCP_DEFER_ACCEPT"):
            # Seconds the kernel holds a connection with no request yet; one
            # that sends nothing is handed over after that, as before.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

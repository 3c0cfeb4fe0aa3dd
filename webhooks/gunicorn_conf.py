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
worker_class = "sync"
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


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

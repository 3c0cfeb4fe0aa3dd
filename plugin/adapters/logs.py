"""Structured (JSON) logs that carry ticket ids, rule ids and outcomes only.

Only the keys in SAFE_KEYS are copied from a record's `extra`; anything else
is dropped, so a careless `extra={"subject": ...}` cannot leak case details.
Messages themselves must be constant strings (no interpolated field values).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

SAFE_KEYS = frozenset(
    {
        "issue_id",
        "journal_id",
        "delivery_id",
        "row_id",
        "event_type",
        "source",
        "status",
        "outcome",
        "rule",
        "rules",
        "action",
        "count",
        "attempts",
        "duration_ms",
        "error_type",
        "error_code",
        "job",
        "tracker",
        "http_status",
        "path",
        "method",
        "instance",
        "port",
        "pid",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
        }
        for key in SAFE_KEYS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages can quote Redmine's validation
            # errors, which may contain field values.
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Library loggers can print URLs with query strings (custom-field filters).
    for noisy in ("urllib3", "werkzeug", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))

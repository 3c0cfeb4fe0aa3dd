from __future__ import annotations

import io
import json
import logging

from plugin.adapters.logs import JsonFormatter, configure_logging


def test_only_safe_keys_reach_the_log():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("t").info("event accepted", extra={"issue_id": 5, "subject": "Child A at 1 Road", "requester_email": "a@b.c"})
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "event accepted" and entry["issue_id"] == 5 and entry["level"] == "INFO"
    assert "subject" not in entry and "requester_email" not in entry
    assert "Child A" not in stream.getvalue()


def test_exceptions_are_logged_by_type_only():
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("Requester name 'Jane Doe' is invalid")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert json.loads(line)["error_type"] == "ValueError"
    assert "Jane" not in line


def test_non_string_messages_are_not_rendered():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, {"subject": "x"}, None, None)
    assert json.loads(JsonFormatter().format(record))["msg"] == "dict"

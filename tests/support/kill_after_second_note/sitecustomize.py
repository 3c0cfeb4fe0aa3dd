"""Loaded at start-up by a Python process whose PYTHONPATH starts with this
folder (the fault test's `infoshare timeliness run`): the process kills
itself (SIGKILL, no clean-up) right after the executor's second update
carrying a note, half way through a sweep. Nothing of this is in the
product; it only places a kill -9 in the middle of a run."""

import os
import signal

from plugin.service import executor

_update = executor.RedmineExecutor._update
_noted = []


def _update_then_die(self, issue_id, attributes):
    _update(self, issue_id, attributes)
    if attributes.get("notes"):
        _noted.append(issue_id)
        if len(_noted) == 2:
            os.kill(os.getpid(), signal.SIGKILL)


executor.RedmineExecutor._update = _update_then_die

"""Loaded at start-up by a Python process whose PYTHONPATH starts with this
folder (the fault test's `infoshare worker --once`): the process kills itself
(SIGKILL, no clean-up) right after the executor has created a linked issue,
before the update that notes it on the source issue. Nothing of this is in
the product; it only places a kill -9 at the worst moment."""

import os
import signal

from plugin.service import executor

_create = executor.RedmineExecutor._create


def _create_then_die(self, source, outcome):
    created = _create(self, source, outcome)
    os.kill(os.getpid(), signal.SIGKILL)
    return created


executor.RedmineExecutor._create = _create_then_die

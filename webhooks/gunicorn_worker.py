"""gunicorn's sync worker, woken alone for each connection.

The stock sync worker waits for a connection in select() on the shared
listening socket, and the kernel wakes every worker waiting there for each
one: all but one find nothing to accept and go back to waiting. On the
gate's path that is not free. Redmine's save has just written the question
on its own thread, and on a small machine a worker woken for nothing is
run on that thread's core. Measured on two cores: 0.46 ms of each gated
save spent writing the question with two workers, 0.13 ms with one
(benchmarks/FINDINGS.md). Waiting in epoll with EPOLLEXCLUSIVE on the
listening sockets, the kernel wakes one waiting worker per connection; the
worker's own pipe (gunicorn's signals) is watched as before. Where
EPOLLEXCLUSIVE is missing (not Linux, or Linux before 4.5) this is the stock
worker.
"""

from __future__ import annotations

import os
import select

from gunicorn.workers import sync


class SyncWorker(sync.SyncWorker):
    _poller = None

    def wait(self, timeout):
        if not hasattr(select, "EPOLLEXCLUSIVE"):
            return super().wait(timeout)
        if self._poller is None:
            self._poller = select.epoll()
            self._listeners = {listener.fileno(): listener for listener in self.sockets}
            for fd in self._listeners:
                self._poller.register(fd, select.EPOLLIN | select.EPOLLEXCLUSIVE)
            self._poller.register(self.PIPE[0], select.EPOLLIN)
        self.notify()
        ready = []
        for fd, _events in self._poller.poll(timeout):
            if fd == self.PIPE[0]:
                os.read(self.PIPE[0], 1)
                ready.append(fd)
            elif fd in self._listeners:
                ready.append(self._listeners[fd])
        return ready

"""Starting, finding and stopping the background processes of a local stack
or a test run, by pid file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence


# What the stack's processes may create: readable by their user and group only.
PROCESS_UMASK = 0o027
PRIVATE_FILE_MODE = 0o640


def write_private(path: Path, text: str) -> None:
    """Write a secret (an API key, a configuration with one) readable by its
    owner only, from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class StartupError(RuntimeError):
    """A process did not come up; the message says where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start(
    argv: Sequence[str],
    *,
    log_path: Path,
    pid_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> subprocess.Popen:
    """Start a process in its own session (so stopping it stops its children),
    with output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Logs may name ticket ids and Redmine's own request lines: for this
    # user and group only, as is everything the process creates (umask).
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE), "ab")
    os.chmod(log_path, PRIVATE_FILE_MODE)
    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        umask=PROCESS_UMASK,
    )
    log.close()
    if pid_path:
        pid_path.parent.mkdir(parents=True, exist_ok=True)
        pid_path.write_text(str(proc.pid))
    return proc


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def read_pid(pid_path: Path) -> int | None:
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def stop_pidfile(pid_path: Path, timeout: float = 10.0) -> bool:
    pid = read_pid(pid_path)
    if pid is not None:
        stop_pid(pid, timeout)
    pid_path.unlink(missing_ok=True)
    return pid is not None


def wait_http(url: str, *, timeout: float, proc: subprocess.Popen | None = None, log_path: Path | None = None) -> None:
    """Wait until `url` answers any HTTP status; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(f"process exited with code {proc.returncode} before {url} answered; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise StartupError(f"{url} did not answer within {timeout:.0f} s; see {log_path}")

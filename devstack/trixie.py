"""Debian 13 ("trixie")'s packaged Redmine (6.0.x) in a chroot, beside the host's 5.0.

Sites will move to Redmine 6 (Rails 7.2, Ruby 3.3), but Debian 12 ships 5.0 and
none of the gems 6.0 needs, and RubyGems is out of reach. Debian 13's package
runs unchanged in a minimal trixie tree made by debootstrap, so tests can run
against both from one machine. The
tree takes about 2 minutes to build, so it is built once into a cache outside
any git clone (INFOSHARE_REDMINE6_CHROOT, default
/var/cache/infoshare/redmine6-trixie) and shared by every clone and CI run on
the machine.

Instances work as in debian.py (one SQLite instance per stack or test run,
REDMINE_INSTANCE=<name>, the shim shared in /usr/share/redmine/plugins); only
where files live and how Ruby is started differ. Every path this module's
callers see or pass is a HOST path: files a command reads (specs, scripts) are
copied into the chroot first and files it writes (API keys) copied back out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Mapping

from devstack import debian, processes

CHROOT_DIR = Path(os.environ.get("INFOSHARE_REDMINE6_CHROOT", "/var/cache/infoshare/redmine6-trixie"))
SUITE = "trixie"
PACKAGES = ("redmine", "redmine-sqlite", "ruby-webrick")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# Written last, just before the staging tree is renamed into place: a tree
# without it was not built by ensure_chroot().
MARKER = ".infoshare-chroot"
# Paths inside the chroot.
REDMINE_ROOT = PurePosixPath("/usr/share/redmine")
INSTANCES_ROOT = PurePosixPath("/var/lib/redmine")
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Device nodes Ruby, apt and dpkg open (name, major, minor). They are made in
# the tree rather than bind-mounting the host's /dev, so that deleting a tree
# can never delete the host's devices.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
BUILD_TIMEOUT = 1800


class ChrootUnavailable(debian.RedmineNotInstalled):
    """The Redmine 6 chroot could not be built or used; the message says what
    failed and what to do. (A RedmineNotInstalled, so callers that handle the
    host's Redmine being missing handle this too.)"""


# -- the tree -----------------------------------------------------------------


def host_path(inner: str | PurePosixPath, root: Path = CHROOT_DIR) -> Path:
    """The host path of a path inside the chroot, following symlinks the way
    the chroot sees them. Debian's Redmine links with absolute targets
    (config/database.yml -> /etc/redmine/default/...); followed from the host
    they would name the HOST's files, and a write would clobber its Redmine 5."""
    pending = list(PurePosixPath(inner).parts[1:])
    resolved = PurePosixPath("/")
    for _ in range(1000):
        if not pending:
            return root / resolved.relative_to("/")
        part = pending.pop(0)
        if part == "..":
            resolved = resolved.parent
            continue
        candidate = root / (resolved / part).relative_to("/")
        if candidate.is_symlink():
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                resolved, pending = PurePosixPath("/"), list(target.parts[1:]) + pending
            else:
                pending = list(target.parts) + pending
        else:
            resolved = resolved / part
    raise ChrootUnavailable(f"too many symlinks resolving {inner} inside {root}")


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (the main suite's URI, not
    security's), so the chroot comes from the same, reachable, mirror."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for f in files:
        for line in f.read_text().splitlines() if f.is_file() else ():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+([a-z]+)\s", line)
            if m and "debian" in m.group(1) and "security" not in m.group(1):
                return m.group(1).rstrip("/")
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            suites = fields.get("Suites", "").split()
            uris = fields.get("URIs", "").split()
            if (
                "deb" in fields.get("Types", "").split()
                and fields.get("Enabled", "yes") != "no"
                and any("-" not in s for s in suites)
                and uris
                and "security" not in uris[0]
                and "debian" in uris[0]
            ):
                return uris[0].rstrip("/")
    return FALLBACK_MIRROR


def _mount_points() -> list[str]:
    with open("/proc/mounts") as f:
        # Fields escape spaces and the like as octal (\040).
        return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[1]) for line in f]


def _ensure_mounts(root: Path) -> None:
    """proc mounted (Ruby, apt and dpkg read it) and the device nodes present.
    Idempotent: mounts vanish on reboot, so every use checks again."""
    if str(root / "proc") not in _mount_points():
        (root / "proc").mkdir(exist_ok=True)
        _check(["mount", "-t", "proc", "proc", str(root / "proc")], f"mounting proc in {root}")
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for name, major, minor in DEVICES:
        node = dev / name
        try:
            st = node.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(major, minor):
                continue
            node.unlink()  # e.g. a regular file left by a write while it was missing
        except FileNotFoundError:
            pass
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        node.chmod(0o666)


def _unmount_all_under(path: Path) -> None:
    inside = sorted((m for m in _mount_points() if m == str(path) or m.startswith(f"{path}/")), key=len, reverse=True)
    for mount in inside:
        if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mount], capture_output=True)
    left = [m for m in _mount_points() if m == str(path) or m.startswith(f"{path}/")]
    if left:
        raise ChrootUnavailable(f"cannot unmount {', '.join(left)}; unmount it by hand, then delete {path}")


def _check(argv: list[str], what: str, log: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """Run a build step; on failure raise with the tail of its output."""
    if log is None:
        result = subprocess.run(argv, capture_output=True, text=True, env=env)
        output, code = result.stdout + result.stderr, result.returncode
    else:
        with open(log, "a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            try:
                code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, timeout=BUILD_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        output = log.read_text(errors="replace")
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        where = f" (full output: {log})" if log else ""
        raise ChrootUnavailable(
            f"building the Redmine 6 chroot failed while {what}: exit {code}{where}\n{tail}\n"
            "Fix the cause (Debian's archive must be reachable; this must run as root), then run again: "
            "a half-built tree is discarded and rebuilt."
        )


def _ensure_debootstrap(log: Path) -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _check(["apt-get", "install", "-y", "debootstrap"], "installing debootstrap on the host", log, env)
    except ChrootUnavailable:  # stale package lists
        _check(["apt-get", "update"], "updating the host's package lists", log, env)
        _check(["apt-get", "install", "-y", "debootstrap"], "installing debootstrap on the host", log, env)
    return shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin") or "debootstrap"


def _build(root: Path, log: Path) -> None:
    staging = root.with_name(root.name + ".partial")
    if staging.exists():  # left by a killed build
        _unmount_all_under(staging)
        shutil.rmtree(staging)
    log.write_text(f"Building the Redmine 6 chroot {root} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n")
    print(f"Building the Redmine 6 chroot in {root} (once, about 2 minutes; log: {log})", file=sys.stderr, flush=True)
    debootstrap = _ensure_debootstrap(log)
    mirror = debian_mirror()
    try:
        _check([debootstrap, "--variant=minbase", SUITE, str(staging), mirror], f"running debootstrap {SUITE} from {mirror}", log)
        resolv = staging / "etc" / "resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_bytes(Path("/etc/resolv.conf").read_bytes())
        # Installing Redmine must not start services (in the chroot they would
        # outlive the build and hold its mounts).
        policy = staging / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _ensure_mounts(staging)
        env = {"PATH": INNER_PATH, "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        _check(["chroot", str(staging), "apt-get", "update"], f"running apt-get update in the chroot (mirror {mirror})", log, env)
        _check(["chroot", str(staging), "apt-get", "install", "-y", *PACKAGES], f"installing {' '.join(PACKAGES)} in the chroot", log, env)
        _check(["chroot", str(staging), "apt-get", "clean"], "cleaning apt's cache in the chroot", log, env)
        if not (staging / "usr/share/redmine/bin/rails").exists():
            raise ChrootUnavailable(f"the chroot's Redmine has no bin/rails after installing {' '.join(PACKAGES)}; see {log}")
        (staging / MARKER).write_text(f"debootstrap --variant=minbase {SUITE} {mirror}; apt-get install {' '.join(PACKAGES)}\n")
    finally:
        _unmount_all_under(staging)
    staging.rename(root)


def ensure_chroot(root: Path = CHROOT_DIR) -> Path:
    """The trixie tree with Redmine 6 installed, built if missing, mounted.
    Holds a lock while building or mounting, so concurrent test runs and CI
    jobs wait for one builder instead of colliding."""
    if os.geteuid() != 0:
        raise ChrootUnavailable("the Redmine 6 chroot needs root (debootstrap, mount and chroot); run as root")
    with _locked(root):
        if not (root / MARKER).exists():
            if root.exists():
                raise ChrootUnavailable(
                    f"{root} exists but was not completely built by ensure_chroot() (no {MARKER}); "
                    "delete it (unmount its proc first) or point INFOSHARE_REDMINE6_CHROOT elsewhere"
                )
            _build(root, root.with_name(root.name + ".build.log"))
        _ensure_mounts(root)
    return root


@contextlib.contextmanager
def _locked(root: Path):
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def redmine_package_version(root: Path = CHROOT_DIR) -> str:
    """The chroot's Redmine package version (for cache keys, as
    redmine_env uses the host's)."""
    out = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Version}", "redmine"], capture_output=True, text=True)
    return out.stdout.strip()


# -- setup shared by all instances (as in debian.py) --------------------------


def install_shim(source: Path = debian.SHIM_SOURCE, root: Path = CHROOT_DIR) -> bool:
    """Copy the shim into the chroot's Redmine plugin folder. Returns True when
    it changed (running Redmine processes must then be restarted)."""
    plugins = host_path(REDMINE_ROOT / "plugins", root)
    plugins.mkdir(exist_ok=True)  # Debian 13's package ships none
    target = plugins / debian.PLUGIN_ID
    if target.is_symlink():
        target.unlink()
    if target.exists() and debian._same_tree(source, target):
        return False
    staging = target.with_name(f".{debian.PLUGIN_ID}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return True


def ensure_serial_requests_option(root: Path = CHROOT_DIR) -> None:
    """debian.ensure_serial_requests_option for the chroot's Redmine: the same
    snippets, only for processes started with INFOSHARE_SERIAL_REQUESTS=1.
    (No Gemfile.local is needed: webrick is in Debian 13's Gemfile.lock.)"""
    target = host_path(REDMINE_ROOT / "config" / "additional_environment.rb", root)
    current = target.read_text() if target.exists() else ""
    for mark, snippet in ((debian.SERIAL_ENV, debian.SERIAL_SNIPPET), (debian.NODELAY_MARK, debian.NODELAY_SNIPPET)):
        if mark not in current:
            current += ("\n" if current and not current.endswith("\n") else "") + snippet
            target.write_text(current)


# -- instances ------------------------------------------------------------------


class ChrootRedmineInstance(debian.RedmineInstance):
    """debian.RedmineInstance for the chroot's Redmine 6. `path` and `db_path`
    are host paths (CHROOT/var/lib/redmine/NAME/...), so callers copy SQLite
    files and read log/production.log as they do for Redmine 5."""

    # Environment variables whose value is a host file the Ruby process reads
    # (a CA bundle in tests): the file is copied into the chroot and the
    # variable names the copy.
    FILE_ENV = ("SSL_CERT_FILE",)

    def __init__(self, name: str, root: Path = CHROOT_DIR):
        super().__init__(name)
        self.root = root
        self.path = host_path(INSTANCES_ROOT, root) / name
        self.db_path = self.path / "db" / "redmine.sqlite3"
        # Where files are passed in and out of the chroot for this instance.
        self.exchange = root / "tmp" / f"infoshare-{name}"
        self.inner_exchange = PurePosixPath("/tmp") / f"infoshare-{name}"

    def inner(self, path: Path) -> PurePosixPath:
        """The chroot's name for a host path under the chroot."""
        return PurePosixPath("/") / path.relative_to(self.root)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of the Ruby process, built from scratch (the
        effect of `env -i`): nothing of the host's leaks in. It is passed as
        the environment of `chroot`, not on its command line, so secrets in
        it never show in `ps`."""
        env = {"PATH": INNER_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        env.update(REDMINE_INSTANCE=self.name, RAILS_ENV="production", REDMINE_LANG="en")
        for key, value in (extra or {}).items():
            env[key] = str(self._import(Path(value))) if key in self.FILE_ENV and value else value
        return env

    def command(self, argv: list[str]) -> list[str]:
        """argv run in /usr/share/redmine inside the chroot (chroot(8) always
        starts in /). `exec` keeps the Ruby process the one started, so
        stopping its process group stops Redmine."""
        if not (self.root / MARKER).exists():
            raise ChrootUnavailable(f"the Redmine 6 chroot {self.root} is not built; call trixie.ensure_chroot() first")
        with _locked(self.root):
            _ensure_mounts(self.root)  # after a reboot proc is gone
        return ["chroot", str(self.root), "/bin/sh", "-c", f'cd {REDMINE_ROOT} && exec "$@"', "sh", *argv]

    def _import(self, host_file: Path) -> PurePosixPath:
        self.exchange.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.exchange / host_file.name
        shutil.copyfile(host_file, target)
        return self.inner(target)

    def _export(self, inner_file: PurePosixPath, host_file: Path) -> None:
        source = self.root / inner_file.relative_to("/")
        host_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(host_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(fd, 0o600)
            out.write(source.read_bytes())
        source.unlink()

    def create(self) -> None:
        """The instance's folders made by hand, as debian.py does, not with
        `redmine-instances create`: that links config, log and tmp to absolute
        paths (/etc/redmine/NAME, ...), which from the host name the host's
        folders, so `path / "log" / "production.log"` would be wrong. And no
        plugins/ folder: with one, Redmine 6 ignores /usr/share/redmine/plugins."""
        super().create()
        shutil.rmtree(self.path / "plugins", ignore_errors=True)
        (self.path / "public" / "assets").mkdir(exist_ok=True)  # Redmine 6 (Propshaft) serves assets from here
        (self.path / "config" / "database.yml").write_text(
            f"production:\n  adapter: sqlite3\n  database: {self.inner(self.db_path)}\n  pool: 10\n  timeout: 10000\n"
        )

    def _run(self, argv: list[str], env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
        result = subprocess.run(self.command(argv), env=self.env(env), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            # Ruby puts the error first and its backtrace ("from ...") after.
            lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if not line.lstrip().startswith("from ")]
            raise RuntimeError(f"{' '.join(argv[:3])} failed for Redmine 6 instance {self.name} (chroot {self.root}):\n" + "\n".join(lines[-15:]))
        return result.stdout

    def runner(self, script: Path, env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
        return super().runner(self._import(Path(script)), env, timeout)

    def provision(
        self,
        spec_path: Path,
        *,
        service_url: str,
        secret: str,
        key_file: Path,
        admin_key_file: Path | None = None,
        projects: tuple[str, ...] = (),
    ) -> list[str]:
        bot_key = self.inner_exchange / "bot.key"
        admin_key = self.inner_exchange / "admin.key"
        changes = super().provision(
            self._import(Path(spec_path)),
            service_url=service_url,
            secret=secret,
            key_file=bot_key,
            admin_key_file=admin_key if admin_key_file else None,
            projects=projects,
        )
        self._export(bot_key, Path(key_file))
        if admin_key_file:
            self._export(admin_key, Path(admin_key_file))
        return changes

    def enable_api_access(self, admin_key_file: Path) -> None:
        self.exchange.mkdir(mode=0o700, parents=True, exist_ok=True)
        inner_key = self.inner_exchange / "admin.key"
        super().enable_api_access(inner_key)
        self._export(inner_key, Path(admin_key_file))

    def start(self, port: int, *, log_path: Path, pid_path: Path | None = None, env: Mapping[str, str] | None = None):
        server_pid = self.path / "tmp" / f"server-{port}.pid"
        server_pid.unlink(missing_ok=True)  # a stale one makes `rails server` refuse to start
        argv = ["ruby", "bin/rails", "server", "-u", "webrick", "-b", "127.0.0.1", "-p", str(port), "-P", str(self.inner(server_pid))]
        env = self.env({debian.SERIAL_ENV: "1", **(env or {})})
        return processes.start(self.command(argv), log_path=log_path, pid_path=pid_path, env=env, cwd="/")

    def remove(self) -> None:
        super().remove()
        shutil.rmtree(self.exchange, ignore_errors=True)


__all__ = [
    "CHROOT_DIR",
    "ChrootRedmineInstance",
    "ChrootUnavailable",
    "debian_mirror",
    "ensure_chroot",
    "ensure_serial_requests_option",
    "host_path",
    "install_shim",
    "redmine_package_version",
]

"""Debian's packaged Redmine (5.0.x) as a set of instances.

Debian's package serves several instances from one code tree
(`REDMINE_INSTANCE=<name>`, files under /var/lib/redmine/<name>/). Each local
stack or test run gets its own instance with a SQLite database, so nothing here
touches a site's real Redmine. Plugins, however, are shared by all instances
(/usr/share/redmine/plugins), which is where the shim is installed.
"""

from __future__ import annotations

import filecmp
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Mapping

from devstack import processes

REDMINE_ROOT = Path(os.environ.get("INFOSHARE_REDMINE_ROOT", "/usr/share/redmine"))
INSTANCES_ROOT = Path("/var/lib/redmine")
PLUGIN_ID = "redmine_infoshare"
# The shim ships inside the service's package, beside the rules it carries messages for.
SHIM_SOURCE = Path(__file__).resolve().parents[1] / "plugin" / PLUGIN_ID
GEMFILE_LOCAL_LINE = "gem 'webrick'"


class RedmineNotInstalled(RuntimeError):
    pass


def require_debian_redmine() -> None:
    if not (REDMINE_ROOT / "bin" / "rails").exists():
        raise RedmineNotInstalled(
            f"Debian's Redmine is not installed ({REDMINE_ROOT}/bin/rails is missing). "
            "Run `make bootstrap` as root (it installs the packages redmine and redmine-sqlite)."
        )


def redmine_package_version() -> str:
    """The host's Redmine package version (for cache keys)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "redmine"], capture_output=True, text=True)
    return out.stdout.strip()


def ensure_web_server_gem() -> None:
    """Debian's Gemfile loads no web server; a Gemfile.local naming webrick
    (packaged as ruby-webrick) lets `rails server` start."""
    gemfile = REDMINE_ROOT / "Gemfile.local"
    current = gemfile.read_text() if gemfile.exists() else ""
    if GEMFILE_LOCAL_LINE not in current.splitlines():
        gemfile.write_text(current + ("" if current.endswith("\n") or not current else "\n") + GEMFILE_LOCAL_LINE + "\n")


SERIAL_ENV = "INFOSHARE_SERIAL_REQUESTS"
SERIAL_SNIPPET = (
    "# InfoShare local stacks and tests: with INFOSHARE_SERIAL_REQUESTS=1 Redmine serves\n"
    "# one request at a time, because SQLite locks the whole database during a save.\n"
    f"config.allow_concurrency = false if ENV['{SERIAL_ENV}'] == '1'\n"
)
NODELAY_MARK = "TCP_NODELAY"
NODELAY_SNIPPET = (
    "# InfoShare local stacks and tests run Redmine under WEBrick, which writes a\n"
    "# response's head and body separately without TCP_NODELAY: a client that keeps\n"
    "# its connection open (the service does) then waits ~40 ms for the delayed ACK\n"
    "# on every request. Production servers (Puma, Passenger) set it themselves.\n"
    f"if ENV['{SERIAL_ENV}'] == '1'\n"
    "  require 'webrick'\n"
    "  WEBrick::HTTPServer.prepend(Module.new do\n"
    "    def run(sock)\n"
    "      sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1) if sock.respond_to?(:setsockopt)\n"
    "      super\n"
    "    end\n"
    "  end)\n"
    "end\n"
)


ACCESS_LOG_MARK = "AccessLog"
ACCESS_LOG_SNIPPET = (
    "# InfoShare local stacks and tests: WEBrick's own access log (the process's\n"
    "# output) shows every URL with its query string, search terms and filter\n"
    "# values included; Rails' log filters those, so WEBrick's is switched off.\n"
    f"if ENV['{SERIAL_ENV}'] == '1'\n"
    "  require 'webrick'\n"
    "  WEBrick::HTTPServer.prepend(Module.new do\n"
    "    def initialize(config = {}, default = WEBrick::Config::HTTP)\n"
    "      super(config.merge(AccessLog: []), default)\n"
    "    end\n"
    "  end)\n"
    "end\n"
)


def ensure_serial_requests_option() -> None:
    """Let our SQLite instances serve requests one at a time (Rails adds
    Rack::Lock), so the service's saves never collide with a person's, and
    answer kept-open connections without delay. Only processes started with
    INFOSHARE_SERIAL_REQUESTS=1 (ours) are affected."""
    target = REDMINE_ROOT / "config" / "additional_environment.rb"
    current = target.read_text() if target.exists() else ""
    for mark, snippet in ((SERIAL_ENV, SERIAL_SNIPPET), (NODELAY_MARK, NODELAY_SNIPPET), (ACCESS_LOG_MARK, ACCESS_LOG_SNIPPET)):
        if mark not in current:
            current += ("\n" if current and not current.endswith("\n") else "") + snippet
            target.write_text(current)


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    # dircmp compares shallowly (size and mtime); check contents.
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def install_shim(source: Path = SHIM_SOURCE) -> bool:
    """Copy the shim into Redmine's plugin folder. Returns True when it changed
    (running Redmine processes must then be restarted)."""
    target = REDMINE_ROOT / "plugins" / PLUGIN_ID
    if target.is_symlink():
        target.unlink()
    if target.exists() and _same_tree(source, target):
        return False
    staging = target.with_name(f".{PLUGIN_ID}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return True


class RedmineInstance:
    def __init__(self, name: str):
        self.name = name
        self.path = INSTANCES_ROOT / name
        self.db_path = self.path / "db" / "redmine.sqlite3"

    @property
    def exists(self) -> bool:
        return (self.path / "config" / "database.yml").exists()

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INFOSHARE_", "BUNDLE_", "RUBY"))}
        env.update(REDMINE_INSTANCE=self.name, RAILS_ENV="production", REDMINE_LANG="en")
        env.update(extra or {})
        return env

    def create(self) -> None:
        for sub in ("config", "db", "files", "log", "tmp/pdf", "tmp/cache", "public/plugin_assets"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        # Its database, attachments and request log hold case details.
        for sub in ("db", "files", "log"):
            (self.path / sub).chmod(0o750)
        (self.path / "config" / "database.yml").write_text(
            "production:\n"
            "  adapter: sqlite3\n"
            f"  database: {self.db_path}\n"
            "  pool: 10\n"
            "  timeout: 10000\n"
        )
        secret_file = self.path / "config" / "secret_key.txt"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(64))
            secret_file.chmod(0o600)

    def configure_email(self, smtp_port: int | None) -> None:
        """Redmine's own e-mail delivery: to a local SMTP server, or none."""
        target = self.path / "config" / "configuration.yml"
        if smtp_port is None:
            target.write_text("production:\n  email_delivery:\n    delivery_method: :test\n")
            return
        target.write_text(
            "production:\n"
            "  email_delivery:\n"
            "    delivery_method: :smtp\n"
            "    smtp_settings:\n"
            "      address: 127.0.0.1\n"
            f"      port: {smtp_port}\n"
            "      enable_starttls_auto: false\n"
        )

    def _run(self, argv: list[str], env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
        result = subprocess.run(
            argv, cwd=REDMINE_ROOT, env=self.env(env), capture_output=True, text=True, timeout=timeout, umask=processes.PROCESS_UMASK
        )
        if result.returncode != 0:
            # Ruby puts the error first and its backtrace ("from ..." lines,
            # or bare paths under rake) after: keep the error and the end.
            lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if not line.lstrip().startswith("from ")]
            tail = lines[:4] + ["..."] + lines[-8:] if len(lines) > 12 else lines
            raise RuntimeError(f"{' '.join(argv[:3])} failed for Redmine instance {self.name}:\n" + "\n".join(tail))
        return result.stdout

    def rake(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        return self._run(["ruby", "bin/rake", *args], env)

    def runner(self, script: Path, env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
        """Runs a Ruby script inside this instance's Redmine (`rails runner`)
        and returns what it printed."""
        return self._run(["ruby", "bin/rails", "runner", str(script)], env, timeout)

    def migrate_and_load_defaults(self) -> None:
        self.rake("db:migrate")
        self.rake("redmine:load_default_data")

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
        env = {
            "SPEC": str(spec_path),
            "SERVICE_URL": service_url,
            "INFOSHARE_WEBHOOK_SECRET": secret,
            "KEY_FILE": str(key_file),
            "PROJECTS": ",".join(projects),
        }
        if admin_key_file:
            env["ADMIN_KEY_FILE"] = str(admin_key_file)
        out = self.rake("redmine_infoshare:provision", env=env)
        summary = json.loads(out.strip().splitlines()[-1])
        return summary["changes"]

    def enable_api_access(self, admin_key_file: Path) -> None:
        self.rake("redmine_infoshare:api_access", env={"ADMIN_KEY_FILE": str(admin_key_file)})

    def start(self, port: int, *, log_path: Path, pid_path: Path | None = None, env: Mapping[str, str] | None = None):
        server_pid = self.path / "tmp" / f"server-{port}.pid"
        server_pid.unlink(missing_ok=True)  # a stale one makes `rails server` refuse to start
        argv = ["ruby", "bin/rails", "server", "-u", "webrick", "-b", "127.0.0.1", "-p", str(port), "-P", str(server_pid)]
        return processes.start(argv, log_path=log_path, pid_path=pid_path, env=self.env({SERIAL_ENV: "1", **(env or {})}), cwd=REDMINE_ROOT)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
